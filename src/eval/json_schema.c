#include "eval/json_schema.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const KNOWN[] = {
    "$schema", "$id", "$comment", "title", "description", "default", "examples", "type", "enum",
    "const", "properties", "required", "additionalProperties", "minProperties", "maxProperties",
    "items", "prefixItems", "minItems", "maxItems", "uniqueItems", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "$ref", "$defs", "definitions",
    "anyOf", NULL,
};
static const char *const TYPES[] = {"null", "boolean", "object", "array", "number", "string", "integer", NULL};

static bool in_list(const char *const *l, const char *s) {
    for (; *l; l++)
        if (!strcmp(*l, s)) return true;
    return false;
}

const json_t *ct_json_schema_ref(const json_t *root, const char *ref) {
    if (!ref || ref[0] != '#') return NULL;
    const json_t *cur = root;
    const char *p = ref + 1;
    if (*p && *p != '/') return NULL;
    while (*p == '/' && cur) {
        p++;
        char tok[256];
        size_t n = 0;
        for (; *p && *p != '/'; p++) {
            char c = *p;
            if (c == '~' && (p[1] == '0' || p[1] == '1')) c = *++p == '0' ? '~' : '/';
            if (n + 1 >= sizeof tok) return NULL;
            tok[n++] = c;
        }
        tok[n] = 0;
        if (json_is_object(cur)) cur = json_object_get(cur, tok);
        else if (json_is_array(cur)) {
            char *end;
            unsigned long i = strtoul(tok, &end, 10);
            cur = n && !*end ? json_array_get(cur, i) : NULL;
        } else
            cur = NULL;
    }
    return cur;
}

/* Checks that every keyword is supported, recursively through subschemas. */
static bool jeq(const json_t *a, const json_t *b);

static ct_status check_schema(const json_t *root, const json_t *s, const char *path, const char *what,
                              ct_err *err) {
    if (json_is_boolean(s)) return CT_OK;
    if (!json_is_object(s)) return ct_err_set(err, CT_ERR_FORMAT, "%s: schema at %s is not an object or boolean", what, path);
    const char *k;
    json_t *v;
    char sub[512];
    json_object_foreach((json_t *)s, k, v) {
        if (!in_list(KNOWN, k))
            return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: keyword '%s' at %s is not supported by ctune's validator", what, k, path);
        if (!strcmp(k, "type")) {
            bool ok = json_is_string(v) && in_list(TYPES, json_string_value(v));
            if (json_is_array(v)) {
                ok = json_array_size(v) > 0;
                size_t i;
                json_t *t;
                json_array_foreach(v, i, t) ok = ok && json_is_string(t) && in_list(TYPES, json_string_value(t));
            }
            if (!ok) return ct_err_set(err, CT_ERR_FORMAT, "%s: bad 'type' at %s", what, path);
        } else if (!strcmp(k, "properties")) {
            if (!json_is_object(v)) return ct_err_set(err, CT_ERR_FORMAT, "%s: 'properties' at %s is not an object", what, path);
            const char *pk;
            json_t *pv;
            json_object_foreach(v, pk, pv) {
                snprintf(sub, sizeof sub, "%s/properties/%s", path, pk);
                ct_status st = check_schema(root, pv, sub, what, err);
                if (st) return st;
            }
        } else if (!strcmp(k, "additionalProperties") || !strcmp(k, "items")) {
            snprintf(sub, sizeof sub, "%s/%s", path, k);
            ct_status st = check_schema(root, v, sub, what, err);
            if (st) return st;
        } else if (!strcmp(k, "$defs") || !strcmp(k, "definitions")) {
            if (!json_is_object(v)) return ct_err_set(err, CT_ERR_FORMAT, "%s: '%s' at %s is not an object", what, k, path);
            const char *pk;
            json_t *pv;
            json_object_foreach(v, pk, pv) {
                snprintf(sub, sizeof sub, "%s/%s/%s", path, k, pk);
                ct_status st = check_schema(root, pv, sub, what, err);
                if (st) return st;
            }
        } else if (!strcmp(k, "$ref")) {
            if (!json_is_string(v) || !ct_json_schema_ref(root, json_string_value(v)))
                return ct_err_set(err, CT_ERR_FORMAT, "%s: '$ref' at %s does not name a schema in this document (only local '#/...' references are supported)", what, path);
            const json_t *t = ct_json_schema_ref(root, json_string_value(v));
            if (!json_is_object(t) && !json_is_boolean(t))
                return ct_err_set(err, CT_ERR_FORMAT, "%s: '$ref' at %s points at something that is not a schema", what, path);
        } else if (!strcmp(k, "prefixItems") || !strcmp(k, "anyOf")) {
            if (!json_is_array(v) || (!strcmp(k, "anyOf") && !json_array_size(v)))
                return ct_err_set(err, CT_ERR_FORMAT, "%s: '%s' at %s is not a non-empty array", what, k, path);
            size_t i;
            json_t *pv;
            json_array_foreach(v, i, pv) {
                snprintf(sub, sizeof sub, "%s/prefixItems/%zu", path, i);
                ct_status st = check_schema(root, pv, sub, what, err);
                if (st) return st;
            }
        } else if (!strcmp(k, "required") || !strcmp(k, "enum")) {
            if (!json_is_array(v)) return ct_err_set(err, CT_ERR_FORMAT, "%s: '%s' at %s is not an array", what, k, path);
        } else if (!strcmp(k, "uniqueItems")) {
            if (!json_is_boolean(v)) return ct_err_set(err, CT_ERR_FORMAT, "%s: 'uniqueItems' at %s is not a boolean", what, path);
        } else if (strstr(k, "min") == k || strstr(k, "max") == k || strstr(k, "exclusive") == k) {
            if (!json_is_number(v)) return ct_err_set(err, CT_ERR_FORMAT, "%s: '%s' at %s is not a number", what, k, path);
        }
    }
    return CT_OK;
}

ct_status ct_json_schema_load(ct_json_schema *s, const char *text, const char *what, ct_err *err) {
    json_error_t je;
    s->root = json_loads(text, JSON_DECODE_ANY, &je);
    if (!s->root)
        return ct_err_set(err, CT_ERR_FORMAT, "%s:%d:%d: invalid JSON: %s", what, je.line, je.column, je.text);
    ct_status st = check_schema(s->root, s->root, "#", what, err);
    if (st) ct_json_schema_free(s);
    return st;
}

void ct_json_schema_free(ct_json_schema *s) {
    json_decref(s->root);
    s->root = NULL;
}

bool ct_json_equal_value(const json_t *a, const json_t *b) { return jeq(a, b); }

/* Equality with numbers compared by value (JSON Schema's rule), recursively. */
static bool jeq(const json_t *a, const json_t *b) {
    if (json_is_number(a) && json_is_number(b)) {
        if (json_is_integer(a) && json_is_integer(b)) return json_integer_value(a) == json_integer_value(b);
        return json_number_value(a) == json_number_value(b);
    }
    if (json_typeof(a) != json_typeof(b)) return false;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b)) return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!jeq(json_array_get(a, i), json_array_get(b, i))) return false;
        return true;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b)) return false;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)a, k, v) {
            json_t *w = json_object_get(b, k);
            if (!w || !jeq(v, w)) return false;
        }
        return true;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

static bool is_type(const json_t *v, const char *t) {
    if (!strcmp(t, "null")) return json_is_null(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "integer"))
        return json_is_integer(v) || (json_is_real(v) && isfinite(json_real_value(v)) &&
                                      json_real_value(v) == floor(json_real_value(v)));
    return false;
}

static size_t utf8_len(const char *s, size_t n) {
    size_t cp = 0;
    for (size_t i = 0; i < n; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) cp++;
    return cp;
}

static double num(const json_t *s, const char *k) { return json_number_value(json_object_get(s, k)); }

static ct_status fail(ct_err *err, const char *path, const char *msg) {
    return ct_err_set(err, CT_ERR_FORMAT, "%s: %s", path, msg);
}

/* depth bounds $ref chains; *work bounds the whole validation (anyOf over self-references
 * branches exponentially). */
static ct_status validate(const json_t *root, const json_t *s, const json_t *v, const char *path, int depth,
                          long *work, ct_err *err) {
    if (depth > 64) return fail(err, path, "schema references nest deeper than 64 levels");
    if (--*work < 0) return fail(err, path, "validation gave up: more than 1000000 schema checks");
    if (json_is_true(s)) return CT_OK;
    if (json_is_false(s)) return fail(err, path, "no value is allowed here");
    char sub[512];
    json_t *k;
    if ((k = json_object_get(s, "$ref"))) {
        ct_status st = validate(root, ct_json_schema_ref(root, json_string_value(k)), v, path, depth + 1, work, err);
        if (st) return st;
    }
    if ((k = json_object_get(s, "anyOf"))) {
        bool ok = false;
        ct_err first = {0};
        for (size_t i = 0; i < json_array_size(k) && !ok; i++) {
            ct_err e = {0};
            ok = validate(root, json_array_get(k, i), v, path, depth + 1, work, &e) == CT_OK;
            if (i == 0) first = e;
        }
        if (!ok) {
            char m[300];
            snprintf(m, sizeof m, "matches none of the anyOf schemas (first: %.200s)", first.msg);
            return fail(err, path, m);
        }
    }
    if ((k = json_object_get(s, "type"))) {
        bool ok = false;
        if (json_is_string(k)) ok = is_type(v, json_string_value(k));
        else {
            size_t i;
            json_t *t;
            json_array_foreach(k, i, t) ok = ok || is_type(v, json_string_value(t));
        }
        if (!ok) {
            char m[128];
            snprintf(m, sizeof m, "wrong type (expected %s)",
                     json_is_string(k) ? json_string_value(k) : "one of the listed types");
            return fail(err, path, m);
        }
    }
    if ((k = json_object_get(s, "enum"))) {
        bool ok = false;
        for (size_t i = 0; i < json_array_size(k) && !ok; i++) ok = jeq(v, json_array_get(k, i));
        if (!ok) return fail(err, path, "value is not one of the enum values");
    }
    if ((k = json_object_get(s, "const")) && !jeq(v, k)) return fail(err, path, "value differs from const");
    if (json_is_number(v)) {
        double x = json_number_value(v);
        if (json_object_get(s, "minimum") && x < num(s, "minimum")) return fail(err, path, "below minimum");
        if (json_object_get(s, "maximum") && x > num(s, "maximum")) return fail(err, path, "above maximum");
        if (json_object_get(s, "exclusiveMinimum") && x <= num(s, "exclusiveMinimum"))
            return fail(err, path, "not above exclusiveMinimum");
        if (json_object_get(s, "exclusiveMaximum") && x >= num(s, "exclusiveMaximum"))
            return fail(err, path, "not below exclusiveMaximum");
    }
    if (json_is_string(v)) {
        size_t n = utf8_len(json_string_value(v), json_string_length(v));
        if (json_object_get(s, "minLength") && (double)n < num(s, "minLength")) return fail(err, path, "string too short");
        if (json_object_get(s, "maxLength") && (double)n > num(s, "maxLength")) return fail(err, path, "string too long");
    }
    if (json_is_object(v)) {
        json_t *props = json_object_get(s, "properties"), *addl = json_object_get(s, "additionalProperties");
        json_t *req = json_object_get(s, "required");
        size_t i;
        json_t *r;
        json_array_foreach(req, i, r) {
            if (json_is_string(r) && !json_object_get(v, json_string_value(r))) {
                char m[300];
                snprintf(m, sizeof m, "missing required key '%s'", json_string_value(r));
                return fail(err, path, m);
            }
        }
        double n = (double)json_object_size(v);
        if (json_object_get(s, "minProperties") && n < num(s, "minProperties")) return fail(err, path, "too few keys");
        if (json_object_get(s, "maxProperties") && n > num(s, "maxProperties")) return fail(err, path, "too many keys");
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)v, key, val) {
            json_t *ps = props ? json_object_get(props, key) : NULL;
            snprintf(sub, sizeof sub, "%s.%s", path, key);
            if (ps) {
                ct_status st = validate(root, ps, val, sub, depth + 1, work, err);
                if (st) return st;
            } else if (addl) {
                if (json_is_false(addl)) {
                    char m[300];
                    snprintf(m, sizeof m, "unknown key '%s'", key);
                    return fail(err, path, m);
                }
                ct_status st = validate(root, addl, val, sub, depth + 1, work, err);
                if (st) return st;
            }
        }
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v), npre = 0;
        if (json_object_get(s, "minItems") && (double)n < num(s, "minItems")) return fail(err, path, "too few items");
        if (json_object_get(s, "maxItems") && (double)n > num(s, "maxItems")) return fail(err, path, "too many items");
        json_t *pre = json_object_get(s, "prefixItems"), *items = json_object_get(s, "items");
        if (pre) npre = json_array_size(pre);
        for (size_t i = 0; i < n; i++) {
            json_t *is = i < npre ? json_array_get(pre, i) : items;
            if (!is) continue;
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            ct_status st = validate(root, is, json_array_get(v, i), sub, depth + 1, work, err);
            if (st) return st;
        }
        if (json_is_true(json_object_get(s, "uniqueItems")))
            for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++)
                    if (jeq(json_array_get(v, i), json_array_get(v, j))) return fail(err, path, "items are not unique");
    }
    return CT_OK;
}

ct_status ct_json_schema_validate_at(const ct_json_schema *s, const json_t *sub, const json_t *inst, ct_err *err) {
    if (!s->root) return ct_err_set(err, CT_ERR_ARG, "json schema: not loaded");
    long work = 1000000;
    return validate(s->root, sub, inst, "$", 0, &work, err);
}

ct_status ct_json_schema_validate(const ct_json_schema *s, const json_t *inst, ct_err *err) {
    if (!s->root) return ct_err_set(err, CT_ERR_ARG, "json schema: not loaded");
    long work = 1000000;
    return validate(s->root, s->root, inst, "$", 0, &work, err);
}
