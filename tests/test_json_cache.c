/* The mask cache of constrained decoding (src/eval/json_constrain.c; keys from jg_cache_key,
 * json_key.c, which merges states that differ only in counters no token can make matter; narrowed
 * masks keyed by the largest completion after one token that fits): along random walks driven
 * through ct_json_constraint_apply with token budgets, the ids apply allows at every step equal
 * the definition computed from scratch for that step, token by token:
 *   a token is alive when the automaton steps over its bytes from the state of the text so far;
 *   rest is the shortest completion (jg_shortest, literals counted in tokens) after it; with lim = tokens left - 1
 *   (- 1 more while an end-of-sequence id still fits after the shortest completion), the mask is
 *   narrowed to the alive tokens with rest <= lim when the value is not complete, some alive
 *   token has rest > lim and the state's own completion fits; the eos id is allowed exactly when
 *   the value is complete.
 * Steps where the narrowed set is empty follow the canonical completion (not cached; checked
 * there only to allow alive tokens). */
#include <math.h>
#include <stdlib.h>

#include "ctune/constrain.h"
#include "ctune/risk.h"
#include "ctune/tokenizer.h"
#include "eval/json_grammar.h"
#include "eval/json_schema.h"
#include "harness.h"

typedef struct vocab {
    int32_t V; /* ids with text, then one id without text: the eos id */
    char **b;
    size_t *len;
} vocab;

static bool is_token(void *u, const uint8_t *b, size_t len) {
    const vocab *v = u;
    for (int32_t j = 0; j < v->V; j++)
        if (v->b[j] && v->len[j] == len && !memcmp(v->b[j], b, len)) return true;
    return false;
}

/* The state after token j's bytes from st (false: the token does not continue st). */
static bool step_token(const jg_grammar *g, const jg_state *st, const vocab *v, int32_t j, jg_state *a, jg_state *b) {
    memcpy(a, st, sizeof(uint32_t) + st->len);
    for (size_t k = 0; k < v->len[j]; k++) {
        if (!jg_step(g, a, (uint8_t)v->b[j][k], b)) return false;
        memcpy(a, b, sizeof(uint32_t) + b->len);
    }
    return true;
}

/* One walk of `budget` tokens: apply on c[0] and c[1] (a small and a large cache), the definition
 * on grammar g from its start state; logits from seed; *steps counts the steps checked. */
static void walk(ct_json_constraint *const *c, const jg_grammar *g, const vocab *v, unsigned seed, int budget,
                 bool quotes, int *steps) {
    int32_t V = v->V + 1, eos = v->V;
    ct_err err = {0};
    float *logits = malloc((size_t)V * sizeof *logits), *lg = malloc((size_t)V * sizeof *lg);
    int32_t *rest = malloc((size_t)V * sizeof *rest);
    jg_state *st = malloc(3 * sizeof *st), *a = st + 1, *b = st + 2;
    char text[4096];
    size_t n = 0;
    ct_json_constraint_reset(c[0]);
    ct_json_constraint_reset(c[1]);
    jg_start(g, false, st);
    for (int i = 0; i < budget; i++) {
        int64_t left = budget - i;
        /* the definition */
        bool done = jg_complete(g, st);
        int32_t dnow = jg_shortest(g, st), dmax = 0;
        for (int32_t j = 0; j < v->V; j++) {
            rest[j] = v->b[j] && step_token(g, st, v, j, a, b) ? jg_shortest(g, a) : -1;
            if (rest[j] > dmax) dmax = rest[j];
        }
        int64_t lim = left - 1 - (dnow + 1 <= left ? 1 : 0);
        bool narrow = !done && dmax > lim && lim < JG_INF, empty = true;
        if (narrow && dnow <= left)
            for (int32_t j = 0; j < v->V && empty; j++) empty = !(rest[j] >= 0 && rest[j] <= lim);
        /* apply */
        for (int32_t j = 0; j < V; j++) {
            seed = seed * 1103515245u + 12345u;
            logits[j] = (float)((seed >> 8) % 1000) / 100.0f;
            if (j < v->V && v->b[j] && (memchr(v->b[j], '}', v->len[j]) || memchr(v->b[j], ']', v->len[j])))
                logits[j] -= 8.0f; /* a "model" that rather goes on: counts reach their limits */
            if (quotes && j < v->V && v->b[j] && memchr(v->b[j], '"', v->len[j])) logits[j] += 4.0f; /* short strings */
        }
        logits[eos] = 5.0f;
        memcpy(lg, logits, (size_t)V * sizeof *lg);
        REQUIRE(ct_json_constraint_apply(c[0], lg, (size_t)V, &eos, 1, left, &err) == CT_OK);
        REQUIRE(ct_json_constraint_apply(c[1], logits, (size_t)V, &eos, 1, left, &err) == CT_OK);
        int32_t best = -1;
        for (int32_t j = 0; j < V; j++) {
            bool got = logits[j] != -INFINITY, want;
            CHECK_MSG(got == (lg[j] != -INFINITY), "step %d token %d: the caches differ", i, j);
            if (j == eos) want = done;
            else if (narrow && !empty) want = rest[j] >= 0 && rest[j] <= lim;
            else if (narrow) want = got && rest[j] >= 0; /* the canonical completion: alive only */
            else want = rest[j] >= 0;
            CHECK_MSG(got == want, "step %d (budget %d, left %lld, lim %lld) token %d (%s): apply %d, definition %d; text %.*s",
                      i, budget, (long long)left, (long long)lim, j, j < v->V && v->b[j] ? v->b[j] : "", got, want,
                      (int)n, text);
            if (got != want) goto out;
            if (got && (best < 0 || logits[j] > logits[best])) best = j;
        }
        (*steps)++;
        REQUIRE(best >= 0);
        if (best == eos) break;
        REQUIRE(ct_json_constraint_accept(c[0], best, &err) == CT_OK);
        REQUIRE(ct_json_constraint_accept(c[1], best, &err) == CT_OK);
        REQUIRE(step_token(g, st, v, best, a, b));
        memcpy(st, a, sizeof(uint32_t) + a->len);
        if (n + v->len[best] < sizeof text) memcpy(text + n, v->b[best], v->len[best]), n += v->len[best];
    }
out:
    free(logits);
    free(lg);
    free(rest);
    free(st);
}

TEST(jc_cache_equals_definition) {
    ct_tokenizer *tok = NULL;
    ct_err err = {0};
    REQUIRE(ct_tokenizer_load(ct_test_path("tests/fixtures/tok/qwen3_5-synth"), &tok, &err) == CT_OK);
    vocab v = {.V = ct_tokenizer_vocab_size(tok)};
    v.b = calloc((size_t)v.V, sizeof *v.b);
    v.len = calloc((size_t)v.V, sizeof *v.len);
    for (int32_t j = 0; j < v.V; j++)
        if (!ct_tokenizer_is_special(tok, j)) REQUIRE(ct_tokenizer_token_bytes(tok, j, &v.b[j], &v.len[j], &err) == CT_OK);
    static const char *const schemas[] = {
        /* strings far from / near maxLength, arrays far from / near maxItems */
        "{\"type\":\"array\",\"minItems\":1,\"maxItems\":24,\"items\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":30}}",
        /* free keys, key counts against min / maxProperties, non-negative numbers */
        "{\"type\":\"object\",\"minProperties\":1,\"maxProperties\":12,\"additionalProperties\":{\"type\":\"number\","
        "\"minimum\":0}}",
        /* prefix items, integers that may be negative, numbers > 0, unbounded strings */
        "{\"type\":\"array\",\"prefixItems\":[{\"type\":\"integer\",\"minimum\":0},{\"type\":\"string\"}],"
        "\"items\":{\"anyOf\":[{\"type\":\"integer\",\"minimum\":-3},{\"type\":\"number\",\"exclusiveMinimum\":0},"
        "{\"type\":\"string\",\"maxLength\":3}]}}",
        "{\"type\":\"object\",\"required\":[\"a\"],\"properties\":{\"a\":{\"type\":\"array\",\"items\":{\"type\":\"string\","
        "\"minLength\":40}},\"b\":{\"type\":\"integer\",\"minimum\":0}},\"maxProperties\":2}",
        /* counts right at maxProperties / maxItems, negative integers above a negative minimum */
        "{\"type\":\"object\",\"maxProperties\":3,\"additionalProperties\":false,\"properties\":{"
        "\"a\":{\"type\":\"array\",\"maxItems\":5,\"items\":{\"enum\":[1,2,\"x\"]}},\"b\":{\"type\":\"string\"},"
        "\"c\":{\"type\":\"array\",\"minItems\":2,\"items\":{\"type\":\"integer\",\"minimum\":-50}},\"d\":{\"type\":\"boolean\"}}}",
        "{\"type\":\"array\",\"items\":{\"type\":\"integer\",\"minimum\":-50}}",
        /* two live stacks, each with additional-property names in the state after its frames */
        "{\"anyOf\":[{\"type\":\"object\",\"additionalProperties\":{\"type\":\"integer\"}},{\"type\":\"object\","
        "\"properties\":{\"a\":{\"type\":\"string\"}},\"additionalProperties\":{\"type\":\"string\",\"maxLength\":4}}]}",
        NULL, /* json_object mode */
    };
    int checked = 0;
    for (size_t k = 0; k <= sizeof schemas / sizeof schemas[0]; k++) {
        ct_json_constraint_opts o = ct_json_constraint_opts_default();
        o.schema = k < sizeof schemas / sizeof schemas[0] ? schemas[k] : ct_risk_answer_schema_json();
        o.max_ws = 2;
        ct_json_schema s = {0};
        jg_grammar g = {0};
        if (o.schema) REQUIRE(ct_json_schema_load(&s, o.schema, "t.json", &err) == CT_OK);
        REQUIRE(jg_compile(&g, o.schema ? &s : NULL, o.max_ws, "t.json", &err) == CT_OK);
        REQUIRE(jg_shortest_tokens(&g, is_token, &v, 64, &err) == CT_OK);
        jg_state *st0 = malloc(sizeof *st0);
        jg_start(&g, false, st0);
        int32_t need = jg_shortest(&g, st0);
        free(st0);
        REQUIRE(need > 0 && need < JG_INF);
        ct_json_constraint *c[2] = {NULL, NULL};
        o.cache_max = 4; /* emptied often */
        REQUIRE(ct_json_constraint_new(&o, tok, v.V + 1, &c[0], &err) == CT_OK);
        o.cache_max = 1024;
        REQUIRE(ct_json_constraint_new(&o, tok, v.V + 1, &c[1], &err) == CT_OK);
        static const int extra[] = {1, 40, 3, 12, 90, 150};
        bool risk = k == sizeof schemas / sizeof schemas[0]; /* long walks (a 313-token minimum here): two */
        for (size_t e = 0; e < (risk ? 2 : sizeof extra / sizeof extra[0]); e++)
            walk(c, &g, &v, (unsigned)(k * 131 + e * 7), need + extra[e], e % 2, &checked);
        ct_json_constraint_stats st = ct_json_constraint_stats_get(c[1]);
        CHECK_MSG(st.walks < st.masks && st.forced > 0, "schema %zu: %llu walks for %llu masks, %llu narrowed", k,
                  (unsigned long long)st.walks, (unsigned long long)st.masks, (unsigned long long)st.forced);
        ct_json_constraint_free(c[0]);
        ct_json_constraint_free(c[1]);
        jg_free(&g);
        if (o.schema) ct_json_schema_free(&s);
    }
    CHECK_MSG(checked > 1000, "%d steps", checked);
    for (int32_t j = 0; j < v.V; j++) free(v.b[j]);
    free(v.b);
    free(v.len);
    ct_tokenizer_free(tok);
}
