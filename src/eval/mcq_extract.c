/* The option letter of a generated multiple-choice answer, as EvalScope's parse_answers /
 * parse_answers_zh (evalscope/utils/multi_choices.py) find it for a single-answer question:
 *  1. the last answer marker followed by a label wins: "ANSWER" (any case) or, for the Chinese
 *     templates, "答案", then spaces, ':' (or '：' after 答案), spaces, '*'s, spaces;
 *  2. the label after it: bracketed "(B)", "[B]", "（B）", "【B】" (letters/digits separated by
 *     commas), else plain letters/digits (English: with spaces and commas; Chinese: with
 *     commas); its leading run of words made only of option letters is kept ("B, not C" -> "B");
 *  3. that run, stripped (and a trailing '.', or '。' for Chinese), must be exactly one option
 *     letter, else there is no answer;
 *  4. with no marker followed by a label: the last uppercase letter of the whole text, if it is
 *     an option letter ("D." -> D; EvalScope's fallback, so "A cat" answers A).
 * Whitespace, digits and letters are ASCII here (Python's regex classes are Unicode). */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "eval/mcq_data.h"

static bool allowed(char c, int n) { return c >= 'A' && c < 'A' + n; }

static const char *skip_ws(const char *p) {
    while (*p && isspace((unsigned char)*p)) p++;
    return p;
}

/* End of the marker starting at p, or NULL when none starts there. */
static const char *marker_end(const char *p, bool zh) {
    const char *q;
    if (zh) {
        if (strncmp(p, "答案", 6)) return NULL;
        q = skip_ws(p + 6);
        if (*q == ':') q++;
        else if (!strncmp(q, "：", 3)) q += 3;
        else return NULL;
    } else {
        if (strncasecmp(p, "answer", 6)) return NULL;
        q = skip_ws(p + 6);
        if (*q != ':') return NULL;
        q++;
    }
    q = skip_ws(q);
    while (*q == '*') q++;
    return skip_ws(q);
}

static bool is_label_char(char c) { return isalnum((unsigned char)c); }

/* The capture of the label at p: [start, end); false when there is none. */
static bool label_at(const char *p, bool zh, const char **s, const char **e) {
    /* bracketed */
    size_t ol = *p == '(' || *p == '[' ? 1 : !strncmp(p, "（", 3) || !strncmp(p, "【", 3) ? 3 : 0;
    if (ol) {
        const char *q = skip_ws(p + ol), *start = q;
        if (is_label_char(*q)) {
            q++;
            for (;;) {
                const char *r = skip_ws(q);
                size_t cl = *r == ',' ? 1 : !strncmp(r, "，", 3) ? 3 : 0;
                if (!cl) break;
                r = skip_ws(r + cl);
                if (!is_label_char(*r)) break;
                q = r + 1;
            }
            const char *end = q;
            q = skip_ws(q);
            if (*q == ')' || *q == ']' || !strncmp(q, "）", 3) || !strncmp(q, "】", 3)) {
                *s = start;
                *e = end;
                return true;
            }
        }
    }
    /* plain */
    if (!is_label_char(*p)) return false;
    const char *q = p + 1;
    for (;;) {
        if (is_label_char(*q) || *q == ',' || (!zh && *q == ' ')) q++;
        else if (zh && !strncmp(q, "，", 3)) q += 3;
        else break;
    }
    *s = p;
    *e = q;
    return true;
}

/* End of the leading words made only of option letters (EvalScope's _label_prefix); s if none. */
static const char *label_prefix(const char *s, const char *e, int n) {
    const char *end = s, *p = s;
    while (p < e) {
        while (p < e && !is_label_char(*p)) p++;
        if (p >= e) break;
        const char *w = p;
        bool ok = true;
        while (p < e && is_label_char(*p)) ok &= allowed(*p++, n);
        (void)w;
        if (!ok) break;
        end = p;
    }
    return end;
}

int ct_mcq_extract(const char *out, int n_opts, bool zh) {
    const char *ends[256];
    size_t n_ends = 0;
    for (const char *p = out; *p; p++) {
        const char *e = marker_end(p, zh);
        if (e && n_ends < 256) ends[n_ends++] = e;
        else if (e) ends[n_ends - 1] = e; /* keep the last ones */
    }
    for (size_t i = n_ends; i-- > 0;) {
        const char *s, *e;
        if (!label_at(ends[i], zh, &s, &e)) continue;
        const char *pe = label_prefix(s, e, n_opts);
        if (pe == s) continue;
        /* strip, then one trailing '.' run (and '。' for Chinese) */
        while (pe > s && (isspace((unsigned char)pe[-1]) || pe[-1] == '.')) pe--;
        return pe - s == 1 && allowed(*s, n_opts) ? *s - 'A' : -1;
    }
    for (size_t i = strlen(out); i-- > 0;)
        if (out[i] >= 'A' && out[i] <= 'Z') return allowed(out[i], n_opts) ? out[i] - 'A' : -1;
    return -1;
}
