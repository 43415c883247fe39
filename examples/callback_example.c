/* A user callback for ctune's trainer: records every logged metric into a CSV file.
 *
 * Build against the library (from the repository root, after `make`):
 *   make examples            # -> build/callback_example
 * or by hand:
 *   cc -std=c17 -Iinclude examples/callback_example.c build/libctune.a \
 *      $(pkg-config --libs jansson libpcre2-8 libutf8proc yaml-0.1 openblas) -fopenmp -lm
 * Run: build/callback_example metrics.csv
 *
 * In a real program you register it next to the built-in sinks before training:
 *   ct_callbacks_add(&trainer_callbacks, &my_csv_callback, &err);
 * Here main() drives a short simulated run through the same registry so the example
 * runs on its own. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctune/callback.h"

typedef struct csv_sink {
    FILE *fp;
    const char *path;
    int rows;
} csv_sink;

static void put_num(FILE *fp, double v) {
    if (isnan(v)) fputs(",", fp);
    else fprintf(fp, ",%.8g", v);
}

static ct_status csv_begin(void *user, ct_train_event *ev, ct_err *err) {
    csv_sink *s = user;
    (void)ev;
    s->fp = fopen(s->path, "w");
    if (!s->fp) return ct_err_set(err, CT_ERR_IO, "%s: %s", s->path, strerror(errno));
    fputs("step,epoch,loss,eval_loss,learning_rate,grad_norm,tokens_per_s\n", s->fp);
    return CT_OK;
}

static ct_status csv_row(void *user, ct_train_event *ev, ct_err *err) {
    csv_sink *s = user;
    fprintf(s->fp, "%lld", (long long)ev->step);
    put_num(s->fp, ev->epoch);
    put_num(s->fp, ev->loss);
    put_num(s->fp, ev->eval_loss);
    put_num(s->fp, ev->learning_rate);
    put_num(s->fp, ev->grad_norm);
    put_num(s->fp, ev->tokens_per_s);
    fputc('\n', s->fp);
    s->rows++;
    /* Early stopping from a callback: ask the trainer to stop once the loss is tiny. */
    if (!isnan(ev->loss) && ev->loss < 0.05) ev->should_stop = true;
    return ferror(s->fp) ? ct_err_set(err, CT_ERR_IO, "%s: write failed", s->path) : CT_OK;
}

static ct_status csv_end(void *user, ct_train_event *ev, ct_err *err) {
    csv_sink *s = user;
    (void)ev;
    if (s->fp && fclose(s->fp) != 0) return ct_err_set(err, CT_ERR_IO, "%s: close failed", s->path);
    s->fp = NULL;
    fprintf(stderr, "csv callback: %d rows written to %s\n", s->rows, s->path);
    return CT_OK;
}

int main(int argc, char **argv) {
    csv_sink sink = {.path = argc > 1 ? argv[1] : "metrics.csv"};
    ct_callback cb = {
        .name = "csv",
        .user = &sink,
        .on_train_begin = csv_begin,
        .on_log = csv_row,
        .on_evaluate = csv_row,
        .on_train_end = csv_end,
    };
    ct_callbacks reg = {0};
    ct_err err = {0};
    if (ct_callbacks_add(&reg, &cb, &err) != CT_OK) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    /* Simulated run: 20 steps, exponential loss decay, eval every 5 steps. */
    ct_train_event ev;
    ct_train_event_init(&ev);
    ev.total_steps = 20;
    int rc = 0;
    if (ct_callbacks_dispatch(&reg, CT_EVENT_TRAIN_BEGIN, &ev, &err)) rc = 1;
    for (int64_t step = 1; !rc && step <= ev.total_steps && !ev.should_stop; step++) {
        ct_train_event_init(&ev);
        ev.total_steps = 20;
        ev.step = step;
        ev.epoch = step / 10.0;
        ev.loss = 2.0 * exp(-0.25 * (double)step);
        ev.learning_rate = 1e-4 * (1.0 - (double)step / 20.0);
        ev.grad_norm = 1.0 / (double)step;
        ev.tokens_per_s = 1000.0;
        if (ct_callbacks_dispatch(&reg, CT_EVENT_LOG, &ev, &err)) rc = 1;
        if (!rc && step % 5 == 0) {
            bool stop = ev.should_stop;
            ct_train_event_init(&ev);
            ev.total_steps = 20, ev.step = step, ev.eval_loss = 2.2 * exp(-0.2 * (double)step);
            if (ct_callbacks_dispatch(&reg, CT_EVENT_EVALUATE, &ev, &err)) rc = 1;
            ev.should_stop = ev.should_stop || stop;
        }
    }
    if (!rc && ct_callbacks_dispatch(&reg, CT_EVENT_TRAIN_END, &ev, &err)) rc = 1;
    if (rc) fprintf(stderr, "error: %s\n", err.msg);
    ct_callbacks_free(&reg);
    return rc;
}
