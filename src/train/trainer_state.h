/* checkpoint-N/trainer_state.json: what the trainer needs, beyond the tensors, to continue a run
 * exactly (docs/training.md "Checkpoints and exact resume"). Written with ct_trainer_state_json;
 * read back with ct_trainer_state_parse, which checks every key: its type, its range, and its
 * agreement with the step (the data position, optimizer step and dropout counter are functions
 * of global_step for a given data layout) and with the resuming run (same data layout, seed,
 * method, trainable set). Doubles that must survive bit for bit are hex strings of their bits.
 *
 *   format "ctune-trainer-state", version 1
 *   global_step            optimizer steps done, 0 <= global_step <= the resuming run's total
 *   max_steps              the total planned when it was written (>= global_step)
 *   epoch                  global_step / steps_per_epoch (informational, HF's key)
 *   steps_per_epoch        ceil(micro-batches per epoch / gradient_accumulation_steps)
 *   data_epoch             epoch index of the next micro-batch (0-based)
 *   data_micro_pos         next micro-batch within that epoch, in [0, micro-batches per epoch]
 *   data_rows              training rows (examples or packed sequences)
 *   seed                   the run's seed (epoch order, LoRA dropout)
 *   optimizer_step         AdamW updates done (== global_step)
 *   dropout_rng_step       hex u64: micro-steps done (the dropout counter)
 *   log_loss_sum           hex double: sum of step losses since the last log (finite, >= 0)
 *   log_count              steps in that sum, in [0, global_step]
 *   last_grad_norm         hex double: grad norm of the last step (finite >= 0; NaN at step 0)
 *   num_input_tokens_seen  >= 0, at most global_step x the most tokens one step can hold
 *   finetuning_type, trainable_params, learning_rate, lr_scheduler_type, eval_loss (optional)
 *   badam                  use_badam runs only (required then, refused otherwise): BAdam's block
 *                          schedule (src/train/badam.h), an object of
 *       switch_mode        the run's badam_switch_mode
 *       blocks             decoder layers of the model
 *       active, next       the block training now and the one the next switch activates
 *       step               schedule steps (== global_step)
 *       permutations       random order: permutations drawn
 *       permutation_left   random order: the blocks left in the current permutation
 *       visited            ascending block indices that have trained
 *     each equal to the run's schedule replayed to global_step (same badam_switch_interval,
 *     badam_start_block and seed); optimizer_step is then the steps since the last switch (the
 *     optimizer state restarts at every switch) */
#ifndef CT_TRAIN_TRAINER_STATE_H
#define CT_TRAIN_TRAINER_STATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"
#include "train/badam.h"

#define CT_TRAINER_STATE_FORMAT "ctune-trainer-state"
#define CT_TRAINER_STATE_VERSION 1

typedef struct ct_trainer_state {
    int64_t global_step, max_steps, steps_per_epoch;
    int64_t data_epoch, data_micro_pos, data_rows;
    int64_t seed, optimizer_step, log_count, num_input_tokens_seen, trainable_params;
    uint64_t dropout_rng_step;
    double epoch, log_loss_sum, last_grad_norm, learning_rate;
    double eval_loss; /* NAN: none (the key is then absent) */
    char finetuning_type[16];
    char lr_scheduler_type[64];
    bool has_badam;
    ct_badam badam; /* has_badam: the schedule at global_step */
} ct_trainer_state;

/* The resuming run's facts that a checkpoint must agree with. */
typedef struct ct_trainer_layout {
    int64_t total_steps;          /* steps planned by the resuming run */
    int64_t steps_per_epoch;
    size_t n_micro, GA;           /* micro-batches per epoch, accumulation */
    size_t rows;
    int64_t seed;
    const char *finetuning_type;
    size_t trainable_params;
    int64_t max_tokens_per_step;  /* GA x batch x cutoff_len; 0: no bound */
    const ct_badam *badam;        /* use_badam: the run's schedule before step 1; NULL: none */
    /* BAdam's first read: the registry is not the checkpoint's block yet, trainable_params is
     * checked by the read after the switch */
    bool trainable_params_later;
} ct_trainer_layout;

/* The JSON object written to trainer_state.json (NULL: out of memory). */
json_t *ct_trainer_state_json(const ct_trainer_state *s);
/* Reads and checks a trainer_state.json object; `path` names the file in errors, which are one
 * line naming the key ("<path>: data_epoch -1 is out of range ..."). */
ct_status ct_trainer_state_parse(const json_t *j, const char *path, const ct_trainer_layout *want,
                                 ct_trainer_state *out, ct_err *err);

#endif
