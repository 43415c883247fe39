/* A tiny deterministic JSON writer used by the risk-dataset generator and evaluator.
 * Why not jansson's dumper: decimals must print the same bytes on every machine, so numbers are
 * written from integers with a fixed number of decimals (ct_rjw_fixed(w, -125, 1) -> -12.5),
 * never through printf("%g"). Output is compact (no spaces), keys in insertion order, non-ASCII
 * UTF-8 written raw (like Python's json.dumps(ensure_ascii=False, separators=(",", ":"))).
 * Allocation failure (or nesting deeper than CT_RJW_MAX_DEPTH) is sticky: w->oom is set and later calls do nothing. */
#ifndef CT_RISK_JSON_WRITER_H
#define CT_RISK_JSON_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CT_RJW_MAX_DEPTH 32

typedef struct ct_rjw {
    char *buf; /* NUL-terminated while !oom */
    size_t len, cap;
    bool oom;
    int depth;
    bool need_comma[CT_RJW_MAX_DEPTH];
    char opener[CT_RJW_MAX_DEPTH]; /* '{' or '[' per open level */
    bool after_key; /* the next value follows a key: no comma */
} ct_rjw;

void ct_rjw_init(ct_rjw *w);
void ct_rjw_free(ct_rjw *w);
/* Returns the buffer (caller frees) and resets the writer; NULL after an allocation failure. */
char *ct_rjw_take(ct_rjw *w);

/* Raw text (no separators added); used for plain strings built with the same buffer. */
void ct_rjw_raw(ct_rjw *w, const char *s, size_t n);
void ct_rjw_rawz(ct_rjw *w, const char *s);
void ct_rjw_printf(ct_rjw *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void ct_rjw_obj(ct_rjw *w);
void ct_rjw_arr(ct_rjw *w);
void ct_rjw_end(ct_rjw *w); /* closes the innermost object or array */
void ct_rjw_key(ct_rjw *w, const char *key);
void ct_rjw_str(ct_rjw *w, const char *s);
void ct_rjw_int(ct_rjw *w, int64_t v);
/* v / 10^decimals printed with exactly `decimals` digits after the point (decimals 0..6). */
void ct_rjw_fixed(ct_rjw *w, int64_t v, int decimals);
void ct_rjw_bool(ct_rjw *w, bool v);
void ct_rjw_null(ct_rjw *w);
/* A value that is already valid JSON text (inserted verbatim). */
void ct_rjw_json(ct_rjw *w, const char *json);

/* Formats v / 10^decimals like ct_rjw_fixed into out (size >= 32). Returns out. */
char *ct_fixed_fmt(char *out, int64_t v, int decimals);
/* Thousands separators for an integer: 12350 -> "12,350". out size >= 32. */
char *ct_int_grouped(char *out, int64_t v);

#endif
