/* Shared helpers for the libFuzzer harnesses in fuzz/ (built by `make fuzz`, see
 * docs/robustness.md). Each harness defines LLVMFuzzerTestOneInput and feeds the input to one
 * parser through its public entry point, usually by writing it to a file in a per-process temp
 * directory. A parser may reject the input (any ct_status); it must never crash, hang, leak or
 * trip ASan/UBSan, and an error must carry a message. */
#ifndef CT_FUZZ_UTIL_H
#define CT_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctune/err.h"

/* A per-process scratch directory, created on first use and kept for the process lifetime. */
static inline const char *fz_dir(void) {
    static char dir[256];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/ctune-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(dir)) abort();
    }
    return dir;
}

/* fz_dir()/name; the returned buffer is static (one per slot 0..3). */
static inline const char *fz_path(int slot, const char *name) {
    static char p[4][512];
    snprintf(p[slot], sizeof p[slot], "%s/%s", fz_dir(), name);
    return p[slot];
}

static inline void fz_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(data, 1, n, f) != n) abort();
    if (fclose(f)) abort();
}

/* NUL-terminated copy of the input (parsers taking C strings). */
static inline char *fz_str(const uint8_t *d, size_t n) {
    char *s = malloc(n + 1);
    if (!s) abort();
    if (n) memcpy(s, d, n);
    s[n] = 0;
    return s;
}

/* A failing call must leave a one-line message. */
static inline void fz_check_err(ct_status st, const ct_err *err) {
    if (st == CT_OK) return;
    if (!err->msg[0] || strchr(err->msg, '\n')) {
        fprintf(stderr, "fuzz: status %d with bad message \"%s\"\n", (int)st, err->msg);
        abort();
    }
}

#endif
