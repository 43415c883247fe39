/* The token budget of constrained decoding (src/eval/json_shortest.c, json_constrain.c): the
 * shortest completion of every state met along random byte walks is consistent (0 exactly when
 * complete; some byte lowers it by one; never longer than the canonical completion; equal to a
 * breadth-first search where that is small), and generations with random logits and a budget of
 * ct_json_constraint_min_tokens (or a little more) always end with a complete, valid value. */
#include <jansson.h>
#include <stdlib.h>

#include "ctune/constrain.h"
#include "ctune/risk.h"
#include "ctune/tokenizer.h"
#include "eval/json_grammar.h"
#include "eval/json_schema.h"
#include "harness.h"
#include "json_test_util.h"

static const char *const SCHEMAS[] = {
    "{\"type\":\"object\",\"properties\":{\"name\":{\"type\":\"string\",\"minLength\":2,\"maxLength\":4},"
    "\"n\":{\"type\":\"integer\",\"minimum\":-5,\"maximum\":250}},\"required\":[\"name\",\"n\"],\"additionalProperties\":false}",
    "{\"type\":\"array\",\"items\":{\"anyOf\":[{\"type\":\"number\",\"maximum\":3.5},{\"enum\":[\"the\",\"then\",null]}]},"
    "\"minItems\":2,\"maxItems\":4}",
    "{\"type\":\"object\",\"minProperties\":2,\"properties\":{\"abc\":{\"type\":\"boolean\"},\"ab\":{\"type\":\"number\","
    "\"exclusiveMinimum\":10.5,\"maximum\":11}},\"additionalProperties\":{\"type\":\"integer\",\"minimum\":100}}",
    "{\"type\":\"array\",\"uniqueItems\":true,\"minItems\":3,\"items\":{\"enum\":[\"aaaa\",\"b\",\"cc\",\"d\"]}}",
    "{\"$defs\":{\"t\":{\"type\":\"object\",\"properties\":{\"kids\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/$defs/t\"}},"
    "\"v\":{\"type\":\"string\",\"minLength\":3}},\"required\":[\"v\",\"kids\"]}},\"$ref\":\"#/$defs/t\"}",
    NULL, /* json_object mode */
};

static void compile(jg_grammar *g, ct_json_schema *s, const char *schema) {
    ct_err err = {0};
    memset(s, 0, sizeof *s);
    if (schema) REQUIRE(ct_json_schema_load(s, schema, "t.json", &err) == CT_OK);
    REQUIRE(jg_compile(g, schema ? s : NULL, 1, "t.json", &err) == CT_OK);
}

/* The exact shortest completion by breadth-first search over bytes, up to max (-1 beyond).
 * *cut: a level had more states than the search keeps (additional-property names make every
 * key byte a distinct state), so a longer result, or none, is only an upper bound. */
static int bfs_shortest(const jg_grammar *g, const jg_state *st, int max, bool *cut) {
    *cut = false;
    size_t cap = 4096, n = 1;
    jg_state *lv = malloc(cap * sizeof *lv), *nx = malloc(cap * sizeof *nx), *tmp = malloc(sizeof *tmp);
    memcpy(&lv[0], st, sizeof(uint32_t) + st->len);
    int found = -1;
    for (int d = 0; d <= max && n && found < 0; d++) {
        size_t m = 0;
        for (size_t i = 0; i < n && found < 0; i++) {
            if (jg_step(g, &lv[i], JG_END, tmp)) found = d;
            for (int c = 0x21; c < 0x100; c++) /* completions never need whitespace */
                if (m == cap) {
                    *cut = true;
                    break;
                } else if (jg_step(g, &lv[i], c, &nx[m])) {
                    bool dup = false;
                    for (size_t k = 0; k < m && !dup; k++)
                        dup = nx[k].len == nx[m].len && !memcmp(nx[k].b, nx[m].b, nx[m].len);
                    if (!dup) m++;
                }
        }
        jg_state *t = lv;
        lv = nx;
        nx = t;
        n = m;
    }
    free(lv);
    free(nx);
    free(tmp);
    return found;
}

/* Along random walks of allowed bytes: consistency of jg_shortest (see the file comment). */
TEST(jb_shortest_consistent) {
    jg_state *s = malloc(sizeof *s), *t = malloc(sizeof *t), *best = malloc(sizeof *best);
    for (size_t k = 0; k < sizeof SCHEMAS / sizeof SCHEMAS[0]; k++) {
        jg_grammar g;
        ct_json_schema sc;
        compile(&g, &sc, SCHEMAS[k]);
        for (unsigned seed = 1; seed <= 6; seed++) {
            unsigned r = seed * 2654435761u;
            jg_start(&g, seed == 6, s);
            for (int step = 0; step < 80; step++) {
                int32_t d = jg_shortest(&g, s);
                bool complete = jg_complete(&g, s);
                CHECK_MSG(d < JG_INF, "schema %zu seed %u step %d: no completion", k, seed, step);
                CHECK_MSG((d == 0) == complete, "schema %zu seed %u step %d: shortest %d, complete %d", k, seed, step,
                          d, complete);
                int canon = jg_canon(&g, s, NULL, 4096);
                if (canon >= 0) CHECK_MSG(d <= canon, "schema %zu step %d: shortest %d > canonical %d", k, step, d, canon);
                if (d > 0 && d < JG_INF) {
                    bool down = false;
                    for (int c = 0; c < 256 && !down; c++) down = jg_step(&g, s, c, t) && jg_shortest(&g, t) == d - 1;
                    CHECK_MSG(down, "schema %zu seed %u step %d: no byte lowers the shortest completion %d", k, seed,
                              step, d);
                }
                if (d <= 6) {
                    bool cut;
                    int e = bfs_shortest(&g, s, 6, &cut);
                    CHECK_MSG(cut ? e < 0 || d <= e : e == d, "schema %zu seed %u step %d: shortest %d, search %d%s", k,
                              seed, step, d, e, cut ? " (cut)" : "");
                }
                if (complete) break;
                /* a random allowed byte (printable ASCII, some UTF-8), biased to go on */
                int n_ok = 0, pick = -1;
                for (int c = 0x20; c < 0xF0; c++) {
                    if (c >= 0x7f && c < 0xC2) continue;
                    if (!jg_step(&g, s, c, t)) continue;
                    r = r * 1103515245u + 12345u;
                    if ((r >> 8) % (unsigned)(++n_ok) == 0) pick = c;
                }
                if (pick < 0) break;
                jg_step(&g, s, pick, best);
                memcpy(s, best, sizeof(uint32_t) + best->len);
            }
        }
        jg_free(&g);
        if (SCHEMAS[k]) ct_json_schema_free(&sc);
    }
    free(s);
    free(t);
    free(best);
}

TEST(jb_min_tokens) {
    ct_err err = {0};
    ct_json_constraint_opts o = ct_json_constraint_opts_default();
    ct_json_constraint *c = NULL;
    o.schema = "{\"type\":\"object\",\"required\":[\"ab\"],\"properties\":{\"ab\":{\"type\":\"integer\",\"minimum\":10}}}";
    REQUIRE(ct_json_constraint_new(&o, NULL, 1, &c, &err) == CT_OK);
    CHECK_EQ_INT(ct_json_constraint_min_tokens(c, NULL, 0), (int64_t)strlen("{\"ab\":10}"));
    CHECK_EQ_INT(ct_json_constraint_min_tokens(c, "{\"ab\":1", 7), (int64_t)strlen("0}"));
    CHECK_EQ_INT(ct_json_constraint_min_tokens(c, "[", 1), -1);
    ct_json_constraint_free(c);
    o.schema = NULL; /* json_object: {} */
    o.think = true;
    REQUIRE(ct_json_constraint_new(&o, NULL, 1, &c, &err) == CT_OK);
    CHECK_EQ_INT(ct_json_constraint_min_tokens(c, NULL, 0), 2);
    CHECK_EQ_INT(ct_json_constraint_min_tokens(c, "<think>", 7), (int64_t)strlen("</think>{}"));
    ct_json_constraint_free(c);
    /* the risk answer: the shortest value the schema allows, written out */
    o.schema = ct_risk_answer_schema_json();
    o.think = false;
    REQUIRE(ct_json_constraint_new(&o, NULL, 1, &c, &err) == CT_OK);
    const char *shortest = "{\"product\":\"保理\",\"credit_limit\":0,\"rate_range\":null,\"reasons\":[\"a\"],"
                           "\"evidence\":{\"overdue_rate_pct\":0},\"risk_labels\":[],\"top_drivers\":["
                           "{\"factor\":\"top_customer_pct\",\"value\":0,\"impact\":\"negative\"},"
                           "{\"factor\":\"top_customer_pct\",\"value\":0,\"impact\":\"negative\"},"
                           "{\"factor\":\"top_customer_pct\",\"value\":0,\"impact\":\"negative\"}],\"needs_human_approval\":true}";
    CHECK_EQ_INT(ct_json_constraint_min_tokens(c, NULL, 0), (int64_t)strlen(shortest));
    CHECK(ct_json_constraint_accept_bytes(c, shortest, strlen(shortest)) && ct_json_constraint_complete(c));
    ct_json_constraint_free(c);
}

/* Random logits that never want to stop, budget = the minimum .. minimum + 40: every generation
 * ends with a complete value the validator accepts. */
TEST(jb_budget_always_completes) {
    ct_tokenizer *tok = NULL;
    ct_err err = {0};
    REQUIRE(ct_tokenizer_load(ct_test_path("tests/fixtures/tok/qwen3_5-synth"), &tok, &err) == CT_OK);
    int32_t V = ct_tokenizer_vocab_size(tok) + 1, eos = V - 1; /* an id without text as eos */
    float *logits = malloc((size_t)V * sizeof *logits);
    /* SCHEMAS[2] too: additional-property names never repeat, so jansson's object keeps every key */
    const char *schemas[] = {ct_risk_answer_schema_json(), SCHEMAS[0], SCHEMAS[1], SCHEMAS[2], SCHEMAS[3], SCHEMAS[4]};
    for (size_t k = 0; k < sizeof schemas / sizeof schemas[0]; k++) {
        ct_json_constraint_opts o = ct_json_constraint_opts_default();
        o.schema = schemas[k];
        ct_json_constraint *c = NULL;
        REQUIRE(ct_json_constraint_new(&o, tok, V, &c, &err) == CT_OK);
        ct_json_schema sc;
        REQUIRE(ct_json_schema_load(&sc, schemas[k], "s", &err) == CT_OK);
        int64_t min = ct_json_constraint_min_tokens(c, NULL, 0);
        REQUIRE(min > 0);
        for (int run = 0; run < (k == 0 ? 4 : 8); run++) {
            int64_t budget = min + (run % 4) * 13;
            unsigned seed = (unsigned)(run * 7919 + (int)k);
            ct_json_constraint_reset(c);
            char *text = calloc(1, 65536);
            size_t n = 0;
            bool ended = false;
            for (int64_t i = 0; i < budget && !ended; i++) {
                for (int32_t j = 0; j < V; j++) {
                    seed = seed * 1103515245u + 12345u;
                    logits[j] = (float)((seed >> 8) % 1000) / 100.0f;
                }
                logits[eos] = -100.0f;
                ended = !json_greedy_step(c, tok, logits, V, eos, budget - i, text, 65536, &n);
            }
            CHECK_MSG(ct_json_constraint_complete(c), "schema %zu budget %lld (min %lld): cut: %s", k, (long long)budget,
                      (long long)min, text);
            json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
            CHECK_MSG(v && ct_json_schema_validate(&sc, v, &err) == CT_OK, "schema %zu: invalid %s", k, text);
            json_decref(v);
            free(text);
        }
        CHECK(ct_json_constraint_stats_get(c).forced > 0);
        ct_json_schema_free(&sc);
        ct_json_constraint_free(c);
    }
    free(logits);
    ct_tokenizer_free(tok);
}
