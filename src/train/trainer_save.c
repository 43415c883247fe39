/* Trainer checkpoints (save / exact resume) and the final outputs in output_dir.
 *
 * checkpoint-N/ (layout and atomicity: src/train/checkpoint.h):
 *   model.safetensors       every trainable tensor, f32 master copy, registry names
 *   optimizer.safetensors   exp_avg.<name>, exp_avg_sq.<name> (AdamW moments, f32)
 *   trainer_state.json      global_step, epoch, data position (epoch index + next micro-batch),
 *                           optimizer step, dropout counter, log accumulators and config facts;
 *                           doubles that must survive bit for bit are stored as hex of their bits
 *   adapter files (lora / prompt) or config.json (full: the checkpoint is then an f32 HF model
 *   dir), tokenizer files                                                                       */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fault.h"
#include "base/file.h"
#include "base/json.h"
#include "io/hf_export.h"
#include "peft/peft_io.h"
#include "train/checkpoint.h"
#include "train/log.h"
#include "train/trainer_internal.h"
#include "train/trainer_state.h"

/* Tensor lists of the two checkpoint files; names are malloc'd into *names. */
typedef struct ckpt_lists {
    ct_st_item *w, *o;
    char **names;
    size_t n, n_names, n_opt;
} ckpt_lists;

static ct_tensor f32_tensor(float *data, const ct_param *p) {
    ct_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = CT_DTYPE_F32;
    t.ndim = p->ndim;
    for (int i = 0; i < p->ndim; i++) t.shape[i] = p->shape[i];
    t.data = data;
    return t;
}

/* A moment of p: the parameter's shape, or the optimizer's own (GaLore: the projected one). */
static ct_tensor state_tensor(float *data, const ct_param *p) {
    if (p->state_numel == p->numel) return f32_tensor(data, p);
    ct_tensor t = {.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {p->state_shape[0], p->state_shape[1]}, .data = data};
    return t;
}

static ct_tensor mat_tensor(float *data, int64_t d0, int64_t d1) {
    ct_tensor t = {.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {d0, d1}, .data = data};
    return t;
}

static ct_status make_lists(ct_trainer *t, ckpt_lists *L, ct_err *err) {
    memset(L, 0, sizeof *L);
    ct_params *ps = &t->tm.params;
    size_t ng = t->galore_on ? t->galore.n : 0; /* GaLore: + each projector (U, Vh) */
    L->n = ps->n;
    L->w = calloc(ps->n ? ps->n : 1, sizeof *L->w);
    L->o = calloc(2 * (ps->n + ng) + 1, sizeof *L->o);
    L->names = calloc(2 * (ps->n + ng) + 1, sizeof *L->names);
    if (!L->w || !L->o || !L->names) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < ps->n; i++) {
        ct_param *p = &ps->p[i];
        L->w[i] = ct_st_item_of(p->name, f32_tensor(p->data, p));
        size_t len = strlen(p->name) + 16;
        char *a = malloc(len), *b = malloc(len);
        if (!a || !b) {
            free(a), free(b);
            return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        }
        snprintf(a, len, "exp_avg.%s", p->name);
        snprintf(b, len, "exp_avg_sq.%s", p->name);
        L->names[L->n_names++] = a;
        L->names[L->n_names++] = b;
        L->o[2 * i] = ct_st_item_of(a, state_tensor(p->m, p));
        L->o[2 * i + 1] = ct_st_item_of(b, state_tensor(p->v, p));
    }
    L->n_opt = 2 * ps->n;
    for (size_t j = 0; j < ng; j++) {
        const ct_galore_param *q = &t->galore.p[j];
        const char *pn = ps->p[q->index].name;
        for (int side = 0; side < 2; side++) {
            float *d = side ? q->Vh : q->U;
            if (!d) continue;
            size_t len = strlen(pn) + 16;
            char *nm = malloc(len);
            if (!nm) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            snprintf(nm, len, "galore_%s.%s", side ? "Vh" : "U", pn);
            L->names[L->n_names++] = nm;
            L->o[L->n_opt++] = ct_st_item_of(nm, side ? mat_tensor(d, q->r, q->n) : mat_tensor(d, q->m, q->r));
        }
    }
    return CT_OK;
}

static void free_lists(ckpt_lists *L) {
    for (size_t i = 0; i < L->n_names; i++) free(L->names[i]);
    free(L->names);
    free(L->w);
    free(L->o);
}

/* ---- adapter / model writers (used by checkpoints and the final save) ---- */

/* The [rows x (c0 + c1)] concatenation of X0 [rows, c0] and sign * X1 [rows, c1] along columns
 * (malloc'd): PEFT's torch.cat of the trained and the initial PiSSA factors. */
static float *cat_cols(const float *X0, size_t c0, const float *X1, size_t c1, float sign, size_t rows) {
    size_t n = rows * (c0 + c1);
    float *o = malloc((n ? n : 1) * sizeof *o);
    if (!o) return NULL;
    for (size_t i = 0; i < rows; i++) {
        memcpy(o + i * (c0 + c1), X0 + i * c0, c0 * sizeof *o);
        for (size_t k = 0; k < c1; k++) o[i * (c0 + c1) + c0 + k] = sign * X1[i * c1 + k];
    }
    return o;
}

ct_status ct_trainer_save_lora(ct_trainer *t, const char *dir, bool init_true, const ct_peft_adapter *convert_from,
                               ct_err *err) {
    ct_train_model *tm = &t->tm;
    int L = tm->lora.n_layers, r = tm->lora_r;
    ct_lora_pair *pairs = calloc((size_t)L * CT_LT_COUNT + 1, sizeof *pairs);
    ct_tensor *mags = calloc((size_t)L * CT_LT_COUNT + 1, sizeof *mags);
    float **conv = calloc(2 * (size_t)L * CT_LT_COUNT + 1, sizeof *conv); /* converted A', B' */
    const char *mods[CT_LT_COUNT];
    size_t nm = 0, np = 0;
    ct_status st = pairs && mags && conv ? CT_OK : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (int id = 0; id < CT_LT_COUNT && !st; id++) {
        const ct_tensor_spec *s = &ct_layer_specs[id];
        bool any = false;
        for (int l = 0; l < L && !st; l++) {
            const ct_lora_ref *ref = &tm->lora.ref[(size_t)l * CT_LT_COUNT + (size_t)id];
            if (!ref->A) continue;
            const ct_tensor *W = &tm->w.layers[l].t[id];
            int64_t in = W->shape[1], out = W->shape[0];
            const float *A = ref->A, *B = ref->B;
            int64_t rr = r;
            if (convert_from) { /* A' = [A; A0] [2r, in], B' = [B, -B0] [out, 2r] */
                const ct_peft_lora_tensors *p0 = ct_peft_find_lora(convert_from, l, s->lora);
                if (!p0 || p0->r != r || p0->in != in || p0->out != out) {
                    st = ct_err_set(err, CT_ERR_FORMAT, "pissa_convert: the initial adapter has no [%d x %lld] layer %d %s",
                                    r, (long long)in, l, s->lora);
                    break;
                }
                float *A2 = cat_cols(A, (size_t)(r * in), p0->A, (size_t)(r * in), 1.0f, 1); /* rows stack */
                float *B2 = cat_cols(B, (size_t)r, p0->B, (size_t)r, -1.0f, (size_t)out);
                conv[2 * np] = A2;
                conv[2 * np + 1] = B2;
                if (!A2 || !B2) {
                    st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
                    break;
                }
                A = A2, B = B2, rr = 2 * r;
            }
            pairs[np].layer = l;
            pairs[np].module = s->lora;
            pairs[np].A = (ct_tensor){.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {rr, in}, .data = (void *)A};
            pairs[np].B = (ct_tensor){.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {out, rr}, .data = (void *)B};
            if (ref->mag) mags[np] = (ct_tensor){.dtype = CT_DTYPE_F32, .ndim = 1, .shape = {out}, .data = (void *)ref->mag};
            np++;
            any = true;
        }
        if (any) mods[nm++] = s->lora;
    }
    ct_lora_config lc;
    memset(&lc, 0, sizeof lc);
    lc.base_model_name_or_path = t->cfg->model_name_or_path;
    lc.r = convert_from ? 2 * r : r;
    /* the conversion keeps scaling: alpha doubles (times sqrt(2) with rsLoRA), as PEFT writes it */
    lc.lora_alpha = !convert_from ? t->lora.alpha : t->lora.rslora ? t->lora.alpha * sqrt(2.0) : 2 * t->lora.alpha;
    lc.lora_dropout = t->lora.dropout;
    lc.target_modules = mods;
    lc.n_target_modules = nm;
    lc.use_rslora = t->lora.rslora;
    lc.use_dora = tm->dora;
    lc.mags = mags;
    lc.init_lora_weights = !init_true && tm->init_lora_weights[0] ? tm->init_lora_weights : NULL;
    lc.targets_from = t->lora.resume ? t->lora.resume->config : NULL;
    lc.weight_prefix = ct_model_config(t->model)->weight_prefix;
    /* LLaMA Pro: LlamaFactory's find_expanded_modules lists every adapted module by its full name */
    char (*full)[160] = !st && t->cfg->use_llama_pro ? calloc(np + 1, sizeof *full) : NULL;
    const char **fmods = full ? calloc(np + 1, sizeof *fmods) : NULL;
    if (fmods) {
        for (size_t i = 0; i < np; i++) {
            ct_spec_module(full[i], sizeof full[i], &tm->model->cfg, ct_spec_by_lora(pairs[i].module), pairs[i].layer);
            fmods[i] = full[i];
        }
        lc.target_modules = fmods;
        lc.n_target_modules = np;
    } else if (!st && t->cfg->use_llama_pro) {
        st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    /* modules_to_save: the non-LoRA trainable tensors, already named with their PEFT keys */
    ct_st_item *saved = st ? NULL : calloc(tm->params.n + 1, sizeof *saved);
    if (!st && !saved) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < tm->params.n; i++) {
        ct_param *p = &tm->params.p[i];
        if (strstr(p->name, ".lora_")) continue;
        saved[lc.n_saved++] = ct_st_item_of(p->name, f32_tensor(p->data, p));
    }
    lc.saved = saved;
    lc.modules_to_save = (const char *const *)t->lora.mts;
    lc.n_modules_to_save = t->lora.n_mts;
    if (!st) st = ct_peft_save_lora(dir, &lc, pairs, np, CT_DTYPE_F32, err);
    for (size_t i = 0; conv && i < 2 * np; i++) free(conv[i]);
    free(conv);
    free(fmods);
    free(full);
    free(saved);
    free(mags);
    free(pairs);
    return st;
}

ct_status ct_trainer_save_prompt(ct_trainer *t, const char *dir, ct_err *err) {
    const ct_config *mc = ct_model_config(t->model);
    ct_prompt_config pc;
    memset(&pc, 0, sizeof pc);
    pc.base_model_name_or_path = t->cfg->model_name_or_path;
    pc.num_virtual_tokens = t->tm.n_virtual;
    pc.token_dim = mc->hidden_size;
    pc.num_layers = mc->num_layers;
    pc.num_attention_heads = mc->num_heads;
    const char *init = t->cfg->prompt_tuning_init ? t->cfg->prompt_tuning_init : "random";
    pc.prompt_tuning_init = !strcmp(init, "text") ? "TEXT" : !strcmp(init, "vocab") ? "SAMPLE_VOCAB" : "RANDOM";
    if (!strcmp(init, "text")) {
        pc.prompt_tuning_init_text = t->cfg->prompt_tuning_init_text;
        pc.tokenizer_name_or_path = t->cfg->model_name_or_path;
    }
    return ct_peft_save_prompt(dir, &pc, t->tm.params.p[t->tm.prompt_param].data, CT_DTYPE_F32, err);
}

/* Every model tensor under its HF name as the train model's views point now (trained f32
 * masters for trainable tensors), written in the model's dtype. */
static ct_status save_hf_model(ct_trainer *t, const char *dir, ct_err *err) {
    const ct_config *c = ct_model_config(t->model);
    ct_dtype dtype = c->dtype == CT_DTYPE_F16 || c->dtype == CT_DTYPE_BF16 ? c->dtype : CT_DTYPE_F32;
    ct_weights_items wi = {0};
    json_t *config = NULL;
    ct_status st = ct_weights_items_make(&wi, &t->tm.w, c, dtype, err);
    if (!st) st = ct_weights_items_add_unloaded(&wi, t->model, err);
    char *cpath = ct_path_join(t->model_dir, "config.json");
    if (!st) st = ct_json_load_file(cpath, &config, err);
    free(cpath);
    if (!st) {
        ct_hf_export_opts o;
        memset(&o, 0, sizeof o);
        o.out_dir = dir;
        o.config = config;
        o.dtype = dtype;
        o.tokenizer_dir = t->model_dir;
        o.generation_config_dir = t->model_dir;
        st = ct_hf_export(&o, wi.items, wi.n, err);
    }
    json_decref(config);
    ct_weights_items_free(&wi);
    return st;
}

static ct_status ckpt_extra(const char *tmp_dir, void *user, ct_err *err) {
    ct_trainer *t = user;
    ct_status st = CT_OK;
    switch (t->tm.method) {
    case CT_METHOD_LORA: st = ct_trainer_save_lora(t, tmp_dir, false, NULL, err); break;
    case CT_METHOD_PROMPT: st = ct_trainer_save_prompt(t, tmp_dir, err); break;
    case CT_METHOD_FULL:
        st = ct_copy_if_exists(t->model_dir, tmp_dir, "config.json", err);
        if (!st) st = ct_copy_if_exists(t->model_dir, tmp_dir, "generation_config.json", err);
        break;
    default: break;
    }
    if (!st) st = ct_hf_copy_tokenizer(t->model_dir, tmp_dir, err);
    return st;
}

static json_t *state_json(ct_trainer *t) {
    ct_trainer_state s;
    memset(&s, 0, sizeof s);
    s.global_step = t->step;
    s.max_steps = t->total_steps;
    s.epoch = ct_trainer_epoch_at(t, t->step);
    s.steps_per_epoch = t->steps_per_epoch;
    s.data_epoch = t->epoch;
    s.data_micro_pos = (int64_t)t->micro_pos;
    s.data_rows = (int64_t)t->info.n_train_rows;
    s.seed = t->cfg->seed;
    s.optimizer_step = t->opt.step;
    s.dropout_rng_step = t->tm.rng_step;
    s.log_loss_sum = t->log_loss_sum;
    s.log_count = t->log_count;
    s.last_grad_norm = t->last_grad_norm;
    s.num_input_tokens_seen = t->total_tokens;
    snprintf(s.finetuning_type, sizeof s.finetuning_type, "%s", t->cfg->finetuning_type);
    s.trainable_params = (int64_t)t->tm.params.total;
    s.learning_rate = t->cfg->learning_rate;
    snprintf(s.lr_scheduler_type, sizeof s.lr_scheduler_type, "%s",
             t->cfg->lr_scheduler_type ? t->cfg->lr_scheduler_type : "linear");
    s.eval_loss = t->last_eval_loss;
    if ((s.has_badam = t->badam_on)) s.badam = t->badam;
    return ct_trainer_state_json(&s);
}

void ct_trainer_layout_of(const ct_trainer *t, ct_trainer_layout *L) {
    memset(L, 0, sizeof *L);
    L->total_steps = t->total_steps;
    L->steps_per_epoch = t->steps_per_epoch;
    L->n_micro = t->n_micro;
    L->GA = t->GA;
    L->rows = t->info.n_train_rows;
    L->seed = t->cfg->seed;
    L->finetuning_type = t->cfg->finetuning_type;
    L->trainable_params = t->tm.params.total;
    L->badam = t->badam_on ? &t->badam_start : NULL;
    int64_t per;
    size_t ranks = t->dist.size > 1 ? (size_t)t->dist.size : 1;
    if (!__builtin_mul_overflow((int64_t)(t->GA * t->B * ranks), t->cfg->cutoff_len, &per)) L->max_tokens_per_step = per;
}

/* A rank other than 0 writes nothing: it takes part in gathering the ZeRO-1 moments and
 * records the checkpoint rank 0 writes (rank 0's failure ends the job, ct_dist_abort). */
static ct_status save_follow(ct_trainer *t, ct_err *err) {
    ct_status st = ct_trainer_dist_moments_gather(t, false, err);
    ct_trainer_dist_moments_release(t, false);
    if (st) return ct_err_prefix(err, "saving checkpoint-%" PRId64, t->step);
    char name[40];
    snprintf(name, sizeof name, "checkpoint-%" PRId64, t->step);
    char *path = ct_path_join(t->cfg->output_dir, name);
    if (!path) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    free(t->last_ckpt);
    t->last_ckpt = path;
    t->saved_step = t->step;
    return CT_OK;
}

ct_status ct_trainer_save_checkpoint(ct_trainer *t, ct_err *err) {
    if (!ct_trainer_dist_writer(t)) return save_follow(t, err);
    ckpt_lists L;
    ct_status st = ct_trainer_dist_moments_gather(t, false, err);
    if (!st) st = make_lists(t, &L, err);
    else memset(&L, 0, sizeof L);
    json_t *state = st ? NULL : state_json(t);
    if (!st && !state) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    char *saved = NULL;
    ct_st_item *blocks = NULL;
    char (*block_names)[192] = NULL;
    size_t n_blocks = 0;
    if (!st) st = ct_trainer_method_blocks(t, &blocks, &block_names, &n_blocks, err);
    if (!st) {
        ct_ckpt_file files[3] = {{"model.safetensors", L.w, L.n}, {"optimizer.safetensors", L.o, L.n_opt},
                                 {CT_CKPT_BLOCKS, blocks, n_blocks}};
        ct_ckpt_save_opts o;
        memset(&o, 0, sizeof o);
        o.output_dir = t->cfg->output_dir;
        o.step = t->step;
        o.files = files;
        o.n_files = t->badam_on ? 3 : 2;
        o.state = state;
        o.extra = ckpt_extra;
        o.extra_user = t;
        o.save_total_limit = t->cfg->save_total_limit > 0 ? (int)t->cfg->save_total_limit : 0;
        o.keep_dir = t->resumed_from;
        st = ct_ckpt_save(&o, &saved, err);
    }
    if (!st && saved) {
        free(t->last_ckpt);
        t->last_ckpt = saved;
        saved = NULL;
    }
    if (!st) t->saved_step = t->step;
    if (st) ct_err_prefix(err, "saving checkpoint-%" PRId64, t->step);
    free(saved);
    free(blocks);
    free(block_names);
    json_decref(state);
    free_lists(&L);
    ct_trainer_dist_moments_release(t, false);
    return st;
}

/* BAdam's block (and the blocks trained before it) come first: the registry to restore is the
 * checkpoint's active block. The state is read and checked as below, but for trainable_params
 * (the registry is still the first block's), which the read after the switch checks. */
static ct_status resume_method(ct_trainer *t, const char *dir, ct_err *err) {
    json_t *s = NULL;
    char *p = ct_path_join(dir, CT_CKPT_STATE);
    ct_status st = p ? ct_ckpt_verify(dir, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!st) st = ct_json_load_file(p, &s, err);
    ct_trainer_layout lay;
    ct_trainer_layout_of(t, &lay);
    lay.trainable_params_later = true;
    ct_trainer_state ts;
    if (!st) st = ct_trainer_state_parse(s, p, &lay, &ts, err);
    if (!st) st = ct_trainer_method_resume(t, dir, &ts.badam, err);
    json_decref(s);
    free(p);
    return st;
}

ct_status ct_trainer_load_checkpoint(ct_trainer *t, const char *dir, ct_err *err) {
    ckpt_lists L;
    memset(&L, 0, sizeof L);
    ct_status st = t->badam_on ? resume_method(t, dir, err) : CT_OK;
    if (!t->badam_on) { /* its registry is one block: name the reason before the restore fails on it */
        char *bp = ct_path_join(dir, CT_CKPT_BLOCKS);
        if (!bp) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        else if (ct_file_exists(bp))
            st = ct_err_set(err, CT_ERR_ARG, "%s: the checkpoint was trained with use_badam, the config has not", dir);
        free(bp);
    }
    if (!st) st = ct_trainer_dist_moments_gather(t, true, err); /* ZeRO-1: room for all, keep the shard */
    if (!st) st = make_lists(t, &L, err);
    json_t *s = NULL;
    if (!st) {
        ct_ckpt_file files[2] = {{"model.safetensors", L.w, L.n}, {"optimizer.safetensors", L.o, L.n_opt}};
        st = ct_ckpt_restore(dir, files, 2, &s, err);
    }
    free_lists(&L);
    ct_trainer_dist_moments_release(t, !st);
    if (st) return ct_err_prefix(err, "resume_from_checkpoint %s", dir);
    ct_trainer_layout lay;
    ct_trainer_layout_of(t, &lay);
    ct_trainer_state ts;
    char *path = ct_path_join(dir, CT_CKPT_STATE);
    st = path ? ct_trainer_state_parse(s, path, &lay, &ts, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    free(path);
    json_decref(s);
    if (st) return st;
    t->step = ts.global_step;
    t->epoch = ts.data_epoch;
    t->micro_pos = (size_t)ts.data_micro_pos;
    t->perm_epoch = -1;
    t->opt.step = ts.optimizer_step;
    t->tm.rng_step = ts.dropout_rng_step;
    t->log_loss_sum = ts.log_loss_sum;
    t->log_count = ts.log_count;
    t->last_grad_norm = ts.last_grad_norm;
    t->total_tokens = ts.num_input_tokens_seen;
    t->saved_step = ts.global_step;
    free(t->resumed_from);
    free(t->last_ckpt);
    t->resumed_from = strdup(dir);
    t->last_ckpt = strdup(dir);
    if (!t->resumed_from || !t->last_ckpt) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    return CT_OK;
}

ct_status ct_trainer_final_cleanup(const char *output_dir, ct_err *err) {
    char *tmp = ct_path_join(output_dir, CT_TRAINER_FINAL_TMP);
    ct_status st = tmp ? ct_rm_rf(tmp, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    free(tmp);
    return st;
}

ct_status ct_trainer_save_final(ct_trainer *t, ct_err *err) {
    /* configs last: a reader of output_dir never sees a new config without its weights */
    static const char *const last[] = {"adapter_config.json", "config.json", NULL};
    char *tmp = ct_path_join(t->cfg->output_dir, CT_TRAINER_FINAL_TMP);
    if (!tmp) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = ct_dir_fresh(tmp, err);
    if (!st) {
        switch (t->tm.method) {
        case CT_METHOD_LORA: st = ct_trainer_save_lora(t, tmp, false, NULL, err); break;
        case CT_METHOD_PROMPT: st = ct_trainer_save_prompt(t, tmp, err); break;
        default: st = save_hf_model(t, tmp, err); break; /* copies tokenizer + generation config */
        }
        if (!st && (t->tm.method == CT_METHOD_LORA || t->tm.method == CT_METHOD_PROMPT))
            st = ct_hf_copy_tokenizer(t->model_dir, tmp, err);
    }
    if (!st) {
        ct_fsync_dir(tmp);
        ct_fault_point("final.written");
        st = ct_dir_move_into(tmp, t->cfg->output_dir, last, err);
    }
    if (st) {
        ct_err e2;
        ct_rm_rf(tmp, &e2);
    }
    free(tmp);
    return st;
}

ct_status ct_trainer_trim_log(const char *output_dir, int64_t step, ct_err *err) {
    char *path = ct_path_join(output_dir, CT_TRAINER_LOG);
    if (!path) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!ct_file_exists(path)) {
        free(path);
        return CT_OK;
    }
    char *buf = NULL;
    size_t len = 0;
    ct_status st = ct_read_file(path, &buf, &len, err);
    char *out = st ? NULL : malloc(len + 1);
    size_t o = 0;
    if (!st && !out) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < len;) {
        size_t j = i;
        while (j < len && buf[j] != '\n') j++;
        json_error_t je;
        json_t *line = json_loadb(buf + i, j - i, 0, &je);
        int64_t s = 0;
        if (line && ct_json_get_int(line, "current_steps", &s) && s <= step) {
            memcpy(out + o, buf + i, j - i);
            o += j - i;
            out[o++] = '\n';
        }
        json_decref(line);
        i = j + 1;
    }
    if (!st) st = ct_write_file_atomic(path, out, o, err);
    free(out);
    free(buf);
    free(path);
    return st;
}
