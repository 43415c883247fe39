#include "harness.h"

#include "ctune/ctx.h"

#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_TESTS 4096

static struct {
    const char *name;
    ct_test_fn fn;
} tests[MAX_TESTS];
static int n_tests, cur_failed, cur_skipped;
static char tmp_root[256];

void ct_test_register(const char *name, ct_test_fn fn) {
    if (n_tests < MAX_TESTS) {
        tests[n_tests].name = name;
        tests[n_tests].fn = fn;
        n_tests++;
    }
}

void ct_test_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "    %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    cur_failed++;
}

void ct_test_skip(const char *why) {
    fprintf(stderr, "    skipped: %s\n", why);
    cur_skipped = 1;
}

const char *ct_test_path(const char *rel) {
    static __thread char buf[4][1024];
    static __thread int k;
    char *b = buf[k++ & 3];
    snprintf(b, sizeof buf[0], "%s", rel);
    return b;
}

const char *ct_test_shared(const char *rel) {
    static __thread char buf[4][1024];
    static __thread int k;
    char *b = buf[k++ & 3];
    const char *root = getenv("CTUNE_SHARED");
    snprintf(b, sizeof buf[0], "%s/%s", root ? root : "../shared", rel);
    struct stat st;
    return stat(b, &st) == 0 ? b : NULL;
}

static ct_ctx *g_ctx;

struct ct_ctx *ct_test_ctx(void) {
    if (!g_ctx) ct_ctx_new(&g_ctx, 0, NULL);
    return g_ctx;
}

const char *ct_test_tmpdir(void) {
    static char buf[512];
    static int k;
    snprintf(buf, sizeof buf, "%s/t%d", tmp_root, k++);
    mkdir(buf, 0755);
    return buf;
}

static int cmp_tests(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(int argc, char **argv) {
    const char *filter = argc > 1 ? argv[1] : NULL;
    snprintf(tmp_root, sizeof tmp_root, "/tmp/ctune_tests.XXXXXX");
    if (!mkdtemp(tmp_root)) {
        perror("mkdtemp");
        return 2;
    }
    qsort(tests, (size_t)n_tests, sizeof tests[0], cmp_tests);
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < n_tests; i++) {
        if (filter && !strstr(tests[i].name, filter)) continue;
        cur_failed = cur_skipped = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        tests[i].fn();
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
        const char *verdict = cur_failed ? "FAIL" : cur_skipped ? "SKIP" : "ok";
        fprintf(stderr, "  %-4s %s (%.0f ms)\n", verdict, tests[i].name, ms);
        if (cur_failed) failed++;
        else if (cur_skipped) skipped++;
        else passed++;
    }
    ct_ctx_free(g_ctx);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_root);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmp_root);
    printf("unit: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
