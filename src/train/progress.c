#include "train/progress.h"

#include "ctune/dist.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "train/log.h"

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void ct_progress_init(ct_progress *p, FILE *fp, int tty) {
    memset(p, 0, sizeof *p);
    p->fp = fp;
    p->tty = tty < 0 ? isatty(fileno(fp)) : tty != 0;
    p->width = 100;
    struct winsize ws;
    if (p->tty && ioctl(fileno(fp), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 40) p->width = ws.ws_col;
}

static void mmss(double s, char *buf, size_t n) {
    if (!(s >= 0) || s > 3.6e8) s = 0;
    long long t = (long long)s;
    if (t >= 3600) snprintf(buf, n, "%lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
    else snprintf(buf, n, "%02lld:%02lld", t / 60, t % 60);
}

static double eta_s(const ct_train_event *ev) {
    return ev->step > 0 ? ev->elapsed_s / (double)ev->step * (double)(ev->total_steps - ev->step) : NAN;
}

void ct_progress_format_bar(char *buf, size_t n, const ct_train_event *ev, int width) {
    double frac = ev->total_steps > 0 ? (double)ev->step / (double)ev->total_steps : 0;
    if (frac > 1) frac = 1;
    char el[32], eta[32], tail[160];
    mmss(ev->elapsed_s, el, sizeof el);
    double e = eta_s(ev);
    if (isnan(e)) snprintf(eta, sizeof eta, "?");
    else mmss(e, eta, sizeof eta);
    size_t t = (size_t)snprintf(tail, sizeof tail, " %lld/%lld [%s<%s]", (long long)ev->step,
                                (long long)ev->total_steps, el, eta);
    if (!isnan(ev->loss) && t < sizeof tail) t += (size_t)snprintf(tail + t, sizeof tail - t, " loss %.4f", ev->loss);
    if (!isnan(ev->learning_rate) && t < sizeof tail) t += (size_t)snprintf(tail + t, sizeof tail - t, " lr %.2e", ev->learning_rate);
    if (!isnan(ev->tokens_per_s) && t < sizeof tail) snprintf(tail + t, sizeof tail - t, " %.0f tok/s", ev->tokens_per_s);
    int bar = width - 8 - (int)strlen(tail);
    if (bar > 40) bar = 40;
    if (bar < 5) bar = 0;
    char bars[48];
    int fill = (int)(frac * bar + 1e-9);
    for (int i = 0; i < bar; i++) bars[i] = i < fill ? '#' : ' ';
    bars[bar] = 0;
    if (bar) snprintf(buf, n, "%3.0f%% |%s|%s", floor(frac * 100), bars, tail);
    else snprintf(buf, n, "%3.0f%%%s", floor(frac * 100), tail);
    if (width > 0 && strlen(buf) >= (size_t)width && (size_t)width < n) buf[width - 1] = 0;
}

void ct_progress_format_line(char *buf, size_t n, const ct_train_event *ev) {
    size_t k = 0;
#define ADD(...) do { if (k < n) k += (size_t)snprintf(buf + k, n - k, __VA_ARGS__); } while (0)
    double pct = ev->total_steps > 0 ? 100.0 * (double)ev->step / (double)ev->total_steps : 100.0;
    ADD("step %lld/%lld (%.1f%%)", (long long)ev->step, (long long)ev->total_steps, pct);
    if (!isnan(ev->loss)) ADD(" loss %.4f", ev->loss);
    if (!isnan(ev->eval_loss)) ADD(" eval_loss %.4f", ev->eval_loss);
    if (!isnan(ev->grad_norm)) ADD(" grad_norm %.4g", ev->grad_norm);
    if (!isnan(ev->learning_rate)) ADD(" lr %.2e", ev->learning_rate);
    if (!isnan(ev->epoch)) ADD(" epoch %.2f", ev->epoch);
    if (!isnan(ev->tokens_per_s)) ADD(" %.0f tok/s", ev->tokens_per_s);
    char el[64], re[64];
    ct_format_timedelta(ev->elapsed_s, el, sizeof el);
    double e = eta_s(ev);
    ct_format_timedelta(isnan(e) ? 0 : e, re, sizeof re);
    ADD(" elapsed %s eta %s", el, re);
#undef ADD
}

static void draw(ct_progress *p, const ct_train_event *ev) {
    char buf[512];
    ct_progress_format_bar(buf, sizeof buf, ev, p->width);
    fprintf(p->fp, "\r%s\033[K", buf);
    fflush(p->fp);
    p->drawn = true;
    p->last_draw = mono_s();
}

void ct_progress_step(ct_progress *p, const ct_train_event *ev) {
    if (!p->tty) return;
    if (p->drawn && mono_s() - p->last_draw < 0.1 && ev->step != ev->total_steps) return;
    draw(p, ev);
}

void ct_progress_log(ct_progress *p, const ct_train_event *ev) {
    if (p->tty) {
        draw(p, ev);
        return;
    }
    char buf[512];
    ct_progress_format_line(buf, sizeof buf, ev);
    fprintf(p->fp, "%s\n", buf);
    fflush(p->fp);
}

void ct_progress_message(ct_progress *p, const char *msg) {
    if (p->tty && p->drawn) fprintf(p->fp, "\r\033[K");
    fprintf(p->fp, "%s\n", msg);
    p->drawn = false;
    fflush(p->fp);
}

void ct_progress_end(ct_progress *p) {
    if (p->tty && p->drawn) fprintf(p->fp, "\n");
    p->drawn = false;
    fflush(p->fp);
}

static ct_status cb_step(void *u, ct_train_event *ev, ct_err *err) {
    (void)err;
    ct_progress_step(u, ev);
    return CT_OK;
}
static ct_status cb_log(void *u, ct_train_event *ev, ct_err *err) {
    (void)err;
    ct_progress_log(u, ev);
    return CT_OK;
}
static ct_status cb_save(void *u, ct_train_event *ev, ct_err *err) {
    (void)err;
    char msg[1100];
    snprintf(msg, sizeof msg, "saved %s", ev->checkpoint_dir ? ev->checkpoint_dir : "checkpoint");
    ct_progress_message(u, msg);
    return CT_OK;
}
static ct_status cb_end(void *u, ct_train_event *ev, ct_err *err) {
    (void)ev;
    (void)err;
    ct_progress_end(u);
    return CT_OK;
}

ct_status ct_callback_progress(ct_callback *cb, FILE *fp, int tty, ct_err *err) {
    memset(cb, 0, sizeof *cb);
    ct_progress *p = malloc(sizeof *p);
    if (!p) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_progress_init(p, fp, tty);
    cb->name = "progress";
    cb->user = p;
    cb->on_step_end = cb_step;
    cb->on_log = cb_log;
    cb->on_evaluate = cb_log;
    cb->on_save = cb_save;
    cb->on_train_end = cb_end;
    cb->free_user = free;
    return CT_OK;
}

/* ---- Ctrl-C, SIGTERM and SIGUSR1 ----
 * SIGUSR1 is the stop request mpirun forwards to every rank at once (`ctune train --nproc` turns
 * a Ctrl-C into it; `kill -USR1 <mpirun>` by hand), without mpirun's SIGINT kill sequence. */
static volatile sig_atomic_t g_stop_count, g_stop_signal;
static struct sigaction g_old_sigint, g_old_sigterm, g_old_sigusr1;
static bool g_installed;

/* The first signal only sets the flag (the trainer finishes its step, saves, returns); a second
 * one exits at once: a save it cuts short leaves checkpoint-N.tmp, never a checkpoint-N that is
 * half written (src/train/checkpoint.h), and the previous checkpoints as they were. */
static void on_stop_signal(int sig) {
    if (g_stop_count++ > 0) {
        static const char msg[] = "\ninterrupted again: exiting without saving\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        _exit(128 + sig);
    }
    g_stop_signal = sig;
    if (ct_dist_rank() != 0) return; /* mpirun signals every rank: rank 0 says it */
    static const char msg_int[] = "\ninterrupt: saving a checkpoint and stopping (Ctrl-C again to quit now)\n";
    static const char msg_term[] = "\nSIGTERM: saving a checkpoint and stopping (a second signal quits now)\n";
    static const char msg_usr1[] = "\nstop requested: saving a checkpoint and stopping (a second request quits now)\n";
    ssize_t w = sig == SIGTERM   ? write(STDERR_FILENO, msg_term, sizeof msg_term - 1)
                : sig == SIGUSR1 ? write(STDERR_FILENO, msg_usr1, sizeof msg_usr1 - 1)
                                 : write(STDERR_FILENO, msg_int, sizeof msg_int - 1);
    (void)w;
}

void ct_sigint_install(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sigaddset(&sa.sa_mask, SIGUSR1);
    sa.sa_flags = SA_RESTART;
    g_stop_count = 0;
    g_stop_signal = 0;
    bool ok = sigaction(SIGINT, &sa, g_installed ? NULL : &g_old_sigint) == 0;
    ok = sigaction(SIGTERM, &sa, g_installed ? NULL : &g_old_sigterm) == 0 && ok;
    ok = sigaction(SIGUSR1, &sa, g_installed ? NULL : &g_old_sigusr1) == 0 && ok;
    if (ok) g_installed = true;
}

bool ct_sigint_requested(void) { return g_stop_count > 0; }
int ct_sigint_signal(void) { return g_stop_signal; }
void ct_sigint_reset(void) {
    g_stop_count = 0;
    g_stop_signal = 0;
}

void ct_sigint_uninstall(void) {
    if (g_installed) {
        sigaction(SIGINT, &g_old_sigint, NULL);
        sigaction(SIGTERM, &g_old_sigterm, NULL);
        sigaction(SIGUSR1, &g_old_sigusr1, NULL);
    }
    g_installed = false;
    ct_sigint_reset();
}
