/* A GGUF file's tokenizer.* metadata → ct_tokenizer: the inverse of gguf_vocab.c (rules in
 * gguf_vocab.h), for its files and for those of llama.cpp's convert_hf_to_gguf.py. The tokenizer.json
 * object of the Hugging Face directory behind the file is rebuilt in memory and loaded by
 * ct_tokenizer_from_json; tokenizer_config.json's settings come from the GGUF keys.
 *  - "gpt2" (byte-level BPE) + tokenizer.ggml.pre, one of ct_gguf_pre's names (qwen2, qwen35,
 *    llama-bpe): normalizer NFC or none, Split(regex, Isolated) + ByteLevel pre-tokenizer, BPE over
 *    the NORMAL / BYTE / UNKNOWN tokens with tokenizer.ggml.merges (ignore_merges for Llama-3),
 *    CONTROL tokens as special added tokens, USER_DEFINED ones as non-special added tokens,
 *    ByteLevel decoder;
 *  - "llama" (SentencePiece-style BPE with byte fallback) as transformers' LlamaConverter writes
 *    it: Prepend("▁") (tokenizer.ggml.add_space_prefix, default true) + Replace(" ", "▁")
 *    normalizer, BPE with byte_fallback and fuse_unk over every token, UNKNOWN / CONTROL tokens as
 *    special added tokens, USER_DEFINED as non-special ones, decoder Replace("▁", " "),
 *    ByteFallback, Fuse, Strip(1 leading space when the prefix is added), and the merges rebuilt
 *    from the scores (spm_merges);
 *  - both: BOS / EOS in a TemplateProcessing post-processor when add_bos_token / add_eos_token
 *    (what HF's tokenizer(text) puts around a plain text); UNUSED tokens (the "[PAD<i>]" padding
 *    up to the embedding rows) are no tokens.
 * Not in a GGUF, so taken from the family: clean_up_tokenization_spaces (ct_gguf_pre), add_bos
 * (the pretraining BOS flag: add_bos_token for "llama", false for "gpt2" where the post-processor
 * holds it, as Llama-3's tokenizer_config.json has no add_bos_token), model_max_length (-1).
 * Errors name the GGUF file and key. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/gguf_read.h"
#include "tok/gguf_vocab.h"
#include "tok/tok_internal.h"

/* llama.cpp token types (llama.h enum llama_token_type). */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5, TT_BYTE = 6 };

#define MAX_TOKENS ((uint64_t)1 << 28)

typedef struct gtok {
    const ct_gguf *g;
    const char *path;
    bool spm;               /* "llama" */
    size_t n;               /* tokenizer.ggml.tokens items */
    const char **tok;       /* [n] views into the mapping (not NUL-terminated) */
    size_t *len;            /* [n] */
    int32_t *type;          /* [n] */
    double *score;          /* [n] ("llama" only) */
    ct_strmap map;          /* token text → id, UNUSED tokens left out */
} gtok;

static void gtok_free(gtok *x) {
    free(x->tok);
    free(x->len);
    free(x->type);
    free(x->score);
    ct_strmap_free(&x->map);
}

static bool is_int_type(ct_gguf_type t) {
    return t == CT_GGUF_U8 || t == CT_GGUF_I8 || t == CT_GGUF_U16 || t == CT_GGUF_I16 || t == CT_GGUF_U32 ||
           t == CT_GGUF_I32 || t == CT_GGUF_U64 || t == CT_GGUF_I64;
}

/* A required array key with items of the kind `want` names ("strings", "integers", "floats"). */
static ct_status need_arr(const gtok *x, const char *key, const char *want, ct_gguf_arr *a, ct_err *err) {
    if (!ct_gguf_has(x->g, key))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: %s: missing (a %s tokenizer needs it)", x->path, key,
                          x->spm ? "\"llama\"" : "\"gpt2\"");
    if (!ct_gguf_get_arr(x->g, key, a, err)) return err->code;
    bool ok = !strcmp(want, "strings")  ? a->type == CT_GGUF_STRING
              : !strcmp(want, "floats") ? a->type == CT_GGUF_F32 || a->type == CT_GGUF_F64
                                        : is_int_type(a->type);
    if (!ok) return ct_err_set(err, CT_ERR_FORMAT, "%s: %s: expected an array of %s", x->path, key, want);
    return CT_OK;
}

static ct_status same_count(const gtok *x, const char *key, const ct_gguf_arr *a, ct_err *err) {
    if (a->n == x->n) return CT_OK;
    return ct_err_set(err, CT_ERR_FORMAT, "%s: %s has %llu items, tokenizer.ggml.tokens %zu", x->path, key,
                      (unsigned long long)a->n, x->n);
}

/* tokens, token_type (and scores for "llama"); the text → id map. */
static ct_status read_tokens(gtok *x, ct_err *err) {
    ct_gguf_arr a;
    if (need_arr(x, "tokenizer.ggml.tokens", "strings", &a, err)) return err->code;
    if (a.n == 0 || a.n > MAX_TOKENS)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: tokenizer.ggml.tokens: %llu tokens (expected 1 to %llu)", x->path,
                          (unsigned long long)a.n, (unsigned long long)MAX_TOKENS);
    x->n = (size_t)a.n;
    x->tok = malloc(x->n * sizeof *x->tok);
    x->len = malloc(x->n * sizeof *x->len);
    x->type = malloc(x->n * sizeof *x->type);
    if (!x->tok || !x->len || !x->type) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    const uint8_t *cur = a.data;
    for (size_t i = 0; i < x->n; i++) {
        x->tok[i] = ct_gguf_arr_next_str(&a, &cur, &x->len[i]);
        if (!x->tok[i] || memchr(x->tok[i], 0, x->len[i]) || ct_utf8_validate(x->tok[i], x->len[i]) != x->len[i])
            return ct_err_set(err, CT_ERR_FORMAT, "%s: tokenizer.ggml.tokens[%zu]: not a UTF-8 text without NUL",
                              x->path, i);
    }
    if (need_arr(x, "tokenizer.ggml.token_type", "integers", &a, err) ||
        same_count(x, "tokenizer.ggml.token_type", &a, err))
        return err->code;
    for (size_t i = 0; i < x->n; i++) {
        int64_t t = ct_gguf_arr_int(&a, i);
        if (t < TT_NORMAL || t > TT_BYTE)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: tokenizer.ggml.token_type[%zu]: %lld is not a llama.cpp token "
                                                  "type (1..6)", x->path, i, (long long)t);
        x->type[i] = (int32_t)t;
    }
    if (x->spm) {
        if (need_arr(x, "tokenizer.ggml.scores", "floats", &a, err) || same_count(x, "tokenizer.ggml.scores", &a, err))
            return err->code;
        if (!(x->score = malloc(x->n * sizeof *x->score))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < x->n; i++)
            if (!isfinite(x->score[i] = ct_gguf_arr_float(&a, i)))
                return ct_err_set(err, CT_ERR_FORMAT, "%s: tokenizer.ggml.scores[%zu] is not finite", x->path, i);
    }
    if (ct_strmap_init(&x->map, x->n, err)) return err->code;
    for (size_t i = 0; i < x->n; i++) {
        if (x->type[i] == TT_UNUSED) continue;
        int32_t prev = ct_strmap_get(&x->map, x->tok[i], x->len[i]);
        if (prev >= 0)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: tokenizer.ggml.tokens[%zu] \"%.*s\" repeats token %d", x->path,
                              i, (int)x->len[i], x->tok[i], prev);
        if (ct_strmap_put(&x->map, x->tok[i], x->len[i], (int32_t)i, err)) return err->code;
    }
    return CT_OK;
}

/* Whether token i is in model.vocab (else an added token only, or no token). */
static bool in_vocab(const gtok *x, size_t i) {
    int32_t t = x->type[i];
    return t != TT_UNUSED && (x->spm || (t != TT_CONTROL && t != TT_USER_DEFINED));
}

static bool is_added(const gtok *x, size_t i) {
    int32_t t = x->type[i];
    return t == TT_CONTROL || t == TT_USER_DEFINED || (x->spm && t == TT_UNKNOWN);
}

static json_t *tok_str(const gtok *x, size_t i) { return json_stringn_nocheck(x->tok[i], x->len[i]); }

/* tokenizer.ggml.merges ("left right", both parts and their concatenation vocab tokens) as
 * model.merges. */
static ct_status gpt2_merges(const gtok *x, json_t *merges, ct_err *err) {
    ct_gguf_arr a;
    if (need_arr(x, "tokenizer.ggml.merges", "strings", &a, err)) return err->code;
    const uint8_t *cur = a.data;
    ct_buf cat = {0};
    ct_status st = CT_OK;
    for (uint64_t i = 0; i < a.n && !st; i++) {
        size_t len;
        const char *s = ct_gguf_arr_next_str(&a, &cur, &len);
        const char *sp = s ? memchr(s, ' ', len) : NULL;
        if (!sp || memchr(sp + 1, ' ', len - (size_t)(sp - s) - 1)) {
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: tokenizer.ggml.merges[%llu]: expected \"left right\" (one space)",
                            x->path, (unsigned long long)i);
            break;
        }
        size_t ll = (size_t)(sp - s), rl = len - ll - 1;
        cat.len = 0;
        if ((st = ct_buf_append(&cat, s, ll, err)) || (st = ct_buf_append(&cat, sp + 1, rl, err))) break;
        const char *part[3] = {s, sp + 1, cat.data ? cat.data : ""};
        size_t plen[3] = {ll, rl, cat.len};
        for (int k = 0; k < 3 && !st; k++) {
            int32_t id = ct_strmap_get(&x->map, part[k], plen[k]);
            if (id < 0 || !in_vocab(x, (size_t)id))
                st = ct_err_set(err, CT_ERR_FORMAT, "%s: tokenizer.ggml.merges[%llu]: \"%.*s\" is not a vocabulary "
                                                    "token", x->path, (unsigned long long)i, (int)plen[k], part[k]);
        }
        if (!st && json_array_append_new(merges, json_stringn_nocheck(s, len)))
            st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    ct_buf_free(&cat);
    return st;
}

typedef struct split {
    int32_t l, r;
} split;

typedef struct cand {
    int32_t id;
    size_t first, n; /* its splits */
} cand;

static int cmp_split(const void *a, const void *b) {
    const split *p = a, *q = b;
    return p->l != q->l ? (p->l > q->l) - (p->l < q->l) : (p->r > q->r) - (p->r < q->r);
}

static int cmp_cand(const void *a, const void *b, void *user) {
    const gtok *x = user;
    const cand *p = a, *q = b;
    double sp = x->score[p->id], sq = x->score[q->id];
    if (sp != sq) return sp < sq ? 1 : -1; /* highest score first */
    return (p->id > q->id) - (p->id < q->id);
}

/* SentencePiece merges as transformers' SentencePieceExtractor derives them: every split of a token
 * (at a character boundary) into two tokens is a merge; tokens by score, highest first; a token's
 * splits by (left id, right id); equal scores keep id order (the extractor's stable sort).
 * gguf_vocab.c's scores (minus the rank of the first merge making the token) and SentencePiece's
 * own give that order; two NORMAL tokens that have splits and equal scores mean the scores are not
 * ranks (convert_hf_to_gguf's -1000 for every token of a tokenizer.json): refused. Control and
 * byte pieces (SentencePiece scores them all 0) may tie. */
static ct_status spm_merges(const gtok *x, json_t *merges, ct_err *err) {
    split *sp = NULL;
    cand *c = NULL;
    size_t nsp = 0, csp = 0, nc = 0, cc = 0;
    ct_status st = CT_OK;
    for (size_t id = 0; id < x->n && !st; id++) {
        if (x->type[id] == TT_UNUSED) continue;
        const char *s = x->tok[id];
        size_t len = x->len[id], start = nsp;
        for (size_t i = 0; i < len && !st;) {
            uint32_t cp;
            size_t k = ct_utf8_decode((const unsigned char *)s + i, len - i, &cp);
            i += k ? k : 1;
            if (i >= len) break;
            int32_t l = ct_strmap_get(&x->map, s, i), r = ct_strmap_get(&x->map, s + i, len - i);
            if (l < 0 || r < 0) continue;
            if (nsp == csp) {
                split *g = realloc(sp, (csp = csp ? 2 * csp : 1024) * sizeof *sp);
                if (!g) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
                else sp = g;
            }
            if (!st) sp[nsp++] = (split){l, r};
        }
        if (st || nsp == start) continue;
        qsort(sp + start, nsp - start, sizeof *sp, cmp_split);
        if (nc == cc) {
            cand *g = realloc(c, (cc = cc ? 2 * cc : 1024) * sizeof *c);
            if (!g) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            else c = g;
        }
        if (!st) c[nc++] = (cand){(int32_t)id, start, nsp - start};
    }
    if (!st && nc) qsort_r(c, nc, sizeof *c, cmp_cand, (void *)x);
    int32_t p = -1; /* a NORMAL token of the current run of equal scores (control / byte pieces may tie) */
    for (size_t i = 0; i < nc && !st; i++) {
        int32_t q = c[i].id;
        if (i && x->score[q] != x->score[c[i - 1].id]) p = -1;
        if (x->type[q] != TT_NORMAL) continue;
        if (p < 0) {
            p = q;
            continue;
        }
        st = ct_err_set(err, CT_ERR_UNSUPPORTED,
                        "%s: tokenizer.ggml.scores: tokens %d \"%.*s\" and %d \"%.*s\" both score %g, so the scores do "
                        "not order the merges (convert_hf_to_gguf writes -1000 for every token of a tokenizer.json; "
                        "export with the SentencePiece model or with ctune)",
                        x->path, p, (int)x->len[p], x->tok[p], q, (int)x->len[q], x->tok[q], x->score[p]);
    }
    for (size_t i = 0; i < nc && !st; i++)
        for (size_t k = c[i].first; k < c[i].first + c[i].n && !st; k++)
            if (json_array_append_new(merges, json_pack("[s#s#]", x->tok[sp[k].l], x->len[sp[k].l], x->tok[sp[k].r],
                                                        x->len[sp[k].r])))
                st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    free(sp);
    free(c);
    return st;
}

/* An optional token id key; it must name a token. */
static ct_status opt_id(const gtok *x, const char *key, int32_t *id, ct_err *err) {
    uint32_t v;
    *id = -1;
    if (!ct_gguf_has(x->g, key)) return CT_OK;
    if (!ct_gguf_get_u32(x->g, key, &v, err)) return err->code;
    if (v >= x->n || x->type[v] == TT_UNUSED)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: %s: %u is not a token id (%zu tokens%s)", x->path, key, v, x->n,
                          v < x->n ? "; this one is UNUSED padding" : "");
    *id = (int32_t)v;
    return CT_OK;
}

static ct_status opt_bool(const gtok *x, const char *key, bool def, bool *v, ct_err *err) {
    *v = def;
    if (ct_gguf_has(x->g, key) && !ct_gguf_get_bool(x->g, key, v, err)) return err->code;
    return CT_OK;
}

/* TemplateProcessing single: [bos] A [eos]. */
static json_t *post_processor(const gtok *x, int32_t bos, int32_t eos) {
    json_t *single = json_array(), *specials = json_object();
    int32_t ids[2] = {bos, eos};
    for (int k = 0; k < 2; k++) {
        if (k == 1) json_array_append_new(single, json_pack("{s:{s:s,s:i}}", "Sequence", "id", "A", "type_id", 0));
        if (ids[k] < 0) continue;
        json_t *name = tok_str(x, (size_t)ids[k]);
        json_array_append_new(single, json_pack("{s:{s:O,s:i}}", "SpecialToken", "id", name, "type_id", 0));
        json_object_setn_new_nocheck(specials, x->tok[ids[k]], x->len[ids[k]],
                                     json_pack("{s:O,s:[i],s:[O]}", "id", name, "ids", ids[k], "tokens", name));
        json_decref(name);
    }
    return json_pack("{s:s,s:o,s:o}", "type", "TemplateProcessing", "single", single, "special_tokens", specials);
}

/* The tokenizer.json object (see the top of the file). */
static ct_status build_json(const gtok *x, const ct_gguf_pre *pre, int32_t unk, bool space_prefix, int32_t bos,
                            int32_t eos, json_t **out, ct_err *err) {
    json_t *vocab = json_object(), *merges = json_array(), *added = json_array();
    if (!vocab || !merges || !added) goto oom;
    for (size_t i = 0; i < x->n; i++) {
        if (in_vocab(x, i) && json_object_setn_new_nocheck(vocab, x->tok[i], x->len[i], json_integer((json_int_t)i)))
            goto oom;
        if (is_added(x, i) &&
            json_array_append_new(added, json_pack("{s:i,s:o,s:b,s:b,s:b,s:b,s:b}", "id", (int)i, "content",
                                                   tok_str(x, i), "single_word", 0, "lstrip", 0, "rstrip", 0,
                                                   "normalized", 0, "special", x->type[i] != TT_USER_DEFINED)))
            goto oom;
    }
    ct_status st = x->spm ? spm_merges(x, merges, err) : gpt2_merges(x, merges, err);
    if (st) {
        json_decref(vocab), json_decref(merges), json_decref(added);
        return st;
    }
    json_t *model = json_pack("{s:s,s:o,s:o,s:b,s:b,s:b}", "type", "BPE", "vocab", vocab, "merges", merges,
                              "byte_fallback", x->spm, "fuse_unk", x->spm, "ignore_merges", pre && pre->ignore_merges);
    vocab = merges = NULL;
    if (model && unk >= 0) json_object_set_new(model, "unk_token", tok_str(x, (size_t)unk));
    json_t *root = json_pack("{s:o,s:o}", "model", model, "added_tokens", added);
    added = NULL;
    if (!root) goto oom;
    json_t *norm = NULL, *pretok = NULL, *dec = NULL;
    if (x->spm) {
        norm = json_pack("{s:s,s:[{s:s,s:{s:s},s:s}]}", "type", "Sequence", "normalizers", "type", "Replace", "pattern",
                         "String", " ", "content", "\xe2\x96\x81");
        if (norm && space_prefix)
            json_array_insert_new(json_object_get(norm, "normalizers"), 0,
                                  json_pack("{s:s,s:s}", "type", "Prepend", "prepend", "\xe2\x96\x81"));
        dec = json_pack("{s:s,s:[{s:s,s:{s:s},s:s},{s:s},{s:s}]}", "type", "Sequence", "decoders", "type", "Replace",
                        "pattern", "String", "\xe2\x96\x81", "content", " ", "type", "ByteFallback", "type", "Fuse");
        if (dec && space_prefix)
            json_array_append_new(json_object_get(dec, "decoders"),
                                  json_pack("{s:s,s:s,s:i,s:i}", "type", "Strip", "content", " ", "start", 1, "stop", 0));
    } else {
        if (pre->nfc) norm = json_pack("{s:s}", "type", "NFC");
        pretok = json_pack("{s:s,s:[{s:s,s:{s:s},s:s,s:b},{s:s,s:b,s:b,s:b}]}", "type", "Sequence", "pretokenizers",
                           "type", "Split", "pattern", "Regex", pre->regex, "behavior", "Isolated", "invert", 0, "type",
                           "ByteLevel", "add_prefix_space", 0, "trim_offsets", 0, "use_regex", 0);
        dec = json_pack("{s:s,s:b,s:b,s:b}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 0,
                        "use_regex", 0);
    }
    if (norm) json_object_set_new(root, "normalizer", norm);
    if (pretok) json_object_set_new(root, "pre_tokenizer", pretok);
    if (dec) json_object_set_new(root, "decoder", dec);
    if (bos >= 0 || eos >= 0) json_object_set_new(root, "post_processor", post_processor(x, bos, eos));
    *out = root;
    return CT_OK;
oom:
    json_decref(vocab), json_decref(merges), json_decref(added);
    return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
}

/* tokenizer.ggml.model (and .pre for "gpt2"): *pre NULL for "llama". */
static ct_status read_kind(gtok *x, const ct_gguf_pre **pre, ct_err *err) {
    const char *s;
    size_t len;
    *pre = NULL;
    if (!ct_gguf_has(x->g, "tokenizer.ggml.model"))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: tokenizer.ggml.model: missing (the file holds no tokenizer)", x->path);
    if (!ct_gguf_get_str(x->g, "tokenizer.ggml.model", &s, &len, err)) return err->code;
    if (len == 5 && !memcmp(s, "llama", 5)) {
        x->spm = true;
        return CT_OK;
    }
    if (len != 4 || memcmp(s, "gpt2", 4))
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: tokenizer.ggml.model: \"%.*s\" is not supported (ctune loads "
                                                   "\"gpt2\" byte-level BPE and \"llama\" SentencePiece BPE)",
                          x->path, (int)(len > 64 ? 64 : len), s);
    if (!ct_gguf_has(x->g, "tokenizer.ggml.pre"))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: tokenizer.ggml.pre: missing (a \"gpt2\" tokenizer needs its "
                                              "pre-tokenizer: qwen2, qwen35 or llama-bpe)", x->path);
    if (!ct_gguf_get_str(x->g, "tokenizer.ggml.pre", &s, &len, err)) return err->code;
    if (!(*pre = ct_gguf_pre_by_name(s, len)))
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: tokenizer.ggml.pre: \"%.*s\" is not supported (ctune knows "
                                                   "qwen2, qwen35 and llama-bpe)", x->path, (int)(len > 64 ? 64 : len), s);
    return CT_OK;
}

static ct_status read_template(const ct_gguf *g, char **out, ct_err *err) {
    const char *s;
    size_t len;
    *out = NULL;
    if (!ct_gguf_has(g, "tokenizer.chat_template")) return CT_OK;
    if (!ct_gguf_get_str(g, "tokenizer.chat_template", &s, &len, err)) return err->code;
    if (!(*out = malloc(len + 1))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    memcpy(*out, s, len);
    (*out)[len] = 0;
    return CT_OK;
}

ct_status ct_tokenizer_load_gguf(const char *path, ct_tokenizer **out, ct_err *err) {
    *out = NULL;
    ct_gguf *g = NULL;
    if (ct_gguf_open(path, &g, err)) return err->code;
    gtok x = {.g = g, .path = ct_gguf_path(g)};
    const ct_gguf_pre *pre = NULL;
    ct_tokenizer *t = NULL;
    json_t *root = NULL;
    int32_t bos = -1, eos = -1, unk = -1, pad = -1;
    bool add_bos = false, add_eos = false, space_prefix = true;
    ct_status st = read_kind(&x, &pre, err);
    if (!st) st = read_tokens(&x, err);
    if (!st) st = opt_id(&x, "tokenizer.ggml.bos_token_id", &bos, err);
    if (!st) st = opt_id(&x, "tokenizer.ggml.eos_token_id", &eos, err);
    if (!st) st = opt_id(&x, "tokenizer.ggml.unknown_token_id", &unk, err);
    if (!st) st = opt_id(&x, "tokenizer.ggml.padding_token_id", &pad, err);
    if (!st) st = opt_bool(&x, "tokenizer.ggml.add_bos_token", x.spm || pre->add_bos, &add_bos, err);
    if (!st) st = opt_bool(&x, "tokenizer.ggml.add_eos_token", false, &add_eos, err);
    if (!st) st = opt_bool(&x, "tokenizer.ggml.add_space_prefix", true, &space_prefix, err);
    if (!st && ((add_bos && bos < 0) || (add_eos && eos < 0)))
        st = ct_err_set(err, CT_ERR_FORMAT, "%s: tokenizer.ggml.%s_token is true but tokenizer.ggml.%s_token_id is "
                                            "missing", x.path, add_bos && bos < 0 ? "add_bos" : "add_eos",
                        add_bos && bos < 0 ? "bos" : "eos");
    int32_t model_unk = -1; /* model.unk_token ("llama"): the unknown id, else the UNKNOWN token */
    for (size_t i = 0; !st && x.spm && i < x.n && model_unk < 0; i++)
        if (x.type[i] == TT_UNKNOWN) model_unk = (int32_t)i;
    if (!st && x.spm && unk >= 0) model_unk = unk;
    if (!st) st = build_json(&x, pre, model_unk, space_prefix, add_bos ? bos : -1, add_eos ? eos : -1, &root, err);
    if (!st) st = ct_tokenizer_from_json(root, x.path, &t, err);
    if (!st) st = read_template(g, &t->chat_template, err);
    if (!st) {
        t->bos_id = bos, t->eos_id = eos, t->pad_id = pad;
        if (unk >= 0) t->unk_id = unk;
        t->add_bos = x.spm && add_bos;
        t->add_eos = x.spm && add_eos;
        t->clean_up_spaces = pre && pre->clean_up_spaces;
    }
    json_decref(root);
    gtok_free(&x);
    ct_gguf_close(g);
    if (st) {
        ct_tokenizer_free(t);
        return st;
    }
    *out = t;
    return CT_OK;
}

ct_status ct_tokenizer_read_chat_template_gguf(const char *path, char **out, ct_err *err) {
    *out = NULL;
    ct_gguf *g = NULL;
    if (ct_gguf_open(path, &g, err)) return err->code;
    ct_status st = read_template(g, out, err);
    ct_gguf_close(g);
    return st;
}
