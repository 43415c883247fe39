/* wandb_internal.Record messages (wandb/proto/wandb_internal.proto), encoded with io/pbuf.h.
 * Only the record types `wandb sync` has understood for years are used, with the field numbers
 * of the .proto:
 *   Record       { int64 num = 1; oneof { HistoryRecord history = 2; SummaryRecord summary = 3;
 *                  ConfigRecord config = 5; FilesRecord files = 6; MetricRecord metric = 12;
 *                  OutputRawRecord output_raw = 13; RunRecord run = 17; RunExitRecord exit = 18;
 *                  HeaderRecord header = 21; } }
 *   HistoryItem / ConfigItem / SummaryItem { string key = 1; repeated string nested_key = 2;
 *                  string value_json = 16; }
 *   HistoryRecord { repeated HistoryItem item = 1; HistoryStep step = 2 {int64 num = 1} }
 *   SummaryRecord / ConfigRecord { repeated Item update = 1; }
 *   RunRecord    { run_id = 1; entity = 2; project = 3; run_group = 6; job_type = 7;
 *                  display_name = 8; notes = 9; repeated tags = 10; host = 13;
 *                  google.protobuf.Timestamp start_time = 17; }
 *   MetricRecord { name = 1; glob_name = 2; step_metric = 4; MetricOptions options = 6
 *                  {step_sync = 1; hidden = 2; defined = 3}; MetricSummary summary = 7;
 *                  MetricControl _control = 9 {overwrite = 1}; bool expanded_from_glob = 10; }
 *   OutputRawRecord { OutputType output_type = 1 (STDERR 0, STDOUT 1); Timestamp timestamp = 2;
 *                  string line = 3; }
 *   FilesRecord  { repeated FilesItem files = 1 {path = 1; PolicyType policy = 2 (NOW 0);
 *                  FileType type = 3 (WANDB 1)} }
 *   RunExitRecord { int32 exit_code = 1; int32 runtime = 2; }
 *   HeaderRecord { VersionInfo version_info = 1 {producer = 1; min_consumer = 2} }
 * Fields are written in field-number order, defaults left out (what protobuf's own encoders do),
 * so the bytes equal wandb's for the same message. Every function appends one whole Record. */
#ifndef CT_TRAIN_WANDB_RECORD_H
#define CT_TRAIN_WANDB_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/pbuf.h"

/* One key/value of a history row, a summary or a config update. nested != NULL: the key path
 * {key, nested} (SummaryItem.nested_key, as wandb's `_wandb.runtime`); else a flat key. */
typedef struct ct_wb_item {
    const char *key;
    const char *nested;
    const char *value_json;
} ct_wb_item;

typedef struct ct_wb_run {
    const char *run_id, *entity, *project, *group, *job_type, *display_name, *notes, *host;
    const char *const *tags;
    size_t n_tags;
    double start_time; /* Unix seconds */
} ct_wb_run;

typedef struct ct_wb_metric {
    const char *name, *glob_name, *step_metric;
    bool step_sync, defined, expanded; /* expanded: a glob's match (sets summary {} and _control) */
} ct_wb_metric;

void ct_wb_header(ct_pbuf *b, int64_t num, const char *producer);
void ct_wb_run_record(ct_pbuf *b, int64_t num, const ct_wb_run *r);
void ct_wb_config(ct_pbuf *b, int64_t num, const ct_wb_item *items, size_t n);
void ct_wb_summary(ct_pbuf *b, int64_t num, const ct_wb_item *items, size_t n);
void ct_wb_history(ct_pbuf *b, int64_t num, const ct_wb_item *items, size_t n, int64_t step);
void ct_wb_metric_record(ct_pbuf *b, int64_t num, const ct_wb_metric *m);
void ct_wb_output_raw(ct_pbuf *b, int64_t num, bool stdout_stream, double unix_s, const char *line);
void ct_wb_files(ct_pbuf *b, int64_t num, const char *path);
void ct_wb_exit(ct_pbuf *b, int64_t num, int32_t exit_code, int32_t runtime_s);

#endif
