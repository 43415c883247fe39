/* PEFT adapters at inference against the float64 PyTorch reference
 * (tests/gen/make_adapter_fixtures.py: PEFT's unmerged LoRA formula, prompt tuning): logits of
 * every position, loss, greedy continuations; KV-cache continuation; mismatch errors; merged
 * export round trip. */
#include <stdlib.h>

#include "base/file.h"
#include "base/json.h"
#include "ctune/adapter.h"
#include "ctune/generate.h"
#include "harness.h"
#include "model/model.h"
#include "peft/peft_io.h"

#define LOGIT_TOL 1e-4 /* f32 activations vs float64, |logit| < 30 (measured <= 4e-5) */
#define LOSS_RTOL 1e-5

static json_t *load_expected(void) {
    json_t *root = NULL;
    ct_err err = {0};
    if (ct_json_load_file("tests/fixtures/adapters/expected.json", &root, &err))
        ct_test_fail(__FILE__, __LINE__, "%s", err.msg);
    return root;
}

static size_t json_ids(const json_t *a, int32_t *out, size_t cap) {
    size_t n = json_array_size(a);
    for (size_t i = 0; i < n && i < cap; i++) out[i] = (int32_t)json_integer_value(json_array_get(a, i));
    return n < cap ? n : cap;
}

static void greedy_params(ct_gen_params *p, const ct_model *m, int n) {
    ct_gen_params_init(p, ct_model_config(m));
    p->do_sample = false;
    p->repetition_penalty = 1.0f;
    p->num_eos = 0;
    p->max_new_tokens = n;
}

static void check_case(const char *name) {
    json_t *root = load_expected();
    REQUIRE(root);
    json_t *c = json_object_get(json_object_get(root, "cases"), name);
    REQUIRE(c);
    int32_t ids[64], gp[16], gexp[16];
    size_t T = json_ids(json_object_get(root, "ids"), ids, 64);
    size_t ngp = json_ids(json_object_get(c, "greedy_prompt"), gp, 16);
    size_t nge = json_ids(json_object_get(c, "greedy"), gexp, 16);
    char base_dir[256], ad_dir[256];
    snprintf(base_dir, sizeof base_dir, "tests/fixtures/%s", json_string_value(json_object_get(c, "base")));
    snprintf(ad_dir, sizeof ad_dir, "tests/fixtures/adapters/%s", name);
    ct_err err = {0};
    ct_model *base = NULL;
    ct_adapter *ad = NULL;
    CHECK_OK(ct_model_load(base_dir, &base, &err), &err);
    if (base) CHECK_OK(ct_adapter_load(ad_dir, base, &ad, &err), &err);
    if (!ad) {
        ct_model_free(base);
        json_decref(root);
        return;
    }
    CHECK_NEAR(ct_adapter_lora_scaling(ad), json_number_value(json_object_get(c, "scaling")), 1e-12);
    const ct_model *m = base;
    size_t V = (size_t)ct_model_config(m)->vocab_size;
    /* logits of the real positions: the virtual tokens (prompt tuning) open the cache, then the ids */
    ct_kv_cache *kv = NULL;
    CHECK_OK(ct_kv_cache_init(&kv, ct_model_config(m), 4, &err), &err);
    size_t n_prefix = ct_adapter_num_virtual(ad);
    CHECK_OK(ct_kv_cache_grow(kv, n_prefix + T, &err), &err);
    float *logits = malloc(T * V * sizeof *logits);
    CHECK_OK(ct_model_forward(ct_test_ctx(), base, ad, kv, ids, T, NULL, logits, NULL, &err), &err);
    CHECK_EQ_INT(ct_kv_cache_len(kv), n_prefix + T);
    const json_t *el = json_object_get(c, "logits");
    double maxd = 0;
    for (size_t t = 0; t < T; t++)
        for (size_t j = 0; j < V; j++) {
            double d = fabs(logits[t * V + j] - json_number_value(json_array_get(json_array_get(el, t), j)));
            maxd = d > maxd ? d : maxd;
        }
    CHECK_MSG(maxd <= LOGIT_TOL, "%s: max |logit - reference| = %.3g", name, maxd);
    printf("    %s: max |logit - ref| %.3g\n", name, maxd);
    /* loss */
    double nll = 0;
    size_t np = 0;
    CHECK_OK(ct_model_nll(ct_test_ctx(), base, ad, ids, T, &nll, &np, &err), &err);
    CHECK_EQ_INT(np, json_integer_value(json_object_get(c, "n_predicted")));
    double loss = json_number_value(json_object_get(c, "loss"));
    CHECK_MSG(fabs(nll / (double)np - loss) <= LOSS_RTOL * fabs(loss), "%s: loss %.9g vs reference %.9g",
              name, nll / (double)np, loss);
    /* the base alone still gives the base loss (the adapter did not touch the base's views) */
    CHECK_OK(ct_model_nll(ct_test_ctx(), base, NULL, ids, T, &nll, &np, &err), &err);
    double bl = json_number_value(json_object_get(c, "base_loss"));
    CHECK_MSG(fabs(nll / (double)np - bl) <= LOSS_RTOL * fabs(bl), "%s: base loss %.9g vs %.9g", name,
              nll / (double)np, bl);
    /* greedy continuation */
    ct_gen_params p;
    greedy_params(&p, m, (int)nge);
    ct_ids out = {0};
    CHECK_OK(ct_generate(ct_test_ctx(), base, ad, gp, ngp, &p, &out, NULL, &err), &err);
    CHECK_EQ_INT(out.n, nge);
    for (size_t i = 0; i < out.n && i < nge; i++)
        CHECK_MSG(out.data[i] == gexp[i], "%s: greedy token %zu is %d, reference %d", name, i,
                  out.data[i], gexp[i]);
    ct_ids_free(&out);
    free(logits);
    ct_kv_cache_free(kv);
    ct_adapter_free(ad);
    ct_model_free(base);
    json_decref(root);
}

TEST(adapters_golden_qwen3_lora_all_modules) { check_case("qwen3-lora"); }
TEST(adapters_golden_qwen3_all_linear_rslora_bf16) { check_case("qwen3-lora-alllinear-rs"); }
TEST(adapters_golden_qwen3_regex_targets) { check_case("qwen3-lora-regex"); }
TEST(adapters_golden_qwen2_layers_to_transform_modules_to_save) { check_case("qwen2-lora-layers"); }
TEST(adapters_golden_qwen3_prompt_tuning) { check_case("qwen3-prompt"); }
/* DoRA (lora_magnitude_vector, the adapted rows' norms) and PiSSA (init_lora_weights "pissa": the
 * base becomes the SVD residual on load), against the float64 PEFT formulas. */
TEST(adapters_golden_qwen3_dora) { check_case("qwen3-dora"); }
TEST(adapters_golden_qwen2_dora_bias) { check_case("qwen2-dora"); }
TEST(adapters_golden_qwen2_pissa) { check_case("qwen2-pissa"); }

/* Continuing a cache (chat turns) gives the same tokens as generating from scratch. */
TEST(adapters_generate_cached_continues_like_fresh) {
    ct_err err = {0};
    ct_model *m = NULL;
    CHECK_OK(ct_model_load("tests/fixtures/tiny-qwen3", &m, &err), &err);
    REQUIRE(m);
    int32_t turn1[] = {5, 9, 17, 33, 2}, full[32];
    ct_gen_params p;
    greedy_params(&p, m, 4);
    ct_kv_cache *kv = NULL;
    CHECK_OK(ct_kv_cache_init(&kv, ct_model_config(m), 2, &err), &err); /* grows on demand */
    ct_ids a = {0}, b = {0}, ref = {0};
    CHECK_OK(ct_generate_cached(ct_test_ctx(), m, NULL, kv, turn1, 5, &p, &a, NULL, &err), &err);
    REQUIRE(a.n == 4);
    CHECK_EQ_INT(ct_kv_cache_len(kv), 5 + 4 - 1);
    size_t n = 0;
    for (int i = 0; i < 5; i++) full[n++] = turn1[i];
    for (size_t i = 0; i < a.n; i++) full[n++] = a.data[i];
    full[n++] = 7;
    full[n++] = 11;
    CHECK_OK(ct_generate_cached(ct_test_ctx(), m, NULL, kv, full, n, &p, &b, NULL, &err), &err);
    CHECK_OK(ct_generate(ct_test_ctx(), m, NULL, full, n, &p, &ref, NULL, &err), &err);
    CHECK_EQ_INT(b.n, ref.n);
    for (size_t i = 0; i < b.n && i < ref.n; i++) CHECK_EQ_INT(b.data[i], ref.data[i]);
    /* a changed history: truncate to the common prefix and rerun */
    full[3] = 40;
    ct_kv_cache_truncate(kv, 3);
    ct_ids c2 = {0}, ref2 = {0};
    CHECK_OK(ct_generate_cached(ct_test_ctx(), m, NULL, kv, full, n, &p, &c2, NULL, &err), &err);
    CHECK_OK(ct_generate(ct_test_ctx(), m, NULL, full, n, &p, &ref2, NULL, &err), &err);
    CHECK_EQ_INT(c2.n, ref2.n);
    for (size_t i = 0; i < c2.n && i < ref2.n; i++) CHECK_EQ_INT(c2.data[i], ref2.data[i]);
    /* nothing new to run is an error, not a crash */
    CHECK(ct_generate_cached(ct_test_ctx(), m, NULL, kv, full, 2, &p, &c2, NULL, &err) == CT_ERR_ARG);
    ct_ids_free(&a);
    ct_ids_free(&b);
    ct_ids_free(&ref);
    ct_ids_free(&c2);
    ct_ids_free(&ref2);
    ct_kv_cache_free(kv);
    ct_model_free(m);
}

/* Writes a LoRA adapter with one pair (layer, module) of the given shapes into a temp dir. */
static char *write_lora(const char *sub, int layer, const char *module, int64_t in, int64_t out,
                        const char *const *targets, size_t nt) {
    char *dir = ct_path_join(ct_test_tmpdir(), sub);
    float *A = calloc((size_t)(2 * in), sizeof *A), *B = calloc((size_t)(out * 2), sizeof *B);
    for (int64_t i = 0; i < 2 * in; i++) A[i] = 0.01f * (float)(i % 7);
    for (int64_t i = 0; i < 2 * out; i++) B[i] = 0.02f * (float)(i % 5);
    ct_lora_pair pr = {layer, module,
                       {.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {2, in}, .data = A},
                       {.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {out, 2}, .data = B}};
    ct_lora_config cfg = {.r = 2, .lora_alpha = 4, .target_modules = targets, .n_target_modules = nt};
    ct_err err = {0};
    CHECK_OK(ct_peft_save_lora(dir, &cfg, &pr, 1, CT_DTYPE_F32, &err), &err);
    free(A);
    free(B);
    return dir;
}

static void expect_load_error(const ct_model *base, const char *dir, const char *needle1,
                              const char *needle2) {
    ct_err err = {0};
    ct_adapter *ad = NULL;
    ct_status s = ct_adapter_load(dir, base, &ad, &err);
    CHECK_MSG(s != CT_OK, "%s: loaded but should fail", dir);
    CHECK(ad == NULL);
    CHECK_MSG(strstr(err.msg, needle1) != NULL, "error '%s' lacks '%s'", err.msg, needle1);
    if (needle2) CHECK_MSG(strstr(err.msg, needle2) != NULL, "error '%s' lacks '%s'", err.msg, needle2);
    ct_adapter_free(ad);
}

TEST(adapters_mismatch_errors_name_the_tensor) {
    ct_err err = {0};
    ct_model *q3 = NULL, *q2 = NULL;
    CHECK_OK(ct_model_load("tests/fixtures/tiny-qwen3", &q3, &err), &err);
    CHECK_OK(ct_model_load("tests/fixtures/tiny-qwen2", &q2, &err), &err);
    REQUIRE(q3 && q2);
    const char *q[] = {"q_proj"}, *k[] = {"k_proj"};
    /* qwen3 q_proj is [64, 32]; an adapter made for in = 48 */
    char *d = write_lora("wrong_in", 0, "q_proj", 48, 64, q, 1);
    expect_load_error(q3, d, "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", "[2, 48]");
    free(d);
    d = write_lora("wrong_out", 1, "q_proj", 32, 40, q, 1);
    expect_load_error(q3, d, "layers.1.self_attn.q_proj.lora_B.weight", "[40, 2]");
    free(d);
    d = write_lora("layer5", 5, "q_proj", 32, 64, q, 1);
    expect_load_error(q3, d, "layers.5.self_attn.q_proj.lora_A.weight", "only 2 layers");
    free(d);
    /* tensors for q_proj but the config says k_proj */
    d = write_lora("untargeted", 0, "q_proj", 32, 64, k, 1);
    expect_load_error(q3, d, "layers.0.self_attn.q_proj", "do not select");
    free(d);
    /* an adapter of the other architecture: qwen2's k_proj is [16, 32], qwen3's [32, 32] */
    expect_load_error(q3, "tests/fixtures/adapters/qwen2-lora-layers",
                      "layers.1.self_attn.q_proj.lora_B.weight has shape [32, 8]", "[64, 32]");
    /* the regex adapter on the config of the all-linear one: k_proj tensors are missing */
    char *rd = ct_path_join(ct_test_tmpdir(), "partial");
    CHECK_OK(ct_mkdir_p(rd, &err), &err);
    char *src = NULL, *dst = ct_path_join(rd, "adapter_model.safetensors");
    size_t len = 0;
    CHECK_OK(ct_read_file("tests/fixtures/adapters/qwen3-lora-regex/adapter_model.safetensors", &src, &len, &err), &err);
    CHECK_OK(ct_write_file_atomic(dst, src, len, &err), &err);
    free(src);
    free(dst);
    dst = ct_path_join(rd, "adapter_config.json");
    const char *cfg = "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 4, \"target_modules\": \"all-linear\"}";
    CHECK_OK(ct_write_file_atomic(dst, cfg, strlen(cfg), &err), &err);
    free(dst);
    expect_load_error(q3, rd, "missing tensor base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight", NULL);
    /* a bad regex is reported with its offset */
    dst = ct_path_join(rd, "adapter_config.json");
    cfg = "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 4, \"target_modules\": \".*(q_proj\"}";
    CHECK_OK(ct_write_file_atomic(dst, cfg, strlen(cfg), &err), &err);
    free(dst);
    expect_load_error(q3, rd, "target_modules regex", NULL);
    free(rd);
    /* not an adapter directory */
    expect_load_error(q3, "tests/fixtures/tiny-qwen3", "adapter_config.json", NULL);
    ct_model_free(q3);
    ct_model_free(q2);
}

/* Export: merged f32 model == base + adapter (loss within 1e-5 rel, identical greedy tokens). */
static void export_roundtrip(const char *base_dir, const char *ad_dir, const char *sub,
                             double loss_rtol, ct_dtype want_dtype) {
    json_t *root = load_expected();
    REQUIRE(root);
    int32_t ids[64];
    size_t T = json_ids(json_object_get(root, "ids"), ids, 64);
    json_decref(root);
    ct_err err = {0};
    ct_model *base = NULL, *merged = NULL;
    ct_adapter *ad = NULL;
    CHECK_OK(ct_model_load(base_dir, &base, &err), &err);
    if (base) CHECK_OK(ct_adapter_load(ad_dir, base, &ad, &err), &err);
    REQUIRE(ad);
    char *out = ct_path_join(ct_test_tmpdir(), sub);
    CHECK_OK(ct_adapter_export(ct_test_ctx(), ad, base_dir, ad_dir, out, CT_DTYPE_COUNT, &err), &err);
    CHECK_OK(ct_model_load(out, &merged, &err), &err);
    if (merged) {
        CHECK(ct_model_config(merged)->dtype == want_dtype);
        double a = 0, b = 0;
        size_t na = 0, nb = 0;
        CHECK_OK(ct_model_nll(ct_test_ctx(), base, ad, ids, T, &a, &na, &err), &err);
        CHECK_OK(ct_model_nll(ct_test_ctx(), merged, NULL, ids, T, &b, &nb, &err), &err);
        CHECK_EQ_INT(na, nb);
        double rel = fabs(a - b) / fabs(a);
        CHECK_MSG(rel <= loss_rtol, "%s: merged loss %.9g vs adapted %.9g (rel %.3g)", sub, b / (double)nb,
                  a / (double)na, rel);
        printf("    %s: adapted loss %.9g, merged loss %.9g, rel diff %.3g\n", sub, a / (double)na,
               b / (double)nb, rel);
        ct_gen_params p;
        greedy_params(&p, base, 8);
        ct_ids ga = {0}, gb = {0};
        CHECK_OK(ct_generate(ct_test_ctx(), base, ad, ids, 6, &p, &ga, NULL, &err), &err);
        CHECK_OK(ct_generate(ct_test_ctx(), merged, NULL, ids, 6, &p, &gb, NULL, &err), &err);
        CHECK_EQ_INT(ga.n, gb.n);
        if (loss_rtol <= 1e-5)
            for (size_t i = 0; i < ga.n && i < gb.n; i++) CHECK_EQ_INT(ga.data[i], gb.data[i]);
        ct_ids_free(&ga);
        ct_ids_free(&gb);
    }
    ct_model_free(merged);
    free(out);
    ct_adapter_free(ad);
    ct_model_free(base);
}

TEST(adapters_export_f32_merged_equals_adapted) {
    export_roundtrip("tests/fixtures/tiny-qwen3", "tests/fixtures/adapters/qwen3-lora", "merged-q3",
                     1e-5, CT_DTYPE_F32);
    export_roundtrip("tests/fixtures/tiny-qwen2", "tests/fixtures/adapters/qwen2-lora-layers",
                     "merged-q2", 1e-5, CT_DTYPE_F32);
}

/* DoRA merges as PEFT's merge: (m / ||W + s B A||_row) * (W + s B A); PiSSA merges into the
 * residual it rebuilt, which gives W + s (B A - B0 A0). */
TEST(adapters_export_dora_pissa_merged_equals_adapted) {
    export_roundtrip("tests/fixtures/tiny-qwen3", "tests/fixtures/adapters/qwen3-dora", "merged-q3-dora", 1e-5,
                     CT_DTYPE_F32);
    export_roundtrip("tests/fixtures/tiny-qwen2", "tests/fixtures/adapters/qwen2-dora", "merged-q2-dora", 1e-5,
                     CT_DTYPE_F32);
    export_roundtrip("tests/fixtures/tiny-qwen2", "tests/fixtures/adapters/qwen2-pissa", "merged-q2-pissa", 1e-5,
                     CT_DTYPE_F32);
}

/* A bf16 base is written back in bf16: W + s*BA is rounded once more, so the merged model is
 * close to, not equal to, base + adapter (which keeps the merged weights in f32). */
TEST(adapters_export_bf16_base_rounds_once) {
    export_roundtrip("tests/fixtures/tiny-qwen3-bf16", "tests/fixtures/adapters/qwen3-lora",
                     "merged-q3-bf16", 2e-2, CT_DTYPE_BF16);
}

TEST(adapters_export_prompt_tuning_refused) {
    ct_err err = {0};
    ct_model *base = NULL;
    ct_adapter *ad = NULL;
    CHECK_OK(ct_model_load("tests/fixtures/tiny-qwen3", &base, &err), &err);
    if (base) CHECK_OK(ct_adapter_load("tests/fixtures/adapters/qwen3-prompt", base, &ad, &err), &err);
    REQUIRE(ad);
    char *out = ct_path_join(ct_test_tmpdir(), "nope");
    CHECK(ct_adapter_export(ct_test_ctx(), ad, "tests/fixtures/tiny-qwen3", NULL, out, CT_DTYPE_COUNT, &err) ==
          CT_ERR_UNSUPPORTED);
    CHECK(!ct_dir_exists(out));
    free(out);
    ct_adapter_free(ad);
    ct_model_free(base);
}

/* LoRA at inference runs unmerged (the training path); merging it into f32 copies
 * (ct_adapter_merge, the runtime's merge option) gives the same loss within 1e-6 relative, and
 * the same greedy tokens. */
TEST(adapters_unmerged_equals_merged) {
    json_t *root = load_expected();
    REQUIRE(root);
    int32_t ids[64];
    size_t T = json_ids(json_object_get(root, "ids"), ids, 64);
    json_decref(root);
    const char *cases[2][2] = {{"tests/fixtures/tiny-qwen3", "tests/fixtures/adapters/qwen3-lora"},
                               {"tests/fixtures/tiny-qwen2", "tests/fixtures/adapters/qwen2-lora-layers"}};
    for (int k = 0; k < 2; k++) {
        ct_err err = {0};
        ct_model *base = NULL;
        ct_adapter *ad = NULL;
        CHECK_OK(ct_model_load(cases[k][0], &base, &err), &err);
        if (base) CHECK_OK(ct_adapter_load(cases[k][1], base, &ad, &err), &err);
        REQUIRE(ad);
        CHECK(!ct_adapter_is_merged(ad));
        double a = 0, b = 0;
        size_t na = 0, nb = 0;
        ct_gen_params p;
        greedy_params(&p, base, 8);
        ct_ids ga = {0}, gb = {0};
        CHECK_OK(ct_model_nll(ct_test_ctx(), base, ad, ids, T, &a, &na, &err), &err);
        CHECK_OK(ct_generate(ct_test_ctx(), base, ad, ids, 6, &p, &ga, NULL, &err), &err);
        CHECK_OK(ct_adapter_merge(ad, ct_test_ctx(), &err), &err);
        CHECK(ct_adapter_is_merged(ad));
        CHECK_OK(ct_model_nll(ct_test_ctx(), base, ad, ids, T, &b, &nb, &err), &err);
        CHECK_OK(ct_generate(ct_test_ctx(), base, ad, ids, 6, &p, &gb, NULL, &err), &err);
        CHECK_EQ_INT(na, nb);
        double rel = fabs(a - b) / fabs(a);
        CHECK_MSG(rel <= 1e-6, "%s: unmerged loss %.9g vs merged %.9g (rel %.3g)", cases[k][1], a / (double)na,
                  b / (double)nb, rel);
        printf("    %s: unmerged loss %.9g, merged %.9g, rel diff %.3g\n", cases[k][1], a / (double)na, b / (double)nb,
               rel);
        CHECK_EQ_INT(ga.n, gb.n);
        for (size_t i = 0; i < ga.n && i < gb.n; i++) CHECK_EQ_INT(ga.data[i], gb.data[i]);
        ct_ids_free(&ga);
        ct_ids_free(&gb);
        ct_adapter_free(ad);
        ct_model_free(base);
    }
}
