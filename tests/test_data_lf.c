/* LlamaFactory semantics of the data layer: templates under LlamaFactory's names against
 * LlamaFactory's own template code (tests/fixtures/data/templates_lf.jsonl, made by
 * tests/gen/make_lf_template_fixtures.py: Template.encode_multiturn with a character tokenizer,
 * so each (prompt, answer) pair is the exact text and its labels), the sharegpt structure its
 * converter accepts, dataset_info.json column rules, row numbering, bad-row skipping and the
 * pre-training grouping. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctune/data.h"
#include "harness.h"

/* One fixture case: text equal to the pairs joined, and every byte trained exactly when it is in
 * a trained answer. */
static void check_lf_case(json_t *row, int lineno) {
    const char *tname = json_string_value(json_object_get(row, "template"));
    const ct_template *t = ct_template_get(tname);
    REQUIRE(t);
    ct_render_opts o = ct_render_opts_default();
    json_t *et = json_object_get(row, "enable_thinking");
    if (et) o.enable_thinking = json_is_null(et) ? CT_THINK_NULL : json_is_true(et) ? CT_THINK_TRUE : CT_THINK_FALSE;
    o.mask_history = json_is_true(json_object_get(row, "mask_history"));
    o.preserve_thinking = json_is_true(json_object_get(row, "preserve_thinking"));
    o.think_per_turn = !strcmp(tname, "qwen3");
    o.date_string = json_string_value(json_object_get(row, "date"));
    ct_err err = {0};
    ct_conv c;
    ct_render r;
    ct_render_init(&r);
    CHECK_OK(ct_conv_from_json(json_object_get(row, "row"), CT_FORMAT_SHAREGPT, NULL, "lf", &c, &err), &err);
    CHECK_OK(ct_conv_check(&c, "lf", &err), &err);
    ct_status st = ct_template_render(t, &c, &o, &r, &err);
    CHECK_MSG(st == CT_OK, "line %d (%s): %s", lineno, tname, err.msg);
    /* expected text and per-byte trained flags */
    json_t *pairs = json_object_get(row, "pairs"), *trained = json_object_get(row, "trained");
    size_t len = 0;
    for (size_t i = 0; i < json_array_size(pairs); i++)
        for (size_t k = 0; k < 2; k++) len += strlen(json_string_value(json_array_get(json_array_get(pairs, i), k)));
    char *exp = malloc(len + 1), *mask = malloc(len + 1);
    size_t off = 0;
    for (size_t i = 0; i < json_array_size(pairs); i++)
        for (size_t k = 0; k < 2; k++) {
            const char *s = json_string_value(json_array_get(json_array_get(pairs, i), k));
            size_t n = strlen(s);
            memcpy(exp + off, s, n);
            memset(mask + off, k == 1 && json_is_true(json_array_get(trained, i)) ? 'T' : '.', n);
            off += n;
        }
    exp[len] = mask[len] = 0;
    if (!st) {
        size_t k = 0;
        while (k < r.len && k < len && exp[k] == r.text[k]) k++;
        CHECK_MSG(r.len == len && k == len, "line %d (%s) differs at byte %zu: got \"%.60s\" expected \"%.60s\"",
                  lineno, tname, k, r.text + (k < r.len ? k : r.len), exp + k);
        char *got = calloc(r.len + 1, 1);
        for (size_t i = 0; i < r.n_segs; i++)
            memset(got + r.segs[i].off, r.segs[i].weight > 0 ? 'T' : '.', r.segs[i].len);
        if (r.len == len) {
            size_t d = 0;
            while (d < len && got[d] == mask[d]) d++;
            CHECK_MSG(d == len, "line %d (%s): labels differ at byte %zu (%s there, expected %s): \"%.50s\"", lineno,
                      tname, d, got[d] == 'T' ? "trained" : "masked", mask[d] == 'T' ? "trained" : "masked",
                      r.text + d);
        }
        free(got);
    }
    free(exp);
    free(mask);
    ct_render_free(&r);
    ct_conv_free(&c);
}

TEST(data_lf_templates_match_llamafactory) {
    const char *rel = "tests/fixtures/data/templates_lf.jsonl";
    FILE *f = fopen(ct_test_path(rel), "rb");
    REQUIRE(f);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, llama3 = 0, qwen3 = 0, nothink = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        json_error_t je;
        json_t *row = json_loadb(line, (size_t)n, 0, &je);
        REQUIRE(row);
        const char *t = json_string_value(json_object_get(row, "template"));
        llama3 += !strcmp(t, "llama3"), qwen3 += !strcmp(t, "qwen3"), nothink += !strcmp(t, "qwen3_nothink");
        check_lf_case(row, lineno);
        json_decref(row);
    }
    free(line);
    fclose(f);
    CHECK_EQ_INT(llama3, 7);
    CHECK_EQ_INT(qwen3, 13);
    CHECK_EQ_INT(nothink, 3);
}
