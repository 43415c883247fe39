/* GGUF export (src/io/gguf.c, src/quant/ggml_blocks.c, src/model/gguf_export.c, src/tok/gguf_vocab.c):
 * Q8_0 / Q4_0 blocks byte for byte against the numpy reference of ggml's quantizers
 * (tests/gen/make_ggml_block_fixtures.py), the writer's file read back by an independent reader
 * (tests/gguf_reader.c), llama's q/k permutation, and a stories260k export's metadata, vocabulary
 * and tensors. llama.cpp itself runs the exports in tests/cli/export_gguf.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctune/model.h"
#include "gguf_reader.h"
#include "harness.h"
#include "io/gguf.h"
#include "io/safetensors.h"
#include "model/gguf_export.h"
#include "quant/ggml_blocks.h"

static const char *k_block_cases[] = {"randn", "zero_block", "ties", "outlier", "neg_max",
                                      "equal_abs", "tiny", "large", "bf16ish"};

TEST(gguf_blocks_golden) {
    ct_st *st = NULL;
    ct_err err = {0};
    REQUIRE(ct_st_open(ct_test_path("tests/fixtures/quant/ggml_blocks.safetensors"), &st, &err) == CT_OK);
    for (size_t c = 0; c < sizeof k_block_cases / sizeof k_block_cases[0]; c++) {
        char key[96];
        snprintf(key, sizeof key, "%s.x", k_block_cases[c]);
        const ct_tensor *x = ct_st_get(st, key);
        CHECK_MSG(x != NULL, "fixture lacks %s", key);
        if (!x) continue;
        size_t n = (size_t)x->shape[0];
        for (int kind = 0; kind < 2; kind++) {
            const char *kn = kind ? "q4_0" : "q8_0";
            size_t bytes = n / CT_GGML_QK * (kind ? CT_GGML_Q4_0_BYTES : CT_GGML_Q8_0_BYTES);
            uint8_t *q = malloc(bytes);
            float *deq = malloc(n * sizeof *deq);
            CHECK(kind ? ct_ggml_quantize_q4_0(x->data, n, q) : ct_ggml_quantize_q8_0(x->data, n, q));
            snprintf(key, sizeof key, "%s.%s", k_block_cases[c], kn);
            const ct_tensor *want = ct_st_get(st, key);
            CHECK_MSG(want && (size_t)want->shape[0] == bytes, "%s: size", key);
            for (size_t i = 0; want && i < bytes; i++)
                if (q[i] != ((const uint8_t *)want->data)[i]) {
                    ct_test_fail(__FILE__, __LINE__, "%s: byte %zu (block %zu) is 0x%02x, numpy reference 0x%02x", key,
                                 i, i / (kind ? CT_GGML_Q4_0_BYTES : CT_GGML_Q8_0_BYTES), q[i],
                                 ((const uint8_t *)want->data)[i]);
                    break;
                }
            if (kind) ct_ggml_dequantize_q4_0(q, n, deq);
            else ct_ggml_dequantize_q8_0(q, n, deq);
            snprintf(key, sizeof key, "%s.%s_deq", k_block_cases[c], kn);
            const ct_tensor *wd = ct_st_get(st, key);
            CHECK_MSG(wd != NULL, "fixture lacks %s", key);
            for (size_t i = 0; wd && i < n; i++)
                if (memcmp(&deq[i], &((const float *)wd->data)[i], 4)) {
                    ct_test_fail(__FILE__, __LINE__, "%s[%zu] = %.9g, reference %.9g", key, i, (double)deq[i],
                                 (double)((const float *)wd->data)[i]);
                    break;
                }
            free(q);
            free(deq);
        }
    }
    float bad[32] = {0};
    bad[7] = NAN;
    uint8_t out[CT_GGML_Q8_0_BYTES];
    CHECK(!ct_ggml_quantize_q8_0(bad, 32, out));
    CHECK(!ct_ggml_quantize_q4_0(bad, 32, out));
    ct_st_close(st);
}

TEST(gguf_llama_permute) {
    /* 2 heads of head_dim 4, rows of 1 element: row h*4 + 2i + j <- h*4 + j*2 + i */
    float x[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    ct_err err = {0};
    CHECK(ct_gguf_llama_permute(x, 8, 1, 2, &err) == CT_OK);
    const float want[8] = {0, 2, 1, 3, 4, 6, 5, 7};
    CHECK(!memcmp(x, want, sizeof x));
    CHECK(ct_gguf_llama_permute(x, 6, 1, 4, &err) != CT_OK); /* 6 rows are not 4 heads of pairs */
    CHECK(strstr(err.msg, "4 heads") != NULL);
}

typedef struct fill_src {
    const void *p;
} fill_src;

static ct_status fill_copy(void *user, void *dst, size_t n, ct_err *err) {
    (void)err;
    memcpy(dst, ((fill_src *)user)->p, n);
    return CT_OK;
}

static ct_status fill_fail(void *user, void *dst, size_t n, ct_err *err) {
    (void)user, (void)dst, (void)n;
    return ct_err_set(err, CT_ERR_NUMERIC, "NaN or infinite weight");
}

TEST(gguf_writer_roundtrip) {
    ct_gguf_writer *w = NULL;
    ct_err err = {0};
    REQUIRE(ct_gguf_writer_init(&w, &err) == CT_OK);
    CHECK(ct_gguf_set_str(w, "general.architecture", "qwen3", &err) == CT_OK);
    CHECK(ct_gguf_set_u32(w, "qwen3.block_count", 28, &err) == CT_OK);
    CHECK(ct_gguf_set_f32(w, "qwen3.rope.freq_base", 1e6f, &err) == CT_OK);
    CHECK(ct_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", false, &err) == CT_OK);
    const char *toks[3] = {"a", "", "<|im_end|>"};
    CHECK(ct_gguf_set_arr_str(w, "tokenizer.ggml.tokens", toks, 3, &err) == CT_OK);
    int32_t types[3] = {1, 5, 3};
    CHECK(ct_gguf_set_arr_i32(w, "tokenizer.ggml.token_type", types, 3, &err) == CT_OK);
    CHECK(ct_gguf_set_u32(w, "qwen3.block_count", 1, &err) != CT_OK); /* twice */
    CHECK(strstr(err.msg, "qwen3.block_count") != NULL);
    float v[3 * 5];
    for (int i = 0; i < 15; i++) v[i] = (float)i;
    fill_src fv = {v};
    int64_t shape[2] = {3, 5};
    CHECK(ct_gguf_add_tensor(w, "a.weight", 2, shape, CT_GGML_F32, fill_copy, &fv, &err) == CT_OK);
    uint8_t q[2 * CT_GGML_Q8_0_BYTES];
    for (size_t i = 0; i < sizeof q; i++) q[i] = (uint8_t)i;
    fill_src fq = {q};
    int64_t qshape[2] = {1, 64};
    CHECK(ct_gguf_add_tensor(w, "b.weight", 2, qshape, CT_GGML_Q8_0, fill_copy, &fq, &err) == CT_OK);
    int64_t bad_shape[2] = {1, 33};
    CHECK(ct_gguf_add_tensor(w, "c.weight", 2, bad_shape, CT_GGML_Q8_0, fill_copy, &fq, &err) != CT_OK);
    CHECK(ct_gguf_add_tensor(w, "a.weight", 2, shape, CT_GGML_F32, fill_copy, &fv, &err) != CT_OK);
    char path[512];
    snprintf(path, sizeof path, "%s/t.gguf", ct_test_tmpdir());
    REQUIRE(ct_gguf_write(w, path, &err) == CT_OK);
    ct_gguf_writer_free(w);

    tg_file f;
    const char *why = NULL;
    REQUIRE(tg_open(&f, path, &why) == 0 || (ct_test_fail(__FILE__, __LINE__, "reader: %s", why), 0));
    CHECK(f.n_kv == 6 && f.n_tensors == 2);
    char *s = tg_str(&f, "general.architecture", 0);
    CHECK(s && !strcmp(s, "qwen3"));
    free(s);
    CHECK(tg_u32(&f, "qwen3.block_count") == 28);
    CHECK(tg_f32(&f, "qwen3.rope.freq_base") == 1e6f);
    CHECK(tg_bool(&f, "tokenizer.ggml.add_bos_token") == 0);
    s = tg_str(&f, "tokenizer.ggml.tokens", 2);
    CHECK(s && !strcmp(s, "<|im_end|>"));
    free(s);
    const tg_tensor *a = tg_tensor_find(&f, "a.weight"), *b = tg_tensor_find(&f, "b.weight");
    REQUIRE(a && b);
    CHECK(a->n_dims == 2 && a->ne[0] == 5 && a->ne[1] == 3 && a->type == 0); /* dims reversed */
    CHECK(!memcmp(a->data, v, sizeof v));
    CHECK(b->type == 8 && b->ne[0] == 64 && b->offset == 64); /* 60 bytes padded to 64 */
    CHECK(!memcmp(b->data, q, sizeof q));
    CHECK(f.data_start % 32 == 0 && f.size == f.data_start + 64 + 96);
    tg_close(&f);

    /* a failing fill leaves no file */
    REQUIRE(ct_gguf_writer_init(&w, &err) == CT_OK);
    CHECK(ct_gguf_add_tensor(w, "bad.weight", 2, shape, CT_GGML_F32, fill_fail, NULL, &err) == CT_OK);
    snprintf(path, sizeof path, "%s/bad.gguf", ct_test_tmpdir());
    CHECK(ct_gguf_write(w, path, &err) != CT_OK);
    CHECK(strstr(err.msg, "bad.weight") && strstr(err.msg, "NaN"));
    FILE *fp = fopen(path, "rb");
    CHECK(fp == NULL);
    if (fp) fclose(fp);
    ct_gguf_writer_free(w);
}

TEST(gguf_export_stories260k) {
    const char *dir = ct_test_shared("models/stories260k");
    if (!dir) {
        ct_test_skip("../shared/models/stories260k absent");
        return;
    }
    ct_model *m = NULL;
    ct_err err = {0};
    REQUIRE(ct_model_load(dir, &m, &err) == CT_OK);
    char out[512], path[600];
    snprintf(out, sizeof out, "%s/s", ct_test_tmpdir());
    ct_gguf_export_opts o = {.dtype = CT_GGUF_DTYPE_Q8_0};
    REQUIRE(ct_model_export_gguf(m, dir, out, &o, &err) == CT_OK || (ct_test_fail(__FILE__, __LINE__, "%s", err.msg), 0));
    snprintf(path, sizeof path, "%s/model.gguf", out);
    tg_file f;
    const char *why = NULL;
    REQUIRE(tg_open(&f, path, &why) == 0 || (ct_test_fail(__FILE__, __LINE__, "reader: %s", why), 0));
    char *s = tg_str(&f, "general.architecture", 0);
    CHECK(s && !strcmp(s, "llama"));
    free(s);
    CHECK(tg_u32(&f, "general.file_type") == 7);
    CHECK(tg_u32(&f, "llama.block_count") == 5 && tg_u32(&f, "llama.embedding_length") == 64);
    CHECK(tg_u32(&f, "llama.feed_forward_length") == 172 && tg_u32(&f, "llama.context_length") == 512);
    CHECK(tg_u32(&f, "llama.attention.head_count") == 8 && tg_u32(&f, "llama.attention.head_count_kv") == 4);
    CHECK(tg_u32(&f, "llama.attention.key_length") == 8 && tg_u32(&f, "llama.rope.dimension_count") == 8);
    CHECK(tg_f32(&f, "llama.attention.layer_norm_rms_epsilon") == 1e-5f && tg_f32(&f, "llama.rope.freq_base") == 1e4f);
    s = tg_str(&f, "tokenizer.ggml.model", 0);
    CHECK(s && !strcmp(s, "llama"));
    free(s);
    CHECK(tg_find(&f, "tokenizer.ggml.tokens")->n == 512);
    s = tg_str(&f, "tokenizer.ggml.tokens", 3);
    CHECK(s && !strcmp(s, "<0x00>"));
    free(s);
    CHECK(tg_u32(&f, "tokenizer.ggml.bos_token_id") == 1 && tg_u32(&f, "tokenizer.ggml.eos_token_id") == 2);
    CHECK(tg_bool(&f, "tokenizer.ggml.add_bos_token") == 1 && tg_bool(&f, "tokenizer.ggml.add_eos_token") == 0);
    CHECK(tg_bool(&f, "tokenizer.ggml.add_space_prefix") == 1); /* the Prepend("▁") normalizer */
    const tg_kv *tt = tg_find(&f, "tokenizer.ggml.token_type");
    REQUIRE(tt && tt->n == 512);
    int32_t t0, t1, t3, t300;
    memcpy(&t0, tt->val, 4), memcpy(&t1, tt->val + 4, 4), memcpy(&t3, tt->val + 12, 4), memcpy(&t300, tt->val + 1200, 4);
    CHECK(t0 == 2 && t1 == 3 && t3 == 6 && t300 == 1); /* unknown, control, byte, normal */
    CHECK(f.n_tensors == 2 + 5 * 9);
    CHECK(tg_tensor_find(&f, "output.weight") == NULL); /* tied */
    const tg_tensor *e = tg_tensor_find(&f, "token_embd.weight"), *n0 = tg_tensor_find(&f, "blk.0.attn_norm.weight");
    const tg_tensor *dn = tg_tensor_find(&f, "blk.0.ffn_down.weight"), *q = tg_tensor_find(&f, "blk.0.attn_q.weight");
    REQUIRE(e && n0 && dn && q);
    CHECK(e->type == 8 && e->ne[0] == 64 && e->ne[1] == 512);
    CHECK(n0->type == 0 && n0->n_dims == 1);
    CHECK(dn->type == 1 && dn->ne[0] == 172); /* rows of 172: not Q8_0, F16 */
    /* q rows permuted per head: GGUF row h*8 + 2i + j holds HF row h*8 + j*4 + i */
    const ct_tensor *hq = ct_model_tensor(m, "model.layers.0.self_attn.q_proj.weight");
    REQUIRE(hq);
    float row[64], got[64];
    for (int h = 0; h < 8; h++)
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 2; j++) {
                int g = h * 8 + 2 * i + j, src = h * 8 + j * 4 + i;
                memcpy(row, (const float *)hq->data + src * 64, sizeof row);
                ct_ggml_dequantize_q8_0(q->data + (size_t)g * 2 * CT_GGML_Q8_0_BYTES, 64, got);
                uint8_t blk[2 * CT_GGML_Q8_0_BYTES];
                ct_ggml_quantize_q8_0(row, 64, blk);
                CHECK_MSG(!memcmp(blk, q->data + (size_t)g * 2 * CT_GGML_Q8_0_BYTES, sizeof blk),
                          "attn_q row %d is not HF row %d", g, src);
            }
    tg_close(&f);
    snprintf(path, sizeof path, "%s/Modelfile", out);
    char *mf = NULL;
    size_t len = 0;
    FILE *fp = fopen(path, "rb");
    REQUIRE(fp);
    mf = calloc(1, 4096);
    len = fread(mf, 1, 4095, fp);
    fclose(fp);
    CHECK(len > 0 && strstr(mf, "\nFROM ./model.gguf\n") && strstr(mf, "\nPARAMETER stop \"</s>\"\n"));
    free(mf);
    ct_model_free(m);
}
