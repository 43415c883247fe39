/* Dataset files → rows → ct_conv (ct_read_dataset_file). The files HF `datasets` loads for
 * LlamaFactory's local datasets:
 *   .json   an array of rows (or one object); JSON Lines in a .json file are read as .jsonl, as
 *           HF's json builder does (it tries JSON Lines first, then one document);
 *   .jsonl  one row per line (a file that holds one JSON array is read as .json);
 *   .txt    one row {"text": line} per line, empty lines included (HF's text builder);
 *   a directory: every .json / .jsonl / .txt file in it, in name order.
 * csv / parquet / arrow (HF reads them too) are refused with a hint to convert.
 *
 * Rows are numbered from 1 the same way in every file kind: a .jsonl or .txt row is its line
 * number (blank lines count, so row N is line N in an editor), a .json row is its index + 1 in
 * the array, with the line it starts on ("data.json: row 12 (line 240)").
 *
 * A malformed row (bad JSON line, unconvertible row, structure LlamaFactory's converters skip)
 * is skipped and recorded in ct_bad_rows when skip_bad, else the read stops with its error. A
 * file that is not valid JSON as a whole is always an error (no row can be located in it), and so
 * are a read error (never taken for the end of the file), a line longer than CT_DATA_MAX_ROW and
 * anything that is not a regular file (a FIFO or a device among the files: ct_open_read). */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "ctune/data.h"
#include "data/reader.h"

/* One read: options, rows seen so far (max_rows spans the files of a directory), consumer. */
typedef struct rd {
    const ct_read_opts *o;
    size_t rows;
    ct_conv_fn fn;
    void *user;
} rd;

ct_read_opts ct_read_opts_default(void) {
    ct_read_opts o = {0};
    o.max_rows = -1;
    return o;
}

/* A row is about to be read: false once max_rows rows were. */
static bool more(rd *r) {
    if (r->o->max_rows >= 0 && (int64_t)r->rows >= r->o->max_rows) return false;
    r->rows++;
    return true;
}

void ct_bad_rows_add(ct_bad_rows *b, const char *msg) {
    if (!b) return;
    if (b->n < CT_BAD_ROWS_KEEP) { /* cut to the slot; a cut message ends with "..." */
        size_t cap = sizeof b->first[b->n], n = strlen(msg);
        if (n < cap) memcpy(b->first[b->n], msg, n + 1);
        else {
            size_t k = cap - 4;
            while (k && ((unsigned char)msg[k] & 0xc0) == 0x80) k--; /* not inside a UTF-8 character */
            memcpy(b->first[b->n], msg, k);
            memcpy(b->first[b->n] + k, "...", 4);
        }
    }
    b->n++;
}

static bool has_ext(const char *p, const char *ext) {
    size_t n = strlen(p), e = strlen(ext);
    return n > e && !strcmp(p + n - e, ext);
}

/* Skips a malformed row (recorded) or returns its error. */
static ct_status bad_row(rd *r, ct_status st, ct_err *err) {
    if (!(r->o->skip_bad && st == CT_ERR_FORMAT)) return st;
    ct_bad_rows_add(r->o->bad, err ? err->msg : "malformed row");
    if (err) err->code = CT_OK, err->msg[0] = 0;
    return CT_OK;
}

static ct_status emit_row(rd *r, const json_t *row, const char *where, ct_err *err) {
    ct_conv c;
    ct_status st = ct_conv_from_json(row, r->o->format, r->o->cols, where, &c, err);
    if (!st) st = ct_conv_check(&c, where, err);
    if (st) {
        ct_conv_free(&c);
        return bad_row(r, st, err);
    }
    st = r->fn(r->user, &c, where, err);
    ct_conv_free(&c);
    return st;
}

/* "path: row N (line L)" fits: the path and two numbers. */
static char *where_buf(const char *path, size_t *n) {
    *n = strlen(path) + 64;
    return malloc(*n);
}

/* Line by line: .jsonl (text=false) or .txt (text=true: every line is {"text": line}). A read
 * error or a line over CT_DATA_MAX_ROW stops the read with its error (ct_lines_next), whatever
 * skip_bad says: the rest of the file cannot be told apart from the bad line. */
static ct_status read_lines(rd *r, const char *path, bool text, ct_err *err) {
    ct_lines lr;
    ct_status st = ct_lines_open(&lr, path, CT_DATA_MAX_ROW, err);
    if (st) return st;
    size_t wn;
    char *where = where_buf(path, &wn);
    if (!where) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    bool got;
    while (!st && !(st = ct_lines_next(&lr, &got, err)) && got) {
        const char *line = lr.line;
        size_t k = lr.len; /* without its '\n' and one '\r' */
        if (!text) {
            size_t b = 0;
            while (b < k && strchr(" \t\r", line[b])) b++;
            if (b == k) continue; /* blank lines of a .jsonl are not rows */
        }
        if (!more(r)) break;
        while (k && line[k - 1] == '\r') k--;
        snprintf(where, wn, "%s: row %zu", path, lr.lineno);
        json_t *row;
        if (text) {
            json_t *s = json_stringn(line, k);
            if (!s) {
                st = ct_err_set(err, CT_ERR_FORMAT, "%s: not valid UTF-8", where);
                st = bad_row(r, st, err);
                continue;
            }
            row = json_object();
            if (!row || json_object_set_new(row, "text", s)) {
                json_decref(row);
                st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
                break;
            }
        } else {
            while (k && (line[k - 1] == ' ' || line[k - 1] == '\t')) k--;
            json_error_t je;
            if (!(row = json_loadb(line, k, JSON_ALLOW_NUL, &je))) {
                st = ct_err_set(err, CT_ERR_FORMAT, "%s: invalid JSON at column %d: %s", where, je.column, je.text);
                st = bad_row(r, st, err);
                continue;
            }
        }
        st = emit_row(r, row, where, err);
        json_decref(row);
    }
    free(where);
    ct_lines_close(&lr);
    return st;
}

/* Structure of a JSON text, found by walking strings and brackets (jansson does not report
 * positions of parsed values): the line each element of a top-level array starts on, and where
 * the first top-level value ends (offset just past it; 0 when it never closes). */
typedef struct json_shape {
    size_t *row_line;
    size_t n_rows;
    size_t end, end_line, end_col;
    bool array; /* the top-level value is an array */
} json_shape;

static void json_shape_scan(const char *s, size_t n, json_shape *sh) {
    memset(sh, 0, sizeof *sh);
    size_t cap = 0, line = 1, col = 0, depth = 0;
    bool in_str = false, esc = false, expect = false;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        col++;
        if (in_str) {
            if (esc) esc = false;
            else if (ch == '\\') esc = true;
            else if (ch == '"') in_str = false;
            if (ch == '\n') line++, col = 0;
            continue;
        }
        if (ch == '\n') {
            line++, col = 0;
            continue;
        }
        if (ch == ' ' || ch == '\t' || ch == '\r') continue;
        if (depth == 1 && sh->array && ch != ',' && ch != ']' && expect) {
            if (sh->n_rows == cap) {
                size_t nc = cap ? cap * 2 : 256;
                size_t *p = realloc(sh->row_line, nc * sizeof *p);
                if (!p) return; /* line numbers are a courtesy: stop recording */
                sh->row_line = p, cap = nc;
            }
            sh->row_line[sh->n_rows++] = line;
            expect = false;
        }
        if (ch == '"') in_str = true;
        else if (ch == '[' || ch == '{') {
            if (depth == 0) sh->array = ch == '[';
            depth++;
            if (depth == 1) expect = true;
        } else if (ch == ']' || ch == '}') {
            if (depth && --depth == 0) {
                sh->end = i + 1, sh->end_line = line, sh->end_col = col;
                return;
            }
        } else if (ch == ',' && depth == 1) {
            expect = true;
        }
    }
}

static const char *first_nonspace(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n", s[i])) return s + i;
    return NULL;
}

static ct_status read_json(rd *r, const char *path, ct_err *err) {
    char *text = NULL;
    size_t len = 0;
    ct_status st = ct_read_file(path, &text, &len, err);
    if (st) return st;
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    json_shape sh;
    json_shape_scan(text, len, &sh);
    if (!root) {
        const char *after = sh.end ? first_nonspace(text + sh.end, len - sh.end) : NULL;
        const char *first = first_nonspace(text, len);
        if (after && first && *first == '{' && *after == '{') {
            /* one object per line in a .json file: JSON Lines, as HF's json builder reads it */
            free(text);
            free(sh.row_line);
            return read_lines(r, path, false, err);
        }
        if (after)
            st = ct_err_set(err, CT_ERR_FORMAT,
                            "%s:%d:%d: invalid JSON: unexpected '%c' after the top-level %s closed at line %zu, "
                            "column %zu (a stray '%c'?)",
                            path, je.line, je.column, *after, sh.array ? "array" : "object",
                            sh.end_line, sh.end_col, text[sh.end - 1]);
        else
            st = ct_err_set(err, CT_ERR_FORMAT, "%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
        free(text);
        free(sh.row_line);
        return st;
    }
    free(text);
    size_t wn;
    char *where = where_buf(path, &wn);
    if (!where) {
        st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    } else if (json_is_object(root)) { /* a single-row .json file */
        snprintf(where, wn, "%s: row 1", path);
        if (more(r)) st = emit_row(r, root, where, err);
    } else if (!json_is_array(root)) {
        st = ct_err_set(err, CT_ERR_FORMAT, "%s: expected a JSON array of rows", path);
    } else {
        size_t i;
        json_t *row;
        json_array_foreach(root, i, row) {
            if (i < sh.n_rows) snprintf(where, wn, "%s: row %zu (line %zu)", path, i + 1, sh.row_line[i]);
            else snprintf(where, wn, "%s: row %zu", path, i + 1);
            if (!more(r) || (st = emit_row(r, row, where, err))) break;
        }
    }
    free(where);
    free(sh.row_line);
    json_decref(root);
    return st;
}

/* Whether a .jsonl file holds one JSON array (HF's json builder falls back to reading it whole):
 * its first non-blank byte is '['. Opened as every data file is (regular files only); a read
 * error is an error. */
static ct_status jsonl_is_array(const char *path, bool *array, ct_err *err) {
    *array = false;
    FILE *f;
    ct_status st = ct_open_read(path, &f, err);
    if (st) return st;
    int ch;
    errno = 0;
    while ((ch = getc(f)) != EOF && strchr(" \t\r\n", ch)) {
    }
    if (ch == EOF && ferror(f)) {
        int e = errno ? errno : EIO;
        st = ct_err_set(err, e == ENOMEM ? CT_ERR_NOMEM : CT_ERR_IO, "%s:1: read error: %s", path, strerror(e));
    }
    fclose(f);
    *array = ch == '[';
    return st;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

bool ct_data_file_name(const char *n) {
    return n[0] != '.' && strcmp(n, "dataset_info.json") &&
           (has_ext(n, ".json") || has_ext(n, ".jsonl") || has_ext(n, ".txt"));
}

ct_status ct_data_dir_files(const char *dir, char ***out, size_t *n_out, ct_err *err) {
    *out = NULL;
    *n_out = 0;
    DIR *d = opendir(dir);
    if (!d) return ct_err_set(err, CT_ERR_IO, "%s: %s", dir, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    ct_status st = CT_OK;
    while (!st && (e = readdir(d))) {
        if (!ct_data_file_name(e->d_name)) continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof *nn);
            if (!nn) {
                st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        else n++;
    }
    closedir(d);
    if (st) {
        for (size_t i = 0; i < n; i++) free(names[i]);
        free(names);
        return st;
    }
    if (n) qsort(names, n, sizeof *names, cmp_str);
    *out = names;
    *n_out = n;
    return CT_OK;
}

static ct_status read_path(rd *r, const char *path, ct_err *err) {
    if (ct_dir_exists(path)) {
        char **names;
        size_t n;
        ct_status st = ct_data_dir_files(path, &names, &n, err);
        if (st) return st;
        if (!n) st = ct_err_set(err, CT_ERR_IO, "%s: directory has no .json/.jsonl/.txt files", path);
        for (size_t i = 0; i < n; i++) {
            if (!st) {
                /* a FIFO or a device among the files is refused by ct_open_read ("is a FIFO") */
                char *full = ct_path_join(path, names[i]);
                st = full ? read_path(r, full, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
                free(full);
            }
            free(names[i]);
        }
        free(names);
        return st;
    }
    static const char *const refused[] = {".csv", ".parquet", ".arrow", ".tsv", NULL};
    for (size_t i = 0; refused[i]; i++)
        if (has_ext(path, refused[i]))
            return ct_err_set(err, CT_ERR_UNSUPPORTED,
                              "%s: %s files are not supported (ctune reads .json, .jsonl and .txt; convert it, "
                              "e.g. to JSON Lines)",
                              path, refused[i] + 1);
    if (has_ext(path, ".txt")) return read_lines(r, path, true, err);
    if (has_ext(path, ".jsonl")) {
        bool array;
        ct_status st = jsonl_is_array(path, &array, err);
        if (st) return st;
        if (!array) return read_lines(r, path, false, err);
    }
    return read_json(r, path, err);
}

ct_status ct_read_dataset_file(const char *path, const ct_read_opts *o, ct_conv_fn fn, void *user, ct_err *err) {
    ct_read_opts def = ct_read_opts_default();
    rd r = {o ? o : &def, 0, fn, user};
    return read_path(&r, path, err);
}
