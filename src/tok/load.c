/* Loading DIR/tokenizer.json (+ optional DIR/tokenizer_config.json) into a ct_tokenizer (a GGUF
 * file's tokenizer goes to gguf_tok.c, which builds the same tokenizer.json object and comes back
 * through ct_tokenizer_from_json). Every malformed or unsupported field is reported with the file
 * and the JSON key path. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "io/gguf_read.h"
#include "tok/tok_internal.h"

#define MAX_ID (1 << 28)

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        if (n) memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* Grows id tables to hold `id`. */
static ct_status ensure_id(ct_tokenizer *t, int32_t id, ct_err *err) {
    if (id < t->n_ids) return CT_OK;
    size_t n = (size_t)id + 1;
    if (n <= t->ids_cap) {
        for (size_t i = (size_t)t->n_ids; i < n; i++) {
            t->id_to_token[i] = NULL;
            t->id_len[i] = 0;
            t->id_flags[i] = 0;
        }
        t->n_ids = (int32_t)n;
        return CT_OK;
    }
    size_t cap = t->ids_cap ? t->ids_cap : 1024;
    while (cap < n) cap *= 2; /* geometric growth: vocab ids arrive in hash order */
    char **a = realloc(t->id_to_token, cap * sizeof *a);
    if (a) t->id_to_token = a;
    uint32_t *l = a ? realloc(t->id_len, cap * sizeof *l) : NULL;
    if (l) t->id_len = l;
    uint8_t *f = l ? realloc(t->id_flags, cap) : NULL;
    if (f) t->id_flags = f;
    if (!f) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    t->ids_cap = cap;
    for (size_t i = (size_t)t->n_ids; i < n; i++) {
        t->id_to_token[i] = NULL;
        t->id_len[i] = 0;
        t->id_flags[i] = 0;
    }
    t->n_ids = (int32_t)n;
    return CT_OK;
}

static ct_status load_vocab(ct_tokenizer *t, const json_t *vocab, const char *path, ct_err *err) {
    if (!json_is_object(vocab))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: model.vocab: expected an object", path);
    if (ct_strmap_init(&t->bpe.vocab, json_object_size(vocab), err)) return err->code;
    const char *key;
    json_t *v;
    size_t total = 0, used = 0;
    json_object_foreach((json_t *)vocab, key, v) total += strlen(key) + 1;
    t->bpe.vocab_arena = malloc(total ? total : 1); /* keys of the vocab map live here */
    if (!t->bpe.vocab_arena) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    json_object_foreach((json_t *)vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= MAX_ID)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: model.vocab[\"%s\"]: expected an id in [0, %d)",
                              path, key, MAX_ID);
        int32_t id = (int32_t)json_integer_value(v);
        if (ensure_id(t, id, err)) return err->code;
        size_t len = strlen(key);
        char *s = dupn(key, len);
        if (!s) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        free(t->id_to_token[id]);
        t->id_to_token[id] = s;
        t->id_len[id] = (uint32_t)len;
        char *k = t->bpe.vocab_arena + used;
        memcpy(k, key, len + 1);
        used += len + 1;
        if (ct_strmap_put(&t->bpe.vocab, k, len, id, err)) return err->code;
    }
    return CT_OK;
}

static ct_status merge_part(const ct_tokenizer *t, const char *s, size_t len, size_t i,
                            const char *path, int32_t *id, ct_err *err) {
    *id = ct_strmap_get(&t->bpe.vocab, s, len);
    if (*id < 0)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: model.merges[%zu]: token \"%.*s\" is not in the vocab",
                          path, i, (int)len, s);
    return CT_OK;
}

static ct_status load_merges(ct_tokenizer *t, const json_t *merges, const char *path, ct_err *err) {
    if (!json_is_array(merges))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: model.merges: expected an array", path);
    size_t n = json_array_size(merges);
    if (ct_pairmap_init(&t->bpe.merges, n, err)) return err->code;
    free(t->bpe.merge_id);
    if (!(t->bpe.merge_id = malloc((n ? n : 1) * sizeof *t->bpe.merge_id)))
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    size_t plen = t->bpe.cont_prefix ? strlen(t->bpe.cont_prefix) : 0;
    ct_buf cat = {0};
    ct_status st = CT_OK;
    for (size_t i = 0; i < n && !st; i++) {
        const json_t *m = json_array_get(merges, i);
        const char *a, *b;
        size_t al, bl;
        if (json_is_string(m)) {
            /* "a b": exactly one space (HF splits on ' ' and wants two parts) */
            const char *s = json_string_value(m);
            const char *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                st = ct_err_set(err, CT_ERR_FORMAT,
                                "%s: model.merges[%zu]: expected \"a b\" (two tokens separated by one space), got \"%s\"",
                                path, i, s);
                break;
            }
            a = s, al = (size_t)(sp - s), b = sp + 1, bl = strlen(b);
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            a = json_string_value(json_array_get(m, 0)), al = json_string_length(json_array_get(m, 0));
            b = json_string_value(json_array_get(m, 1)), bl = json_string_length(json_array_get(m, 1));
        } else {
            st = ct_err_set(err, CT_ERR_FORMAT,
                            "%s: model.merges[%zu]: expected a string \"a b\" or a pair [a, b]", path, i);
            break;
        }
        int32_t ia, ib, im;
        if ((st = merge_part(t, a, al, i, path, &ia, err)) || (st = merge_part(t, b, bl, i, path, &ib, err)))
            break;
        cat.len = 0;
        const char *bs = b;
        size_t bsl = bl;
        if (plen && bl >= plen && !memcmp(b, t->bpe.cont_prefix, plen)) bs += plen, bsl -= plen;
        if ((st = ct_buf_append(&cat, a, al, err)) || (st = ct_buf_append(&cat, bs, bsl, err))) break;
        if ((st = merge_part(t, cat.data, cat.len, i, path, &im, err))) break;
        ct_pairmap_put(&t->bpe.merges, ia, ib, (int32_t)i, im);
        t->bpe.merge_id[i] = im;
    }
    ct_buf_free(&cat);
    return st;
}

static ct_status opt_str(const json_t *obj, const char *key, char **out, const char *path,
                         const char *prefix, ct_err *err) {
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v)) return CT_OK;
    if (!json_is_string(v))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: %s%s: expected a string or null", path, prefix, key);
    *out = dupn(json_string_value(v), json_string_length(v));
    return *out ? CT_OK : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
}

static ct_status load_model(ct_tokenizer *t, const json_t *root, const char *path, ct_err *err) {
    const json_t *model = json_object_get(root, "model");
    if (!json_is_object(model))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: model: missing or not an object", path);
    const char *type = json_string_value(json_object_get(model, "type"));
    if (!type && !json_object_get(model, "merges"))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: model.type: missing", path);
    if (type && strcmp(type, "BPE"))
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: model.type: unsupported model '%s' (only BPE)",
                          path, type);
    ct_bpe *m = &t->bpe;
    const json_t *dropout = json_object_get(model, "dropout");
    if (dropout && !json_is_null(dropout) && json_number_value(dropout) != 0.0)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: model.dropout: BPE dropout is not supported", path);
    m->fuse_unk = json_is_true(json_object_get(model, "fuse_unk"));
    m->byte_fallback = json_is_true(json_object_get(model, "byte_fallback"));
    m->ignore_merges = json_is_true(json_object_get(model, "ignore_merges"));
    char *unk = NULL;
    if (opt_str(model, "continuing_subword_prefix", &m->cont_prefix, path, "model.", err) ||
        opt_str(model, "end_of_word_suffix", &m->end_suffix, path, "model.", err) ||
        opt_str(model, "unk_token", &unk, path, "model.", err))
        return err->code;
    if (m->cont_prefix && !*m->cont_prefix) free(m->cont_prefix), m->cont_prefix = NULL;
    if (m->end_suffix && !*m->end_suffix) free(m->end_suffix), m->end_suffix = NULL;
    if (!json_object_get(model, "vocab")) {
        free(unk);
        return ct_err_set(err, CT_ERR_FORMAT, "%s: model.vocab: missing", path);
    }
    if (load_vocab(t, json_object_get(model, "vocab"), path, err) ||
        load_merges(t, json_object_get(model, "merges"), path, err)) {
        free(unk);
        return err->code;
    }
    m->unk_id = -1;
    if (unk) {
        m->unk_id = ct_strmap_get(&m->vocab, unk, strlen(unk));
        if (m->unk_id < 0) {
            ct_err_set(err, CT_ERR_FORMAT, "%s: model.unk_token: \"%s\" is not in the vocab", path, unk);
            free(unk);
            return err->code;
        }
        free(unk);
    }
    for (int b = 0; b < 256; b++) {
        char s[8];
        snprintf(s, sizeof s, "<0x%02X>", b);
        m->byte_ids[b] = ct_strmap_get(&m->vocab, s, 6);
    }
    return ct_bpe_cache_init(m, err);
}

static ct_status load_added(ct_tokenizer *t, const json_t *root, const char *path, ct_err *err) {
    const json_t *arr = json_object_get(root, "added_tokens");
    if (!arr || json_is_null(arr)) return CT_OK;
    if (!json_is_array(arr))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: added_tokens: expected an array", path);
    t->n_added = json_array_size(arr);
    t->added = calloc(t->n_added ? t->n_added : 1, sizeof *t->added);
    if (!t->added) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_buf norm = {0};
    ct_status st = CT_OK;
    for (size_t i = 0; i < t->n_added && !st; i++) {
        const json_t *a = json_array_get(arr, i);
        const json_t *id = json_object_get(a, "id"), *content = json_object_get(a, "content");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= MAX_ID ||
            !json_is_string(content)) {
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: added_tokens[%zu]: needs an integer \"id\" and a string \"content\"",
                            path, i);
            break;
        }
        ct_added_token *x = &t->added[i];
        x->id = (int32_t)json_integer_value(id);
        x->len = json_string_length(content);
        if (x->len > CT_ADDED_MAX_BYTES) {
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: added_tokens[%zu] (id %d): content is %zu bytes; an added token may "
                            "be at most %zu bytes", path, i, x->id, x->len, CT_ADDED_MAX_BYTES);
            break;
        }
        x->content = dupn(json_string_value(content), x->len);
        if (!x->content) {
            st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            break;
        }
        x->special = json_is_true(json_object_get(a, "special"));
        x->lstrip = json_is_true(json_object_get(a, "lstrip"));
        x->rstrip = json_is_true(json_object_get(a, "rstrip"));
        x->single_word = json_is_true(json_object_get(a, "single_word"));
        const json_t *nz = json_object_get(a, "normalized");
        x->normalized = nz ? json_is_true(nz) : !x->special; /* HF default: !special */
        if ((st = ensure_id(t, x->id, err))) break;
        char *s = dupn(x->content, x->len);
        if (!s) {
            st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            break;
        }
        free(t->id_to_token[x->id]);
        t->id_to_token[x->id] = s;
        t->id_len[x->id] = (uint32_t)x->len;
        t->id_flags[x->id] = CT_TOK_FLAG_ADDED | (x->special ? CT_TOK_FLAG_SPECIAL : 0);
        if (!x->normalized || !t->has_normalizer) {
            /* without a normalizer both kinds are matched on the raw text */
            if (x->normalized) t->has_norm = true, st = ct_trie_add(&t->trie_norm, x->content, x->len, (int32_t)i, err);
            else t->has_raw = true, st = ct_trie_add(&t->trie_raw, x->content, x->len, (int32_t)i, err);
        } else {
            /* HF matches normalized tokens by their normalized content */
            if (!(st = ct_normalizer_apply(&t->normalizer, x->content, x->len, &norm, err))) {
                t->has_norm = true;
                st = ct_trie_add(&t->trie_norm, norm.data ? norm.data : "", norm.len, (int32_t)i, err);
            }
        }
    }
    ct_buf_free(&norm);
    return st;
}

/* Maps a special-token name to its id for post-processors. */
static ct_status token_id(const ct_tokenizer *t, const char *name, const char *path,
                          const char *key, int32_t *out, ct_err *err) {
    *out = ct_tokenizer_token_to_id(t, name);
    if (*out < 0)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: %s: token \"%s\" is not in the vocabulary", path,
                          key, name);
    return CT_OK;
}

static ct_status ids_append(int32_t **v, size_t *n, const int32_t *src, size_t k, bool front,
                            ct_err *err) {
    if (!k) return CT_OK;
    int32_t *d = realloc(*v, (*n + k + 1) * sizeof *d);
    if (!d) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (front) {
        memmove(d + k, d, *n * sizeof *d);
        memcpy(d, src, k * sizeof *d);
    } else
        memcpy(d + *n, src, k * sizeof *d);
    *v = d;
    *n += k;
    return CT_OK;
}

static ct_status parse_post(ct_tokenizer *t, const json_t *j, const char *path, const char *where,
                            ct_postproc *pp, ct_err *err) {
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type) return ct_err_set(err, CT_ERR_FORMAT, "%s: %s.type: missing", path, where);
    char w[512];
    if (!strcmp(type, "ByteLevel")) return CT_OK; /* only touches offsets */
    if (!strcmp(type, "Sequence")) {
        const json_t *arr = json_object_get(j, "processors");
        if (!json_is_array(arr))
            return ct_err_set(err, CT_ERR_FORMAT, "%s: %s.processors: expected an array", path, where);
        for (size_t i = 0; i < json_array_size(arr); i++) {
            ct_postproc sub = {0};
            snprintf(w, sizeof w, "%s.processors[%zu]", where, i);
            ct_status st = parse_post(t, json_array_get(arr, i), path, w, &sub, err);
            /* a later processor wraps the output of the earlier ones */
            if (!st) st = ids_append(&pp->prefix, &pp->n_prefix, sub.prefix, sub.n_prefix, true, err);
            if (!st) st = ids_append(&pp->suffix, &pp->n_suffix, sub.suffix, sub.n_suffix, false, err);
            free(sub.prefix);
            free(sub.suffix);
            if (st) return st;
        }
        return CT_OK;
    }
    if (!strcmp(type, "RobertaProcessing") || !strcmp(type, "BertProcessing")) {
        const json_t *cls = json_object_get(j, "cls"), *sep = json_object_get(j, "sep");
        if (!json_is_array(cls) || !json_is_array(sep) || !json_is_string(json_array_get(cls, 0)) ||
            !json_is_string(json_array_get(sep, 0)))
            return ct_err_set(err, CT_ERR_FORMAT, "%s: %s.cls/sep: expected [token, id]", path, where);
        int32_t c, s;
        snprintf(w, sizeof w, "%s.cls", where);
        if (token_id(t, json_string_value(json_array_get(cls, 0)), path, w, &c, err)) return err->code;
        snprintf(w, sizeof w, "%s.sep", where);
        if (token_id(t, json_string_value(json_array_get(sep, 0)), path, w, &s, err)) return err->code;
        if (ids_append(&pp->prefix, &pp->n_prefix, &c, 1, false, err) ||
            ids_append(&pp->suffix, &pp->n_suffix, &s, 1, false, err))
            return err->code;
        return CT_OK;
    }
    if (!strcmp(type, "TemplateProcessing")) {
        const json_t *single = json_object_get(j, "single");
        const json_t *specials = json_object_get(j, "special_tokens");
        if (!json_is_array(single))
            return ct_err_set(err, CT_ERR_FORMAT, "%s: %s.single: expected an array", path, where);
        bool seen_a = false;
        for (size_t i = 0; i < json_array_size(single); i++) {
            const json_t *it = json_array_get(single, i);
            const json_t *sp = json_object_get(it, "SpecialToken");
            if (json_object_get(it, "Sequence")) {
                seen_a = true;
                continue;
            }
            const char *name = json_string_value(json_object_get(sp, "id"));
            if (!name)
                return ct_err_set(err, CT_ERR_FORMAT, "%s: %s.single[%zu]: expected SpecialToken or Sequence",
                                  path, where, i);
            const json_t *st = json_object_get(specials, name);
            const json_t *ids = json_object_get(st, "ids");
            if (!json_is_array(ids))
                return ct_err_set(err, CT_ERR_FORMAT, "%s: %s.special_tokens[\"%s\"].ids: missing", path,
                                  where, name);
            for (size_t k = 0; k < json_array_size(ids); k++) {
                json_int_t v = json_integer_value(json_array_get(ids, k));
                int32_t id = (int32_t)v;
                if (!json_is_integer(json_array_get(ids, k)) || v < 0 || v >= MAX_ID)
                    return ct_err_set(err, CT_ERR_FORMAT, "%s: %s.special_tokens[\"%s\"].ids[%zu]: bad id",
                                      path, where, name, k);
                /* an id outside the vocab would reach the model's embedding lookup */
                if (!ct_tokenizer_id_to_token(t, id))
                    return ct_err_set(err, CT_ERR_FORMAT,
                                      "%s: %s.special_tokens[\"%s\"].ids[%zu]: id %d is not in the vocab",
                                      path, where, name, k, id);
                if (seen_a ? ids_append(&pp->suffix, &pp->n_suffix, &id, 1, false, err)
                           : ids_append(&pp->prefix, &pp->n_prefix, &id, 1, false, err))
                    return err->code;
            }
        }
        return CT_OK;
    }
    return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: %s.type: unsupported post_processor '%s'", path,
                      where, type);
}

/* bos_token etc.: a string, {"content": ...} (AddedToken), or null. */
static int32_t config_token(const ct_tokenizer *t, const json_t *cfg, const char *key) {
    const json_t *v = json_object_get(cfg, key);
    const char *s = json_is_string(v) ? json_string_value(v)
                                      : json_string_value(json_object_get(v, "content"));
    return s ? ct_tokenizer_token_to_id(t, s) : -1;
}

/* chat_template of a parsed tokenizer_config.json: a string, or a list of {name, template} of
 * which "default" is taken (transformers' choice without a name); *out NULL when absent. */
static ct_status config_chat_template(const json_t *cfg, const char *path, char **out, ct_err *err) {
    *out = NULL;
    const json_t *ct = json_object_get(cfg, "chat_template");
    if (json_is_string(ct)) {
        *out = dupn(json_string_value(ct), json_string_length(ct));
    } else if (json_is_array(ct)) {
        for (size_t i = 0; i < json_array_size(ct); i++) {
            const json_t *e = json_array_get(ct, i);
            const char *name = json_string_value(json_object_get(e, "name"));
            const json_t *tpl = json_object_get(e, "template");
            if (!name || !json_is_string(tpl)) {
                free(*out);
                *out = NULL;
                return ct_err_set(err, CT_ERR_FORMAT, "%s: chat_template[%zu]: expected {\"name\", \"template\"}",
                                  path, i);
            }
            if (!strcmp(name, "default") && !*out) *out = dupn(json_string_value(tpl), json_string_length(tpl));
        }
    } else if (ct && !json_is_null(ct)) {
        return ct_err_set(err, CT_ERR_FORMAT, "%s: chat_template: expected a string or a list", path);
    }
    return CT_OK;
}

/* DIR/chat_template.jinja, which wins over tokenizer_config.json's chat_template (transformers
 * >= 4.47 saves the template there and reads it back first). *out NULL when absent. */
static ct_status sidecar_chat_template(const char *dir, char **out, ct_err *err) {
    *out = NULL;
    char *path = ct_path_join(dir, "chat_template.jinja");
    if (!path) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = CT_OK;
    size_t len;
    if (ct_file_exists(path)) st = ct_read_file(path, out, &len, err);
    free(path);
    return st;
}

ct_status ct_tokenizer_read_chat_template(const char *dir, char **out, ct_err *err) {
    if (ct_gguf_is_file(dir)) return ct_tokenizer_read_chat_template_gguf(dir, out, err);
    ct_status sst = sidecar_chat_template(dir, out, err);
    if (sst || *out) return sst;
    char *path = ct_path_join(dir, "tokenizer_config.json");
    if (!path) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    json_t *cfg = NULL;
    ct_status st = ct_json_load_file_flags(path, JSON_DECODE_INT_AS_REAL, &cfg, err);
    if (!st && !json_is_object(cfg)) st = ct_err_set(err, CT_ERR_FORMAT, "%s: expected a JSON object", path);
    if (!st) st = config_chat_template(cfg, path, out, err);
    json_decref(cfg);
    free(path);
    return st;
}

static ct_status load_config(ct_tokenizer *t, const char *dir, ct_err *err) {
    char *path = ct_path_join(dir, "tokenizer_config.json");
    if (!path) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!ct_file_exists(path)) {
        free(path);
        return sidecar_chat_template(dir, &t->chat_template, err);
    }
    json_t *cfg = NULL; /* model_max_length may be int(1e30) (transformers' VERY_LARGE_INTEGER) */
    if (ct_json_load_file_flags(path, JSON_DECODE_INT_AS_REAL, &cfg, err)) {
        free(path);
        return err->code;
    }
    ct_status st = CT_OK;
    if (!json_is_object(cfg)) {
        st = ct_err_set(err, CT_ERR_FORMAT, "%s: expected a JSON object", path);
        goto done;
    }
    t->bos_id = config_token(t, cfg, "bos_token");
    t->eos_id = config_token(t, cfg, "eos_token");
    t->pad_id = config_token(t, cfg, "pad_token");
    if (json_object_get(cfg, "unk_token")) t->unk_id = config_token(t, cfg, "unk_token");
    t->add_bos = json_is_true(json_object_get(cfg, "add_bos_token"));
    t->add_eos = json_is_true(json_object_get(cfg, "add_eos_token"));
    t->clean_up_spaces = json_is_true(json_object_get(cfg, "clean_up_tokenization_spaces"));
    const json_t *mml = json_object_get(cfg, "model_max_length");
    if (json_is_number(mml)) {
        double v = json_number_value(mml);
        t->model_max_length = v >= 9.2e18 ? INT64_MAX : (int64_t)v;
    }
    st = config_chat_template(cfg, path, &t->chat_template, err);
    if (!st) {
        char *side = NULL;
        st = sidecar_chat_template(dir, &side, err);
        if (side) free(t->chat_template), t->chat_template = side;
    }
done:
    json_decref(cfg);
    free(path);
    return st;
}

ct_status ct_tokenizer_from_json(const void *json, const char *path, ct_tokenizer **out, ct_err *err) {
    const json_t *root = json;
    *out = NULL;
    ct_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    t->bpe.unk_id = -1;
    t->path = strdup(path);
    size_t wn = strlen(path) + 32;
    char *where = malloc(wn);
    ct_status st = CT_OK;
    if (!t->path || !where) {
        st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        goto fail;
    }
    if (!json_is_object(root)) {
        st = ct_err_set(err, CT_ERR_FORMAT, "%s: expected a JSON object", t->path);
        goto fail;
    }
    if ((st = load_model(t, root, t->path, err))) goto fail;
    const json_t *j = json_object_get(root, "normalizer");
    if (j && !json_is_null(j)) {
        snprintf(where, wn, "%s: normalizer", t->path);
        t->has_normalizer = true; /* set first: a partial parse is freed by ct_tokenizer_free */
        if ((st = ct_normalizer_parse(&t->normalizer, j, where, err))) goto fail;
    }
    j = json_object_get(root, "pre_tokenizer");
    if (j && !json_is_null(j)) {
        snprintf(where, wn, "%s: pre_tokenizer", t->path);
        t->has_pretok = true;
        if ((st = ct_pretok_parse(&t->pretok, j, where, err))) goto fail;
    }
    j = json_object_get(root, "decoder");
    if (j && !json_is_null(j)) {
        snprintf(where, wn, "%s: decoder", t->path);
        t->has_decoder = true;
        if ((st = ct_decoder_parse(&t->decoder, j, where, err))) goto fail;
    }
    if ((st = load_added(t, root, t->path, err))) goto fail;
    j = json_object_get(root, "post_processor");
    if (j && !json_is_null(j) && (st = parse_post(t, j, t->path, "post_processor", &t->post, err)))
        goto fail;
    t->bos_id = t->eos_id = t->pad_id = -1;
    t->unk_id = t->bpe.unk_id;
    t->model_max_length = -1;
    free(where);
    *out = t;
    return CT_OK;
fail:
    free(where);
    ct_tokenizer_free(t);
    return st;
}

ct_status ct_tokenizer_load(const char *dir, ct_tokenizer **out, ct_err *err) {
    *out = NULL;
    if (ct_gguf_is_file(dir)) return ct_tokenizer_load_gguf(dir, out, err);
    char *path = ct_path_join(dir, "tokenizer.json");
    if (!path) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    json_t *root = NULL;
    ct_tokenizer *t = NULL;
    ct_status st = CT_OK;
    if (!ct_file_exists(path))
        st = ct_err_set(err, CT_ERR_IO, "%s: not found (a Hugging Face tokenizer directory needs tokenizer.json)",
                        path);
    if (!st) st = ct_json_load_file(path, &root, err);
    if (!st) st = ct_tokenizer_from_json(root, path, &t, err);
    if (!st) st = load_config(t, dir, err);
    json_decref(root);
    free(path);
    if (st) {
        ct_tokenizer_free(t);
        return st;
    }
    *out = t;
    return CT_OK;
}

void ct_tokenizer_free(ct_tokenizer *t) {
    if (!t) return;
    ct_bpe_cache_free(&t->bpe);
    ct_strmap_free(&t->bpe.vocab);
    free(t->bpe.vocab_arena);
    ct_pairmap_free(&t->bpe.merges);
    free(t->bpe.merge_id);
    free(t->bpe.cont_prefix);
    free(t->bpe.end_suffix);
    if (t->has_normalizer) ct_normalizer_free(&t->normalizer);
    if (t->has_pretok) ct_pretok_free(&t->pretok);
    if (t->has_decoder) ct_decoder_free(&t->decoder);
    free(t->post.prefix);
    free(t->post.suffix);
    for (size_t i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    ct_trie_free(&t->trie_raw);
    ct_trie_free(&t->trie_norm);
    for (int32_t i = 0; i < t->n_ids; i++) free(t->id_to_token[i]);
    free(t->id_to_token);
    free(t->id_len);
    free(t->id_flags);
    free(t->chat_template);
    free(t->path);
    free(t);
}
