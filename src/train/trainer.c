/* The training loop (ct_train_run): setup, the step loop, evaluation, logging, stopping.
 * Checkpoints and final outputs are in trainer_save.c, the data bridge in trainer_data.c.
 *
 * Step arithmetic (HF Trainer, transformers >= 4.46): an epoch is ceil(rows / B) micro-batches;
 * an optimizer step takes gradient_accumulation_steps of them (the last step of an epoch may take
 * fewer); steps per epoch = ceil(micro / GA); total = max_steps, or
 * ceil(num_train_epochs * steps_per_epoch). */
#include "train/eval_tasks.h"
#include "train/trainer_internal.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fault.h"
#include "base/file.h"
#include "ctune/adapter.h"
#include "io/hf_export.h"
#include "train/checkpoint.h"
#include "train/dist.h"
#include "train/log.h"
#include "train/progress.h"
#include "train/tracker.h"

double ct_trainer_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ct_trainer_msg(ct_trainer *t, const char *fmt, ...) {
    if (!t->opts.message) return;
    ct_buf b = {0};
    va_list ap;
    va_start(ap, fmt);
    ct_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    t->opts.message(t->opts.message_user, b.oom || !b.data ? "(out of memory)" : b.data);
    ct_buf_free(&b);
}

double ct_trainer_epoch_at(const ct_trainer *t, int64_t step) {
    return t->steps_per_epoch ? (double)step / (double)t->steps_per_epoch : 0.0;
}

static char *join_list(const ct_strlist *l, const char *dflt) {
    if (!l->n) return dflt ? strdup(dflt) : NULL;
    size_t len = 1;
    for (size_t i = 0; i < l->n; i++) len += strlen(l->v[i]) + 1;
    char *s = malloc(len);
    if (!s) return NULL;
    s[0] = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (i) strcat(s, ",");
        strcat(s, l->v[i]);
    }
    return s;
}

/* ---- output_dir policy (HF overwrite_output_dir / LlamaFactory) ---- */
static bool nonempty_file(const char *dir, const char *name) {
    char *p = ct_path_join(dir, name);
    struct stat sb;
    bool yes = p && stat(p, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0;
    free(p);
    return yes;
}

/* The first file or directory that marks a training run in dir, into found[n] (false: none). A
 * log left empty by a run stopped before its first step does not count. */
static bool run_marker(const char *dir, char *found, size_t n) {
    static const char *const weights[] = {"adapter_model.safetensors", "model.safetensors", "model.safetensors.index.json", NULL};
    DIR *d = opendir(dir);
    if (!d) return false;
    bool hit = false;
    struct dirent *de;
    while (!hit && (de = readdir(d))) {
        const char *name = de->d_name;
        hit = !strncmp(name, "checkpoint-", 11) || (!strcmp(name, CT_TRAINER_LOG) && nonempty_file(dir, name));
        for (size_t i = 0; !hit && weights[i]; i++) hit = !strcmp(name, weights[i]);
        if (hit) snprintf(found, n, "%s", name);
    }
    closedir(d);
    return hit;
}

static ct_status clear_outputs(const char *dir, ct_err *err) {
    DIR *d = opendir(dir);
    if (!d) return CT_OK;
    ct_status st = CT_OK;
    struct dirent *de;
    while (!st && (de = readdir(d))) {
        const char *n = de->d_name;
        if (!strncmp(n, "checkpoint-", 11) || !strcmp(n, CT_TRAINER_LOG) || !strcmp(n, "all_results.json") ||
            !strncmp(n, "events.out.tfevents.", 20) || !strcmp(n, "training_loss.svg") || !strcmp(n, ".cache")) {
            char *p = ct_path_join(dir, n);
            st = p ? ct_rm_rf(p, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            free(p);
        }
    }
    closedir(d);
    return st;
}

/* ---- setup ---- */

static ct_status setup_method(ct_trainer *t, ct_err *err) {
    const ct_train_config *c = t->cfg;
    ct_method_cfg mc;
    memset(&mc, 0, sizeof mc);
    const char *ft = c->finetuning_type ? c->finetuning_type : "lora";
    if (!strcmp(ft, "full")) mc.method = CT_METHOD_FULL;
    else if (!strcmp(ft, "freeze")) mc.method = CT_METHOD_FREEZE;
    else if (!strcmp(ft, "lora")) mc.method = CT_METHOD_LORA;
    else if (!strcmp(ft, "prompt")) mc.method = CT_METHOD_PROMPT;
    else return ct_err_set(err, CT_ERR_ARG, "finetuning_type '%s' is not one of full, freeze, lora, prompt", ft);
    mc.seed = (uint64_t)c->seed;
    if (t->opts.eval_only) return CT_OK; /* evaluates the base (+ adapter) as loaded */
    mc.freeze_trainable_layers = (int)c->freeze_trainable_layers;
    char *fmods = join_list(&c->freeze_trainable_modules, "all");
    char *fextra = join_list(&c->freeze_extra_modules, NULL);
    char *ltarget = join_list(&c->lora_target, "all");
    char *atarget = join_list(&c->additional_target, NULL);
    mc.freeze_trainable_modules = fmods;
    mc.freeze_extra_modules = fextra;
    mc.lora_rank = (int)c->lora_rank;
    mc.lora_alpha = ct_train_config_lora_alpha(c);
    mc.lora_dropout = c->lora_dropout;
    mc.lora_target = ltarget;
    if (mc.method == CT_METHOD_LORA) mc.additional_target = atarget;
    mc.use_rslora = c->use_rslora;
    mc.num_virtual_tokens = (int)c->num_virtual_tokens;
    ct_ids init_ids = {0};
    const ct_model *base = t->model; /* or the base with adapters merged (adapter_name_or_path) */
    ct_status st = ct_trainer_peft_setup(t, &mc, &base, err);
    char *mts = NULL;
    if (!st && mc.method == CT_METHOD_LORA && t->lora.resume) { /* the continued adapter's modules_to_save */
        free(atarget);
        atarget = NULL;
        mc.additional_target = mts = join_list(&(ct_strlist){t->lora.mts, t->lora.n_mts}, NULL);
    }
    const char *pinit = c->prompt_tuning_init ? c->prompt_tuning_init : "random";
    if (!st && !strcmp(pinit, "vocab")) mc.prompt_init = CT_PROMPT_INIT_VOCAB;
    else if (!st && !strcmp(pinit, "text")) {
        mc.prompt_init = CT_PROMPT_INIT_TEXT;
        if (!c->prompt_tuning_init_text || !*c->prompt_tuning_init_text)
            st = ct_err_set(err, CT_ERR_ARG, "prompt_tuning_init: text needs prompt_tuning_init_text");
        else
            st = ct_tokenizer_encode(t->tok, c->prompt_tuning_init_text, strlen(c->prompt_tuning_init_text), false,
                                     &init_ids, err);
        mc.prompt_init_ids = init_ids.data;
        mc.n_prompt_init_ids = init_ids.n;
    } else {
        mc.prompt_init = CT_PROMPT_INIT_RANDOM;
    }
    if (!st) st = ct_trainer_method_cfg(t, &mc, err);
    if (!st) st = ct_train_model_init(&t->tm, base, &mc, err);
    if (!st) t->tm_ready = true;
    free(mts);
    free(fmods);
    free(fextra);
    free(ltarget);
    free(atarget);
    ct_ids_free(&init_ids);
    if (st) return st;
    t->tm.checkpointing = c->gradient_checkpointing;
    /* NEFTune: LlamaFactory's SFT collator pads every batch to a multiple of 8, the length the
     * noise scale sees; pre-training rows are used as they are */
    t->tm.neftune_alpha = c->neftune_noise_alpha;
    t->tm.neftune_pad = c->stage && !strcmp(c->stage, "pt") ? 1 : 8;
    /* f32 copies of frozen bf16/f16 weights: no conversion per matmul (what a float32 PyTorch
     * model holds anyway); skipped for models above 8 GiB of f32 weights, and in bf16 compute,
     * whose kernels read the stored weights directly */
    t->frozen_f32 = ct_ctx_precision(t->ctx) == CT_PRECISION_F32 && ct_model_config(t->model)->dtype != CT_DTYPE_F32 &&
                    (double)ct_model_param_count(t->model) * 4.0 < 8.0 * 1073741824.0;
    if (t->frozen_f32) st = ct_train_model_cache_frozen_f32(&t->tm, err);
    return st;
}

/* bf16 / pure_bf16 / fp16 -> the context's precision (torch.autocast(bfloat16) semantics for the
 * linear layers); fp16 runs as bf16: ctune has no f16 matmul path on CPUs. */
static ct_status setup_precision(ct_trainer *t, ct_err *err) {
    const ct_train_config *c = t->cfg;
    if (!c->bf16 && !c->pure_bf16 && !c->fp16) return CT_OK;
    if (c->fp16 && !c->bf16 && !c->pure_bf16)
        ct_trainer_msg(t, "fp16: true runs as bf16 mixed precision (CPUs have no f16 matmul path in ctune)");
    if (!ct_ctx_set_precision(t->ctx, CT_PRECISION_BF16))
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "bf16: this CPU cannot run bf16 compute");
    return CT_OK;
}

/* QLoRA: quantization_bit quantizes the base on load (bitsandbytes semantics); a checkpoint
 * that is already quantized (*-bnb-4bit) is used as it is, as in LlamaFactory. Either way only
 * LoRA trains on a quantized base. */
static ct_status setup_quantization(ct_trainer *t, ct_err *err) {
    const ct_train_config *c = t->cfg;
    bool pre = ct_model_is_quantized(t->model);
    if (pre && c->quantization_bit)
        ct_trainer_msg(t, "quantization_bit: the model is already quantized (%s); its quantization is used",
                       ct_dtype_name(ct_model_linear_dtype(t->model)));
    if (pre && strcmp(c->finetuning_type, "lora"))
        return ct_err_set(err, CT_ERR_ARG, "%s: a quantized model trains with finetuning_type lora only (got '%s')",
                          c->model_name_or_path, c->finetuning_type);
    if (pre || !c->quantization_bit) return CT_OK;
    ct_quant_opts q = {.bits = (int)c->quantization_bit,
                       .fp4 = c->quantization_type && !strcmp(c->quantization_type, "fp4"),
                       .double_quant = c->double_quantization};
    ct_status st = ct_model_quantize(t->model, &q, err);
    if (!st)
        ct_trainer_msg(t, "quantization: linear layers in %s%s (bitsandbytes semantics), %.1f MiB of weights",
                       ct_dtype_name(ct_model_linear_dtype(t->model)), q.bits == 4 && q.double_quant ? " + double quant" : "",
                       (double)ct_model_weight_bytes(t->model) / 1048576.0);
    return st;
}

static ct_status setup(ct_trainer *t, ct_err *err) {
    const ct_train_config *c = t->cfg;
    ct_status st;
    if (!c->model_name_or_path) return ct_err_set(err, CT_ERR_ARG, "model_name_or_path is required");
    if (!c->output_dir) return ct_err_set(err, CT_ERR_ARG, "output_dir is required");
    if (!c->dataset.n && !t->opts.eval_only)
        return ct_err_set(err, CT_ERR_ARG, "dataset is required to train (eval_dataset alone works with --eval-only)");
    if (c->stage && strcmp(c->stage, "sft") && strcmp(c->stage, "pt"))
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "stage '%s' is not supported (sft | pt)", c->stage);
    if (c->per_device_train_batch_size < 1 || c->gradient_accumulation_steps < 1)
        return ct_err_set(err, CT_ERR_ARG, "per_device_train_batch_size and gradient_accumulation_steps must be >= 1");
    if (!ct_dir_exists(c->model_name_or_path))
        return ct_err_set(err, CT_ERR_IO,
                          "model_name_or_path '%s' is not a directory (ctune reads local HF model directories)",
                          c->model_name_or_path);
    t->model_dir = strdup(c->model_name_or_path);
    if ((st = ct_ctx_new(&t->ctx, (int)c->threads, err))) return st;
    if ((st = setup_precision(t, err))) return st;
    if ((st = ct_model_load(c->model_name_or_path, &t->model, err))) return st;
    if ((st = setup_quantization(t, err))) return st;
    if ((st = ct_tokenizer_load(c->model_name_or_path, &t->tok, err))) return st;
    if (t->opts.eval_only && c->adapter_name_or_path) {
        if ((st = ct_trainer_peft_eval_adapter(t, err))) return st;
    }
    int32_t pad = ct_tokenizer_pad_id(t->tok);
    if (pad < 0) pad = ct_model_config(t->model)->pad_token_id;
    if (pad < 0) pad = ct_tokenizer_eos_id(t->tok);
    if (pad < 0) pad = 0; /* padding positions carry label -100: the id only has to be valid */
    if ((st = ct_loader_init(&t->loader, c, t->tok, t->opts.eval_only ? "" : NULL, pad, err))) return st;
    ct_loader_get_info(t->loader, &t->info);
    ct_trainer_msg(t, "data: %zu train / %zu val examples, %zu train tokens, %s%s; %zu dropped, %zu truncated",
                   t->info.n_train_examples, t->info.n_val_examples, t->info.train_tokens, t->info.template_note,
                   t->info.packed ? ", packed" : "", t->info.n_dropped, t->info.n_truncated);
    if (t->info.n_bad) ct_trainer_msg(t, "warning: %s", t->info.bad_rows);
    if ((st = setup_method(t, err))) return st;
    t->B = (size_t)c->per_device_train_batch_size;
    t->GA = (size_t)c->gradient_accumulation_steps;
    size_t G = t->B * (size_t)(t->dist.size > 0 ? t->dist.size : 1); /* rows of a global micro-batch */
    t->n_micro = (t->info.n_train_rows + G - 1) / G;
    t->steps_per_epoch = (int64_t)((t->n_micro + t->GA - 1) / t->GA);
    if (c->max_steps > 0) t->total_steps = c->max_steps;
    else t->total_steps = (int64_t)ceil(c->num_train_epochs * (double)t->steps_per_epoch - 1e-9);
    if (t->total_steps < 1 && !t->opts.eval_only) return ct_err_set(err, CT_ERR_ARG, "no training steps (num_train_epochs %g, max_steps %" PRId64 ")", c->num_train_epochs, c->max_steps);
    char onote[512];
    if (!t->opts.eval_only && ct_train_config_optim_note(c, onote, sizeof onote)) ct_trainer_msg(t, "%s", onote);
    ct_adamw_init(&t->opt, c->adam_beta1, c->adam_beta2, c->adam_epsilon, c->weight_decay);
    if ((t->opt.bf16_params = c->pure_bf16)) ct_params_round_bf16(t->ctx, &t->tm.params); /* bf16 from the start */
    if ((st = ct_trainer_method_setup(t, err))) return st;
    if ((st = ct_scheduler_init(&t->sched, c->lr_scheduler_type ? c->lr_scheduler_type : "linear", c->learning_rate,
                                t->total_steps, c->warmup_steps, c->warmup_ratio, c->min_lr_rate, err)))
        return st;
    t->perm = malloc((t->info.n_train_rows ? t->info.n_train_rows : 1) * sizeof *t->perm);
    if (!t->perm) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    t->perm_epoch = -1;
    t->last_grad_norm = NAN;
    t->last_eval_loss = NAN;
    t->last_eval_step = -1;
    if (!t->opts.eval_only)
        ct_trainer_msg(t, "method %s: %zu trainable parameters of %" PRId64 " (%.4f%%); %" PRId64
                      " steps (%" PRId64 " per epoch, batch %zu x %zu accumulation)",
                   c->finetuning_type, t->tm.params.total, ct_model_param_count(t->model),
                   100.0 * (double)t->tm.params.total / (double)ct_model_param_count(t->model), t->total_steps,
                   t->steps_per_epoch, t->B, t->GA);
    return CT_OK;
}

/* resume_from_checkpoint: true found nothing to resume: say what is there and what to do. */
static ct_status no_checkpoint_error(const char *out, ct_err *err) {
    char *bad = NULL;
    ct_err why = {0};
    ct_ckpt_newest_invalid(out, &bad, &why);
    ct_status st;
    if (bad)
        st = ct_err_set(err, CT_ERR_ARG, "resume_from_checkpoint: no valid checkpoint in %s (the newest, %s, is incomplete "
                        "or damaged: %s); start afresh with overwrite_output_dir: true and without resume_from_checkpoint",
                        out, bad, why.msg);
    else
        st = ct_err_set(err, CT_ERR_ARG, "resume_from_checkpoint: no valid checkpoint in %s: none was saved (the run "
                        "there stopped before its first save, or none ran); start afresh with "
                        "overwrite_output_dir: true and without resume_from_checkpoint", out);
    free(bad);
    return st;
}

/* output_dir holds a run and neither resume nor overwrite was asked for. */
static ct_status occupied_error(const char *out, const char *marker, ct_err *err) {
    char *latest = NULL;
    int64_t step = 0;
    ct_err e2;
    ct_ckpt_find_latest(out, &latest, &step, &e2);
    ct_status st;
    if (latest)
        st = ct_err_set(err, CT_ERR_ARG, "output_dir %s already holds a training run (newest valid checkpoint: %s, step %"
                        PRId64 "); continue it with resume_from_checkpoint: true, or start afresh with "
                        "overwrite_output_dir: true (deletes its checkpoints and logs)", out, latest, step);
    else
        st = ct_err_set(err, CT_ERR_ARG, "output_dir %s already holds a training run (%s) with no valid checkpoint to "
                        "resume from; start afresh with overwrite_output_dir: true (deletes its checkpoints and logs) "
                        "or choose another output_dir", out, marker);
    free(latest);
    return st;
}

/* Resolves resume_from_checkpoint ("true" / "latest" = newest valid checkpoint in output_dir) and
 * applies the output_dir policy. *resume gets the checkpoint dir or NULL. */
static ct_status resolve_output_dir(ct_trainer *t, char **resume, ct_err *err) {
    const ct_train_config *c = t->cfg;
    *resume = NULL;
    const char *r = c->resume_from_checkpoint;
    bool want = r && *r && strcmp(r, "false") && strcmp(r, "False") && strcmp(r, "null");
    ct_status st;
    if (want && (!strcmp(r, "true") || !strcmp(r, "True") || !strcmp(r, "latest"))) {
        int64_t s;
        if ((st = ct_ckpt_find_latest(c->output_dir, resume, &s, err))) return st;
        if (!*resume) return no_checkpoint_error(c->output_dir, err);
    } else if (want) {
        if (!ct_dir_exists(r)) return ct_err_set(err, CT_ERR_IO, "resume_from_checkpoint: %s is not a directory", r);
        *resume = strdup(r);
    }
    char marker[256];
    if (!*resume && run_marker(c->output_dir, marker, sizeof marker)) {
        if (!c->overwrite_output_dir) return occupied_error(c->output_dir, marker, err);
        if ((st = clear_outputs(c->output_dir, err))) return st;
    }
    return CT_OK;
}

/* One run per output_dir: the lock is taken before anything in it is read or written, and held
 * to the end (the kernel drops it if the process dies). Leftovers of a killed run (temp and
 * trash directories of checkpoints, a half-moved final save) are removed under the lock. */
static ct_status lock_output_dir(ct_trainer *t, ct_err *err) {
    const char *out = t->cfg->output_dir;
    t->created_output_dir = !ct_dir_exists(out);
    ct_status st = ct_mkdir_p(out, err);
    if (st) return st;
    st = ct_dir_lock_take(&t->lock, out, CT_TRAINER_LOCK, err);
    if (st == CT_ERR_BUSY) {
        char pid[48] = "another process";
        if (t->lock.holder > 0) snprintf(pid, sizeof pid, "pid %ld", t->lock.holder);
        return ct_err_set(err, CT_ERR_BUSY, "output_dir %s is in use by another training run (%s holds %s/%s); wait "
                          "for it to finish, stop it, or choose another output_dir", out, pid, out, CT_TRAINER_LOCK);
    }
    if (st == CT_ERR_UNSUPPORTED) { /* run, but say that a second run would not be stopped */
        ct_trainer_msg(t, "warning: %s; a second run into this output_dir at the same time would not be refused",
                       err->msg);
        st = CT_OK;
    }
    if (st) return st;
    st = ct_ckpt_cleanup(out, err);
    if (!st) st = ct_trainer_final_cleanup(out, err);
    return st;
}

static void unlock_output_dir(ct_trainer *t, ct_status st) {
    if (t->lock.path) ct_dir_lock_release(&t->lock);
    if (st && t->created_output_dir) rmdir(t->cfg->output_dir); /* a refused run leaves no empty dir */
}

static ct_status add_sinks(ct_trainer *t, ct_err *err) {
    const ct_train_config *c = t->cfg;
    ct_callback cb;
    ct_status st = ct_callback_jsonl_log(&cb, c->output_dir, err);
    if (!st) st = ct_callbacks_add(&t->sinks, &cb, err);
    if (!st && ct_report_to_has(&c->report_to, "tensorboard")) {
        if (!(st = ct_callback_tensorboard(&cb, c->output_dir, err))) st = ct_callbacks_add(&t->sinks, &cb, err);
    }
    if (!st && ct_trackers_wanted(c)) {
        json_t *hp = NULL;
        st = ct_tracker_hparams(c, t->model_dir, ct_model_param_count(t->model), &hp, err);
        if (!st) st = ct_trackers_add(&t->sinks, c, hp, t->opts.message, t->opts.message_user, err);
        json_decref(hp);
    }
    if (!st && c->plot_loss) {
        if (!(st = ct_callback_loss_plot(&cb, c->output_dir, err))) st = ct_callbacks_add(&t->sinks, &cb, err);
    }
    return st;
}

static ct_status dispatch(ct_trainer *t, ct_event_kind kind, ct_train_event *ev, ct_err *err) {
    ct_status st = ct_callbacks_dispatch(&t->sinks, kind, ev, err);
    if (!st && t->user_cbs) st = ct_callbacks_dispatch(t->user_cbs, kind, ev, err);
    return st;
}

static void fill_event(const ct_trainer *t, ct_train_event *ev) {
    ct_train_event_init(ev);
    ev->step = t->step;
    ev->total_steps = t->total_steps;
    ev->epoch = ct_trainer_epoch_at(t, t->step);
    ev->learning_rate = ct_scheduler_lr(&t->sched, t->step < t->total_steps ? t->step : t->total_steps - 1);
    ev->elapsed_s = ct_trainer_now() - t->t0;
    ev->total_tokens = t->total_tokens;
    ev->tokens_per_s = ev->elapsed_s > 0 ? (double)t->run_tokens / ev->elapsed_s : 0;
    ev->output_dir = t->cfg->output_dir;
}

/* ---- one micro-batch through the step ---- */
static ct_lm_batch as_grad_batch(const ct_batch *mb, bool packed_neat) {
    ct_lm_batch b;
    memset(&b, 0, sizeof b);
    b.B = mb->B;
    b.T = mb->T;
    b.input_ids = mb->input_ids;
    b.labels = mb->labels;
    b.loss_weights = mb->weights;
    if (packed_neat) {
        b.position_ids = mb->position_ids;
        b.segment_ids = mb->segment_ids;
    }
    return b;
}

static size_t real_tokens(const ct_batch *mb) {
    size_t n = 0;
    for (size_t i = 0; i < mb->B * mb->T; i++) n += mb->segment_ids[i] != 0;
    return n;
}

/* Mean eval loss over the validation set: sum of weighted CE / trained tokens (token-weighted
 * over the whole set, not a mean of batch means). */
static ct_status evaluate(ct_trainer *t, double *out, ct_err *err) {
    *out = NAN;
    size_t n = t->info.n_val_examples;
    if (!n) return CT_OK;
    size_t EB = t->cfg->per_device_eval_batch_size > 0 ? (size_t)t->cfg->per_device_eval_batch_size : 8;
    /* the model being trained, or (eval_only) the base with its adapter */
    ct_dec_hooks th = t->tm_ready ? ct_train_model_hooks(&t->tm) : (ct_dec_hooks){0};
    const ct_dec_hooks *hk = t->tm_ready ? &th : ct_adapter_hooks(t->adapter);
    ct_dec_opts o = {0};
    size_t chunk = t->tm_ready ? t->tm.xent_chunk : 0;
    double sum = 0, ntok = 0;
    ct_status st = CT_OK;
    size_t R = t->dist.size > 1 ? (size_t)t->dist.size : 1; /* ranks take every R-th batch */
    for (size_t s = (size_t)t->dist.rank * EB; s < n && !st; s += R * EB) {
        ct_batch mb;
        if ((st = ct_loader_val_batch(t->loader, s, EB, &mb, err))) break;
        ct_lm_batch b = as_grad_batch(&mb, false);
        size_t k = ct_lm_count_targets(&b, hk ? hk->n_virt : 0);
        double loss = 0;
        if (k) {
            st = ct_lm_loss(t->ctx, t->model, hk, &o, ct_ctx_arena(t->ctx), &b, 0.0f, NULL, chunk, &loss, NULL, err);
            sum += loss;
            ntok += (double)k;
        }
        ct_batch_free(&mb);
    }
    double sums[2] = {sum, ntok};
    if (!st) st = ct_trainer_dist_counts(t, sums, 2, err);
    if (st) return ct_err_prefix(err, "evaluation at step %" PRId64, t->step);
    *out = sums[1] > 0 ? sums[0] / sums[1] : NAN;
    return CT_OK;
}

/* Runs one optimizer step. *step_loss = mean CE over the step's trained tokens. */
static ct_status train_one_step(ct_trainer *t, double *step_loss, ct_err *err) {
    if (t->micro_pos >= t->n_micro) {
        t->epoch++;
        t->micro_pos = 0;
    }
    if (t->perm_epoch != t->epoch) {
        ct_loader_epoch_order(t->loader, (uint64_t)t->cfg->seed, t->epoch, t->perm);
        t->perm_epoch = t->epoch;
    }
    size_t m0 = t->micro_pos, m1 = m0 + t->GA;
    if (m1 > t->n_micro) m1 = t->n_micro;
    size_t nm = m1 - m0;
    ct_batch *mbs = calloc(nm, sizeof *mbs);
    if (!mbs) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = CT_OK;
    bool neat = t->info.packed && t->cfg->neat_packing;
    /* counts[0]: trained targets (the loss normaliser), [1]: tokens, [2]: samples; summed over
     * the ranks (trainer_dist.h) before the backward, so every rank scales by the global count */
    double counts[3] = {0, 0, 0};
    for (size_t i = 0; i < nm && !st; i++) {
        size_t r0, nb;
        ct_trainer_dist_rows(t, m0 + i, &r0, &nb);
        if (!nb) continue; /* this rank has no row of the epoch's last global micro-batch */
        st = ct_loader_train_batch(t->loader, t->perm + r0, nb, &mbs[i], err);
        if (!st) {
            ct_lm_batch b = as_grad_batch(&mbs[i], neat);
            counts[0] += (double)ct_train_count_tokens(&t->tm, &b);
            counts[1] += (double)real_tokens(&mbs[i]);
            counts[2] += (double)mbs[i].B;
        }
    }
    if (!st) st = ct_trainer_dist_counts(t, counts, 3, err);
    if (!st) {
        ct_params_zero_grad(&t->tm.params);
        double total = 0, norm = counts[0] > 0 ? counts[0] : 1; /* no trained target: zero loss and gradients */
        for (size_t i = 0; i < nm && !st; i++) {
            if (!mbs[i].B) {
                t->tm.rng_step++; /* the dropout counter counts global micro-batches on every rank */
                continue;
            }
            ct_lm_batch b = as_grad_batch(&mbs[i], neat);
            double l = 0;
            st = ct_train_step(t->ctx, &t->tm, &b, norm, true, &l, err);
            total += l;
        }
        t->total_tokens += (int64_t)counts[1];
        t->run_tokens += (int64_t)counts[1];
        t->run_samples += (int64_t)counts[2];
        *step_loss = total;
        if (st && err && err->code == CT_ERR_NUMERIC)
            st = ct_err_prefix(err, "step %" PRId64 " of %" PRId64, t->step + 1, t->total_steps);
    }
    for (size_t i = 0; i < nm; i++) ct_batch_free(&mbs[i]);
    free(mbs);
    if (st) return st;
    float clip = 1.0f;
    double gn = NAN;
    /* the one place where a step's gradients are complete: made global here */
    if ((st = ct_trainer_dist_reduce(t, step_loss, &gn, &clip, err))) return st;
    if (!isfinite(gn) || !isfinite(*step_loss))
        return ct_err_set(err, CT_ERR_NUMERIC, "step %" PRId64 " of %" PRId64 ": %s is %g (non-finite)", t->step + 1,
                          t->total_steps, isfinite(*step_loss) ? "gradient norm" : "loss",
                          isfinite(*step_loss) ? gn : *step_loss);
    t->last_grad_norm = gn;
    if ((st = ct_trainer_dist_adamw(t, ct_scheduler_lr(&t->sched, t->step), clip, err))) return st;
    t->micro_pos = m1;
    t->step++;
    return CT_OK;
}

static void trainer_free(ct_trainer *t) {
    ct_trainer_method_free(t);
    ct_trainer_dist_free(&t->dist);
    if (t->tm_ready) ct_train_model_free(&t->tm);
    ct_loader_free(t->loader);
    ct_tokenizer_free(t->tok);
    ct_adapter_free(t->adapter);
    ct_trainer_peft_free(t);
    ct_model_free(t->model);
    ct_ctx_free(t->ctx);
    ct_callbacks_free(&t->sinks);
    free(t->perm);
    free(t->model_dir);
    free(t->last_ckpt);
    free(t->resumed_from);
}

/* One evaluation: the validation loss (when there is a split) and the eval_tasks scores, then
 * the on_evaluate sinks. */
static ct_status evaluate_all(ct_trainer *t, ct_train_event *ev, ct_err *err) {
    double el;
    ct_status st = evaluate(t, &el, err);
    if (st) return st;
    ct_eval_scores sc = {0};
    /* Data parallel: every rank holds the same weights, so rank 0 alone runs the tasks (it
     * writes eval/step-N); the other ranks wait for it at the next all-reduce. */
    if (t->cfg->eval_tasks && t->dist.rank == 0 && (st = ct_trainer_eval_tasks(t, &sc, err))) return st;
    t->last_eval_loss = el;
    t->last_eval_step = t->step;
    fill_event(t, ev);
    ev->eval_loss = el;
    ev->n_eval_metrics = sc.n;
    ev->eval_metric_names = (const char *const *)sc.names;
    ev->eval_metric_values = sc.values;
    st = dispatch(t, CT_EVENT_EVALUATE, ev, err);
    ev->n_eval_metrics = 0;
    ev->eval_metric_names = NULL;
    ev->eval_metric_values = NULL;
    ct_eval_scores_free(&sc);
    return st;
}

/* checkpoint-<step> and the on_save sinks. */
static ct_status save_step(ct_trainer *t, ct_train_event *ev, ct_err *err) {
    ct_status st = ct_trainer_save_checkpoint(t, err);
    if (st) return st;
    fill_event(t, ev);
    ev->checkpoint_dir = t->last_ckpt;
    return dispatch(t, CT_EVENT_SAVE, ev, err);
}

static ct_status run_loop(ct_trainer *t, ct_train_result *res, ct_err *err) {
    const ct_train_config *c = t->cfg;
    ct_status st;
    ct_train_event ev;
    fill_event(t, &ev);
    if ((st = dispatch(t, CT_EVENT_TRAIN_BEGIN, &ev, err))) return st;
    int64_t log_every = c->logging_steps > 0 ? c->logging_steps : 500;
    int64_t eval_every = c->eval_steps > 0 ? c->eval_steps : log_every;
    bool eval_on = (t->info.n_val_examples > 0 || c->eval_tasks) && c->eval_strategy && strcmp(c->eval_strategy, "no");
    if (c->eval_tasks && !eval_on)
        return ct_err_set(err, CT_ERR_ARG, "eval_tasks needs eval_strategy steps or epoch (it is '%s')",
                          c->eval_strategy ? c->eval_strategy : "no");
    bool eval_epoch = eval_on && !strcmp(c->eval_strategy, "epoch");
    /* save_strategy (HF DefaultFlowCallback): steps = every save_steps; epoch = at each epoch end,
     * which includes the last step (HF runs on_epoch_end when training stops mid-epoch); no = none */
    const char *save_strategy = c->save_strategy ? c->save_strategy : "steps";
    bool save_epoch = !strcmp(save_strategy, "epoch");
    int64_t save_every = !strcmp(save_strategy, "steps") ? c->save_steps : 0;
    bool stop = false;
    while (t->step < t->total_steps && !stop) {
        /* a signal after the last step's stop agreement (one that reached a rank while it waited in
         * that collective): the step it follows is saved unless it already is or none ran yet (a
         * signal during setup or a save: nothing new to save); every rank stops at the same step */
        bool sig = t->opts.handle_sigint && ct_sigint_requested();
        if ((st = ct_dist_any(&sig, err))) return st;
        if (sig) {
            if (t->run_steps > 0 && t->step != t->saved_step && (st = save_step(t, &ev, err))) return st;
            break;
        }
        double loss = 0;
        if ((st = train_one_step(t, &loss, err))) {
            if (st == CT_ERR_NUMERIC)
                ct_err_prefix(err, "training stopped (NaN/Inf); %s%s", t->last_ckpt ? "last good checkpoint: " : "no checkpoint was saved",
                              t->last_ckpt ? t->last_ckpt : "");
            return st;
        }
        ct_fault_point("train.step");
        t->log_loss_sum += loss;
        t->log_count++;
        t->run_loss_sum += loss;
        t->run_steps++;
        fill_event(t, &ev);
        ev.loss = loss;
        ev.grad_norm = t->last_grad_norm;
        if ((st = dispatch(t, CT_EVENT_STEP_END, &ev, err))) return st;
        if (ev.should_stop) stop = true;
        if (t->step % log_every == 0 || t->step == t->total_steps) {
            fill_event(t, &ev);
            ev.loss = t->log_loss_sum / (double)t->log_count;
            ev.grad_norm = t->last_grad_norm;
            t->log_loss_sum = 0;
            t->log_count = 0;
            if ((st = dispatch(t, CT_EVENT_LOG, &ev, err))) return st;
            if (ev.should_stop) stop = true;
        }
        bool epoch_end = t->step % t->steps_per_epoch == 0;
        if (eval_on && ((!eval_epoch && t->step % eval_every == 0) || (eval_epoch && epoch_end))) {
            if ((st = evaluate_all(t, &ev, err))) return st;
            if (ev.should_stop) stop = true;
        }
        if (t->opts.handle_sigint && ct_sigint_requested()) stop = true;
        if ((st = ct_dist_any(&stop, err))) return st; /* rank 0's callbacks or any rank's signal */
        bool periodic = (save_every > 0 && t->step % save_every == 0) ||
                        (save_epoch && (epoch_end || t->step == t->total_steps));
        if ((periodic || (stop && t->step < t->total_steps)) && t->step != t->saved_step &&
            (st = save_step(t, &ev, err)))
            return st;
    }
    res->interrupted = t->step < t->total_steps;
    if (!res->interrupted) {
        if ((t->info.n_val_examples > 0 || eval_on) && t->last_eval_step != t->step) {
            if ((st = evaluate_all(t, &ev, err))) return st;
        }
        bool writer = ct_trainer_dist_writer(t);
        if (writer && (st = ct_trainer_save_final(t, err))) {
            if (t->last_ckpt)
                return ct_err_prefix(err, "final save of step %" PRId64 " failed (no final file was left in %s; the "
                                     "newest checkpoint %s is kept, resume_from_checkpoint: true continues from it)",
                                     t->step, c->output_dir, t->last_ckpt);
            return ct_err_prefix(err, "final save of step %" PRId64 " failed (no final file was left in %s; no "
                                 "checkpoint was saved)", t->step, c->output_dir);
        }
        if (writer && (st = ct_trainer_peft_end(t, err))) return st;
    }
    double runtime = ct_trainer_now() - t->t0;
    if (t->dist.size > 1 && t->dist.comm_steps)
        ct_trainer_msg(t, "data parallel: %d ranks, gradient all-reduce %.2f ms per step (%.1f%% of %.1f s)", t->dist.size,
                       1e3 * t->dist.comm_s / (double)t->dist.comm_steps, runtime > 0 ? 100.0 * t->dist.comm_s / runtime : 0.0,
                       runtime);
    res->global_step = t->step;
    res->total_steps = t->total_steps;
    res->epoch = ct_trainer_epoch_at(t, t->step);
    res->train_loss = t->run_steps ? t->run_loss_sum / (double)t->run_steps : NAN;
    res->eval_loss = t->last_eval_loss;
    res->runtime_s = runtime;
    res->samples_per_s = runtime > 0 ? (double)t->run_samples / runtime : 0;
    res->steps_per_s = runtime > 0 ? (double)t->run_steps / runtime : 0;
    res->tokens_per_s = runtime > 0 ? (double)t->run_tokens / runtime : 0;
    res->total_tokens = t->total_tokens;
    if (t->last_ckpt && !(res->last_checkpoint = strdup(t->last_ckpt))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!res->interrupted) {
        ct_all_results ar;
        ct_all_results_init(&ar);
        ar.epoch = res->epoch;
        ar.train_loss = res->train_loss;
        ar.eval_loss = res->eval_loss;
        ar.train_runtime = runtime;
        ar.train_samples_per_second = res->samples_per_s;
        ar.train_steps_per_second = res->steps_per_s;
        ar.train_tokens_per_second = res->tokens_per_s;
        ar.peak_memory_mb = ct_peak_rss_mb();
        if (ct_trainer_dist_writer(t) && (st = ct_write_all_results(c->output_dir, &ar, err))) return st;
    }
    fill_event(t, &ev);
    ev.loss = res->train_loss;
    ev.eval_loss = res->eval_loss;
    ev.elapsed_s = runtime;
    ev.samples_per_s = res->samples_per_s;
    ev.steps_per_s = res->steps_per_s;
    return dispatch(t, CT_EVENT_TRAIN_END, &ev, err);
}

/* Collective: CT_OK on every rank when st is CT_OK on every rank; else the failing ranks keep
 * their error and the others get one naming the lowest failing rank. */
static ct_status agree(ct_trainer *t, ct_status st, const char *what, ct_err *err) {
    if (t->dist.size <= 1) return st;
    int first = st ? t->dist.rank : t->dist.size;
    ct_err e2 = {0};
    if (ct_dist_min_int(&first, &e2)) return st ? st : ct_err_set(err, e2.code, "%s", e2.msg);
    if (st || first == t->dist.size) return st;
    return ct_err_set(err, CT_ERR_IO, "stopped: rank %d failed (%s); its message says why", first, what);
}

/* rank 0's resume_from_checkpoint resolution to every rank. */
static ct_status bcast_resume(ct_trainer *t, char **resume, ct_err *err) {
    if (t->dist.size <= 1) return CT_OK;
    int64_t len = *resume ? (int64_t)strlen(*resume) : -1;
    ct_status st = ct_dist_bcast(&len, sizeof len, 0, err);
    if (st || len < 0) return st;
    if (t->dist.rank != 0) {
        free(*resume);
        if (!(*resume = calloc((size_t)len + 1, 1))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    return ct_dist_bcast(*resume, (size_t)len, 0, err);
}

ct_status ct_train_run_ex(const ct_train_config *cfg, ct_callbacks *callbacks, const ct_train_opts *opts,
                          ct_train_result *res, ct_err *err) {
    ct_train_result dummy;
    if (!res) res = &dummy;
    memset(res, 0, sizeof *res);
    res->eval_loss = NAN;
    res->train_loss = NAN;
    ct_status st = ct_train_config_validate(cfg, err);
    if (!st) st = ct_dist_init(err);
    if (st) return st;
    ct_trainer t;
    memset(&t, 0, sizeof t);
    t.cfg = cfg;
    if (opts) t.opts = *opts;
    t.user_cbs = callbacks;
    t.dist.rank = ct_dist_rank();
    t.dist.size = ct_dist_size();
    bool writer = t.dist.rank == 0;
    if (!writer) { /* only rank 0 prints, logs and calls back */
        t.opts.message = NULL;
        t.user_cbs = NULL;
    }
    char *resume = NULL;
    if (!cfg->output_dir) return ct_err_set(err, CT_ERR_ARG, "output_dir is required");
    if (t.opts.eval_only) {
        if (!(st = setup(&t, err))) {
            double t0 = ct_trainer_now();
            if (!t.info.n_val_examples)
                st = ct_err_set(err, CT_ERR_ARG, "evaluation needs a validation split: set eval_dataset or val_size");
            else
                st = evaluate(&t, &res->eval_loss, err);
            res->runtime_s = ct_trainer_now() - t0;
        }
        trainer_free(&t);
        return st;
    }
    t.saved_step = -1;
    /* rank 0 takes output_dir and builds the tokenized cache; the other ranks then set up from it */
    if (writer && !(st = lock_output_dir(&t, err)) && !(st = resolve_output_dir(&t, &resume, err))) st = setup(&t, err);
    st = agree(&t, st, "preparing output_dir and the data", err);
    if (!st) st = bcast_resume(&t, &resume, err);
    if (!st && !writer) st = setup(&t, err);
    st = agree(&t, st, "setup", err);
    if (!st) st = ct_trainer_dist_setup(&t, err);
    if (!st && resume) {
        st = ct_trainer_load_checkpoint(&t, resume, err);
        if (!st && writer) st = ct_trainer_trim_log(cfg->output_dir, t.step, err);
        if (!st) ct_trainer_msg(&t, "resumed from %s at step %" PRId64 " of %" PRId64, resume, t.step, t.total_steps);
    }
    if (!st && writer) st = ct_trainer_peft_begin(&t, err);
    if (!st && writer) st = add_sinks(&t, err);
    st = agree(&t, st, "resume", err);
    res->trainable_params = (int64_t)t.tm.params.total;
    res->total_params = t.model ? ct_model_param_count(t.model) : 0;
    if (!st) {
        t.t0 = ct_trainer_now();
        st = run_loop(&t, res, err);
    }
    free(resume);
    trainer_free(&t);
    unlock_output_dir(&t, st);
    if (st && ct_dist_size() > 1) ct_err_prefix(err, "rank %d of %d", ct_dist_rank(), ct_dist_size());
    return st;
}

void ct_train_result_clear(ct_train_result *res) {
    free(res->last_checkpoint);
    res->last_checkpoint = NULL;
}

ct_status ct_train_run(const ct_train_config *cfg, ct_callbacks *callbacks, ct_train_result *res, ct_err *err) {
    return ct_train_run_ex(cfg, callbacks, NULL, res, err);
}
