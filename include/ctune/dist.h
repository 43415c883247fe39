/* Processes of a data-parallel run (docs/distributed.md). ctune built with MPI (the default where
 * libopenmpi-dev is installed) joins the job when mpirun started it; otherwise, and in a build
 * without MPI, it is rank 0 of 1 and every function here is a no-op. */
#ifndef CTUNE_DIST_H
#define CTUNE_DIST_H

#include <stdbool.h>

#include "ctune/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* true when this build can join an MPI job. */
bool ct_dist_built(void);
/* Joins the MPI job when this process was started by mpirun (idempotent; a plain process stays
 * rank 0 of 1). ct_train_run calls it. */
ct_status ct_dist_init(ct_err *err);
int ct_dist_rank(void);
int ct_dist_size(void);
/* Ends the whole job (every rank) with exit code `code`: what a rank calls after an error that the
 * others, waiting in a collective, cannot see. A no-op outside a job of more than one rank. */
void ct_dist_abort(int code);
/* Leaves the MPI job (at the end of a run that succeeded on every rank). */
void ct_dist_finalize(void);

#ifdef __cplusplus
}
#endif
#endif
