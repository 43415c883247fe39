/* Pre-quantized bitsandbytes 4-bit checkpoints (src/quant/bnb_load.c): binding the tiny-llama
 * bnb-4bit fixture (made by tests/gen/make_quant_fixtures.py from tiny-llama's weights) gives the
 * same codes and values as quantizing those weights here; malformed checkpoints are rejected with
 * a message naming the tensor or key; config.json's quantization_config is parsed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "io/safetensors.h"
#include "quant/bnb_load.h"

static const char *k_linears[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                                  "self_attn.o_proj", "mlp.gate_proj",    "mlp.up_proj",
                                  "mlp.down_proj"};
/* tiny-llama: hidden 32, 4 heads of 8, 1 kv head, intermediate 64. */
static const int64_t k_shapes[][2] = {{32, 32}, {8, 32}, {8, 32}, {32, 32}, {64, 32}, {64, 32}, {32, 64}};

TEST(bnb4_bind_tiny_llama) {
    ct_st *q = NULL, *f = NULL;
    ct_err err = {0};
    REQUIRE(ct_st_open_dir(ct_test_path("tests/fixtures/tiny-llama-bnb-4bit"), &q, &err) == CT_OK);
    REQUIRE(ct_st_open_dir(ct_test_path("tests/fixtures/tiny-llama"), &f, &err) == CT_OK);
    CHECK(!ct_bnb4_present(q, "model.embed_tokens.weight"));
    CHECK(ct_st_get(q, "model.embed_tokens.weight")->dtype == CT_DTYPE_F32);
    float a[64 * 32], b[64 * 32];
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < 7; i++) {
            char name[128];
            snprintf(name, sizeof name, "model.layers.%d.%s.weight", l, k_linears[i]);
            CHECK(ct_bnb4_present(q, name));
            ct_tensor t, mine;
            ct_quant4_owner *o = NULL, *m = NULL;
            ct_status s = ct_bnb4_bind(q, name, k_shapes[i], &t, &o, &err);
            CHECK_MSG(s == CT_OK, "%s", err.msg);
            if (s != CT_OK) continue;
            CHECK(t.dtype == CT_DTYPE_NF4 && t.ndim == 2 && t.shape[0] == k_shapes[i][0] && t.shape[1] == k_shapes[i][1]);
            CHECK(o->st.nested && o->st.blocksize == 64 && o->st.orig_dtype == CT_DTYPE_F32);
            REQUIRE(ct_quant4_quantize(ct_st_get(f, name), CT_DTYPE_NF4, true, &m, &mine, &err) == CT_OK);
            size_t n = (size_t)ct_tensor_numel(&t);
            CHECK_MSG(memcmp(t.data, mine.data, n / 2) == 0, "%s: packed codes differ", name);
            CHECK_MSG(memcmp(o->st.qabsmax, m->st.qabsmax, (size_t)o->st.nblocks) == 0, "%s: absmax codes differ", name);
            CHECK(o->st.offset == m->st.offset);
            ct_tensor_to_f32(&t, 0, n, a);
            ct_tensor_to_f32(&mine, 0, n, b);
            CHECK_MSG(memcmp(a, b, n * sizeof(float)) == 0, "%s: decoded values differ", name);
            ct_quant4_owner_free(o);
            ct_quant4_owner_free(m);
        }
    ct_st_close(q);
    ct_st_close(f);
}

TEST(bnb4_bind_fp4_bf16) {
    ct_st *st = NULL;
    ct_err err = {0};
    REQUIRE(ct_st_open(ct_test_path("tests/fixtures/quant/good_fp4.safetensors"), &st, &err) == CT_OK);
    ct_tensor t;
    ct_quant4_owner *o = NULL;
    CHECK_MSG(ct_bnb4_bind(st, "w.weight", NULL, &t, &o, &err) == CT_OK, "%s", err.msg);
    CHECK(o && t.dtype == CT_DTYPE_FP4 && o->st.orig_dtype == CT_DTYPE_BF16 && t.shape[0] == 8 && t.shape[1] == 64);
    ct_quant4_owner_free(o);
    ct_st_close(st);
}

/* Binding "w.weight" of a malformed file fails with `code` and a message holding w1 and w2. */
static void expect_bad(const char *file, ct_status code, const char *w1, const char *w2) {
    char rel[128];
    snprintf(rel, sizeof rel, "tests/fixtures/quant/%s.safetensors", file);
    ct_st *st = NULL;
    ct_err err = {0};
    REQUIRE(ct_st_open(ct_test_path(rel), &st, &err) == CT_OK);
    ct_tensor t;
    ct_quant4_owner *o = (ct_quant4_owner *)1;
    static const int64_t want[2] = {8, 64};
    ct_status s = ct_bnb4_bind(st, "w.weight", want, &t, &o, &err);
    CHECK_MSG(s == code, "%s: status %d, expected %d (%s)", file, s, code, err.msg);
    CHECK(o == NULL);
    CHECK_MSG(strstr(err.msg, w1) != NULL, "%s: message lacks '%s': %s", file, w1, err.msg);
    CHECK_MSG(!w2 || strstr(err.msg, w2) != NULL, "%s: message lacks '%s': %s", file, w2, err.msg);
    ct_st_close(st);
}

TEST(bnb4_bind_rejects_bad_checkpoints) {
    expect_bad("bad_missing_absmax", CT_ERR_FORMAT, "w.weight.absmax", "missing");
    expect_bad("bad_shape", CT_ERR_SHAPE, "w.weight.quant_state.bitsandbytes__nf4", "[64, 8]");
    expect_bad("bad_quant_type", CT_ERR_UNSUPPORTED, "w.weight.quant_state.bitsandbytes__nf4", "nf5");
    expect_bad("bad_blocksize", CT_ERR_UNSUPPORTED, "w.weight.quant_state.bitsandbytes__nf4", "blocksize 48");
    expect_bad("bad_nested_size", CT_ERR_SHAPE, "w.weight.nested_absmax", "expected 1");
    /* A plain tensor is not a 4-bit weight. */
    ct_st *st = NULL;
    ct_err err = {0};
    REQUIRE(ct_st_open(ct_test_path("tests/fixtures/quant/good.safetensors"), &st, &err) == CT_OK);
    ct_tensor t;
    ct_quant4_owner *o = NULL;
    CHECK(ct_bnb4_bind(st, "w.weight.quant_map", NULL, &t, &o, &err) == CT_ERR_FORMAT && o == NULL);
    CHECK_MSG(strstr(err.msg, "w.weight.quant_map") != NULL, "%s", err.msg);
    static const int64_t wrong[2] = {8, 32};
    CHECK(ct_bnb4_bind(st, "w.weight", wrong, &t, &o, &err) == CT_ERR_SHAPE && o == NULL);
    CHECK(ct_bnb4_bind(st, "w.weight", NULL, &t, &o, &err) == CT_OK && o != NULL);
    /* bnb_4bit_quant_storage=bfloat16: the same codes stored as BF16 bind to the same values */
    ct_st *sb = NULL;
    ct_tensor tb;
    ct_quant4_owner *ob = NULL;
    REQUIRE(ct_st_open(ct_test_path("tests/fixtures/quant/good_bf16_storage.safetensors"), &sb, &err) == CT_OK);
    CHECK_OK(ct_bnb4_bind(sb, "w.weight", NULL, &tb, &ob, &err), &err);
    if (ob) {
        float a[512], b[512];
        ct_tensor_to_f32(&t, 0, 512, a);
        ct_tensor_to_f32(&tb, 0, 512, b);
        CHECK(!memcmp(a, b, sizeof a));
    }
    ct_quant4_owner_free(ob);
    ct_st_close(sb);
    ct_quant4_owner_free(o);
    ct_st_close(st);
}

TEST(bnb_config) {
    ct_bnb_config c;
    ct_err err = {0};
    REQUIRE(ct_bnb_config_load(ct_test_path("tests/fixtures/tiny-llama-bnb-4bit"), &c, &err) == CT_OK);
    CHECK(c.present && c.load_in_4bit && !c.load_in_8bit && c.quant_type == CT_DTYPE_NF4 && c.double_quant);
    CHECK(c.compute_dtype == CT_DTYPE_F32 && c.n_skip == 0);
    ct_bnb_config_free(&c);
    REQUIRE(ct_bnb_config_load(ct_test_path("tests/fixtures/tiny-llama"), &c, &err) == CT_OK);
    CHECK(!c.present);
    json_t *j = json_loads("{\"quantization_config\": {\"quant_method\": \"bitsandbytes\", \"load_in_4bit\": true,"
                           " \"bnb_4bit_compute_dtype\": \"bfloat16\", \"llm_int8_skip_modules\": [\"lm_head\", \"mlp.down_proj\"]}}",
                           0, NULL);
    REQUIRE(j && ct_bnb_config_parse(j, &c, &err) == CT_OK);
    CHECK(c.quant_type == CT_DTYPE_FP4 && !c.double_quant && c.compute_dtype == CT_DTYPE_BF16 && c.n_skip == 2);
    CHECK(ct_bnb_config_skips(&c, "lm_head.weight") && ct_bnb_config_skips(&c, "model.layers.3.mlp.down_proj.weight"));
    CHECK(!ct_bnb_config_skips(&c, "lm_head2.weight") && !ct_bnb_config_skips(&c, "model.layers.3.mlp.up_proj.weight"));
    ct_bnb_config_free(&c);
    json_decref(j);
    j = json_loads("{\"quantization_config\": {\"quant_method\": \"gptq\"}}", 0, NULL);
    CHECK(ct_bnb_config_parse(j, &c, &err) == CT_ERR_UNSUPPORTED && strstr(err.msg, "gptq"));
    json_decref(j);
    j = json_loads("{\"quantization_config\": {\"quant_method\": \"bitsandbytes\", \"bnb_4bit_quant_type\": \"int4\"}}", 0, NULL);
    CHECK(ct_bnb_config_parse(j, &c, &err) == CT_ERR_UNSUPPORTED && strstr(err.msg, "bnb_4bit_quant_type"));
    json_decref(j);
}
