#include "cli/model_common.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

bool ct_cli_threads(ct_args *a) {
    long long n = 0;
    if (!ct_args_int(a, "threads", &n)) return false;
    if (n < 0 || n > 1024) {
        fprintf(stderr, "ctune: --threads: expected 0..1024, got %lld\n", n);
        return false;
    }
    ct_ops_set_threads((int)n);
    return true;
}

bool ct_cli_parse_ids(const char *s, ct_ids *out) {
    while (*s) {
        while (*s == ' ' || *s == ',' || *s == '[' || *s == ']') s++;
        if (!*s) break;
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v > INT32_MAX) return false;
        if (ct_ids_push(out, (int32_t)v, NULL)) return false;
        s = end;
        if (*s && *s != ',' && *s != ' ' && *s != ']') return false;
    }
    return out->n > 0;
}

ct_status ct_cli_encode(const ct_tokenizer *tok, const char *text, size_t len, ct_ids *out,
                        ct_err *err) {
    size_t start = out->n;
    ct_status s = ct_tokenizer_encode(tok, text, len, true, out, err);
    if (s) return s;
    int32_t bos = ct_tokenizer_bos_id(tok);
    if (ct_tokenizer_add_bos(tok) && bos >= 0 && (out->n == start || out->data[start] != bos)) {
        if ((s = ct_ids_push(out, bos, err))) return s;
        memmove(out->data + start + 1, out->data + start, (out->n - start - 1) * sizeof(int32_t));
        out->data[start] = bos;
    }
    return CT_OK;
}

bool ct_cli_model_load(const char *model_dir, const char *adapter_dir, ct_cli_model *cm) {
    memset(cm, 0, sizeof *cm);
    ct_err err = {0};
    if (ct_model_load(model_dir, &cm->base, &err)) {
        ct_cli_error(&err);
        return false;
    }
    if (adapter_dir && ct_adapter_load(adapter_dir, cm->base, &cm->ad, &err)) {
        ct_cli_error(&err);
        ct_cli_model_free(cm);
        return false;
    }
    cm->m = ct_adapted_model(cm->base, cm->ad);
    return true;
}

void ct_cli_model_free(ct_cli_model *cm) {
    ct_adapter_free(cm->ad);
    ct_model_free(cm->base);
    memset(cm, 0, sizeof *cm);
}

ct_status ct_cli_tokenizer_load(const char *model_dir, const char *adapter_dir,
                                ct_tokenizer **tok, ct_err *err) {
    ct_status s = ct_tokenizer_load(model_dir, tok, err);
    if (s && adapter_dir) {
        ct_err e2 = {0};
        if (ct_tokenizer_load(adapter_dir, tok, &e2) == CT_OK) return CT_OK;
    }
    if (s) *tok = NULL;
    return s;
}

bool ct_cli_sampling_parse(ct_args *a, const char *cmd, long long max_new_default, long long min_new,
                           ct_cli_sampling *s) {
    *s = (ct_cli_sampling){.max_new = max_new_default, .top_k = -1, .seed = 0, .temp = -1, .top_p = -1, .rep = -1};
    if (!ct_args_int(a, "max-new-tokens", &s->max_new) || !ct_args_int(a, "top-k", &s->top_k) ||
        !ct_args_int(a, "seed", &s->seed) || !ct_args_double(a, "temperature", &s->temp) ||
        !ct_args_double(a, "top-p", &s->top_p) || !ct_args_double(a, "repetition-penalty", &s->rep))
        return false;
    if (s->max_new < min_new || s->max_new > 1000000 || (s->top_p != -1 && (s->top_p <= 0 || s->top_p > 1)) ||
        (s->rep != -1 && s->rep <= 0) || (s->temp != -1 && s->temp < 0) || s->top_k < -1) {
        ct_cli_errorf("%s: option out of range (max-new-tokens >= %lld, 0 < top-p <= 1, "
                      "repetition-penalty > 0, temperature >= 0, top-k >= 0)",
                      cmd, min_new);
        return false;
    }
    return true;
}

void ct_cli_sampling_apply(const ct_cli_sampling *s, ct_gen_params *p) {
    p->max_new_tokens = (int32_t)s->max_new;
    p->seed = (uint64_t)s->seed;
    if (s->temp == 0) p->do_sample = false;
    else if (s->temp > 0) p->do_sample = true, p->temperature = (float)s->temp;
    if (s->top_k >= 0) p->top_k = (int32_t)s->top_k;
    if (s->top_p > 0) p->top_p = (float)s->top_p;
    if (s->rep > 0) p->repetition_penalty = (float)s->rep;
}

const ct_template *ct_cli_template(const ct_tokenizer *tok, const char *name, const char *cmd) {
    const ct_template *t = NULL;
    ct_err err = {0};
    if (ct_template_resolve(name, name ? NULL : ct_tokenizer_chat_template(tok), &t, NULL, 0, &err)) {
        if (!name) ct_err_prefix(&err, "%s", cmd);
        ct_cli_error(&err);
        return NULL;
    }
    return t;
}
