/* Internal structures of the tokenizer (src/tok/). The public API is include/ctune/tokenizer.h.
 *
 * Pipeline mirrored from HF tokenizers `TokenizerImpl::encode_single_sequence`:
 *   raw text → split on non-normalized added tokens → normalizer per remaining segment
 *   → split on normalized added tokens → pre-tokenizer (list of pieces) → BPE model per piece
 *   → post-processor (BOS etc.). Decode: ids → tokens → decoder chain → UTF-8 (lossy). */
#ifndef CT_TOK_INTERNAL_H
#define CT_TOK_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "ctune/tokenizer.h"

/* ---- string → int32 hash map (open addressing; keys point into caller-owned memory) ---- */
typedef struct ct_strmap {
    const char **keys; /* NULL = empty slot */
    uint32_t *klen;
    int32_t *vals;
    size_t cap; /* power of two */
    size_t n;
} ct_strmap;

ct_status ct_strmap_init(ct_strmap *m, size_t expected, ct_err *err);
void ct_strmap_free(ct_strmap *m);
/* Inserts or overwrites. `key` must outlive the map. */
ct_status ct_strmap_put(ct_strmap *m, const char *key, size_t len, int32_t val, ct_err *err);
int32_t ct_strmap_get(const ct_strmap *m, const char *key, size_t len); /* -1 if absent */
uint64_t ct_tok_hash(const void *data, size_t len);

/* ---- (id, id) → (rank, merged id) map for BPE merges ---- */
typedef struct ct_pairmap {
    uint64_t *keys; /* (a << 32 | b) + 1; 0 = empty */
    int32_t *rank;
    int32_t *merged;
    size_t cap, n;
} ct_pairmap;

ct_status ct_pairmap_init(ct_pairmap *m, size_t expected, ct_err *err);
void ct_pairmap_free(ct_pairmap *m);
/* Returns false if the pair already exists (the first rank is kept). */
bool ct_pairmap_put(ct_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t merged);
bool ct_pairmap_get(const ct_pairmap *m, int32_t a, int32_t b, int32_t *rank, int32_t *merged);


/* ---- list of string pieces stored back to back in one buffer ---- */
typedef struct ct_pieces {
    ct_buf text;
    size_t *off, *len;
    size_t n, cap;
} ct_pieces;
ct_status ct_pieces_add(ct_pieces *p, const char *s, size_t len, ct_err *err);
/* Registers the `len` bytes already written (after ct_buf_reserve) at text.data + text.len. */
ct_status ct_pieces_add_tail(ct_pieces *p, size_t len, ct_err *err);
void ct_pieces_clear(ct_pieces *p);
void ct_pieces_free(ct_pieces *p);

/* ---- normalizers (HF normalizers/) ---- */
typedef enum ct_norm_type {
    CT_NORM_SEQUENCE,
    CT_NORM_NFC,
    CT_NORM_NFD,
    CT_NORM_NFKC,
    CT_NORM_NFKD,
    CT_NORM_LOWERCASE,
    CT_NORM_PREPEND,
    CT_NORM_REPLACE,
    CT_NORM_STRIP,
} ct_norm_type;

typedef struct ct_normalizer {
    ct_norm_type type;
    struct ct_normalizer *items; /* SEQUENCE */
    size_t n_items;
    char *str;          /* PREPEND: prepend; REPLACE: literal pattern (if !re) */
    size_t str_len;
    char *content;      /* REPLACE: replacement */
    size_t content_len;
    pcre2_code *re;     /* REPLACE with {"Regex": ...} */
    bool strip_left, strip_right;
} ct_normalizer;

ct_status ct_normalizer_parse(ct_normalizer *n, const void *json, const char *where, ct_err *err);
void ct_normalizer_free(ct_normalizer *n);
/* Normalizes in[0..len) into *out (cleared first). */
ct_status ct_normalizer_apply(const ct_normalizer *n, const char *in, size_t len, ct_buf *out,
                              ct_err *err);

/* ---- pre-tokenizers (HF pre_tokenizers/) ---- */
typedef enum ct_pretok_type {
    CT_PRETOK_SEQUENCE,
    CT_PRETOK_SPLIT,
    CT_PRETOK_BYTELEVEL,
    CT_PRETOK_METASPACE,
    CT_PRETOK_DIGITS,
} ct_pretok_type;

typedef enum ct_split_behavior {
    CT_SPLIT_REMOVED,
    CT_SPLIT_ISOLATED,
    CT_SPLIT_MERGED_WITH_PREVIOUS,
    CT_SPLIT_MERGED_WITH_NEXT,
    CT_SPLIT_CONTIGUOUS,
} ct_split_behavior;

typedef enum ct_prepend_scheme {
    CT_PREPEND_ALWAYS,
    CT_PREPEND_FIRST,
    CT_PREPEND_NEVER,
} ct_prepend_scheme;

typedef struct ct_pretok {
    ct_pretok_type type;
    struct ct_pretok *items; /* SEQUENCE */
    size_t n_items;
    pcre2_code *re;          /* SPLIT regex (or escaped literal); BYTELEVEL use_regex */
    ct_split_behavior behavior;
    bool invert;
    bool add_prefix_space;   /* BYTELEVEL */
    bool use_regex;          /* BYTELEVEL */
    char replacement[8];     /* METASPACE (UTF-8 of the replacement char) */
    size_t replacement_len;
    ct_prepend_scheme prepend_scheme;
    bool split;              /* METASPACE */
    bool individual_digits;  /* DIGITS */
} ct_pretok;

ct_status ct_pretok_parse(ct_pretok *p, const void *json, const char *where, ct_err *err);
void ct_pretok_free(ct_pretok *p);
/* Applies to every piece of *in, producing *out (cleared first). `first_segment` is true when
 * the pieces come from the start of the input (Metaspace prepend_scheme "first"). */
ct_status ct_pretok_apply(const ct_pretok *p, const ct_pieces *in, bool first_segment,
                          ct_pieces *out, ct_err *err);
/* Compiles a pattern with PCRE2 (UTF + UCP, JIT when available); `literal` escapes it. */
ct_status ct_regex_compile(const char *pat, size_t len, bool literal, pcre2_code **out,
                           const char *where, ct_err *err);

/* GPT-2 byte ↔ unicode map (HF pre_tokenizers/byte_level.rs `bytes_char`). */
uint32_t ct_bytelevel_char(uint8_t b);          /* byte → code point */
int ct_bytelevel_byte(uint32_t cp);             /* code point → byte, -1 if not in the map */

/* ---- BPE model (HF models/bpe/model.rs) ---- */
typedef struct ct_bpe_cache ct_bpe_cache;

typedef struct ct_bpe {
    ct_strmap vocab;          /* model vocab token → id (keys in vocab_arena) */
    char *vocab_arena;
    ct_pairmap merges;
    int32_t *merge_id;        /* [n merges] merge rank → the id it produces (the heap keeps ranks) */
    int32_t unk_id;           /* -1 when no unk_token */
    bool fuse_unk, byte_fallback, ignore_merges;
    char *cont_prefix, *end_suffix; /* continuing_subword_prefix / end_of_word_suffix or NULL */
    int32_t byte_ids[256];    /* "<0xXX>" ids for byte_fallback, -1 if absent */
    ct_bpe_cache *cache;
} ct_bpe;

/* Tokenizes one pre-token `word` (already byte-level mapped when applicable); appends ids. */
ct_status ct_bpe_tokenize(const ct_bpe *m, const char *word, size_t len, ct_ids *out, ct_err *err);
ct_status ct_bpe_cache_init(ct_bpe *m, ct_err *err);
void ct_bpe_cache_free(ct_bpe *m);

/* ---- added tokens (HF tokenizer/added_vocabulary.rs) ---- */
typedef struct ct_added_token {
    char *content;
    size_t len;
    int32_t id;
    bool special, lstrip, rstrip, single_word, normalized;
} ct_added_token;

/* Byte trie over added-token contents for leftmost-longest matching. Sparse: a node is 16 bytes
 * (first child, next sibling, token, edge byte), so memory is proportional to the tokens' total
 * length (a dense 256-way node per byte cost 1 KiB per byte of token text: 4 GB for a 4 MB token);
 * the root's children are a direct table, the first and hottest step of every match. */
typedef struct ct_trie_node {
    int32_t child;   /* first child (0 = none; node 0 is the root) */
    int32_t sibling; /* next child of the same parent (0 = none) */
    int32_t token;   /* index into added[] of the token ending here, -1 if none */
    uint8_t byte;    /* label of the edge from the parent */
} ct_trie_node;

typedef struct ct_trie {
    ct_trie_node *node;
    size_t n, cap;
    int32_t root[256]; /* root's child per first byte (0 = none) */
} ct_trie;

/* Longest added token ctune loads (tokenizer.json added_tokens[].content): matching costs up to
 * this many steps per text position, so it bounds the work per byte of text. Real tokenizers'
 * added tokens are tens of bytes. */
#define CT_ADDED_MAX_BYTES ((size_t)64 << 10)

typedef struct ct_match {
    size_t start, end;  /* span covered (including stripped whitespace) */
    int32_t id;
} ct_match;

ct_status ct_trie_add(ct_trie *t, const char *s, size_t len, int32_t token, ct_err *err);
void ct_trie_free(ct_trie *t);
/* Finds the added-token matches in s[0..len) (leftmost-longest, lstrip/rstrip/single_word).
 * *out is malloc'd (NULL when no match). */
ct_status ct_added_find(const ct_trie *t, const ct_added_token *added, const char *s, size_t len,
                        ct_match **out, size_t *n_out, ct_err *err);

/* ---- decoders (HF decoders/) ---- */
typedef enum ct_dec_type {
    CT_DEC_SEQUENCE,
    CT_DEC_BYTELEVEL,
    CT_DEC_REPLACE,
    CT_DEC_BYTEFALLBACK,
    CT_DEC_FUSE,
    CT_DEC_STRIP,
    CT_DEC_METASPACE,
} ct_dec_type;

typedef struct ct_decoder {
    ct_dec_type type;
    struct ct_decoder *items;
    size_t n_items;
    char *pattern, *content; /* REPLACE (string pattern only); STRIP content */
    size_t pattern_len, content_len;
    size_t start, stop;      /* STRIP */
    char replacement[8];     /* METASPACE */
    size_t replacement_len;
    bool prepend;            /* METASPACE: strip the leading space of the first token */
} ct_decoder;

ct_status ct_decoder_parse(ct_decoder *d, const void *json, const char *where, ct_err *err);
void ct_decoder_free(ct_decoder *d);

/* ---- post-processor (TemplateProcessing / ByteLevel / Roberta / Bert / Sequence) ---- */
typedef struct ct_postproc {
    int32_t *prefix, *suffix; /* ids added around sequence A for a single sequence */
    size_t n_prefix, n_suffix;
} ct_postproc;

/* ---- the tokenizer ---- */
struct ct_tokenizer {
    char *path;              /* tokenizer.json path, for messages */
    ct_bpe bpe;
    bool has_normalizer, has_pretok, has_decoder;
    ct_normalizer normalizer;
    ct_pretok pretok;
    ct_decoder decoder;
    ct_postproc post;

    ct_added_token *added;   /* added_tokens[] */
    size_t n_added;
    ct_trie trie_raw;        /* non-normalized added tokens, matched in raw text */
    ct_trie trie_norm;       /* normalized added tokens, matched after normalization */
    bool has_raw, has_norm;

    char **id_to_token;      /* [n_ids] token strings (vocab and added), NULL for holes */
    uint32_t *id_len;
    uint8_t *id_flags;       /* CT_TOK_FLAG_* */
    int32_t n_ids;
    size_t ids_cap;

    int32_t bos_id, eos_id, pad_id, unk_id;
    bool add_bos, add_eos, clean_up_spaces;
    char *chat_template;
    int64_t model_max_length;
};

/* Builds a tokenizer from a parsed tokenizer.json object (`json`: a json_t *); `path` (copied)
 * names it in messages. The tokenizer_config.json settings keep their defaults for the caller to
 * fill: bos/eos/pad -1, unk the model's unk_token, add_bos/add_eos/clean_up_spaces false, no chat
 * template, model_max_length -1. */
ct_status ct_tokenizer_from_json(const void *json, const char *path, ct_tokenizer **out, ct_err *err);
/* gguf_tok.c: ct_tokenizer_load and ct_tokenizer_read_chat_template for a GGUF file's
 * tokenizer.* metadata (the inverse of gguf_vocab.c). */
ct_status ct_tokenizer_load_gguf(const char *path, ct_tokenizer **out, ct_err *err);
ct_status ct_tokenizer_read_chat_template_gguf(const char *path, char **out, ct_err *err);

#define CT_TOK_FLAG_SPECIAL 1u
#define CT_TOK_FLAG_ADDED 2u

/* Rust char::is_whitespace (Unicode White_Space). */
bool ct_unicode_is_space(uint32_t cp);

/* UTF-8 helpers. */
size_t ct_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp); /* bytes used, 0 if invalid */
size_t ct_utf8_encode(uint32_t cp, char out[4]);
/* Offset of the first invalid byte, or len if the buffer is valid UTF-8. */
size_t ct_utf8_validate(const char *s, size_t len);
/* Appends s[0..len) with invalid sequences replaced by U+FFFD (maximal subparts, as Rust's
 * String::from_utf8_lossy and WHATWG TextDecoder). */
ct_status ct_utf8_lossy_append(ct_buf *out, const char *s, size_t len, ct_err *err);

#endif
