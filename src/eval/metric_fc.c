/* `fc` task metric (metric_fc.h): Qwen <tool_call> parsing, EvalScope general_fc scoring and
 * BFCL's AST checker rules. */
#include "eval/metric_fc.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctune/data.h"
#include "eval/json_schema.h"

static bool say(char *why, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool say(char *why, size_t len, const char *fmt, ...) {
    if (why && len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, len, fmt, ap);
        va_end(ap);
    }
    return false;
}

size_t ct_fc_parse_calls(const char *output, json_t **calls, char *why, size_t why_len) {
    static const char OPEN[] = "<tool_call>", CLOSE[] = "</tool_call>";
    *calls = json_array();
    if (why && why_len) why[0] = 0;
    char *reasoning = NULL, *rest = NULL;
    const char *t = output ? output : "";
    if (ct_split_think(t, &reasoning, &rest)) t = rest;
    size_t blocks = 0;
    for (const char *p = strstr(t, OPEN); p; p = strstr(p, OPEN)) {
        blocks++;
        const char *b = p + sizeof OPEN - 1, *e = strstr(b, CLOSE);
        bool closed = e != NULL;
        if (!e) e = b + strlen(b);
        p = closed ? e + sizeof CLOSE - 1 : e;
        json_t *o = json_loadb(b, (size_t)(e - b), 0, NULL);
        const json_t *name = json_object_get(o, "name"), *args = json_object_get(o, "arguments");
        json_t *a = NULL;
        if (json_is_string(args)) a = json_loads(json_string_value(args), 0, NULL);
        else if (json_is_object(args)) a = json_incref((json_t *)args);
        else if (!args) a = json_object();
        bool ok = closed && json_is_string(name) && json_is_object(a);
        if (ok) {
            json_t *c = json_object();
            json_object_set(c, "name", (json_t *)name);
            json_object_set_new(c, "arguments", a);
            json_array_append_new(*calls, c);
            a = NULL;
        } else if (why && why_len && !why[0])
            say(why, why_len, "tool call %zu: %s", blocks,
                !closed ? "no </tool_call>" : !o ? "not a JSON object" : !json_is_string(name) ? "no \"name\" string"
                                                                                             : "\"arguments\" is not an object");
        json_decref(a);
        json_decref(o);
    }
    free(reasoning);
    free(rest);
    return blocks;
}

/* ---- BFCL types and values ---- */

typedef enum { T_STR, T_INT, T_FLOAT, T_BOOL, T_LIST, T_DICT, T_NONE, T_UNKNOWN } vtype;

static vtype type_of(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_STRING: return T_STR;
    case JSON_INTEGER: return T_INT;
    case JSON_REAL: return T_FLOAT;
    case JSON_TRUE:
    case JSON_FALSE: return T_BOOL;
    case JSON_ARRAY: return T_LIST;
    case JSON_OBJECT: return T_DICT;
    default: return T_NONE;
    }
}

/* A parameter's declared type, JSON Schema or BFCL (Python) names. */
static vtype declared(const char *t) {
    if (!t) return T_UNKNOWN;
    if (!strcmp(t, "string") || !strcmp(t, "any")) return T_STR;
    if (!strcmp(t, "integer")) return T_INT;
    if (!strcmp(t, "number") || !strcmp(t, "float")) return T_FLOAT;
    if (!strcmp(t, "boolean")) return T_BOOL;
    if (!strcmp(t, "array") || !strcmp(t, "tuple")) return T_LIST;
    if (!strcmp(t, "object") || !strcmp(t, "dict")) return T_DICT;
    return T_UNKNOWN;
}

static bool is_optional_marker(const json_t *v) { return json_is_string(v) && !json_string_length(v); }

/* The type of the first expected value that is not the optional marker "". */
static vtype answer_type(const json_t *possible) {
    size_t i;
    json_t *v;
    json_array_foreach(possible, i, v) if (!is_optional_marker(v)) return type_of(v);
    return T_UNKNOWN;
}

/* BFCL standardize_string: drop " ,./-_*^", lower case, ' -> ". Malloc'd. */
static char *standardize(const char *s) {
    char *r = malloc(strlen(s) + 1), *w = r;
    if (!r) return NULL;
    for (; *s; s++) {
        if (strchr(" ,./-_*^", *s)) continue;
        *w++ = *s == '\'' ? '"' : (char)tolower((unsigned char)*s);
    }
    *w = 0;
    return r;
}

/* Value equality after standardising strings (lists element-wise, one level, as BFCL). */
static bool std_equal(const json_t *a, const json_t *b) {
    if (json_is_string(a) && json_is_string(b)) {
        char *x = standardize(json_string_value(a)), *y = standardize(json_string_value(b));
        bool eq = x && y && !strcmp(x, y);
        free(x);
        free(y);
        return eq;
    }
    if (json_is_array(a) && json_is_array(b)) {
        if (json_array_size(a) != json_array_size(b)) return false;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!std_equal(json_array_get(a, i), json_array_get(b, i))) return false;
        return true;
    }
    return ct_json_equal_value(a, b);
}

static bool in_list_std(const json_t *v, const json_t *possible) {
    size_t i;
    json_t *p;
    json_array_foreach(possible, i, p) if (std_equal(v, p)) return true;
    return false;
}

static bool in_list_plain(const json_t *v, const json_t *possible) {
    size_t i;
    json_t *p;
    json_array_foreach(possible, i, p) if (ct_json_equal_value(v, p)) return true;
    return false;
}

/* BFCL dict_checker: the model's dict against each expected dict. */
static bool dict_ok(const char *param, const json_t *value, const json_t *possibles, char *why, size_t len) {
    size_t i;
    json_t *pa;
    json_array_foreach(possibles, i, pa) {
        if (is_optional_marker(pa) || !json_is_object(pa)) continue;
        bool ok = true;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)value, k, v) {
            const json_t *allowed = json_object_get(pa, k);
            if (!allowed) {
                ok = say(why, len, "parameter '%s': unexpected dict key '%s'", param, k);
                break;
            }
            if (!in_list_std(v, allowed)) {
                ok = say(why, len, "parameter '%s': invalid value for dict key '%s'", param, k);
                break;
            }
        }
        json_object_foreach(pa, k, v) {
            if (!ok) break;
            bool optional = false;
            size_t j;
            json_t *x;
            json_array_foreach(v, j, x) optional |= is_optional_marker(x);
            if (!json_object_get(value, k) && !optional) ok = say(why, len, "parameter '%s': missing dict key '%s'", param, k);
        }
        if (ok) return true;
    }
    return false;
}

/* BFCL type_checker (one level of nesting); *variable: the value has the expected values' type
 * instead of the declared one. */
static bool type_ok(const char *param, const json_t *value, const json_t *possible, vtype want, vtype items,
                    bool *variable, char *why, size_t len) {
    vtype pt = answer_type(possible), got = type_of(value);
    *variable = false;
    if (got == want) {
        if (items == T_UNKNOWN) {
            *variable = pt != T_UNKNOWN && pt != want;
            return true;
        }
        size_t i, j;
        json_t *pa, *e;
        json_array_foreach(possible, i, pa) { /* as BFCL: a non-list expected value passes */
            bool all = true;
            json_array_foreach(value, j, e) {
                if (!json_is_array(pa)) break;
                vtype et = type_of(e);
                if (!(et == items || (items == T_FLOAT && et == T_INT))) all = false;
            }
            if (all) {
                *variable = pt != T_UNKNOWN && pt != want;
                return true;
            }
        }
    }
    if (pt != T_UNKNOWN && got == pt) {
        *variable = true;
        return true;
    }
    return say(why, len, "parameter '%s': wrong type", param);
}

bool ct_fc_check_call(const json_t *func, const json_t *call, const json_t *expected, char *why, size_t len) {
    if (!json_is_object(expected) || json_object_size(expected) != 1)
        return say(why, len, "expected call is not {\"name\": {params}}");
    const char *fname = json_object_iter_key(json_object_iter((json_t *)expected));
    const json_t *possible = json_object_iter_value(json_object_iter((json_t *)expected));
    const char *name = json_string_value(json_object_get(call, "name"));
    if (!name || strcmp(name, fname)) return say(why, len, "wrong function name: expected '%s', got '%s'", fname, name ? name : "");
    const json_t *params = json_object_get(func, "parameters"), *props = json_object_get(params, "properties");
    const json_t *args = json_object_get(call, "arguments");
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(params, "required"), i, r) {
        if (json_is_string(r) && !json_object_get(args, json_string_value(r)))
            return say(why, len, "missing required parameter '%s'", json_string_value(r));
    }
    const char *param;
    json_t *value;
    json_object_foreach((json_t *)args, param, value) {
        const json_t *pd = json_object_get(props, param), *pa = json_object_get(possible, param);
        if (!pd || !pa) return say(why, len, "unexpected parameter '%s'", param);
        vtype want = declared(json_string_value(json_object_get(pd, "type")));
        vtype items = want == T_LIST ? declared(json_string_value(json_object_get(json_object_get(pd, "items"), "type"))) : T_UNKNOWN;
        if (want == T_UNKNOWN) return say(why, len, "parameter '%s': the tool declares no known type", param);
        json_t *v = json_incref(value);
        if (want == T_FLOAT && json_is_integer(v)) { /* Python's int -> float */
            json_t *f = json_real((double)json_integer_value(v));
            json_decref(v);
            v = f;
        }
        bool variable = false, ok = type_ok(param, v, pa, want, items, &variable, why, len);
        if (ok && !variable && want == T_DICT) ok = dict_ok(param, v, pa, why, len);
        else if (ok && !variable && want == T_LIST && items == T_DICT) { /* list_dict_checker */
            ok = false;
            size_t k;
            json_t *cand;
            json_array_foreach(pa, k, cand) {
                if (!json_is_array(cand) || json_array_size(cand) != json_array_size(v)) continue;
                bool all = true;
                for (size_t d = 0; d < json_array_size(v) && all; d++) {
                    json_t *one = json_pack("[O]", json_array_get(cand, d));
                    all = dict_ok(param, json_array_get(v, d), one, why, len);
                    json_decref(one);
                }
                if (all) ok = true;
            }
            if (!ok) say(why, len, "parameter '%s': no expected list of dicts matches", param);
        } else if (ok) { /* strings and lists standardised; a variable and other values as they are */
            ok = variable ? in_list_plain(v, pa) : in_list_std(v, pa);
            if (!ok) say(why, len, "parameter '%s': value not among the expected ones", param);
        }
        json_decref(v);
        if (!ok) return false;
    }
    json_t *allowed;
    json_object_foreach((json_t *)possible, param, allowed) {
        if (json_object_get(args, param)) continue;
        bool optional = false;
        json_t *x;
        json_array_foreach(allowed, i, x) optional |= is_optional_marker(x);
        if (!optional) return say(why, len, "parameter '%s' left out but not optional", param);
    }
    return true;
}

/* The function description of tool `name` ({"type":"function","function":{...}} or bare). */
static const json_t *find_tool(const json_t *tools, const char *name) {
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        const json_t *f = json_object_get(t, "function") ? json_object_get(t, "function") : t;
        const char *n = json_string_value(json_object_get(f, "name"));
        if (n && name && !strcmp(n, name)) return f;
    }
    return NULL;
}

bool ct_fc_check_calls(const json_t *tools, const json_t *calls, const json_t *expected, char *why, size_t len) {
    size_t n = json_array_size(calls), m = json_array_size(expected);
    if (n != m) return say(why, len, "wrong number of calls: %zu, expected %zu", n, m);
    bool *used = calloc(n + 1, sizeof *used);
    if (!used) return say(why, len, "out of memory");
    bool ok = true;
    for (size_t i = 0; i < m && ok; i++) {
        const json_t *e = json_array_get(expected, i);
        const char *fname = json_is_object(e) ? json_object_iter_key(json_object_iter((json_t *)e)) : NULL;
        const json_t *f = find_tool(tools, fname);
        if (!f) {
            ok = say(why, len, "expected call %zu names no tool of the sample", i + 1);
            break;
        }
        char first[256] = "";
        bool found = false;
        for (size_t j = 0; j < n && !found; j++) {
            if (used[j]) continue;
            char w[256] = "";
            if (ct_fc_check_call(f, json_array_get(calls, j), e, w, sizeof w)) used[j] = found = true;
            else if (!first[0]) snprintf(first, sizeof first, "%s", w);
        }
        if (!found) ok = say(why, len, "expected call %zu (%s) matches no call: %s", i + 1, fname, first);
    }
    free(used);
    return ok;
}

ct_status ct_metric_fc_score(const json_t *sample, const char *output, json_t **verdict, ct_err *err) {
    *verdict = NULL;
    const json_t *tools = json_object_get(sample, "tools");
    if (!json_is_array(tools)) return ct_err_set(err, CT_ERR_FORMAT, "fc sample: 'tools' is not an array");
    const json_t *expected = json_object_get(sample, "expected_calls");
    if (!expected) expected = json_object_get(sample, "ground_truth");
    if (expected && !json_is_array(expected))
        return ct_err_set(err, CT_ERR_FORMAT, "fc sample: 'expected_calls' is not a list of {name: {param: [values]}}");
    bool should = json_is_true(json_object_get(sample, "should_call_tool"));
    char why[512] = "";
    json_t *calls = NULL;
    size_t blocks = ct_fc_parse_calls(output, &calls, why, sizeof why);
    bool called = blocks > 0, valid = called && json_array_size(calls) == blocks;
    size_t i;
    json_t *c;
    json_array_foreach(calls, i, c) {
        if (!valid) break;
        const char *name = json_string_value(json_object_get(c, "name"));
        const json_t *f = find_tool(tools, name);
        const json_t *params = json_object_get(f, "parameters");
        if (!f || !params) {
            valid = say(why, sizeof why, "no schema for tool '%s'", name);
            break;
        }
        char *text = json_dumps(params, JSON_ENCODE_ANY);
        ct_json_schema s;
        char what[300];
        snprintf(what, sizeof what, "tool '%.200s' parameters", name);
        ct_status st = text ? ct_json_schema_load(&s, text, what, err) : ct_err_set(err, CT_ERR_NOMEM, "fc: out of memory");
        free(text);
        if (st) {
            json_decref(calls);
            return st;
        }
        ct_err e = {0};
        if (ct_json_schema_validate(&s, json_object_get(c, "arguments"), &e)) {
            valid = false;
            say(why, sizeof why, "tool '%s' arguments: %s", name, e.msg);
        }
        ct_json_schema_free(&s);
    }
    json_t *ast = json_null();
    if (!should) {
        ast = json_boolean(!called);
        if (called && !why[0]) say(why, sizeof why, "a tool was called on a sample that should not call one");
    } else if (expected) {
        char w[512] = "";
        bool ok = called && json_array_size(calls) == blocks && ct_fc_check_calls(tools, calls, expected, w, sizeof w);
        ast = json_boolean(ok);
        if (!ok && !why[0]) snprintf(why, sizeof why, "%s", called ? w : "no tool call");
    }
    if (should && !called && !why[0]) say(why, sizeof why, "no tool call");
    bool passed = should ? called && valid : !called;
    json_t *o = json_object();
    json_object_set_new(o, "called", json_boolean(called));
    json_object_set_new(o, "n_calls", json_integer((json_int_t)blocks));
    json_object_set_new(o, "should_call_tool", json_boolean(should));
    json_object_set_new(o, "schema_valid", json_boolean(valid));
    json_object_set_new(o, "successful_tool_call", json_boolean(called && valid));
    json_object_set_new(o, "ast_valid", ast);
    json_object_set_new(o, "passed", json_boolean(passed));
    json_object_set_new(o, "why", json_string(passed && !(json_is_false(ast)) ? "ok" : why));
    json_object_set_new(o, "calls", calls);
    *verdict = o;
    return CT_OK;
}

static double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

json_t *ct_metric_fc_aggregate(json_t *const *verdicts, size_t n) {
    size_t tp = 0, fp = 0, fn = 0, called = 0, success = 0, ast_n = 0, ast_ok = 0, irr_n = 0, irr_ok = 0, passed = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *v = verdicts[i];
        bool c = json_is_true(json_object_get(v, "called")), s = json_is_true(json_object_get(v, "should_call_tool"));
        called += c;
        success += json_is_true(json_object_get(v, "successful_tool_call"));
        tp += c && s;
        fp += c && !s;
        fn += !c && s;
        passed += json_is_true(json_object_get(v, "passed"));
        const json_t *a = json_object_get(v, "ast_valid");
        if (json_is_boolean(a)) ast_n++, ast_ok += json_is_true(a);
        if (!s) irr_n++, irr_ok += !c;
    }
    double p = ratio((double)tp, (double)(tp + fp)), r = ratio((double)tp, (double)(tp + fn));
    json_t *m = json_object();
    json_object_set_new(m, "n", json_integer((json_int_t)n));
    json_object_set_new(m, "tool_call_f1", json_real(p + r > 0 ? 2 * p * r / (p + r) : 0.0));
    json_object_set_new(m, "precision", json_real(p));
    json_object_set_new(m, "recall", json_real(r));
    json_object_set_new(m, "schema_accuracy", json_real(ratio((double)success, (double)called)));
    json_object_set_new(m, "count_finish_reason_tool_call", json_integer((json_int_t)called));
    json_object_set_new(m, "count_successful_tool_call", json_integer((json_int_t)success));
    json_object_set_new(m, "ast_accuracy", ast_n ? json_real(ratio((double)ast_ok, (double)ast_n)) : json_null());
    json_object_set_new(m, "irrelevance_accuracy", irr_n ? json_real(ratio((double)irr_ok, (double)irr_n)) : json_null());
    json_object_set_new(m, "pass_rate", json_real(ratio((double)passed, (double)n)));
    return m;
}
