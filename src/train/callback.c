#include "ctune/callback.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ct_train_event_init(ct_train_event *ev) {
    memset(ev, 0, sizeof *ev);
    ev->epoch = NAN;
    ev->loss = NAN;
    ev->grad_norm = NAN;
    ev->learning_rate = NAN;
    ev->eval_loss = NAN;
    ev->tokens_per_s = NAN;
    ev->samples_per_s = NAN;
    ev->steps_per_s = NAN;
}

ct_status ct_callbacks_add(ct_callbacks *reg, const ct_callback *cb, ct_err *err) {
    if (reg->n == reg->cap) {
        size_t cap = reg->cap ? reg->cap * 2 : 8;
        ct_callback *n = realloc(reg->items, cap * sizeof *n);
        if (!n) return ct_err_set(err, CT_ERR_NOMEM, "callbacks: out of memory");
        reg->items = n;
        reg->cap = cap;
    }
    reg->items[reg->n++] = *cb;
    return CT_OK;
}

static ct_callback_fn handler(const ct_callback *cb, ct_event_kind k) {
    switch (k) {
    case CT_EVENT_TRAIN_BEGIN: return cb->on_train_begin;
    case CT_EVENT_STEP_END: return cb->on_step_end;
    case CT_EVENT_LOG: return cb->on_log;
    case CT_EVENT_EVALUATE: return cb->on_evaluate;
    case CT_EVENT_SAVE: return cb->on_save;
    case CT_EVENT_TRAIN_END: return cb->on_train_end;
    }
    return NULL;
}

ct_status ct_callbacks_dispatch(ct_callbacks *reg, ct_event_kind kind, ct_train_event *ev, ct_err *err) {
    ct_status first = CT_OK;
    for (size_t i = 0; i < reg->n; i++) {
        ct_callback_fn fn = handler(&reg->items[i], kind);
        if (!fn) continue;
        ct_err e = {0};
        ct_status st = fn(reg->items[i].user, ev, &e);
        if (st && first == CT_OK) {
            first = st;
            if (err) {
                *err = e;
                err->code = st;
                ct_err_prefix(err, "callback %s", reg->items[i].name ? reg->items[i].name : "?");
            }
        }
    }
    return first;
}

void ct_callbacks_free(ct_callbacks *reg) {
    for (size_t i = 0; i < reg->n; i++)
        if (reg->items[i].free_user) reg->items[i].free_user(reg->items[i].user);
    free(reg->items);
    memset(reg, 0, sizeof *reg);
}
