#include "base/json.h"

#include <stdlib.h>

#include "base/file.h"

ct_status ct_json_load_file(const char *path, json_t **out, ct_err *err) {
    return ct_json_load_file_flags(path, 0, out, err);
}

ct_status ct_json_load_file_flags(const char *path, size_t flags, json_t **out, ct_err *err) {
    /* read through ct_read_file (regular files only, read errors reported as such), then parse:
     * jansson's own file reader takes a read error for the end of the file */
    *out = NULL;
    char *buf;
    size_t len;
    ct_status st = ct_read_file(path, &buf, &len, err);
    if (st) return st;
    json_error_t je;
    *out = json_loadb(buf, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | flags, &je);
    free(buf);
    if (!*out)
        return ct_err_set(err, CT_ERR_FORMAT, "%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
    return CT_OK;
}

ct_status ct_json_load_buf(const char *buf, size_t len, const char *what, json_t **out,
                           ct_err *err) {
    json_error_t je;
    *out = json_loadb(buf, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!*out)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: invalid JSON at column %d: %s", what,
                          je.column, je.text);
    return CT_OK;
}

bool ct_json_get_int(const json_t *obj, const char *key, int64_t *out) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return true;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    /* 4096.0 counts as an integer; the range check comes first because casting an
     * out-of-range double (1e300) to int64_t is undefined behaviour */
    double d = json_is_real(v) ? json_real_value(v) : 0.5;
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && d == (double)(int64_t)d) {
        *out = (int64_t)d;
        return true;
    }
    return false;
}

bool ct_json_get_double(const json_t *obj, const char *key, double *out) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return true;
    if (!json_is_number(v)) return false;
    *out = json_number_value(v);
    return true;
}

bool ct_json_get_bool(const json_t *obj, const char *key, bool *out) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return true;
    if (!json_is_boolean(v)) return false;
    *out = json_is_true(v);
    return true;
}

const char *ct_json_get_str(const json_t *obj, const char *key) {
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}
