/* Compute contexts (include/ctune/ctx.h): thread count, precision, per-thread scratch arenas. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "ops/cpu/cpu.h"
#include "ops/ops.h"

struct ct_ctx {
    int threads;
    ct_precision precision;
    ct_batch_precision batch_precision;
    bool batch_step; /* inside a batched decode step (ct_ctx_batch_step) */
    int n_arenas;
    ct_arena *arenas; /* [n_arenas]: slot i serves thread i of a parallel region of this ctx */
};

static int all_cores(void) { return omp_get_num_procs(); }

static ct_status alloc_arenas(ct_ctx *c, int n, ct_err *err) {
    if (n <= c->n_arenas) return CT_OK;
    ct_arena *a = realloc(c->arenas, (size_t)n * sizeof *a);
    if (!a) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (int i = c->n_arenas; i < n; i++) a[i] = (ct_arena){0};
    c->arenas = a;
    c->n_arenas = n;
    return CT_OK;
}

ct_status ct_ctx_new(ct_ctx **out, int n_threads, ct_err *err) {
    *out = NULL;
    if (n_threads > CT_MAX_THREADS) /* the one check every command's --threads / `threads:` meets */
        return ct_err_set(err, CT_ERR_ARG, "threads: %d exceeds %d", n_threads, CT_MAX_THREADS);
    ct_ctx *c = calloc(1, sizeof *c);
    if (!c) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    /* kernels open one level of parallelism; a nested region runs on the calling thread */
    omp_set_max_active_levels(1);
    ct_cpu_blas_init();
    c->threads = n_threads > 0 ? n_threads : all_cores();
    ct_status st = alloc_arenas(c, c->threads, err);
    if (st) free(c);
    else *out = c;
    return st;
}

void ct_ctx_free(ct_ctx *c) {
    if (!c) return;
    for (int i = 0; i < c->n_arenas; i++) ct_arena_free(&c->arenas[i]);
    free(c->arenas);
    free(c);
}

void ct_ctx_set_threads(ct_ctx *c, int n_threads) {
    int n = n_threads > 0 ? (n_threads < CT_MAX_THREADS ? n_threads : CT_MAX_THREADS) : all_cores();
    if (alloc_arenas(c, n, NULL) == CT_OK) c->threads = n;
}

int ct_ctx_threads(const ct_ctx *c) { return c->threads; }

bool ct_ctx_set_precision(ct_ctx *c, ct_precision p) {
    if (p != CT_PRECISION_F32 && p != CT_PRECISION_BF16) return false;
    c->precision = p;
    return true;
}

ct_precision ct_ctx_precision(const ct_ctx *c) { return c->precision; }

bool ct_ctx_set_batch_precision(ct_ctx *c, ct_batch_precision p) {
    if (p != CT_BATCH_EXACT && p != CT_BATCH_BF16DOT) return false;
    c->batch_precision = p;
    return true;
}

ct_batch_precision ct_ctx_batch_precision(const ct_ctx *c) { return c->batch_precision; }

void ct_ctx_batch_step(ct_ctx *c, bool on) { c->batch_step = on; }

bool ct_ctx_gemv_bf16dot(const ct_ctx *c) {
    return c->batch_step && c->batch_precision == CT_BATCH_BF16DOT && ct_cpu_has_bf16();
}

/* Thread number within the one active parallel region enclosing the caller (0 outside). */
static int thread_slot(void) {
    int levels = omp_get_level();
    for (int l = 1; l <= levels; l++)
        if (omp_get_team_size(l) > 1) return omp_get_ancestor_thread_num(l);
    return 0;
}

ct_arena *ct_ctx_arena(ct_ctx *c) {
    int i = thread_slot();
    return &c->arenas[i < c->n_arenas ? i : 0];
}

void *ct_scratch(ct_arena *a, size_t bytes) {
    void *p = ct_arena_alloc(a, bytes);
    if (!p) {
        fprintf(stderr, "ctune: out of memory for %zu bytes of kernel scratch\n", bytes);
        abort();
    }
    return p;
}

float *ct_scratch_f32(ct_arena *a, size_t n) { return ct_scratch(a, n * sizeof(float)); }
