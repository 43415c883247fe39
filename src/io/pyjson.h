/* JSON text exactly as Python's json.dumps writes it, so files we emit match what
 * transformers/PEFT/LlamaFactory write byte for byte:
 *   indent < 0 : one line, separators ", " and ": "   (json.dumps(obj))
 *   indent >= 0: newline + indent spaces, separators "," and ": " (json.dumps(obj, indent=N))
 * ensure_ascii (non-ASCII as \uXXXX, surrogate pairs above U+FFFF), floats as Python repr
 * (shortest round-trip digits, "1e-05", "2.0"), NaN/Infinity as Python spells them.
 * sort_keys sorts object keys by code point (byte order of UTF-8 is the same order). */
#ifndef CT_IO_PYJSON_H
#define CT_IO_PYJSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ctune/err.h"

/* Returns a malloc'd NUL-terminated string, or NULL when out of memory. */
char *ct_pyjson_dumps(const json_t *v, int indent, bool sort_keys);
/* Writes ct_pyjson_dumps(v, indent, sort_keys) to path atomically, plus "\n" when `newline`
 * (transformers' to_json_file adds one; PEFT's adapter_config.json and HF Trainer's
 * all_results.json have none). */
ct_status ct_pyjson_write_file(const char *path, const json_t *v, int indent, bool sort_keys,
                               bool newline, ct_err *err);
/* Python repr(float) into buf (at least 32 bytes). */
void ct_pyjson_float(double x, char *buf, size_t n);

#endif
