#include "cli/options.h"

#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/file.h"

bool ct_cli_threads(ct_args *a, int *threads) {
    long long n = 0;
    if (!ct_args_int(a, "threads", &n)) return false;
    if (n < 0 || n > CT_MAX_THREADS) {
        fprintf(stderr, "ctune: --threads: expected 0..%d (0: all cores), got %lld\n", CT_MAX_THREADS, n);
        return false;
    }
    *threads = (int)n;
    if (n > 0) omp_set_num_threads((int)n); /* OpenMP regions outside a compute context too */
    return true;
}

bool ct_cli_runtime_opts(ct_args *a, bool with_template, ct_runtime_opts *o) {
    *o = ct_runtime_opts_default();
    o->model_dir = ct_args_get(a, "model");
    o->adapter_dir = ct_args_get(a, "adapter");
    if (with_template) o->template_name = ct_args_get(a, "template");
    const char *prec = ct_args_get(a, "precision");
    if (prec && !strcmp(prec, "bf16")) o->precision = CT_PRECISION_BF16;
    else if (prec && strcmp(prec, "f32")) {
        fprintf(stderr, "ctune: --precision: expected f32 or bf16, got '%s'\n", prec);
        return false;
    }
    long long bits = 0;
    if (!ct_args_int(a, "quantization-bit", &bits)) return false;
    const char *qt = ct_args_get(a, "quantization-type"), *dq = ct_args_get(a, "double-quantization");
    if ((bits && bits != 4 && bits != 8) || (qt && strcmp(qt, "nf4") && strcmp(qt, "fp4")) ||
        (dq && strcmp(dq, "true") && strcmp(dq, "false"))) {
        fprintf(stderr, "ctune: --quantization-bit 4|8, --quantization-type nf4|fp4, --double-quantization true|false\n");
        return false;
    }
    o->quant = (ct_quant_opts){.bits = (int)bits, .fp4 = qt && !strcmp(qt, "fp4"), .double_quant = !dq || !strcmp(dq, "true")};
    const char *fmt = ct_args_get(a, "quant");
    if (fmt) {
        if (!ct_quant_format_parse(fmt, &o->quant.format)) {
            fprintf(stderr, "ctune: --quant: expected q8_0 or q4_0, got '%s'\n", fmt);
            return false;
        }
        if (bits || qt || dq) {
            fprintf(stderr, "ctune: --quant %s and --quantization-bit (bitsandbytes) exclude each other\n", fmt);
            return false;
        }
    }
    return ct_cli_threads(a, &o->threads);
}

bool ct_cli_batch_precision(ct_args *a, const char *cmd, ct_batch_precision *p) {
    const char *v = ct_args_get(a, "batch-precision");
    *p = CT_BATCH_EXACT;
    if (!v || !strcmp(v, "exact")) return true;
    if (strcmp(v, "bf16")) {
        ct_cli_errorf("%s: --batch-precision: expected exact or bf16, got '%s'", cmd, v);
        return false;
    }
    if (ct_cpu_has_bf16()) *p = CT_BATCH_BF16DOT;
    else fprintf(stderr, "ctune %s: note: --batch-precision bf16: this CPU lacks AVX512-BF16, batched decode stays exact\n", cmd);
    return true;
}

bool ct_cli_runtime_open(const ct_runtime_opts *o, ct_runtime **rt) {
    ct_err err = {0};
    if (ct_runtime_open(o, rt, &err)) {
        ct_cli_error(&err);
        return false;
    }
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

const char *ct_cli_stop_name(ct_gen_stop s) {
    switch (s) {
    case CT_GEN_STOP_EOS: return "eos";
    case CT_GEN_STOP_STRING: return "stop_string";
    case CT_GEN_STOP_CALLBACK: return "callback";
    default: return "length";
    }
}

bool ct_cli_json_parse(ct_args *a, const char *cmd, ct_cli_json *j) {
    memset(j, 0, sizeof *j);
    j->schema_file = ct_args_get(a, "json-schema");
    j->object = ct_args_flag(a, "json-object");
    j->stats = ct_args_flag(a, "json-stats");
    j->ws = 16;
    if (!ct_args_int(a, "json-ws", &j->ws)) return false;
    if (j->ws < 0 || j->ws > 200) {
        ct_cli_errorf("%s: --json-ws must be 0..200, got %lld", cmd, j->ws);
        return false;
    }
    if (j->schema_file && j->object) {
        ct_cli_errorf("%s: give one of --json-schema FILE and --json-object", cmd);
        return false;
    }
    return true;
}

bool ct_cli_json_open(const ct_cli_json *j, const char *cmd, ct_runtime *rt, bool think, ct_json_constraint **out) {
    *out = NULL;
    if (!j->schema_file && !j->object) return true;
    ct_err err = {0};
    const char *no_tok = NULL;
    const ct_tokenizer *tok = ct_runtime_tokenizer(rt, &no_tok);
    if (!tok) {
        ct_cli_errorf("%s: constrained decoding needs the tokenizer: %s", cmd, no_tok);
        return false;
    }
    char *text = NULL;
    if (j->schema_file && ct_read_file(j->schema_file, &text, NULL, &err)) {
        ct_cli_errorf("%s: --json-schema: %s", cmd, err.msg);
        return false;
    }
    ct_json_constraint_opts o = ct_json_constraint_opts_default();
    o.schema = text;
    o.what = j->schema_file;
    o.max_ws = (int)j->ws;
    o.think = think;
    ct_status st = ct_json_constraint_new(&o, tok, ct_model_config(ct_runtime_model(rt))->vocab_size, out, &err);
    free(text);
    if (st) {
        ct_cli_errorf("%s: %s", cmd, err.msg);
        return false;
    }
    return true;
}

void ct_cli_json_report(const ct_cli_json *j, const char *cmd, const ct_json_constraint *c, size_t tokens,
                        double seconds) {
    if (!c || !j->stats) return;
    ct_json_constraint_stats s = ct_json_constraint_stats_get(c);
    double per = s.masks ? 1e3 * s.mask_seconds / (double)s.masks : 0;
    double total = tokens ? 1e3 * seconds / (double)tokens : 0;
    if (!tokens) {
        fprintf(stderr, "%s: constrained decoding: %llu masks (%llu from the cache, %llu vocabulary walks), mask %.3f ms/token\n",
                cmd, (unsigned long long)s.masks, (unsigned long long)s.cache_hits, (unsigned long long)s.walks, per);
        return;
    }
    fprintf(stderr,
            "%s: constrained decoding: %llu masks (%llu from the cache, %llu narrowed by the token budget, "
            "%llu vocabulary walks), mask %.3f ms/token, generation %.3f ms/token (mask included, %.1f %%), "
            "vocabulary prepared in %.3f s\n",
            cmd, (unsigned long long)s.masks, (unsigned long long)s.cache_hits, (unsigned long long)s.forced,
            (unsigned long long)s.walks, per, total,
            total > 0 ? 100.0 * per / total : 0.0, s.build_seconds);
}

double ct_cli_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

bool ct_cli_infer_yaml(ct_infer_config *c, const char *path, int n, char **rest, ct_infer_use use, const char *cmd) {
    ct_err err = {0};
    if (ct_infer_config_load(c, path, &err) || ct_infer_config_apply_args(c, n, rest, &err)) {
        ct_cli_error(&err);
        return false;
    }
    if (ct_infer_config_validate(c, use, &err)) {
        ct_err_prefix(&err, "%s", path);
        ct_cli_error(&err);
        return false;
    }
    char *notes = ct_infer_config_notes(c, use);
    for (char *l = notes ? strtok(notes, "\n") : NULL; l; l = strtok(NULL, "\n")) fprintf(stderr, "ctune %s: note: %s\n", cmd, l);
    free(notes);
    return true;
}
