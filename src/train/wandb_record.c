#include "train/wandb_record.h"

enum {
    REC_NUM = 1, REC_HISTORY = 2, REC_SUMMARY = 3, REC_CONFIG = 5, REC_FILES = 6, REC_METRIC = 12,
    REC_OUTPUT_RAW = 13, REC_RUN = 17, REC_EXIT = 18, REC_HEADER = 21,
};

static size_t begin(ct_pbuf *b, int64_t num, uint32_t type) {
    ct_pb_int(b, REC_NUM, num);
    return ct_pb_begin(b, type);
}

static void items(ct_pbuf *b, uint32_t field, const ct_wb_item *it, size_t n) {
    for (size_t i = 0; i < n; i++) {
        size_t m = ct_pb_begin(b, field);
        if (it[i].nested) {
            ct_pb_string_always(b, 2, it[i].key);
            ct_pb_string_always(b, 2, it[i].nested);
        } else {
            ct_pb_string(b, 1, it[i].key);
        }
        ct_pb_string(b, 16, it[i].value_json);
        ct_pb_end(b, m);
    }
}

void ct_wb_header(ct_pbuf *b, int64_t num, const char *producer) {
    size_t m = begin(b, num, REC_HEADER);
    size_t v = ct_pb_begin(b, 1);
    ct_pb_string(b, 1, producer);
    ct_pb_end(b, v);
    ct_pb_end(b, m);
}

void ct_wb_run_record(ct_pbuf *b, int64_t num, const ct_wb_run *r) {
    size_t m = begin(b, num, REC_RUN);
    ct_pb_string(b, 1, r->run_id);
    ct_pb_string(b, 2, r->entity);
    ct_pb_string(b, 3, r->project);
    ct_pb_string(b, 6, r->group);
    ct_pb_string(b, 7, r->job_type);
    ct_pb_string(b, 8, r->display_name);
    ct_pb_string(b, 9, r->notes);
    for (size_t i = 0; i < r->n_tags; i++) ct_pb_string_always(b, 10, r->tags[i]);
    ct_pb_string(b, 13, r->host);
    ct_pb_timestamp(b, 17, r->start_time);
    ct_pb_end(b, m);
}

void ct_wb_config(ct_pbuf *b, int64_t num, const ct_wb_item *it, size_t n) {
    size_t m = begin(b, num, REC_CONFIG);
    items(b, 1, it, n);
    ct_pb_end(b, m);
}

void ct_wb_summary(ct_pbuf *b, int64_t num, const ct_wb_item *it, size_t n) {
    size_t m = begin(b, num, REC_SUMMARY);
    items(b, 1, it, n);
    ct_pb_end(b, m);
}

void ct_wb_history(ct_pbuf *b, int64_t num, const ct_wb_item *it, size_t n, int64_t step) {
    size_t m = begin(b, num, REC_HISTORY);
    items(b, 1, it, n);
    size_t s = ct_pb_begin(b, 2); /* HistoryStep, present even for step 0 */
    ct_pb_int(b, 1, step);
    ct_pb_end(b, s);
    ct_pb_end(b, m);
}

void ct_wb_metric_record(ct_pbuf *b, int64_t num, const ct_wb_metric *x) {
    size_t m = begin(b, num, REC_METRIC);
    ct_pb_string(b, 1, x->name);
    ct_pb_string(b, 2, x->glob_name);
    ct_pb_string(b, 4, x->step_metric);
    size_t o = ct_pb_begin(b, 6);
    ct_pb_bool(b, 1, x->step_sync);
    ct_pb_bool(b, 3, x->defined);
    ct_pb_end(b, o);
    if (x->expanded) {
        ct_pb_end(b, ct_pb_begin(b, 7)); /* MetricSummary {} */
        size_t c = ct_pb_begin(b, 9);
        ct_pb_bool(b, 1, true);
        ct_pb_end(b, c);
        ct_pb_bool(b, 10, true);
    }
    ct_pb_end(b, m);
}

void ct_wb_output_raw(ct_pbuf *b, int64_t num, bool stdout_stream, double unix_s, const char *line) {
    size_t m = begin(b, num, REC_OUTPUT_RAW);
    ct_pb_uint(b, 1, stdout_stream ? 1 : 0);
    ct_pb_timestamp(b, 2, unix_s);
    ct_pb_string(b, 3, line);
    ct_pb_end(b, m);
}

void ct_wb_files(ct_pbuf *b, int64_t num, const char *path) {
    size_t m = begin(b, num, REC_FILES);
    size_t f = ct_pb_begin(b, 1);
    ct_pb_string(b, 1, path);
    ct_pb_uint(b, 3, 1); /* FileType WANDB; policy NOW is the default 0 */
    ct_pb_end(b, f);
    ct_pb_end(b, m);
}

void ct_wb_exit(ct_pbuf *b, int64_t num, int32_t exit_code, int32_t runtime_s) {
    size_t m = begin(b, num, REC_EXIT);
    ct_pb_int(b, 1, exit_code);
    ct_pb_int(b, 2, runtime_s);
    ct_pb_end(b, m);
}
