/* The automaton's frame layout (private to json_automaton.c and json_shortest.c). A state's
 * bytes are: u8 stack count, then per stack u8 depth, `depth` frames (fr, unaligned), u8 nk and
 * nk name keys (u64, unaligned).
 *
 * Additional-property names (keys outside `properties`) must not repeat within an object (RFC
 * 8259: names SHOULD be unique; a repeated one would also make the parsed object smaller than
 * what min/maxProperties counted). Their names are kept in the state itself, as 64-bit keys
 * (56 bits of FNV-1a of the bytes, 8 bits of length): the state stays the only thing a mask
 * depends on, so the per-state mask cache stays exact, and a saved state (serving) restores
 * them too. A repeated name has the same key and is always refused; a distinct name refused for
 * a colliding key is a 2^-56 chance per pair. The keys of an object are the last `a` of its
 * stack's keys when it is the innermost open object (they form a stack: an inner object's come
 * after its parent's, and go when it closes); a stack holds at most JG_MAX_XKEYS of them, after
 * which no further additional property is allowed in any of its open objects. */
#ifndef CT_EVAL_JSON_FRAME_H
#define CT_EVAL_JSON_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "eval/json_grammar.h"

typedef struct fr {
    uint16_t node;
    uint8_t kind; /* F_* */
    uint8_t ph;   /* phase, per kind */
    uint8_t ws;   /* length of the current whitespace run */
    uint8_t a;    /* utf-8 continuation bytes left (strings, keys) / digits and sign (numbers) /
                     additional-property names written (objects) */
    uint16_t b;   /* allowed range of the next continuation byte lo<<8|hi / fraction digits */
    uint32_t n;   /* code points, items, literal position, think-marker position */
    uint32_t m;   /* literal / key range lo<<16|hi; object: node of the pending value; \u value */
    uint64_t x;   /* object: keys written (bit per name); number: integer part magnitude; key: FNV-1a
                     of its bytes so far */
} fr;
_Static_assert(sizeof(fr) == JG_FRAME_SIZE && offsetof(fr, ws) == JG_FRAME_WS, "frame layout is serialised as is");

enum { F_ROOT, F_LIT, F_NUM, F_STR, F_KEY, F_OBJ, F_ARR };
enum { R_START, R_TOPEN, R_THINK, R_VALUE, R_DONE };
enum { N_START, N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };
enum { S_OPEN, S_CHARS, S_ESC, S_HEX };
enum { O_OPEN, O_FIRST, O_KEYWAIT, O_COLON, O_VALUE, O_VALWAIT, O_AFTER, O_NEXT };
enum { A_OPEN, A_FIRST, A_VALWAIT, A_AFTER, A_NEXT };

typedef struct stk {
    uint8_t depth;
    fr f[JG_MAX_DEPTH];
    uint8_t nk;                 /* additional-property name keys of the open objects */
    uint64_t kh[JG_MAX_XKEYS];
} stk;

/* Serialised size of s; writing it into b; reading one from b (returns its size). */
static inline size_t jg_stack_size(const stk *s) { return 2 + (size_t)s->depth * sizeof(fr) + (size_t)s->nk * 8; }
static inline void jg_stack_put(uint8_t *b, const stk *s) {
    size_t fb = (size_t)s->depth * sizeof(fr);
    b[0] = s->depth;
    memcpy(b + 1, s->f, fb);
    b[1 + fb] = s->nk;
    memcpy(b + 2 + fb, s->kh, (size_t)s->nk * 8);
}
static inline size_t jg_stack_get(const uint8_t *b, stk *s) {
    s->depth = b[0];
    size_t fb = (size_t)s->depth * sizeof(fr);
    memcpy(s->f, b + 1, fb);
    s->nk = b[1 + fb];
    memcpy(s->kh, b + 2 + fb, (size_t)s->nk * 8);
    return jg_stack_size(s);
}

static inline size_t jg_stack_len_at(const uint8_t *b) {
    size_t fb = (size_t)b[0] * sizeof(fr);
    return 2 + fb + (size_t)b[1 + fb] * 8;
}

/* Name keys: FNV-1a over the bytes (running in a key frame's x), then 56 bits + the length. */
#define JG_FNV_START 14695981039346656037ull
static inline uint64_t jg_fnv(uint64_t h, int c) { return (h ^ (uint8_t)c) * 1099511628211ull; }
static inline uint64_t jg_name_key(uint64_t h, uint32_t len) {
    return (h & 0x00ffffffffffffffull) | (uint64_t)(len < 255 ? len : 255) << 56;
}

/* The additional-property names of frame `depth` (an index into s->f; none unless an object) and
 * the room for more while it is the innermost open object. */
typedef struct jg_xk {
    const uint64_t *h;
    int n, room;
    int32_t plus_len; /* >= 0: one name more of this length, not in h yet (json_shortest.c) */
} jg_xk;
static inline jg_xk jg_xkeys(const stk *s, int depth) {
    int start = 0;
    for (int i = 0; i < depth; i++)
        if (s->f[i].kind == F_OBJ) start += s->f[i].a;
    int n = s->f[depth].kind == F_OBJ ? s->f[depth].a : 0;
    return (jg_xk){s->kh + start, n, JG_MAX_XKEYS - start - n, -1};
}
static inline bool jg_xk_has(const jg_xk *k, uint64_t key) {
    for (int i = 0; i < k->n; i++)
        if (k->h[i] == key) return true;
    return false;
}

/* Narrows the sorted names [*lo, *hi) that start with the key's bytes so far (pos of them) to
 * those whose next byte is c (empty: 0, 0). */
static inline void jg_name_range(const jg_node *on, uint32_t pos, int c, uint32_t *lo, uint32_t *hi) {
    uint32_t nlo = *lo, nhi;
    while (nlo < *hi && (on->name_len[nlo] <= pos || (uint8_t)on->names[nlo][pos] < c)) nlo++;
    nhi = nlo;
    while (nhi < *hi && on->name_len[nhi] > pos && (uint8_t)on->names[nhi][pos] == c) nhi++;
    if (nlo == nhi) nlo = nhi = 0;
    *lo = nlo, *hi = nhi;
}


/* May name i (or, i < 0, a key outside properties, with room for `room` more of those) still be
 * written in object frame o? */
static inline bool jg_key_ok(const jg_node *on, const fr *o, int32_t i, int room) {
    if (i >= 0 && (o->x >> i & 1)) return false; /* written already */
    if (i < 0 && (on->addl < 0 || room <= 0)) return false;
    if (on->max_props < 0 || (i >= 0 && (on->required >> i & 1))) return true;
    /* an optional key must leave room for the required keys not written yet */
    int64_t left = __builtin_popcountll(on->required & ~o->x);
    return (int64_t)o->n + 1 + left <= on->max_props;
}

/* min bytes that make number frame f (after at least its first byte, or fresh: ph N_START) a
 * complete number inside its node's bounds; -1 when none is found (json_automaton.c) */
int jg_num_rest(const jg_grammar *g, const fr *f);

#endif
