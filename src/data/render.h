/* Internal to the template renderers (src/data/template*.c): the render context and the
 * emitters that append text to a ct_render with its loss weight. */
#ifndef CT_DATA_RENDER_H
#define CT_DATA_RENDER_H

#include <string.h>
#include <sys/types.h>

#include "ctune/data.h"

typedef struct rctx {
    ct_render *r;
    const ct_render_opts *o;
    const ct_conv *c;
    int32_t turn;
    bool answer_seen; /* an answer segment was emitted in the current turn */
    bool oom;
    ssize_t last_answer; /* index of the last assistant message (mask_history) */
    ct_err *err;
    ct_status st;        /* a conversation the template refuses (set once; rendering stops) */
} rctx;

/* Appends n bytes with loss weight w; flags CT_SEG_ANSWER (target side of a turn) and CT_SEG_END
 * (the answer's end tokens). Prompt pieces after an answer open the next turn. */
void ct_rctx_emit(rctx *x, const char *s, size_t n, float w, uint32_t flags);

static inline void emit(rctx *x, const char *s, size_t n, float w, uint32_t flags) { ct_rctx_emit(x, s, n, w, flags); }
static inline void emit_s(rctx *x, const char *s, float w, uint32_t flags) { emit(x, s, strlen(s), w, flags); }
static inline void P(rctx *x, const char *s) { emit(x, s, strlen(s), 0, 0); } /* prompt */
static inline void Pn(rctx *x, const char *s, size_t n) { emit(x, s, n, 0, 0); }
static inline void A(rctx *x, const char *s, float w) { emit(x, s, strlen(s), w, CT_SEG_ANSWER); } /* answer */
static inline void An(rctx *x, const char *s, size_t n, float w) { emit(x, s, n, w, CT_SEG_ANSWER); }
static inline void E(rctx *x, const char *s, float w) { emit(x, s, strlen(s), w, CT_SEG_END | CT_SEG_ANSWER); } /* end */

/* Weight of assistant message i's answer text (0 for history answers with mask_history). */
static inline float answer_w(rctx *x, size_t i) {
    if (x->o->mask_history && (ssize_t)i != x->last_answer) return 0;
    return x->c->msgs[i].weight;
}

/* Python str.strip() without arguments, as Jinja's `trim`: *b, *n = the stripped part of s
 * (Unicode whitespace: ASCII \t \n \v \f \r \x1c-\x1f space, U+0085, U+00A0, U+1680,
 * U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000). */
void ct_py_strip(const char *s, const char **b, size_t *n);
static inline void trimmed(const char *s, const char **b, size_t *n) { ct_py_strip(s, b, n); }

/* "05 Mar 2026": today, as LlamaFactory's llama3 tool prompt dates it (template_llama.c). */
const char *ct_template_today(char buf[32]);

/* Renderers outside template.c. */
void ct_render_llama3(rctx *x);   /* template_llama.c: llama3 (Llama 3.0 Jinja, LlamaFactory tools) */
void ct_render_llama3_1(rctx *x); /* template_llama.c: llama3_1 (Meta's Llama 3.1 Jinja) */

#endif
