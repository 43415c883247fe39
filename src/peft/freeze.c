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
    int lo, hi;
    ct_err *err;
} ctx_t;

static int add_module(const char *m, void *c_) {
    ctx_t *c = c_;
    static const char *hidden[] = {"self_attn", "mlp", "input_layernorm", "post_attention_layernorm"};
    char buf[128];
    if (strcmp(m, "all") == 0) {
        for (int i = c->lo; i < c->hi; i++) {
            snprintf(buf, sizeof buf, ".%d.", i);
            push(c->fp, buf);
        }
        return 0;
    }
    for (size_t k = 0; k < sizeof hidden / sizeof hidden[0]; k++)
        if (strcmp(m, hidden[k]) == 0) {
            for (int i = c->lo; i < c->hi; i++) {
                snprintf(buf, sizeof buf, ".%d.%s", i, m);
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

ct_status ct_freeze_patterns_init(ct_freeze_patterns *fp, const ct_config *cfg, int trainable_layers,
                                  const char *modules, const char *extra, ct_err *err) {
    memset(fp, 0, sizeof *fp);
    int L = cfg->num_layers;
    ctx_t c = {fp, cfg, 0, 0, err};
    if (trainable_layers > 0) {
        c.lo = L - trainable_layers > 0 ? L - trainable_layers : 0;
        c.hi = L;
    } else {
        c.lo = 0;
        c.hi = -trainable_layers < L ? -trainable_layers : L;
    }
    if (ct_each_item(modules && *modules ? modules : "all", add_module, &c) ||
        (extra && ct_each_item(extra, add_extra, &c))) {
        ct_freeze_patterns_free(fp);
        return err ? err->code : CT_ERR_ARG;
    }
    return CT_OK;
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
