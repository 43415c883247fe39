/* `ctune train CONFIG.yaml [--key value ...]`: LlamaFactory-style training run (ct_train_run).
 * Progress goes to stderr (a bar on a terminal, one line per logging step otherwise); the final
 * summary to stdout. Exit status: 0 done, 1 error, 130 / 143 stopped by Ctrl-C / SIGTERM (checkpoint
 * saved, and the command that resumes the run printed). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "cli/cli.h"
#include "ctune/dist.h"
#include "ctune/estimate.h"
#include "ctune/train.h"
#include "train/progress.h"

static const char *usage_text =
    "usage: ctune train CONFIG.yaml [--key value | --key=value | --flag | key=value ...]\n"
    "       ctune train --model_name_or_path DIR --dataset NAME --output_dir DIR [--key value ...]\n"
    "Keys are LlamaFactory's (docs/config.md); command-line values override the YAML. A bare\n"
    "boolean (--plot_loss) means true; key=value after the YAML works as in llamafactory-cli.\n"
    "  --print-config   print the effective configuration and exit\n"
    "  --eval-only      only compute the loss on the validation split (eval_dataset / val_size) of\n"
    "                   model_name_or_path (+ adapter_name_or_path, LoRA) and print {\"eval_loss\": ...}\n"
    "  --nproc N        data parallel on this machine: runs `mpirun -np N` of this command, N ranks\n"
    "                   of `threads` threads each (docs/distributed.md; needs the MPI build);\n"
    "                   Ctrl-C stops every rank after the same step with a checkpoint\n"
    "  --force          train even when the estimated peak memory (`ctune estimate`) exceeds the\n"
    "                   machine's available memory (MemAvailable), which is otherwise refused\n"
    "Examples:\n"
    "  ctune train examples/risk/lora_stories.yaml\n"
    "  ctune train cfg.yaml --learning_rate 1e-4 --resume_from_checkpoint true\n"
    "  ctune train cfg.yaml max_steps=3 learning_rate=1e-5 --plot_loss\n";

typedef struct msg_ctx {
    ct_progress *prog;
} msg_ctx;

static void on_message(void *user, const char *msg) {
    msg_ctx *m = user;
    char line[2200];
    snprintf(line, sizeof line, "ctune train: %s", msg);
    ct_progress_message(m->prog, line);
}

/* The pre-flight check: prints the estimate (peak vs MemAvailable, tokens/s) and returns false,
 * after a one-line error, when the peak does not fit and --force was not given. A model the
 * estimator cannot read is left to the trainer's own errors. */
static bool preflight(const ct_train_config *cfg, bool force) {
    ct_config mc;
    ct_estimate_opts o;
    ct_estimate e;
    ct_err err = {0};
    if (!cfg->model_name_or_path || ct_config_load(cfg->model_name_or_path, &mc, &err) ||
        ct_estimate_opts_from_train(cfg, &o, &err) || ct_estimate_train(&mc, &o, &e, &err))
        return true;
    ct_estimate_set_speed(&e, ct_estimate_calibrate(o.threads, 0.15));
    double gib = 1073741824.0, avail = (double)ct_mem_available();
    fprintf(stderr, "ctune train: estimate: peak %.2f GiB of %.2f GiB available, ~%.0f tokens/s (`ctune estimate` for the breakdown)\n",
            (double)e.peak / gib, avail / gib, e.tokens_per_s);
    if (avail <= 0 || (double)e.peak <= avail || force) return true;
    ct_cli_errorf("train: estimated peak memory %.2f GiB exceeds the %.2f GiB available (MemAvailable); lower "
                  "cutoff_len / per_device_train_batch_size, use gradient_checkpointing or lora, or pass --force",
                  (double)e.peak / gib, avail / gib);
    return false;
}

/* The launcher's mpirun and the signals it has received (the handler forwards them). */
static volatile pid_t g_mpirun;
static volatile sig_atomic_t g_launch_signals, g_launch_first;

/* Ctrl-C, SIGTERM or SIGHUP to the launcher: the first two become SIGUSR1 to mpirun, which
 * forwards it to every rank at once (a rank's first SIGUSR1 saves and stops at the end of the
 * step, its second quits); later ones SIGTERM to mpirun (its own kill sequence). mpirun itself
 * must not see the Ctrl-C: on SIGINT / SIGTERM Open MPI's mpirun sends the ranks SIGCONT, waits
 * odls_base_sigkill_timeout (1 s), sends SIGTERM, waits again and sends SIGKILL, reading none of
 * their output meanwhile, so a save that takes longer than a second, or a rank whose output
 * fills the pipe, is killed before it has saved (docs/distributed.md). */
static void on_launch_signal(int sig) {
    int n = g_launch_signals++;
    if (!n) g_launch_first = sig;
    if (g_mpirun > 0) kill(g_mpirun, n < 2 ? SIGUSR1 : SIGTERM);
}

/* --nproc N: this command again under `mpirun -np N` (local ranks; --bind-to none lets each rank
 * run its `threads`, --oversubscribe allows more ranks than cores), in a process group of its own
 * so that a Ctrl-C in the terminal reaches only this launcher (on_launch_signal). Returns mpirun's
 * exit status. CTUNE_NPROC tells rank 0 to print its resume command with --nproc. */
static int launch_mpirun(const char *nproc, int argc, char **argv) {
    char *end = NULL;
    long n = strtol(nproc, &end, 10);
    if (!ct_dist_built()) {
        ct_cli_errorf("train: --nproc needs the MPI build of ctune (install libopenmpi-dev, scripts/deps.sh, and rebuild)");
        return 2;
    }
    if (!*nproc || *end || n < 1 || n > 4096) {
        ct_cli_errorf("train: --nproc '%s' is not a number of processes (1..4096)", nproc);
        return 2;
    }
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK")) {
        ct_cli_errorf("train: --nproc inside an mpirun job; use one or the other");
        return 2;
    }
    char *self = realpath("/proc/self/exe", NULL); /* the path mpirun's children run, any length */
    if (!self) {
        ct_cli_errorf("train: --nproc: cannot find this executable (/proc/self/exe: %s)", strerror(errno));
        return 1;
    }
    char **av = calloc((size_t)argc + 12, sizeof *av);
    if (!av) {
        free(self);
        return 1;
    }
    int k = 0;
    av[k++] = "mpirun";
    av[k++] = "-np";
    av[k++] = (char *)nproc;
    av[k++] = "--bind-to";
    av[k++] = "none";
    av[k++] = "--oversubscribe";
    av[k++] = "--stdin"; /* a background process group must not read the terminal */
    av[k++] = "none";
    av[k++] = self;
    av[k++] = "train";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--nproc")) i++;
        else if (strncmp(argv[i], "--nproc=", 8)) av[k++] = argv[i];
    }
    av[k] = NULL;
    setenv("CTUNE_NPROC", nproc, 1);
    fflush(NULL);
    /* the signals stay blocked until g_mpirun is set: one arriving meanwhile is forwarded once */
    static const int sigs[3] = {SIGINT, SIGTERM, SIGHUP};
    sigset_t block, prev;
    sigemptyset(&block);
    for (int i = 0; i < 3; i++) sigaddset(&block, sigs[i]);
    sigprocmask(SIG_BLOCK, &block, &prev);
    struct sigaction sa, old[3];
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_launch_signal;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 3; i++) sigaction(sigs[i], &sa, &old[i]);
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 3; i++) sigaction(sigs[i], &old[i], NULL);
        sigprocmask(SIG_SETMASK, &prev, NULL);
        setpgid(0, 0);
        execvp(av[0], av);
        ct_cli_errorf("train: --nproc: cannot run mpirun (%s); install openmpi-bin (scripts/deps.sh)", strerror(errno));
        _exit(1);
    }
    if (pid > 0) g_mpirun = pid;
    sigprocmask(SIG_SETMASK, &prev, NULL);
    int rc = 1, status = 0;
    if (pid < 0) ct_cli_errorf("train: --nproc: cannot start mpirun (%s)", strerror(errno));
    else {
        pid_t w;
        while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR) {}
        if (w == pid) rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (g_launch_first && rc == 0) rc = 128 + g_launch_first; /* stopped as asked: as one process would */
        g_mpirun = 0;
    }
    for (int i = 0; i < 3; i++) sigaction(sigs[i], &old[i], NULL);
    free(av);
    free(self);
    return rc;
}

/* One shell word: as is when it holds only safe characters, else in single quotes. */
static void put_word(FILE *f, const char *w) {
    ct_buf b = {0};
    ct_buf_shell_word(&b, w);
    fprintf(f, " %s", b.oom || !b.data ? "(out of memory)" : b.data);
    ct_buf_free(&b);
}

/* The override's key as the config sees it ("--output-dir=x" -> "output_dir"). */
static bool override_is(const char *arg, const char *key) {
    if (strncmp(arg, "--", 2)) return false;
    const char *a = arg + 2, *k = key;
    for (; *a && *a != '=' && *k; a++, k++)
        if (*a != *k && !(*a == '-' && *k == '_')) return false;
    return !*k && (!*a || *a == '=');
}

/* The command that continues an interrupted run: the same config and overrides (so the same
 * output_dir, data and hyper-parameters), resume_from_checkpoint true in place of any
 * resume_from_checkpoint / overwrite_output_dir given; --nproc N when the run was launched so. */
static void print_resume_command(FILE *f, const char *cfg_path, char **rest, int nrest, bool force, bool resume,
                                 const char *nproc) {
    fputs("ctune train", f);
    if (cfg_path) put_word(f, cfg_path);
    for (int i = 0; i < nrest; i++) {
        bool drop = resume && (override_is(rest[i], "resume_from_checkpoint") || override_is(rest[i], "overwrite_output_dir"));
        bool has_value = !strchr(rest[i], '=') && i + 1 < nrest;
        if (!drop) put_word(f, rest[i]);
        if (has_value) {
            i++;
            if (!drop) put_word(f, rest[i]);
        }
    }
    if (force) fputs(" --force", f);
    if (nproc) fprintf(f, " --nproc %s", nproc);
    if (resume) fputs(" --resume_from_checkpoint true", f);
    fputc('\n', f);
}

/* Exit status of a run stopped by signal sig (0: a callback asked): 128 + sig, 130 for a callback,
 * 0 for SIGUSR1, the stop request mpirun forwards (a stop done as asked; a non-zero rank status
 * would make mpirun report the job as aborted; the --nproc launcher exits 128 + the signal it got). */
static int stop_status(int sig) { return sig == SIGUSR1 ? 0 : sig ? 128 + sig : 130; }

CT_CLI_COMMAND(train, "train", "fine-tune a model from a YAML config (LlamaFactory keys)") {
    int first = 1;
    const char *cfg_path = NULL;
    bool print_cfg = false, eval_only = false, force = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        }
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--nproc")) {
            if (i + 1 >= argc) {
                ct_cli_errorf("train: --nproc needs a number of processes");
                return 2;
            }
            return launch_mpirun(argv[i + 1], argc, argv);
        }
        if (!strncmp(argv[i], "--nproc=", 8)) return launch_mpirun(argv[i] + 8, argc, argv);
    }
    if (argc > 1 && strncmp(argv[1], "--", 2) && !ct_cli_is_override(argv[1])) {
        cfg_path = argv[1];
        first = 2;
    }
    /* pull out our own flags; the rest are config overrides */
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0;
    for (int i = first; i < argc; i++) {
        if (!strcmp(argv[i], "--print-config")) print_cfg = true;
        else if (!strcmp(argv[i], "--eval-only")) eval_only = true;
        else if (!strcmp(argv[i], "--force")) force = true;
        else rest[nrest++] = argv[i];
    }
    ct_train_config cfg;
    ct_train_config_init(&cfg);
    ct_err err = {0};
    int rc = 1;
    ct_callbacks cbs = {0};
    ct_train_result res = {0};
    if (cfg_path && ct_train_config_load(&cfg, cfg_path, &err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    if (ct_train_config_apply_args(&cfg, nrest, rest, &err) || ct_train_config_validate(&cfg, &err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    if (print_cfg) {
        char *s = ct_train_config_dump(&cfg);
        if (s) fputs(s, stdout);
        free(s);
        rc = 0;
        goto out;
    }
    if (!cfg_path && !cfg.model_name_or_path) {
        fputs(usage_text, stderr);
        goto out;
    }
    if (ct_dist_init(&err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    bool rank0 = ct_dist_rank() == 0; /* only rank 0 of an MPI job prints */
    char *ign = rank0 ? ct_train_config_ignored_line(&cfg) : NULL;
    if (ign) fprintf(stderr, "ctune train: note: %s\n", ign);
    free(ign);
    if (!eval_only && rank0 && !preflight(&cfg, force)) {
        ct_dist_abort(1);
        goto out;
    }
    ct_callback pcb;
    if (ct_callback_progress(&pcb, stderr, -1, &err) || ct_callbacks_add(&cbs, &pcb, &err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    msg_ctx mc = {cbs.items[0].user};
    ct_train_opts opts = {on_message, &mc, true, eval_only};
    ct_sigint_install();
    ct_status st = ct_train_run_ex(&cfg, &cbs, &opts, &res, &err);
    int sig = ct_sigint_signal();
    ct_sigint_uninstall();
    if (st) {
        rc = ct_cli_error(&err);
        ct_dist_abort(rc); /* the other ranks may wait in a collective: end the job */
        goto out;
    }
    if (!rank0) {
        rc = res.interrupted ? stop_status(sig) : 0;
        goto out;
    }
    if (eval_only) {
        printf("{\"eval_loss\": %.6f, \"runtime\": %.2f}\n", res.eval_loss, res.runtime_s);
        rc = 0;
        goto out;
    }
    if (res.interrupted) {
        const char *launched = getenv("CTUNE_NPROC"); /* by --nproc N: the same command again */
        if (res.last_checkpoint) {
            printf("interrupted at step %lld of %lld; checkpoint: %s\nresume with: ", (long long)res.global_step,
                   (long long)res.total_steps, res.last_checkpoint);
            if (ct_dist_size() > 1 && !launched) printf("mpirun -np %d ", ct_dist_size()); /* or any number of ranks */
            print_resume_command(stdout, cfg_path, rest, nrest, force, true, launched);
        } else {
            printf("interrupted before the first step; nothing was saved\nstart again with: ");
            print_resume_command(stdout, cfg_path, rest, nrest, force, false, launched);
        }
        rc = stop_status(sig);
        goto out;
    }
    printf("done: %lld steps, %.2f epochs, train_loss %.4f", (long long)res.global_step, res.epoch, res.train_loss);
    if (!isnan(res.eval_loss)) printf(", eval_loss %.4f", res.eval_loss);
    printf(", %.1f s, %.0f tokens/s\noutputs in %s\n", res.runtime_s, res.tokens_per_s, cfg.output_dir);
    rc = 0;
out:
    ct_train_result_clear(&res);
    fflush(stdout); /* before MPI_Finalize: mpirun may end the job soon after a rank leaves it */
    ct_dist_finalize();
    ct_callbacks_free(&cbs);
    ct_train_config_free(&cfg);
    free(rest);
    return rc;
}
