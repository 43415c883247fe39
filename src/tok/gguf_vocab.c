/* Tokenizer → GGUF metadata (rules in gguf_vocab.h). */
#include "tok/gguf_vocab.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/file.h"
#include "base/json.h"
#include "ctune/tokenizer.h"

/* llama.cpp token types (llama.h enum llama_token_type / gguf-py TokenType). */
enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER_DEFINED = 4, TT_UNUSED = 5, TT_BYTE = 6 };

/* The byte-level pre-tokenizers llama.cpp knows (llama-vocab.cpp's tokenizer_pre arms) with the
 * HF tokenizer.json / tokenizer_config.json settings of the family each name stands for. */
static const ct_gguf_pre k_pre[] = {
    {"qwen2",
     "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
     "\\s+(?!\\S)|\\s+",
     true, false, false, false},
    {"llama-bpe",
     "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
     "\\s+(?!\\S)|\\s+",
     false, true, true, true},
    /* Qwen3.5: letter runs take combining marks (llama.cpp LLAMA_VOCAB_PRE_TYPE_QWEN35) */
    {"qwen35",
     "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+"
     "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     true, false, false, false},
};

const ct_gguf_pre *ct_gguf_pre_by_regex(const char *regex) {
    for (size_t i = 0; regex && i < sizeof k_pre / sizeof k_pre[0]; i++)
        if (!strcmp(regex, k_pre[i].regex)) return &k_pre[i];
    return NULL;
}

const ct_gguf_pre *ct_gguf_pre_by_name(const char *name, size_t len) {
    for (size_t i = 0; i < sizeof k_pre / sizeof k_pre[0]; i++)
        if (strlen(k_pre[i].name) == len && !memcmp(name, k_pre[i].name, len)) return &k_pre[i];
    return NULL;
}

typedef struct vocab_ctx {
    const char *path;
    json_t *root;
    char **tokens;   /* [n] (owned) */
    int32_t *types;  /* [n] */
    float *scores;   /* [n] (llama only) */
    int32_t n;
} vocab_ctx;

/* The pre_tokenizer's Split regex, or NULL; *byte_level tells whether a ByteLevel step is there. */
static const char *find_split_regex(const json_t *pt, bool *byte_level) {
    if (!json_is_object(pt)) return NULL;
    const char *type = ct_json_get_str(pt, "type");
    if (type && !strcmp(type, "ByteLevel")) *byte_level = true;
    if (type && !strcmp(type, "Split")) {
        const json_t *pat = json_object_get(pt, "pattern");
        return ct_json_get_str(pat, "Regex");
    }
    const char *found = NULL;
    const json_t *list = json_object_get(pt, "pretokenizers");
    size_t i;
    const json_t *e;
    json_array_foreach(list, i, e) {
        const char *r = find_split_regex(e, byte_level);
        if (r && !found) found = r;
    }
    return found;
}

/* SentencePiece's dummy prefix: a Prepend("▁") normalizer (Llama-2 legacy) or a Metaspace
 * pre-tokenizer that prepends (prepend_scheme "first" / "always", or add_prefix_space). */
static bool has_space_prefix(const json_t *node) {
    if (!json_is_object(node)) return false;
    const char *type = ct_json_get_str(node, "type");
    if (type && !strcmp(type, "Prepend")) {
        const char *p = ct_json_get_str(node, "prepend");
        return p && !strcmp(p, "\xe2\x96\x81");
    }
    if (type && !strcmp(type, "Metaspace")) {
        const char *scheme = ct_json_get_str(node, "prepend_scheme");
        return scheme ? strcmp(scheme, "never") != 0 : json_is_true(json_object_get(node, "add_prefix_space"));
    }
    const char *lists[2] = {"normalizers", "pretokenizers"};
    for (int k = 0; k < 2; k++) {
        size_t i;
        const json_t *e;
        json_array_foreach(json_object_get(node, lists[k]), i, e) if (has_space_prefix(e)) return true;
    }
    return false;
}

static bool looks_special(const char *t) {
    size_t n = strlen(t);
    if (!strcmp(t, "<pad>") || !strcmp(t, "<mask>") || !strcmp(t, "<2mass>") || !strcmp(t, "[@BOS@]")) return true;
    if (n >= 4 && !strncmp(t, "<|", 2) && !strcmp(t + n - 2, "|>")) return true;
    if (n >= 8 && !strncmp(t, "<\xef\xbd\x9c", 4) && !strcmp(t + n - 4, "\xef\xbd\x9c>")) return true;
    return n >= 8 && !strncmp(t, "<unused", 7) && t[n - 1] == '>';
}

static bool is_byte_token(const char *t) {
    static const char hex[] = "0123456789ABCDEFabcdef";
    return strlen(t) == 6 && !strncmp(t, "<0x", 3) && strchr(hex, t[3]) && strchr(hex, t[4]) && t[5] == '>';
}

/* Fills tokens / types from model.vocab and added_tokens, padding holes and the tail. */
static ct_status fill_tokens(vocab_ctx *v, bool spm, const char *unk, ct_err *err) {
    const json_t *vocab = json_object_get(json_object_get(v->root, "model"), "vocab");
    if (!json_is_object(vocab)) return ct_err_set(err, CT_ERR_FORMAT, "%s: model.vocab is not an object", v->path);
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)vocab, key, val) {
        json_int_t id = json_integer_value(val);
        if (!json_is_integer(val) || id < 0 || id >= v->n)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: model.vocab[\"%s\"] = %lld is outside the model's %d rows",
                              v->path, key, (long long)id, v->n);
        if (!(v->tokens[id] = strdup(key))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        v->types[id] = spm && is_byte_token(key) ? TT_BYTE : spm && unk && !strcmp(key, unk) ? TT_UNKNOWN : TT_NORMAL;
    }
    const json_t *added = json_object_get(v->root, "added_tokens");
    size_t i;
    json_array_foreach(added, i, val) {
        json_int_t id = json_integer_value(json_object_get(val, "id"));
        const char *content = ct_json_get_str(val, "content");
        if (!content || id < 0 || id >= v->n)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: added_tokens[%zu] has no content or an id outside the model's "
                                                  "%d rows", v->path, i, v->n);
        bool special = json_is_true(json_object_get(val, "special"));
        free(v->tokens[id]);
        if (!(v->tokens[id] = strdup(content))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        if (spm && unk && !strcmp(content, unk)) v->types[id] = TT_UNKNOWN;
        else v->types[id] = special || looks_special(content) ? TT_CONTROL : TT_USER_DEFINED;
    }
    for (int32_t id = 0; id < v->n; id++)
        if (!v->tokens[id]) {
            char pad[32];
            snprintf(pad, sizeof pad, "[PAD%d]", id);
            if (!(v->tokens[id] = strdup(pad))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            v->types[id] = TT_UNUSED;
        }
    return CT_OK;
}

/* merges[i] as "left right" (both spellings of tokenizer.json: "a b" or ["a", "b"]). */
static ct_status merge_text(const vocab_ctx *v, const json_t *m, size_t i, ct_buf *out, ct_err *err) {
    out->len = 0;
    if (json_is_string(m)) {
        ct_buf_puts(out, json_string_value(m));
    } else if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
               json_is_string(json_array_get(m, 1))) {
        for (size_t k = 0; k < 2; k++) {
            if (k) ct_buf_put(out, " ", 1);
            for (const char *c = json_string_value(json_array_get(m, k)); *c; c++)
                if (*c == ' ') ct_buf_put(out, "\xc4\xa0", 2); /* chr(ord(' ') + 256), as gguf-py */
                else ct_buf_put(out, c, 1);
        }
    } else {
        return ct_err_set(err, CT_ERR_FORMAT, "%s: model.merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", v->path, i);
    }
    if (out->oom) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!out->data) ct_buf_put(out, "", 0);
    return CT_OK;
}

static ct_status add_gpt2(ct_gguf_writer *w, vocab_ctx *v, const json_t *merges, ct_err *err) {
    size_t n = json_array_size(merges);
    char **m = calloc(n ? n : 1, sizeof *m);
    ct_buf b = {0};
    ct_status st = m ? CT_OK : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !st && i < n; i++) {
        st = merge_text(v, json_array_get(merges, i), i, &b, err);
        if (!st && !(m[i] = strdup(b.data))) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    if (!st) st = ct_gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)m, n, err);
    for (size_t i = 0; m && i < n; i++) free(m[i]);
    free(m);
    ct_buf_free(&b);
    return st;
}

static int cmp_id(const void *a, const void *b, void *user) {
    const vocab_ctx *v = user;
    return strcmp(v->tokens[*(const int32_t *)a], v->tokens[*(const int32_t *)b]);
}

/* Id of token text t through the sorted index, -1 when none. */
static int32_t find_token(const vocab_ctx *v, const int32_t *idx, const char *t) {
    size_t lo = 0, hi = (size_t)v->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(v->tokens[idx[mid]], t);
        if (!c) return idx[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

/* SentencePiece scores from the merge ranks (gguf_vocab.h). */
static ct_status spm_scores(vocab_ctx *v, const json_t *merges, ct_err *err) {
    size_t n = json_array_size(merges);
    for (int32_t i = 0; i < v->n; i++) v->scores[i] = -(float)n - 1.0f;
    int32_t *idx = malloc((size_t)v->n * sizeof *idx);
    if (!idx) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (int32_t i = 0; i < v->n; i++) idx[i] = i;
    qsort_r(idx, (size_t)v->n, sizeof *idx, cmp_id, v);
    ct_buf b = {0}, joined = {0};
    ct_status st = CT_OK;
    for (size_t r = n; !st && r-- > 0;) {
        st = merge_text(v, json_array_get(merges, r), r, &b, err);
        if (st) break;
        char *sp = strchr(b.data, ' ');
        if (!sp) {
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: model.merges[%zu] has no space between its parts", v->path, r);
            break;
        }
        joined.len = 0;
        ct_buf_put(&joined, b.data, (size_t)(sp - b.data));
        ct_buf_puts(&joined, sp + 1);
        if (joined.oom) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        int32_t id = st ? -1 : find_token(v, idx, joined.data);
        if (id >= 0) v->scores[id] = -(float)r; /* walking ranks downwards: the lowest rank wins */
    }
    free(idx);
    ct_buf_free(&b);
    ct_buf_free(&joined);
    return st;
}

static void vocab_free(vocab_ctx *v) {
    for (int32_t i = 0; v->tokens && i < v->n; i++) free(v->tokens[i]);
    free(v->tokens);
    free(v->types);
    free(v->scores);
    json_decref(v->root);
}

ct_status ct_gguf_vocab_special_flags(const ct_tokenizer *tok, bool *bos, bool *eos, ct_err *err) {
    ct_ids plain = {0}, full = {0};
    ct_status st = ct_tokenizer_encode(tok, "a", 1, false, &plain, err);
    if (!st) st = ct_tokenizer_encode_text(tok, "a", 1, &full, err);
    *bos = *eos = false;
    if (!st && full.n > plain.n && plain.n > 0) {
        *bos = full.data[0] != plain.data[0];
        *eos = full.data[full.n - 1] != plain.data[plain.n - 1];
    }
    ct_ids_free(&plain);
    ct_ids_free(&full);
    return st;
}

ct_status ct_gguf_vocab_add(ct_gguf_writer *w, const ct_gguf_vocab_opts *o, const char **model_out, ct_err *err) {
    vocab_ctx v = {0};
    char *path = ct_path_join(o->dir, "tokenizer.json");
    if (!path) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    v.path = path;
    ct_tokenizer *tok = NULL;
    ct_status st = ct_json_load_file(path, &v.root, err);
    if (!st) st = ct_tokenizer_load(o->dir, &tok, err);
    if (st) goto out;
    const json_t *model = json_object_get(v.root, "model");
    const char *mtype = ct_json_get_str(model, "type");
    if (!mtype || strcmp(mtype, "BPE")) {
        st = ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: GGUF export supports BPE tokenizers, model.type is %s", path,
                        mtype ? mtype : "missing");
        goto out;
    }
    bool spm = json_is_true(json_object_get(model, "byte_fallback")), byte_level = false;
    const char *regex = find_split_regex(json_object_get(v.root, "pre_tokenizer"), &byte_level);
    const char *pre = NULL;
    if (!spm) {
        const ct_gguf_pre *p = ct_gguf_pre_by_regex(regex);
        pre = p ? p->name : NULL;
        if (!byte_level || !pre) {
            st = ct_err_set(err, CT_ERR_UNSUPPORTED,
                            "%s: GGUF export knows the byte-level pre-tokenizers of Qwen2/3 (\"qwen2\"), Qwen3.5 "
                            "(\"qwen35\") and Llama-3 (\"llama-bpe\"); this tokenizer's %s is not one of them",
                            path, regex ? "Split regex" : "pre_tokenizer");
            goto out;
        }
    }
    v.n = o->vocab_size;
    if (ct_tokenizer_vocab_size(tok) > v.n) {
        st = ct_err_set(err, CT_ERR_SHAPE, "%s: the tokenizer has %d tokens, the model's embedding %d rows", path,
                        ct_tokenizer_vocab_size(tok), v.n);
        goto out;
    }
    v.tokens = calloc((size_t)v.n, sizeof *v.tokens);
    v.types = calloc((size_t)v.n, sizeof *v.types);
    v.scores = calloc((size_t)v.n, sizeof *v.scores);
    if (!v.tokens || !v.types || !v.scores) {
        st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        goto out;
    }
    const char *unk = ct_json_get_str(model, "unk_token");
    st = fill_tokens(&v, spm, unk, err);
    const json_t *merges = json_object_get(model, "merges");
    if (!st && !json_is_array(merges))
        st = ct_err_set(err, CT_ERR_FORMAT, "%s: model.merges is missing or not a list", path);
    if (!st) st = ct_gguf_set_str(w, "tokenizer.ggml.model", spm ? "llama" : "gpt2", err);
    if (!st && pre) st = ct_gguf_set_str(w, "tokenizer.ggml.pre", pre, err);
    if (!st && spm) /* llama.cpp's SentencePiece path prepends a space unless told not to */
        st = ct_gguf_set_bool(w, "tokenizer.ggml.add_space_prefix",
                              has_space_prefix(json_object_get(v.root, "normalizer")) ||
                                  has_space_prefix(json_object_get(v.root, "pre_tokenizer")),
                              err);
    if (!st) st = ct_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v.tokens, (size_t)v.n, err);
    if (!st && spm) st = spm_scores(&v, merges, err);
    if (!st && spm) st = ct_gguf_set_arr_f32(w, "tokenizer.ggml.scores", v.scores, (size_t)v.n, err);
    if (!st) st = ct_gguf_set_arr_i32(w, "tokenizer.ggml.token_type", v.types, (size_t)v.n, err);
    if (!st && !spm) st = add_gpt2(w, &v, merges, err);
    int32_t bos = ct_tokenizer_bos_id(tok), eos = ct_tokenizer_eos_id(tok), pad = ct_tokenizer_pad_id(tok);
    if (bos < 0) bos = o->fallback_bos;
    if (eos < 0) eos = o->fallback_eos;
    int32_t unk_id = unk ? ct_tokenizer_token_to_id(tok, unk) : -1;
    if (!st && bos >= 0) st = ct_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)bos, err);
    if (!st && eos >= 0) st = ct_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)eos, err);
    if (!st && unk_id >= 0) st = ct_gguf_set_u32(w, "tokenizer.ggml.unknown_token_id", (uint32_t)unk_id, err);
    if (!st && pad >= 0) st = ct_gguf_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)pad, err);
    bool add_bos = false, add_eos = false;
    if (!st) st = ct_gguf_vocab_special_flags(tok, &add_bos, &add_eos, err);
    if (!st) st = ct_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", add_bos, err);
    if (!st) st = ct_gguf_set_bool(w, "tokenizer.ggml.add_eos_token", add_eos, err);
    const char *tmpl = ct_tokenizer_chat_template(tok);
    if (!st && tmpl) st = ct_gguf_set_str(w, "tokenizer.chat_template", tmpl, err);
    if (!st && model_out) *model_out = spm ? "llama" : "gpt2";
out:
    ct_tokenizer_free(tok);
    vocab_free(&v);
    free(path);
    return st;
}
