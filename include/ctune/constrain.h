/* ctune — JSON-Schema-constrained decoding. At each step only the tokens that keep the output a
 * prefix of a JSON text valid against the schema (draft 2020-12 subset: type, properties,
 * required, additionalProperties, items, minItems / maxItems, enum, const, minimum / maximum /
 * exclusive*, minLength / maxLength, anyOf, $ref / $defs) may be sampled, and an end-of-sequence id
 * only once the value is complete. `json_object` mode (no schema) allows any JSON object.
 *
 *   ct_json_constraint_opts o = ct_json_constraint_opts_default();
 *   o.schema = text;  o.what = "answer.schema.json";
 *   ct_json_constraint *c;  ct_json_constraint_new(&o, tok, vocab_size, &c, &err);
 *   ct_gen_params p;  ...  p.constraint = c;   (ct_generate resets and applies it)
 *
 * Masks: the vocabulary's token bytes, sorted, are walked with the automaton (a shared prefix is
 * stepped once; a dead prefix skips every token that starts with it); each automaton state's mask
 * is cached, so a state seen before costs one lookup. See docs/inference.md. */
#ifndef CTUNE_CONSTRAIN_H
#define CTUNE_CONSTRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"
#include "ctune/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_json_constraint ct_json_constraint;

typedef struct ct_json_constraint_opts {
    const char *schema; /* JSON Schema text; NULL: json_object mode (any JSON object) */
    const char *what;   /* names the schema in messages (a file name) */
    int max_ws;         /* longest run of whitespace between JSON tokens (default 16; 0: compact) */
    bool think;         /* an optional "<think>...</think>" block may come before the JSON */
    size_t cache_max;   /* masks kept (default 1024; the cache is emptied when full) */
} ct_json_constraint_opts;

ct_json_constraint_opts ct_json_constraint_opts_default(void);

/* Compiles the schema (errors name o->what and the schema path; keywords outside the subset fail
 * with CT_ERR_UNSUPPORTED) and reads the token bytes of tok for ids 0 .. vocab_size-1 (special
 * tokens and ids without a token are never allowed). */
ct_status ct_json_constraint_new(const ct_json_constraint_opts *o, const ct_tokenizer *tok, int32_t vocab_size,
                                 ct_json_constraint **out, ct_err *err);
void ct_json_constraint_free(ct_json_constraint *c);

/* Back to the start (no output yet). */
void ct_json_constraint_reset(ct_json_constraint *c);
/* Sets logits[j] = -inf for every id that may not come next (V entries; ids in eos[] are allowed
 * exactly when the output is complete). tokens_left (this one included; -1: no limit): a token
 * may come only if the shortest completion of the JSON after it (in bytes, counted as tokens:
 * every byte is a token in byte-level and byte-fallback vocabularies) fits in the tokens left
 * after it, so a generation whose budget starts at ct_json_constraint_min_tokens or more always
 * ends with a complete value. Nothing is narrowed while every allowed token leaves room.
 * CT_ERR_FORMAT when no id at all is allowed. */
ct_status ct_json_constraint_apply(ct_json_constraint *c, float *logits, size_t V, const int32_t *eos, size_t n_eos,
                                   int64_t tokens_left, ct_err *err);
/* The tokens (one per byte) that the shortest completion needs after `prefix` (len bytes, e.g.
 * "<think>" a prompt opened) from the start; the smallest budget that apply can guarantee a
 * complete value in. -1 when prefix is not a valid start. Does not touch c's state (safe while
 * another thread decodes with c). */
int64_t ct_json_constraint_min_tokens(const ct_json_constraint *c, const char *prefix, size_t len);
/* Advances over token id (an eos id leaves the state alone). CT_ERR_ARG if id is not allowed. */
ct_status ct_json_constraint_accept(ct_json_constraint *c, int32_t id, ct_err *err);
/* Advances over raw bytes; false (state unchanged) if they do not keep the output a valid prefix. */
bool ct_json_constraint_accept_bytes(ct_json_constraint *c, const char *bytes, size_t len);
/* The current state, serialised: *len bytes, valid until the next call on c. With
 * ct_json_constraint_set_state one constraint (and its mask cache) serves several generations
 * interleaved on one thread: each keeps its own state bytes and sets them before apply / accept.
 * set_state: false (state unchanged) when the bytes cannot be a state of this constraint. */
const void *ct_json_constraint_state(const ct_json_constraint *c, size_t *len);
bool ct_json_constraint_set_state(ct_json_constraint *c, const void *state, size_t len);
/* True when the output so far is a complete valid value (an end-of-sequence id may come). */
bool ct_json_constraint_complete(const ct_json_constraint *c);
/* The allowed-token bitmask of the current state (bit j of words[j / 64]; eos not included);
 * valid until the next call on c. */
const uint64_t *ct_json_constraint_mask(ct_json_constraint *c);

typedef struct ct_json_constraint_stats {
    uint64_t masks;        /* masks asked for (one per generated token) */
    uint64_t cache_hits;
    uint64_t forced;       /* steps the token budget narrowed the mask */
    uint64_t walks;        /* vocabulary walks (cache misses; a narrowed miss right after its
                            * state's own walk reuses it) */
    double mask_seconds;   /* time spent in ct_json_constraint_apply */
    double build_seconds;  /* token bytes + sorting at ct_json_constraint_new */
} ct_json_constraint_stats;
ct_json_constraint_stats ct_json_constraint_stats_get(const ct_json_constraint *c);

#ifdef __cplusplus
}
#endif
#endif
