/* ctune — training callbacks: plug your own tracker into the trainer.
 * A ct_callback is a struct of optional function pointers plus a user pointer; the trainer
 * dispatches every event to all registered callbacks in registration order (the built-in
 * sinks — console progress, trainer_log.jsonl, TensorBoard, loss plot — are callbacks too).
 * Events mirror HF TrainerCallback: train_begin, step_end, log, evaluate, save, train_end.
 * A callback may set ev->should_stop to ask the trainer to stop (it saves and exits cleanly).
 * Returning non-CT_OK aborts training with that error (fill err with a message). */
#ifndef CTUNE_CALLBACK_H
#define CTUNE_CALLBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Everything an event carries. Fields not meaningful for an event are NAN / 0 / NULL. */
typedef struct ct_train_event {
    int64_t step;            /* optimizer steps done (HF global_step) */
    int64_t total_steps;     /* planned optimizer steps (max_steps) */
    double epoch;            /* fractional epoch */
    double loss;             /* mean train loss since the last log (NAN if none) */
    double grad_norm;        /* global grad norm before clipping (NAN if none) */
    double learning_rate;
    double eval_loss;        /* on_evaluate (NAN otherwise) */
    /* on_evaluate with eval_tasks: "task/metric" names and scores of the ctune eval run */
    size_t n_eval_metrics;
    const char *const *eval_metric_names;
    const double *eval_metric_values;
    double elapsed_s;        /* wall seconds since train begin (excluding resumed time) */
    int64_t total_tokens;    /* input tokens seen (num_input_tokens_seen) */
    double tokens_per_s;     /* throughput over the run so far */
    double samples_per_s;    /* on_train_end: train_samples_per_second of this run (NAN otherwise) */
    double steps_per_s;      /* on_train_end: train_steps_per_second of this run (NAN otherwise) */
    const char *output_dir;
    const char *checkpoint_dir; /* on_save: the checkpoint just written */
    bool should_stop;        /* set by a callback to request a clean stop */
} ct_train_event;

/* Initialises an event with NAN metrics and zero counters. */
void ct_train_event_init(ct_train_event *ev);

typedef ct_status (*ct_callback_fn)(void *user, ct_train_event *ev, ct_err *err);

typedef struct ct_callback {
    const char *name;           /* for error messages */
    void *user;
    ct_callback_fn on_train_begin, on_step_end, on_log, on_evaluate, on_save, on_train_end;
    void (*free_user)(void *user); /* called by ct_callbacks_free (optional) */
} ct_callback;

typedef enum ct_event_kind {
    CT_EVENT_TRAIN_BEGIN = 0,
    CT_EVENT_STEP_END,
    CT_EVENT_LOG,
    CT_EVENT_EVALUATE,
    CT_EVENT_SAVE,
    CT_EVENT_TRAIN_END,
} ct_event_kind;

/* Registry of callbacks. Zero-initialise, add, dispatch, free. */
typedef struct ct_callbacks {
    ct_callback *items;
    size_t n, cap;
} ct_callbacks;

ct_status ct_callbacks_add(ct_callbacks *reg, const ct_callback *cb, ct_err *err);
/* Calls the event's handler of every callback; all run even if one fails; the first error
 * is returned, prefixed with the callback's name. */
ct_status ct_callbacks_dispatch(ct_callbacks *reg, ct_event_kind kind, ct_train_event *ev, ct_err *err);
void ct_callbacks_free(ct_callbacks *reg);

/* Built-in sinks as callbacks (each allocates its state; ct_callbacks_free releases it). */
/* trainer_log.jsonl in output_dir (LlamaFactory's LogCallback keys). */
ct_status ct_callback_jsonl_log(ct_callback *cb, const char *output_dir, ct_err *err);
/* TensorBoard event file in log_dir (train/loss, train/learning_rate, train/grad_norm,
 * train/epoch, eval/loss). */
ct_status ct_callback_tensorboard(ct_callback *cb, const char *log_dir, ct_err *err);
/* training_loss.svg from trainer_log.jsonl at train end (and on every save). */
ct_status ct_callback_loss_plot(ct_callback *cb, const char *output_dir, ct_err *err);

#ifdef __cplusplus
}
#endif
#endif
