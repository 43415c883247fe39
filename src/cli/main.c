/* ctune — entry point: dispatches to the registered subcommands. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/str.h"
#include "cli/cli.h"

#define MAX_COMMANDS 64

static struct {
    const char *name, *summary;
    ct_cli_fn fn;
} commands[MAX_COMMANDS];
static int n_commands;

void ct_cli_register(const char *name, const char *summary, ct_cli_fn fn) {
    if (n_commands < MAX_COMMANDS) {
        commands[n_commands].name = name;
        commands[n_commands].summary = summary;
        commands[n_commands].fn = fn;
        n_commands++;
    }
}

static int cmp_cmd(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void usage(FILE *f) {
    fprintf(f, "usage: ctune <command> [options]\n\ncommands:\n");
    for (int i = 0; i < n_commands; i++)
        fprintf(f, "  %-15s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun `ctune <command> --help` for a command's options.\n");
}

int main(int argc, char **argv) {
    qsort(commands, (size_t)n_commands, sizeof commands[0], cmp_cmd);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("ctune 0.1.0\n");
        return 0;
    }
    for (int i = 0; i < n_commands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    const char *best = NULL;
    int bd = 1 << 30;
    for (int i = 0; i < n_commands; i++) {
        int d = ct_str_distance(argv[1], commands[i].name);
        if (d < bd) bd = d, best = commands[i].name;
    }
    if (best && bd <= 3)
        fprintf(stderr, "ctune: unknown command '%s' (did you mean '%s'?)\n", argv[1], best);
    else
        fprintf(stderr, "ctune: unknown command '%s' (see `ctune --help`)\n", argv[1]);
    return 2;
}
