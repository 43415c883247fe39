/* Small containers used by the tokenizer: id vector, byte buffer, piece list, string→id and
 * (id,id)→merge hash maps (open addressing, power-of-two capacity, load ≤ 1/2), UTF-8 helpers. */
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

ct_status ct_ids_push(ct_ids *v, int32_t id, ct_err *err) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *d = realloc(v->data, cap * sizeof *d);
        if (!d) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        v->data = d;
        v->cap = cap;
    }
    v->data[v->n++] = id;
    return CT_OK;
}

void ct_ids_free(ct_ids *v) {
    free(v->data);
    v->data = NULL;
    v->n = v->cap = 0;
}

/* ---- ct_pieces ---- */
ct_status ct_pieces_add_tail(ct_pieces *p, size_t len, ct_err *err) {
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        size_t *o = realloc(p->off, cap * sizeof *o);
        if (!o) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        p->off = o;
        size_t *l = realloc(p->len, cap * sizeof *l);
        if (!l) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        p->len = l;
        p->cap = cap;
    }
    p->off[p->n] = p->text.len;
    p->len[p->n++] = len;
    p->text.len += len;
    p->text.data[p->text.len] = 0;
    return CT_OK;
}

ct_status ct_pieces_add(ct_pieces *p, const char *s, size_t len, ct_err *err) {
    if (ct_buf_reserve(&p->text, len, err)) return err->code;
    if (len) memcpy(p->text.data + p->text.len, s, len);
    return ct_pieces_add_tail(p, len, err);
}

void ct_pieces_clear(ct_pieces *p) {
    p->n = 0;
    p->text.len = 0;
}

void ct_pieces_free(ct_pieces *p) {
    ct_buf_free(&p->text);
    free(p->off);
    free(p->len);
    memset(p, 0, sizeof *p);
}

/* ---- hashing (FNV-1a 64 with a final mix) ---- */
uint64_t ct_tok_hash(const void *data, size_t len) {
    const unsigned char *p = data;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 1099511628211ull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h;
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
}

/* ---- ct_strmap ---- */
ct_status ct_strmap_init(ct_strmap *m, size_t expected, ct_err *err) {
    memset(m, 0, sizeof *m);
    m->cap = pow2_at_least(expected * 2 + 1);
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->klen = calloc(m->cap, sizeof *m->klen);
    m->vals = calloc(m->cap, sizeof *m->vals);
    if (!m->keys || !m->klen || !m->vals) {
        ct_strmap_free(m);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    return CT_OK;
}

void ct_strmap_free(ct_strmap *m) {
    free(m->keys);
    free(m->klen);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static ct_status strmap_grow(ct_strmap *m, ct_err *err) {
    ct_strmap g;
    if (ct_strmap_init(&g, m->cap, err)) return err->code;
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) ct_strmap_put(&g, m->keys[i], m->klen[i], m->vals[i], err);
    ct_strmap_free(m);
    *m = g;
    return CT_OK;
}

ct_status ct_strmap_put(ct_strmap *m, const char *key, size_t len, int32_t val, ct_err *err) {
    if ((m->n + 1) * 2 > m->cap && strmap_grow(m, err)) return err->code;
    size_t mask = m->cap - 1, i = ct_tok_hash(key, len) & mask;
    while (m->keys[i]) {
        if (m->klen[i] == len && !memcmp(m->keys[i], key, len)) {
            m->vals[i] = val;
            return CT_OK;
        }
        i = (i + 1) & mask;
    }
    m->keys[i] = key;
    m->klen[i] = (uint32_t)len;
    m->vals[i] = val;
    m->n++;
    return CT_OK;
}

int32_t ct_strmap_get(const ct_strmap *m, const char *key, size_t len) {
    if (!m->cap) return -1;
    size_t mask = m->cap - 1, i = ct_tok_hash(key, len) & mask;
    while (m->keys[i]) {
        if (m->klen[i] == len && !memcmp(m->keys[i], key, len)) return m->vals[i];
        i = (i + 1) & mask;
    }
    return -1;
}

/* ---- ct_pairmap ---- */
static uint64_t pair_key(int32_t a, int32_t b) {
    return (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
}

static size_t pair_slot(uint64_t k, size_t mask) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    return (size_t)k & mask;
}

ct_status ct_pairmap_init(ct_pairmap *m, size_t expected, ct_err *err) {
    memset(m, 0, sizeof *m);
    m->cap = pow2_at_least(expected * 2 + 1);
    m->keys = calloc(m->cap, sizeof *m->keys);
    m->rank = malloc(m->cap * sizeof *m->rank);
    m->merged = malloc(m->cap * sizeof *m->merged);
    if (!m->keys || !m->rank || !m->merged) {
        ct_pairmap_free(m);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    return CT_OK;
}

void ct_pairmap_free(ct_pairmap *m) {
    free(m->keys);
    free(m->rank);
    free(m->merged);
    memset(m, 0, sizeof *m);
}

bool ct_pairmap_put(ct_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t merged) {
    /* Capacity is fixed at init from the merge count, so load stays ≤ 1/2. */
    uint64_t k = pair_key(a, b);
    size_t mask = m->cap - 1, i = pair_slot(k, mask);
    while (m->keys[i]) {
        if (m->keys[i] == k) return false;
        i = (i + 1) & mask;
    }
    m->keys[i] = k;
    m->rank[i] = rank;
    m->merged[i] = merged;
    m->n++;
    return true;
}

bool ct_pairmap_get(const ct_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *merged) {
    if (!m->cap) return false;
    uint64_t k = pair_key(a, b);
    size_t mask = m->cap - 1, i = pair_slot(k, mask);
    while (m->keys[i]) {
        if (m->keys[i] == k) {
            *rank = m->rank[i];
            *merged = m->merged[i];
            return true;
        }
        i = (i + 1) & mask;
    }
    return false;
}

/* ---- UTF-8 ---- */
size_t ct_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp) {
    if (!len) return 0;
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t n;
    uint32_t v, lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2, v = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3, v = c & 0x0F;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, v = c & 0x07;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 0;
    if (len < n) return 0;
    for (size_t i = 1; i < n; i++) {
        unsigned b = s[i];
        if (b < lo || b > hi) return 0;
        lo = 0x80, hi = 0xBF;
        v = (v << 6) | (b & 0x3F);
    }
    *cp = v;
    return n;
}

size_t ct_utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

size_t ct_utf8_validate(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        uint32_t cp;
        size_t n = ct_utf8_decode(p + i, len - i, &cp);
        if (!n) return i;
        i += n;
    }
    return len;
}

/* Length of the maximal prefix of s that is a valid start of a UTF-8 sequence (≥ 1): the unit
 * replaced by one U+FFFD ("substitution of maximal subparts"). */
static size_t maximal_subpart(const unsigned char *s, size_t len) {
    unsigned c = s[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else
        return 1;
    size_t i = 1;
    while (i < n && i < len && s[i] >= lo && s[i] <= hi) {
        i++;
        lo = 0x80, hi = 0xBF;
    }
    return i;
}

ct_status ct_utf8_lossy_append(ct_buf *out, const char *s, size_t len, ct_err *err) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        size_t ok = ct_utf8_validate(s + i, len - i);
        if (ct_buf_append(out, s + i, ok, err)) return err->code;
        i += ok;
        if (i >= len) break;
        if (ct_buf_append(out, "\xEF\xBF\xBD", 3, err)) return err->code;
        i += maximal_subpart(p + i, len - i);
    }
    return CT_OK;
}
