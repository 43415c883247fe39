#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/str.h"
#include "cli/cli.h"
#include "cli/options.h"

static bool in_list(const char *const *list, const char *s) {
    for (; list && *list; list++)
        if (!strcmp(*list, s)) return true;
    return false;
}

int ct_args_parse(ct_args *a, int argc, char **argv, const char *const *flags) {
    memset(a, 0, sizeof *a);
    a->keys = calloc((size_t)argc + 1, sizeof(char *));
    a->vals = calloc((size_t)argc + 1, sizeof(char *));
    a->used = calloc((size_t)argc + 1, sizeof(bool));
    if (!a->keys || !a->vals || !a->used) {
        ct_args_free(a);
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        if (s[0] == '-' && s[1] == '-' && s[2]) {
            const char *eq = strchr(s + 2, '=');
            if (eq) {
                a->keys[a->n] = strndup(s + 2, (size_t)(eq - s - 2));
                a->vals[a->n] = strdup(eq + 1);
            } else {
                a->keys[a->n] = strdup(s + 2);
                if (!in_list(flags, s + 2)) {
                    if (i + 1 >= argc) {
                        fprintf(stderr, "ctune %s: option --%s needs a value\n", argv[0], s + 2);
                        a->n++; /* free the key just added too */
                        ct_args_free(a);
                        return -1;
                    }
                    a->vals[a->n] = strdup(argv[++i]);
                }
            }
        } else {
            a->vals[a->n] = strdup(s);
        }
        a->n++;
    }
    return 0;
}

void ct_args_free(ct_args *a) {
    for (int i = 0; i < a->n; i++) {
        free(a->keys[i]);
        free(a->vals[i]);
    }
    free(a->keys);
    free(a->vals);
    free(a->used);
    memset(a, 0, sizeof *a);
}

const char *ct_args_get(ct_args *a, const char *key) {
    const char *v = NULL;
    for (int i = 0; i < a->n; i++)
        if (a->keys[i] && !strcmp(a->keys[i], key)) {
            a->used[i] = true;
            v = a->vals[i] ? a->vals[i] : "true"; /* last one wins */
        }
    return v;
}

bool ct_args_flag(ct_args *a, const char *key) {
    const char *v = ct_args_get(a, key);
    return v && strcmp(v, "false") != 0 && strcmp(v, "0") != 0;
}

const char *ct_args_positional(ct_args *a, int index) {
    for (int i = 0; i < a->n; i++)
        if (!a->keys[i] && index-- == 0) {
            a->used[i] = true;
            return a->vals[i];
        }
    return NULL;
}

bool ct_args_int(ct_args *a, const char *key, long long *out) {
    const char *v = ct_args_get(a, key);
    if (!v) return true;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end) {
        fprintf(stderr, "ctune: --%s: expected an integer, got '%s'\n", key, v);
        return false;
    }
    *out = x;
    return true;
}

bool ct_args_double(ct_args *a, const char *key, double *out) {
    const char *v = ct_args_get(a, key);
    if (!v) return true;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end) {
        fprintf(stderr, "ctune: --%s: expected a number, got '%s'\n", key, v);
        return false;
    }
    *out = x;
    return true;
}

int ct_args_check_unknown(ct_args *a, const char *cmd) {
    /* --threads N is every command's option (one rule, ct_cli_threads) */
    int threads = 0;
    if (ct_args_get(a, "threads") && !ct_cli_threads(a, &threads)) return -1;
    for (int i = 0; i < a->n; i++) {
        if (a->used[i]) continue;
        if (a->keys[i]) {
            const char *best = NULL;
            int bd = 1 << 30;
            for (int j = 0; j < a->n; j++)
                if (a->used[j] && a->keys[j]) {
                    int d = ct_str_distance(a->keys[i], a->keys[j]);
                    if (d < bd) bd = d, best = a->keys[j];
                }
            (void)best;
            fprintf(stderr, "ctune %s: unknown option --%s (see `ctune %s --help`)\n", cmd,
                    a->keys[i], cmd);
        } else {
            fprintf(stderr, "ctune %s: unexpected argument '%s'\n", cmd, a->vals[i]);
        }
        return -1;
    }
    return 0;
}

bool ct_cli_is_override(const char *arg) {
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg) return false;
    for (const char *p = arg; p < eq; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-' && *p != '.') return false;
    return true;
}

int ct_cli_error(const ct_err *err) {
    fprintf(stderr, "ctune: %s\n", err->msg[0] ? err->msg : ct_status_name(err->code));
    return 1;
}

int ct_cli_errorf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("ctune: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}


bool ct_args_start(ct_args *a, int argc, char **argv, const char *const *flags, const char *usage, int *rc) {
    if (ct_args_parse(a, argc, argv, flags)) {
        *rc = 1;
        return true;
    }
    if (!ct_args_flag(a, "help")) return false;
    fputs(usage, stdout);
    ct_args_free(a);
    *rc = 0;
    return true;
}
