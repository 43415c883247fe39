/* Added-token matching (HF tokenizer/added_vocabulary.rs `find_matches`): a byte trie gives the
 * leftmost-longest match (aho-corasick MatchKind::LeftmostLongest), non-overlapping; then
 * single_word drops matches glued to word characters, lstrip/rstrip widen the span over
 * adjacent whitespace. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tok/tok_internal.h"

static ct_status trie_node(ct_trie *t, uint8_t byte, int32_t *out, ct_err *err) {
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        if (cap > INT32_MAX) return ct_err_set(err, CT_ERR_NOMEM, "added tokens: too many trie nodes");
        ct_trie_node *nn = realloc(t->node, cap * sizeof *nn);
        if (!nn) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        t->node = nn;
        t->cap = cap;
    }
    t->node[t->n] = (ct_trie_node){0, 0, -1, byte};
    *out = (int32_t)t->n++;
    return CT_OK;
}

/* Child of `node` along `byte`, 0 when none. */
static int32_t trie_child(const ct_trie *t, int32_t node, uint8_t byte) {
    if (!node) return t->root[byte];
    for (int32_t c = t->node[node].child; c; c = t->node[c].sibling)
        if (t->node[c].byte == byte) return c;
    return 0;
}

ct_status ct_trie_add(ct_trie *t, const char *s, size_t len, int32_t token, ct_err *err) {
    int32_t node;
    ct_status st;
    if (!t->n && (st = trie_node(t, 0, &node, err))) return st;
    if (!len) return CT_OK; /* HF ignores empty added tokens when matching */
    node = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        int32_t next = trie_child(t, node, c);
        if (!next) {
            if ((st = trie_node(t, c, &next, err))) return st;
            if (!node) t->root[c] = next;
            else {
                t->node[next].sibling = t->node[node].child;
                t->node[node].child = next;
            }
        }
        node = next;
    }
    t->node[node].token = token;
    return CT_OK;
}

void ct_trie_free(ct_trie *t) {
    free(t->node);
    memset(t, 0, sizeof *t);
}

/* Rust regex \w (Unicode): alphabetic, marks, decimal digits, connector punctuation. */
static bool is_word_char(uint32_t cp) {
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_PC: return true;
    default: return false;
    }
}

/* Code point ending at byte `end` (end > 0). */
static size_t char_before(const char *s, size_t end, uint32_t *cp) {
    size_t b = end - 1;
    while (b > 0 && ((unsigned char)s[b] & 0xC0) == 0x80) b--;
    if (!ct_utf8_decode((const unsigned char *)s + b, end - b, cp)) *cp = 0xFFFD;
    return end - b;
}

ct_status ct_added_find(const ct_trie *t, const ct_added_token *added, const char *s, size_t len,
                        ct_match **out, size_t *n_out, ct_err *err) {
    *out = NULL;
    *n_out = 0;
    if (!t->n) return CT_OK;
    size_t cap = 0, start_offset = 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (!t->root[p[i]]) {
            i++;
            continue;
        }
        int32_t node = 0, best = -1;
        size_t best_end = 0;
        for (size_t k = i; k < len; k++) {
            node = trie_child(t, node, p[k]);
            if (!node) break;
            if (t->node[node].token >= 0) best = t->node[node].token, best_end = k + 1;
        }
        if (best < 0) {
            i++;
            continue;
        }
        const ct_added_token *tok = &added[best];
        size_t start = i, stop = best_end;
        i = best_end;
        if (tok->single_word) {
            uint32_t cp;
            bool start_space = start == 0 || (char_before(s, start, &cp), !is_word_char(cp));
            bool stop_space = stop == len ||
                              (!ct_utf8_decode(p + stop, len - stop, &cp) || !is_word_char(cp));
            if (!start_space || !stop_space) continue;
        }
        if (tok->lstrip) {
            size_t ns = start;
            while (ns > 0) {
                uint32_t cp;
                size_t cl = char_before(s, ns, &cp);
                if (!ct_unicode_is_space(cp)) break;
                ns -= cl;
            }
            start = ns > start_offset ? ns : start_offset;
        }
        if (tok->rstrip) {
            while (stop < len) {
                uint32_t cp;
                size_t cl = ct_utf8_decode(p + stop, len - stop, &cp);
                if (!cl || !ct_unicode_is_space(cp)) break;
                stop += cl;
            }
            i = stop;
        }
        if (*n_out == cap) {
            cap = cap ? cap * 2 : 16;
            ct_match *m = realloc(*out, cap * sizeof *m);
            if (!m) {
                free(*out);
                *out = NULL;
                return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            }
            *out = m;
        }
        (*out)[(*n_out)++] = (ct_match){start, stop, tok->id};
        start_offset = stop;
    }
    return CT_OK;
}
