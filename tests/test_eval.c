/* The evaluation suite's pieces: EvalScope's text metrics by hand, the mcq answer extraction,
 * benchmark-file errors with file:line, and the mcq log-likelihood against the float64 PyTorch
 * reference (tests/gen/make_eval_fixtures.py), with and without KV prefix reuse. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "ctune/model.h"
#include "eval/loglik.h"
#include "eval/mcq_data.h"
#include "eval/text_metrics.h"
#include "harness.h"

#define NEAR(a, b) (fabs((a) - (b)) < 1e-12)

TEST(eval_bleu_rouge_english_by_hand) {
    ct_text_scores s;
    ct_err err = {0};
    REQUIRE(!ct_text_score("the cat sat on the mat", "the cat is on the mat", &s, &err));
    /* p1 = 5/6, p2 = 3/5, p3 = 1/4, p4 = 0; equal lengths: BP = 1 */
    CHECK(NEAR(s.bleu[0], 5.0 / 6.0));
    CHECK(NEAR(s.bleu[1], 0.6));
    CHECK(NEAR(s.bleu[2], 0.25));
    CHECK(NEAR(s.bleu[3], 0.0));
    /* unigram sets {the,cat,sat,on,mat} vs {the,cat,is,on,mat}: 4 common of 5 */
    CHECK(NEAR(s.rouge[0][0], 0.8) && NEAR(s.rouge[0][1], 0.8));
    CHECK(NEAR(s.rouge[0][2], 2 * 0.64 / (1.6 + 1e-8)));
    CHECK(NEAR(s.rouge[1][0], 0.6) && NEAR(s.rouge[1][1], 0.6));
    /* LCS "the cat on the mat" = 5 of 6 tokens each */
    CHECK(NEAR(s.rouge[2][0], 5.0 / 6.0) && NEAR(s.rouge[2][1], 5.0 / 6.0));
    CHECK(s.exact_match == 0.0);
    REQUIRE(!ct_text_score("  Paris\n", "Paris", &s, &err));
    CHECK(s.exact_match == 1.0 && NEAR(s.bleu[0], 1.0) && NEAR(s.rouge[2][2], 2.0 / (2.0 + 1e-8)));
}

TEST(eval_bleu_rouge_chinese_characters) {
    ct_text_scores s;
    ct_err err = {0};
    CHECK(ct_text_is_chinese("我是人") && !ct_text_is_chinese("plain"));
    REQUIRE(!ct_text_score("我是人", "我是一個人", &s, &err));
    /* per character: rouge-1 P 1 R 0.6, rouge-2 P 0.5 R 0.25, rouge-l P 1 R 0.6 (the published
     * rouge example for these strings); BLEU: c = 3 < r = 5, BP = exp(1 - 5/3) */
    CHECK(NEAR(s.rouge[0][0], 1.0) && NEAR(s.rouge[0][1], 0.6));
    CHECK(NEAR(s.rouge[1][0], 0.5) && NEAR(s.rouge[1][1], 0.25));
    CHECK(NEAR(s.rouge[2][0], 1.0) && NEAR(s.rouge[2][1], 0.6));
    CHECK(fabs(s.rouge[0][2] - 0.7499999953125) < 1e-12);
    double bp = exp(1.0 - 5.0 / 3.0);
    CHECK(NEAR(s.bleu[0], bp) && NEAR(s.bleu[1], 0.5 * bp) && s.bleu[2] == 0.0);
    /* punctuation and ASCII words inside Chinese text */
    ct_text_tokens t;
    REQUIRE(!ct_text_tokenize("答案是ABC。ok", false, &t, &err));
    CHECK_EQ_INT(t.n, 6); /* 答 案 是 ABC 。 ok */
    CHECK(t.len[3] == 3 && !memcmp(t.p[3], "ABC", 3));
    ct_text_tokens_free(&t);
    REQUIRE(!ct_text_tokenize("Hello, world!", false, &t, &err));
    CHECK_EQ_INT(t.n, 4);
    ct_text_tokens_free(&t);
}

TEST(eval_text_empty_and_garbage_score_zero) {
    ct_text_scores s;
    ct_err err = {0};
    REQUIRE(!ct_text_score("", "the answer", &s, &err));
    for (int i = 0; i < CT_TEXT_N_METRICS; i++) CHECK(ct_text_metric_value(&s, i) == 0.0);
    REQUIRE(!ct_text_score("\x01\xff\xfe zz qq", "the answer", &s, &err));
    for (int i = 0; i < CT_TEXT_N_METRICS; i++) CHECK(ct_text_metric_value(&s, i) == 0.0);
}

TEST(eval_mcq_extract) {
    /* EvalScope's parse_answers / parse_answers_zh, single answer */
    CHECK_EQ_INT(ct_mcq_extract("ANSWER: B", 4, false), 1);
    CHECK_EQ_INT(ct_mcq_extract("answer : **C**", 4, false), 2);
    CHECK_EQ_INT(ct_mcq_extract("ANSWER: [LETTER] ... so ANSWER: (D)", 4, false), 3);
    CHECK_EQ_INT(ct_mcq_extract("ANSWER: B, not C", 4, false), 1);
    CHECK_EQ_INT(ct_mcq_extract("ANSWER: BC", 4, false), -1);     /* two letters: no single answer */
    CHECK_EQ_INT(ct_mcq_extract("ANSWER: E", 4, false), -1);      /* not an option; fallback: E */
    CHECK_EQ_INT(ct_mcq_extract("我认为答案：C。", 4, true), 2);
    CHECK_EQ_INT(ct_mcq_extract("答案:（B）", 4, true), 1);
    CHECK_EQ_INT(ct_mcq_extract("答案：B", 4, false), 1);          /* no ANSWER marker: last capital */
    CHECK_EQ_INT(ct_mcq_extract("D.", 4, false), 3);               /* fallback: the last capital */
    CHECK_EQ_INT(ct_mcq_extract("A cat. Then Lily", 4, false), -1); /* last capital L: no option */
    CHECK_EQ_INT(ct_mcq_extract("", 4, true), -1);
    CHECK_EQ_INT(ct_mcq_extract("\xff\xfe garbage 123", 4, true), -1);
}

static void write(const char *dir, const char *name, const char *text) {
    char p[2100];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

/* Loading a one-subset directory whose val file is `val` (name) with `text`; the error message. */
static const char *load_error(const char *name, const char *text, ct_err *err) {
    static char dir[1024];
    static int k;
    snprintf(dir, sizeof dir, "%s/mcq%d", ct_test_tmpdir(), k++);
    ct_mkdir_p(dir, NULL);
    write(dir, name, text);
    ct_mcq_subset *s = NULL;
    size_t n = 0;
    ct_status st = ct_mcq_load_dir(dir, NULL, 0, &s, &n, err);
    if (!st) {
        ct_mcq_subsets_free(s, n);
        return NULL;
    }
    return err->msg;
}

TEST(eval_mcq_files_and_errors) {
    ct_err err = {0};
    const char *good = "id,question,A,B,C,answer\n1,\"Two\nlines, quoted \"\"x\"\"\",a,b,c,B\r\n2,q2,a,b,c,C\n";
    CHECK(load_error("s_val.csv", good, &err) == NULL);
    const char *m;
    m = load_error("s_val.csv", "id,question,A,B,answer\n1,q,a,b,A\n2,q,a,b,Z\n", &err);
    CHECK_MSG(m && strstr(m, "s_val.csv:3: answer 'Z'"), "got %s", m ? m : "(ok)");
    m = load_error("s_val.csv", "id,question,A,B,answer\n1,q,a,b\n", &err);
    CHECK_MSG(m && strstr(m, "s_val.csv:2: 4 fields"), "got %s", m ? m : "(ok)");
    m = load_error("s_val.csv", "id,question,A,B,answer\n1,\"q,a,b,A\n", &err);
    CHECK_MSG(m && strstr(m, "s_val.csv:2: unterminated quoted field"), "got %s", m ? m : "(ok)");
    m = load_error("s_val.jsonl", "{\"question\": \"q\", \"A\": \"a\", \"B\": \"b\", \"answer\": \"A\"}\n{\"question\": \n", &err);
    CHECK_MSG(m && strstr(m, "s_val.jsonl:2"), "got %s", m ? m : "(ok)");
    m = load_error("s_val.jsonl", "{\"question\": \"q\", \"A\": \"a\", \"answer\": \"A\"}\n", &err);
    CHECK_MSG(m && strstr(m, "s_val.jsonl:1: expected option columns"), "got %s", m ? m : "(ok)");
    m = load_error("s_val.jsonl", "{\"A\": \"a\", \"B\": \"b\", \"answer\": \"A\"}\n", &err);
    CHECK_MSG(m && strstr(m, "s_val.jsonl:1: missing column 'question'"), "got %s", m ? m : "(ok)");
    m = load_error("s_val.jsonl", "\n\n", &err);
    CHECK_MSG(m && strstr(m, "no records"), "got %s", m ? m : "(ok)");
    m = load_error("s_val.csv", "id,question,A,B,answer\n1,q,a,b,A\n2,q\xff,a,b,A\n", &err);
    CHECK_MSG(m && strstr(m, "s_val.csv:3: not valid UTF-8"), "got %s", m ? m : "(ok)");
    m = load_error("nothing.txt", "x", &err);
    CHECK_MSG(m && strstr(m, "no {subset}_val"), "got %s", m ? m : "(ok)");
}

/* The fixture's questions as ids (at most 8 of them, 4 options each). */
typedef struct golden_q {
    int32_t ctx[128], ob[4][8];
    const int32_t *conts[4];
    size_t nc[4], n, no;
    double want[4];
    int choice;
} golden_q;

static size_t golden_questions(json_t *ref, golden_q *qs) {
    size_t qi;
    json_t *q;
    json_array_foreach(json_object_get(ref, "questions"), qi, q) {
        golden_q *g = &qs[qi];
        json_t *ctxj = json_object_get(q, "context"), *opts = json_object_get(q, "options");
        g->n = json_array_size(ctxj);
        g->no = json_array_size(opts);
        for (size_t i = 0; i < g->n; i++) g->ctx[i] = (int32_t)json_integer_value(json_array_get(ctxj, i));
        for (size_t o = 0; o < g->no; o++) {
            json_t *oj = json_array_get(opts, o);
            g->nc[o] = json_array_size(oj);
            for (size_t t = 0; t < g->nc[o]; t++) g->ob[o][t] = (int32_t)json_integer_value(json_array_get(oj, t));
            g->conts[o] = g->ob[o];
            g->want[o] = json_real_value(json_array_get(json_object_get(q, "loglik"), o));
        }
        g->choice = (int)json_integer_value(json_object_get(q, "choice"));
    }
    return qi;
}

/* The questions scored B at a time (ct_loglik_score_batch). */
static void score_batched(const ct_model *m, golden_q *qs, size_t nq, size_t B, double (*ll)[4], bool (*gr)[4]) {
    ct_err err = {0};
    ct_loglik *L = NULL;
    REQUIRE(!ct_loglik_init(&L, ct_test_ctx(), m, NULL, true, &err));
    for (size_t q0 = 0; q0 < nq; q0 += B) {
        ct_loglik_req r[8];
        size_t g = nq - q0 < B ? nq - q0 : B;
        for (size_t i = 0; i < g; i++) {
            golden_q *q = &qs[q0 + i];
            r[i] = (ct_loglik_req){q->ctx, q->n, q->conts, q->nc, q->no, ll[q0 + i], gr[q0 + i]};
        }
        CHECK_OK(ct_loglik_score_batch(L, r, g, &err), &err);
    }
    ct_loglik_free(L);
}

/* Batched scoring of the same questions, B = 1, 3, 8 at a time (groups of unequal context
 * lengths: padded rows; options of 1-3 tokens): on tiny-llama within 1e-5 of the float64
 * reference; on tiny-llama and the hybrid tiny-qwen3_5 (copied recurrent states) within 1e-5 of
 * B = 1, with the same choices and greedy flags. */
TEST(eval_mcq_loglik_golden_batch) {
    ct_err err = {0};
    json_t *ref = NULL;
    REQUIRE(!ct_json_load_file(ct_test_path("tests/fixtures/eval/loglik.json"), &ref, &err));
    golden_q qs[8];
    size_t nq = golden_questions(ref, qs);
    REQUIRE(nq >= 4 && nq <= 8);
    const char *models[] = {"tests/fixtures/tiny-llama", "tests/fixtures/tiny-qwen3_5"};
    const size_t sizes[] = {1, 3, 8};
    for (int mi = 0; mi < 2; mi++) {
        ct_model *m = NULL;
        REQUIRE(!ct_model_load(ct_test_path(models[mi]), &m, &err));
        double ll1[8][4], ll[8][4], maxd = 0.0;
        bool gr1[8][4], gr[8][4];
        for (size_t si = 0; si < 3; si++) {
            size_t B = sizes[si];
            score_batched(m, qs, nq, B, B == 1 ? ll1 : ll, B == 1 ? gr1 : gr);
            for (size_t qi = 0; qi < nq; qi++) {
                int best = 0, best1 = 0;
                for (size_t o = 0; o < qs[qi].no; o++) {
                    const double *x = B == 1 ? ll1[qi] : ll[qi];
                    if (mi == 0)
                        CHECK_MSG(fabs(x[o] - qs[qi].want[o]) < 1e-5, "B %zu question %zu option %zu: %.9f, reference %.9f",
                                  B, qi, o, x[o], qs[qi].want[o]);
                    if (x[o] > x[best]) best = (int)o;
                    if (ll1[qi][o] > ll1[qi][best1]) best1 = (int)o;
                    if (B == 1) continue;
                    double d = fabs(ll[qi][o] - ll1[qi][o]);
                    if (d > maxd) maxd = d;
                    CHECK_MSG(d < 1e-5, "%s B %zu question %zu option %zu: %.12g, B 1 %.12g", models[mi], B, qi, o,
                              ll[qi][o], ll1[qi][o]);
                    CHECK(gr[qi][o] == gr1[qi][o]);
                }
                CHECK_EQ_INT(best, best1);
                if (mi == 0) CHECK_EQ_INT(best, qs[qi].choice);
            }
        }
        printf("    %s: max |ll(B) - ll(1)| %.3g over B = 3, 8\n", models[mi], maxd);
        ct_model_free(m);
    }
    json_decref(ref);
}

/* Per-option log-likelihoods of tests/fixtures/eval/loglik.json on tiny-llama, with and without
 * prefix reuse: within 1e-5 of the float64 reference, the same choices, and reuse runs fewer
 * positions. */
TEST(eval_mcq_loglik_golden) {
    ct_err err = {0};
    json_t *ref = NULL;
    REQUIRE(!ct_json_load_file(ct_test_path("tests/fixtures/eval/loglik.json"), &ref, &err));
    ct_model *m = NULL;
    REQUIRE(!ct_model_load(ct_test_path("tests/fixtures/tiny-llama"), &m, &err));
    double maxd = 0.0;
    size_t run[2] = {0, 0};
    double ll_prev[32][4];
    for (int reuse = 1; reuse >= 0; reuse--) {
        ct_loglik *L = NULL;
        REQUIRE(!ct_loglik_init(&L, ct_test_ctx(), m, NULL, reuse, &err));
        size_t qi;
        json_t *q;
        json_array_foreach(json_object_get(ref, "questions"), qi, q) {
            json_t *ctxj = json_object_get(q, "context"), *opts = json_object_get(q, "options");
            int32_t ctx[128], ob[4][8];
            const int32_t *conts[4];
            size_t nc[4], n = json_array_size(ctxj), no = json_array_size(opts);
            for (size_t i = 0; i < n; i++) ctx[i] = (int32_t)json_integer_value(json_array_get(ctxj, i));
            for (size_t o = 0; o < no; o++) {
                json_t *oj = json_array_get(opts, o);
                nc[o] = json_array_size(oj);
                for (size_t t = 0; t < nc[o]; t++) ob[o][t] = (int32_t)json_integer_value(json_array_get(oj, t));
                conts[o] = ob[o];
            }
            double ll[4];
            REQUIRE(!ct_loglik_score(L, ctx, n, conts, nc, no, ll, NULL, &err));
            int best = 0;
            for (size_t o = 0; o < no; o++) {
                double want = json_real_value(json_array_get(json_object_get(q, "loglik"), o));
                double d = fabs(ll[o] - want);
                if (d > maxd) maxd = d;
                CHECK_MSG(d < 1e-5, "question %zu option %zu: %.9f, reference %.9f", qi, o, ll[o], want);
                if (ll[o] > ll[best]) best = (int)o;
                if (reuse) ll_prev[qi][o] = ll[o];
                /* not bitwise: a pass over fewer queries may pick the other attention algorithm (f32 order) */
                else CHECK_MSG(fabs(ll[o] - ll_prev[qi][o]) < 1e-5, "reuse %.12g vs fresh %.12g", ll_prev[qi][o], ll[o]);
            }
            CHECK_EQ_INT(best, json_integer_value(json_object_get(q, "choice")));
        }
        run[reuse] = ct_loglik_tokens_run(L);
        ct_loglik_free(L);
    }
    CHECK_MSG(run[1] < run[0] / 2, "positions run: reuse %zu, fresh %zu", run[1], run[0]);
    printf("    max |ll - reference| %.3g; positions run with reuse %zu, without %zu\n", maxd, run[1], run[0]);
    ct_model_free(m);
    json_decref(ref);
}
