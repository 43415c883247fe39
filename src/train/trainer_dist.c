/* Data parallelism in the trainer (trainer_dist.h; collectives in dist.c).
 *
 * Global batch (LlamaFactory / DDP count): per_device_train_batch_size x ranks rows make one
 * global micro-batch, gradient_accumulation_steps of them one optimizer step; rank r trains rows
 * [r*B, (r+1)*B) of each global micro-batch (the epoch order is the same on every rank). The
 * loss of each rank is normalised by the step's global count of trained targets, so the summed
 * gradients are the single-process gradients of the same global batch.
 *
 * ZeRO-1 (DeepSpeed stage 1): gradients are reduce-scattered, each rank runs AdamW on its
 * contiguous shard of the flat parameters with its shard of the moments, then the parameters
 * are all-gathered. The update is the same; each rank keeps 1/N of the moments. */
#include "train/trainer_dist.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "train/dist.h"
#include "train/trainer_internal.h"

bool ct_trainer_dist_writer(const ct_trainer *t) { return t->dist.rank == 0; }

/* zero_stage, or a DeepSpeed config's zero_optimization.stage read as intent: 1 and 2 (and 3)
 * shard the optimizer state; ctune shards the moments only (the update is the same). */
static ct_status zero_stage(ct_trainer *t, int *stage, ct_err *err) {
    const ct_train_config *c = t->cfg;
    *stage = (int)c->zero_stage;
    if (!c->deepspeed || !*c->deepspeed) return CT_OK;
    json_t *j = NULL;
    if (ct_json_load_file(c->deepspeed, &j, err)) return ct_err_prefix(err, "deepspeed");
    json_t *zo = json_object_get(j, "zero_optimization"), *s = zo ? json_object_get(zo, "stage") : NULL;
    ct_status st = CT_OK;
    if (s && !json_is_integer(s)) st = ct_err_set(err, CT_ERR_FORMAT, "deepspeed: %s: zero_optimization.stage is not an integer", c->deepspeed);
    int ds = s ? (int)json_integer_value(s) : 0;
    if (!st && (ds < 0 || ds > 3)) st = ct_err_set(err, CT_ERR_FORMAT, "deepspeed: %s: zero_optimization.stage %d is not 0..3", c->deepspeed, ds);
    json_decref(j);
    if (st) return st;
    if (ds >= 1 && !*stage) {
        *stage = 1;
        if (ds > 1)
            ct_trainer_msg(t, "deepspeed %s: ZeRO stage %d read as zero_stage 1 (the AdamW moments are sharded over the "
                           "ranks; gradients%s stay whole on each rank)", c->deepspeed, ds, ds == 3 ? " and parameters" : "");
    }
    return CT_OK;
}

ct_status ct_trainer_dist_setup(ct_trainer *t, ct_err *err) {
    ct_trainer_dist *d = &t->dist;
    d->rank = ct_dist_rank();
    d->size = ct_dist_size();
    int stage = 0;
    ct_status st = zero_stage(t, &stage, err);
    if (st) return st;
    ct_params *ps = &t->tm.params;
    if (d->size > 1)
        ct_trainer_msg(t, "data parallel: %d ranks x batch %zu x accumulation %zu = global batch %zu%s", d->size, t->B,
                       t->GA, (size_t)d->size * t->B * t->GA, stage ? ", ZeRO-1" : "");
    if (!stage) return CT_OK;
    if (t->cfg->use_galore || t->cfg->use_badam) /* their optimizers keep moments of another layout */
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "zero_stage 1 with %s is not supported; use plain data parallel "
                          "(zero_stage: 0)", t->cfg->use_galore ? "use_galore" : "use_badam");
    d->zero = 1;
    ct_dist_shard(ps->total, d->rank, &d->lo, &d->hi);
    size_t n = d->hi - d->lo ? d->hi - d->lo : 1;
    d->m = calloc(n, sizeof *d->m);
    d->v = calloc(n, sizeof *d->v);
    if (!d->m || !d->v) return ct_err_set(err, CT_ERR_NOMEM, "zero_stage 1: out of memory for the shard");
    ct_params_drop_moments(ps);
    ct_trainer_msg(t, "zero_stage 1: rank %d holds AdamW moments of %zu of %zu values (%.2f MiB of %.2f MiB)", d->rank,
                   d->hi - d->lo, ps->total, 8.0 * (double)(d->hi - d->lo) / 1048576.0, 8.0 * (double)ps->total / 1048576.0);
    return CT_OK;
}

void ct_trainer_dist_free(ct_trainer_dist *d) {
    free(d->m);
    free(d->v);
    free(d->full);
    memset(d, 0, sizeof *d);
}

void ct_trainer_dist_rows(const ct_trainer *t, size_t k, size_t *r0, size_t *nb) {
    size_t size = t->dist.size > 0 ? (size_t)t->dist.size : 1, rows = t->info.n_train_rows;
    *r0 = (k * size + (size_t)t->dist.rank) * t->B;
    *nb = *r0 >= rows ? 0 : rows - *r0 < t->B ? rows - *r0 : t->B;
}

ct_status ct_trainer_dist_counts(ct_trainer *t, double *counts, size_t n, ct_err *err) {
    if (t->dist.size <= 1) return CT_OK;
    return ct_dist_sum_f64(counts, n, err);
}

static double now_comm(void) { return ct_dist_comm_seconds(); }

ct_status ct_trainer_dist_reduce(ct_trainer *t, double *loss, double *gn, float *clip, ct_err *err) {
    ct_trainer_dist *d = &t->dist;
    ct_params *ps = &t->tm.params;
    double c0 = now_comm();
    ct_status st = CT_OK;
    if (d->size > 1) st = ct_dist_sum_f64(loss, 1, err);
    if (!d->zero) {
        if (!st && d->size > 1) st = ct_dist_sum_f32(ps->grad, ps->total, err);
        if (!st) *gn = ct_clip_grad_norm(t->ctx, ps, t->cfg->max_grad_norm, clip);
    } else {
        if (!st) st = ct_dist_reduce_scatter_f32(ps->grad, ps->total, err);
        const float *g = ps->grad + d->lo;
        double ss = 0; /* the global norm: each rank's shard sum of squares, summed */
        for (size_t i = 0; !st && i < d->hi - d->lo; i++) ss += (double)g[i] * (double)g[i];
        if (!st) st = ct_dist_sum_f64(&ss, 1, err);
        *gn = sqrt(ss);
        *clip = ct_clip_factor(*gn, t->cfg->max_grad_norm);
    }
    d->comm_s += now_comm() - c0;
    d->comm_steps++;
    return st;
}

ct_status ct_trainer_dist_adamw(ct_trainer *t, double lr, float clip, ct_err *err) {
    ct_trainer_dist *d = &t->dist;
    ct_params *ps = &t->tm.params;
    if (!d->zero) return ct_trainer_optimizer_step(t, lr, clip, err); /* AdamW, GaLore or BAdam's */
    ct_adamw_step_range(t->ctx, &t->opt, ps, lr, clip, d->lo, d->hi, ps->grad + d->lo, d->m, d->v);
    double c0 = now_comm();
    ct_status st = ct_dist_allgather_f32(ps->data, ps->total, err);
    d->comm_s += now_comm() - c0;
    return st;
}

ct_status ct_trainer_dist_moments_gather(ct_trainer *t, bool for_load, ct_err *err) {
    ct_trainer_dist *d = &t->dist;
    ct_params *ps = &t->tm.params;
    if (!d->zero) return CT_OK;
    /* the whole moments: m in the gradient buffer (free between steps: the next step zeroes it),
     * v in one temporary array */
    size_t n = ps->total;
    bool need = for_load || d->rank == 0;
    if (need && !(d->full = calloc(n ? n : 1, sizeof *d->full)))
        return ct_err_set(err, CT_ERR_NOMEM, "zero_stage 1: out of memory for the AdamW moments of a checkpoint");
    if (for_load) {
        ct_params_point_moments(ps, ps->grad, d->full);
        return CT_OK;
    }
    ct_status st = ct_dist_gather_f32(d->m, need ? ps->grad : NULL, n, 0, err);
    if (!st) st = ct_dist_gather_f32(d->v, d->full, n, 0, err);
    if (!st && need) ct_params_point_moments(ps, ps->grad, d->full);
    return st;
}

void ct_trainer_dist_moments_release(ct_trainer *t, bool loaded) {
    ct_trainer_dist *d = &t->dist;
    ct_params *ps = &t->tm.params;
    if (!d->zero) return;
    if (loaded && d->full) {
        memcpy(d->m, ps->grad + d->lo, (d->hi - d->lo) * sizeof *d->m);
        memcpy(d->v, d->full + d->lo, (d->hi - d->lo) * sizeof *d->v);
    }
    ct_params_point_moments(ps, NULL, NULL);
    free(d->full);
    d->full = NULL;
}
