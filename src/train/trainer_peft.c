/* The LoRA-family keys of a run (see trainer_internal.h): continuing from adapters
 * (adapter_name_or_path, create_new_adapter: LlamaFactory model/adapter.py _setup_lora_tuning),
 * DoRA, LoRA+, PiSSA and its conversion (LlamaFactory train/callbacks.py PissaConvertCallback),
 * NEFTune.
 *
 * adapter_name_or_path "a,b,c": a and b are merged into the base (f32 copies of the adapted
 * linears, ct_adapter_merge) and training continues c, with c's own r, alpha, dropout, rsLoRA,
 * DoRA, targets and modules_to_save (LlamaFactory passes them through PeftModel.from_pretrained
 * and ignores its lora_* keys; ctune takes them from the adapter too, and refuses a key the config
 * sets to a different value). create_new_adapter: every adapter is merged and a new LoRA starts
 * from the config's keys. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/str.h"
#include "ctune/adapter.h"
#include "model/decoder.h"
#include "peft/peft_io.h"
#include "train/trainer_internal.h"

typedef struct strv {
    char **v;
    size_t n;
} strv;

static int add_item(const char *item, void *user) {
    strv *l = user;
    char **v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v) return -1;
    l->v = v;
    if (!(v[l->n] = strdup(item))) return -1;
    l->n++;
    return 0;
}

static void strv_free(strv *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static bool strv_has(const strv *l, const char *s) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s)) return true;
    return false;
}

/* Comma list of l (malloc'd; NULL when empty). */
static char *strv_join(char **v, size_t n) {
    if (!n) return NULL;
    size_t len = 1;
    for (size_t i = 0; i < n; i++) len += strlen(v[i]) + 1;
    char *s = malloc(len);
    if (!s) return NULL;
    s[0] = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) strcat(s, ",");
        strcat(s, v[i]);
    }
    return s;
}

/* Merges dirs[0..n) one after the other into t->model (t->lora.merged / views). */
static ct_status merge_adapters(ct_trainer *t, char **dirs, size_t n, ct_err *err) {
    ct_trainer_lora *L = &t->lora;
    if (!n) return CT_OK;
    if (!(L->merged = calloc(n, sizeof *L->merged)) || !(L->views = calloc(n, sizeof *L->views)))
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (ct_model_is_quantized(t->model))
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "adapter_name_or_path: adapters cannot be merged into a quantized "
                          "model (LlamaFactory: a quantized model takes a single adapter, which training continues)");
    const ct_model *prev = t->model;
    for (size_t i = 0; i < n; i++) {
        ct_status st = ct_adapter_load(dirs[i], prev, &L->merged[i], err);
        if (st) return ct_err_prefix(err, "adapter_name_or_path");
        L->n_merged++;
        if (ct_adapter_type(L->merged[i]) != CT_ADAPTER_LORA)
            return ct_err_set(err, CT_ERR_UNSUPPORTED, "adapter_name_or_path: %s is a prompt-tuning adapter; only LoRA "
                              "adapters can be merged or continued", dirs[i]);
        if ((st = ct_adapter_merge(L->merged[i], t->ctx, err))) return st;
        L->views[i] = *t->model;
        L->views[i].w = *ct_adapter_hooks(L->merged[i])->w;
        prev = &L->views[i];
        ct_trainer_msg(t, "adapter_name_or_path: merged %s into the base", dirs[i]);
    }
    return CT_OK;
}

/* The mask of LoRA modules (bit ct_spec_lora_index) the base has in some layer. */
static uint32_t present_modules(const ct_config *mc) {
    uint32_t m = 0;
    for (int l = 0; l < mc->num_layers; l++)
        for (int id = 0; id < CT_LT_COUNT; id++)
            if (ct_spec_lora_index(id) >= 0 && ct_spec_present(&ct_layer_specs[id], mc, l))
                m |= 1u << ct_spec_lora_index(id);
    return m;
}

/* A key the config sets must agree with the adapter training continues. */
static ct_status check_consistent(ct_trainer *t, const ct_peft_adapter *a, const char *dir, ct_err *err) {
    const ct_train_config *c = t->cfg;
    const char *why = "training continues the adapter with its own settings; drop the key or match it";
    if (ct_train_config_is_set(c, "lora_rank") && c->lora_rank != a->r)
        return ct_err_set(err, CT_ERR_ARG, "lora_rank: %lld, but the adapter in %s has r=%d (%s)", (long long)c->lora_rank,
                          dir, a->r, why);
    if (ct_train_config_is_set(c, "lora_alpha") && c->lora_alpha > 0 && c->lora_alpha != a->lora_alpha)
        return ct_err_set(err, CT_ERR_ARG, "lora_alpha: %g, but the adapter in %s has lora_alpha=%g (%s)", c->lora_alpha,
                          dir, a->lora_alpha, why);
    if (ct_train_config_is_set(c, "lora_dropout") && c->lora_dropout != a->lora_dropout)
        return ct_err_set(err, CT_ERR_ARG, "lora_dropout: %g, but the adapter in %s has lora_dropout=%g (%s)",
                          c->lora_dropout, dir, a->lora_dropout, why);
    if (ct_train_config_is_set(c, "use_rslora") && c->use_rslora != a->use_rslora)
        return ct_err_set(err, CT_ERR_ARG, "use_rslora: %s, but the adapter in %s has use_rslora=%s (%s)",
                          c->use_rslora ? "true" : "false", dir, a->use_rslora ? "true" : "false", why);
    if (ct_train_config_is_set(c, "use_dora") && c->use_dora != a->use_dora)
        return ct_err_set(err, CT_ERR_ARG, "use_dora: %s, but the adapter in %s has use_dora=%s (%s)",
                          c->use_dora ? "true" : "false", dir, a->use_dora ? "true" : "false", why);
    if (ct_train_config_is_set(c, "lora_target") && c->lora_target.n) {
        char *list = strv_join(c->lora_target.v, c->lora_target.n);
        uint32_t want = 0, have = 0;
        ct_status st = list ? ct_lora_target_mask(list, &want, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        free(list);
        if (st) return st;
        want &= present_modules(ct_model_config(t->model));
        for (size_t i = 0; i < a->n_lora; i++) have |= 1u << ct_spec_lora_index(ct_spec_by_lora(a->lora[i].module)->id);
        if (want != have)
            return ct_err_set(err, CT_ERR_ARG, "lora_target: the adapter in %s adapts other modules (%s)", dir, why);
    }
    if (ct_train_config_is_set(c, "additional_target")) {
        bool same = c->additional_target.n == t->lora.n_mts;
        for (size_t i = 0; same && i < c->additional_target.n; i++) {
            strv l = {t->lora.mts, t->lora.n_mts};
            same = strv_has(&l, c->additional_target.v[i]);
        }
        if (!same)
            return ct_err_set(err, CT_ERR_ARG, "additional_target: the adapter in %s saves other modules_to_save (%s)",
                              dir, why);
    }
    return CT_OK;
}

/* Loads the adapter training continues and takes its settings. */
static ct_status load_resume(ct_trainer *t, const char *dir, ct_method_cfg *mc, ct_err *err) {
    ct_trainer_lora *L = &t->lora;
    if (!(L->resume = calloc(1, sizeof *L->resume))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = ct_peft_load(dir, L->resume, err);
    if (st) {
        free(L->resume);
        L->resume = NULL;
        return ct_err_prefix(err, "adapter_name_or_path");
    }
    const ct_peft_adapter *a = L->resume;
    if (a->type != CT_PEFT_LORA)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "adapter_name_or_path: %s is a prompt-tuning adapter; continuing "
                          "training needs a LoRA adapter", dir);
    for (size_t i = 0; i < L->n_mts; i++) free(L->mts[i]);
    free(L->mts);
    L->mts = NULL;
    L->n_mts = 0;
    const json_t *mts = json_object_get(a->config, "modules_to_save");
    size_t k;
    json_t *x;
    strv l = {0};
    if (json_is_array(mts))
        json_array_foreach(mts, k, x) if (json_is_string(x) && add_item(json_string_value(x), &l))
            return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    L->mts = l.v;
    L->n_mts = l.n;
    if ((st = check_consistent(t, a, dir, err))) return st;
    L->alpha = a->lora_alpha;
    L->dropout = a->lora_dropout;
    L->rslora = a->use_rslora;
    mc->lora_rank = a->r;
    mc->use_dora = a->use_dora;
    mc->init_adapter = a;
    ct_trainer_msg(t, "adapter_name_or_path: continuing %s (r=%d, alpha=%g%s%s, %zu adapted linears)", dir, a->r,
                   a->lora_alpha, a->use_dora ? ", DoRA" : "", a->pissa ? ", PiSSA" : "", a->n_lora);
    return CT_OK;
}

ct_status ct_trainer_peft_setup(ct_trainer *t, ct_method_cfg *mc, const ct_model **base, ct_err *err) {
    const ct_train_config *c = t->cfg;
    ct_trainer_lora *L = &t->lora;
    *base = t->model;
    L->alpha = ct_train_config_lora_alpha(c);
    L->dropout = c->lora_dropout;
    L->rslora = c->use_rslora;
    strv m = {0};
    for (size_t i = 0; i < c->additional_target.n; i++)
        if (add_item(c->additional_target.v[i], &m)) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    L->mts = m.v;
    L->n_mts = m.n;
    mc->use_dora = c->use_dora;
    mc->loraplus_lr_ratio = c->loraplus_lr_ratio;
    mc->pissa_init = c->pissa_init;
    mc->pissa_iter = (int)c->pissa_iter;
    mc->ctx = t->ctx;
    ct_status st = CT_OK;
    if (c->adapter_name_or_path && *c->adapter_name_or_path) {
        if (mc->method != CT_METHOD_LORA)
            return ct_err_set(err, CT_ERR_ARG, "adapter_name_or_path: continuing training needs finetuning_type lora "
                              "(got '%s'), as in LlamaFactory", c->finetuning_type);
        strv dirs = {0};
        if (ct_each_item(c->adapter_name_or_path, add_item, &dirs)) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        size_t n_merge = c->create_new_adapter ? dirs.n : dirs.n ? dirs.n - 1 : 0;
        if (!st) st = merge_adapters(t, dirs.v, n_merge, err);
        if (!st && L->n_merged) *base = &L->views[L->n_merged - 1];
        if (!st && !c->create_new_adapter && dirs.n) st = load_resume(t, dirs.v[dirs.n - 1], mc, err);
        strv_free(&dirs);
    }
    mc->lora_alpha = L->alpha;
    mc->lora_dropout = L->dropout;
    mc->use_rslora = L->rslora;
    return st;
}

ct_status ct_trainer_peft_eval_adapter(ct_trainer *t, ct_err *err) {
    strv dirs = {0};
    ct_status st = ct_each_item(t->cfg->adapter_name_or_path, add_item, &dirs)
                       ? ct_err_set(err, CT_ERR_NOMEM, "out of memory")
                       : CT_OK;
    if (!st && dirs.n) st = merge_adapters(t, dirs.v, dirs.n - 1, err);
    if (!st && dirs.n)
        st = ct_adapter_load(dirs.v[dirs.n - 1], t->lora.n_merged ? &t->lora.views[t->lora.n_merged - 1] : t->model,
                             &t->adapter, err);
    strv_free(&dirs);
    return st;
}

static char *out_path(const ct_trainer *t, const char *name) { return ct_path_join(t->cfg->output_dir, name); }

ct_status ct_trainer_peft_begin(ct_trainer *t, ct_err *err) {
    if (!t->cfg->pissa_convert || t->tm.method != CT_METHOD_LORA || t->resumed_from) return CT_OK;
    char *dir = out_path(t, "pissa_init");
    ct_status st = dir ? ct_trainer_save_lora(t, dir, true, NULL, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!st) ct_trainer_msg(t, "pissa_convert: initial adapter saved in %s", dir);
    free(dir);
    return st;
}

ct_status ct_trainer_peft_end(ct_trainer *t, ct_err *err) {
    if (!t->cfg->pissa_convert || t->tm.method != CT_METHOD_LORA) return CT_OK;
    char *init = out_path(t, "pissa_init"), *backup = out_path(t, "pissa_backup"), *conv = out_path(t, "pissa_converted");
    ct_peft_adapter a0;
    memset(&a0, 0, sizeof a0);
    ct_status st = init && backup && conv ? CT_OK : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!st) st = ct_trainer_save_lora(t, backup, true, NULL, err);
    if (!st && (st = ct_peft_load(init, &a0, err))) ct_err_prefix(err, "pissa_convert: the initial adapter");
    if (!st) st = ct_trainer_save_lora(t, conv, true, &a0, err);
    if (!st) ct_trainer_msg(t, "pissa_convert: the adapter converted to plain LoRA (for the original base) is in %s", conv);
    ct_peft_free(&a0);
    free(init), free(backup), free(conv);
    return st;
}

void ct_trainer_peft_free(ct_trainer *t) {
    ct_trainer_lora *L = &t->lora;
    for (size_t i = L->n_merged; i-- > 0;) ct_adapter_free(L->merged[i]);
    free(L->merged);
    free(L->views);
    if (L->resume) ct_peft_free(L->resume);
    free(L->resume);
    for (size_t i = 0; i < L->n_mts; i++) free(L->mts[i]);
    free(L->mts);
    memset(L, 0, sizeof *L);
}
