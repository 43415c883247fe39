/* ctune — Hugging Face tokenizers (tokenizer.json + tokenizer_config.json).
 * Byte-level BPE with a Split pre-tokenizer regex (Qwen2/Qwen3, Llama-3) and SentencePiece-style
 * BPE with byte fallback (Llama-2). Encode/decode give the same ids/text as HF `tokenizers`. */
#ifndef CTUNE_TOKENIZER_H
#define CTUNE_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Growable id vector; encode functions APPEND to it. */
typedef struct ct_ids {
    int32_t *data;
    size_t n, cap;
} ct_ids;

ct_status ct_ids_push(ct_ids *v, int32_t id, ct_err *err);
void ct_ids_free(ct_ids *v);

typedef struct ct_tokenizer ct_tokenizer;

/* Loads DIR/tokenizer.json and (optional) DIR/tokenizer_config.json; or, when `dir` is a GGUF file,
 * the tokenizer its tokenizer.* metadata describes ("gpt2" with pre qwen2 / qwen35 / llama-bpe,
 * "llama"), built as that Hugging Face directory would give it (docs/tokenizer.md#gguf-files). */
ct_status ct_tokenizer_load(const char *dir, ct_tokenizer **out, ct_err *err);
void ct_tokenizer_free(ct_tokenizer *tok);

/* Encodes UTF-8 text, matching added/special tokens inside the text (HF split_special_tokens
 * false). add_special: apply the post-processor (e.g. Llama's BOS) as HF
 * `encode(add_special_tokens=True)` does. Appends to *out. */
ct_status ct_tokenizer_encode(const ct_tokenizer *tok, const char *text, size_t len,
                              bool add_special, ct_ids *out, ct_err *err);

/* Encodes text as HF `tokenizer(text)` does for a plain prompt: ct_tokenizer_encode with
 * add_special, then BOS in front when tokenizer_config.json says add_bos_token and the encoding
 * does not already start with it (slow-tokenizer configs whose tokenizer.json has no
 * post-processor). Appends to *out. */
ct_status ct_tokenizer_encode_text(const ct_tokenizer *tok, const char *text, size_t len, ct_ids *out,
                                   ct_err *err);

/* Decodes ids to UTF-8 (malloc'd, NUL-terminated) as HF `decode(ids, skip_special_tokens)`. */
ct_status ct_tokenizer_decode(const ct_tokenizer *tok, const int32_t *ids, size_t n,
                              bool skip_special, char **out, size_t *out_len, ct_err *err);

int32_t ct_tokenizer_vocab_size(const ct_tokenizer *tok);       /* incl. added tokens */
int32_t ct_tokenizer_token_to_id(const ct_tokenizer *tok, const char *token); /* -1 if none */
const char *ct_tokenizer_id_to_token(const ct_tokenizer *tok, int32_t id);    /* NULL if none */
bool ct_tokenizer_is_special(const ct_tokenizer *tok, int32_t id);
/* The raw bytes token `id` adds in the middle of a decoded text (malloc'd, NUL-terminated; may be
 * part of a UTF-8 character): the tokenizer.json decoder on that token alone, without Strip,
 * Metaspace's first-token prepend or UTF-8 repair. *out NULL for ids without a token. */
ct_status ct_tokenizer_token_bytes(const ct_tokenizer *tok, int32_t id, char **out, size_t *len,
                                   ct_err *err);

/* From tokenizer_config.json (ids are -1 / strings NULL when not configured). */
int32_t ct_tokenizer_bos_id(const ct_tokenizer *tok);
int32_t ct_tokenizer_eos_id(const ct_tokenizer *tok);
int32_t ct_tokenizer_pad_id(const ct_tokenizer *tok);
bool ct_tokenizer_add_bos(const ct_tokenizer *tok);               /* add_bos_token */
/* Jinja source or NULL: DIR/chat_template.jinja when present (it wins, as in transformers >= 4.47),
 * else tokenizer_config.json's chat_template. */
const char *ct_tokenizer_chat_template(const ct_tokenizer *tok);

int64_t ct_tokenizer_model_max_length(const ct_tokenizer *tok);  /* -1 when not configured */

/* The chat template without loading the tokenizer: DIR/chat_template.jinja when present, else
 * DIR/tokenizer_config.json's chat_template (a string, or the "default" entry of a list), or a
 * GGUF file's tokenizer.chat_template; *out (malloc'd) NULL when there is none. Errors name the
 * file. */
ct_status ct_tokenizer_read_chat_template(const char *dir, char **out, ct_err *err);

/* Encodes n texts in parallel over texts (OpenMP, n_threads ≥ 1): outs[i] gets texts[i]'s ids
 * appended, exactly as ct_tokenizer_encode. lens may be NULL (NUL-terminated texts). On error
 * the message names the first failing text index. */
ct_status ct_tokenizer_encode_batch(const ct_tokenizer *tok, const char *const *texts,
                                    const size_t *lens, size_t n, bool add_special, ct_ids *outs,
                                    int n_threads, ct_err *err);

/* Streaming decode for generation (HF tokenizers DecodeStream): push ids one at a time; each
 * step returns the newly completed text (malloc'd, NUL-terminated) or *text == NULL while a
 * UTF-8 character is still incomplete. The concatenation of all step texts plus the final
 * ct_detok_flush equals ct_tokenizer_decode of all ids. */
typedef struct ct_detok {
    int32_t *ids;        /* current window of ids */
    size_t n, cap;
    size_t prefix_index; /* ids[0..prefix_index) decode to `prefix` */
    char *prefix;
    size_t prefix_len;
    bool skip_special;
} ct_detok;

void ct_detok_init(ct_detok *d, bool skip_special);
ct_status ct_detok_step(ct_detok *d, const ct_tokenizer *tok, int32_t id, char **text,
                        size_t *len, ct_err *err);
/* Returns any pending text (possibly ending in U+FFFD) and resets the window. */
ct_status ct_detok_flush(ct_detok *d, const ct_tokenizer *tok, char **text, size_t *len,
                         ct_err *err);
void ct_detok_free(ct_detok *d);

#ifdef __cplusplus
}
#endif
#endif
