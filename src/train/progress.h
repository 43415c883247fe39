/* Console progress. On a terminal: one bar redrawn in place with \r
 *   " 42% |#########           | 42/100 [01:05<01:30] loss 1.2345 lr 1.00e-04 1234 tok/s"
 * (at most 10 redraws/s). Not a terminal (logs, CI): one plain line per logging step
 *   "step 42/100 (42.0%) loss 1.2345 grad_norm 0.87 lr 1.00e-04 epoch 0.42 1234 tok/s elapsed 0:01:05 eta 0:01:30"
 * Ctrl-C and SIGTERM (what timeout, systemd, Slurm, Kubernetes and docker send), and SIGUSR1 (the
 * stop request mpirun forwards to every rank): ct_sigint_install() makes the first of them set a
 * flag the trainer polls (ct_sigint_requested(): save a checkpoint, return; ct_sigint_signal() says
 * which, the CLI exits 128 + it: 130 / 143 / 138); a second one exits at once with that status. */
#ifndef CT_TRAIN_PROGRESS_H
#define CT_TRAIN_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "ctune/callback.h"

typedef struct ct_progress {
    FILE *fp;
    bool tty;
    int width;         /* terminal columns */
    double last_draw;  /* monotonic seconds of the last redraw */
    bool drawn;        /* a bar is on the current line */
} ct_progress;

/* tty: 1 / 0 forces the mode, -1 detects isatty(fileno(fp)). */
void ct_progress_init(ct_progress *p, FILE *fp, int tty);
/* Bar text for a terminal of `width` columns (no \r). */
void ct_progress_format_bar(char *buf, size_t n, const ct_train_event *ev, int width);
/* Plain log line (no newline). */
void ct_progress_format_line(char *buf, size_t n, const ct_train_event *ev);
void ct_progress_step(ct_progress *p, const ct_train_event *ev); /* tty: redraw (rate-limited) */
void ct_progress_log(ct_progress *p, const ct_train_event *ev);  /* tty: redraw; else a line */
void ct_progress_message(ct_progress *p, const char *msg);       /* prints above the bar */
void ct_progress_end(ct_progress *p);

ct_status ct_callback_progress(ct_callback *cb, FILE *fp, int tty, ct_err *err);

void ct_sigint_install(void);
bool ct_sigint_requested(void);
int ct_sigint_signal(void); /* SIGINT, SIGTERM or SIGUSR1, the first received; 0: none */
void ct_sigint_reset(void);
void ct_sigint_uninstall(void);

#endif
