/* bitsandbytes quantization (src/quant): NF4/FP4 (plain and double-quantized absmax) and row-wise
 * int8 against the independent reference of tests/gen/make_quant_fixtures.py, bit for bit; the
 * quantized dtypes through the dtype table and the linear kernels; binding pre-quantized bnb-4bit
 * checkpoints and rejecting malformed ones with a message naming the tensor or key. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctune/ctx.h"
#include "harness.h"
#include "io/safetensors.h"
#include "ops/ops.h"
#include "quant/bnb_load.h"
#include "quant/quant.h"

static const char *k_cases[] = {"randn", "odd", "zero_block", "ties", "outlier", "nested300", "const", "bf16"};

static ct_st *open_fixture(const char *rel) {
    ct_st *st = NULL;
    ct_err err = {0};
    ct_status s = ct_st_open(ct_test_path(rel), &st, &err);
    CHECK_MSG(s == CT_OK, "%s: %s", rel, err.msg);
    return st;
}

/* The fixture tensor `case.suffix` (NULL + failure when absent). */
static const ct_tensor *fx(const ct_st *st, const char *c, const char *suffix) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", c, suffix);
    const ct_tensor *t = ct_st_get(st, key);
    CHECK_MSG(t != NULL, "fixture lacks %s", key);
    return t;
}

/* Bitwise equality of n bytes, reporting the first difference. */
static void check_bytes(const void *a, const void *b, size_t n, const char *what) {
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i]) {
            ct_test_fail(__FILE__, __LINE__, "%s: byte %zu is 0x%02x, expected 0x%02x", what, i, x[i], y[i]);
            return;
        }
}

static void check_f32_bits(const float *a, const float *b, size_t n, const char *what) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], 4) != 0) {
            ct_test_fail(__FILE__, __LINE__, "%s[%zu] = %.9g, expected %.9g", what, i, (double)a[i], (double)b[i]);
            return;
        }
}

TEST(quant_tables) {
    ct_st *st = open_fixture("tests/fixtures/quant/cases.safetensors");
    REQUIRE(st);
    float map[256];
    ct_quant_dynamic_map(map);
    check_f32_bits(map, ct_st_get(st, "dynamic_map")->data, 256, "dynamic_map");
    const float *nf4 = ct_st_get(st, "nf4_code")->data, *fp4 = ct_st_get(st, "fp4_code")->data;
    for (int i = 0; i < 16; i++) {
        CHECK(ct_quant4_code(CT_DTYPE_NF4)[i] == nf4[i]);
        CHECK(ct_quant4_code(CT_DTYPE_FP4)[i] == fp4[i]); /* == : the table's -0.0 vs quant_map's 0 */
    }
    CHECK(ct_quant4_code(CT_DTYPE_F32) == NULL);
    ct_st_close(st);
}

TEST(quant_dtype_table) {
    ct_dtype dt;
    CHECK(ct_dtype_from_name("NF4", &dt) != 0);
    CHECK(ct_dtype_from_name("FP4", &dt) != 0);
    CHECK(ct_dtype_from_name("INT8ROW", &dt) != 0);
    CHECK(ct_dtype_from_name("U8", &dt) == 0 && dt == CT_DTYPE_U8);
    CHECK(ct_dtype_is_float(CT_DTYPE_NF4) && ct_dtype_is_float(CT_DTYPE_FP4) && ct_dtype_is_float(CT_DTYPE_INT8ROW));
    ct_tensor t = {.dtype = CT_DTYPE_NF4, .ndim = 2, .shape = {7, 37}};
    CHECK_EQ_INT(ct_tensor_nbytes(&t), 130); /* (259 + 1) / 2 packed bytes, scales not counted */
    t.shape[0] = 64;
    t.shape[1] = 64;
    CHECK_EQ_INT(ct_tensor_nbytes(&t), 2048);
    t.dtype = CT_DTYPE_INT8ROW;
    CHECK_EQ_INT(ct_tensor_nbytes(&t), 4096);
    t.dtype = CT_DTYPE_BF16;
    CHECK_EQ_INT(ct_tensor_nbytes(&t), 8192);
}

/* One case, one type, plain or nested: codes, statistics and decoded values. */
static void check_case4(const ct_st *st, const char *c, ct_dtype type, bool nested) {
    const char *qt = type == CT_DTYPE_NF4 ? "nf4" : "fp4";
    char what[160], k[64];
    snprintf(what, sizeof what, "%s %s%s", c, qt, nested ? " nested" : "");
    const ct_tensor *in = fx(st, c, "input");
    ct_quant4_owner *o = NULL;
    ct_tensor q;
    ct_err err = {0};
    ct_status s = ct_quant4_quantize(in, type, nested, &o, &q, &err);
    CHECK_MSG(s == CT_OK, "%s: %s", what, err.msg);
    if (s != CT_OK) return;
    size_t n = (size_t)ct_tensor_numel(in), nb = (n + 63) / 64;
    CHECK(q.dtype == type && q.quant == &o->st && o->st.nested == nested);
#define FX(suffix) (snprintf(k, sizeof k, "%s.%s", qt, suffix), fx(st, c, k))
    check_bytes(q.data, FX("packed")->data, (n + 1) / 2, what);
    CHECK_EQ_INT(ct_tensor_nbytes(&q), (n + 1) / 2);
    if (!nested) {
        check_f32_bits(o->st.absmax, FX("absmax")->data, nb, what);
    } else {
        check_bytes(o->st.qabsmax, FX("qabsmax")->data, nb, what);
        check_f32_bits(o->st.nested_absmax, FX("nested_absmax")->data, (nb + 255) / 256, what);
        check_f32_bits(&o->st.offset, FX("offset")->data, 1, what);
    }
    float *dq = malloc(n * sizeof(float)), *part = malloc(n * sizeof(float));
    ct_tensor_to_f32(&q, 0, n, dq);
    check_f32_bits(dq, FX(nested ? "dq_nested" : "dq")->data, n, what);
    /* Unaligned segments (odd offsets, odd lengths, across blocks) decode to the same values. */
    for (size_t off = 0; off < n; off += 37) {
        size_t m = n - off < 71 ? n - off : 71;
        ct_tensor_to_f32(&q, off, m, part);
        check_f32_bits(part, dq + off, m, what);
    }
    int64_t R = q.shape[0], K = q.shape[1];
    if (K > 5) {
        ct_quant4_decode_rows(&q, 1, R - 1, 3, K - 5, part);
        for (int64_t r = 0; r < R - 1; r++) check_f32_bits(part + r * (K - 5), dq + (r + 1) * K + 3, (size_t)(K - 5), what);
    }
#undef FX
    free(dq);
    free(part);
    ct_quant4_owner_free(o);
}

TEST(quant4_bnb_exact) {
    ct_st *st = open_fixture("tests/fixtures/quant/cases.safetensors");
    REQUIRE(st);
    for (size_t i = 0; i < sizeof k_cases / sizeof *k_cases; i++)
        for (int nested = 0; nested < 2; nested++) {
            check_case4(st, k_cases[i], CT_DTYPE_NF4, nested);
            check_case4(st, k_cases[i], CT_DTYPE_FP4, nested);
        }
    ct_st_close(st);
}

TEST(quant8_bnb_exact) {
    ct_st *st = open_fixture("tests/fixtures/quant/cases.safetensors");
    REQUIRE(st);
    for (size_t i = 0; i < sizeof k_cases / sizeof *k_cases; i++) {
        const char *c = k_cases[i];
        ct_quant8_owner *o = NULL;
        ct_tensor q;
        ct_err err = {0};
        ct_status s = ct_quant8_quantize(fx(st, c, "input"), &o, &q, &err);
        CHECK_MSG(s == CT_OK, "%s: %s", c, err.msg);
        if (s != CT_OK) continue;
        size_t n = (size_t)ct_tensor_numel(&q);
        check_bytes(q.data, fx(st, c, "int8.cb")->data, n, c);
        check_f32_bits(o->scb, fx(st, c, "int8.scb")->data, (size_t)q.shape[0], c);
        float *dq = malloc(n * sizeof(float));
        ct_tensor_to_f32(&q, 0, n, dq);
        check_f32_bits(dq, fx(st, c, "int8.dq")->data, n, c);
        free(dq);
        ct_quant8_owner_free(o);
    }
    ct_tensor one = {.dtype = CT_DTYPE_F32, .ndim = 1, .shape = {4}, .data = (float[4]){0}};
    ct_quant8_owner *o = NULL;
    ct_tensor q;
    ct_err err = {0};
    CHECK(ct_quant8_quantize(&one, &o, &q, &err) == CT_ERR_SHAPE && o == NULL);
    ct_st_close(st);
}

/* A quantized weight runs through the linear kernels as its decoded f32 values would. */
TEST(quant_linear) {
    enum { T = 5, K = 128, N = 24 };
    float *w = malloc(N * K * sizeof(float)), *wd = malloc(N * K * sizeof(float));
    float x[T * K], y[T * N], yr[T * N], dy[T * N], dx[T * K], dxr[T * K];
    uint32_t r = 12345;
    for (int i = 0; i < N * K; i++) w[i] = (float)((r = r * 1103515245u + 12345u) >> 9) / 8388608.0f - 1.0f;
    for (int i = 0; i < T * K; i++) x[i] = (float)((r = r * 1103515245u + 12345u) >> 9) / 8388608.0f - 1.0f;
    for (int i = 0; i < T * N; i++) dy[i] = (float)((r = r * 1103515245u + 12345u) >> 9) / 8388608.0f - 1.0f;
    ct_tensor W = {.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {N, K}, .data = w};
    for (int type = 0; type < 3; type++) {
        ct_quant4_owner *o4 = NULL;
        ct_quant8_owner *o8 = NULL;
        ct_tensor q;
        ct_err err = {0};
        ct_status s = type == 2 ? ct_quant8_quantize(&W, &o8, &q, &err)
                                : ct_quant4_quantize(&W, type ? CT_DTYPE_FP4 : CT_DTYPE_NF4, true, &o4, &q, &err);
        REQUIRE(s == CT_OK);
        ct_tensor_to_f32(&q, 0, N * K, wd);
        ct_tensor D = {.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {N, K}, .data = wd};
        ct_linear_forward(ct_test_ctx(), y, x, &q, NULL, T, K, N);
        ct_linear_forward(ct_test_ctx(), yr, x, &D, NULL, T, K, N);
        for (int i = 0; i < T * N; i++) CHECK_NEAR(y[i], yr[i], 1e-4);
        memset(dx, 0, sizeof dx);
        memset(dxr, 0, sizeof dxr);
        ct_linear_backward(ct_test_ctx(), dx, NULL, NULL, dy, x, &q, T, K, N);
        ct_linear_backward(ct_test_ctx(), dxr, NULL, NULL, dy, x, &D, T, K, N);
        for (int i = 0; i < T * K; i++) CHECK_NEAR(dx[i], dxr[i], 1e-4);
        ct_quant4_owner_free(o4);
        ct_quant8_owner_free(o8);
    }
    free(w);
    free(wd);
}
