/* Jinja `tojson` as HF transformers and @huggingface/jinja render it: key order kept, ", " and
 * ": " separators, non-ASCII kept as UTF-8, control characters escaped (\n, \t, \u001f ...).
 * Reals print as Python repr (shortest round-trip; 1.0 stays "1.0"). */
#ifndef CT_DATA_TOJSON_H
#define CT_DATA_TOJSON_H

#include <jansson.h>
#include <stddef.h>

#include "base/buf.h"
#include "ctune/err.h"


int ct_tojson(ct_buf *b, const json_t *v);                 /* 0 ok, -1 OOM */
int ct_tojson_string(ct_buf *b, const char *s, size_t n);  /* quoted + escaped */
/* tojson(indent=N): json.dumps(v, ensure_ascii=False, indent=N), i.e. one member per line
 * indented N spaces per level, "," and ": " separators, empty containers as {} and []. */
int ct_tojson_indent(ct_buf *b, const json_t *v, int indent); /* 0 ok, -1 OOM */
/* malloc'd tojson text of v, NULL on OOM. */
char *ct_tojson_dup(const json_t *v);

#endif
