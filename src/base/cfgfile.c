/* Flat key/value configs: typed key tables, YAML mappings, command-line overrides
 * (src/base/cfgfile.h). */
#include "base/cfgfile.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/buf.h"
#include "base/file.h"

/* ---------------------------------------------------------------- lists and scalars */

void ct_strlist_free(ct_strlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

int ct_strlist_add(ct_strlist *l, const char *s, size_t n) {
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (!n) return 0;
    char **v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v) return -1;
    l->v = v;
    if (!(v[l->n] = strndup(s, n))) return -1;
    l->n++;
    return 0;
}

bool ct_strlist_has(const ct_strlist *l, const char *s) {
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i], s)) return true;
    return false;
}

bool ct_cfg_is_null(const char *v) {
    return !v || !*v || !strcmp(v, "null") || !strcmp(v, "~") || !strcmp(v, "None");
}

int ct_cfg_parse_bool(const char *v, bool *out) {
    static const char *const t[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "1", NULL};
    static const char *const f[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "0", NULL};
    for (size_t i = 0; t[i]; i++)
        if (!strcmp(v, t[i])) return *out = true, 0;
    for (size_t i = 0; f[i]; i++)
        if (!strcmp(v, f[i])) return *out = false, 0;
    return -1;
}

static bool in_choices(const char *choices, const char *v) {
    size_t n = strlen(v);
    for (const char *p = choices; p;) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && !strncmp(p, v, n)) return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

ct_status ct_cfg_set_typed(void *base, const ct_cfg_key *k, const char *v, const char *where, ct_err *err) {
    char *p = (char *)base + k->off;
    char *end;
    switch (k->type) {
    case CT_CFG_STR: {
        char **s = (char **)p;
        if (ct_cfg_is_null(v)) {
            free(*s);
            *s = NULL;
            return CT_OK;
        }
        if (k->choices && !in_choices(k->choices, v))
            return ct_err_set(err, CT_ERR_ARG, "%s: key '%s': '%s' is not one of %s", where, k->name, v, k->choices);
        char *d = strdup(v);
        if (!d) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        free(*s);
        *s = d;
        return CT_OK;
    }
    case CT_CFG_INT: {
        if (ct_cfg_is_null(v) && k->choices && !k->def) { /* an optional choice: null = none (0) */
            *(int64_t *)p = 0;
            return CT_OK;
        }
        if (ct_cfg_is_null(v)) v = k->def ? k->def : "0";
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end) {
            /* "1e3"-style or "2.0" integers written as floats */
            double d = strtod(v, &end);
            if (end == v || *end || d != floor(d) || fabs(d) > 9e18)
                return ct_err_set(err, CT_ERR_ARG, "%s: key '%s': expected an integer, got '%s'", where, k->name, v);
            x = (long long)d;
        }
        if (k->choices) {
            char num[32];
            snprintf(num, sizeof num, "%lld", x);
            if (!in_choices(k->choices, num))
                return ct_err_set(err, CT_ERR_ARG, "%s: key '%s': %lld is not one of %s", where, k->name, x, k->choices);
        }
        *(int64_t *)p = x;
        return CT_OK;
    }
    case CT_CFG_DBL: {
        if (ct_cfg_is_null(v)) v = k->def ? k->def : "0";
        errno = 0;
        double x = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(x))
            return ct_err_set(err, CT_ERR_ARG, "%s: key '%s': expected a number, got '%s'", where, k->name, v);
        *(double *)p = x;
        return CT_OK;
    }
    case CT_CFG_BOOL: {
        bool b;
        if (ct_cfg_is_null(v)) v = k->def ? k->def : "false";
        if (ct_cfg_parse_bool(v, &b))
            return ct_err_set(err, CT_ERR_ARG, "%s: key '%s': expected true or false, got '%s'", where, k->name, v);
        *(bool *)p = b;
        return CT_OK;
    }
    case CT_CFG_THINK: {
        bool b;
        if (ct_cfg_is_null(v)) *(int *)p = -1;
        else if (ct_cfg_parse_bool(v, &b))
            return ct_err_set(err, CT_ERR_ARG, "%s: key '%s': expected true, false or null, got '%s'", where, k->name, v);
        else *(int *)p = b ? 1 : 0;
        return CT_OK;
    }
    case CT_CFG_LIST: {
        ct_strlist *l = (ct_strlist *)p;
        ct_strlist_free(l);
        if (ct_cfg_is_null(v)) return CT_OK;
        size_t n = strlen(v);
        if (n >= 2 && v[0] == '[' && v[n - 1] == ']') { /* OmegaConf's "key=[a,b]" */
            v++;
            n -= 2;
        }
        size_t items = 1; /* one allocation for the whole list: linear in its length (1 M items) */
        for (const char *q = v; (q = memchr(q, ',', (size_t)(v + n - q))); q++) items++;
        if (!(l->v = malloc(items * sizeof *l->v))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        for (const char *s = v, *stop = v + n; s <= stop;) {
            const char *comma = memchr(s, ',', (size_t)(stop - s));
            size_t len = comma ? (size_t)(comma - s) : (size_t)(stop - s);
            while (len && isspace((unsigned char)*s)) s++, len--;
            while (len && isspace((unsigned char)s[len - 1])) len--;
            if (len && !(l->v[l->n] = strndup(s, len))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            if (len) l->n++;
            if (!comma) break;
            s = comma + 1;
        }
        for (size_t i = 0; k->choices && i < l->n; i++) { /* every item one of the choices */
            char buf[256], pat[160];
            snprintf(buf, sizeof buf, "|%s|", k->choices);
            snprintf(pat, sizeof pat, "|%s|", l->v[i]);
            if (!strstr(buf, pat))
                return ct_err_set(err, CT_ERR_ARG, "%s: key '%s': '%s' is not one of %s", where, k->name, l->v[i],
                                  k->choices);
        }
        return CT_OK;
    }
    }
    return CT_OK;
}

void ct_cfg_defaults(void *base, const ct_cfg_key *keys, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (keys[i].def) ct_cfg_set_typed(base, &keys[i], keys[i].def, "defaults", NULL);
}

void ct_cfg_free_fields(void *base, const ct_cfg_key *keys, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char *p = (char *)base + keys[i].off;
        if (keys[i].type == CT_CFG_STR) {
            free(*(char **)p);
            *(char **)p = NULL;
        }
        if (keys[i].type == CT_CFG_LIST) ct_strlist_free((ct_strlist *)p);
    }
}

const ct_cfg_key *ct_cfg_find(const ct_cfg_key *keys, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(keys[i].name, name)) return &keys[i];
    return NULL;
}

char *ct_cfg_dump(const void *base, const ct_cfg_key *keys, size_t nk) {
    ct_buf b = {0}; /* grows: long paths and long lists are written whole */
    for (size_t i = 0; i < nk; i++) {
        const ct_cfg_key *k = &keys[i];
        const char *p = (const char *)base + k->off;
        switch (k->type) {
        case CT_CFG_STR: ct_buf_printf(&b, "%s: %s\n", k->name, *(char *const *)p ? *(char *const *)p : "null"); break;
        case CT_CFG_INT: ct_buf_printf(&b, "%s: %lld\n", k->name, (long long)*(const int64_t *)p); break;
        case CT_CFG_DBL: ct_buf_printf(&b, "%s: %.17g\n", k->name, *(const double *)p); break;
        case CT_CFG_BOOL: ct_buf_printf(&b, "%s: %s\n", k->name, *(const bool *)p ? "true" : "false"); break;
        case CT_CFG_THINK: {
            int t = *(const int *)p;
            ct_buf_printf(&b, "%s: %s\n", k->name, t < 0 ? "null" : t ? "true" : "false");
            break;
        }
        case CT_CFG_LIST: {
            const ct_strlist *l = (const ct_strlist *)p;
            ct_buf_printf(&b, "%s: %s", k->name, l->n ? "" : "null");
            for (size_t j = 0; j < l->n; j++) {
                if (j) ct_buf_put(&b, ",", 1);
                ct_buf_puts(&b, l->v[j]);
            }
            ct_buf_put(&b, "\n", 1);
            break;
        }
        }
    }
    if (b.oom || !b.data) {
        bool oom = b.oom;
        ct_buf_free(&b);
        return oom ? NULL : strdup("");
    }
    return b.data;
}

/* ---------------------------------------------------------------- YAML */

typedef struct yparse {
    yaml_parser_t p;
    const char *path;
    ct_cfg_set_fn set;
    void *user;
    int max_depth; /* nested mappings below the top one that arrive as "a.b" keys */
} yparse;

/* The next event; an alias (*name) is refused here, wherever it appears: a config is a flat
 * mapping, and expanding aliases is how a few lines of YAML become gigabytes. */
static ct_status next_event(yparse *y, yaml_event_t *ev, ct_err *err) {
    if (!yaml_parser_parse(&y->p, ev))
        return ct_err_set(err, CT_ERR_FORMAT, "%s:%zu:%zu: invalid YAML: %s", y->path, y->p.problem_mark.line + 1,
                          y->p.problem_mark.column + 1, y->p.problem ? y->p.problem : "parse error");
    if (ev->type == YAML_ALIAS_EVENT) {
        ct_status st = ct_err_set(err, CT_ERR_UNSUPPORTED,
                                  "%s:%zu: YAML aliases (*%s) are not supported in a config; write the value out",
                                  y->path, ev->start_mark.line + 1, (const char *)ev->data.alias.anchor);
        yaml_event_delete(ev);
        return st;
    }
    return CT_OK;
}

/* A sequence of plain values, comma-joined (the start event is consumed). */
static ct_status read_list(yparse *y, const char *key, const char *where, ct_err *err) {
    yaml_event_t ev;
    ct_status st = CT_OK;
    size_t len = 0, cap = 64;
    char *joined = calloc(1, cap);
    if (!joined) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (;;) { /* the buffer doubles: a list of 1 M items is joined in linear time */
        if ((st = next_event(y, &ev, err))) break;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (ev.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&ev);
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: key '%s': list items must be plain values", where, key);
            break;
        }
        size_t n = strlen((char *)ev.data.scalar.value);
        if (len + n + 2 > cap) {
            while (len + n + 2 > cap) cap *= 2;
            char *j = realloc(joined, cap);
            if (!j) {
                yaml_event_delete(&ev);
                st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
                break;
            }
            joined = j;
        }
        if (len) joined[len++] = ',';
        memcpy(joined + len, ev.data.scalar.value, n + 1);
        len += n;
        yaml_event_delete(&ev);
    }
    if (!st) st = y->set(y->user, key, joined, where, err);
    free(joined);
    return st;
}

/* The value of `key` at `line`: a scalar, a list, or (depth 0 only) a mapping whose entries go
 * out as "key.sub". */
static ct_status read_value(yparse *y, const char *key, size_t line, int depth, ct_err *err) {
    yaml_event_t ev;
    ct_status st = next_event(y, &ev, err);
    if (st) return st;
    size_t wn = strlen(y->path) + 24;
    char *where = malloc(wn);
    if (!where) {
        yaml_event_delete(&ev);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    snprintf(where, wn, "%s:%zu", y->path, line);
    if (ev.type == YAML_SCALAR_EVENT) {
        st = y->set(y->user, key, (const char *)ev.data.scalar.value, where, err);
        yaml_event_delete(&ev);
    } else if (ev.type == YAML_SEQUENCE_START_EVENT) {
        yaml_event_delete(&ev);
        st = read_list(y, key, where, err);
    } else if (ev.type == YAML_MAPPING_START_EVENT && depth < y->max_depth) {
        yaml_event_delete(&ev);
        for (;;) {
            if ((st = next_event(y, &ev, err))) break;
            if (ev.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&ev);
                break;
            }
            if (ev.type != YAML_SCALAR_EVENT) {
                yaml_event_delete(&ev);
                st = ct_err_set(err, CT_ERR_FORMAT, "%s: key '%s': expected name: value pairs", where, key);
                break;
            }
            const char *name = (const char *)ev.data.scalar.value;
            size_t sn = strlen(key) + strlen(name) + 2;
            char *sub = malloc(sn);
            if (sub) snprintf(sub, sn, "%s.%s", key, name);
            size_t sl = ev.start_mark.line + 1;
            yaml_event_delete(&ev);
            st = sub ? read_value(y, sub, sl, depth + 1, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            free(sub);
            if (st) break;
        }
    } else {
        yaml_event_delete(&ev);
        st = ct_err_set(err, CT_ERR_FORMAT, "%s: key '%s': expected a value or a list", where, key);
    }
    free(where);
    return st;
}

ct_status ct_cfg_load_yaml(const char *path, ct_cfg_set_fn set, void *user, ct_err *err) {
    return ct_cfg_load_yaml_nested(path, 1, set, user, err);
}

ct_status ct_cfg_load_yaml_nested(const char *path, int max_depth, ct_cfg_set_fn set, void *user, ct_err *err) {
    /* read through ct_read_file: a FIFO or a device is refused, a read error is not a short file */
    char *text = NULL;
    size_t text_len = 0;
    ct_status st = ct_read_file(path, &text, &text_len, err);
    if (st) return st;
    yparse y = {.path = path, .set = set, .user = user, .max_depth = max_depth};
    yaml_parser_initialize(&y.p);
    yaml_parser_set_input_string(&y.p, (const unsigned char *)text, text_len);
    yaml_event_t ev;
    int depth = 0; /* 0 before the top mapping, 1 inside it */
    bool done = false, ended = false;
    while (!done && !st) {
        if ((st = next_event(&y, &ev, err))) break;
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT: break;
        case YAML_DOCUMENT_END_EVENT: done = true; break;
        case YAML_STREAM_END_EVENT: done = ended = true; break;
        case YAML_MAPPING_START_EVENT:
            if (depth) st = ct_err_set(err, CT_ERR_FORMAT, "%s:%zu: unexpected nested mapping", path, ev.start_mark.line + 1);
            depth = 1;
            break;
        case YAML_MAPPING_END_EVENT: done = true; break;
        case YAML_SCALAR_EVENT: {
            if (!depth) {
                if (ev.data.scalar.length == 0) { done = true; break; } /* empty file */
                st = ct_err_set(err, CT_ERR_FORMAT, "%s:%zu: expected 'key: value' lines", path, ev.start_mark.line + 1);
                break;
            }
            size_t line = ev.start_mark.line + 1;
            if (!strcmp((char *)ev.data.scalar.value, "<<")) {
                st = ct_err_set(err, CT_ERR_UNSUPPORTED,
                                "%s:%zu: YAML merge keys (<<) are not supported in a config; write the keys out", path,
                                line);
                break;
            }
            char *key = strdup((char *)ev.data.scalar.value);
            if (!key) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            else st = read_value(&y, key, line, 0, err);
            free(key);
            break;
        }
        default:
            st = ct_err_set(err, CT_ERR_FORMAT, "%s:%zu: expected a mapping of keys", path, ev.start_mark.line + 1);
        }
        yaml_event_delete(&ev);
    }
    /* the rest of the stream: the end of this document, then the end of the stream; a second
     * document ("---") would be silently ignored, so it is an error */
    while (!st && !ended) {
        if ((st = next_event(&y, &ev, err))) break;
        yaml_event_type_t t = ev.type;
        size_t line = ev.start_mark.line + 1;
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT) break;
        if (t == YAML_DOCUMENT_START_EVENT)
            st = ct_err_set(err, CT_ERR_FORMAT, "%s:%zu: a second YAML document; a config file holds one mapping",
                            path, line);
        else if (t != YAML_DOCUMENT_END_EVENT && t != YAML_MAPPING_END_EVENT)
            st = ct_err_set(err, CT_ERR_FORMAT, "%s:%zu: unexpected content after the config mapping", path, line);
    }
    yaml_parser_delete(&y.p);
    free(text);
    return st;
}

/* ---------------------------------------------------------------- command line */

static bool is_bool_text(const char *v) {
    bool b;
    return !ct_cfg_parse_bool(v, &b);
}

ct_status ct_cfg_apply_args(int argc, char **argv, ct_cfg_kind_fn kind, ct_cfg_set_fn set, void *user,
                            ct_err *err) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = NULL, *eq;
        char key[256], where[300];
        bool dashed = !strncmp(a, "--", 2) && a[2];
        if (dashed) a += 2;
        eq = strchr(a, '=');
        if (!dashed && (!eq || eq == a || a[0] == '-'))
            return ct_err_set(err, CT_ERR_ARG,
                              "unexpected argument '%s' (overrides are --key value, --key=value, a bare --flag or "
                              "key=value)", argv[i]);
        size_t klen = eq ? (size_t)(eq - a) : strlen(a);
        if (klen >= sizeof key) return ct_err_set(err, CT_ERR_ARG, "argument '%.40s...': key too long", argv[i]);
        memcpy(key, a, klen);
        key[klen] = 0;
        for (char *p = key; *p; p++)
            if (*p == '-') *p = '_';
        if (dashed) snprintf(where, sizeof where, "--%s", key);
        else snprintf(where, sizeof where, "%s=", key);
        if (eq) {
            val = eq + 1;
        } else {
            ct_cfg_arg_kind k = kind(user, key);
            if (k == CT_CFG_ARG_UNKNOWN) {
                val = i + 1 < argc && strncmp(argv[i + 1], "--", 2) && !strchr(argv[i + 1], '=') ? argv[++i] : "";
            } else if (k == CT_CFG_ARG_BOOL) {
                val = i + 1 < argc && is_bool_text(argv[i + 1]) ? argv[++i] : "true";
            } else {
                if (i + 1 >= argc) return ct_err_set(err, CT_ERR_ARG, "--%s needs a value", key);
                val = argv[++i];
            }
        }
        ct_status st = set(user, key, val, where, err);
        if (st) return st;
    }
    return CT_OK;
}
