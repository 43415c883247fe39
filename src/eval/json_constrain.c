/* JSON-Schema-constrained decoding over a tokenizer's vocabulary (include/ctune/constrain.h):
 * token bytes sorted once, masks computed by walking them with the automaton of
 * json_automaton.c, one mask cached per automaton state (keyed by jg_cache_key, json_key.c:
 * states that differ only in counters no token can make matter share an entry). */
#include "ctune/constrain.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval/json_grammar.h"
#include "eval/json_schema.h"

typedef struct vtok {
    const uint8_t *b;
    uint32_t len;
    int32_t id;
} vtok;

#define RVALS 32 /* distinct shortest completions after one token kept per state */

typedef struct centry {
    uint64_t hash;
    uint8_t *key;
    uint32_t klen;
    int32_t lim;   /* -1: the state's mask; >= 0: its tokens whose state's shortest completion <= lim */
    int32_t dnow;  /* shortest completion of the state (bytes) */
    int32_t dmax;  /* the largest shortest completion after one allowed token */
    int32_t nr;    /* lim < 0: the distinct such completions, sorted, in r (-1: more than RVALS) */
    int32_t r[RVALS];
    uint64_t *mask;
} centry;

#define DMEMO 64 /* shortest completions of token end states met in one mask walk */

#define CANON_MAX 4096

struct ct_json_constraint {
    ct_json_schema schema;
    jg_grammar g;
    bool think;
    int32_t V;
    size_t words;       /* mask words */
    uint8_t **bytes;    /* [V] token bytes (NULL: never allowed) */
    uint32_t *blen;     /* [V] their lengths */
    vtok *sorted;       /* allowed-ever tokens sorted by bytes */
    uint32_t *lcp;      /* common prefix with the previous sorted token */
    uint8_t *cpn;       /* code points of a sorted token a string holds as is (jg_str_content), 0: not one */
    size_t n_sorted, max_len;
    jg_state *walk;     /* [max_len + 1] states of the prefix being walked */
    jg_state cur, tmp;
    jg_state key;       /* jg_cache_key of cur */
    int32_t *rest;      /* [n_sorted] of the last walk: shortest completion after each token, -1: dead */
    jg_state rest_key;  /* the key of the state walked last */
    bool rest_ok;
    centry *tab;        /* open addressing, cap slots */
    size_t cap, used, cache_max;
    uint64_t *scratch;  /* mask of the current state when it was not cached */
    const uint64_t *mask_now;
    int32_t dnow, dmax; /* of the state of mask_now */
    int32_t nr, r[RVALS]; /* and its distinct completions after one token (centry) */
    bool mask_valid;
    jg_state *memo;     /* [DMEMO] */
    int32_t memo_d[DMEMO];
    uint64_t memo_h[DMEMO];
    uint8_t canon[CANON_MAX];
    uint64_t *forced;   /* the mask while the token budget forces the canonical completion */
    ct_json_constraint_stats st;
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

ct_json_constraint_opts ct_json_constraint_opts_default(void) {
    return (ct_json_constraint_opts){.schema = NULL, .what = "json schema", .max_ws = 16, .think = false,
                                     .cache_max = 1024};
}

static int cmp_vtok(const void *a, const void *b) {
    const vtok *x = a, *y = b;
    uint32_t n = x->len < y->len ? x->len : y->len;
    int r = memcmp(x->b, y->b, n);
    if (r) return r;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Is (b, len) the bytes of a token that may ever be sampled? (binary search of the sorted ones) */
static bool in_vocab(void *u, const uint8_t *b, size_t len) {
    const ct_json_constraint *c = u;
    size_t lo = 0, hi = c->n_sorted;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const vtok *t = &c->sorted[mid];
        size_t n = t->len < len ? t->len : len;
        int r = memcmp(t->b, b, n);
        if (!r) r = t->len < len ? -1 : t->len > len ? 1 : 0;
        if (!r) return true;
        if (r < 0) lo = mid + 1;
        else hi = mid;
    }
    return false;
}

void ct_json_constraint_free(ct_json_constraint *c) {
    if (!c) return;
    if (c->bytes)
        for (int32_t i = 0; i < c->V; i++) free(c->bytes[i]);
    free(c->bytes);
    free(c->blen);
    free(c->sorted);
    free(c->lcp);
    free(c->cpn);
    free(c->walk);
    free(c->rest);
    for (size_t i = 0; c->tab && i < c->cap; i++) {
        free(c->tab[i].key);
        free(c->tab[i].mask);
    }
    free(c->tab);
    free(c->scratch);
    free(c->forced);
    free(c->memo);
    jg_free(&c->g);
    if (c->schema.root) ct_json_schema_free(&c->schema);
    free(c);
}

ct_status ct_json_constraint_new(const ct_json_constraint_opts *o, const ct_tokenizer *tok, int32_t vocab_size,
                                 ct_json_constraint **out, ct_err *err) {
    *out = NULL;
    if (vocab_size <= 0) return ct_err_set(err, CT_ERR_ARG, "json constraint: vocabulary size %d", vocab_size);
    double t0 = now();
    ct_json_constraint *c = calloc(1, sizeof *c);
    if (!c) return ct_err_set(err, CT_ERR_NOMEM, "json constraint: out of memory");
    const char *what = o->what ? o->what : "json schema";
    ct_status s = CT_OK;
    if (o->schema) s = ct_json_schema_load(&c->schema, o->schema, what, err);
    if (!s) s = jg_compile(&c->g, o->schema ? &c->schema : NULL, o->max_ws, what, err);
    if (s) {
        ct_json_constraint_free(c);
        return s;
    }
    c->think = o->think;
    c->V = vocab_size;
    c->words = ((size_t)vocab_size + 63) / 64;
    c->cache_max = o->cache_max ? o->cache_max : 1024;
    c->cap = 1;
    while (c->cap < 2 * c->cache_max) c->cap *= 2;
    c->bytes = calloc((size_t)vocab_size, sizeof *c->bytes);
    c->blen = calloc((size_t)vocab_size, sizeof *c->blen);
    c->sorted = calloc((size_t)vocab_size, sizeof *c->sorted);
    c->lcp = calloc((size_t)vocab_size, sizeof *c->lcp);
    c->tab = calloc(c->cap, sizeof *c->tab);
    c->scratch = calloc(c->words, sizeof *c->scratch);
    c->forced = calloc(c->words, sizeof *c->forced);
    c->memo = malloc(DMEMO * sizeof *c->memo);
    if (!c->memo || !c->forced || !c->bytes || !c->blen || !c->sorted || !c->lcp || !c->tab || !c->scratch) {
        ct_json_constraint_free(c);
        return ct_err_set(err, CT_ERR_NOMEM, "json constraint: out of memory");
    }
    for (int32_t id = 0; id < vocab_size && tok; id++) {
        if (ct_tokenizer_is_special(tok, id)) continue;
        char *b = NULL;
        size_t len = 0;
        if ((s = ct_tokenizer_token_bytes(tok, id, &b, &len, err))) {
            ct_json_constraint_free(c);
            return s;
        }
        if (!b || !len) {
            free(b);
            continue;
        }
        c->bytes[id] = (uint8_t *)b;
        c->blen[id] = (uint32_t)len;
        c->sorted[c->n_sorted++] = (vtok){(const uint8_t *)b, (uint32_t)len, id};
        if (len > c->max_len) c->max_len = len;
    }
    qsort(c->sorted, c->n_sorted, sizeof *c->sorted, cmp_vtok);
    for (size_t i = 1; i < c->n_sorted; i++) {
        const vtok *a = &c->sorted[i - 1], *b = &c->sorted[i];
        uint32_t k = 0, n = a->len < b->len ? a->len : b->len;
        while (k < n && a->b[k] == b->b[k]) k++;
        c->lcp[i] = k;
    }
    c->walk = malloc((c->max_len + 1) * sizeof *c->walk);
    c->rest = malloc((c->n_sorted ? c->n_sorted : 1) * sizeof *c->rest);
    c->cpn = calloc(c->n_sorted ? c->n_sorted : 1, 1);
    if (!c->walk || !c->rest || !c->cpn) {
        ct_json_constraint_free(c);
        return ct_err_set(err, CT_ERR_NOMEM, "json constraint: out of memory");
    }
    for (size_t i = 0; i < c->n_sorted; i++) {
        uint32_t cp = 0;
        if (jg_str_content(c->sorted[i].b, c->sorted[i].len, &cp) && cp <= 255) c->cpn[i] = (uint8_t)cp;
    }
    /* budgets in tokens: literal texts by the fewest tokens that spell them */
    if (c->n_sorted && (s = jg_shortest_tokens(&c->g, in_vocab, c, c->max_len, err))) {
        ct_json_constraint_free(c);
        return s;
    }
    ct_json_constraint_reset(c);
    c->st.build_seconds = now() - t0;
    *out = c;
    return CT_OK;
}

void ct_json_constraint_reset(ct_json_constraint *c) {
    jg_start(&c->g, c->think, &c->cur);
    c->mask_valid = false;
}

/* 8 bytes a step (states are ~100 bytes; a byte-serial hash would cost more than the walk) */
static uint64_t hash_bytes(const uint8_t *b, uint32_t len, uint64_t h) {
    uint32_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 0x9E3779B97F4A7C15ull;
        h ^= h >> 29;
    }
    for (; i < len; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h ^ (h >> 32);
}

static bool same_state(const jg_state *a, const jg_state *b) { return a->len == b->len && !memcmp(a->b, b->b, a->len); }

/* jg_shortest of a token's end state, remembered for the states met in one walk (in a string
 * most tokens end where they started, or in the same few states; whitespace runs, which the
 * shortest completion does not depend on, are left out of the key). */
static int32_t shortest_memo(ct_json_constraint *c, const jg_state *s, int32_t d0) {
    if (same_state(s, &c->walk[0])) return d0;
    jg_state *k = &c->tmp;
    memcpy(k, s, sizeof(uint32_t) + s->len);
    for (size_t at = 1, i = 0; i < k->b[0]; i++) { /* per stack: depth, frames, nk, name keys */
        size_t depth = k->b[at];
        for (size_t f = 0; f < depth; f++) k->b[at + 1 + f * JG_FRAME_SIZE + JG_FRAME_WS] = 0;
        at += 2 + depth * JG_FRAME_SIZE + (size_t)k->b[at + 1 + depth * JG_FRAME_SIZE] * 8;
    }
    s = k;
    uint64_t h = hash_bytes(s->b, s->len, 1469598103934665603ull);
    size_t at = h % DMEMO;
    jg_state *m = &c->memo[at];
    if (c->memo_h[at] == h && m->len == s->len && !memcmp(m->b, s->b, s->len)) return c->memo_d[at];
    int32_t d = jg_shortest(&c->g, s);
    memcpy(m, s, sizeof(uint32_t) + s->len);
    c->memo_h[at] = h;
    c->memo_d[at] = d;
    return d;
}

/* Notes completion v of a token that continues the state: the largest, the distinct ones. */
static void note_rest(int32_t v, int32_t *dmax, int32_t *r, int32_t *nr, int32_t *last) {
    if (v > *dmax) *dmax = v;
    if (v == *last || *nr < 0) return;
    *last = v;
    int32_t k = 0;
    while (k < *nr && r[k] < v) k++;
    if (k < *nr && r[k] == v) return;
    if (*nr == RVALS) {
        *nr = -1;
        return;
    }
    memmove(r + k + 1, r + k, (size_t)(*nr - k) * sizeof *r);
    r[k] = v;
    (*nr)++;
}

/* Walks the sorted tokens from state s (whose key is c->key): rest[i] = the shortest completion
 * after sorted token i, -1 when it does not continue s. states[d] is the state after the first
 * d bytes of the current token; a token sharing lcp bytes with the previous one reuses them.
 * Inside a string (one stack, between characters) a token the string holds as is is not stepped:
 * it continues while the count stays within maxLength, and only the string's own part of the
 * completion (what minLength still asks) changes. *dmax: the largest completion after one token;
 * r[0..*nr): the distinct ones, sorted (*nr = -1 when more than RVALS). */
static void walk(ct_json_constraint *c, const jg_state *s, int32_t *dmax, int32_t *r, int32_t *nr) {
    memset(c->memo_h, 0, sizeof c->memo_h);
    for (size_t i = 0; i < DMEMO; i++) c->memo[i].len = 0;
    *dmax = 0;
    *nr = 0;
    c->st.walks++;
    jg_state *w = c->walk;
    memcpy(&w[0], s, sizeof(uint32_t) + s->len);
    int32_t d0 = jg_shortest(&c->g, s), last = -1;
    jg_str_pos sp;
    bool in_str = d0 < JG_INF && jg_in_string(&c->g, s, &sp);
    int64_t more0 = in_str && sp.min_len > sp.n ? sp.min_len - sp.n : 0;
    size_t valid = 0, i = 0;
    while (i < c->n_sorted) {
        const vtok *t = &c->sorted[i];
        if (c->lcp[i] < valid) valid = c->lcp[i];
        if (in_str && c->cpn[i]) { /* string content (valid keeps the last token stepped) */
            int64_t n = sp.n + c->cpn[i], more = sp.min_len > n ? sp.min_len - n : 0;
            int32_t v = !sp.counted ? d0 : sp.max_len >= 0 && n > sp.max_len ? -1 : (int32_t)(d0 - more0 + more);
            c->rest[i++] = v;
            if (v >= 0) note_rest(v, dmax, r, nr, &last);
            continue;
        }
        size_t d = valid;
        while (d < t->len && jg_step(&c->g, &w[d], t->b[d], &w[d + 1])) d++;
        if (d < t->len) { /* the prefix t->b[0..d] is dead: skip every token that starts with it */
            valid = d;
            c->rest[i++] = -1;
            while (i < c->n_sorted && c->lcp[i] >= d + 1) c->rest[i++] = -1;
            continue;
        }
        valid = t->len;
        int32_t v = shortest_memo(c, &w[t->len], d0);
        c->rest[i++] = v;
        note_rest(v, dmax, r, nr, &last);
    }
    memcpy(&c->rest_key, &c->key, sizeof(uint32_t) + c->key.len);
    c->rest_ok = true;
}

/* The mask of the state walked last: every token that continues it (lim < 0), or only those
 * after which the shortest completion is at most lim. */
static void mask_of_rest(const ct_json_constraint *c, uint64_t *mask, int32_t lim) {
    memset(mask, 0, c->words * sizeof *mask);
    for (size_t i = 0; i < c->n_sorted; i++) {
        int32_t v = c->rest[i];
        if (v >= 0 && (lim < 0 || v <= lim)) mask[(size_t)c->sorted[i].id / 64] |= 1ull << (c->sorted[i].id % 64);
    }
}

static uint64_t hash_state(const jg_state *s, int32_t lim) {
    return hash_bytes(s->b, s->len, 1469598103934665603ull ^ (uint64_t)(uint32_t)lim * 0x9E3779B97F4A7C15ull);
}

static void cache_clear(ct_json_constraint *c) {
    for (size_t i = 0; i < c->cap; i++) {
        free(c->tab[i].key);
        free(c->tab[i].mask);
        memset(&c->tab[i], 0, sizeof c->tab[i]);
    }
    c->used = 0;
    c->mask_valid = false; /* mask_now pointed into the table */
}

static void set_now(ct_json_constraint *c, int32_t dnow, int32_t dmax, const int32_t *r, int32_t nr) {
    c->dnow = dnow, c->dmax = dmax, c->nr = nr;
    if (nr > 0) memcpy(c->r, r, (size_t)nr * sizeof *r);
}

/* The mask of the current state (lim < 0) or its budget-narrowed form (lim >= 0; after the
 * state's own mask, whose completions after one token say which lim give the same mask), cached
 * under the state's key. NULL: the narrowed mask is empty. */
static const uint64_t *state_mask(ct_json_constraint *c, int32_t lim) {
    jg_cache_key(&c->g, &c->cur, c->max_len, &c->key);
    if (lim >= 0 && c->nr >= 0) { /* the largest completion after one token that is <= lim */
        int32_t k = c->nr;
        while (k > 0 && c->r[k - 1] > lim) k--;
        if (!k) return NULL;
        lim = c->r[k - 1];
    }
    uint64_t h = hash_state(&c->key, lim);
    size_t at = (size_t)h & (c->cap - 1);
    while (c->tab[at].key) {
        centry *e = &c->tab[at];
        if (e->hash == h && e->lim == lim && e->klen == c->key.len && !memcmp(e->key, c->key.b, e->klen)) {
            c->st.cache_hits++;
            if (lim < 0) set_now(c, e->dnow, e->dmax, e->r, e->nr);
            return e->mask;
        }
        at = (at + 1) & (c->cap - 1);
    }
    if (c->used >= c->cache_max) {
        cache_clear(c);
        at = (size_t)h & (c->cap - 1);
    }
    centry e = {.hash = h, .klen = c->key.len, .lim = lim, .dnow = jg_shortest(&c->g, &c->cur)};
    if (lim < 0 || !c->rest_ok || !same_state(&c->rest_key, &c->key)) walk(c, &c->cur, &e.dmax, e.r, &e.nr);
    if (lim < 0) set_now(c, e.dnow, e.dmax, e.r, e.nr);
    e.key = malloc(c->key.len);
    e.mask = malloc(c->words * sizeof *e.mask);
    if (!e.key || !e.mask) { /* no room to cache: the mask goes to scratch */
        free(e.key);
        free(e.mask);
        mask_of_rest(c, c->scratch, lim);
        return c->scratch;
    }
    mask_of_rest(c, e.mask, lim);
    memcpy(e.key, c->key.b, c->key.len);
    c->tab[at] = e;
    c->used++;
    return e.mask;
}

const uint64_t *ct_json_constraint_mask(ct_json_constraint *c) {
    if (c->mask_valid) return c->mask_now;
    c->st.masks++;
    c->mask_now = state_mask(c, -1);
    c->mask_valid = true;
    return c->mask_now;
}

const void *ct_json_constraint_state(const ct_json_constraint *c, size_t *len) {
    *len = c->cur.len;
    return c->cur.b;
}

bool ct_json_constraint_set_state(ct_json_constraint *c, const void *state, size_t len) {
    const uint8_t *b = state;
    if (!len || len > JG_STATE_MAX || b[0] > JG_MAX_STACKS) return false;
    memcpy(c->cur.b, b, len);
    c->cur.len = (uint32_t)len;
    c->mask_valid = false;
    return true;
}

bool ct_json_constraint_complete(const ct_json_constraint *c) { return jg_complete(&c->g, &c->cur); }

/* Tokens whose bytes are a prefix of the canonical completion (sorted order: binary search
 * for the first token >= its first byte, then scan while tokens start with it). */
static void forced_mask(ct_json_constraint *c, const uint8_t *canon, int n, uint64_t *mask) {
    memset(mask, 0, c->words * sizeof *mask);
    size_t lo = 0, hi = c->n_sorted;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->sorted[mid].b[0] < canon[0]) lo = mid + 1;
        else hi = mid;
    }
    for (size_t i = lo; i < c->n_sorted && c->sorted[i].b[0] == canon[0]; i++) {
        const vtok *t = &c->sorted[i];
        if (t->len <= (uint32_t)n && !memcmp(t->b, canon, t->len)) mask[(size_t)t->id / 64] |= 1ull << (t->id % 64);
    }
}

static bool any_bit(const uint64_t *m, size_t words) {
    for (size_t i = 0; i < words; i++)
        if (m[i]) return true;
    return false;
}

ct_status ct_json_constraint_apply(ct_json_constraint *c, float *logits, size_t V, const int32_t *eos, size_t n_eos,
                                   int64_t tokens_left, ct_err *err) {
    double t0 = now();
    const uint64_t *m = ct_json_constraint_mask(c);
    bool done = ct_json_constraint_complete(c);
    /* budget: a token may come only if the shortest completion after it fits in the tokens left
     * after it (one token per byte: every byte is a token in byte-level / byte-fallback
     * vocabularies). The shortest completion drops by one along some byte, so this set is never
     * empty while the current state's own completion fits; nothing to narrow while even the
     * longest completion after one token fits. One token more is kept for an end-of-sequence id
     * while the budget allows it (the answer then ends with "stop", not "length"). */
    int64_t lim = tokens_left - 1 - (n_eos && c->dnow + 1 <= tokens_left ? 1 : 0);
    if (tokens_left >= 0 && !done && c->dmax > lim && lim < JG_INF) {
        const uint64_t *b = NULL;
        if (c->dnow <= tokens_left) {
            b = state_mask(c, (int32_t)lim);
            if (b && !any_bit(b, c->words)) b = NULL;
        }
        if (!b) { /* the budget is already short (no up-front check): follow the canonical completion */
            int n = jg_canon(&c->g, &c->cur, c->canon, CANON_MAX);
            if (n > 0) forced_mask(c, c->canon, n, c->forced), b = c->forced;
        }
        if (b) m = b, c->st.forced++;
        else m = ct_json_constraint_mask(c); /* the table may have been emptied meanwhile */
    }
    size_t allowed = 0;
    for (size_t j0 = 0; j0 < V; j0 += 64) { /* 64 ids a word; whole words where no eos id falls */
        size_t n = V - j0 < 64 ? V - j0 : 64;
        bool plain = n == 64 && j0 + 64 <= (size_t)c->V;
        for (size_t e = 0; e < n_eos && plain; e++) plain = eos[e] < (int64_t)j0 || eos[e] >= (int64_t)(j0 + 64);
        if (plain && m[j0 / 64] == ~0ull) {
            allowed += 64;
            continue;
        }
        if (plain && !m[j0 / 64]) {
            for (size_t k = 0; k < 64; k++) logits[j0 + k] = -INFINITY;
            continue;
        }
        for (size_t j = j0; j < j0 + n; j++) {
            bool ok = j < (size_t)c->V && (m[j / 64] >> (j % 64) & 1), is_eos = false;
            for (size_t e = 0; e < n_eos && !is_eos; e++) is_eos = eos[e] == (int32_t)j;
            if (is_eos) ok = done; /* an eos token with text (not special) still only ends the value */
            if (!ok) logits[j] = -INFINITY;
            else allowed++;
        }
    }
    c->st.mask_seconds += now() - t0;
    if (!allowed)
        return ct_err_set(err, CT_ERR_FORMAT,
                          done ? "constrained decoding: the JSON is complete but no end-of-sequence id is configured"
                               : "constrained decoding: no token of the vocabulary continues the JSON here");
    return CT_OK;
}

int64_t ct_json_constraint_min_tokens(const ct_json_constraint *c, const char *prefix, size_t len) {
    jg_state *a = malloc(2 * sizeof *a);
    if (!a) return -1;
    jg_start(&c->g, c->think, &a[0]);
    int k = 0;
    for (size_t i = 0; i < len; i++, k ^= 1)
        if (!jg_step(&c->g, &a[k], (uint8_t)prefix[i], &a[k ^ 1])) {
            free(a);
            return -1;
        }
    int32_t d = jg_shortest(&c->g, &a[k]);
    free(a);
    return d >= JG_INF ? -1 : d;
}

bool ct_json_constraint_accept_bytes(ct_json_constraint *c, const char *bytes, size_t len) {
    jg_state *a = &c->walk[0], *b = &c->tmp;
    memcpy(a, &c->cur, sizeof(uint32_t) + c->cur.len);
    for (size_t i = 0; i < len; i++) {
        if (!jg_step(&c->g, a, (uint8_t)bytes[i], b)) return false;
        jg_state *t = a;
        a = b;
        b = t;
    }
    memcpy(&c->cur, a, sizeof(uint32_t) + a->len);
    c->mask_valid = false;
    return true;
}

ct_status ct_json_constraint_accept(ct_json_constraint *c, int32_t id, ct_err *err) {
    if (id < 0 || id >= c->V) return ct_err_set(err, CT_ERR_ARG, "json constraint: id %d outside the vocabulary", id);
    if (!c->bytes[id]) {
        if (ct_json_constraint_complete(c)) return CT_OK; /* an end-of-sequence id */
        return ct_err_set(err, CT_ERR_ARG, "json constraint: token %d has no text and the JSON is not complete", id);
    }
    if (!ct_json_constraint_accept_bytes(c, (const char *)c->bytes[id], c->blen[id]))
        return ct_err_set(err, CT_ERR_ARG, "json constraint: token %d does not continue the JSON", id);
    return CT_OK;
}

ct_json_constraint_stats ct_json_constraint_stats_get(const ct_json_constraint *c) { return c->st; }
