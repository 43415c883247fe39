/* The CLI argument parser: the input is split at NUL bytes into argv (argv[0] is the command),
 * parsed by ct_args_parse with a fixed set of boolean flags, then read back through every getter
 * (ct_args_get / flag / int / double / positional, ct_args_check_unknown), the shared option
 * parsers (runtime options, sampling options, id lists) and the train command's --key value
 * overrides (ct_train_config_apply_args). Checked beyond "no crash, no leak": the last value of
 * a repeated option wins, ct_args_int agrees with strtoll, and once every option and positional
 * was read nothing is reported unknown (ct_args_check_unknown fails only for an invalid --threads). The CLI sources are compiled in (src/cli is not part of
 * libctune); their messages go to /dev/null (libFuzzer and the sanitizers keep the real stderr). */
#include "../src/cli/args.c"
#include "../src/cli/options.c"
#include "ctune/config.h"
#include "fuzz_util.h"

#define MAX_ARGS 64

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    FILE *devnull = fopen("/dev/null", "w");
    if (devnull) stderr = devnull;
    return 0;
}

/* The value ct_args_get must return for `key`: its last occurrence ("true" for a bare flag). */
static const char *last_value(int argc, char **argv, const char *const *flags, const char *key) {
    const char *v = NULL;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (!(s[0] == '-' && s[1] == '-' && s[2])) continue;
        const char *eq = strchr(s + 2, '=');
        if (eq) {
            if (strlen(key) == (size_t)(eq - s - 2) && !strncmp(s + 2, key, (size_t)(eq - s - 2))) v = eq + 1;
            continue;
        }
        bool flag = in_list(flags, s + 2);
        if (!strcmp(s + 2, key)) v = flag ? "true" : argv[i + 1];
        if (!flag) i++;
    }
    return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    char *buf = fz_str(d, n);
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    argv[argc++] = "fuzzcmd";
    for (size_t i = 0; i <= n && argc < MAX_ARGS;) { /* NUL-separated arguments */
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;
    static const char *const flags[] = {"help", "force", "untied", "jsonl", "decode", NULL};
    ct_args a;
    if (ct_args_parse(&a, argc, argv, flags) == 0) {
        for (int i = 0; i < a.n; i++) {
            if (!a.keys[i]) continue;
            const char *want = last_value(argc, argv, flags, a.keys[i]);
            const char *got = ct_args_get(&a, a.keys[i]);
            if (!got || !want || strcmp(got, want)) {
                fprintf(stdout, "--%s: got '%s', want '%s'\n", a.keys[i], got ? got : "(null)", want ? want : "(null)");
                abort();
            }
            (void)ct_args_flag(&a, a.keys[i]);
            long long x = 0;
            if (ct_args_int(&a, a.keys[i], &x)) {
                char *end;
                errno = 0;
                long long y = strtoll(got, &end, 10);
                if (x != y || *end || errno) abort();
            }
            double f;
            (void)ct_args_double(&a, a.keys[i], &f);
        }
        for (int i = 0; ct_args_positional(&a, i); i++) {
        }
        /* everything was read: only an invalid --threads (checked there for every command) fails */
        int threads = 0;
        bool threads_ok = !ct_args_get(&a, "threads") || ct_cli_threads(&a, &threads);
        if (ct_args_check_unknown(&a, "fuzzcmd") != (threads_ok ? 0 : -1)) abort();
        /* the shared option parsers on the same arguments */
        ct_runtime_opts ro;
        (void)ct_cli_runtime_opts(&a, true, &ro);
        ct_cli_sampling smp;
        if (ct_cli_sampling_parse(&a, "fuzzcmd", 256, 1, &smp)) {
            ct_gen_params p = {0};
            ct_cli_sampling_apply(&smp, &p);
        }
        const char *ids = ct_args_get(&a, "prompt-ids");
        if (ids) {
            ct_ids v = {0};
            (void)ct_cli_parse_ids(ids, &v);
            ct_ids_free(&v);
        }
        ct_args_free(&a);
    }
    /* the train command's overrides: --key value / --key=value into a config */
    ct_train_config c;
    ct_train_config_init(&c);
    ct_err err = {0};
    ct_status st = ct_train_config_apply_args(&c, argc - 1, argv + 1, &err);
    fz_check_err(st, &err);
    if (!st) fz_check_err(ct_train_config_validate(&c, &err), &err);
    ct_train_config_free(&c);
    free(buf);
    return 0;
}
