/* Checkpoints: output_dir/checkpoint-<step>/ holding everything needed to resume exactly.
 *   <file>.safetensors ...     the caller's tensor groups, e.g. "model.safetensors" (trainable
 *                              fp32 weights) and "optimizer.safetensors" (AdamW m and v)
 *   trainer_state.json         the caller's JSON state (step, epoch, rng, data position,
 *                              scheduler, best metric, log_history), json.dumps(indent=2, sort_keys)
 *   (extra files)              written by an optional hook (PEFT adapter, tokenizer, ...)
 *   ctune_checkpoint.json      manifest written LAST: {"format": "ctune-checkpoint",
 *                              "version": 1, "step": N, "files": {name: {"bytes", "crc32c"}}}
 * The directory is built as checkpoint-<step>.tmp and renamed into place, so a crash (kill -9)
 * mid-save leaves the previous checkpoints untouched and no directory named checkpoint-<step>;
 * a checkpoint without a valid manifest is never picked for resume. Rotation renames a
 * checkpoint to checkpoint-<step>.trash before deleting it. One process per output_dir (the
 * trainer holds a lock): the temp names are fixed. */
#ifndef CT_TRAIN_CHECKPOINT_H
#define CT_TRAIN_CHECKPOINT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"
#include "io/st_writer.h"

#define CT_CKPT_FORMAT "ctune-checkpoint"
#define CT_CKPT_VERSION 1
#define CT_CKPT_MANIFEST "ctune_checkpoint.json"
#define CT_CKPT_STATE "trainer_state.json"

/* One safetensors file of a checkpoint. For save, items are the tensors to write. For
 * restore, items describe the destination buffers: src.data is written, src.dtype/ndim/shape
 * must match the stored tensor exactly (and `dtype` is ignored). */
typedef struct ct_ckpt_file {
    const char *filename;
    ct_st_item *items;
    size_t n;
} ct_ckpt_file;

/* Hook writing extra files into the checkpoint's temp directory before it is sealed. */
typedef ct_status (*ct_ckpt_extra_fn)(const char *tmp_dir, void *user, ct_err *err);

typedef struct ct_ckpt_save_opts {
    const char *output_dir;
    int64_t step;
    const ct_ckpt_file *files;
    size_t n_files;
    const json_t *state;       /* trainer_state.json content (required) */
    ct_ckpt_extra_fn extra;    /* optional */
    void *extra_user;
    int save_total_limit;      /* > 0: keep at most this many checkpoints after saving */
    const char *keep_dir;      /* never removed by rotation (resumed-from / best checkpoint) */
} ct_ckpt_save_opts;

/* Saves output_dir/checkpoint-<step>; *saved_dir (optional) receives its malloc'd path. */
ct_status ct_ckpt_save(const ct_ckpt_save_opts *o, char **saved_dir, ct_err *err);
/* Checks the manifest (format, version) and every file's size and CRC-32C. */
ct_status ct_ckpt_verify(const char *ckpt_dir, ct_err *err);
/* Verifies, then fills the caller's buffers and returns trainer_state.json (caller decrefs).
 * Every expected tensor must exist with the same dtype and shape, and nothing else. */
ct_status ct_ckpt_restore(const char *ckpt_dir, const ct_ckpt_file *files, size_t n_files,
                          json_t **state, ct_err *err);
/* Valid checkpoint steps in output_dir, ascending (caller frees *steps). */
ct_status ct_ckpt_list(const char *output_dir, int64_t **steps, size_t *n, ct_err *err);
/* Latest valid checkpoint (resume_from_checkpoint: true). *dir = NULL when there is none. */
ct_status ct_ckpt_find_latest(const char *output_dir, char **dir, int64_t *step, ct_err *err);
/* Deletes the oldest checkpoints beyond `limit` (never keep_dir), after ct_ckpt_cleanup. Each is
 * renamed to checkpoint-N.trash before it is deleted (ct_dir_remove), so a kill part-way never
 * leaves a partial directory named checkpoint-N. */
ct_status ct_ckpt_rotate(const char *output_dir, int limit, const char *keep_dir, ct_err *err);
/* Leftovers of interrupted saves and removals: checkpoint-N.tmp and checkpoint-N.trash are
 * deleted; checkpoint-N.old (ct_dir_publish's fallback) is renamed back when checkpoint-N is
 * missing. Only the process that owns output_dir may call it (the trainer's lock). */
ct_status ct_ckpt_cleanup(const char *output_dir, ct_err *err);
/* The newest checkpoint-N directory that fails ct_ckpt_verify (*dir malloc'd, *why its error;
 * returns CT_ERR_FORMAT), or *dir = NULL and CT_OK when there is none. For messages. */
ct_status ct_ckpt_newest_invalid(const char *output_dir, char **dir, ct_err *why);

#endif
