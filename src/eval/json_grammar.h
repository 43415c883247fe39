/* A JSON Schema compiled into a byte-level pushdown automaton for constrained decoding.
 *
 * json_grammar.c turns a loaded ct_json_schema (the validator's schema model: the same keywords,
 * the same $ref resolution) into a graph of nodes, one per (sub)schema and type; json_automaton.c
 * runs a set of stacks of frames over it, one byte at a time. A state accepts exactly the byte
 * strings that are prefixes of a JSON text valid against the schema and written in the generated
 * form (see docs/inference.md, "Constrained decoding": whitespace policy, number form, key escapes). */
#ifndef CT_EVAL_JSON_GRAMMAR_H
#define CT_EVAL_JSON_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"
#include "eval/json_schema.h"

typedef enum jg_kind {
    JG_LIT = 0, /* one of a sorted list of literal texts (enum, const, true/false/null) */
    JG_INT,     /* -?(0|[1-9][0-9]*), at most JG_MAX_DIGITS digits */
    JG_NUM,     /* JSON number: int part, optional fraction, optional exponent (not with bounds) */
    JG_STR,     /* string with optional length bounds (code points) */
    JG_OBJ,     /* object: known properties, required ones, additional properties */
    JG_ARR,     /* array: items schema, min / max items */
    JG_ALT,     /* one of several nodes (anyOf, a list of types, any JSON value) */
} jg_kind;

#define JG_MAX_DIGITS 18   /* integer / fraction digits: values stay exact in int64 and jansson */
#define JG_MAX_EXP_DIGITS 2
#define JG_MAX_PROPS 64    /* properties per object (a bitmask tracks which were written) */

typedef struct jg_node {
    jg_kind kind;
    /* JG_LIT: n_lits sorted texts (compact JSON) */
    char **lits;
    size_t *lit_len;
    uint32_t n_lits;
    /* JG_INT / JG_NUM bounds (inclusive after folding exclusive ones for integers) */
    bool has_min, has_max, excl_min, excl_max;
    double min, max;
    /* JG_STR */
    int64_t min_len, max_len; /* max_len < 0: none */
    /* JG_OBJ: names sorted bytewise, raw (no escapes needed), with their value nodes */
    char **names;
    size_t *name_len;
    int32_t *name_node;
    uint32_t n_names;
    uint64_t required;       /* bit i: names[i] is required */
    int32_t addl;            /* value node of other keys; -1: other keys are not allowed */
    int64_t min_props, max_props; /* max_props < 0: none */
    /* JG_ARR */
    int32_t items;           /* item node after the prefix items; -1: none allowed there */
    int32_t *pre;            /* prefixItems nodes */
    uint32_t n_pre;
    int64_t min_items, max_items; /* max_items < 0: none */
    bool unique;             /* uniqueItems over literal items (a bit per literal written) */
    /* JG_ALT */
    int32_t *alts;
    uint32_t n_alts;
    /* jg_shortest_tokens: tokens spelling lits[i] / names[i] from byte p on, [i][p] (NULL: bytes) */
    int32_t **lit_tok, **name_tok;
} jg_node;

typedef struct jg_grammar {
    jg_node *nodes;
    size_t n, cap;
    int32_t root;
    int max_ws; /* longest whitespace run allowed between tokens (0: compact JSON only) */
    int32_t *shortest; /* [n] bytes of each node's shortest complete value (JG_INF: none) */
} jg_grammar;

/* Compiles schema s (NULL: any JSON object, OpenAI's json_object mode). Keywords the automaton
 * cannot enforce exactly (uniqueItems over items that are not enum / const literals) and unsatisfiable schemas
 * (minLength > maxLength, required keys that cannot be written, an enum no value of which passes
 * the rest of the schema) fail with a message naming `what` and the schema path. */
ct_status jg_compile(jg_grammar *g, const ct_json_schema *s, int max_ws, const char *what, ct_err *err);
void jg_free(jg_grammar *g);

/* ---- the automaton (json_automaton.c) ---- */

/* A state: a set of stacks (alternatives still alive), serialised into bytes so that it can be
 * copied, compared and hashed (per-state mask cache). Layout: u8 count, then per stack u8 depth,
 * `depth` frames, u8 nk and nk u64 keys of the names written as additional properties in the
 * open objects (json_frame.h: duplicates are refused, and the state holds all it depends on). */
#define JG_MAX_DEPTH 32
#define JG_MAX_STACKS 16
#define JG_MAX_XKEYS 64 /* additional-property names remembered per stack (open objects together) */
#define JG_STATE_MAX (1 + JG_MAX_STACKS * (2 + JG_MAX_DEPTH * 24 + JG_MAX_XKEYS * 8))

typedef struct jg_state {
    uint32_t len;
    uint8_t b[JG_STATE_MAX];
} jg_state;

#define JG_END 256 /* the end-of-output pseudo byte */
#define JG_FRAME_SIZE 24 /* bytes of a frame in a state (json_frame.h) */
#define JG_FRAME_WS 4    /* offset of its whitespace-run counter */

/* The start state; `think` lets an optional "<think>...</think>" block come first. */
void jg_start(const jg_grammar *g, bool think, jg_state *st);
/* out = in advanced by byte c (0..255, or JG_END); false (out empty) when c is not allowed. */
bool jg_step(const jg_grammar *g, const jg_state *in, int c, jg_state *out);
/* The length of the canonical (shortest-minded, deterministic) completion of st, its bytes in out
 * (optional, max bytes); -1 when longer than max or none is found. */
int jg_canon(const jg_grammar *g, const jg_state *st, uint8_t *out, int max);
/* True when the output may end here (a complete value). */
bool jg_complete(const jg_grammar *g, const jg_state *st);
/* Bytes a string holds as they are (no quote, backslash or control byte; whole UTF-8 characters),
 * *cp: their code points. From a state inside a string's characters such a token keeps the
 * string open and adds cp to its count (allowed while the count stays <= maxLength). */
bool jg_str_content(const uint8_t *b, size_t len, uint32_t *cp);
typedef struct jg_str_pos {
    bool counted;              /* the node has length bounds (else n stays 0) */
    int64_t n, min_len, max_len; /* code points so far; the node's bounds (max_len < 0: none) */
} jg_str_pos;
/* True when st is one stack inside a string, between characters; *p says where. */
bool jg_in_string(const jg_grammar *g, const jg_state *st, jg_str_pos *p);
/* out = st with the fields that cannot change its mask cache entry (json_constrain.c: the tokens
 * of at most tok_max bytes that continue it, its shortest completion and theirs) set to one
 * representative value (json_key.c): states with equal keys have equal entries. */
void jg_cache_key(const jg_grammar *g, const jg_state *st, size_t tok_max, jg_state *out);


/* ---- shortest completions (json_shortest.c) ---- */

#define JG_INF (1 << 28)

/* Fills g->shortest (jg_compile calls it; lengths in bytes). */
ct_status jg_shortest_prepare(jg_grammar *g, ct_err *err);
/* Counts in tokens from now on: each literal text (enum / const values, property names) by the
 * fewest tokens of a vocabulary that spell it (is_token(u, bytes, len), tokens of at most
 * max_len bytes), every other byte as one token. Still consistent when every byte is a token. */
ct_status jg_shortest_tokens(jg_grammar *g, bool (*is_token)(void *u, const uint8_t *b, size_t len), void *u,
                             size_t max_len, ct_err *err);
/* The length in bytes of the shortest completion of st (compact: no whitespace); 0 exactly when
 * st is complete, JG_INF when none fits the automaton's limits. Consistent: for 0 < d < JG_INF
 * some byte b leads to a state of d - 1 (tests/test_json_constrain.c checks it along walks), so
 * a budget of d tokens, each at least one byte, can always be met in a byte-level vocabulary. */
int32_t jg_shortest(const jg_grammar *g, const jg_state *st);

#endif
