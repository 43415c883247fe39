/* Metrics files in output_dir.
 * trainer_log.jsonl: one json.dumps line per logging/eval step with LlamaFactory's LogCallback
 * keys, in its order: current_steps, total_steps, loss, [grad_norm], eval_loss, lr, epoch,
 * percentage, elapsed_time, remaining_time, throughput, total_tokens (absent values omitted;
 * grad_norm is our addition). Times are Python str(timedelta(seconds=int(s))) ("0:01:05").
 * The file is appended to and flushed per line (a resumed run continues it).
 * all_results.json: json.dump(metrics, indent=4, sort_keys=True) as HF Trainer.save_metrics. */
#ifndef CT_TRAIN_LOG_H
#define CT_TRAIN_LOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "ctune/callback.h"
#include "ctune/err.h"

#define CT_TRAINER_LOG "trainer_log.jsonl"

/* Python's str(datetime.timedelta(seconds=int(s))). */
void ct_format_timedelta(double seconds, char *buf, size_t n);
/* The JSON object of one log line (caller decrefs). */
json_t *ct_log_line_json(const ct_train_event *ev);

typedef struct ct_jsonl_log {
    FILE *fp;
    char *path;
} ct_jsonl_log;

/* Opens output_dir/trainer_log.jsonl for appending (truncate: start afresh). */
ct_status ct_jsonl_log_open(ct_jsonl_log *lg, const char *output_dir, bool truncate, ct_err *err);
ct_status ct_jsonl_log_write(ct_jsonl_log *lg, const ct_train_event *ev, ct_err *err);
void ct_jsonl_log_close(ct_jsonl_log *lg);

/* NAN fields are left out. */
typedef struct ct_all_results {
    double epoch, train_loss, eval_loss, train_runtime, train_samples_per_second,
        train_steps_per_second, train_tokens_per_second, peak_memory_mb;
} ct_all_results;
void ct_all_results_init(ct_all_results *r);
ct_status ct_write_all_results(const char *output_dir, const ct_all_results *r, ct_err *err);

/* Peak resident set size of this process in MB (getrusage), for all_results.json. */
double ct_peak_rss_mb(void);

#endif
