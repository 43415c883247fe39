/* LlamaFactory dataset_info.json for local files: file_name, formatting (alpaca | sharegpt),
 * columns, tags, num_samples. Remote entries (hf_hub_url, ms_hub_url, script_url) are refused
 * with a hint, since ctune reads local files only. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "base/json.h"
#include "ctune/data.h"
#include "base/str.h"

static const char **col_slot(ct_columns *c, const char *key) {
    static const char *const names[] = {"prompt", "query", "response", "history", "messages", "system", "tools",
                                        "role_tag", "content_tag", "user_tag", "assistant_tag", "observation_tag",
                                        "function_tag", "system_tag", NULL};
    const char **slots[] = {&c->prompt, &c->query, &c->response, &c->history, &c->messages, &c->system, &c->tools,
                            &c->role_tag, &c->content_tag, &c->user_tag, &c->assistant_tag, &c->observation_tag,
                            &c->function_tag, &c->system_tag};
    for (size_t i = 0; names[i]; i++)
        if (!strcmp(names[i], key)) return slots[i];
    return NULL;
}

void ct_dataset_info_free(ct_dataset_info *d) {
    free(d->name);
    free(d->path);
    const char **slots[] = {&d->cols.prompt, &d->cols.query, &d->cols.response, &d->cols.history, &d->cols.messages,
                            &d->cols.system, &d->cols.tools, &d->cols.role_tag, &d->cols.content_tag,
                            &d->cols.user_tag, &d->cols.assistant_tag, &d->cols.observation_tag,
                            &d->cols.function_tag, &d->cols.system_tag};
    for (size_t i = 0; i < sizeof slots / sizeof slots[0]; i++) free((char *)*slots[i]);
    memset(d, 0, sizeof *d);
}

/* Columns LlamaFactory knows that hold what ctune does not train on. */
static const char *unsupported_col(const char *k) {
    static const char *const mm[] = {"images", "videos", "audios", NULL}, *const pref[] = {"chosen", "rejected", "kto_tag", NULL};
    for (size_t i = 0; mm[i]; i++)
        if (!strcmp(k, mm[i])) return "multimodal data";
    for (size_t i = 0; pref[i]; i++)
        if (!strcmp(k, pref[i])) return "preference data";
    return NULL;
}

static ct_status fill_cols(const json_t *obj, const char *what, const char *where, ct_columns *c, ct_err *err) {
    if (!obj) return CT_OK;
    if (!json_is_object(obj)) return ct_err_set(err, CT_ERR_FORMAT, "%s: '%s' must be an object", where, what);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) {
        const char **slot = col_slot(c, k);
        const char *unsup = slot ? NULL : unsupported_col(k);
        if (unsup)
            return ct_err_set(err, CT_ERR_UNSUPPORTED,
                              "%s: not supported: %s (column '%s'); ctune trains text-only data (stage sft or pt)",
                              where, unsup, k);
        if (!slot) return ct_err_set(err, CT_ERR_FORMAT, "%s: %s: unknown name '%s'", where, what, k);
        if (!json_is_string(v)) return ct_err_set(err, CT_ERR_FORMAT, "%s: %s.%s must be a string", where, what, k);
        free((char *)*slot);
        *slot = strdup(json_string_value(v));
    }
    return CT_OK;
}

ct_status ct_dataset_info_find(const char *dir, const char *name, ct_dataset_info *out, ct_err *err) {
    memset(out, 0, sizeof *out);
    out->num_samples = -1;
    out->name = strdup(name);
    char *info = ct_path_join(dir ? dir : ".", "dataset_info.json");
    json_t *root = NULL;
    char *where = NULL;
    ct_status st = CT_OK;
    if (!info) {
        ct_dataset_info_free(out);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    struct stat isb;
    if (stat(info, &isb) == 0 && !S_ISREG(isb.st_mode)) { /* a FIFO here would be skipped silently */
        st = ct_err_set(err, CT_ERR_IO, "%s: is %s, not a regular file", info, ct_file_kind(isb.st_mode));
        goto done;
    }
    if (ct_file_exists(info)) {
        if ((st = ct_json_load_file(info, &root, err))) goto done;
        json_t *e = json_object_get(root, name);
        if (e) {
            size_t wn = strlen(info) + strlen(name) + 16;
            if (!(where = malloc(wn))) {
                st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
                goto done;
            }
            snprintf(where, wn, "%s: dataset '%s'", info, name);
            const char *fn = ct_json_get_str(e, "file_name");
            if (!fn) {
                st = ct_err_set(err, CT_ERR_UNSUPPORTED,
                                "%s: only local files are supported (no file_name; download the data and set file_name)",
                                where);
                goto done;
            }
            out->path = ct_path_join(dir, fn);
            const char *fmt = ct_json_get_str(e, "formatting");
            if (!fmt && !json_object_get(e, "columns")) out->format = CT_FORMAT_AUTO; /* detect per row */
            else if (!fmt || !strcmp(fmt, "alpaca")) out->format = CT_FORMAT_ALPACA;
            else if (!strcmp(fmt, "sharegpt")) out->format = CT_FORMAT_SHAREGPT;
            else if (!strcmp(fmt, "openai")) out->format = CT_FORMAT_OPENAI;
            else {
                st = ct_err_set(err, CT_ERR_FORMAT, "%s: formatting '%s' (alpaca, sharegpt)", where, fmt);
                goto done;
            }
            if (json_is_true(json_object_get(e, "ranking"))) {
                st = ct_err_set(err, CT_ERR_UNSUPPORTED,
                                "%s: not supported: preference data (ranking: true); ctune trains text-only data "
                                "(stage sft or pt)",
                                where);
                goto done;
            }
            const json_t *columns = json_object_get(e, "columns");
            if ((st = fill_cols(columns, "columns", where, &out->cols, err))) goto done;
            /* LlamaFactory's DatasetAttr: once `columns` is given, the alpaca columns it does not
             * name are None (c4_demo's {"prompt": "text"} has no response: pre-training text) */
            const char **alpaca[] = {&out->cols.prompt, &out->cols.query, &out->cols.response, &out->cols.history};
            for (size_t k = 0; columns && out->format == CT_FORMAT_ALPACA && k < 4; k++)
                if (!*alpaca[k] && !(*alpaca[k] = strdup(""))) {
                    st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
                    goto done;
                }
            if ((st = fill_cols(json_object_get(e, "tags"), "tags", where, &out->cols, err))) goto done;
            int64_t ns = -1;
            const json_t *nsv = json_object_get(e, "num_samples");
            if (!ct_json_get_int(e, "num_samples", &ns) || (nsv && !json_is_null(nsv) && ns < 0)) {
                st = ct_err_set(err, CT_ERR_FORMAT, "%s: num_samples must be a non-negative integer", where);
                goto done;
            }
            out->num_samples = ns;
            struct stat sb;
            if (stat(out->path, &sb) != 0)
                st = ct_err_set(err, CT_ERR_IO, "%s: file_name '%s' not found", where, out->path);
            else if (!S_ISDIR(sb.st_mode) && ct_file_kind(sb.st_mode))
                st = ct_err_set(err, CT_ERR_IO, "%s: file_name '%s' is %s, not a regular file or a directory", where,
                                out->path, ct_file_kind(sb.st_mode));
            goto done;
        }
    }
    /* not registered: a file or directory by that name (anything else there is named) */
    for (int k = 0; k < 2; k++) {
        char *p = k ? strdup(name) : ct_path_join(dir ? dir : ".", name);
        struct stat sb;
        if (!p) {
            st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            goto done;
        }
        if (stat(p, &sb) == 0 && (S_ISDIR(sb.st_mode) || !ct_file_kind(sb.st_mode))) {
            out->path = p;
            out->format = CT_FORMAT_AUTO;
            goto done;
        }
        if (stat(p, &sb) == 0) {
            st = ct_err_set(err, CT_ERR_IO, "dataset '%s': %s is %s, not a regular file or a directory", name, p,
                            ct_file_kind(sb.st_mode));
            free(p);
            goto done;
        }
        free(p);
    }
    {
        const char *best = NULL;
        int bd = 4;
        const char *k;
        json_t *v;
        if (root)
            json_object_foreach(root, k, v) {
                int d = ct_str_distance(name, k);
                if (d < bd) bd = d, best = k;
            }
        if (best)
            st = ct_err_set(err, CT_ERR_ARG, "dataset '%s' not found in %s (did you mean '%s'?)", name, info, best);
        else
            st = ct_err_set(err, CT_ERR_ARG, "dataset '%s' not found: no entry in %s and no such file", name, info);
    }
done:
    json_decref(root);
    free(where);
    free(info);
    if (st) ct_dataset_info_free(out);
    return st;
}
