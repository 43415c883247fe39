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

#include "base/file.h"
#include "base/json.h"
#include "io/hf_export.h"
#include "peft/peft_io.h"
#include "train/checkpoint.h"
#include "train/log.h"
#include "train/trainer_internal.h"

static void hex_double(char *buf, size_t n, double x) {
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    snprintf(buf, n, "%016" PRIx64, u);
}

static bool parse_hex_double(const json_t *o, const char *key, double *out) {
    const char *s = ct_json_get_str(o, key);
    if (!s) return false;
    char *end;
    errno = 0;
    uint64_t u = strtoull(s, &end, 16);
    if (errno || *end) return false;
    memcpy(out, &u, sizeof u);
    return true;
}

static bool parse_hex_u64(const json_t *o, const char *key, uint64_t *out) {
    const char *s = ct_json_get_str(o, key);
    if (!s) return false;
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 16);
    return !errno && !*end;
}

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
static ct_status save_lora(ct_trainer *t, const char *dir, ct_err *err) {
    ct_train_model *tm = &t->tm;
    int L = tm->lora.n_layers;
    ct_lora_pair *pairs = calloc((size_t)L * CT_LT_COUNT + 1, sizeof *pairs);
    const char *mods[CT_LT_COUNT];
    size_t nm = 0, np = 0;
    if (!pairs) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (int id = 0; id < CT_LT_COUNT; id++) {
        const ct_tensor_spec *s = &ct_layer_specs[id];
        bool any = false;
        for (int l = 0; l < L; l++) {
            const ct_lora_ref *r = &tm->lora.ref[(size_t)l * CT_LT_COUNT + (size_t)id];
            if (!r->A) continue;
            const ct_tensor *W = &tm->w.layers[l].t[id];
            pairs[np].layer = l;
            pairs[np].module = s->lora;
            pairs[np].A = (ct_tensor){.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {r->r, W->shape[1]}, .data = (void *)r->A};
            pairs[np].B = (ct_tensor){.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {W->shape[0], r->r}, .data = (void *)r->B};
            np++;
            any = true;
        }
        if (any) mods[nm++] = s->lora;
    }
    ct_lora_config lc;
    memset(&lc, 0, sizeof lc);
    lc.base_model_name_or_path = t->cfg->model_name_or_path;
    lc.r = tm->lora_r;
    lc.lora_alpha = ct_train_config_lora_alpha(t->cfg);
    lc.lora_dropout = t->cfg->lora_dropout;
    lc.target_modules = mods;
    lc.n_target_modules = nm;
    /* LLaMA Pro: LlamaFactory's find_expanded_modules lists every adapted module by its full name */
    char (*full)[160] = t->cfg->use_llama_pro ? calloc(np + 1, sizeof *full) : NULL;
    const char **fmods = full ? calloc(np + 1, sizeof *fmods) : NULL;
    if (fmods) {
        for (size_t i = 0; i < np; i++) {
            ct_spec_module(full[i], sizeof full[i], &tm->model->cfg, ct_spec_by_lora(pairs[i].module), pairs[i].layer);
            fmods[i] = full[i];
        }
        lc.target_modules = fmods;
        lc.n_target_modules = np;
    }
    lc.use_rslora = t->cfg->use_rslora;
    /* modules_to_save: the non-LoRA trainable tensors, already named with their PEFT keys */
    ct_st_item *saved = calloc(tm->params.n + 1, sizeof *saved);
    if (!saved) {
        free(pairs);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < tm->params.n; i++) {
        ct_param *p = &tm->params.p[i];
        if (strstr(p->name, ".lora_")) continue;
        saved[lc.n_saved++] = ct_st_item_of(p->name, f32_tensor(p->data, p));
    }
    lc.saved = saved;
    lc.modules_to_save = (const char *const *)t->cfg->additional_target.v;
    lc.n_modules_to_save = t->cfg->additional_target.n;
    ct_status st = t->cfg->use_llama_pro && !fmods ? ct_err_set(err, CT_ERR_NOMEM, "out of memory")
                                                   : ct_peft_save_lora(dir, &lc, pairs, np, CT_DTYPE_F32, err);
    free(fmods);
    free(full);
    free(saved);
    free(pairs);
    return st;
}

static ct_status save_prompt(ct_trainer *t, const char *dir, ct_err *err) {
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
    case CT_METHOD_LORA: st = save_lora(t, tmp_dir, err); break;
    case CT_METHOD_PROMPT: st = save_prompt(t, tmp_dir, err); break;
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
    json_t *s = json_object();
    char hx[32];
    json_object_set_new(s, "format", json_string("ctune-trainer-state"));
    json_object_set_new(s, "version", json_integer(CT_TRAINER_STATE_VERSION));
    json_object_set_new(s, "global_step", json_integer(t->step));
    json_object_set_new(s, "max_steps", json_integer(t->total_steps));
    json_object_set_new(s, "epoch", json_real(ct_trainer_epoch_at(t, t->step)));
    json_object_set_new(s, "steps_per_epoch", json_integer(t->steps_per_epoch));
    json_object_set_new(s, "data_epoch", json_integer(t->epoch));
    json_object_set_new(s, "data_micro_pos", json_integer((json_int_t)t->micro_pos));
    json_object_set_new(s, "data_rows", json_integer((json_int_t)t->info.n_train_rows));
    json_object_set_new(s, "seed", json_integer(t->cfg->seed));
    json_object_set_new(s, "optimizer_step", json_integer(t->opt.step));
    snprintf(hx, sizeof hx, "%016" PRIx64, t->tm.rng_step);
    json_object_set_new(s, "dropout_rng_step", json_string(hx));
    hex_double(hx, sizeof hx, t->log_loss_sum);
    json_object_set_new(s, "log_loss_sum", json_string(hx));
    json_object_set_new(s, "log_count", json_integer(t->log_count));
    hex_double(hx, sizeof hx, t->last_grad_norm);
    json_object_set_new(s, "last_grad_norm", json_string(hx));
    json_object_set_new(s, "num_input_tokens_seen", json_integer(t->total_tokens));
    json_object_set_new(s, "finetuning_type", json_string(t->cfg->finetuning_type));
    json_object_set_new(s, "trainable_params", json_integer((json_int_t)t->tm.params.total));
    json_object_set_new(s, "learning_rate", json_real(t->cfg->learning_rate));
    json_object_set_new(s, "lr_scheduler_type", json_string(t->cfg->lr_scheduler_type ? t->cfg->lr_scheduler_type : "linear"));
    if (!isnan(t->last_eval_loss)) json_object_set_new(s, "eval_loss", json_real(t->last_eval_loss));
    json_t *badam = ct_trainer_method_state(t);
    if (badam) json_object_set_new(s, "badam", badam);
    return s;
}

ct_status ct_trainer_save_checkpoint(ct_trainer *t, ct_err *err) {
    ckpt_lists L;
    ct_status st = make_lists(t, &L, err);
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
        o.keep_dir = t->resumed_from[0] ? t->resumed_from : NULL;
        st = ct_ckpt_save(&o, &saved, err);
    }
    if (!st && saved) snprintf(t->last_ckpt, sizeof t->last_ckpt, "%s", saved);
    if (st) ct_err_prefix(err, "saving checkpoint-%" PRId64, t->step);
    free(saved);
    free(blocks);
    free(block_names);
    json_decref(state);
    free_lists(&L);
    return st;
}

/* BAdam's block (and the blocks trained before it) come first: the registry to restore is the
 * checkpoint's active block. */
static ct_status resume_method(ct_trainer *t, const char *dir, ct_err *err) {
    json_t *s = NULL;
    char *p = ct_path_join(dir, CT_CKPT_STATE);
    ct_status st = p ? ct_ckpt_verify(dir, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!st) st = ct_json_load_file(p, &s, err);
    if (!st) st = ct_trainer_method_resume(t, dir, s, err);
    json_decref(s);
    free(p);
    return st;
}

ct_status ct_trainer_load_checkpoint(ct_trainer *t, const char *dir, ct_err *err) {
    ckpt_lists L;
    memset(&L, 0, sizeof L);
    ct_status st = t->badam_on ? resume_method(t, dir, err) : CT_OK;
    if (!st) st = make_lists(t, &L, err);
    json_t *s = NULL;
    if (!st) {
        ct_ckpt_file files[2] = {{"model.safetensors", L.w, L.n}, {"optimizer.safetensors", L.o, L.n_opt}};
        st = ct_ckpt_restore(dir, files, 2, &s, err);
    }
    free_lists(&L);
    if (st) return ct_err_prefix(err, "resume_from_checkpoint %s", dir);
    int64_t step = 0, dep = 0, dpos = 0, rows = 0, ostep = 0, lcount = 0, tokens = 0, spe = 0;
    uint64_t rng = 0;
    double lsum = 0, gn = NAN;
    const char *fmt = ct_json_get_str(s, "format");
    bool ok = fmt && !strcmp(fmt, "ctune-trainer-state") && ct_json_get_int(s, "global_step", &step) &&
              ct_json_get_int(s, "data_epoch", &dep) && ct_json_get_int(s, "data_micro_pos", &dpos) &&
              ct_json_get_int(s, "data_rows", &rows) && ct_json_get_int(s, "optimizer_step", &ostep) &&
              ct_json_get_int(s, "log_count", &lcount) && ct_json_get_int(s, "num_input_tokens_seen", &tokens) &&
              ct_json_get_int(s, "steps_per_epoch", &spe) && parse_hex_u64(s, "dropout_rng_step", &rng) &&
              parse_hex_double(s, "log_loss_sum", &lsum);
    parse_hex_double(s, "last_grad_norm", &gn);
    int64_t ver = 0;
    ct_json_get_int(s, "version", &ver);
    const char *ft = ct_json_get_str(s, "finetuning_type");
    if (!ok) st = ct_err_set(err, CT_ERR_FORMAT, "%s/%s: not a ctune trainer state (missing or malformed keys)", dir, CT_CKPT_STATE);
    else if (ver != CT_TRAINER_STATE_VERSION)
        st = ct_err_set(err, CT_ERR_FORMAT, "%s/%s: trainer state version %" PRId64 ", this ctune reads version %d", dir,
                        CT_CKPT_STATE, ver, CT_TRAINER_STATE_VERSION);
    else if (json_object_get(s, "badam") && !t->badam_on)
        st = ct_err_set(err, CT_ERR_ARG, "%s: the checkpoint was trained with use_badam, the config has not", dir);
    else if (ft && t->cfg->finetuning_type && strcmp(ft, t->cfg->finetuning_type))
        st = ct_err_set(err, CT_ERR_ARG, "%s: checkpoint was trained with finetuning_type %s, config says %s", dir, ft,
                        t->cfg->finetuning_type);
    else if ((size_t)rows != t->info.n_train_rows || spe != t->steps_per_epoch)
        st = ct_err_set(err, CT_ERR_ARG,
                        "%s: the data layout changed since the checkpoint (%" PRId64 " rows / %" PRId64
                        " steps per epoch then, %zu / %" PRId64 " now): same dataset, cutoff_len, packing, "
                        "batch size and gradient_accumulation_steps are needed to resume",
                        dir, rows, spe, t->info.n_train_rows, t->steps_per_epoch);
    else if (step > t->total_steps)
        st = ct_err_set(err, CT_ERR_ARG, "%s: checkpoint step %" PRId64 " is beyond the planned %" PRId64 " steps", dir, step,
                        t->total_steps);
    json_decref(s);
    if (st) return st;
    t->step = step;
    t->epoch = dep;
    t->micro_pos = (size_t)dpos;
    t->perm_epoch = -1;
    t->opt.step = ostep;
    t->tm.rng_step = rng;
    t->log_loss_sum = lsum;
    t->log_count = lcount;
    t->last_grad_norm = gn;
    t->total_tokens = tokens;
    snprintf(t->resumed_from, sizeof t->resumed_from, "%s", dir);
    snprintf(t->last_ckpt, sizeof t->last_ckpt, "%s", dir);
    return CT_OK;
}

ct_status ct_trainer_save_final(ct_trainer *t, ct_err *err) {
    const char *dir = t->cfg->output_dir;
    ct_status st;
    switch (t->tm.method) {
    case CT_METHOD_LORA: st = save_lora(t, dir, err); break;
    case CT_METHOD_PROMPT: st = save_prompt(t, dir, err); break;
    default: return save_hf_model(t, dir, err); /* copies tokenizer + generation config */
    }
    if (!st) st = ct_hf_copy_tokenizer(t->model_dir, dir, err);
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
