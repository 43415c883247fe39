/* The automaton's frame layout (private to json_automaton.c and json_shortest.c). A state's
 * bytes are: u8 stack count, then per stack u8 depth and `depth` frames (fr, unaligned). */
#ifndef CT_EVAL_JSON_FRAME_H
#define CT_EVAL_JSON_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eval/json_grammar.h"

typedef struct fr {
    uint16_t node;
    uint8_t kind; /* F_* */
    uint8_t ph;   /* phase, per kind */
    uint8_t ws;   /* length of the current whitespace run */
    uint8_t a;    /* utf-8 continuation bytes left (strings) / digits and sign (numbers) */
    uint16_t b;   /* allowed range of the next continuation byte lo<<8|hi / fraction digits */
    uint32_t n;   /* code points, items, literal position, think-marker position */
    uint32_t m;   /* literal / key range lo<<16|hi; object: node of the pending value; \u value */
    uint64_t x;   /* object: keys written (bit per name); number: integer part magnitude */
} fr;
_Static_assert(sizeof(fr) == JG_FRAME_SIZE && offsetof(fr, ws) == JG_FRAME_WS, "frame layout is serialised as is");

typedef struct stk {
    uint8_t depth;
    fr f[JG_MAX_DEPTH];
} stk;

enum { F_ROOT, F_LIT, F_NUM, F_STR, F_KEY, F_OBJ, F_ARR };
enum { R_START, R_TOPEN, R_THINK, R_VALUE, R_DONE };
enum { N_START, N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN, N_EXP };
enum { S_OPEN, S_CHARS, S_ESC, S_HEX };
enum { O_OPEN, O_FIRST, O_KEYWAIT, O_COLON, O_VALUE, O_VALWAIT, O_AFTER, O_NEXT };
enum { A_OPEN, A_FIRST, A_VALWAIT, A_AFTER, A_NEXT };

/* May name i (or, i < 0, a key outside properties) still be written in object frame o? */
static inline bool jg_key_ok(const jg_node *on, const fr *o, int32_t i) {
    if (i >= 0 && (o->x >> i & 1)) return false; /* written already */
    if (i < 0 && on->addl < 0) return false;
    if (on->max_props < 0 || (i >= 0 && (on->required >> i & 1))) return true;
    /* an optional key must leave room for the required keys not written yet */
    int64_t left = __builtin_popcountll(on->required & ~o->x);
    return (int64_t)o->n + 1 + left <= on->max_props;
}

/* min bytes that make number frame f (after at least its first byte, or fresh: ph N_START) a
 * complete number inside its node's bounds; -1 when none is found (json_automaton.c) */
int jg_num_rest(const jg_grammar *g, const fr *f);

#endif
