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
