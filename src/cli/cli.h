/* CLI plumbing: each subcommand lives in its own src/cli/cmd_<name>.c and registers itself with
 * CT_CLI_COMMAND. The CLI is a thin layer over the public API in include/ctune/. */
#ifndef CT_CLI_CLI_H
#define CT_CLI_CLI_H

#include <stdbool.h>

#include "ctune/err.h"

typedef int (*ct_cli_fn)(int argc, char **argv); /* argv[0] is the subcommand name */
void ct_cli_register(const char *name, const char *summary, ct_cli_fn fn);

#define CT_CLI_COMMAND(ident, name, summary)                                          \
    static int cmd_##ident(int argc, char **argv);                                    \
    __attribute__((constructor)) static void register_cmd_##ident(void) {             \
        ct_cli_register(name, summary, cmd_##ident);                                  \
    }                                                                                 \
    static int cmd_##ident(int argc, char **argv)

/* Options: "--key value", "--key=value" and boolean "--flag". Positional arguments are kept in
 * order. Unknown options are reported by ct_args_check_unknown with the closest known name. */
typedef struct ct_args {
    int n;
    char **keys;     /* option names without "--" (NULL for a positional) */
    char **vals;     /* value, or NULL for a bare flag */
    bool *used;
} ct_args;

/* `flags` lists boolean options (no value), NULL-terminated; every other option takes a value. */
int ct_args_parse(ct_args *a, int argc, char **argv, const char *const *flags);
/* The start of every subcommand: ct_args_parse, then --help (which `flags` must list) prints
 * `usage`. Returns true when the command is done and must return *rc (1 after a parse error, 0
 * after the help), false to go on with the parsed *a. */
bool ct_args_start(ct_args *a, int argc, char **argv, const char *const *flags, const char *usage, int *rc);
void ct_args_free(ct_args *a);
const char *ct_args_get(ct_args *a, const char *key);          /* NULL if absent */
bool ct_args_flag(ct_args *a, const char *key);
const char *ct_args_positional(ct_args *a, int index);        /* NULL if absent */
/* Parse helpers that print "ctune CMD: --key: expected ..." on error and return false. */
bool ct_args_int(ct_args *a, const char *key, long long *out);
bool ct_args_double(ct_args *a, const char *key, double *out);
/* Returns 0 if every option was consumed; otherwise prints the first unknown one. */
int ct_args_check_unknown(ct_args *a, const char *cmd);

/* True for a "key=value" config override (OmegaConf style) rather than a file path: text before
 * the first '=' is a non-empty key of letters, digits, '_', '-' and '.'. */
bool ct_cli_is_override(const char *arg);

/* Prints "ctune: <msg>" to stderr and returns 1 (the CLI's exit status for errors). */
int ct_cli_error(const ct_err *err);
int ct_cli_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
