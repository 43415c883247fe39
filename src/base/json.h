/* JSON helpers over jansson: file loading with file:line:column errors, typed getters. */
#ifndef CT_BASE_JSON_H
#define CT_BASE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctune/err.h"

/* Parses a JSON file; on error names "path:line:column: reason". */
ct_status ct_json_load_file(const char *path, json_t **out, ct_err *err);
/* Same with extra jansson decoding flags (JSON_DECODE_INT_AS_REAL: integers beyond int64, such as
 * tokenizer_config.json's model_max_length 1000000000000000019884624838656, load as reals). */
ct_status ct_json_load_file_flags(const char *path, size_t flags, json_t **out, ct_err *err);
/* Parses a buffer; `what` names the source in messages (e.g. "data.jsonl:12"). */
ct_status ct_json_load_buf(const char *buf, size_t len, const char *what, json_t **out, ct_err *err);

/* Getters with defaults; return false when the key exists but has the wrong type. */
bool ct_json_get_int(const json_t *obj, const char *key, int64_t *out);
bool ct_json_get_double(const json_t *obj, const char *key, double *out);
bool ct_json_get_bool(const json_t *obj, const char *key, bool *out);
const char *ct_json_get_str(const json_t *obj, const char *key); /* NULL if absent/not string */

#endif
