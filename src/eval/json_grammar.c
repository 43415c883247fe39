/* JSON Schema -> automaton nodes (json_grammar.h). One node per (subschema, type); $ref targets
 * are memoised by schema object, so recursive schemas give a cyclic graph. enum / const values are
 * filtered through the validator (ct_json_schema_validate_at), so the generated literals satisfy
 * every sibling keyword. */
#include "eval/json_grammar.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct memo {
    const json_t *s;
    int32_t node;
} memo;

typedef struct cc {
    jg_grammar *g;
    const ct_json_schema *doc;
    const char *what;
    memo *m;
    size_t nm, capm;
    int32_t any; /* the node of "any JSON value", built on first use */
    ct_err *err;
} cc;

static int32_t new_node(cc *c, jg_kind kind) {
    jg_grammar *g = c->g;
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 16;
        jg_node *n = realloc(g->nodes, cap * sizeof *n);
        if (!n) return -1;
        g->nodes = n;
        g->cap = cap;
    }
    if (g->n >= 65535) return -1;
    jg_node *n = &g->nodes[g->n];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->max_len = n->max_items = n->max_props = -1;
    n->addl = n->items = -1;
    return (int32_t)g->n++;
}

static ct_status nomem(cc *c) { return ct_err_set(c->err, CT_ERR_NOMEM, "%s: out of memory compiling the schema", c->what); }

static int cmp_bytes(const char *a, size_t la, const char *b, size_t lb) {
    int r = memcmp(a, b, la < lb ? la : lb);
    return r ? r : (la > lb) - (la < lb);
}

/* Adds a literal text to a JG_LIT node, keeping the list sorted and unique. */
static ct_status add_lit(cc *c, int32_t id, const char *text) {
    jg_node *n = &c->g->nodes[id];
    size_t len = strlen(text), at = 0;
    while (at < n->n_lits && cmp_bytes(n->lits[at], n->lit_len[at], text, len) < 0) at++;
    if (at < n->n_lits && !cmp_bytes(n->lits[at], n->lit_len[at], text, len)) return CT_OK;
    char **l = realloc(n->lits, (n->n_lits + 1) * sizeof *l);
    if (l) n->lits = l;
    size_t *ll = realloc(n->lit_len, (n->n_lits + 1) * sizeof *ll);
    if (ll) n->lit_len = ll;
    char *d = strdup(text);
    if (!l || !ll || !d) {
        free(d);
        return nomem(c);
    }
    memmove(n->lits + at + 1, n->lits + at, (n->n_lits - at) * sizeof *l);
    memmove(n->lit_len + at + 1, n->lit_len + at, (n->n_lits - at) * sizeof *ll);
    n->lits[at] = d;
    n->lit_len[at] = len;
    n->n_lits++;
    return CT_OK;
}

static ct_status add_alt(cc *c, int32_t id, int32_t alt) {
    jg_node *n = &c->g->nodes[id];
    int32_t *a = realloc(n->alts, (n->n_alts + 1) * sizeof *a);
    if (!a) return nomem(c);
    n->alts = a;
    n->alts[n->n_alts++] = alt;
    return CT_OK;
}

static ct_status compile(cc *c, const json_t *s, const char *path, int32_t *out);

/* The node of any JSON value (the `true` schema): null, booleans, numbers, strings, objects and
 * arrays of any values. */
static ct_status any_node(cc *c, int32_t *out) {
    if (c->any >= 0) {
        *out = c->any;
        return CT_OK;
    }
    int32_t a = new_node(c, JG_ALT);
    if (a < 0) return nomem(c);
    c->any = a;
    int32_t nul = new_node(c, JG_LIT), bol = new_node(c, JG_LIT), num = new_node(c, JG_NUM),
            str = new_node(c, JG_STR), obj = new_node(c, JG_OBJ), arr = new_node(c, JG_ARR);
    if (nul < 0 || bol < 0 || num < 0 || str < 0 || obj < 0 || arr < 0) return nomem(c);
    ct_status st = add_lit(c, nul, "null");
    if (!st) st = add_lit(c, bol, "true");
    if (!st) st = add_lit(c, bol, "false");
    c->g->nodes[obj].addl = a;
    c->g->nodes[arr].items = a;
    int32_t all[] = {nul, bol, num, str, obj, arr};
    for (size_t i = 0; i < 6 && !st; i++) st = add_alt(c, a, all[i]);
    *out = a;
    return st;
}

static bool has(const json_t *s, const char *k) { return json_object_get(s, k) != NULL; }
static double numv(const json_t *s, const char *k) { return json_number_value(json_object_get(s, k)); }

static ct_status unsupported(cc *c, const char *path, const char *why) {
    return ct_err_set(c->err, CT_ERR_UNSUPPORTED, "%s: schema at %s: %s (constrained decoding)", c->what, path, why);
}

static ct_status unsat(cc *c, const char *path, const char *why) {
    return ct_err_set(c->err, CT_ERR_FORMAT, "%s: schema at %s can never be satisfied: %s", c->what, path, why);
}

static ct_status object_node(cc *c, const json_t *s, const char *path, int32_t id) {
    const json_t *props = json_object_get(s, "properties"), *req = json_object_get(s, "required"),
                 *addl = json_object_get(s, "additionalProperties");
    size_t np = props ? json_object_size(props) : 0;
    if (np > JG_MAX_PROPS) return unsupported(c, path, "more than 64 properties");
    char **names = calloc(np + 1, sizeof *names);
    size_t *lens = calloc(np + 1, sizeof *lens);
    int32_t *nodes = calloc(np + 1, sizeof *nodes);
    jg_node *n = &c->g->nodes[id];
    n->names = names;
    n->name_len = lens;
    n->name_node = nodes;
    if (!names || !lens || !nodes) return nomem(c);
    n->n_names = (uint32_t)np; /* NULL names until filled: jg_free copes */
    const char *k;
    json_t *v;
    size_t i = 0;
    json_object_foreach((json_t *)props, k, v) { /* sorted insert */
        for (const unsigned char *p = (const unsigned char *)k; *p; p++)
            if (*p < 0x20 || *p == '"' || *p == '\\') return unsupported(c, path, "a property name needs escaping");
        size_t len = strlen(k), at = i;
        while (at > 0 && cmp_bytes(names[at - 1], lens[at - 1], k, len) > 0) at--;
        memmove(names + at + 1, names + at, (i - at) * sizeof *names);
        memmove(lens + at + 1, lens + at, (i - at) * sizeof *lens);
        if (!(names[at] = strdup(k))) return nomem(c);
        lens[at] = len;
        i++;
    }
    for (i = 0; i < np; i++) {
        char sub[512];
        snprintf(sub, sizeof sub, "%s/properties/%s", path, names[i]);
        int32_t child;
        ct_status st = compile(c, json_object_get(props, names[i]), sub, &child);
        if (st) return st;
        c->g->nodes[id].name_node[i] = child;
    }
    n = &c->g->nodes[id];
    size_t ri;
    json_t *r;
    json_array_foreach((json_t *)req, ri, r) {
        if (!json_is_string(r)) continue;
        size_t j = 0;
        while (j < np && strcmp(n->names[j], json_string_value(r))) j++;
        if (j == np) {
            char m[300];
            snprintf(m, sizeof m, "required key '%.200s' is not listed in properties", json_string_value(r));
            return unsupported(c, path, m);
        }
        n->required |= 1ull << j;
    }
    n->min_props = has(s, "minProperties") ? (int64_t)ceil(numv(s, "minProperties")) : 0;
    n->max_props = has(s, "maxProperties") ? (int64_t)floor(numv(s, "maxProperties")) : -1;
    if (n->max_props >= 0 && (n->min_props > n->max_props || __builtin_popcountll(n->required) > n->max_props))
        return unsat(c, path, "maxProperties is below minProperties or the required keys");
    if (json_is_false(addl) && n->min_props > (int64_t)np) return unsat(c, path, "fewer properties than minProperties");
    if (json_is_false(addl)) n->addl = -1;
    else if (!addl || json_is_true(addl)) {
        int32_t a;
        ct_status st = any_node(c, &a);
        if (st) return st;
        c->g->nodes[id].addl = a;
    } else {
        char sub[512];
        snprintf(sub, sizeof sub, "%s/additionalProperties", path);
        int32_t a;
        ct_status st = compile(c, addl, sub, &a);
        if (st) return st;
        c->g->nodes[id].addl = a;
    }
    return CT_OK;
}

static ct_status array_node(cc *c, const json_t *s, const char *path, int32_t id) {
    jg_node *n = &c->g->nodes[id];
    const json_t *pre = json_object_get(s, "prefixItems");
    if (pre && json_array_size(pre)) {
        size_t np = json_array_size(pre);
        if (!(n->pre = calloc(np, sizeof *n->pre))) return nomem(c);
        for (size_t i = 0; i < np; i++) {
            char sub[512];
            snprintf(sub, sizeof sub, "%s/prefixItems/%zu", path, i);
            int32_t t;
            ct_status st = compile(c, json_array_get(pre, i), sub, &t);
            if (st) return st;
            c->g->nodes[id].pre[i] = t;
        }
        n = &c->g->nodes[id];
        n->n_pre = (uint32_t)np;
    }
    n->min_items = has(s, "minItems") ? (int64_t)ceil(numv(s, "minItems")) : 0;
    n->max_items = has(s, "maxItems") ? (int64_t)floor(numv(s, "maxItems")) : -1;
    if (n->min_items < 0) n->min_items = 0;
    if (n->max_items >= 0 && n->min_items > n->max_items) return unsat(c, path, "minItems > maxItems");
    const json_t *items = json_object_get(s, "items");
    if (json_is_false(items)) {
        if (n->min_items > (int64_t)n->n_pre) return unsat(c, path, "items is false but minItems exceeds the prefix items");
        if (n->max_items < 0 || n->max_items > (int64_t)n->n_pre) n->max_items = n->n_pre;
        n->items = -1;
        return CT_OK;
    }
    int32_t it;
    ct_status st;
    if (!items || json_is_true(items)) st = any_node(c, &it);
    else {
        char sub[512];
        snprintf(sub, sizeof sub, "%s/items", path);
        st = compile(c, items, sub, &it);
    }
    if (st) return st;
    c->g->nodes[id].items = it;
    if (json_is_true(json_object_get(s, "uniqueItems"))) { /* enforced for literal items only */
        const jg_node *in = &c->g->nodes[it];
        while (in->kind == JG_ALT && in->n_alts == 1) in = &c->g->nodes[in->alts[0]];
        n = &c->g->nodes[id];
        if (in->kind != JG_LIT || n->n_pre || in->n_lits > 64)
            return unsupported(c, path, "uniqueItems is enforced only for items that are enum / const values (at most 64)");
        n->items = (int32_t)(in - c->g->nodes);
        n->unique = true;
        if (n->min_items > (int64_t)in->n_lits) return unsat(c, path, "minItems exceeds the distinct values of uniqueItems");
        if (n->max_items < 0 || n->max_items > (int64_t)in->n_lits) n->max_items = in->n_lits;
    }
    return CT_OK;
}

static ct_status typed_node(cc *c, const json_t *s, const char *path, const char *type, int32_t id) {
    jg_node *n = &c->g->nodes[id];
    if (!strcmp(type, "null")) {
        n->kind = JG_LIT;
        return add_lit(c, id, "null");
    }
    if (!strcmp(type, "boolean")) {
        n->kind = JG_LIT;
        ct_status st = add_lit(c, id, "true");
        return st ? st : add_lit(c, id, "false");
    }
    if (!strcmp(type, "integer") || !strcmp(type, "number")) {
        bool integer = !strcmp(type, "integer");
        n->kind = integer ? JG_INT : JG_NUM;
        double lo = -INFINITY, hi = INFINITY;
        bool elo = false, ehi = false;
        if (has(s, "minimum")) lo = numv(s, "minimum");
        if (has(s, "exclusiveMinimum") && numv(s, "exclusiveMinimum") >= lo) lo = numv(s, "exclusiveMinimum"), elo = true;
        if (has(s, "maximum")) hi = numv(s, "maximum");
        if (has(s, "exclusiveMaximum") && numv(s, "exclusiveMaximum") <= hi) hi = numv(s, "exclusiveMaximum"), ehi = true;
        if (integer) { /* fold to inclusive integer bounds */
            if (isfinite(lo)) lo = elo ? floor(lo) + 1 : ceil(lo);
            if (isfinite(hi)) hi = ehi ? ceil(hi) - 1 : floor(hi);
            elo = ehi = false;
            if (lo > hi) return unsat(c, path, "no integer lies between the bounds");
        } else if (lo > hi || (lo == hi && (elo || ehi)))
            return unsat(c, path, "no number lies between the bounds");
        n->has_min = isfinite(lo);
        n->has_max = isfinite(hi);
        n->min = lo;
        n->max = hi;
        n->excl_min = elo;
        n->excl_max = ehi;
        if ((n->has_min && n->min >= 1e18) || (n->has_max && n->max <= -1e18))
            return unsupported(c, path, "bounds beyond 18 digits");
        return CT_OK;
    }
    if (!strcmp(type, "string")) {
        n->kind = JG_STR;
        n->min_len = has(s, "minLength") ? (int64_t)ceil(numv(s, "minLength")) : 0;
        n->max_len = has(s, "maxLength") ? (int64_t)floor(numv(s, "maxLength")) : -1;
        if (n->min_len < 0) n->min_len = 0;
        if (n->max_len >= 0 && n->min_len > n->max_len) return unsat(c, path, "minLength > maxLength");
        if (n->min_len > 1000000 || n->max_len > 1000000) return unsupported(c, path, "string length bounds over 1000000");
        return CT_OK;
    }
    if (!strcmp(type, "object")) {
        n->kind = JG_OBJ;
        return object_node(c, s, path, id);
    }
    n->kind = JG_ARR;
    return array_node(c, s, path, id);
}

/* The type a schema without "type" generates: the one its keywords describe, else any value. */
static const char *implied_type(const json_t *s) {
    if (has(s, "properties") || has(s, "required") || has(s, "additionalProperties")) return "object";
    if (has(s, "items") || has(s, "minItems") || has(s, "maxItems")) return "array";
    if (has(s, "minLength") || has(s, "maxLength")) return "string";
    if (has(s, "minimum") || has(s, "maximum") || has(s, "exclusiveMinimum") || has(s, "exclusiveMaximum"))
        return "number";
    return NULL;
}

static const char *const ANNOTATIONS[] = {"$schema", "$id", "$comment", "title", "description", "default",
                                          "examples", "$defs", "definitions", NULL};

static bool only_annotations_and(const json_t *s, const char *key) {
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (!strcmp(k, key)) continue;
        bool ann = false;
        for (const char *const *a = ANNOTATIONS; *a; a++) ann |= !strcmp(*a, k);
        if (!ann) return false;
    }
    return true;
}

static ct_status compile(cc *c, const json_t *s, const char *path, int32_t *out) {
    for (size_t i = 0; i < c->nm; i++)
        if (c->m[i].s == s) {
            *out = c->m[i].node;
            return CT_OK;
        }
    if (json_is_true(s) || (json_is_object(s) && only_annotations_and(s, "")))
        return any_node(c, out);
    if (json_is_false(s)) return unsat(c, path, "the schema is false");
    int32_t id = new_node(c, JG_ALT);
    if (id < 0) return nomem(c);
    if (c->nm == c->capm) {
        size_t cap = c->capm ? 2 * c->capm : 16;
        memo *m = realloc(c->m, cap * sizeof *m);
        if (!m) return nomem(c);
        c->m = m;
        c->capm = cap;
    }
    c->m[c->nm++] = (memo){s, id};
    *out = id;
    char sub[512];
    const json_t *ref = json_object_get(s, "$ref"), *any = json_object_get(s, "anyOf");
    if (ref) {
        if (!only_annotations_and(s, "$ref")) return unsupported(c, path, "$ref next to other keywords");
        int32_t t;
        ct_status st = compile(c, ct_json_schema_ref(c->doc->root, json_string_value(ref)), json_string_value(ref), &t);
        return st ? st : add_alt(c, id, t);
    }
    if (any) {
        if (!only_annotations_and(s, "anyOf")) return unsupported(c, path, "anyOf next to other keywords");
        size_t i;
        json_t *a;
        json_array_foreach((json_t *)any, i, a) {
            snprintf(sub, sizeof sub, "%s/anyOf/%zu", path, i);
            int32_t t;
            ct_status st = compile(c, a, sub, &t);
            if (!st) st = add_alt(c, id, t);
            if (st) return st;
        }
        return CT_OK;
    }
    const json_t *en = json_object_get(s, "enum"), *cn = json_object_get(s, "const");
    if (en || cn) { /* literals: the listed values that pass the whole schema */
        c->g->nodes[id].kind = JG_LIT;
        json_t *one = cn ? json_pack("[O]", cn) : NULL;
        const json_t *vals = cn ? one : en;
        size_t i;
        json_t *v;
        ct_status st = CT_OK;
        json_array_foreach((json_t *)vals, i, v) {
            ct_err e = {0};
            if (ct_json_schema_validate_at(c->doc, s, v, &e) != CT_OK) continue;
            char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!t) {
                st = nomem(c);
                break;
            }
            st = add_lit(c, id, t);
            free(t);
            if (st) break;
        }
        json_decref(one);
        if (!st && c->g->nodes[id].n_lits == 0) return unsat(c, path, "no enum / const value passes the schema");
        return st;
    }
    const json_t *type = json_object_get(s, "type");
    if (json_is_array(type) && json_array_size(type) == 1) type = json_array_get(type, 0);
    if (json_is_string(type)) return typed_node(c, s, path, json_string_value(type), id);
    if (!type) {
        const char *t = implied_type(s);
        if (t) return typed_node(c, s, path, t, id);
        int32_t a;
        ct_status st = any_node(c, &a);
        return st ? st : add_alt(c, id, a);
    }
    size_t i;
    json_t *t;
    json_array_foreach((json_t *)type, i, t) { /* a list of types: one alternative each */
        const char *tn = json_string_value(t);
        if (!strcmp(tn, "integer")) { /* integers are numbers already when both are listed */
            size_t j;
            json_t *u;
            bool num = false;
            json_array_foreach((json_t *)type, j, u) num |= !strcmp(json_string_value(u), "number");
            if (num) continue;
        }
        int32_t alt = new_node(c, JG_ALT);
        if (alt < 0) return nomem(c);
        ct_status st = typed_node(c, s, path, tn, alt);
        if (!st) st = add_alt(c, id, alt);
        if (st) return st;
    }
    return CT_OK;
}

ct_status jg_compile(jg_grammar *g, const ct_json_schema *s, int max_ws, const char *what, ct_err *err) {
    memset(g, 0, sizeof *g);
    g->max_ws = max_ws < 0 ? 0 : max_ws > 200 ? 200 : max_ws;
    cc c = {.g = g, .doc = s, .what = what, .any = -1, .err = err};
    ct_status st;
    if (!s) { /* json_object mode: an object of any values */
        int32_t a;
        st = any_node(&c, &a);
        int32_t o = st ? -1 : new_node(&c, JG_OBJ);
        if (!st && o < 0) st = nomem(&c);
        if (!st) {
            g->nodes[o].addl = a;
            g->root = o;
        }
    } else
        st = compile(&c, s->root, "#", &g->root);
    free(c.m);
    if (!st) st = jg_shortest_prepare(g, err);
    if (st) jg_free(g);
    return st;
}

void jg_free(jg_grammar *g) {
    for (size_t i = 0; i < g->n; i++) {
        jg_node *n = &g->nodes[i];
        for (uint32_t k = 0; k < n->n_lits; k++) free(n->lits[k]);
        free(n->lits);
        free(n->lit_len);
        for (uint32_t k = 0; k < n->n_names; k++) free(n->names[k]);
        free(n->names);
        free(n->name_len);
        free(n->name_node);
        free(n->alts);
        free(n->pre);
        for (uint32_t k = 0; n->lit_tok && k < n->n_lits; k++) free(n->lit_tok[k]);
        for (uint32_t k = 0; n->name_tok && k < n->n_names; k++) free(n->name_tok[k]);
        free(n->lit_tok);
        free(n->name_tok);
    }
    free(g->nodes);
    free(g->shortest);
    memset(g, 0, sizeof *g);
}
