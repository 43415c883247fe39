/* ggml block types to f32 (src/quant/ggml_dequant.c) against the real ggml library: the blocks
 * and ggml's own dequantize_row_<type> outputs are in tests/fixtures/quant/ggml_kquants.safetensors
 * (written by tests/gen/make_ggml_kquant_fixtures.py from llama.cpp's libggml-base.so: ggml's
 * quantizers with and without an importance matrix, random block bytes, f16 / bf16 special
 * values); every output must be the same bits. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "io/safetensors.h"
#include "quant/ggml_dequant.h"

typedef struct kq_case {
    const char *name;
    uint32_t type;
    size_t elems, bytes;
} kq_case;

static const kq_case k_cases[] = {
    {"f16", CT_GGML_F16, 1, 2},       {"bf16", CT_GGML_BF16, 1, 2},
    {"q4_0", CT_GGML_Q4_0, 32, 18},   {"q4_1", CT_GGML_Q4_1, 32, 20},
    {"q5_0", CT_GGML_Q5_0, 32, 22},   {"q5_1", CT_GGML_Q5_1, 32, 24},
    {"q8_0", CT_GGML_Q8_0, 32, 34},   {"q2_K", CT_GGML_Q2_K, 256, 84},
    {"q3_K", CT_GGML_Q3_K, 256, 110}, {"q4_K", CT_GGML_Q4_K, 256, 144},
    {"q5_K", CT_GGML_Q5_K, 256, 176}, {"q6_K", CT_GGML_Q6_K, 256, 210},
    {"iq4_nl", CT_GGML_IQ4_NL, 32, 18}, {"iq4_xs", CT_GGML_IQ4_XS, 256, 136},
};
#define N_CASES (sizeof k_cases / sizeof k_cases[0])

TEST(ggml_dequant_block_sizes) {
    for (size_t c = 0; c < N_CASES; c++) {
        size_t e = 0, b = 0;
        CHECK_MSG(ct_ggml_dequant_supported(k_cases[c].type), "%s not supported", k_cases[c].name);
        ct_ggml_dequant_block(k_cases[c].type, &e, &b);
        CHECK_MSG(e == k_cases[c].elems && b == k_cases[c].bytes, "%s: %zu elems / %zu bytes, expected %zu / %zu",
                  k_cases[c].name, e, b, k_cases[c].elems, k_cases[c].bytes);
    }
    size_t e = 9, b = 9;
    CHECK(ct_ggml_dequant_supported(CT_GGML_F32));
    ct_ggml_dequant_block(CT_GGML_F32, &e, &b);
    CHECK(e == 1 && b == 4);
    ct_ggml_dequant_block(CT_GGML_Q4_K, NULL, &b);
    CHECK_EQ_INT(b, 144);
    /* removed Q4_2 / Q4_3 (4, 5), Q8_1 (9), Q8_K (15), the codebook IQ types (16 .. 19, 21, 22, 29),
     * the integer types (24 .. 28), TQ1_0 (34), MXFP4 (39) and numbers beyond the enum: not
     * handled, 0 / 0 */
    const uint32_t unsupported[] = {4, 5, 9, 15, 16, 17, 18, 19, 21, 22, 24, 25, 26, 27, 28, 29, 34, 39, 1000};
    for (size_t i = 0; i < sizeof unsupported / sizeof unsupported[0]; i++) {
        e = b = 9;
        CHECK_MSG(!ct_ggml_dequant_supported(unsupported[i]), "type %u supported", unsupported[i]);
        ct_ggml_dequant_block(unsupported[i], &e, &b);
        CHECK_MSG(e == 0 && b == 0, "type %u: %zu / %zu", unsupported[i], e, b);
    }
}

/* Decodes `blocks` (len bytes) of case kc at a deliberately odd address and compares with want. */
static void check_case(const kq_case *kc, const uint8_t *blocks, size_t len, const float *want, size_t n) {
    uint8_t *odd = malloc(len + 1);
    float *got = malloc((n + 1) * sizeof *got);
    if (!odd || !got) {
        ct_test_fail(__FILE__, __LINE__, "out of memory");
        free(odd);
        free(got);
        return;
    }
    memcpy(odd + 1, blocks, len);
    const float guard = -12345.0f;
    got[n] = guard;
    ct_ggml_dequantize_row(kc->type, odd + 1, n, got);
    CHECK_MSG(memcmp(&got[n], &guard, sizeof guard) == 0, "%s: wrote past n", kc->name);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &want[i], sizeof got[i]) != 0) {
            if (bad++ < 3) {
                uint32_t gb, wb;
                memcpy(&gb, &got[i], 4);
                memcpy(&wb, &want[i], 4);
                ct_test_fail(__FILE__, __LINE__, "%s[%zu] (block %zu) = %.9g (0x%08x), ggml %.9g (0x%08x)", kc->name,
                             i, i / kc->elems, (double)got[i], gb, (double)want[i], wb);
            }
        }
    CHECK_MSG(bad == 0, "%s: %zu of %zu values differ from ggml's", kc->name, bad, n);
    free(odd);
    free(got);
}

TEST(ggml_dequant_golden) {
    ct_st *st = NULL;
    ct_err err = {0};
    REQUIRE(ct_st_open(ct_test_path("tests/fixtures/quant/ggml_kquants.safetensors"), &st, &err) == CT_OK);
    for (size_t c = 0; c < N_CASES; c++) {
        const kq_case *kc = &k_cases[c];
        char key[64];
        snprintf(key, sizeof key, "%s.blocks", kc->name);
        const ct_tensor *blocks = ct_st_get(st, key);
        snprintf(key, sizeof key, "%s.out", kc->name);
        const ct_tensor *out = ct_st_get(st, key);
        CHECK_MSG(blocks && out, "fixture lacks %s", kc->name);
        if (!blocks || !out) continue;
        size_t len = (size_t)blocks->shape[0], n = (size_t)out->shape[0];
        CHECK_MSG(len % kc->bytes == 0 && len / kc->bytes * kc->elems == n, "%s: %zu bytes for %zu values", kc->name,
                  len, n);
        if (len / kc->bytes * kc->elems != n) continue;
        check_case(kc, blocks->data, len, out->data, n);
        /* the second block alone (a row starting mid-tensor) decodes to the same values */
        if (n >= 2 * kc->elems)
            check_case(kc, (const uint8_t *)blocks->data + kc->bytes, kc->bytes, (const float *)out->data + kc->elems,
                       kc->elems);
    }
    ct_st_close(st);
}

/* Q5_0 and IQ4_NL rewritten as Q8_0 blocks (ct_ggml_to_q8_0): the Q8_0 decoding of the rewrite is
 * ggml's decoding of the original, bit for bit */
TEST(ggml_to_q8_0_exact) {
    ct_st *st = NULL;
    ct_err err = {0};
    REQUIRE(ct_st_open(ct_test_path("tests/fixtures/quant/ggml_kquants.safetensors"), &st, &err) == CT_OK);
    static const kq_case q8 = {"q5_0 / iq4_nl as q8_0", CT_GGML_Q8_0, 32, 34};
    static const char *const names[] = {"q5_0", "iq4_nl"};
    static const uint32_t types[] = {CT_GGML_Q5_0, CT_GGML_IQ4_NL};
    for (int i = 0; i < 2; i++) {
        char key[64];
        snprintf(key, sizeof key, "%s.blocks", names[i]);
        const ct_tensor *blocks = ct_st_get(st, key);
        snprintf(key, sizeof key, "%s.out", names[i]);
        const ct_tensor *out = ct_st_get(st, key);
        REQUIRE(blocks && out);
        size_t n = (size_t)out->shape[0];
        uint8_t *q = malloc(n / 32 * 34);
        REQUIRE(q);
        CHECK(ct_ggml_q8_0_exact(types[i]));
        ct_ggml_to_q8_0(types[i], blocks->data, n, q);
        check_case(&q8, q, n / 32 * 34, out->data, n);
        free(q);
    }
    CHECK(!ct_ggml_q8_0_exact(CT_GGML_Q4_1) && !ct_ggml_q8_0_exact(CT_GGML_IQ4_XS));
    ct_st_close(st);
}

TEST(ggml_dequant_f32_and_bad_n) {
    const float in[4] = {1.5f, -0.0f, 3e-40f, -7.25f};
    float out[4];
    ct_ggml_dequantize_row(CT_GGML_F32, in, 4, out);
    CHECK(memcmp(in, out, sizeof in) == 0);
    /* n not a whole number of blocks, or an unsupported type: nothing written */
    uint8_t blk[144] = {0};
    float y[256];
    for (int i = 0; i < 256; i++) y[i] = 7.0f;
    ct_ggml_dequantize_row(CT_GGML_Q4_K, blk, 100, y);
    ct_ggml_dequantize_row(16, blk, 256, y);
    int untouched = 1;
    for (int i = 0; i < 256; i++) untouched &= y[i] == 7.0f;
    CHECK(untouched);
    ct_ggml_dequantize_row(CT_GGML_Q4_K, blk, 256, y); /* zero block: d = dmin = 0 */
    for (int i = 0; i < 256; i++) untouched &= y[i] == 0.0f;
    CHECK(untouched);
}
