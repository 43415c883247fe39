/* Shortest completions of automaton states (json_grammar.h, jg_shortest): the token budget of
 * constrained decoding. Per node, the bytes of its shortest complete value (a fixpoint over the
 * node graph: recursive schemas converge); per state, the cheapest stack: what its top frame
 * still needs, then what each frame below needs once its child is done. Written compactly: no
 * whitespace; each missing character of a string one ASCII byte; the required keys (and the
 * cheapest extra ones minProperties asks for) in any order; the cheapest literals; numbers by a
 * search over their digits (jg_num_rest). */
#include <stdlib.h>
#include <string.h>

#include "eval/json_frame.h"

enum { AT_FIRST, AT_AFTER, AT_NEXT }; /* where a container is: after its opening, a value, a comma */

static int32_t add(int32_t a, int32_t b) {
    int64_t s = (int64_t)a + b;
    return s >= JG_INF ? JG_INF : (int32_t)s;
}

static int32_t node_min(const jg_grammar *g, int32_t node) { return node < 0 ? JG_INF : g->shortest[node]; }

/* The rest of literal / property name i from byte p on. */
static int32_t lit_cost(const jg_node *nd, uint32_t i, uint32_t p) {
    return nd->lit_tok ? nd->lit_tok[i][p] : (int32_t)(nd->lit_len[i] - p);
}
static int32_t name_cost(const jg_node *nd, uint32_t i, uint32_t p) {
    return nd->name_tok ? nd->name_tok[i][p] : (int32_t)(nd->name_len[i] - p);
}

/* "name":value */
static int32_t entry(const jg_grammar *g, const jg_node *nd, uint32_t i) {
    return add(add(name_cost(nd, i, 0), 3), node_min(g, nd->name_node[i]));
}

/* Names of exactly len bytes a key may have (printable ASCII but '"' and '\\', or UTF-8). */
static int64_t names_of_len(int len) {
    static const int64_t N[] = {1, 94, 94 * 94 + 30 * 64};
    return len < 3 ? N[len] : (int64_t)1 << 40;
}

/* Additional-property names of len bytes still free in an object: not a declared name (that
 * would be the declared key), not written before (xk). */
static int64_t free_names(const jg_node *nd, const jg_xk *xk, int len) {
    int64_t a = names_of_len(len);
    for (uint32_t i = 0; i < nd->n_names; i++) a -= nd->name_len[i] == (size_t)len;
    for (int i = 0; i < xk->n; i++) a -= (int)(xk->h[i] >> 56) == len;
    a -= xk->plus_len == len;
    return a;
}

/* The rest of an object with keys x written (n keys), through its '}'. Additional properties
 * minProperties asks for take the shortest free names ("", then one byte, ...), each once, at
 * most xk->room of them. */
static int32_t obj_rest(const jg_grammar *g, const jg_node *nd, uint64_t x, int64_t n, int at, const jg_xk *xk) {
    int32_t sum = 0;
    int64_t k = 0;
    for (uint32_t i = 0; i < nd->n_names; i++)
        if ((nd->required >> i & 1) && !(x >> i & 1)) sum = add(sum, entry(g, nd, i)), k++;
    int64_t extra = nd->min_props - (n + k);
    if (extra < 0) extra = 0;
    if (at == AT_NEXT && k + extra == 0) extra = 1; /* a comma was written: a key must follow */
    uint64_t used = x | nd->required;
    int32_t vmin = nd->addl >= 0 ? node_min(g, nd->addl) : JG_INF;
    int room = xk->room, len = 0;
    int64_t left = free_names(nd, xk, 0);
    for (int64_t e = 0; e < extra; e++) {
        while (left <= 0 && len < 3) left = free_names(nd, xk, ++len);
        int32_t best = room > 0 && vmin < JG_INF ? add(3 + len, vmin) : JG_INF, bi = -1; /* "name":value */
        for (uint32_t i = 0; i < nd->n_names; i++)
            if (!(used >> i & 1) && entry(g, nd, i) < best) best = entry(g, nd, i), bi = (int32_t)i;
        if (best >= JG_INF) return JG_INF;
        sum = add(sum, best);
        if (bi >= 0) used |= 1ull << bi;
        else room--, left--;
    }
    int64_t K = k + extra, commas = at == AT_AFTER ? K : K > 0 ? K - 1 : 0;
    return add(add(sum, (int32_t)commas), 1);
}

/* The rest of an array with n items written (x: literals used, uniqueItems), through its ']'. */
static int32_t arr_rest(const jg_grammar *g, const jg_node *nd, int64_t n, uint64_t x, int at) {
    int64_t need = nd->min_items - n;
    if (need < 0) need = 0;
    if (at == AT_NEXT && need == 0) need = 1;
    if (need == 0) return 1;
    int32_t sum = 0;
    if (nd->unique) { /* items are literals, each at most once: the shortest unused ones */
        const jg_node *in = &g->nodes[nd->items];
        for (int64_t e = 0; e < need; e++) {
            int32_t best = JG_INF, bi = -1;
            for (uint32_t i = 0; i < in->n_lits; i++)
                if (!(x >> i & 1) && lit_cost(in, i, 0) < best) best = lit_cost(in, i, 0), bi = (int32_t)i;
            if (bi < 0) return JG_INF;
            sum = add(sum, best);
            x |= 1ull << bi;
        }
    } else
        for (int64_t j = 0; j < need; j++) {
            int64_t idx = n + j;
            sum = add(sum, node_min(g, idx < nd->n_pre ? nd->pre[idx] : nd->items));
        }
    return add(add(sum, (int32_t)(at == AT_AFTER ? need : need - 1)), 1);
}

static int32_t str_rest(const jg_node *nd, const fr *f) {
    int64_t n = f->n;
    int32_t r = f->a; /* S_CHARS: continuation bytes of the current character */
    if (f->ph == S_ESC) r = 1, n++;
    else if (f->ph == S_HEX) r = 4 - f->a, n++;
    else if (f->ph == S_OPEN) r = 1;
    int64_t more = nd->min_len - n;
    return add(r + 1, more > 0 ? (int32_t)more : 0);
}

/* A key's bytes so far, for the search below. */
typedef struct name_at {
    uint64_t h;      /* FNV-1a so far */
    uint32_t n, lo, hi; /* bytes, declared names starting with them */
    uint8_t a;       /* UTF-8 continuation bytes left */
    uint16_t b;      /* range of the next one */
} name_at;

/* Can the key close as an additional property after `left` more bytes? (depth-first, the
 * candidates in byte order; *budget caps the names looked at) */
static bool name_closes(const jg_node *on, const jg_xk *xk, name_at p, int left, int *budget) {
    if (!left) {
        if (p.a || (p.lo < p.hi && on->name_len[p.lo] == p.n)) return false;
        return --*budget >= 0 && !jg_xk_has(xk, jg_name_key(p.h, p.n));
    }
    int c0 = p.a ? p.b >> 8 : 0x20, c1 = p.a ? (p.b & 0xff) : 0x7f;
    for (int c = c0; c <= c1 && *budget > 0; c++) {
        if (!p.a && (c == '"' || c == '\\')) continue;
        name_at q = p;
        if (q.a) q.a--, q.b = 0x80 << 8 | 0xBF;
        jg_name_range(on, q.n, c, &q.lo, &q.hi);
        q.n++;
        q.h = jg_fnv(q.h, c);
        if (name_closes(on, xk, q, left - 1, budget)) return true;
    }
    return false;
}

/* A key being written in object o (its names xk): the key's rest, ':', its value and the
 * object's rest. As an additional property the key closes after the fewest bytes that finish
 * its character and make a name neither declared nor written before: ASCII candidates suffice
 * (94 one-byte, 94^2 two-byte ones, and at most JG_MAX_PROPS + JG_MAX_XKEYS names are taken). */
static int32_t key_rest(const jg_grammar *g, const fr *k, const fr *o, const jg_xk *xk) {
    const jg_node *on = &g->nodes[o->node];
    uint32_t lo = k->m >> 16, hi = k->m & 0xffff;
    int32_t best = JG_INF;
    for (uint32_t i = lo; i < hi; i++) {
        if (!jg_key_ok(on, o, (int32_t)i, xk->room)) continue;
        int32_t c = add(add(name_cost(on, i, k->n), 2), node_min(g, on->name_node[i]));
        c = add(c, obj_rest(g, on, o->x | 1ull << i, (int64_t)o->n + 1, AT_AFTER, xk));
        if (c < best) best = c;
    }
    if (jg_key_ok(on, o, -1, xk->room)) {
        name_at p = {k->x, k->n, lo, hi, k->a, k->b};
        int more = -1;
        for (int d = k->a; d <= k->a + 2 && more < 0; d++) {
            int budget = 4096;
            if (name_closes(on, xk, p, d, &budget)) more = d;
        }
        if (more >= 0) {
            jg_xk after = {xk->h, xk->n, xk->room - 1, (int32_t)(k->n + (uint32_t)more)};
            int32_t c = add(more + 2, node_min(g, on->addl));
            c = add(c, obj_rest(g, on, o->x, (int64_t)o->n + 1, AT_AFTER, &after));
            if (c < best) best = c;
        }
    }
    return best;
}

/* A container or the root on top of its stack (no child open); xk: an object's names. */
static int32_t own_rest(const jg_grammar *g, const fr *f, const jg_xk *xk) {
    const jg_node *nd = &g->nodes[f->node];
    switch (f->kind) {
    case F_ROOT:
        switch (f->ph) {
        case R_START: return node_min(g, g->root);
        case R_TOPEN: return add((int32_t)(7 - f->n) + 8, node_min(g, g->root));
        case R_THINK: return add((int32_t)(8 - f->n), node_min(g, g->root));
        case R_DONE: return 0;
        }
        return JG_INF;
    case F_OBJ:
        switch (f->ph) {
        case O_FIRST: return obj_rest(g, nd, f->x, f->n, AT_FIRST, xk);
        case O_COLON: return add(1, add(node_min(g, (int32_t)f->m), obj_rest(g, nd, f->x, f->n, AT_AFTER, xk)));
        case O_VALUE: return add(node_min(g, (int32_t)f->m), obj_rest(g, nd, f->x, f->n, AT_AFTER, xk));
        case O_AFTER: return obj_rest(g, nd, f->x, f->n, AT_AFTER, xk);
        case O_NEXT: return obj_rest(g, nd, f->x, f->n, AT_NEXT, xk);
        }
        return JG_INF;
    case F_ARR:
        switch (f->ph) {
        case A_FIRST: return arr_rest(g, nd, 0, f->x, AT_FIRST);
        case A_AFTER: return arr_rest(g, nd, f->n, f->x, AT_AFTER);
        case A_NEXT: return arr_rest(g, nd, f->n, f->x, AT_NEXT);
        }
        return JG_INF;
    }
    return JG_INF;
}

/* A frame whose child just finished (the child's own rest counted already). */
static int32_t after_child(const jg_grammar *g, const fr *f, const jg_xk *xk) {
    const jg_node *nd = &g->nodes[f->node];
    if (f->kind == F_ROOT && f->ph == R_VALUE) return 0;
    if (f->kind == F_OBJ && f->ph == O_VALWAIT) return obj_rest(g, nd, f->x, f->n, AT_AFTER, xk);
    if (f->kind == F_ARR && f->ph == A_VALWAIT) return arr_rest(g, nd, (int64_t)f->n + 1, f->x, AT_AFTER);
    return JG_INF;
}

static int32_t stack_rest(const jg_grammar *g, const stk *s) {
    int top = s->depth - 1, below = top - 1;
    const fr *f = &s->f[top];
    const jg_node *nd = &g->nodes[f->node];
    int32_t d = JG_INF;
    switch (f->kind) {
    case F_KEY:
        if (top < 2) return JG_INF;
        jg_xk xk = jg_xkeys(s, top - 1);
        d = key_rest(g, f, &s->f[top - 1], &xk);
        below = top - 2;
        break;
    case F_LIT: {
        const fr *p = &s->f[top - 1];
        bool uniq = p->kind == F_ARR && g->nodes[p->node].unique;
        uint32_t lo = f->m >> 16, hi = f->m & 0xffff;
        for (uint32_t i = lo; i < hi; i++) {
            if (uniq && (p->x >> i & 1)) continue;
            int32_t c = lit_cost(nd, i, f->n);
            if (uniq) c = add(c, arr_rest(g, &g->nodes[p->node], (int64_t)p->n + 1, p->x | 1ull << i, AT_AFTER));
            if (c < d) d = c;
        }
        if (uniq) below = top - 2;
        break;
    }
    case F_NUM: {
        int r = jg_num_rest(g, f);
        d = r < 0 ? JG_INF : r;
        break;
    }
    case F_STR: d = str_rest(nd, f); break;
    default: {
        jg_xk xk = jg_xkeys(s, top);
        d = own_rest(g, f, &xk);
        break;
    }
    }
    for (int i = below; i >= 0 && d < JG_INF; i--) {
        jg_xk xk = jg_xkeys(s, i);
        d = add(d, after_child(g, &s->f[i], &xk));
    }
    return d;
}

int32_t jg_shortest(const jg_grammar *g, const jg_state *st) {
    int32_t best = JG_INF;
    size_t at = 1;
    for (uint32_t i = 0; i < st->b[0]; i++) {
        stk s;
        at += jg_stack_get(st->b + at, &s);
        if (!s.depth) continue;
        int32_t d = stack_rest(g, &s);
        if (d < best) best = d;
    }
    return best;
}

static int32_t node_value(const jg_grammar *g, int32_t id) {
    const jg_node *nd = &g->nodes[id];
    int32_t best = JG_INF;
    switch (nd->kind) {
    case JG_LIT:
        for (uint32_t i = 0; i < nd->n_lits; i++)
            if (lit_cost(nd, i, 0) < best) best = lit_cost(nd, i, 0);
        return best;
    case JG_INT:
    case JG_NUM: {
        fr f;
        memset(&f, 0, sizeof f);
        f.node = (uint16_t)id;
        f.kind = F_NUM;
        int r = jg_num_rest(g, &f);
        return r < 0 ? JG_INF : r;
    }
    case JG_STR: return add(2, nd->min_len < JG_INF ? (int32_t)nd->min_len : JG_INF);
    case JG_OBJ: { /* a fresh object (names of none written; room as in an empty stack) */
        jg_xk none = {NULL, 0, JG_MAX_XKEYS, -1};
        return add(1, obj_rest(g, nd, 0, 0, AT_FIRST, &none));
    }
    case JG_ARR: return add(1, arr_rest(g, nd, 0, 0, AT_FIRST));
    case JG_ALT:
        for (uint32_t i = 0; i < nd->n_alts; i++)
            if (node_min(g, nd->alts[i]) < best) best = node_min(g, nd->alts[i]);
        return best;
    }
    return JG_INF;
}

ct_status jg_shortest_prepare(jg_grammar *g, ct_err *err) {
    g->shortest = malloc((g->n ? g->n : 1) * sizeof *g->shortest);
    if (!g->shortest) return ct_err_set(err, CT_ERR_NOMEM, "json schema: out of memory");
    for (size_t i = 0; i < g->n; i++) g->shortest[i] = JG_INF;
    /* Bellman-Ford style: every pass can only lower values; n + 1 passes settle them */
    for (size_t pass = 0; pass <= g->n; pass++) {
        bool changed = false;
        for (size_t i = 0; i < g->n; i++) {
            int32_t v = node_value(g, (int32_t)i);
            if (v < g->shortest[i]) g->shortest[i] = v, changed = true;
        }
        if (!changed) break;
    }
    return CT_OK;
}

/* tok[p]: the fewest tokens spelling text[p..len) (JG_INF: none). */
static int32_t *spell(const char *text, size_t len, bool (*is_token)(void *, const uint8_t *, size_t), void *u,
                      size_t max_len) {
    int32_t *tok = malloc((len + 1) * sizeof *tok);
    if (!tok) return NULL;
    tok[len] = 0;
    for (size_t p = len; p-- > 0;) {
        tok[p] = JG_INF;
        for (size_t k = 1; k <= max_len && p + k <= len; k++)
            if (tok[p + k] < JG_INF && tok[p + k] + 1 < tok[p] && is_token(u, (const uint8_t *)text + p, k))
                tok[p] = tok[p + k] + 1;
    }
    return tok;
}

ct_status jg_shortest_tokens(jg_grammar *g, bool (*is_token)(void *u, const uint8_t *b, size_t len), void *u,
                             size_t max_len, ct_err *err) {
    for (size_t i = 0; i < g->n; i++) {
        jg_node *nd = &g->nodes[i];
        if (nd->n_lits && !(nd->lit_tok = calloc(nd->n_lits, sizeof *nd->lit_tok))) goto nomem;
        for (uint32_t k = 0; k < nd->n_lits; k++)
            if (!(nd->lit_tok[k] = spell(nd->lits[k], nd->lit_len[k], is_token, u, max_len))) goto nomem;
        if (nd->n_names && !(nd->name_tok = calloc(nd->n_names, sizeof *nd->name_tok))) goto nomem;
        for (uint32_t k = 0; k < nd->n_names; k++)
            if (!(nd->name_tok[k] = spell(nd->names[k], nd->name_len[k], is_token, u, max_len))) goto nomem;
    }
    free(g->shortest);
    g->shortest = NULL;
    return jg_shortest_prepare(g, err);
nomem:
    return ct_err_set(err, CT_ERR_NOMEM, "json schema: out of memory");
}
