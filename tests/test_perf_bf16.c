/* CT_PRECISION_BF16 (torch.autocast(bfloat16) for linear layers): forward, input gradient and
 * weight gradient equal the double product of bf16-rounded operands (activations, output
 * gradients and the weight, whatever its float dtype: bf16, f32, f16, NF4 / FP4 / int8 rows), within summation-order
 * tolerance, edge tiles (T not a multiple of 8, N not a multiple of 32) and K tails included;
 * through the dispatcher (AVX512-BF16 where the CPU has it) and through the fallback row
 * bf16-round-sgemm called directly (so it runs on this CPU too). Results do not depend on the
 * thread count. The default stays the exact f32 path. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/kernels.h"
#include "quant/quant.h"

/* Round to nearest even to bf16 and back (what torch.autocast does to each operand). */
static float round_bf16(float f) { return ct_bf16_to_f32(ct_f32_to_bf16(f)); }

static uint64_t g_s = 0x9e3779b97f4a7c15ull;
static float urand(double scale) {
    g_s = g_s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)(((double)(g_s >> 11) / 9007199254740992.0 * 2.0 - 1.0) * scale);
}

/* The three products of one layer, computed by row k (NULL: through ct_linear_forward/backward). */
typedef struct products {
    float *y, *dx, *dW;
} products;

static products run(ct_ctx *c, const ct_linear_kernel *k, const float *x, const float *dy, const ct_tensor *W,
                    size_t T, size_t K, size_t N) {
    products p = {malloc(T * N * sizeof(float)), malloc(T * K * sizeof(float)), malloc(N * K * sizeof(float))};
    /* the gradients accumulate onto what is there */
    for (size_t i = 0; i < T * K; i++) p.dx[i] = (float)(i % 5) - 2.0f;
    for (size_t i = 0; i < N * K; i++) p.dW[i] = (float)(i % 3) - 1.0f;
    if (k) {
        k->forward(c, p.y, x, W, T, K, N);
        k->backward_dx(c, p.dx, dy, W, T, K, N);
        k->backward_dw(c, p.dW, dy, x, T, K, N);
    } else {
        ct_linear_forward(c, p.y, x, W, NULL, T, K, N);
        ct_linear_backward(c, p.dx, p.dW, NULL, dy, x, W, T, K, N);
    }
    return p;
}

static void free_products(products p) { free(p.y), free(p.dx), free(p.dW); }

/* max |got - ref| <= tol * max(1, max |ref|), ref in double over bf16-rounded operands. */
static void check_products(const char *what, products p, const float *x, const float *dy, const ct_tensor *W,
                           size_t T, size_t K, size_t N) {
    float *w = malloc(N * K * sizeof(float));
    ct_tensor_to_f32(W, 0, N * K, w);
    for (size_t i = 0; i < N * K; i++) w[i] = round_bf16(w[i]);
    double e[3] = {0}, m[3] = {0};
    for (size_t t = 0; t < T; t++)
        for (size_t n = 0; n < N; n++) {
            double r = 0;
            for (size_t k = 0; k < K; k++) r += (double)round_bf16(x[t * K + k]) * w[n * K + k];
            e[0] = fmax(e[0], fabs(r - p.y[t * N + n])), m[0] = fmax(m[0], fabs(r));
        }
    for (size_t t = 0; t < T; t++)
        for (size_t k = 0; k < K; k++) {
            double r = (double)((t * K + k) % 5) - 2.0;
            for (size_t n = 0; n < N; n++) r += (double)round_bf16(dy[t * N + n]) * w[n * K + k];
            e[1] = fmax(e[1], fabs(r - p.dx[t * K + k])), m[1] = fmax(m[1], fabs(r));
        }
    for (size_t n = 0; n < N; n++)
        for (size_t k = 0; k < K; k++) {
            double r = (double)((n * K + k) % 3) - 1.0;
            for (size_t t = 0; t < T; t++) r += (double)round_bf16(dy[t * N + n]) * round_bf16(x[t * K + k]);
            e[2] = fmax(e[2], fabs(r - p.dW[n * K + k])), m[2] = fmax(m[2], fabs(r));
        }
    static const char *names[3] = {"forward", "dx", "dW"};
    for (int i = 0; i < 3; i++)
        CHECK_MSG(e[i] <= 2e-5 * fmax(1.0, m[i]), "%s %s %s T=%zu K=%zu N=%zu: err %.3g (max %.3g)", what,
                  names[i], ct_dtype_name(W->dtype), T, K, N, e[i], m[i]);
    free(w);
}

/* A random [N, K] weight of dtype dt; quantized dtypes (bitsandbytes NF4 / FP4 with double
 * quantization, int8 rows) come from an f32 weight, their state in *owner (free_weight). */
static ct_tensor weight(ct_dtype dt, size_t N, size_t K, void **owner) {
    float *f = malloc(N * K * sizeof(float));
    for (size_t i = 0; i < N * K; i++) f[i] = urand(0.1);
    ct_tensor t = {.dtype = dt, .ndim = 2, .shape = {(int64_t)N, (int64_t)K}}, src = t;
    *owner = NULL;
    src.dtype = CT_DTYPE_F32, src.data = f;
    ct_err err = {0};
    if (dt == CT_DTYPE_NF4 || dt == CT_DTYPE_FP4) {
        CHECK_OK(ct_quant4_quantize(&src, dt, true, (ct_quant4_owner **)owner, &t, &err), &err);
    } else if (dt == CT_DTYPE_INT8ROW) {
        CHECK_OK(ct_quant8_quantize(&src, (ct_quant8_owner **)owner, &t, &err), &err);
    } else {
        t.data = malloc(N * K * ct_dtype_size(dt));
        ct_f32_to_dtype(f, N * K, dt, t.data);
    }
    free(f);
    return t;
}

static void free_weight(ct_tensor *W, void *owner) {
    if (W->dtype == CT_DTYPE_NF4 || W->dtype == CT_DTYPE_FP4) ct_quant4_owner_free(owner);
    else if (W->dtype == CT_DTYPE_INT8ROW) ct_quant8_owner_free(owner);
    else free(W->data);
}

/* Every product in bf16 mode, dispatched and through the fallback row, for each weight dtype. */
static void check_shape(ct_ctx *c, const ct_linear_kernel *fallback, size_t T, size_t K, size_t N) {
    static const ct_dtype dts[] = {CT_DTYPE_BF16, CT_DTYPE_F32, CT_DTYPE_F16, CT_DTYPE_NF4, CT_DTYPE_FP4, CT_DTYPE_INT8ROW};
    float *x = malloc(T * K * sizeof(float)), *dy = malloc(T * N * sizeof(float));
    for (size_t i = 0; i < T * K; i++) x[i] = urand(1.0);
    for (size_t i = 0; i < T * N; i++) dy[i] = urand(1.0);
    for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
        void *own;
        ct_tensor W = weight(dts[d], N, K, &own);
        products p = run(c, NULL, x, dy, &W, T, K, N);
        check_products(ct_linear_pick(c, dts[d], T, CT_LINEAR_FWD)->name, p, x, dy, &W, T, K, N);
        free_products(p);
        p = run(c, fallback, x, dy, &W, T, K, N);
        check_products(fallback->name, p, x, dy, &W, T, K, N);
        free_products(p);
        free_weight(&W, own);
    }
    free(x), free(dy);
}

TEST(perf_bf16_compute_linear) {
    ct_ctx *c = NULL;
    ct_err err = {0};
    CHECK_OK(ct_ctx_new(&c, 0, &err), &err);
    REQUIRE(c);
    CHECK(ct_ctx_precision(c) == CT_PRECISION_F32); /* default: exact f32 */
    CHECK(ct_ctx_set_precision(c, CT_PRECISION_BF16)); /* on every CPU */
    CHECK(!ct_ctx_set_precision(c, (ct_precision)7));
    CHECK(ct_ctx_precision(c) == CT_PRECISION_BF16);
    const ct_linear_kernel *fb = NULL;
    size_t n = 0;
    const ct_linear_kernel *rows = ct_linear_kernels(&n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].name, "bf16-round-sgemm")) fb = &rows[i];
    REQUIRE(fb);
    const char *want = ct_cpu_has_bf16() ? "bf16-avx512bf16" : "bf16-round-sgemm";
    for (int op = 0; op < 3; op++) {
        CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_BF16, 64, (ct_linear_op)op)->name, want);
        CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_F32, 5, (ct_linear_op)op)->name, want);
        CHECK_STREQ(ct_linear_pick(c, CT_DTYPE_F16, 64, (ct_linear_op)op)->name, want);
    }
    check_shape(c, fb, 13, 100, 37);  /* edge tiles in t and n, K tail of 4 */
    check_shape(c, fb, 5, 64, 8);     /* smallest T that is not decode */
    check_shape(c, fb, 67, 900, 130); /* several column blocks, threaded */
    check_shape(c, fb, 9, 40, 5000);  /* dx: two contraction blocks */
    check_shape(c, fb, 33, 1, 3);     /* K = 1 */
    check_shape(c, fb, 4101, 3, 17);  /* dW: two contraction blocks over tokens, odd tail */
    /* the mode belongs to this context only */
    CHECK(ct_ctx_precision(ct_test_ctx()) == CT_PRECISION_F32);
    ct_ctx_set_precision(c, CT_PRECISION_F32);
    CHECK(ct_ctx_precision(c) == CT_PRECISION_F32);
    ct_ctx_free(c);
}

/* The same bits on 1 and 3 threads, for every weight dtype and product, both bf16 rows. */
TEST(perf_bf16_thread_independent) {
    ct_ctx *c1 = NULL, *c3 = NULL;
    ct_err err = {0};
    CHECK_OK(ct_ctx_new(&c1, 1, &err), &err);
    CHECK_OK(ct_ctx_new(&c3, 3, &err), &err);
    REQUIRE(c1 && c3);
    ct_ctx_set_precision(c1, CT_PRECISION_BF16);
    ct_ctx_set_precision(c3, CT_PRECISION_BF16);
    size_t T = 70, K = 300, N = 520, n = 0;
    static const ct_dtype dts[] = {CT_DTYPE_BF16, CT_DTYPE_F32, CT_DTYPE_F16, CT_DTYPE_NF4, CT_DTYPE_FP4, CT_DTYPE_INT8ROW};
    float *x = malloc(T * K * sizeof(float)), *dy = malloc(T * N * sizeof(float));
    for (size_t i = 0; i < T * K; i++) x[i] = urand(1.0);
    for (size_t i = 0; i < T * N; i++) dy[i] = urand(1.0);
    const ct_linear_kernel *rows = ct_linear_kernels(&n);
    for (size_t r = 0; r < n; r++) {
        const ct_linear_kernel *k = &rows[r];
        if (k->precisions != (1u << CT_PRECISION_BF16) || (k->available && !k->available())) continue;
        for (size_t d = 0; d < sizeof dts / sizeof dts[0]; d++) {
            void *own;
        ct_tensor W = weight(dts[d], N, K, &own);
            products a = run(c1, k, x, dy, &W, T, K, N), b = run(c3, k, x, dy, &W, T, K, N);
            CHECK_MSG(!memcmp(a.y, b.y, T * N * sizeof(float)) && !memcmp(a.dx, b.dx, T * K * sizeof(float)) &&
                          !memcmp(a.dW, b.dW, N * K * sizeof(float)),
                      "%s %s: results differ between 1 and 3 threads", k->name, ct_dtype_name(dts[d]));
            free_products(a), free_products(b);
            free_weight(&W, own);
        }
    }
    free(x), free(dy);
    ct_ctx_free(c1), ct_ctx_free(c3);
}
