/* The tokenizer of a Hugging Face directory as GGUF metadata (tokenizer.ggml.*), as llama.cpp's
 * convert_hf_to_gguf.py writes it and llama.cpp's llama-vocab.cpp reads it:
 *  - byte-level BPE (a ByteLevel pre-tokenizer: Qwen2/2.5/3, Llama-3): tokenizer.ggml.model
 *    "gpt2", tokenizer.ggml.pre from the Split regex ("qwen2" for Qwen's, "llama-bpe" for
 *    Llama-3's; any other regex is refused: llama.cpp would split text differently), tokens in
 *    id order padded to the model's vocab_size with "[PAD<i>]" (type UNUSED), token types
 *    (1 normal, 3 control: added tokens that are special or look like <|...|>, 4 user-defined:
 *    the other added tokens), merges as "left right" (a space inside a part written U+0120);
 *  - SentencePiece-style BPE with byte fallback (Llama-2, stories260k): tokenizer.ggml.model
 *    "llama", types 2 unknown / 3 control / 6 byte (<0xXX>) / 4 user-defined / 1 normal, and
 *    scores: a token's score is minus the rank of the first merge that produces it (llama.cpp's
 *    SentencePiece merge loop takes the highest-scoring pair, so it replays HF's merge order;
 *    convert_hf_to_gguf's tokenizer.json path writes -1000 for every token, which merges left to
 *    right instead), tokens no merge produces score -(number of merges) - 1;
 *  - bos / eos / unknown / padding ids from tokenizer_config.json (eos falls back to the model's
 *    first eos id), add_bos_token / add_eos_token as HF applies them, tokenizer.chat_template.
 * src/tok/gguf_tok.c reads such metadata back into a ct_tokenizer (the inverse). */
#ifndef CT_TOK_GGUF_VOCAB_H
#define CT_TOK_GGUF_VOCAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"
#include "ctune/tokenizer.h"
#include "io/gguf.h"

/* A byte-level pre-tokenizer llama.cpp names in tokenizer.ggml.pre, with the HF settings of the
 * tokenizer family the name stands for (what the GGUF does not store). */
typedef struct ct_gguf_pre {
    const char *name;     /* tokenizer.ggml.pre */
    const char *regex;    /* tokenizer.json pre_tokenizer Split regex (then ByteLevel) */
    bool nfc;             /* normalizer NFC (Qwen); none (Llama-3) */
    bool ignore_merges;   /* model.ignore_merges (Llama-3) */
    bool clean_up_spaces; /* tokenizer_config.json clean_up_tokenization_spaces (Llama-3) */
    bool add_bos;         /* llama.cpp's add_bos when tokenizer.ggml.add_bos_token is absent */
} ct_gguf_pre;

/* The entry of a Split regex / of a tokenizer.ggml.pre name (name[0..len)); NULL if unknown. */
const ct_gguf_pre *ct_gguf_pre_by_regex(const char *regex);
const ct_gguf_pre *ct_gguf_pre_by_name(const char *name, size_t len);

typedef struct ct_gguf_vocab_opts {
    const char *dir;        /* tokenizer.json (+ tokenizer_config.json, chat_template.jinja) */
    int32_t vocab_size;     /* rows of the embedding; the token list is padded to it */
    int32_t fallback_eos;   /* eos id when tokenizer_config.json has none (-1: none) */
    int32_t fallback_bos;   /* bos id when tokenizer_config.json has none (-1: none) */
} ct_gguf_vocab_opts;

/* Adds the tokenizer.* keys to w. Errors name the file and what is not supported. The chosen
 * llama.cpp model ("gpt2" / "llama") is written to *model_out when non-NULL (static string). */
/* add_bos / add_eos (tokenizer.ggml.add_bos_token / add_eos_token) as HF's tokenizer(text)
 * applies them: the ids it puts around a plain text. */
ct_status ct_gguf_vocab_special_flags(const ct_tokenizer *tok, bool *bos, bool *eos, ct_err *err);
ct_status ct_gguf_vocab_add(ct_gguf_writer *w, const ct_gguf_vocab_opts *o, const char **model_out, ct_err *err);

#endif
