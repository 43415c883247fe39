/* Trainer data loader: the bridge between the data pipeline (include/ctune/data.h) and the
 * training step (src/train/step.h): datasets, epoch order, padded micro-batches (data.h's
 * ct_batch, viewed by the step as a ct_lm_batch).
 *
 * Order: every epoch visits the training rows (examples, or packed sequences when packing) in a
 * seeded permutation, Fisher-Yates driven by the counter RNG (seed, epoch), so the order of
 * epoch e is a pure function of (seed, e) and resuming needs only (epoch, position). */
#ifndef CT_TRAIN_TRAINER_DATA_H
#define CT_TRAIN_TRAINER_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/config.h"
#include "ctune/data.h"
#include "ctune/err.h"
#include "ctune/tokenizer.h"

typedef struct ct_loader ct_loader;

typedef struct ct_loader_info {
    size_t n_train_rows;   /* rows per epoch (examples, or packed sequences) */
    size_t n_train_examples, n_val_examples;
    size_t train_tokens;   /* tokens of the training split */
    bool packed;
    char template_note[256];
    size_t n_dropped, n_truncated;
    size_t n_bad;          /* malformed rows skipped (on_bad_sample: skip) */
    char bad_rows[1200];   /* ct_dataset_stats_bad_summary: the count and the first rows */
} ct_loader_info;

/* Builds the datasets of cfg (cache in cfg->tokenized_path, or output_dir/.cache when
 * cache_dir is NULL: pass "" for no cache). pad_id: token id used for padding. */
ct_status ct_loader_init(ct_loader **out, const ct_train_config *cfg, const ct_tokenizer *tok,
                         const char *cache_dir, int32_t pad_id, ct_err *err);
void ct_loader_free(ct_loader *l);
void ct_loader_get_info(const ct_loader *l, ct_loader_info *info);

/* Row permutation of epoch `epoch` (0-based) into perm[n_train_rows]. */
void ct_loader_epoch_order(const ct_loader *l, uint64_t seed, int64_t epoch, size_t *perm);
/* Training micro-batch from rows rows[0..B). */
ct_status ct_loader_train_batch(const ct_loader *l, const size_t *rows, size_t B, ct_batch *out,
                                ct_err *err);
/* Validation micro-batch of examples [start, start+B) (clamped). */
ct_status ct_loader_val_batch(const ct_loader *l, size_t start, size_t B, ct_batch *out,
                              ct_err *err);

#endif
