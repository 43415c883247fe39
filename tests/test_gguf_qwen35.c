/* Qwen3.5 GGUF export (src/model/gguf_qwen35.c): the qwen35 keys, tensor names and every
 * converter transform of tests/fixtures/tiny-qwen3_5-gguf read back by the independent reader
 * (tests/gguf_reader.c) and compared with the HF tensors; the VL checkpoint's text model alone;
 * the value-head reorder; the refusals. llama.cpp runs the files in
 * tests/cli/export_gguf_qwen35.sh. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctune/model.h"
#include "gguf_reader.h"
#include "harness.h"
#include "model/gguf_export.h"
#include "model/gguf_qwen35.h"

/* HF index of the value head at tiled position p (hk key heads, per_k value heads each). */
static int grouped_of(int p, int hk, int per_k) { return (p % hk) * per_k + p / hk; }

TEST(gguf_qwen35_reorder) {
    /* 2 key heads x 2 value heads of 2 rows, after 1 leading row; rows of 3 */
    float x[9 * 3], want[9 * 3];
    for (int i = 0; i < 27; i++) x[i] = (float)i;
    memcpy(want, x, sizeof x);
    ct_gguf_vreorder vr = {CT_GGUF_VROWS, 1, 2, 2, 2};
    for (int p = 0; p < 4; p++)
        memcpy(want + (1 + p * 2) * 3, x + (1 + grouped_of(p, 2, 2) * 2) * 3, 2 * 3 * sizeof(float));
    ct_err err = {0};
    CHECK(ct_gguf_reorder_v_heads(x, 9, 3, &vr, &err) == CT_OK);
    CHECK(!memcmp(x, want, sizeof x));
    /* columns: the same within each row */
    float y[2 * 8], ywant[2 * 8];
    for (int i = 0; i < 16; i++) y[i] = (float)i;
    vr = (ct_gguf_vreorder){CT_GGUF_VCOLS, 0, 2, 2, 2};
    for (int r = 0; r < 2; r++)
        for (int p = 0; p < 4; p++)
            for (int d = 0; d < 2; d++) ywant[r * 8 + p * 2 + d] = y[r * 8 + grouped_of(p, 2, 2) * 2 + d];
    CHECK(ct_gguf_reorder_v_heads(y, 2, 8, &vr, &err) == CT_OK);
    CHECK(!memcmp(y, ywant, sizeof y));
    vr = (ct_gguf_vreorder){CT_GGUF_VROWS, 4, 2, 2, 2}; /* 8 rows from row 4 of 9: too many */
    CHECK(ct_gguf_reorder_v_heads(x, 9, 3, &vr, &err) == CT_ERR_SHAPE);
}

static const float *hf(const ct_model *m, const char *name) {
    const ct_tensor *t = ct_model_tensor(m, name);
    return t && t->dtype == CT_DTYPE_F32 ? t->data : NULL;
}

static bool export_f32(const ct_model *m, const char *dir, const char *sub, tg_file *f) {
    char out[512], path[600];
    snprintf(out, sizeof out, "%s/%s", ct_test_tmpdir(), sub);
    ct_gguf_export_opts o = {.dtype = CT_GGUF_DTYPE_F32};
    ct_err err = {0};
    if (ct_model_export_gguf(m, dir, out, &o, &err)) {
        ct_test_fail(__FILE__, __LINE__, "%s", err.msg);
        return false;
    }
    snprintf(path, sizeof path, "%s/model.gguf", out);
    const char *why = NULL;
    if (tg_open(f, path, &why)) {
        ct_test_fail(__FILE__, __LINE__, "reader: %s", why);
        return false;
    }
    return true;
}

static bool str_is(const tg_file *f, const char *key, const char *want) {
    char *s = tg_str(f, key, 0);
    bool ok = s && !strcmp(s, want);
    free(s);
    return ok;
}

static int32_t arr_i32(const tg_kv *kv, uint64_t i) {
    int32_t v;
    memcpy(&v, kv->val + 4 * i, 4);
    return v;
}

TEST(gguf_qwen35_export) {
    const char *dir = "tests/fixtures/tiny-qwen3_5-gguf";
    ct_model *m = NULL;
    ct_err err = {0};
    REQUIRE(ct_model_load(dir, &m, &err) == CT_OK);
    const ct_config *c = ct_model_config(m);
    CHECK(c->mrope_section[0] == 11 && c->mrope_section[1] == 11 && c->mrope_section[2] == 10 && !c->mrope_section[3]);
    tg_file f;
    REQUIRE(export_f32(m, dir, "q35", &f));
    CHECK(str_is(&f, "general.architecture", "qwen35") && str_is(&f, "tokenizer.ggml.pre", "qwen35"));
    CHECK(tg_u32(&f, "qwen35.block_count") == 4 && tg_u32(&f, "qwen35.embedding_length") == 32);
    CHECK(tg_u32(&f, "qwen35.attention.head_count") == 2 && tg_u32(&f, "qwen35.attention.head_count_kv") == 1);
    CHECK(tg_u32(&f, "qwen35.attention.key_length") == 32 && tg_u32(&f, "qwen35.attention.value_length") == 32);
    CHECK(tg_u32(&f, "qwen35.rope.dimension_count") == 8); /* head_dim 32 x partial_rotary_factor 0.25 */
    CHECK(tg_u32(&f, "qwen35.ssm.conv_kernel") == 4 && tg_u32(&f, "qwen35.ssm.state_size") == 16);
    CHECK(tg_u32(&f, "qwen35.ssm.group_count") == 2 && tg_u32(&f, "qwen35.ssm.time_step_rank") == 4);
    CHECK(tg_u32(&f, "qwen35.ssm.inner_size") == 64);
    CHECK(tg_find(&f, "qwen35.full_attention_interval") == NULL); /* [L, F, L, L]: no schedule */
    const tg_kv *rl = tg_find(&f, "qwen35.attention.recurrent_layers"), *ds = tg_find(&f, "qwen35.rope.dimension_sections");
    REQUIRE(rl && rl->n == 4 && ds && ds->n == 4);
    CHECK(arr_i32(rl, 0) == 1 && arr_i32(rl, 1) == 0 && arr_i32(rl, 2) == 1 && arr_i32(rl, 3) == 1);
    CHECK(arr_i32(ds, 0) == 11 && arr_i32(ds, 1) == 11 && arr_i32(ds, 2) == 10 && arr_i32(ds, 3) == 0);
    /* 3 globals (untied), an attention layer 11 (no ffn_norm: post_attention_norm), a DeltaNet 14 */
    CHECK(f.n_tensors == 3 + 11 + 3 * 14);
    CHECK(tg_tensor_find(&f, "blk.0.ffn_norm.weight") == NULL && tg_tensor_find(&f, "output.weight") != NULL);
    /* (1 + w) norms written as 1 + w; the gated norm as it is */
    static const char *const norms[][2] = {
        {"output_norm.weight", "model.norm.weight"},
        {"blk.0.attn_norm.weight", "model.layers.0.input_layernorm.weight"},
        {"blk.0.post_attention_norm.weight", "model.layers.0.post_attention_layernorm.weight"},
        {"blk.1.attn_q_norm.weight", "model.layers.1.self_attn.q_norm.weight"},
        {"blk.1.attn_k_norm.weight", "model.layers.1.self_attn.k_norm.weight"},
        {"blk.0.ssm_norm.weight", "model.layers.0.linear_attn.norm.weight"},
    };
    for (size_t i = 0; i < sizeof norms / sizeof norms[0]; i++) {
        const tg_tensor *t = tg_tensor_find(&f, norms[i][0]);
        const float *w = hf(m, norms[i][1]);
        REQUIRE(t && w && t->type == 0 && t->n_dims == 1);
        float add = strstr(norms[i][0], "ssm_norm") ? 0.0f : 1.0f;
        for (uint64_t j = 0; j < t->ne[0]; j++)
            CHECK_MSG(((const float *)t->data)[j] == w[j] + add, "%s[%llu]", norms[i][0], (unsigned long long)j);
    }
    /* value heads tiled: GGUF head p is HF head grouped_of(p) (2 key heads, 2 value heads each) */
    const tg_tensor *a = tg_tensor_find(&f, "blk.2.ssm_a"), *dt = tg_tensor_find(&f, "blk.2.ssm_dt.bias");
    const tg_tensor *cv = tg_tensor_find(&f, "blk.2.ssm_conv1d.weight"), *qkv = tg_tensor_find(&f, "blk.2.attn_qkv.weight");
    const tg_tensor *z = tg_tensor_find(&f, "blk.2.attn_gate.weight"), *al = tg_tensor_find(&f, "blk.2.ssm_alpha.weight");
    const tg_tensor *o = tg_tensor_find(&f, "blk.2.ssm_out.weight");
    const float *ha = hf(m, "model.layers.2.linear_attn.A_log"), *hdt = hf(m, "model.layers.2.linear_attn.dt_bias");
    const float *hcv = hf(m, "model.layers.2.linear_attn.conv1d.weight");
    const float *hqkv = hf(m, "model.layers.2.linear_attn.in_proj_qkv.weight");
    const float *hz = hf(m, "model.layers.2.linear_attn.in_proj_z.weight");
    const float *hal = hf(m, "model.layers.2.linear_attn.in_proj_a.weight");
    const float *ho = hf(m, "model.layers.2.linear_attn.out_proj.weight");
    REQUIRE(a && dt && cv && qkv && z && al && o && ha && hdt && hcv && hqkv && hz && hal && ho);
    CHECK(cv->type == 0 && cv->n_dims == 2 && cv->ne[0] == 4 && cv->ne[1] == 128); /* squeezed, F32 */
    CHECK(a->n_dims == 1 && a->ne[0] == 4 && qkv->ne[0] == 32 && qkv->ne[1] == 128 && o->ne[0] == 64);
    const float *ga = (const float *)a->data, *gdt = (const float *)dt->data, *gcv = (const float *)cv->data;
    const float *gqkv = (const float *)qkv->data, *gz = (const float *)z->data, *gal = (const float *)al->data;
    const float *go = (const float *)o->data;
    CHECK(!memcmp(gqkv, hqkv, 64 * 32 * sizeof(float)) && !memcmp(gcv, hcv, 64 * 4 * sizeof(float))); /* q, k */
    for (int p = 0; p < 4; p++) {
        int g = grouped_of(p, 2, 2);
        CHECK(ga[p] == -expf(ha[g]) && gdt[p] == hdt[g]);
        CHECK(!memcmp(gal + p * 32, hal + g * 32, 32 * sizeof(float)));
        CHECK(!memcmp(gz + p * 16 * 32, hz + g * 16 * 32, 16 * 32 * sizeof(float)));
        CHECK(!memcmp(gqkv + (64 + p * 16) * 32, hqkv + (64 + g * 16) * 32, 16 * 32 * sizeof(float)));
        CHECK(!memcmp(gcv + (64 + p * 16) * 4, hcv + (64 + g * 16) * 4, 16 * 4 * sizeof(float)));
        for (int r = 0; r < 32; r++)
            CHECK(!memcmp(go + r * 64 + p * 16, ho + r * 64 + g * 16, 16 * sizeof(float)));
    }
    /* q_proj as stored: [query | gate] per head is llama.cpp's layout too */
    const tg_tensor *q = tg_tensor_find(&f, "blk.1.attn_q.weight");
    const float *hq = hf(m, "model.layers.1.self_attn.q_proj.weight");
    REQUIRE(q && hq);
    CHECK(q->ne[0] == 32 && q->ne[1] == 128 && !memcmp(q->data, hq, 128 * 32 * sizeof(float)));
    tg_close(&f);

    /* refusals of what llama.cpp's qwen35 cannot hold */
    ct_config bad = *c;
    bad.attention_bias = true;
    CHECK(ct_gguf_qwen35_check(&bad, &err) == CT_ERR_UNSUPPORTED && strstr(err.msg, "attention_bias"));
    bad = *c;
    bad.lin_v_dim = 8;
    CHECK(ct_gguf_qwen35_check(&bad, &err) == CT_ERR_UNSUPPORTED && strstr(err.msg, "(got 16 and 8)"));
    bad = *c;
    bad.rope_type = CT_ROPE_LINEAR;
    CHECK(ct_gguf_qwen35_check(&bad, &err) == CT_ERR_UNSUPPORTED && strstr(err.msg, "rope scaling"));
    bad = *c;
    bad.mrope_section[0] = 40; /* sums past head_dim 32: ggml asserts */
    CHECK(ct_gguf_qwen35_check(&bad, &err) == CT_ERR_UNSUPPORTED && strstr(err.msg, "sums to 61"));
    bad = *c;
    bad.mrope_section[0] = 0; /* pair 0 would rotate with the extra (0) position */
    CHECK(ct_gguf_qwen35_check(&bad, &err) == CT_ERR_UNSUPPORTED && strstr(err.msg, "rotary pair 0"));
    ct_model_free(m);
}

TEST(gguf_qwen35_export_vl_text_only) {
    const char *dir = "tests/fixtures/tiny-qwen3_5-gguf-vl";
    ct_model *m = NULL;
    ct_err err = {0};
    REQUIRE(ct_model_load(dir, &m, &err) == CT_OK);
    tg_file f;
    REQUIRE(export_f32(m, dir, "q35vl", &f));
    CHECK(str_is(&f, "general.architecture", "qwen35"));
    CHECK(tg_u32(&f, "qwen35.full_attention_interval") == 2 && !tg_find(&f, "qwen35.attention.recurrent_layers"));
    CHECK(f.n_tensors == 2 + 2 * 11 + 2 * 14); /* tied: no output.weight; no vision tower, no MTP head */
    for (uint64_t i = 0; i < f.n_tensors; i++)
        CHECK_MSG(!strstr(f.t[i].name, "visual") && !strstr(f.t[i].name, "mtp") && !strstr(f.t[i].name, "nextn"),
                  "%s exported", f.t[i].name);
    const tg_tensor *e = tg_tensor_find(&f, "token_embd.weight");
    const float *he = hf(m, "model.language_model.embed_tokens.weight");
    REQUIRE(e && he);
    CHECK(e->ne[0] == 32 && e->ne[1] == 416 && !memcmp(e->data, he, 416 * 32 * sizeof(float)));
    tg_close(&f);
    ct_model_free(m);
}

/* rope_parameters.mrope_section: read (padded with zeros), malformed ones named. */
TEST(gguf_qwen35_mrope_section_config) {
    static const char *const cases[][2] = {
        {"[2, 1, 1]", NULL},
        {"\"11\"", "mrope_section must be a list"},
        {"[1, 2, 3, 4, 5]", "mrope_section must be a list"},
        {"[1, -1, 0]", "mrope_section[1] must be an integer"},
    };
    char path[512];
    snprintf(path, sizeof path, "%s/q35_config.json", ct_test_tmpdir());
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[1024];
        snprintf(text, sizeof text,
                 "{\"model_type\": \"qwen3_5_text\", \"architectures\": [\"Qwen3_5ForCausalLM\"], \"vocab_size\": 64, "
                 "\"hidden_size\": 32, \"intermediate_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 2, "
                 "\"num_key_value_heads\": 1, \"head_dim\": 32, \"rms_norm_eps\": 1e-6, \"rope_parameters\": "
                 "{\"rope_type\": \"default\", \"rope_theta\": 10000.0, \"partial_rotary_factor\": 0.25, "
                 "\"mrope_section\": %s}}",
                 cases[i][0]);
        FILE *fp = fopen(path, "w");
        REQUIRE(fp);
        fputs(text, fp);
        fclose(fp);
        ct_config c;
        ct_err err = {0};
        ct_status st = ct_config_load_file(path, &c, &err);
        if (!cases[i][1]) {
            CHECK_MSG(st == CT_OK, "%s", err.msg);
            CHECK(c.mrope_section[0] == 2 && c.mrope_section[1] == 1 && c.mrope_section[2] == 1 && !c.mrope_section[3]);
        } else {
            CHECK_MSG(st == CT_ERR_FORMAT && strstr(err.msg, cases[i][1]) && strstr(err.msg, path), "%s: %s",
                      cases[i][0], err.msg);
        }
    }
}
