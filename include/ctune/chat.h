/* ctune — multi-turn chat sessions over a runtime (model + optional adapter + tokenizer + chat
 * template, ctune/runtime.h).
 *
 * Each turn renders the whole conversation with the template (add_generation_prompt, as HF
 * apply_chat_template), tokenizes it without extra specials (the template text carries them),
 * and generates the answer. The KV cache is kept across turns: only the tokens after the longest
 * common prefix of the new rendering and what the cache holds are run (a template that rewrites
 * history, e.g. Qwen3 dropping earlier reasoning, just shortens the reused prefix). Generation
 * stops on the model's eos ids and the template's end-of-turn token. */
#ifndef CTUNE_CHAT_H
#define CTUNE_CHAT_H

#include <stdbool.h>
#include <stddef.h>

#include "ctune/data.h"
#include "ctune/generate.h"
#include "ctune/runtime.h"
#include "ctune/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_chat ct_chat;

typedef struct ct_chat_opts {
    const char *system;       /* system message or NULL */
    ct_think enable_thinking; /* Jinja enable_thinking (CT_THINK_NULL: undefined) */
    ct_gen_params gen;        /* sampling, max_new_tokens, on_token streaming callback (start from
                                 ct_runtime_gen_params); the template's end token is added to
                                 gen.eos_ids */
    bool no_cache_reuse;      /* re-run the whole prompt every turn (for tests/debugging) */
} ct_chat_opts;

typedef struct ct_chat_stats {
    size_t prompt_tokens;  /* tokens of the rendered conversation this turn */
    size_t reused_tokens;  /* of which were already in the KV cache */
    size_t new_tokens;     /* generated */
    ct_gen_stop stop;
} ct_chat_stats;

/* rt (which needs a tokenizer and a chat template) must outlive the session. */
ct_status ct_chat_init(ct_chat **out, ct_runtime *rt, const ct_chat_opts *o, ct_err *err);
void ct_chat_free(ct_chat *c);
/* Adds the user message, generates the answer (streamed through o->gen.on_token), appends it to
 * the history (reasoning split off with ct_split_think when the answer has "</think>") and
 * returns the decoded answer (malloc'd; special tokens skipped; end token not included). */
ct_status ct_chat_send(ct_chat *c, const char *user, char **answer, ct_chat_stats *st,
                       ct_err *err);
/* Forgets the conversation (the system message stays). */
void ct_chat_reset(ct_chat *c);
size_t ct_chat_num_messages(const ct_chat *c);

/* ---- Display of a streamed answer: plain text, <think> reasoning, <tool_call> JSON. ---- */

typedef enum ct_chat_span {
    CT_CHAT_SPAN_TEXT = 0,
    CT_CHAT_SPAN_THINK,     /* text inside <think>...</think> (tags not included) */
    CT_CHAT_SPAN_TOOL_CALL, /* the whole body of one <tool_call>...</tool_call>, trimmed */
} ct_chat_span;

typedef void (*ct_chat_emit_fn)(ct_chat_span kind, const char *text, size_t len, void *user);

/* Splits a growing answer text into spans. Feed the full decoded text so far each time (it only
 * ever grows); text that might be the start of a tag is held back until it is decided or
 * final is true. Tool-call bodies are emitted once, when their closing tag arrives (or at the
 * end, unclosed). */
typedef struct ct_chat_splitter {
    size_t pos;      /* bytes of the text consumed */
    int state;       /* ct_chat_span of the current region */
} ct_chat_splitter;

void ct_chat_splitter_init(ct_chat_splitter *s);
void ct_chat_splitter_feed(ct_chat_splitter *s, const char *text, size_t len, bool final,
                           ct_chat_emit_fn emit, void *user);

#ifdef __cplusplus
}
#endif
#endif
