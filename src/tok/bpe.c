/* BPE model: one pre-token ("word") → ids. Mirrors HF tokenizers models/bpe (`BPE::merge_word`
 * + `Word::merge_all`): each UTF-8 character becomes a symbol (its vocab id, else its bytes as
 * "<0xXX>" pieces when byte_fallback, else unk, fused when fuse_unk), then pairs are merged by
 * ascending merge rank, leftmost first, with a priority queue and HF's stale-entry rule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok/tok_internal.h"

/* GPT-2 byte → unicode: printable Latin-1 bytes map to themselves, the other 68 bytes map to
 * U+0100.. in byte order (HF pre_tokenizers/byte_level.rs `bytes_char`). */
static bool byte_is_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t ct_bytelevel_char(uint8_t b) {
    static uint32_t map[256];
    static bool ready; /* benign race: every thread computes the same table */
    if (!ready) {
        uint32_t n = 0;
        uint32_t tmp[256];
        for (unsigned i = 0; i < 256; i++) tmp[i] = byte_is_printable(i) ? i : 256 + n++;
        memcpy(map, tmp, sizeof map);
        __atomic_store_n(&ready, true, __ATOMIC_RELEASE);
    }
    return map[b];
}

int ct_bytelevel_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    uint32_t n = cp - 256;
    for (unsigned i = 0; i < 256; i++)
        if (!byte_is_printable(i) && n-- == 0) return (int)i;
    return -1;
}

typedef struct sym {
    int32_t id;         /* -1 = merged away */
    int32_t prev, next; /* indices in the symbol array, -1 at the ends */
} sym;

/* A candidate merge: (rank << 32) | pos, so comparing the integers orders by rank, then leftmost
 * position (HF's Merge ordering). 8 bytes, with 12-byte symbols: a long word costs at most
 * 12 + 2 * 8 bytes per symbol (the heap holds at most 2n entries). */
typedef uint64_t merge;

static merge merge_make(int32_t rank, int32_t pos) { return (uint64_t)(uint32_t)rank << 32 | (uint32_t)pos; }
static int32_t merge_rank(merge m) { return (int32_t)(m >> 32); }
static int32_t merge_pos(merge m) { return (int32_t)(uint32_t)m; }

static void heap_push(merge *h, size_t *n, merge m) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= m) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = m;
}

static merge heap_pop(merge *h, size_t *n) {
    merge top = h[0], last = h[--*n];
    size_t i = 0, len = *n;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = l;
        if (l >= len) break;
        if (r < len && h[r] < h[l]) m = r;
        if (h[m] >= last) break;
        h[i] = h[m];
        i = m;
    }
    if (len) h[i] = last;
    return top;
}

typedef struct word {
    sym *s;
    size_t n, cap;
} word;

static ct_status word_add(word *w, int32_t id, ct_err *err) {
    if (w->n == w->cap) {
        size_t cap = w->cap * 2;
        sym *s = w->s;
        if (cap > 64 && w->cap == 64) { /* leaving the stack buffer */
            s = malloc(cap * sizeof *s);
            if (s) memcpy(s, w->s, w->n * sizeof *s);
        } else
            s = realloc(s, cap * sizeof *s);
        if (!s) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        w->s = s;
        w->cap = cap;
    }
    if (w->n >= INT32_MAX) return ct_err_set(err, CT_ERR_ARG, "a word of more than 2^31 symbols");
    sym *x = &w->s[w->n];
    x->id = id;
    x->prev = (int32_t)w->n - 1;
    x->next = -1;
    if (w->n) w->s[w->n - 1].next = (int32_t)w->n;
    w->n++;
    return CT_OK;
}

/* BPE of one word without the cache. */
static ct_status bpe_word(const ct_bpe *m, const char *text, size_t len, ct_ids *out, ct_err *err) {
    if (!len) return CT_OK;
    if (m->ignore_merges) {
        int32_t id = ct_strmap_get(&m->vocab, text, len);
        if (id >= 0) return ct_ids_push(out, id, err);
    }
    sym stack_syms[64];
    merge stack_heap[128]; /* heap size ≤ 2 × symbols */
    word w = {stack_syms, 0, 64};
    merge *heap = stack_heap;
    ct_status st = CT_OK;
    char tmp[256];
    char *scratch = NULL;
    size_t pre_len = m->cont_prefix ? strlen(m->cont_prefix) : 0;
    size_t suf_len = m->end_suffix ? strlen(m->end_suffix) : 0;
    int32_t unk_id = -1;
    uint32_t unk_len = 0;

    const unsigned char *p = (const unsigned char *)text;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t cl = ct_utf8_decode(p + i, len - i, &cp);
        if (!cl) cl = 1; /* callers validate UTF-8; be robust anyway */
        bool first = i == 0, last = i + cl == len;
        const char *s = text + i;
        size_t sl = cl;
        if ((!first && pre_len) || (last && suf_len)) {
            size_t need = cl + pre_len + suf_len;
            char *b = tmp;
            if (need > sizeof tmp) {
                free(scratch);
                scratch = malloc(need);
                if (!scratch) {
                    st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
                    goto done;
                }
                b = scratch;
            }
            sl = 0;
            if (!first && pre_len) memcpy(b, m->cont_prefix, pre_len), sl += pre_len;
            memcpy(b + sl, text + i, cl), sl += cl;
            if (last && suf_len) memcpy(b + sl, m->end_suffix, suf_len), sl += suf_len;
            s = b;
        }
        i += cl;
        int32_t id = ct_strmap_get(&m->vocab, s, sl);
        if (id >= 0) {
            if (unk_id >= 0) {
                if ((st = word_add(&w, unk_id, err))) goto done;
                unk_id = -1;
            }
            if ((st = word_add(&w, id, err))) goto done;
            continue;
        }
        if (m->byte_fallback) {
            bool all = true;
            for (size_t k = 0; k < sl; k++)
                if (m->byte_ids[(unsigned char)s[k]] < 0) all = false;
            if (all) {
                for (size_t k = 0; k < sl; k++)
                    if ((st = word_add(&w, m->byte_ids[(unsigned char)s[k]], err))) goto done;
                continue;
            }
        }
        if (m->unk_id >= 0) {
            if (unk_id >= 0 && m->fuse_unk) {
                unk_len += (uint32_t)cl;
            } else {
                if (unk_id >= 0 && (st = word_add(&w, unk_id, err))) goto done;
                unk_id = m->unk_id;
                unk_len = (uint32_t)cl;
            }
        }
        /* no unk token: the character is dropped, as HF does */
    }
    if (unk_id >= 0 && (st = word_add(&w, unk_id, err))) goto done;

    if (w.n > 64) {
        heap = malloc(w.n * 2 * sizeof *heap); /* ≤ n initial + ≤ 2 per merge, bounded by 2n */
        if (!heap) {
            st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            goto done;
        }
    }
    size_t hn = 0;
    for (size_t k = 0; k + 1 < w.n; k++) {
        int32_t rank, nid;
        if (ct_pairmap_get(&m->merges, w.s[k].id, w.s[k + 1].id, &rank, &nid))
            heap_push(heap, &hn, merge_make(rank, (int32_t)k));
    }
    while (hn) {
        merge top = heap_pop(heap, &hn);
        int32_t pos = merge_pos(top);
        sym *cur = &w.s[pos];
        if (cur->id < 0 || cur->next < 0) continue;
        sym *right = &w.s[cur->next];
        int32_t rank, nid;
        /* stale entry: the pair at pos no longer makes the popped merge's token (HF's test) */
        if (!ct_pairmap_get(&m->merges, cur->id, right->id, &rank, &nid) || nid != m->merge_id[merge_rank(top)])
            continue;
        cur->id = nid;
        cur->next = right->next;
        right->id = -1;
        if (cur->next >= 0) w.s[cur->next].prev = pos;
        if (cur->prev >= 0 && ct_pairmap_get(&m->merges, w.s[cur->prev].id, cur->id, &rank, &nid))
            heap_push(heap, &hn, merge_make(rank, cur->prev));
        if (cur->next >= 0 && ct_pairmap_get(&m->merges, cur->id, w.s[cur->next].id, &rank, &nid))
            heap_push(heap, &hn, merge_make(rank, pos));
    }
    for (size_t k = 0; k < w.n; k++)
        if (w.s[k].id >= 0 && (st = ct_ids_push(out, w.s[k].id, err))) goto done;
done:
    if (w.s != stack_syms) free(w.s);
    if (heap != stack_heap) free(heap);
    free(scratch);
    return st;
}

/* ---- word cache: pre-token → ids (HF BPE keeps a similar cache) ----
 * 16 shards, each a mutex-protected open-addressing table of CACHE_SLOTS entries; a full shard is
 * simply cleared. Only words shorter than CACHE_MAX_WORD bytes are cached. */
#define CACHE_SHARDS 16
#define CACHE_SLOTS 4096 /* per shard, power of two; filled to at most 3/4 */
#define CACHE_MAX_WORD 128

typedef struct cache_entry {
    uint64_t hash; /* 0 = empty */
    char *key;     /* key bytes followed by the ids (int32, aligned by construction) */
    uint32_t klen, n;
    int32_t *ids;
} cache_entry;

typedef struct cache_shard {
    pthread_mutex_t mu;
    cache_entry *e;
    size_t used;
} cache_shard;

struct ct_bpe_cache {
    cache_shard shard[CACHE_SHARDS];
};

static void shard_clear(cache_shard *sh) {
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        free(sh->e[i].key);
        sh->e[i] = (cache_entry){0};
    }
    sh->used = 0;
}

/* Returns true and appends the cached ids when found. */
static bool cache_get(ct_bpe_cache *c, uint64_t h, const char *w, size_t len, ct_ids *out,
                      ct_err *err, ct_status *st) {
    cache_shard *sh = &c->shard[h % CACHE_SHARDS];
    bool found = false;
    pthread_mutex_lock(&sh->mu);
    for (size_t i = (h >> 4) & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
        cache_entry *e = &sh->e[i];
        if (!e->hash) break;
        if (e->hash == h && e->klen == len && !memcmp(e->key, w, len)) {
            found = true;
            for (uint32_t k = 0; k < e->n && !*st; k++) *st = ct_ids_push(out, e->ids[k], err);
            break;
        }
    }
    pthread_mutex_unlock(&sh->mu);
    return found;
}

static void cache_put(ct_bpe_cache *c, uint64_t h, const char *w, size_t len, const int32_t *ids,
                      size_t n) {
    size_t ids_off = (len + 3) & ~(size_t)3;
    char *blob = malloc(ids_off + n * sizeof(int32_t) + 1);
    if (!blob) return; /* the cache is best effort */
    memcpy(blob, w, len);
    memcpy(blob + ids_off, ids, n * sizeof(int32_t));
    cache_shard *sh = &c->shard[h % CACHE_SHARDS];
    pthread_mutex_lock(&sh->mu);
    if (sh->used >= CACHE_SLOTS * 3 / 4) shard_clear(sh);
    size_t i = (h >> 4) & (CACHE_SLOTS - 1);
    while (sh->e[i].hash) {
        if (sh->e[i].hash == h && sh->e[i].klen == len && !memcmp(sh->e[i].key, w, len)) {
            pthread_mutex_unlock(&sh->mu); /* another thread cached it */
            free(blob);
            return;
        }
        i = (i + 1) & (CACHE_SLOTS - 1);
    }
    sh->e[i] = (cache_entry){h, blob, (uint32_t)len, (uint32_t)n, (int32_t *)(void *)(blob + ids_off)};
    sh->used++;
    pthread_mutex_unlock(&sh->mu);
}

ct_status ct_bpe_tokenize(const ct_bpe *m, const char *text, size_t len, ct_ids *out, ct_err *err) {
    if (!m->cache || len >= CACHE_MAX_WORD || !len) return bpe_word(m, text, len, out, err);
    uint64_t h = ct_tok_hash(text, len) | 1;
    ct_status st = CT_OK;
    if (cache_get(m->cache, h, text, len, out, err, &st)) return st;
    size_t start = out->n;
    if ((st = bpe_word(m, text, len, out, err))) return st;
    /* a word of unknown characters without unk_token has no ids (and out->data may be NULL) */
    if (out->n > start) cache_put(m->cache, h, text, len, out->data + start, out->n - start);
    return CT_OK;
}

ct_status ct_bpe_cache_init(ct_bpe *m, ct_err *err) {
    m->cache = calloc(1, sizeof *m->cache);
    if (!m->cache) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (int i = 0; i < CACHE_SHARDS; i++) {
        pthread_mutex_init(&m->cache->shard[i].mu, NULL);
        m->cache->shard[i].e = calloc(CACHE_SLOTS, sizeof(cache_entry));
        if (!m->cache->shard[i].e) {
            ct_bpe_cache_free(m);
            return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        }
    }
    return CT_OK;
}

void ct_bpe_cache_free(ct_bpe *m) {
    if (!m->cache) return;
    for (int i = 0; i < CACHE_SHARDS; i++) {
        cache_shard *sh = &m->cache->shard[i];
        if (sh->e) shard_clear(sh);
        free(sh->e);
        pthread_mutex_destroy(&sh->mu);
    }
    free(m->cache);
    m->cache = NULL;
}
