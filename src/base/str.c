#include "base/str.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

int ct_str_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b), K = CT_STR_DISTANCE_MAX;
    if ((n > m ? n - m : m - n) > K) return (int)K + 1; /* the distance is at least |n - m| */
    /* Ukkonen's band: only cells with |i - j| <= K can hold a distance <= K; the others count as
     * K + 1. Two rows of the table: prev = row i-1, cur = row i. */
    int *prev = malloc((m + 1) * sizeof(int)), *cur = malloc((m + 1) * sizeof(int));
    if (!prev || !cur) {
        free(prev);
        free(cur);
        return 1 << 20;
    }
    const int big = (int)K + 1;
    for (size_t j = 0; j <= m; j++) prev[j] = j <= K ? (int)j : big;
    for (size_t i = 1; i <= n; i++) {
        size_t lo = i > K ? i - K : 1, hi = i + K < m ? i + K : m;
        cur[0] = i <= K ? (int)i : big;
        if (lo > 1) cur[lo - 1] = big;
        for (size_t j = lo; j <= hi; j++) {
            int c = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < c) c = prev[j] + 1;
            if (cur[j - 1] + 1 < c) c = cur[j - 1] + 1;
            cur[j] = c < big ? c : big;
        }
        if (hi < m) cur[hi + 1] = big;
        int *t = prev;
        prev = cur;
        cur = t;
    }
    int d = prev[m];
    free(prev);
    free(cur);
    return d;
}

ct_status ct_each_line(char *buf, ct_line_fn fn, void *ctx, ct_err *err) {
    size_t lineno = 0;
    for (char *s = buf; s && *s;) {
        char *nl = strchr(s, '\n');
        if (nl) *nl = 0;
        lineno++;
        char *t = s;
        while (*t && isspace((unsigned char)*t)) t++;
        if (*t) {
            ct_status st = fn(ctx, s, lineno, err);
            if (st) return st;
        }
        s = nl ? nl + 1 : NULL;
    }
    return CT_OK;
}

int ct_each_item(const char *list, int (*fn)(const char *item, void *ctx), void *ctx) {
    char *copy = strdup(list), *save = NULL;
    if (!copy) return -1;
    int rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        char *end = tok + strlen(tok);
        while (end > tok && end[-1] == ' ') *--end = 0;
        if (*tok) rc = fn(tok, ctx);
    }
    free(copy);
    return rc;
}
