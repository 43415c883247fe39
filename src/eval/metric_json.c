/* `json` task metric (metric_json.h). */
#include "eval/metric_json.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctune/data.h"

/* The JSON text of an answer: after a closed <think> block, inside a ``` fence if there is one,
 * trimmed. Returns a malloc'd copy. */
static char *answer_text(const char *output) {
    char *reasoning = NULL, *rest = NULL;
    const char *t = output;
    if (ct_split_think(output, &reasoning, &rest)) t = rest;
    const char *f = strstr(t, "```");
    const char *b = t, *e = t + strlen(t);
    if (f) {
        b = f + 3;
        if (!strncmp(b, "json", 4)) b += 4;
        const char *g = strstr(b, "```");
        if (g) e = g;
    }
    while (b < e && isspace((unsigned char)*b)) b++;
    while (e > b && isspace((unsigned char)e[-1])) e--;
    char *r = strndup(b, (size_t)(e - b));
    free(reasoning);
    free(rest);
    return r;
}

/* Compares the reference's leaves (through nested objects) with the answer's values at the same
 * paths. */
static void compare_fields(const json_t *ref, const json_t *got, const char *path, json_t *fields, int *total,
                           int *correct) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)ref, k, v) {
        char sub[1024];
        snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", k);
        const json_t *g = json_is_object(got) ? json_object_get(got, k) : NULL;
        if (json_is_object(v) && json_object_size(v)) {
            compare_fields(v, g, sub, fields, total, correct);
            continue;
        }
        bool ok = g && ct_json_equal_value(v, g);
        json_object_set_new(fields, sub, json_boolean(ok));
        (*total)++;
        *correct += ok;
    }
}

ct_status ct_metric_json_score(const char *output, const ct_json_schema *schema, const json_t *reference,
                               json_t **verdict, ct_err *err) {
    *verdict = NULL;
    if (reference && !json_is_object(reference))
        return ct_err_set(err, CT_ERR_ARG, "json metric: the reference is not a JSON object");
    char *text = answer_text(output ? output : "");
    if (!text) return ct_err_set(err, CT_ERR_NOMEM, "json metric: out of memory");
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    json_t *o = json_object();
    char why[CT_ERR_MSG_MAX + 64] = "";
    json_object_set_new(o, "parsed", json_boolean(v != NULL));
    if (!v) snprintf(why, sizeof why, "not JSON: %s (column %d)", je.text, je.column);
    bool valid = v != NULL;
    if (schema) {
        ct_err e = {0};
        valid = v && ct_json_schema_validate(schema, v, &e) == CT_OK;
        json_object_set_new(o, "schema_valid", json_boolean(valid));
        if (v && !valid) snprintf(why, sizeof why, "schema: %s", e.msg);
    } else
        json_object_set_new(o, "schema_valid", json_null());
    int total = 0, correct = 0;
    json_t *fields = json_object();
    if (reference) compare_fields(reference, v, "", fields, &total, &correct);
    json_object_set_new(o, "fields_total", json_integer(total));
    json_object_set_new(o, "fields_correct", json_integer(correct));
    json_object_set_new(o, "field_accuracy", total ? json_real((double)correct / total) : json_null());
    if (!why[0] && correct < total) {
        const char *k;
        json_t *f;
        json_object_foreach(fields, k, f) if (json_is_false(f)) {
            snprintf(why, sizeof why, "field '%s' differs from the reference", k);
            break;
        }
    }
    json_object_set_new(o, "fields", fields);
    bool passed = v && valid && correct == total;
    json_object_set_new(o, "passed", json_boolean(passed));
    json_object_set_new(o, "why", json_string(passed ? "ok" : why));
    json_decref(v);
    free(text);
    *verdict = o;
    return CT_OK;
}

static double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

json_t *ct_metric_json_aggregate(json_t *const *verdicts, size_t n) {
    size_t parsed = 0, with_schema = 0, valid = 0, passed = 0, with_ref = 0, exact = 0;
    long long fields = 0, correct = 0;
    double macro = 0;
    json_t *per_ok = json_object(), *per_n = json_object();
    for (size_t i = 0; i < n; i++) {
        const json_t *v = verdicts[i];
        parsed += json_is_true(json_object_get(v, "parsed"));
        passed += json_is_true(json_object_get(v, "passed"));
        const json_t *sv = json_object_get(v, "schema_valid");
        if (json_is_boolean(sv)) with_schema++, valid += json_is_true(sv);
        json_int_t t = json_integer_value(json_object_get(v, "fields_total"));
        json_int_t c = json_integer_value(json_object_get(v, "fields_correct"));
        if (t > 0) {
            with_ref++;
            exact += c == t;
            fields += t;
            correct += c;
            macro += (double)c / (double)t;
        }
        const char *k;
        json_t *f;
        json_object_foreach(json_object_get(v, "fields"), k, f) {
            json_object_set_new(per_n, k, json_integer(json_integer_value(json_object_get(per_n, k)) + 1));
            json_object_set_new(per_ok, k, json_integer(json_integer_value(json_object_get(per_ok, k)) + json_is_true(f)));
        }
    }
    json_t *m = json_object();
    json_object_set_new(m, "n", json_integer((json_int_t)n));
    json_object_set_new(m, "parse_rate", json_real(ratio((double)parsed, (double)n)));
    json_object_set_new(m, "schema_valid_rate", with_schema ? json_real(ratio((double)valid, (double)with_schema)) : json_null());
    json_object_set_new(m, "field_accuracy", with_ref ? json_real(ratio((double)correct, (double)fields)) : json_null());
    json_object_set_new(m, "field_accuracy_macro", with_ref ? json_real(macro / (double)with_ref) : json_null());
    json_object_set_new(m, "exact_match", with_ref ? json_real(ratio((double)exact, (double)with_ref)) : json_null());
    json_object_set_new(m, "pass_rate", json_real(ratio((double)passed, (double)n)));
    json_t *per = json_object();
    const char *k;
    json_t *c;
    json_object_foreach(per_n, k, c)
        json_object_set_new(per, k, json_real(ratio((double)json_integer_value(json_object_get(per_ok, k)),
                                                    (double)json_integer_value(c))));
    json_object_set_new(m, "per_field", per);
    json_decref(per_ok);
    json_decref(per_n);
    return m;
}
