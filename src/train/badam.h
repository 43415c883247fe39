/* BAdam's block schedule (layer mode), as its BlockOptimizer (github.com/Ledzy/BAdam,
 * src/badam/block_optim.py) runs under LlamaFactory (block_prefix_list=None): one block per
 * decoder layer ("model.layers.<i>."), in the model's order; the embeddings, the final norm and
 * the LM head are in no block and never train.
 *
 *   start     badam_start_block, else ascending 0, descending L-1, random the last of a
 *             permutation (fixed needs a start block)
 *   switch    after optimizer step s (1-based) when (s + 1) % switch_interval == 0 -- the first
 *             block trains interval - 1 steps, every later one interval steps (BlockOptimizer
 *             tests global_step + 1 after incrementing global_step)
 *   next      ascending i + 1, descending i - 1 (mod L), fixed i, random: taken from the end of a
 *             permutation of the L blocks, a new permutation when it is used up. The permutation
 *             is ctune's seeded counter RNG (seed, permutation number), not torch.randperm.
 * Every switch (fixed included) clears the optimizer state and rebuilds the masters from the
 * stored weights (src/peft/block.h). This struct is the whole schedule state a checkpoint keeps. */
#ifndef CT_TRAIN_BADAM_H
#define CT_TRAIN_BADAM_H

#include <stdbool.h>
#include <stdint.h>

#include "ctune/ctx.h"
#include "ctune/err.h"
#include "peft/method.h"
#include "train/optim.h"

typedef enum ct_badam_order {
    CT_BADAM_ASCENDING = 0,
    CT_BADAM_DESCENDING,
    CT_BADAM_RANDOM,
    CT_BADAM_FIXED,
} ct_badam_order;

#define CT_BADAM_MAX_BLOCKS 256 /* CT_MAX_LAYERS */

typedef struct ct_badam {
    int n_blocks;
    ct_badam_order order;
    int64_t switch_every;
    uint64_t seed;
    int active;         /* the block whose layer trains now */
    int next;           /* BlockOptimizer.current_block_idx: the block the next switch activates */
    int64_t step;       /* optimizer steps taken (BlockOptimizer.global_step) */
    int64_t n_perms;    /* random: permutations drawn so far */
    int n_left;         /* random: blocks left in the current permutation, taken from the end */
    int perm[CT_BADAM_MAX_BLOCKS];
    bool visited[CT_BADAM_MAX_BLOCKS]; /* blocks that have trained (their weights differ from the base) */
} ct_badam;

/* "ascending" | "descending" | "random" | "fixed" (NULL: ascending); false when unknown. */
bool ct_badam_order_parse(const char *name, ct_badam_order *out);
const char *ct_badam_order_name(ct_badam_order o);
/* The schedule before step 1, with its first block active. start_block < 0: the order's default.
 * Errors (CT_ERR_ARG): start block out of range, fixed without a start block, no blocks. */
ct_status ct_badam_init(ct_badam *b, int n_blocks, ct_badam_order order, int64_t switch_every, int start_block,
                        uint64_t seed, ct_err *err);
/* After an optimizer step: true when the schedule switches now (b->active is the new block). */
bool ct_badam_step_done(ct_badam *b);
/* The schedule `steps` optimizer steps on (each as ct_badam_step_done, in time proportional to
 * the switches); *last_switch: the step (b->step count) of the last switch, or the starting
 * b->step when none. What a checkpoint's schedule must equal (src/train/trainer_state.c). */
void ct_badam_advance(ct_badam *b, int64_t steps, int64_t *last_switch);

/* torch.optim.AdamW's default weight_decay. BlockOptimizer builds its groups as
 * {"weight_decay": ..., **base_optimizer.defaults} and HF passes weight_decay per group, not in
 * the defaults, so under LlamaFactory every active parameter (norms and biases too) decays with
 * it, whatever weight_decay says. */
#define CT_BADAM_WEIGHT_DECAY 0.01

/* BAdam's optimizer over a new active block: every parameter decays (o->weight_decay =
 * CT_BADAM_WEIGHT_DECAY), the step count restarts (the state was cleared), and pure_bf16's
 * rounding of the masters (o->bf16_params). */
void ct_badam_reset_optimizer(ct_ctx *c, ct_adamw *o, ct_params *ps);
/* Makes b->active tm's trainable layer (src/peft/block.h; f32_copies as there) and resets the
 * optimizer for it: what BlockOptimizer.switch_trainable_params does. */
ct_status ct_badam_apply(ct_ctx *c, const ct_badam *b, ct_train_model *tm, ct_adamw *o, bool f32_copies,
                         ct_err *err);

#endif
