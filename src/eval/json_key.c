/* Cache keys of automaton states (json_grammar.h, jg_cache_key): the mask cache of constrained
 * decoding (json_constrain.c) keys a mask by the state's bytes, and a model writing free text
 * makes a new state per token (a string's code-point count, an array's item count, a number's
 * magnitude). The key replaces every field that cannot change what the cached values are made
 * of -- which tokens of at most tok_max bytes continue the state, and the shortest completion
 * of the state and of each state a token leads to -- by one representative value:
 *
 * - a string's code-point count n, once n >= minLength and no token can reach maxLength from it
 *   (n + tok_max < maxLength; a byte adds at most one code point): n := minLength. The automaton
 *   reads n only as n >= minLength (closing quote) and n < maxLength (room), the shortest
 *   completion only as minLength - n, so every such count behaves alike within one token;
 * - an array's item count n, once past its prefixItems and minItems and (with maxItems) no token
 *   can reach maxItems (an item takes at least one byte): n := max(prefixItems, minItems);
 * - an object's key count n, once n >= minProperties and (with maxProperties) an optional key
 *   stays allowed after any token (n + tok_max + 1 + required keys <= maxProperties):
 *   n := minProperties; its pending value node (m), which only the phases between a key and its
 *   value read;
 * - a number's magnitude (x, fraction m) when the number is not negative and its bounds admit
 *   every non-negative value (no maximum; no minimum above 0, not exclusive at 0): its
 *   feasibility checks then always hold, whatever the magnitude;
 * - the UTF-8 continuation range (b) of a string or key between characters, which the next
 *   lead byte always overwrites.
 * The representative is itself in its class, so two states share a key exactly when they agree
 * on everything else and their fields fall in the same class. tests/test_json_constrain.c checks
 * cached masks against a brute-force definition along random walks. */
#include <string.h>

#include "eval/json_frame.h"

static void frame_key(const jg_grammar *g, fr *f, int64_t tok_max) {
    const jg_node *nd = &g->nodes[f->node];
    switch (f->kind) {
    case F_STR: {
        int64_t n = f->n;
        if ((nd->min_len > 0 || nd->max_len >= 0) && n >= nd->min_len && (nd->max_len < 0 || n + tok_max < nd->max_len))
            f->n = (uint32_t)nd->min_len;
        if (f->ph == S_CHARS && !f->a) f->b = 0;
        break;
    }
    case F_KEY:
        if (f->ph == S_CHARS && !f->a) f->b = 0;
        break;
    case F_ARR: {
        int64_t n = f->n, base = nd->min_items > (int64_t)nd->n_pre ? nd->min_items : (int64_t)nd->n_pre;
        if (n >= base && (nd->max_items < 0 || n + tok_max < nd->max_items)) f->n = (uint32_t)base;
        break;
    }
    case F_OBJ: {
        int64_t n = f->n, req = __builtin_popcountll(nd->required);
        if (n >= nd->min_props && (nd->max_props < 0 || n + tok_max + 1 + req <= nd->max_props))
            f->n = (uint32_t)nd->min_props;
        if (f->ph != O_COLON && f->ph != O_VALUE) f->m = 0;
        break;
    }
    case F_NUM: {
        bool neg = f->a & 0x80;
        bool low_ok = !nd->has_min || nd->min < 0 || (nd->min == 0 && !nd->excl_min);
        if (!neg && !nd->has_max && low_ok) f->x = 0, f->m = 0;
        break;
    }
    }
}

void jg_cache_key(const jg_grammar *g, const jg_state *in, size_t tok_max, jg_state *out) {
    memcpy(out, in, sizeof(uint32_t) + in->len);
    size_t at = 1;
    for (uint32_t i = 0; i < out->b[0]; i++) {
        size_t depth = out->b[at];
        for (size_t k = 0; k < depth; k++) {
            uint8_t *p = out->b + at + 1 + k * sizeof(fr);
            fr f;
            memcpy(&f, p, sizeof f); /* state bytes are unaligned */
            frame_key(g, &f, (int64_t)tok_max);
            memcpy(p, &f, sizeof f);
        }
        at += jg_stack_len_at(out->b + at); /* the frames, then the stack's name keys (kept) */
    }
}
