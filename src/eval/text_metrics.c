/* BLEU-1..4, ROUGE-1/2/L and exact match as EvalScope's general_qa computes them (definitions and
 * the tokenisation in text_metrics.h). */
#include "eval/text_metrics.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const k_names[CT_TEXT_N_METRICS] = {
    "bleu-1",    "bleu-2",    "bleu-3",    "bleu-4",    "Rouge-1-P", "Rouge-1-R", "Rouge-1-F",
    "Rouge-2-P", "Rouge-2-R", "Rouge-2-F", "Rouge-L-P", "Rouge-L-R", "Rouge-L-F", "exact_match"};

const char *ct_text_metric_name(int i) { return i >= 0 && i < CT_TEXT_N_METRICS ? k_names[i] : NULL; }

double ct_text_metric_value(const ct_text_scores *s, int i) {
    if (i < 4) return s->bleu[i];
    if (i < 13) return s->rouge[(i - 4) / 3][(i - 4) % 3];
    return s->exact_match;
}

/* Decodes one UTF-8 code point at s (length in *n, at least 1; invalid bytes read as U+FFFD). */
static uint32_t utf8_next(const unsigned char *s, size_t *n) {
    unsigned c = s[0];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len) {
        *n = 1;
        return 0xFFFD;
    }
    uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *n = (size_t)i;
            return 0xFFFD;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    *n = (size_t)len;
    return cp;
}

bool ct_text_is_chinese(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n;
        uint32_t cp = utf8_next(p, &n);
        if (cp >= 0x4E00 && cp <= 0x9FA5) return true;
        p += n;
    }
    return false;
}

static ct_status push(ct_text_tokens *t, size_t *cap, const char *p, size_t len, ct_err *err) {
    if (t->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        const char **np = realloc(t->p, nc * sizeof *np);
        if (np) t->p = np;
        size_t *nl = np ? realloc(t->len, nc * sizeof *nl) : NULL;
        if (!nl) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        t->len = nl;
        *cap = nc;
    }
    t->p[t->n] = p;
    t->len[t->n++] = len;
    return CT_OK;
}

ct_status ct_text_tokenize(const char *s, bool for_rouge, ct_text_tokens *out, ct_err *err) {
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    bool zh = ct_text_is_chinese(s);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (isspace(*p)) {
            p++;
            continue;
        }
        const unsigned char *start = p;
        if (!zh && for_rouge) { /* whitespace-separated words */
            while (*p && !isspace(*p)) p++;
        } else if (isalnum(*p) || (!zh && *p >= 0x80)) { /* a word: letters/digits (non-ASCII too outside Chinese) */
            while (*p && (isalnum(*p) || (!zh && *p >= 0x80))) p++;
        } else { /* one symbol, or one character of a Chinese text */
            size_t n;
            utf8_next(p, &n);
            p += n;
        }
        if (push(out, &cap, (const char *)start, (size_t)(p - start), err)) {
            ct_text_tokens_free(out);
            return CT_ERR_NOMEM;
        }
    }
    return CT_OK;
}

void ct_text_tokens_free(ct_text_tokens *t) {
    free(t->p);
    free(t->len);
    memset(t, 0, sizeof *t);
}

static bool tok_eq(const ct_text_tokens *a, size_t i, const ct_text_tokens *b, size_t j) {
    return a->len[i] == b->len[j] && !memcmp(a->p[i], b->p[j], a->len[i]);
}

static bool gram_eq(const ct_text_tokens *a, size_t i, const ct_text_tokens *b, size_t j, int n) {
    for (int k = 0; k < n; k++)
        if (!tok_eq(a, i + (size_t)k, b, j + (size_t)k)) return false;
    return true;
}

/* Occurrences of the n-gram a[i..] in t. */
static size_t count_gram(const ct_text_tokens *a, size_t i, const ct_text_tokens *t, int n) {
    size_t c = 0;
    for (size_t j = 0; j + (size_t)n <= t->n; j++) c += gram_eq(a, i, t, j, n);
    return c;
}

/* True when the n-gram a[i..] already occurred in a before i (so sets count it once). */
static bool seen_before(const ct_text_tokens *a, size_t i, int n) {
    for (size_t j = 0; j < i; j++)
        if (gram_eq(a, i, a, j, n)) return true;
    return false;
}

/* nltk modified precision: sum over distinct hypothesis n-grams of min(count in hyp, count in ref). */
static size_t clipped_matches(const ct_text_tokens *h, const ct_text_tokens *r, int n) {
    size_t m = 0;
    for (size_t i = 0; i + (size_t)n <= h->n; i++) {
        if (seen_before(h, i, n)) continue;
        size_t ch = count_gram(h, i, h, n), cr = count_gram(h, i, r, n);
        m += ch < cr ? ch : cr;
    }
    return m;
}

static size_t n_grams(size_t len, int n) { return len >= (size_t)n ? len - (size_t)n + 1 : 0; }

static size_t distinct_grams(const ct_text_tokens *t, int n) {
    size_t d = 0;
    for (size_t i = 0; i + (size_t)n <= t->n; i++) d += !seen_before(t, i, n);
    return d;
}

/* |H ∩ R| of the n-gram sets. */
static size_t set_overlap(const ct_text_tokens *h, const ct_text_tokens *r, int n) {
    size_t m = 0;
    for (size_t i = 0; i + (size_t)n <= h->n; i++)
        if (!seen_before(h, i, n) && count_gram(h, i, r, n)) m++;
    return m;
}

static ct_status lcs_len(const ct_text_tokens *a, const ct_text_tokens *b, size_t *out, ct_err *err) {
    size_t *row = calloc(b->n + 1, sizeof *row);
    if (!row) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < a->n; i++) {
        size_t diag = 0;
        for (size_t j = 1; j <= b->n; j++) {
            size_t up = row[j];
            row[j] = tok_eq(a, i, b, j - 1) ? diag + 1 : (row[j] > row[j - 1] ? row[j] : row[j - 1]);
            diag = up;
        }
    }
    *out = row[b->n];
    free(row);
    return CT_OK;
}

static void prf(double overlap, size_t nh, size_t nr, double *out) {
    double p = nh ? overlap / (double)nh : 0.0, r = nr ? overlap / (double)nr : 0.0;
    out[0] = p;
    out[1] = r;
    out[2] = 2.0 * p * r / (p + r + 1e-8);
}

static bool blank(const char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    return !*s;
}

static bool stripped_equal(const char *a, const char *b) {
    while (isspace((unsigned char)*a)) a++;
    while (isspace((unsigned char)*b)) b++;
    size_t na = strlen(a), nb = strlen(b);
    while (na && isspace((unsigned char)a[na - 1])) na--;
    while (nb && isspace((unsigned char)b[nb - 1])) nb--;
    return na == nb && !memcmp(a, b, na);
}

ct_status ct_text_score(const char *pred, const char *ref, ct_text_scores *out, ct_err *err) {
    memset(out, 0, sizeof *out);
    out->exact_match = !blank(pred) && stripped_equal(pred, ref);
    if (blank(pred) || blank(ref)) return CT_OK;
    ct_text_tokens h, r;
    ct_status st = ct_text_tokenize(pred, false, &h, err);
    if (st) return st;
    if ((st = ct_text_tokenize(ref, false, &r, err))) {
        ct_text_tokens_free(&h);
        return st;
    }
    size_t m1 = clipped_matches(&h, &r, 1);
    if (m1 > 0) {
        double c = (double)h.n, rl = (double)r.n;
        double bp = h.n > r.n ? 1.0 : exp(1.0 - rl / c);
        for (int n = 1; n <= 4; n++) {
            size_t m = n == 1 ? m1 : clipped_matches(&h, &r, n);
            size_t tot = n_grams(h.n, n);
            out->bleu[n - 1] = m ? bp * (double)m / (double)(tot ? tot : 1) : 0.0;
        }
    }
    ct_text_tokens_free(&h);
    ct_text_tokens_free(&r);
    if ((st = ct_text_tokenize(pred, true, &h, err))) return st;
    if ((st = ct_text_tokenize(ref, true, &r, err))) {
        ct_text_tokens_free(&h);
        return st;
    }
    for (int n = 1; n <= 2; n++)
        prf((double)set_overlap(&h, &r, n), distinct_grams(&h, n), distinct_grams(&r, n), out->rouge[n - 1]);
    size_t l = 0;
    if (!(st = lcs_len(&h, &r, &l, err))) prf((double)l, h.n, r.n, out->rouge[2]);
    ct_text_tokens_free(&h);
    ct_text_tokens_free(&r);
    return st;
}
