/* A small RFC 4180 CSV reader (csv.h). */
#include "eval/csv.h"

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"

typedef struct row_acc {
    ct_csv_row row;
    size_t cap;
} row_acc;

static ct_status add_field(row_acc *r, ct_buf *b, ct_err *err) {
    if (r->row.n == r->cap) {
        size_t nc = r->cap ? r->cap * 2 : 16;
        char **p = realloc(r->row.f, nc * sizeof *p);
        if (!p) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        r->row.f = p;
        r->cap = nc;
    }
    char *s = b->len ? b->data : strdup("");
    if (!s) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (b->len) *b = (ct_buf){0};
    r->row.f[r->row.n++] = s;
    return CT_OK;
}

static void clear_row(row_acc *r) {
    for (size_t i = 0; i < r->row.n; i++) free(r->row.f[i]);
    r->row.n = 0;
}

ct_status ct_csv_parse(const char *text, size_t len, const char *path, ct_csv_fn fn, void *user, ct_err *err) {
    row_acc r = {0};
    ct_buf b = {0};
    ct_status st = CT_OK;
    size_t i = 0, line = 1;
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) i = 3;
    r.row.line = 1;
    while (i <= len && !st) {
        /* one field */
        if (i < len && text[i] == '"') {
            size_t qline = line;
            i++;
            for (;;) {
                if (i >= len) {
                    st = ct_err_set(err, CT_ERR_FORMAT, "%s:%zu: unterminated quoted field", path, qline);
                    break;
                }
                if (text[i] == '"') {
                    if (i + 1 < len && text[i + 1] == '"') {
                        ct_buf_put(&b, "\"", 1);
                        i += 2;
                        continue;
                    }
                    i++;
                    break;
                }
                if (text[i] == '\n') line++;
                ct_buf_put(&b, text + i, 1);
                i++;
            }
            if (st) break;
            if (i < len && text[i] == '\r' && i + 1 < len && text[i + 1] == '\n') i++;
            if (i < len && text[i] != ',' && text[i] != '\n') {
                st = ct_err_set(err, CT_ERR_FORMAT, "%s:%zu: unexpected character after a closing quote", path, line);
                break;
            }
        } else {
            size_t s = i;
            while (i < len && text[i] != ',' && text[i] != '\n') i++;
            size_t e = i;
            if (e > s && text[e - 1] == '\r' && (i >= len || text[i] == '\n')) e--;
            if (e > s) ct_buf_put(&b, text + s, e - s);
        }
        if (b.oom) {
            st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            break;
        }
        if ((st = add_field(&r, &b, err))) break;
        if (i < len && text[i] == ',') {
            i++;
            continue;
        }
        /* end of a row: '\n' or the end of the text */
        bool blank = r.row.n == 1 && !r.row.f[0][0];
        if (!blank) st = fn(user, &r.row, err);
        clear_row(&r);
        if (i >= len) break;
        i++;
        line++;
        r.row.line = line;
        if (i == len) break;
    }
    clear_row(&r);
    free(r.row.f);
    ct_buf_free(&b);
    return st;
}
