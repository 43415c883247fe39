/* The render context's emitters and the string helpers the template renderers share
 * (src/data/render.h). */
#include "data/render.h"

#include <stdlib.h>
#include <string.h>

void ct_rctx_emit(rctx *x, const char *s, size_t n, float w, uint32_t flags) {
    if (x->oom || x->st || n == 0) return;
    bool prompt = !(flags & CT_SEG_ANSWER);
    if (prompt && x->answer_seen) x->turn++, x->answer_seen = false;
    if (!prompt) x->answer_seen = true;
    if (x->o->train_on_prompt && prompt) w = 1.0f;
    ct_render *r = x->r;
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        while (cap < r->len + n + 1) cap *= 2;
        char *t = realloc(r->text, cap);
        if (!t) { x->oom = true; return; }
        r->text = t;
        r->cap = cap;
    }
    memcpy(r->text + r->len, s, n);
    ct_segment *last = r->n_segs ? &r->segs[r->n_segs - 1] : NULL;
    if (last && last->weight == w && last->flags == flags && last->turn == x->turn) {
        last->len += n;
    } else {
        if (r->n_segs == r->cap_segs) {
            size_t cap = r->cap_segs ? r->cap_segs * 2 : 16;
            ct_segment *sg = realloc(r->segs, cap * sizeof *sg);
            if (!sg) { x->oom = true; return; }
            r->segs = sg;
            r->cap_segs = cap;
        }
        r->segs[r->n_segs++] = (ct_segment){r->len, n, w, flags, x->turn};
    }
    r->len += n;
    r->text[r->len] = 0;
}

/* Bytes of the character at s (n bytes available) when Python's str.isspace() holds for it,
 * else 0: ASCII \t \n \v \f \r, \x1c-\x1f, space; U+0085, U+00A0, U+1680, U+2000-U+200A, U+2028,
 * U+2029, U+202F, U+205F, U+3000 (UTF-8). */
static size_t py_space(const char *p, size_t n) {
    const unsigned char *s = (const unsigned char *)p;
    if (n >= 1 && ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20))) return 1;
    if (n >= 2 && s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0)) return 2;
    if (n < 3) return 0;
    if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) return 3;
    if (s[0] == 0xe2 && s[1] == 0x80 && (s[2] <= 0x8a || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf) && s[2] >= 0x80)
        return 3;
    if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) return 3;
    if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) return 3;
    return 0;
}

/* Python str.strip() without arguments, as Jinja's `trim` (Unicode whitespace, see py_space). */
void ct_py_strip(const char *s, const char **b, size_t *n) {
    const char *e = s + strlen(s);
    size_t k;
    while (s < e && (k = py_space(s, (size_t)(e - s)))) s += k;
    while (e > s) {
        size_t back = 0;
        for (size_t j = 1; j <= 3 && !back && j <= (size_t)(e - s); j++)
            if (py_space(e - j, j) == j) back = j;
        if (!back) break;
        e -= back;
    }
    *b = s;
    *n = (size_t)(e - s);
}
