/* The collectives a data-parallel run needs, over MPI_COMM_WORLD (src/train/dist.c). Every one
 * is a no-op (or a copy) in a job of one rank and in a build without MPI. MPI errors are returned
 * (MPI_ERRORS_RETURN) as CT_ERR_IO naming the collective; a rank that dies is reported by mpirun,
 * which ends the job. Only the main thread calls these (MPI_THREAD_FUNNELED). */
#ifndef CT_TRAIN_DIST_H
#define CT_TRAIN_DIST_H

#include <stddef.h>

#include "ctune/dist.h"

/* buf[0..n) = the sum over ranks, in place. */
ct_status ct_dist_sum_f32(float *buf, size_t n, ct_err *err);
ct_status ct_dist_sum_f64(double *buf, size_t n, ct_err *err);
/* *flag = the OR over ranks. */
ct_status ct_dist_any(bool *flag, ct_err *err);
/* *v = the minimum over ranks. */
ct_status ct_dist_min_int(int *v, ct_err *err);
/* bytes of buf from rank `root` to every rank. */
ct_status ct_dist_bcast(void *buf, size_t bytes, int root, ct_err *err);
/* The flat range of rank r when n elements are split in ct_dist_size() contiguous parts:
 * [n*r/size, n*(r+1)/size). */
void ct_dist_shard(size_t n, int r, size_t *lo, size_t *hi);
/* In place: buf[lo..hi) of this rank's shard (ct_dist_shard) becomes the sum over ranks of it;
 * the rest of buf is left undefined. */
ct_status ct_dist_reduce_scatter_f32(float *buf, size_t n, ct_err *err);
/* buf[0..n): every rank's shard (ct_dist_shard) from its owner, in place. */
ct_status ct_dist_allgather_f32(float *buf, size_t n, ct_err *err);
/* full[0..n) on rank `root` = the shards (ct_dist_shard) of every rank; shard: this rank's. */
ct_status ct_dist_gather_f32(const float *shard, float *full, size_t n, int root, ct_err *err);
/* Seconds spent inside collectives by this process so far. */
double ct_dist_comm_seconds(void);

#endif
