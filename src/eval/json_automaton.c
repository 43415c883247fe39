/* The byte-level pushdown automaton over a jg_grammar (json_grammar.h). A state is a set of
 * stacks; each stack is a root frame followed by one frame per open value. A frame steps on one
 * byte and says whether it consumed it, rejects it, is finished by it (closing byte consumed), or
 * ended before it (numbers and literals, which have no closing byte: the byte goes to the parent).
 * Alternatives (anyOf, type lists, any value) fork the stack when their value starts; forks that
 * reject a byte die. */
#include <math.h>
#include <string.h>

#include "eval/json_grammar.h"

#include "eval/json_frame.h"

enum { OK, FAIL, DONE, POP, PUSH }; /* step results */

static const char THINK_OPEN[] = "<think>", THINK_CLOSE[] = "</think>";

static bool is_ws(int c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }

/* ---- numbers: can a value in the node's bounds still be reached from this prefix? ---- */

/* Does [ra, rb) (or the point ra when point) meet the bounds lo..hi (ends open as flagged)? */
static bool meets(long double ra, long double rb, bool point, long double lo, bool elo, long double hi, bool ehi) {
    if (point) return (elo ? ra > lo : ra >= lo) && (ehi ? ra < hi : ra <= hi);
    long double l = ra > lo ? ra : lo, u = hi < rb ? hi : rb;
    bool lopen = ra > lo ? false : elo, uopen = hi < rb ? ehi : true;
    return l < u || (l == u && !lopen && !uopen);
}

static long double p10(int k) {
    long double r = 1;
    while (k-- > 0) r *= 10;
    return r;
}

#define NEG 0x80
/* f: a number frame after a consumed byte; final: the number ends here. */
static bool num_feasible(const jg_node *nd, const fr *f, bool final) {
    if (!nd->has_min && !nd->has_max) return true;
    bool neg = f->a & NEG;
    int digits = f->a & 0x7f;
    /* bounds on the magnitude */
    long double lo = nd->has_min ? nd->min : -INFINITY, hi = nd->has_max ? nd->max : INFINITY;
    bool elo = nd->excl_min, ehi = nd->excl_max;
    if (neg) {
        long double t = lo;
        lo = -hi;
        hi = -t;
        bool e = elo;
        elo = ehi;
        ehi = e;
    }
    if (hi < 0 || (hi == 0 && ehi)) return false;
    long double v = (long double)f->x;
    bool integer = nd->kind == JG_INT;
    switch (f->ph) {
    case N_MINUS:
        return meets(0, p10(JG_MAX_DIGITS), false, lo, elo, hi, ehi);
    case N_ZERO:
        if (final || integer) return meets(0, 0, true, lo, elo, hi, ehi);
        return meets(0, 1, false, lo, elo, hi, ehi);
    case N_INT:
        if (final) return meets(v, v, true, lo, elo, hi, ehi);
        for (int k = 0; k + digits <= JG_MAX_DIGITS; k++) {
            long double s = p10(k);
            /* integers: v*s .. v*s+s-1, the integers of [v*s, (v+1)*s), against integer bounds */
            if (meets(v * s, (v + 1) * s, false, lo, elo, hi, ehi)) return true;
        }
        return false;
    case N_DOT:
        return meets(v, v + 1, false, lo, elo, hi, ehi);
    case N_FRAC: {
        long double x = v + (long double)f->m / p10(f->b);
        if (final || f->b >= 9) return meets(x, x, true, lo, elo, hi, ehi);
        return meets(x, x + 1 / p10(f->b), false, lo, elo, hi, ehi);
    }
    }
    return true;
}

static int num_step(const jg_grammar *g, fr *f, int c) {
    const jg_node *nd = &g->nodes[f->node];
    bool integer = nd->kind == JG_INT, bounded = nd->has_min || nd->has_max;
    int d = c - '0';
    bool acc = f->ph == N_ZERO || f->ph == N_INT || f->ph == N_FRAC || f->ph == N_EXP;
    fr t = *f;
    switch (f->ph) {
    case N_START:
    case N_MINUS:
        if (c == '-' && f->ph == N_START) t.ph = N_MINUS, t.a |= NEG;
        else if (c == '0') t.ph = N_ZERO;
        else if (is_digit(c)) t.ph = N_INT, t.a = (uint8_t)((t.a & NEG) | 1), t.x = bounded ? (uint64_t)d : 0;
        else return FAIL;
        break;
    case N_ZERO:
    case N_INT:
        if (is_digit(c) && f->ph == N_INT && (f->a & 0x7f) < JG_MAX_DIGITS) {
            t.a++;
            if (bounded) t.x = f->x * 10 + (uint64_t)d;
        } else if (c == '.' && !integer) t.ph = N_DOT;
        else if ((c == 'e' || c == 'E') && !integer && !bounded) t.ph = N_E;
        else goto end;
        break;
    case N_DOT:
        if (!is_digit(c)) return FAIL;
        t.ph = N_FRAC, t.b = 1, t.m = bounded ? (uint32_t)d : 0;
        break;
    case N_FRAC:
        if (is_digit(c) && f->b < (bounded ? 9 : JG_MAX_DIGITS)) {
            t.b++;
            if (bounded) t.m = f->m * 10 + (uint32_t)d;
        } else if ((c == 'e' || c == 'E') && !bounded) t.ph = N_E;
        else goto end;
        break;
    case N_E:
    case N_ESIGN:
        if ((c == '+' || c == '-') && f->ph == N_E) t.ph = N_ESIGN;
        else if (is_digit(c)) t.ph = N_EXP, t.n = 1;
        else return FAIL;
        break;
    case N_EXP:
        if (is_digit(c) && f->n < JG_MAX_EXP_DIGITS) t.n++;
        else goto end;
        break;
    }
    if (!num_feasible(nd, &t, false)) return FAIL;
    *f = t;
    return OK;
end:
    return acc && num_feasible(nd, f, true) ? POP : FAIL;
}

/* Breadth-first over digits, '.' and '-' from f until a frame may end the number (inside the
 * bounds); at most 256 frames per level (a level over it keeps its first 256: bounds that need
 * many digits have few live prefixes). */
int jg_num_rest(const jg_grammar *g, const fr *f) {
    enum { CAP = 256 };
    static const char BYTES[] = "0123456789.-";
    static _Thread_local fr lv[2][CAP];
    size_t n = 1, cur = 0;
    lv[0][0] = *f;
    for (int depth = 0; depth <= 2 * JG_MAX_DIGITS + 2 && n; depth++) {
        for (size_t i = 0; i < n; i++) {
            const fr *t = &lv[cur][i];
            bool acc = t->ph == N_ZERO || t->ph == N_INT || t->ph == N_FRAC || t->ph == N_EXP;
            if (acc && num_feasible(&g->nodes[t->node], t, true)) return depth;
        }
        size_t m = 0;
        for (size_t i = 0; i < n && m < CAP; i++)
            for (const char *c = BYTES; *c && m < CAP; c++) {
                fr t = lv[cur][i];
                if (num_step(g, &t, *c) != OK) continue;
                bool dup = false;
                for (size_t k = 0; k < m && !dup; k++) dup = !memcmp(&lv[cur ^ 1][k], &t, sizeof t);
                if (!dup) lv[cur ^ 1][m++] = t;
            }
        n = m;
        cur ^= 1;
    }
    return -1;
}

/* ---- strings ---- */

/* One byte of UTF-8 outside the ASCII range; false if it cannot continue a valid character. */
static bool utf8_step(fr *f, int c, bool *lead) {
    *lead = false;
    if (f->a) {
        if (c < (f->b >> 8) || c > (f->b & 0xff)) return false;
        f->a--;
        f->b = 0x80 << 8 | 0xBF;
        return true;
    }
    *lead = true;
    if (c >= 0xC2 && c <= 0xDF) f->a = 1, f->b = 0x80 << 8 | 0xBF;
    else if (c == 0xE0) f->a = 2, f->b = 0xA0 << 8 | 0xBF;
    else if (c == 0xED) f->a = 2, f->b = 0x80 << 8 | 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) f->a = 2, f->b = 0x80 << 8 | 0xBF;
    else if (c == 0xF0) f->a = 3, f->b = 0x90 << 8 | 0xBF;
    else if (c == 0xF4) f->a = 3, f->b = 0x80 << 8 | 0x8F;
    else if (c >= 0xF1 && c <= 0xF3) f->a = 3, f->b = 0x80 << 8 | 0xBF;
    else return false;
    return true;
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static int str_step(const jg_grammar *g, fr *f, int c) {
    const jg_node *nd = &g->nodes[f->node];
    bool counted = nd->min_len > 0 || nd->max_len >= 0; /* untracked lengths keep one state */
    bool room = nd->max_len < 0 || (int64_t)f->n < nd->max_len;
    switch (f->ph) {
    case S_OPEN:
        if (c != '"') return FAIL;
        f->ph = S_CHARS;
        return OK;
    case S_CHARS:
        if (c == JG_END) return FAIL;
        if (f->a) {
            bool lead;
            return utf8_step(f, c, &lead) ? OK : FAIL;
        }
        if (c == '"') return (int64_t)f->n >= nd->min_len ? DONE : FAIL;
        if (c < 0x20 || !room) return FAIL;
        if (c == '\\') {
            f->ph = S_ESC;
            return OK;
        }
        if (c >= 0x80) {
            bool lead;
            if (!utf8_step(f, c, &lead)) return FAIL;
        }
        if (counted) f->n++;
        return OK;
    case S_ESC:
        if (c == 'u') {
            f->ph = S_HEX, f->a = 0, f->m = 0;
            return OK;
        }
        if (c < 0 || c > 127 || !strchr("\"\\/bfnrt", c) || c == 0) return FAIL;
        f->ph = S_CHARS;
        if (counted) f->n++;
        return OK;
    case S_HEX: {
        int h = c == JG_END ? -1 : hexval(c);
        if (h < 0) return FAIL;
        if (f->a == 1 && f->m == 0xD && h >= 8) return FAIL; /* a lone surrogate half */
        f->m = f->m * 16 + (uint32_t)h;
        if (++f->a < 4) return OK;
        if (f->m == 0) return FAIL; /* \u0000: jansson refuses NUL in strings */
        f->ph = S_CHARS, f->a = 0, f->m = 0;
        if (counted) f->n++;
        return OK;
    }
    }
    return FAIL;
}

/* str_step's S_CHARS path over bytes b, outside a character: does each byte stay in the string
 * (no quote, backslash or control byte, valid UTF-8) and the last end a character? */
bool jg_str_content(const uint8_t *b, size_t len, uint32_t *cp) {
    fr f;
    memset(&f, 0, sizeof f);
    *cp = 0;
    for (size_t i = 0; i < len; i++) {
        int c = b[i];
        bool lead = true;
        if (!f.a && (c == '"' || c == '\\' || c < 0x20)) return false;
        if ((c >= 0x80 || f.a) && !utf8_step(&f, c, &lead)) return false;
        if (lead) (*cp)++;
    }
    return !f.a;
}

bool jg_in_string(const jg_grammar *g, const jg_state *st, jg_str_pos *p) {
    if (st->b[0] != 1 || st->b[1] < 2) return false;
    fr f;
    memcpy(&f, st->b + 2 + (size_t)(st->b[1] - 1) * sizeof f, sizeof f);
    if (f.kind != F_STR || f.ph != S_CHARS || f.a) return false;
    const jg_node *nd = &g->nodes[f.node];
    p->counted = nd->min_len > 0 || nd->max_len >= 0;
    p->n = f.n, p->min_len = nd->min_len, p->max_len = nd->max_len;
    return true;
}

/* ---- object keys: a string whose bytes are tracked against the sorted property names ---- */

static int key_step(const jg_grammar *g, stk *s, int c, int32_t *result) {
    fr *f = &s->f[s->depth - 1];
    const fr *o = &s->f[s->depth - 2];
    const jg_node *on = &g->nodes[o->node];
    jg_xk xk = jg_xkeys(s, s->depth - 2);
    uint32_t lo = f->m >> 16, hi = f->m & 0xffff;
    if (f->ph == S_OPEN) {
        if (c != '"') return FAIL;
        f->ph = S_CHARS;
        f->x = JG_FNV_START;
        return OK;
    }
    if (c == JG_END || c < 0x20 || c == '\\') return FAIL; /* keys are written without escapes */
    if (c == '"' && !f->a) {
        bool exact = lo < hi && on->name_len[lo] == f->n;
        *result = exact ? (int32_t)lo : -1;
        /* an additional property may not repeat a name written before in this object */
        if (!exact && jg_xk_has(&xk, jg_name_key(f->x, f->n))) return FAIL;
        return jg_key_ok(on, o, *result, xk.room) ? DONE : FAIL;
    }
    if (c >= 0x80 || f->a) {
        bool lead;
        if (!utf8_step(f, c, &lead)) return FAIL;
    }
    jg_name_range(on, f->n, c, &lo, &hi);
    bool any = jg_key_ok(on, o, -1, xk.room);
    for (uint32_t i = lo; i < hi && !any; i++) any = jg_key_ok(on, o, (int32_t)i, xk.room);
    if (!any) return FAIL;
    f->m = lo << 16 | hi;
    f->n++;
    f->x = jg_fnv(f->x, c);
    return OK;
}

/* ---- literals ---- */

/* A literal of an array with uniqueItems may not repeat one written before (bit i of the
 * array frame's x). */
static bool lit_free(const stk *s, uint32_t i) {
    const fr *p = &s->f[s->depth - 2];
    return p->kind != F_ARR || !(p->x >> i & 1);
}

static int lit_step(const jg_grammar *g, stk *s, int c, int32_t *result) {
    fr *f = &s->f[s->depth - 1];
    const jg_node *nd = &g->nodes[f->node];
    uint32_t lo = f->m >> 16, hi = f->m & 0xffff, pos = f->n;
    if (c != JG_END) {
        uint32_t nlo = lo;
        while (nlo < hi && (nd->lit_len[nlo] <= pos || (uint8_t)nd->lits[nlo][pos] < c)) nlo++;
        uint32_t nhi = nlo;
        while (nhi < hi && nd->lit_len[nhi] > pos && (uint8_t)nd->lits[nhi][pos] == c) nhi++;
        bool any = false;
        for (uint32_t i = nlo; i < nhi && !any; i++) any = lit_free(s, i);
        if (any) {
            f->m = nlo << 16 | nhi;
            f->n++;
            return OK;
        }
    }
    *result = (int32_t)lo;
    /* sorted: an exact match comes first */
    return lo < hi && nd->lit_len[lo] == pos && lit_free(s, lo) ? POP : FAIL;
}

/* ---- containers and the root ---- */

static int ws_or(const jg_grammar *g, fr *f, int c) {
    if (!is_ws(c)) return -1;
    if (f->ws >= g->max_ws) return FAIL;
    f->ws++;
    return OK;
}

static int obj_step(const jg_grammar *g, const stk *s, fr *f, int c, int32_t *push) {
    const jg_node *nd = &g->nodes[f->node];
    int room = jg_xkeys(s, s->depth - 1).room;
    bool more = jg_key_ok(nd, f, -1, room);
    for (uint32_t i = 0; i < nd->n_names && !more; i++) more = jg_key_ok(nd, f, (int32_t)i, room);
    bool closable = (f->x & nd->required) == nd->required && (int64_t)f->n >= nd->min_props;
    int r;
    switch (f->ph) {
    case O_OPEN:
        if (c != '{') return FAIL;
        f->ph = O_FIRST;
        return OK;
    case O_FIRST:
    case O_NEXT:
        if ((r = ws_or(g, f, c)) >= 0) return r;
        if (c == '}' && f->ph == O_FIRST) return closable ? DONE : FAIL;
        if (c != '"' || !more) return FAIL;
        f->ph = O_KEYWAIT, f->ws = 0;
        *push = -2; /* a key */
        return PUSH;
    case O_COLON:
        if ((r = ws_or(g, f, c)) >= 0) return r;
        if (c != ':') return FAIL;
        f->ph = O_VALUE, f->ws = 0;
        return OK;
    case O_VALUE:
        if ((r = ws_or(g, f, c)) >= 0) return r;
        if (c == JG_END) return FAIL;
        f->ph = O_VALWAIT, f->ws = 0;
        *push = (int32_t)f->m;
        return PUSH;
    case O_AFTER:
        if ((r = ws_or(g, f, c)) >= 0) return r;
        if (c == '}') return closable ? DONE : FAIL;
        if (c != ',' || !more) return FAIL;
        f->ph = O_NEXT, f->ws = 0;
        return OK;
    }
    return FAIL;
}

static int arr_step(const jg_grammar *g, fr *f, int c, int32_t *push) {
    const jg_node *nd = &g->nodes[f->node];
    int r;
    switch (f->ph) {
    case A_OPEN:
        if (c != '[') return FAIL;
        f->ph = A_FIRST;
        return OK;
    case A_FIRST:
    case A_NEXT:
        if ((r = ws_or(g, f, c)) >= 0) return r;
        if (c == ']' && f->ph == A_FIRST) return nd->min_items == 0 ? DONE : FAIL;
        if (c == JG_END || nd->max_items == 0) return FAIL;
        f->ph = A_VALWAIT, f->ws = 0;
        *push = f->n < nd->n_pre ? nd->pre[f->n] : nd->items;
        return PUSH;
    case A_AFTER:
        if ((r = ws_or(g, f, c)) >= 0) return r;
        if (c == ']') return (int64_t)f->n >= nd->min_items ? DONE : FAIL;
        if (c != ',' || (nd->max_items >= 0 && (int64_t)f->n >= nd->max_items)) return FAIL;
        f->ph = A_NEXT, f->ws = 0;
        return OK;
    }
    return FAIL;
}

static int root_step(const jg_grammar *g, fr *f, int c, int32_t *push) {
    int r;
    switch (f->ph) {
    case R_START:
        if (f->a && f->ws == 0 && c == '<') { /* an optional think block first */
            f->ph = R_TOPEN, f->n = 1;
            return OK;
        }
        if ((r = ws_or(g, f, c)) >= 0) return r;
        if (c == JG_END) return FAIL;
        f->ph = R_VALUE, f->ws = 0;
        *push = g->root;
        return PUSH;
    case R_TOPEN:
        if (c != THINK_OPEN[f->n]) return FAIL;
        if (++f->n == sizeof THINK_OPEN - 1) f->ph = R_THINK, f->n = 0;
        return OK;
    case R_THINK: /* free text until "</think>" (no proper prefix of it is also a suffix) */
        if (c == JG_END) return FAIL;
        if (c == THINK_CLOSE[f->n]) f->n++;
        else f->n = c == '<';
        if (f->n == sizeof THINK_CLOSE - 1) f->ph = R_START, f->a = 0, f->n = 0, f->ws = 0;
        return OK;
    case R_DONE:
        return c == JG_END ? OK : FAIL;
    }
    return FAIL;
}

/* ---- driving a stack ---- */

typedef struct sink {
    jg_state *out;
    uint32_t count;
    uint32_t work; /* alternatives expanded in this step; capped (self-referencing anyOf) */
} sink;

static void emit(sink *k, const stk *s) {
    uint8_t one[2 + JG_MAX_DEPTH * sizeof(fr) + JG_MAX_XKEYS * 8];
    size_t sz = jg_stack_size(s);
    jg_stack_put(one, s);
    uint8_t *b = k->out->b;
    size_t at = 1;
    for (uint32_t i = 0; i < k->count; i++) { /* drop duplicates */
        size_t len = jg_stack_len_at(b + at);
        if (len == sz && !memcmp(b + at, one, sz)) return;
        at += len;
    }
    if (k->count >= JG_MAX_STACKS) return; /* more live alternatives than tracked: cut */
    memcpy(b + at, one, sz);
    k->count++;
    k->out->len = (uint32_t)(at + sz);
    b[0] = (uint8_t)k->count;
}

static void run(const jg_grammar *g, stk *s, int c, sink *k);

/* alts: alternatives expanded on the way here; a cycle of anyOf / $ref without a value in
 * between ({"anyOf": [{"$ref": "#"}, ...]}) stops at JG_MAX_DEPTH. */
static void push_node(const jg_grammar *g, stk *s, int32_t node, int c, sink *k, int alts) {
    const jg_node *nd = &g->nodes[node];
    if (nd->kind == JG_ALT) {
        if (alts >= JG_MAX_DEPTH || ++k->work > 4096) return;
        for (uint32_t i = 0; i < nd->n_alts; i++) {
            stk t = *s;
            push_node(g, &t, nd->alts[i], c, k, alts + 1);
        }
        return;
    }
    if (s->depth >= JG_MAX_DEPTH) return;
    fr *f = &s->f[s->depth++];
    memset(f, 0, sizeof *f);
    f->node = (uint16_t)node;
    switch (nd->kind) {
    case JG_LIT: f->kind = F_LIT, f->m = nd->n_lits; break;
    case JG_INT:
    case JG_NUM: f->kind = F_NUM; break;
    case JG_STR: f->kind = F_STR; break;
    case JG_OBJ: f->kind = F_OBJ; break;
    case JG_ARR: f->kind = F_ARR; break;
    case JG_ALT: break;
    }
    run(g, s, c, k);
}

/* The frame on top finished; its parent moves on. */
static void pop(stk *s, int32_t result, const jg_grammar *g) {
    s->depth--;
    const fr *done = &s->f[s->depth];
    if (done->kind == F_OBJ) s->nk = (uint8_t)(s->nk - done->a); /* its names go with it */
    fr *p = &s->f[s->depth - 1];
    switch (p->kind) {
    case F_ROOT: p->ph = R_DONE; break;
    case F_OBJ:
        if (p->ph == O_KEYWAIT) {
            const jg_node *nd = &g->nodes[p->node];
            p->ph = O_COLON;
            p->n++;
            if (result >= 0) p->x |= 1ull << result, p->m = (uint32_t)nd->name_node[result];
            else { /* key_step checked the room */
                p->m = (uint32_t)nd->addl;
                s->kh[s->nk++] = jg_name_key(done->x, done->n);
                p->a++;
            }
        } else
            p->ph = O_AFTER;
        break;
    case F_ARR:
        p->ph = A_AFTER, p->n++;
        if (g->nodes[p->node].unique && result >= 0) p->x |= 1ull << result;
        break;
    }
}

static void run(const jg_grammar *g, stk *s, int c, sink *k) {
    for (;;) {
        fr *f = &s->f[s->depth - 1];
        int32_t push = -1, result = -1;
        int r = FAIL;
        switch (f->kind) {
        case F_ROOT: r = root_step(g, f, c, &push); break;
        case F_LIT: r = lit_step(g, s, c, &result); break;
        case F_NUM: r = num_step(g, f, c); break;
        case F_STR: r = str_step(g, f, c); break;
        case F_KEY: r = key_step(g, s, c, &result); break;
        case F_OBJ: r = obj_step(g, s, f, c, &push); break;
        case F_ARR: r = arr_step(g, f, c, &push); break;
        }
        switch (r) {
        case OK: emit(k, s); return;
        case FAIL: return;
        case DONE: pop(s, result, g); emit(k, s); return;
        case POP: pop(s, result, g); continue;
        case PUSH:
            if (push == -2) { /* an object key */
                if (s->depth >= JG_MAX_DEPTH) return;
                const jg_node *on = &g->nodes[f->node];
                fr *kf = &s->f[s->depth++];
                memset(kf, 0, sizeof *kf);
                kf->kind = F_KEY;
                kf->m = on->n_names;
                continue;
            }
            push_node(g, s, push, c, k, 0);
            return;
        }
        return;
    }
}

void jg_start(const jg_grammar *g, bool think, jg_state *st) {
    (void)g;
    stk s = {.depth = 1, .nk = 0};
    memset(&s.f[0], 0, sizeof s.f[0]);
    s.f[0].kind = F_ROOT;
    s.f[0].a = think;
    st->b[0] = 1;
    jg_stack_put(st->b + 1, &s);
    st->len = (uint32_t)(1 + jg_stack_size(&s));
}

bool jg_step(const jg_grammar *g, const jg_state *in, int c, jg_state *out) {
    sink k = {out, 0, 0};
    out->len = 1;
    out->b[0] = 0;
    size_t at = 1;
    for (uint32_t i = 0; i < in->b[0]; i++) {
        stk s;
        at += jg_stack_get(in->b + at, &s);
        run(g, &s, c, &k);
    }
    return k.count > 0;
}

bool jg_complete(const jg_grammar *g, const jg_state *st) {
    static _Thread_local jg_state tmp;
    return jg_step(g, st, JG_END, &tmp);
}

/* The canonical completion: from st, repeatedly the first allowed byte in a fixed preference
 * order (end, then closing bytes and a digit, then every other non-whitespace byte in order),
 * finishing a think block first. Deterministic, so for its first byte b,
 * canon(st) = b + canon(st . b): following it keeps shrinking it by one byte per byte. */
int jg_canon(const jg_grammar *g, const jg_state *st, uint8_t *out, int max) {
    static const uint8_t PREF[] = {'"', '}', ']', '0', '1'};
    static _Thread_local jg_state a, b;
    memcpy(&a, st, sizeof(uint32_t) + st->len);
    int n = 0;
    for (;;) {
        if (jg_step(g, &a, JG_END, &b)) return n;
        if (n >= max) return -1;
        int pick = -1;
        /* inside a think block: finish its marker */
        fr root;
        memcpy(&root, a.b + 2, sizeof root); /* state bytes are unaligned */
        if (a.b[0] == 1 && root.kind == F_ROOT && (root.ph == R_THINK || root.ph == R_TOPEN))
            pick = root.ph == R_TOPEN ? THINK_OPEN[root.n] : THINK_CLOSE[root.n];
        for (size_t i = 0; pick < 0 && i < sizeof PREF; i++)
            if (jg_step(g, &a, PREF[i], &b)) pick = PREF[i];
        for (int c = 0x21; pick < 0 && c < 256; c++)
            if (jg_step(g, &a, c, &b)) pick = c;
        if (pick < 0) return -1;
        jg_step(g, &a, pick, &b);
        if (out) out[n] = (uint8_t)pick;
        n++;
        memcpy(&a, &b, sizeof(uint32_t) + b.len);
    }
}
