#include "io/hf_export.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "io/pyjson.h"

const char *const CT_HF_TOKENIZER_FILES[] = {
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
    "merges.txt", "tokenizer.model", "added_tokens.json", "chat_template.jinja", NULL};

ct_status ct_hf_copy_tokenizer(const char *src_dir, const char *dst_dir, ct_err *err) {
    for (int i = 0; CT_HF_TOKENIZER_FILES[i]; i++) {
        ct_status st = ct_copy_if_exists(src_dir, dst_dir, CT_HF_TOKENIZER_FILES[i], err);
        if (st) return st;
    }
    return CT_OK;
}

static const char *torch_dtype_name(ct_dtype dt) {
    switch (dt) {
    case CT_DTYPE_BF16: return "bfloat16";
    case CT_DTYPE_F16: return "float16";
    case CT_DTYPE_F32: return "float32";
    case CT_DTYPE_F64: return "float64";
    default: return NULL;
    }
}

/* Writes all files into `dir` (which exists and is empty). */
static ct_status write_all(const ct_hf_export_opts *o, const ct_st_item *in, size_t n, const char *dir,
                           ct_err *err) {
    ct_status st = CT_OK;
    uint64_t limit = o->max_shard_bytes ? o->max_shard_bytes : CT_HF_DEFAULT_MAX_SHARD;
    ct_st_item *items = malloc((n ? n : 1) * sizeof *items);
    size_t *shard_of = malloc((n ? n : 1) * sizeof *shard_of);
    if (!items || !shard_of) {
        free(items);
        free(shard_of);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    uint64_t total = 0, cur = 0;
    size_t nshards = 0;
    for (size_t i = 0; i < n; i++) {
        items[i] = in[i];
        if (ct_dtype_is_float(in[i].src.dtype)) items[i].dtype = o->dtype;
        uint64_t b = ct_st_item_nbytes(&items[i]);
        if (nshards == 0 || (cur > 0 && cur + b > limit)) {
            nshards++;
            cur = 0;
        }
        cur += b;
        total += b;
        shard_of[i] = nshards - 1;
    }
    if (nshards == 0) nshards = 1;
    json_t *weight_map = json_object();
    ct_st_item *sub = malloc((n ? n : 1) * sizeof *sub);
    if (!weight_map || !sub) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (size_t s = 0; !st && s < nshards; s++) {
        char fname[64];
        if (nshards == 1) snprintf(fname, sizeof fname, "model.safetensors");
        else snprintf(fname, sizeof fname, "model-%05zu-of-%05zu.safetensors", s + 1, nshards);
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (shard_of[i] == s) {
                sub[m++] = items[i];
                json_object_set_new(weight_map, items[i].name, json_string(fname));
            }
        char *p = ct_path_join(dir, fname);
        st = p ? ct_st_write(p, sub, m, CT_ST_META_PT, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        free(p);
    }
    if (!st && nshards > 1) {
        json_t *idx = json_pack("{s:{s:I}, s:O}", "metadata", "total_size", (json_int_t)total,
                                "weight_map", weight_map);
        char *p = ct_path_join(dir, "model.safetensors.index.json");
        st = (idx && p) ? ct_pyjson_write_file(p, idx, 2, true, true, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        json_decref(idx);
        free(p);
    }
    json_decref(weight_map);
    free(sub);
    free(items);
    free(shard_of);
    if (!st && o->tokenizer_dir) st = ct_hf_copy_tokenizer(o->tokenizer_dir, dir, err);
    if (!st && o->generation_config_dir) st = ct_copy_if_exists(o->generation_config_dir, dir, "generation_config.json", err);
    if (!st && o->config) {
        json_t *cfg = json_deep_copy(o->config);
        const char *dn = torch_dtype_name(o->dtype);
        if (!cfg) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        /* the weights written are plain floats: a bitsandbytes source's quantization_config goes */
        if (cfg) json_object_del(cfg, "quantization_config");
        if (!st && dn) {
            json_object_set_new(cfg, "torch_dtype", json_string(dn));
            if (json_object_get(cfg, "dtype")) json_object_set_new(cfg, "dtype", json_string(dn));
        }
        char *p = ct_path_join(dir, "config.json");
        if (!st) st = p ? ct_pyjson_write_file(p, cfg, 2, true, true, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        free(p);
        json_decref(cfg);
    }
    return st;
}

/* model.safetensors, model-00001-of-00002.safetensors, model.safetensors.index.json */
static bool is_weight_file(const char *n) {
    size_t l = strlen(n);
    return !strcmp(n, "model.safetensors.index.json") ||
           (!strncmp(n, "model", 5) && l > 12 && !strcmp(n + l - 12, ".safetensors"));
}

/* Removes the weight files of a previous model in `out` that the new export (in tmp) does not
 * replace: a stale model.safetensors.index.json next to a new model.safetensors would load the
 * old shards. Done before the new files move in, so a crash in between leaves a directory that
 * fails to load (missing weights) rather than one that loads the wrong ones. */
static ct_status remove_stale_weights(const char *out, const char *tmp, ct_err *err) {
    DIR *d = opendir(out);
    if (!d) return ct_err_set(err, CT_ERR_IO, "%s: cannot open directory: %s", out, strerror(errno));
    ct_status st = CT_OK;
    struct dirent *de;
    while (!st && (de = readdir(d))) {
        if (!is_weight_file(de->d_name)) continue;
        char *p = ct_path_join(out, de->d_name), *q = ct_path_join(tmp, de->d_name);
        struct stat sb;
        if (!p || !q) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        else if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) && !ct_file_exists(q) && unlink(p) != 0)
            st = ct_err_set(err, CT_ERR_IO, "%s: cannot remove: %s", p, strerror(errno));
        free(p);
        free(q);
    }
    closedir(d);
    return st;
}

ct_status ct_hf_export(const ct_hf_export_opts *o, const ct_st_item *tensors, size_t n, ct_err *err) {
    if (!o->out_dir || !*o->out_dir) return ct_err_set(err, CT_ERR_ARG, "export: no output directory");
    if (!torch_dtype_name(o->dtype)) return ct_err_set(err, CT_ERR_ARG, "export: dtype must be a float type");
    bool existing = ct_dir_exists(o->out_dir);
    size_t len = strlen(o->out_dir) + 64;
    char *tmp = malloc(len);
    if (!tmp) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    char *trimmed = strdup(o->out_dir);
    if (!trimmed) {
        free(tmp);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    for (size_t k = strlen(trimmed); k > 1 && trimmed[k - 1] == '/'; k--) trimmed[k - 1] = 0;
    if (existing) snprintf(tmp, len, "%s/.export.tmp.%ld", trimmed, (long)getpid());
    else snprintf(tmp, len, "%s.tmp.%ld", trimmed, (long)getpid());
    ct_status st = ct_dir_fresh(tmp, err);
    if (!st) st = write_all(o, tensors, n, tmp, err);
    if (!st && existing) {
        /* config.json last so a reader never sees a config without its weights */
        static const char *const last[] = {"config.json", NULL};
        st = remove_stale_weights(trimmed, tmp, err);
        if (!st) st = ct_dir_move_into(tmp, trimmed, last, err);
    } else if (!st) {
        st = ct_dir_publish(tmp, trimmed, err);
    }
    if (st) {
        ct_err e2;
        ct_rm_rf(tmp, &e2);
    }
    free(tmp);
    free(trimmed);
    return st;
}
