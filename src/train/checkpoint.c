#include "train/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fault.h"
#include "base/file.h"
#include "base/json.h"
#include "io/crc32c.h"
#include "io/hf_export.h"
#include "io/pyjson.h"
#include "io/safetensors.h"

static char *ckpt_path(const char *output_dir, int64_t step, const char *suffix) {
    char name[96];
    snprintf(name, sizeof name, "checkpoint-%" PRId64 "%s", step, suffix);
    return ct_path_join(output_dir, name);
}

/* Manifest over every regular file in dir (except the manifest itself). */
static ct_status write_manifest(const char *dir, int64_t step, ct_err *err) {
    DIR *d = opendir(dir);
    if (!d) return ct_err_set(err, CT_ERR_IO, "%s: cannot open directory: %s", dir, strerror(errno));
    json_t *files = json_object();
    ct_status st = files ? CT_OK : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    struct dirent *de;
    while (!st && (de = readdir(d))) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, CT_CKPT_MANIFEST) == 0) continue;
        char *p = ct_path_join(dir, de->d_name);
        if (!p) {
            st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            break;
        }
        if (ct_file_exists(p)) {
            uint32_t crc;
            uint64_t size;
            st = ct_crc32c_file(p, &crc, &size, err);
            if (!st) {
                char hex[16];
                snprintf(hex, sizeof hex, "%08x", crc);
                json_object_set_new(files, de->d_name,
                                    json_pack("{s:I, s:s}", "bytes", (json_int_t)size, "crc32c", hex));
            }
        }
        free(p);
    }
    closedir(d);
    if (!st) {
        json_t *m = json_pack("{s:s, s:i, s:I, s:O}", "format", CT_CKPT_FORMAT, "version", CT_CKPT_VERSION,
                              "step", (json_int_t)step, "files", files);
        char *p = ct_path_join(dir, CT_CKPT_MANIFEST);
        st = (m && p) ? ct_pyjson_write_file(p, m, 2, true, true, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        json_decref(m);
        free(p);
    }
    json_decref(files);
    return st;
}

ct_status ct_ckpt_save(const ct_ckpt_save_opts *o, char **saved_dir, ct_err *err) {
    if (saved_dir) *saved_dir = NULL;
    if (!o->output_dir || o->step < 0 || !o->state)
        return ct_err_set(err, CT_ERR_ARG, "checkpoint: output_dir, step >= 0 and state are required");
    ct_status st = ct_mkdir_p(o->output_dir, err);
    if (st) return st;
    char *final = ckpt_path(o->output_dir, o->step, "");
    char *tmp = ckpt_path(o->output_dir, o->step, ".tmp");
    if (!final || !tmp) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!st) st = ct_dir_fresh(tmp, err);
    for (size_t i = 0; !st && i < o->n_files; i++) {
        char *p = ct_path_join(tmp, o->files[i].filename);
        st = p ? ct_st_write(p, o->files[i].items, o->files[i].n, CT_ST_META_PT, err)
               : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        free(p);
    }
    if (!st && o->extra) st = o->extra(tmp, o->extra_user, err);
    if (!st) {
        char *p = ct_path_join(tmp, CT_CKPT_STATE);
        st = p ? ct_pyjson_write_file(p, o->state, 2, true, true, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        free(p);
    }
    if (!st) ct_fault_point("ckpt.save.written");
    if (!st) st = write_manifest(tmp, o->step, err);
    if (!st) ct_fault_point("ckpt.save.sealed");
    if (!st) st = ct_dir_publish(tmp, final, err); /* an existing checkpoint-N is swapped out whole */
    if (st) {
        ct_err e2;
        if (tmp) ct_rm_rf(tmp, &e2);
        ct_err_prefix(err, "saving checkpoint %s", final ? final : "?");
    }
    if (!st && o->save_total_limit > 0) st = ct_ckpt_rotate(o->output_dir, o->save_total_limit, o->keep_dir ? o->keep_dir : final, err);
    if (!st && saved_dir) {
        *saved_dir = final;
        final = NULL;
    }
    free(final);
    free(tmp);
    return st;
}

ct_status ct_ckpt_verify(const char *dir, ct_err *err) {
    char *mp = ct_path_join(dir, CT_CKPT_MANIFEST);
    if (!mp) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    json_t *m = NULL;
    ct_status st = CT_OK;
    if (!ct_file_exists(mp)) st = ct_err_set(err, CT_ERR_FORMAT, "%s: missing (incomplete or foreign checkpoint)", mp);
    if (!st) st = ct_json_load_file(mp, &m, err);
    if (!st) {
        const char *fmt = ct_json_get_str(m, "format");
        int64_t ver = -1;
        ct_json_get_int(m, "version", &ver);
        if (!fmt || strcmp(fmt, CT_CKPT_FORMAT) != 0)
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: not a ctune checkpoint manifest", mp);
        else if (ver != CT_CKPT_VERSION)
            st = ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: checkpoint version %lld, this ctune reads version %d",
                            mp, (long long)ver, CT_CKPT_VERSION);
    }
    json_t *files = st ? NULL : json_object_get(m, "files");
    if (!st && !json_is_object(files)) st = ct_err_set(err, CT_ERR_FORMAT, "%s: no \"files\"", mp);
    const char *name;
    json_t *v;
    if (!st) json_object_foreach(files, name, v) {
        /* Manifest names are files inside the checkpoint: no absolute paths, no ".." escapes. */
        if (name[0] == '/' || !strcmp(name, "..") || !strncmp(name, "../", 3) || strstr(name, "/../") ||
            (strlen(name) >= 3 && !strcmp(name + strlen(name) - 3, "/.."))) {
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: file name '%s' points outside the checkpoint", mp, name);
            break;
        }
        char *p = ct_path_join(dir, name);
        uint32_t crc = 0;
        uint64_t size = 0;
        if (!p) {
            st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            break;
        }
        st = ct_crc32c_file(p, &crc, &size, err);
        if (!st) {
            char hex[16];
            snprintf(hex, sizeof hex, "%08x", crc);
            int64_t bytes = -1;
            ct_json_get_int(v, "bytes", &bytes);
            const char *want = ct_json_get_str(v, "crc32c");
            if ((uint64_t)bytes != size || !want || strcmp(want, hex) != 0)
                st = ct_err_set(err, CT_ERR_FORMAT, "%s: checksum mismatch (%llu bytes crc32c %s, manifest says %lld bytes crc32c %s)",
                                p, (unsigned long long)size, hex, (long long)bytes, want ? want : "?");
        }
        free(p);
        if (st) break;
    }
    json_decref(m);
    free(mp);
    return st;
}

ct_status ct_ckpt_restore(const char *dir, const ct_ckpt_file *files, size_t n_files, json_t **state,
                          ct_err *err) {
    if (state) *state = NULL;
    ct_status st = ct_ckpt_verify(dir, err);
    for (size_t f = 0; !st && f < n_files; f++) {
        char *p = ct_path_join(dir, files[f].filename);
        ct_st *sb = NULL;
        st = p ? ct_st_open(p, &sb, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        if (!st && ct_st_count(sb) != files[f].n)
            st = ct_err_set(err, CT_ERR_SHAPE, "%s: holds %zu tensors, the run expects %zu (different trainable set?)",
                            p, ct_st_count(sb), files[f].n);
        for (size_t i = 0; !st && i < files[f].n; i++) {
            const ct_st_item *it = &files[f].items[i];
            const ct_tensor *e = ct_st_get(sb, it->name);
            if (!e) {
                st = ct_err_set(err, CT_ERR_FORMAT, "%s: missing tensor %s", p, it->name);
                break;
            }
            bool same = e->dtype == it->src.dtype && e->ndim == it->src.ndim;
            for (int d = 0; same && d < e->ndim; d++) same = e->shape[d] == it->src.shape[d];
            if (!same) {
                st = ct_err_set(err, CT_ERR_SHAPE, "%s: tensor %s has a different dtype or shape than the run", p, it->name);
                break;
            }
            memcpy(it->src.data, e->data, ct_tensor_nbytes(e));
        }
        ct_st_close(sb);
        free(p);
    }
    if (!st && state) {
        char *p = ct_path_join(dir, CT_CKPT_STATE);
        st = p ? ct_json_load_file(p, state, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        free(p);
    }
    return st;
}

/* Parses "checkpoint-<digits>" exactly. */
static bool parse_ckpt_name(const char *name, int64_t *step) {
    if (strncmp(name, "checkpoint-", 11) != 0) return false;
    const char *s = name + 11;
    if (!*s) return false;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10) return false;
        v = v * 10 + (*s - '0');
    }
    *step = v;
    return true;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* All checkpoint-N dirs (valid or not unless `valid_only`). */
static ct_status scan(const char *output_dir, bool valid_only, int64_t **steps, size_t *n, ct_err *err) {
    *steps = NULL;
    *n = 0;
    DIR *d = opendir(output_dir);
    if (!d) {
        if (errno == ENOENT) return CT_OK;
        return ct_err_set(err, CT_ERR_IO, "%s: cannot open directory: %s", output_dir, strerror(errno));
    }
    size_t cap = 0;
    struct dirent *de;
    ct_status st = CT_OK;
    while ((de = readdir(d))) {
        int64_t step;
        if (!parse_ckpt_name(de->d_name, &step)) continue;
        char *p = ct_path_join(output_dir, de->d_name);
        if (!p) {
            st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            break;
        }
        bool ok = ct_dir_exists(p);
        if (ok && valid_only) {
            char *mp = ct_path_join(p, CT_CKPT_MANIFEST);
            ok = mp && ct_file_exists(mp);
            free(mp);
        }
        free(p);
        if (!ok) continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            int64_t *ns = realloc(*steps, cap * sizeof *ns);
            if (!ns) {
                st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
                break;
            }
            *steps = ns;
        }
        (*steps)[(*n)++] = step;
    }
    closedir(d);
    if (st) {
        free(*steps);
        *steps = NULL;
        *n = 0;
        return st;
    }
    if (*n > 1) qsort(*steps, *n, sizeof **steps, cmp_i64); /* qsort(NULL, 0) is UB */
    return CT_OK;
}

ct_status ct_ckpt_list(const char *output_dir, int64_t **steps, size_t *n, ct_err *err) {
    return scan(output_dir, true, steps, n, err);
}

ct_status ct_ckpt_find_latest(const char *output_dir, char **dir, int64_t *step, ct_err *err) {
    *dir = NULL;
    int64_t *steps;
    size_t n;
    ct_status st = scan(output_dir, true, &steps, &n, err);
    if (st) return st;
    /* Newest first; skip any that fail verification (e.g. a damaged disk). */
    for (size_t i = n; i-- > 0;) {
        char *p = ckpt_path(output_dir, steps[i], "");
        ct_err e2;
        if (p && ct_ckpt_verify(p, &e2) == CT_OK) {
            *dir = p;
            if (step) *step = steps[i];
            break;
        }
        free(p);
    }
    free(steps);
    return CT_OK;
}

static bool same_dir(const char *a, const char *b) {
    if (!a || !b) return false;
    char ra[PATH_MAX], rb[PATH_MAX];
    if (!realpath(a, ra) || !realpath(b, rb)) return strcmp(a, b) == 0;
    return strcmp(ra, rb) == 0;
}

/* "checkpoint-<digits><suffix>" with suffix one of .tmp .trash .old: *base gets the name without it. */
static const char *leftover_kind(const char *name, char *base, size_t nbase) {
    static const char *const kinds[] = {".tmp", ".trash", ".old"};
    size_t l = strlen(name);
    for (size_t k = 0; k < 3; k++) {
        size_t kl = strlen(kinds[k]);
        int64_t step;
        if (l <= kl || l - kl >= nbase || strcmp(name + l - kl, kinds[k])) continue;
        memcpy(base, name, l - kl);
        base[l - kl] = 0;
        if (parse_ckpt_name(base, &step)) return kinds[k];
    }
    return NULL;
}

ct_status ct_ckpt_cleanup(const char *output_dir, ct_err *err) {
    DIR *d = opendir(output_dir);
    if (!d) return CT_OK;
    ct_status st = CT_OK;
    struct dirent *de;
    while (!st && (de = readdir(d))) {
        char base[256];
        const char *kind = leftover_kind(de->d_name, base, sizeof base);
        if (!kind) continue;
        char *p = ct_path_join(output_dir, !strcmp(kind, ".old") ? base : de->d_name);
        if (!p) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        else if (!strcmp(kind, ".old")) st = ct_dir_publish_recover(p, err);
        else st = ct_rm_rf(p, err);
        free(p);
    }
    closedir(d);
    return st;
}

ct_status ct_ckpt_newest_invalid(const char *output_dir, char **dir, ct_err *why) {
    *dir = NULL;
    int64_t *steps;
    size_t n;
    ct_err e2;
    if (scan(output_dir, false, &steps, &n, &e2)) return CT_OK;
    for (size_t i = n; i-- > 0 && !*dir;) {
        char *p = ckpt_path(output_dir, steps[i], "");
        if (p && ct_ckpt_verify(p, why) != CT_OK) *dir = p;
        else free(p);
    }
    free(steps);
    return *dir ? CT_ERR_FORMAT : CT_OK;
}

ct_status ct_ckpt_rotate(const char *output_dir, int limit, const char *keep_dir, ct_err *err) {
    ct_status st = ct_ckpt_cleanup(output_dir, err); /* leftovers of interrupted saves and removals */
    if (st || limit <= 0) return st;
    int64_t *steps;
    size_t n;
    if ((st = scan(output_dir, false, &steps, &n, err))) return st;
    size_t excess = n > (size_t)limit ? n - (size_t)limit : 0;
    for (size_t i = 0; !st && i < n && excess > 0; i++) {
        char *p = ckpt_path(output_dir, steps[i], "");
        if (!p) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        else if (!same_dir(p, keep_dir)) {
            st = ct_dir_remove(p, err); /* renamed out of the checkpoint-N names first, then deleted */
            excess--;
        }
        free(p);
    }
    free(steps);
    return st;
}
