/* The trainer's side of data parallelism (docs/distributed.md): which rows of a global
 * micro-batch this rank trains, the once-per-step reduction of gradients, loss and token counts,
 * and ZeRO-1 (AdamW moments sharded over the ranks). With one rank every function reduces to
 * the single-process trainer's arithmetic. */
#ifndef CT_TRAIN_TRAINER_DIST_H
#define CT_TRAIN_TRAINER_DIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"

struct ct_trainer;

typedef struct ct_trainer_dist {
    int rank, size;
    int zero;           /* 1: each rank holds the moments of its shard [lo, hi) only */
    size_t lo, hi;      /* this rank's shard of the flat trainable values (zero 1) */
    float *m, *v;       /* [hi - lo]: the moments of the shard (its summed gradients are reduced in
                           place into params.grad[lo, hi)) */
    float *full;        /* [total]: v while a checkpoint is saved or loaded (m goes through
                           params.grad, free between steps), else NULL */
    double comm_s;      /* seconds in gradient collectives (the step's all-reduce) */
    int64_t comm_steps;
} ct_trainer_dist;

/* After the trainer's setup: rank and size, zero_stage (or the DeepSpeed config's stage, read as
 * intent), the shard buffers; says the global batch. */
ct_status ct_trainer_dist_setup(struct ct_trainer *t, ct_err *err);
void ct_trainer_dist_free(ct_trainer_dist *d);
/* This rank's rows of global micro-batch k of the epoch: perm[*r0 .. *r0 + *nb), *nb may be 0. */
void ct_trainer_dist_rows(const struct ct_trainer *t, size_t k, size_t *r0, size_t *nb);
/* Sums counts[0..n) over the ranks (trained targets, tokens, samples of the step). */
ct_status ct_trainer_dist_counts(struct ct_trainer *t, double *counts, size_t n, ct_err *err);
/* The step's gradients are complete on every rank: sums them and *loss over the ranks (zero 1:
 * into this rank's shard), *gn = the global gradient norm, *clip its clip factor. */
ct_status ct_trainer_dist_reduce(struct ct_trainer *t, double *loss, double *gn, float *clip, ct_err *err);
/* AdamW with learning rate lr and clip factor clip (zero 1: this rank's shard, then every rank
 * gathers the updated parameters). */
ct_status ct_trainer_dist_adamw(struct ct_trainer *t, double lr, float clip, ct_err *err);
/* zero 1, before a checkpoint save: rank 0 gets the whole moments (t->tm.params.m, v point at
 * them); before a load: every rank gets room for them. No-op otherwise. */
ct_status ct_trainer_dist_moments_gather(struct ct_trainer *t, bool for_load, ct_err *err);
/* After the save or load: keeps this rank's shard (of the loaded moments) and frees the rest. */
void ct_trainer_dist_moments_release(struct ct_trainer *t, bool loaded);
/* true on the rank that writes files, logs and prints (rank 0). */
bool ct_trainer_dist_writer(const struct ct_trainer *t);

#endif
