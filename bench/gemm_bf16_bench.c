/* bf16 GEMM: ctune's own AVX512-BF16 kernel against oneDNN (what PyTorch runs for bf16 on CPU)
 * and OpenBLAS f32 sgemm, on the linear layers of a Qwen2.5-0.5B training step (hidden 896,
 * intermediate 4864, q 896, kv 128; T tokens). For each shape: forward y = x W^T, input
 * gradient dx += dy W and weight gradient dW += dy^T x, GFLOP/s (2 T N K per product), the best
 * of REPS repetitions after one warm-up, on each thread count given.
 *   ctune   ct_linear_forward / ct_linear_backward in a CT_PRECISION_BF16 context, bf16 weights
 *           (activations rounded to bf16 inside, as counted here)
 *   onednn  matmul primitive (created once, reused): bf16 src x bf16 weights -> f32 dst (+= via a
 *           sum post-op for dx / dW); its time includes the f32 -> bf16 reorders of the
 *           activations (x, dy) that ctune also does inside; plain (strided) layouts, no
 *           pre-packed weights
 *   sgemm   ct_sgemm (single-threaded OpenBLAS calls split over the context's threads), f32
 * Built by bench/gemm_bf16.sh (with -ldnnl when oneDNN is installed, -DCT_HAVE_DNNL), not by
 * `make test`. Usage: gemm_bf16_bench [T [THREADS...]]   env REPS (7) */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/ops.h"

#ifdef CT_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int g_reps = 7;

typedef struct shape {
    const char *name;
    size_t K, N; /* in, out */
} shape;

typedef struct bufs {
    size_t T, K, N;
    float *x, *dy, *y, *dx, *dW, *Wf;
    uint16_t *Wb;
} bufs;

static void fill(float *p, size_t n, double scale, uint64_t s) {
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        p[i] = (float)(((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0) * scale);
    }
}

/* The product each timed function computes (0 forward, 1 dx, 2 dW). */
static const char *prod_name[3] = {"fwd", "dx", "dW"};

static void run_ctune(ct_ctx *c, bufs *b, int p) {
    ct_tensor W = {.dtype = CT_DTYPE_BF16, .ndim = 2, .shape = {(int64_t)b->N, (int64_t)b->K}, .data = b->Wb};
    if (p == 0) ct_linear_forward(c, b->y, b->x, &W, NULL, b->T, b->K, b->N);
    else if (p == 1) ct_linear_backward(c, b->dx, NULL, NULL, b->dy, NULL, &W, b->T, b->K, b->N);
    else ct_linear_backward(c, NULL, b->dW, NULL, b->dy, b->x, &W, b->T, b->K, b->N);
}

static void run_sgemm(ct_ctx *c, bufs *b, int p) {
    size_t T = b->T, K = b->K, N = b->N;
    if (p == 0) ct_sgemm(c, false, true, T, N, K, 1.0f, b->x, K, b->Wf, K, 0.0f, b->y, N);
    else if (p == 1) ct_sgemm(c, false, false, T, K, N, 1.0f, b->dy, N, b->Wf, K, 1.0f, b->dx, K);
    else ct_sgemm(c, true, false, N, K, T, 1.0f, b->dy, N, b->x, K, 1.0f, b->dW, K);
}

#ifdef CT_HAVE_DNNL
#define DN(call)                                                                          \
    do {                                                                                  \
        dnnl_status_t st_ = (call);                                                       \
        if (st_ != dnnl_success) {                                                        \
            fprintf(stderr, "oneDNN: %s failed (%d)\n", #call, (int)st_);                 \
            exit(1);                                                                      \
        }                                                                                 \
    } while (0)

static dnnl_engine_t g_eng;
static dnnl_stream_t g_str;

/* A 2-D memory descriptor [r, c] with element (i, j) at i * si + j * sj. */
static dnnl_memory_desc_t md2(dnnl_dim_t r, dnnl_dim_t c, dnnl_data_type_t dt, dnnl_dim_t si, dnnl_dim_t sj) {
    dnnl_memory_desc_t md;
    dnnl_dims_t dims = {r, c}, strides = {si, sj};
    DN(dnnl_memory_desc_init_by_strides(&md, 2, dims, dt, strides));
    return md;
}

static dnnl_memory_t mem(const dnnl_memory_desc_t *md, void *p) {
    dnnl_memory_t m;
    DN(dnnl_memory_create(&m, md, g_eng, p));
    return m;
}

/* f32 -> bf16 reorder of a dense [r, c] matrix. */
typedef struct reorder {
    dnnl_primitive_t prim;
    dnnl_memory_t from, to;
} reorder;

static reorder make_reorder(float *src, uint16_t *dst, dnnl_dim_t r, dnnl_dim_t c) {
    dnnl_memory_desc_t a = md2(r, c, dnnl_f32, c, 1), b = md2(r, c, dnnl_bf16, c, 1);
    dnnl_primitive_desc_t pd;
    DN(dnnl_reorder_primitive_desc_create(&pd, &a, g_eng, &b, g_eng, NULL));
    reorder ro = {NULL, mem(&a, src), mem(&b, dst)};
    DN(dnnl_primitive_create(&ro.prim, pd));
    dnnl_primitive_desc_destroy(pd);
    return ro;
}

static void run_reorder(const reorder *ro) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, ro->from}, {DNNL_ARG_TO, ro->to}};
    DN(dnnl_primitive_execute(ro->prim, g_str, 2, args));
}

/* One product: reorders of its activations, then dst (+)= src · weights. */
typedef struct dnn_op {
    reorder ro[2];
    int n_ro;
    dnnl_primitive_t mm;
    dnnl_memory_t src, wei, dst;
    char impl[64];
} dnn_op;

static void make_matmul(dnn_op *op, dnnl_memory_desc_t s, void *sp, dnnl_memory_desc_t w, void *wp,
                        dnnl_memory_desc_t d, void *dp, bool acc) {
    dnnl_matmul_desc_t desc;
    DN(dnnl_matmul_desc_init(&desc, &s, &w, NULL, &d));
    dnnl_primitive_attr_t attr;
    DN(dnnl_primitive_attr_create(&attr));
    if (acc) {
        dnnl_post_ops_t po;
        DN(dnnl_post_ops_create(&po));
        DN(dnnl_post_ops_append_sum(po, 1.0f));
        DN(dnnl_primitive_attr_set_post_ops(attr, po));
        dnnl_post_ops_destroy(po);
    }
    dnnl_primitive_desc_t pd;
    DN(dnnl_primitive_desc_create(&pd, &desc, attr, g_eng, NULL));
    const char *impl = NULL;
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(op->impl, sizeof op->impl, "%s", impl ? impl : "?");
    DN(dnnl_primitive_create(&op->mm, pd));
    dnnl_primitive_desc_destroy(pd);
    dnnl_primitive_attr_destroy(attr);
    op->src = mem(&s, sp), op->wei = mem(&w, wp), op->dst = mem(&d, dp);
}

/* xb, dyb: bf16 scratch for the activations, allocated once (like ctune's arenas). */
static void make_dnn(dnn_op op[3], bufs *b, uint16_t *xb, uint16_t *dyb) {
    dnnl_dim_t T = (dnnl_dim_t)b->T, K = (dnnl_dim_t)b->K, N = (dnnl_dim_t)b->N;
    memset(op, 0, 3 * sizeof *op);
    /* forward: y[T,N] = xb[T,K] · W^T, W stored [N,K] -> weights [K,N] with strides (1, K) */
    op[0].ro[0] = make_reorder(b->x, xb, T, K), op[0].n_ro = 1;
    make_matmul(&op[0], md2(T, K, dnnl_bf16, K, 1), xb, md2(K, N, dnnl_bf16, 1, K), b->Wb,
                md2(T, N, dnnl_f32, N, 1), b->y, false);
    /* dx[T,K] += dyb[T,N] · W[N,K] */
    op[1].ro[0] = make_reorder(b->dy, dyb, T, N), op[1].n_ro = 1;
    make_matmul(&op[1], md2(T, N, dnnl_bf16, N, 1), dyb, md2(N, K, dnnl_bf16, K, 1), b->Wb,
                md2(T, K, dnnl_f32, K, 1), b->dx, true);
    /* dW[N,K] += dyb^T[N,T] · xb[T,K] (dy^T a strided view) */
    op[2].ro[0] = make_reorder(b->dy, dyb, T, N), op[2].ro[1] = make_reorder(b->x, xb, T, K), op[2].n_ro = 2;
    make_matmul(&op[2], md2(N, T, dnnl_bf16, 1, N), dyb, md2(T, K, dnnl_bf16, K, 1), xb,
                md2(N, K, dnnl_f32, K, 1), b->dW, true);
}

static void run_dnn(dnn_op *op) {
    for (int i = 0; i < op->n_ro; i++) run_reorder(&op->ro[i]);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, op->src}, {DNNL_ARG_WEIGHTS, op->wei}, {DNNL_ARG_DST, op->dst}};
    DN(dnnl_primitive_execute(op->mm, g_str, 3, args));
    DN(dnnl_stream_wait(g_str));
}

static void free_dnn(dnn_op op[3]) {
    for (int p = 0; p < 3; p++) {
        for (int i = 0; i < op[p].n_ro; i++) {
            dnnl_primitive_destroy(op[p].ro[i].prim);
            dnnl_memory_destroy(op[p].ro[i].from), dnnl_memory_destroy(op[p].ro[i].to);
        }
        dnnl_primitive_destroy(op[p].mm);
        dnnl_memory_destroy(op[p].src), dnnl_memory_destroy(op[p].wei), dnnl_memory_destroy(op[p].dst);
    }
}
#endif

/* Best time of g_reps runs after one warm-up; engine 0 ctune, 1 sgemm, 2 oneDNN. */
static double best_time(int engine, int p, ct_ctx *cb, ct_ctx *cf, bufs *b, void *dnn) {
    double best = INFINITY;
    for (int r = 0; r <= g_reps; r++) {
        double t0 = now();
        if (engine == 0) run_ctune(cb, b, p);
        else if (engine == 1) run_sgemm(cf, b, p);
#ifdef CT_HAVE_DNNL
        else run_dnn(&((dnn_op *)dnn)[p]);
#else
        else (void)dnn;
#endif
        double t = now() - t0;
        if (r > 0 && t < best) best = t;
    }
    return best;
}

/* max |a - b| / max |b|. */
static double rel_diff(const float *a, const float *b, size_t n) {
    double e = 0, m = 0;
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs((double)a[i] - b[i])), m = fmax(m, fabs((double)b[i]));
    return e / fmax(m, 1e-30);
}

int main(int argc, char **argv) {
    size_t T = argc > 1 ? (size_t)atoi(argv[1]) : 512;
    if (getenv("REPS")) g_reps = atoi(getenv("REPS"));
    if (g_reps < 1) g_reps = 1;
    static const shape shapes[] = {
        {"q/o_proj 896x896", 896, 896},
        {"k/v_proj 896->128", 896, 128},
        {"gate/up 896->4864", 896, 4864},
        {"down 4864->896", 4864, 896},
    };
    ct_err err = {0};
    ct_ctx *cb = NULL, *cf = NULL;
    if (ct_ctx_new(&cb, 1, &err) || ct_ctx_new(&cf, 1, &err)) {
        fprintf(stderr, "ctx: %s\n", err.msg);
        return 1;
    }
    ct_ctx_set_precision(cb, CT_PRECISION_BF16);
#ifdef CT_HAVE_DNNL
    DN(dnnl_engine_create(&g_eng, dnnl_cpu, 0));
    DN(dnnl_stream_create(&g_str, g_eng, dnnl_stream_default_flags));
    const char *have_dnn = "oneDNN " "2.x";
#else
    const char *have_dnn = NULL;
#endif
    printf("== bf16 GEMM: T=%zu, best of %d, ctune kernel %s; oneDNN %s ==\n", T, g_reps,
           ct_cpu_has_bf16() ? "avx512bf16" : "bf16-round-sgemm (no AVX512-BF16)",
           have_dnn ? "linked" : "not available (skipped)");
    int nthr = argc > 2 ? argc - 2 : 2;
    for (int ti = 0; ti < nthr; ti++) {
        int th = argc > 2 ? atoi(argv[2 + ti]) : ti + 1;
        ct_ctx_set_threads(cb, th), ct_ctx_set_threads(cf, th);
        omp_set_num_threads(th); /* oneDNN (OpenMP build) */
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            size_t K = shapes[s].K, N = shapes[s].N;
            bufs b = {T, K, N, malloc(T * K * 4), malloc(T * N * 4), malloc(T * N * 4), malloc(T * K * 4),
                      malloc(N * K * 4), malloc(N * K * 4), malloc(N * K * 2)};
            fill(b.x, T * K, 1.0, 1), fill(b.dy, T * N, 1.0, 2), fill(b.Wf, N * K, 0.05, 3);
            for (size_t i = 0; i < N * K; i++) {
                b.Wb[i] = ct_f32_to_bf16(b.Wf[i]);
                b.Wf[i] = ct_bf16_to_f32(b.Wb[i]);
            }
            memset(b.dx, 0, T * K * 4), memset(b.dW, 0, N * K * 4);
            void *dnn = NULL;
            uint16_t *xb = malloc(T * K * 2), *dyb = malloc(T * N * 2);
#ifdef CT_HAVE_DNNL
            dnn_op ops[3];
            make_dnn(ops, &b, xb, dyb);
            dnn = ops;
#endif
            for (int p = 0; p < 3; p++) {
                double fl = 2.0 * (double)T * (double)N * (double)K;
                /* agreement: one fresh product of each engine (dx, dW from zero) */
                size_t n = p == 0 ? T * N : p == 1 ? T * K : N * K;
                float *out = p == 0 ? b.y : p == 1 ? b.dx : b.dW, *ref = malloc(n * 4);
                memset(out, 0, n * 4), run_sgemm(cf, &b, p), memcpy(ref, out, n * 4);
                memset(out, 0, n * 4), run_ctune(cb, &b, p);
                double d_ct = rel_diff(out, ref, n), d_dn = NAN;
#ifdef CT_HAVE_DNNL
                memset(out, 0, n * 4), run_dnn(&ops[p]), d_dn = rel_diff(out, ref, n);
#endif
                free(ref);
                double tc = best_time(0, p, cb, cf, &b, dnn), tf = best_time(1, p, cb, cf, &b, dnn);
                double td = have_dnn ? best_time(2, p, cb, cf, &b, dnn) : NAN;
                printf("threads %d  %-18s %-3s  ctune-bf16 %7.1f  onednn-bf16 %7.1f  sgemm-f32 %7.1f GFLOP/s"
                       "  (ctune/onednn %.2f; rel diff vs f32: ctune %.1e onednn %.1e)\n",
                       th, shapes[s].name, prod_name[p], fl / tc / 1e9, fl / td / 1e9, fl / tf / 1e9, td / tc, d_ct,
                       d_dn);
#ifdef CT_HAVE_DNNL
                if (s == 0 && ti == 0) printf("    onednn impl: %s\n", ops[p].impl);
#endif
                const char *sn = s == 0 ? "qo" : s == 1 ? "kv" : s == 2 ? "up" : "down";
                printf("@ gemm_%s_%s_%dt_ctune %.1f\n@ gemm_%s_%s_%dt_sgemm %.1f\n", prod_name[p], sn, th,
                       fl / tc / 1e9, prod_name[p], sn, th, fl / tf / 1e9);
                if (have_dnn) printf("@ gemm_%s_%s_%dt_onednn %.1f\n", prod_name[p], sn, th, fl / td / 1e9);
                fflush(stdout);
            }
#ifdef CT_HAVE_DNNL
            free_dnn(ops);
#endif
            free(xb), free(dyb);
            free(b.x), free(b.dy), free(b.y), free(b.dx), free(b.dW), free(b.Wf), free(b.Wb);
        }
    }
    ct_ctx_free(cb), ct_ctx_free(cf);
    return 0;
}
