/* Freeze-tuning parameter selection (see freeze.h). */
#include "peft/freeze.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/str.h"

static void push(ct_freeze_patterns *fp, const char *s) {
    fp->pat = realloc(fp->pat, (fp->n + 1) * sizeof(char *));
    fp->pat[fp->n++] = strdup(s);
}

typedef struct {
    ct_freeze_patterns *fp;
    const ct_config *cfg;
    const int *ids;
    size_t n_ids;
    ct_err *err;
} ctx_t;

static int add_module(const char *m, void *c_) {
    ctx_t *c = c_;
    static const char *hidden[] = {"self_attn", "mlp", "input_layernorm", "post_attention_layernorm"};
    char buf[128];
    if (strcmp(m, "all") == 0) {
        for (size_t i = 0; i < c->n_ids; i++) {
            snprintf(buf, sizeof buf, ".%d.", c->ids[i]);
            push(c->fp, buf);
        }
        return 0;
    }
    for (size_t k = 0; k < sizeof hidden / sizeof hidden[0]; k++)
        if (strcmp(m, hidden[k]) == 0) {
            for (size_t i = 0; i < c->n_ids; i++) {
                snprintf(buf, sizeof buf, ".%d.%s", c->ids[i], m);
                push(c->fp, buf);
            }
            return 0;
        }
    ct_err_set(c->err, CT_ERR_ARG,
               "freeze_trainable_modules: module '%s' not found in hidden modules "
               "(self_attn, mlp, input_layernorm, post_attention_layernorm, all)", m);
    return -1;
}

static int add_extra(const char *m, void *c_) {
    ctx_t *c = c_;
    if (strcmp(m, "embed_tokens") == 0 || strcmp(m, "norm") == 0 ||
        (strcmp(m, "lm_head") == 0 && !c->cfg->tie_word_embeddings)) {
        push(c->fp, m);
        return 0;
    }
    ct_err_set(c->err, CT_ERR_ARG,
               "freeze_extra_modules: module '%s' not found in non-hidden modules "
               "(embed_tokens, norm%s)", m, c->cfg->tie_word_embeddings ? "" : ", lm_head");
    return -1;
}

ct_status ct_freeze_patterns_layers(ct_freeze_patterns *fp, const ct_config *cfg, const int *ids, size_t n_ids,
                                    const char *modules, const char *extra, ct_err *err) {
    memset(fp, 0, sizeof *fp);
    ctx_t c = {fp, cfg, ids, n_ids, err};
    if (ct_each_item(modules && *modules ? modules : "all", add_module, &c) ||
        (extra && ct_each_item(extra, add_extra, &c))) {
        ct_freeze_patterns_free(fp);
        return err ? err->code : CT_ERR_ARG;
    }
    return CT_OK;
}

ct_status ct_freeze_patterns_init(ct_freeze_patterns *fp, const ct_config *cfg, int trainable_layers,
                                  const char *modules, const char *extra, ct_err *err) {
    int L = cfg->num_layers, lo, hi, ids[CT_MAX_LAYERS];
    if (trainable_layers > 0) {
        lo = L - trainable_layers > 0 ? L - trainable_layers : 0;
        hi = L;
    } else {
        lo = 0;
        hi = -trainable_layers < L ? -trainable_layers : L;
    }
    size_t n = 0;
    for (int i = lo; i < hi && n < CT_MAX_LAYERS; i++) ids[n++] = i;
    return ct_freeze_patterns_layers(fp, cfg, ids, n, modules, extra, err);
}

int ct_llama_pro_layers(int num_layers, int num_expanded, int *ids, ct_err *err) {
    if (num_expanded <= 0 || num_layers <= 0 || num_layers % num_expanded) {
        ct_err_set(err, CT_ERR_ARG,
                   "use_llama_pro: the model's %d layers should be divisible by freeze_trainable_layers %d (the "
                   "number of expanded blocks)",
                   num_layers, num_expanded);
        return -1;
    }
    int stride = num_layers / num_expanded, n = 0;
    for (int i = stride - 1; i < num_layers + stride - 1 && n < CT_MAX_LAYERS; i += stride) ids[n++] = i;
    return n;
}

bool ct_freeze_match(const ct_freeze_patterns *fp, const char *name) {
    for (size_t i = 0; i < fp->n; i++)
        if (strstr(name, fp->pat[i])) return true;
    return false;
}

void ct_freeze_patterns_free(ct_freeze_patterns *fp) {
    for (size_t i = 0; i < fp->n; i++) free(fp->pat[i]);
    free(fp->pat);
    fp->pat = NULL;
    fp->n = 0;
}
