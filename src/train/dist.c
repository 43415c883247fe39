/* MPI_COMM_WORLD collectives for data-parallel training (dist.h), with the fallbacks of a build
 * without MPI (CT_HAVE_MPI undefined: `make MPI=0`, or libopenmpi-dev absent). */
#include "train/dist.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef CT_HAVE_MPI
#include <mpi.h>
#endif

static int g_rank = 0, g_size = 1;
static double g_comm_s = 0;

bool ct_dist_built(void) {
#ifdef CT_HAVE_MPI
    return true;
#else
    return false;
#endif
}

int ct_dist_rank(void) { return g_rank; }
int ct_dist_size(void) { return g_size; }
double ct_dist_comm_seconds(void) { return g_comm_s; }

void ct_dist_shard(size_t n, int r, size_t *lo, size_t *hi) {
    size_t s = (size_t)g_size;
    /* n * r / s without overflowing for any n a process can hold */
    *lo = n / s * (size_t)r + n % s * (size_t)r / s;
    *hi = n / s * (size_t)(r + 1) + n % s * (size_t)(r + 1) / s;
}

#ifdef CT_HAVE_MPI
static bool g_joined = false;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* mpirun (OpenMPI ORTE / PMIx, MPICH Hydra) marks the processes it starts. */
static bool launched_by_mpirun(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK");
}

static ct_status mpi_check(int rc, const char *what, ct_err *err) {
    if (rc == MPI_SUCCESS) return CT_OK;
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return ct_err_set(err, CT_ERR_IO, "%s failed on rank %d of %d: %s (another rank stopped?)", what, g_rank, g_size,
                      msg);
}

ct_status ct_dist_init(ct_err *err) {
    if (g_joined || !launched_by_mpirun()) return CT_OK;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int provided = 0;
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return ct_err_set(err, CT_ERR_IO, "MPI_Init_thread failed (started by mpirun, but the MPI job cannot be joined)");
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    g_joined = true;
    return CT_OK;
}

void ct_dist_abort(int code) {
    if (g_joined && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

void ct_dist_finalize(void) {
    int fin = 0;
    if (!g_joined) return;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
    g_joined = false;
    g_rank = 0;
    g_size = 1;
}

#define CHUNK ((size_t)1 << 28)

ct_status ct_dist_sum_f32(float *buf, size_t n, ct_err *err) {
    if (g_size == 1) return CT_OK;
    double t0 = now_s();
    ct_status st = CT_OK;
    for (size_t o = 0; o < n && !st; o += CHUNK) {
        int k = (int)(n - o < CHUNK ? n - o : CHUNK);
        st = mpi_check(MPI_Allreduce(MPI_IN_PLACE, buf + o, k, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce", err);
    }
    g_comm_s += now_s() - t0;
    return st;
}

ct_status ct_dist_sum_f64(double *buf, size_t n, ct_err *err) {
    if (g_size == 1) return CT_OK;
    double t0 = now_s();
    ct_status st = CT_OK;
    for (size_t o = 0; o < n && !st; o += CHUNK) {
        int k = (int)(n - o < CHUNK ? n - o : CHUNK);
        st = mpi_check(MPI_Allreduce(MPI_IN_PLACE, buf + o, k, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce", err);
    }
    g_comm_s += now_s() - t0;
    return st;
}

ct_status ct_dist_any(bool *flag, ct_err *err) {
    if (g_size == 1) return CT_OK;
    int v = *flag ? 1 : 0;
    double t0 = now_s();
    ct_status st = mpi_check(MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce", err);
    g_comm_s += now_s() - t0;
    *flag = v != 0;
    return st;
}

ct_status ct_dist_min_int(int *v, ct_err *err) {
    if (g_size == 1) return CT_OK;
    double t0 = now_s();
    ct_status st = mpi_check(MPI_Allreduce(MPI_IN_PLACE, v, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce", err);
    g_comm_s += now_s() - t0;
    return st;
}

ct_status ct_dist_bcast(void *buf, size_t bytes, int root, ct_err *err) {
    if (g_size == 1) return CT_OK;
    if (bytes > INT_MAX) return ct_err_set(err, CT_ERR_ARG, "MPI_Bcast of %zu bytes: too large", bytes);
    double t0 = now_s();
    ct_status st = mpi_check(MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast", err);
    g_comm_s += now_s() - t0;
    return st;
}

/* counts and displacements of the shards of n, as MPI ints. */
static ct_status shard_table(size_t n, int **counts, int **displs, ct_err *err) {
    *counts = malloc((size_t)g_size * sizeof **counts);
    *displs = malloc((size_t)g_size * sizeof **displs);
    if (!*counts || !*displs) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (int r = 0; r < g_size; r++) {
        size_t lo, hi;
        ct_dist_shard(n, r, &lo, &hi);
        if (hi > INT_MAX)
            return ct_err_set(err, CT_ERR_UNSUPPORTED, "zero_stage 1: %zu trainable values are too many for MPI's int "
                              "counts over %d ranks", n, g_size);
        (*counts)[r] = (int)(hi - lo);
        (*displs)[r] = (int)lo;
    }
    return CT_OK;
}

/* One MPI_Reduce per shard, rooted at its owner, in place: no buffer of the whole size (Open MPI's
 * MPI_Reduce_scatter takes one as scratch, which would cancel ZeRO-1's saving). */
ct_status ct_dist_reduce_scatter_f32(float *buf, size_t n, ct_err *err) {
    if (g_size == 1) return CT_OK;
    int *counts = NULL, *displs = NULL;
    ct_status st = shard_table(n, &counts, &displs, err);
    double t0 = now_s();
    for (int r = 0; r < g_size && !st; r++) {
        float *p = buf + displs[r];
        st = mpi_check(MPI_Reduce(r == g_rank ? MPI_IN_PLACE : p, r == g_rank ? p : NULL, counts[r], MPI_FLOAT, MPI_SUM, r,
                                  MPI_COMM_WORLD), "MPI_Reduce (reduce-scatter)", err);
    }
    g_comm_s += now_s() - t0;
    free(counts);
    free(displs);
    return st;
}

ct_status ct_dist_allgather_f32(float *buf, size_t n, ct_err *err) {
    if (g_size == 1) return CT_OK;
    int *counts = NULL, *displs = NULL;
    ct_status st = shard_table(n, &counts, &displs, err);
    double t0 = now_s();
    if (!st)
        st = mpi_check(MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_FLOAT, MPI_COMM_WORLD),
                       "MPI_Allgatherv", err);
    g_comm_s += now_s() - t0;
    free(counts);
    free(displs);
    return st;
}

ct_status ct_dist_gather_f32(const float *shard, float *full, size_t n, int root, ct_err *err) {
    int *counts = NULL, *displs = NULL;
    ct_status st = shard_table(n, &counts, &displs, err);
    double t0 = now_s();
    if (!st && g_size == 1) memcpy(full, shard, n * sizeof *full);
    else if (!st)
        st = mpi_check(MPI_Gatherv(shard, counts[g_rank], MPI_FLOAT, full, counts, displs, MPI_FLOAT, root, MPI_COMM_WORLD),
                       "MPI_Gatherv", err);
    g_comm_s += now_s() - t0;
    free(counts);
    free(displs);
    return st;
}

#else /* one process */

ct_status ct_dist_init(ct_err *err) {
    (void)err;
    return CT_OK;
}
void ct_dist_abort(int code) { (void)code; }
void ct_dist_finalize(void) {}
ct_status ct_dist_sum_f32(float *buf, size_t n, ct_err *err) { (void)buf, (void)n, (void)err; return CT_OK; }
ct_status ct_dist_sum_f64(double *buf, size_t n, ct_err *err) { (void)buf, (void)n, (void)err; return CT_OK; }
ct_status ct_dist_any(bool *flag, ct_err *err) { (void)flag, (void)err; return CT_OK; }
ct_status ct_dist_min_int(int *v, ct_err *err) { (void)v, (void)err; return CT_OK; }
ct_status ct_dist_bcast(void *buf, size_t bytes, int root, ct_err *err) {
    (void)buf, (void)bytes, (void)root, (void)err;
    return CT_OK;
}
ct_status ct_dist_reduce_scatter_f32(float *buf, size_t n, ct_err *err) { (void)buf, (void)n, (void)err; return CT_OK; }
ct_status ct_dist_allgather_f32(float *buf, size_t n, ct_err *err) { (void)buf, (void)n, (void)err; return CT_OK; }
ct_status ct_dist_gather_f32(const float *shard, float *full, size_t n, int root, ct_err *err) {
    (void)root, (void)err;
    memcpy(full, shard, n * sizeof *full);
    return CT_OK;
}
#endif
