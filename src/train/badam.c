/* BAdam's block schedule (see badam.h). */
#include "train/badam.h"

#include <string.h>

#include "base/rng.h"
#include "peft/block.h"

#define BADAM_RNG_STREAM 0x42416461ull /* "BAda" */

static const char *const k_order[] = {"ascending", "descending", "random", "fixed"};

bool ct_badam_order_parse(const char *name, ct_badam_order *out) {
    if (!name) name = "ascending";
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, k_order[i])) {
            *out = (ct_badam_order)i;
            return true;
        }
    return false;
}

const char *ct_badam_order_name(ct_badam_order o) { return (unsigned)o < 4 ? k_order[o] : "?"; }

/* A new permutation of the blocks (Fisher-Yates on the counter RNG). */
static void draw_perm(ct_badam *b) {
    int n = b->n_blocks;
    for (int i = 0; i < n; i++) b->perm[i] = i;
    for (int i = n - 1; i > 0; i--) {
        uint64_t idx = (uint64_t)b->n_perms * CT_BADAM_MAX_BLOCKS + (uint64_t)i;
        int j = (int)(ct_rng_uniform(b->seed, BADAM_RNG_STREAM, idx) * (double)(i + 1));
        if (j > i) j = i;
        int t = b->perm[i];
        b->perm[i] = b->perm[j];
        b->perm[j] = t;
    }
    b->n_perms++;
    b->n_left = n;
}

/* BlockOptimizer._update_active_block_idx */
static void advance(ct_badam *b) {
    switch (b->order) {
    case CT_BADAM_ASCENDING: b->next = (b->next + 1) % b->n_blocks; break;
    case CT_BADAM_DESCENDING: b->next = (b->next - 1 + b->n_blocks) % b->n_blocks; break;
    case CT_BADAM_RANDOM:
        if (!b->n_left) draw_perm(b);
        b->next = b->perm[--b->n_left];
        break;
    case CT_BADAM_FIXED: break;
    }
}

/* BlockOptimizer.switch_trainable_params: the pending block becomes active, the next is chosen. */
static void switch_block(ct_badam *b) {
    b->active = b->next;
    b->visited[b->active] = true;
    advance(b);
}

ct_status ct_badam_init(ct_badam *b, int n_blocks, ct_badam_order order, int64_t switch_every, int start_block,
                        uint64_t seed, ct_err *err) {
    memset(b, 0, sizeof *b);
    if (n_blocks < 1 || n_blocks > CT_BADAM_MAX_BLOCKS)
        return ct_err_set(err, CT_ERR_ARG, "use_badam: the model has %d decoder layers (blocks)", n_blocks);
    if (switch_every < 1) return ct_err_set(err, CT_ERR_ARG, "badam_switch_interval must be >= 1");
    if (start_block >= n_blocks)
        return ct_err_set(err, CT_ERR_ARG, "badam_start_block %d is out of range: the model has %d blocks (decoder "
                                           "layers 0..%d)", start_block, n_blocks, n_blocks - 1);
    if (order == CT_BADAM_FIXED && start_block < 0)
        return ct_err_set(err, CT_ERR_ARG, "badam_switch_mode fixed needs badam_start_block");
    b->n_blocks = n_blocks;
    b->order = order;
    b->switch_every = switch_every;
    b->seed = seed;
    if (start_block >= 0) b->next = start_block;
    else if (order == CT_BADAM_DESCENDING) b->next = n_blocks - 1;
    else if (order == CT_BADAM_RANDOM) {
        draw_perm(b);
        b->next = b->perm[--b->n_left];
    } else b->next = 0;
    switch_block(b);
    return CT_OK;
}

bool ct_badam_step_done(ct_badam *b) {
    b->step++;
    if ((b->step + 1) % b->switch_every) return false;
    switch_block(b);
    return true;
}

void ct_badam_advance(ct_badam *b, int64_t steps, int64_t *last_switch) {
    int64_t end = b->step + steps, E = b->switch_every;
    *last_switch = b->step;
    if (steps <= 0 || E < 1) return;
    /* switches happen at the steps s with (s + 1) % E == 0: the first after b->step */
    int64_t s = ((b->step + 1) / E + 1) * E - 1;
    while (s <= end) {
        switch_block(b);
        *last_switch = s;
        if (s > end - E) break;
        s += E;
    }
    b->step = end;
}

void ct_badam_reset_optimizer(ct_ctx *c, ct_adamw *o, ct_params *ps) {
    for (size_t i = 0; i < ps->n; i++) ps->p[i].decay = true;
    o->weight_decay = CT_BADAM_WEIGHT_DECAY;
    o->step = 0;
    if (o->bf16_params) ct_params_round_bf16(c, ps);
}

ct_status ct_badam_apply(ct_ctx *c, const ct_badam *b, ct_train_model *tm, ct_adamw *o, bool f32_copies,
                         ct_err *err) {
    int id = b->active;
    ct_status st = ct_train_model_switch_layers(tm, &id, 1, f32_copies, err);
    if (st) return ct_err_prefix(err, "badam: switching to block %d", id);
    ct_badam_reset_optimizer(c, o, &tm->params);
    return CT_OK;
}
