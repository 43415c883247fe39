/* Inputs that must not end early or block: read errors in the middle of a dataset file (EIO and
 * ENOMEM injected through ct_test_stream_hook, a fopencookie stream that fails after N bytes),
 * FIFOs and devices among the data files, and the tokenized cache after such an error. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/file.h"
#include "base/json.h"
#include "ctune/data.h"
#include "harness.h"

/* ---- a stream that fails with `err` after `left` bytes ---- */
typedef struct faulty {
    FILE *real;
    size_t left;
    int err;
} faulty;

static size_t g_fault_after;
static int g_fault_errno;

static ssize_t faulty_read(void *cookie, char *buf, size_t n) {
    faulty *f = cookie;
    if (!f->left) {
        errno = f->err;
        return -1;
    }
    if (n > f->left) n = f->left;
    size_t got = fread(buf, 1, n, f->real);
    f->left -= got;
    return (ssize_t)got;
}

static int faulty_close(void *cookie) {
    faulty *f = cookie;
    fclose(f->real);
    free(f);
    return 0;
}

static FILE *fault_hook(FILE *real, const char *path) {
    (void)path;
    faulty *f = malloc(sizeof *f);
    if (!f) return NULL;
    *f = (faulty){real, g_fault_after, g_fault_errno};
    FILE *w = fopencookie(f, "r", (cookie_io_functions_t){.read = faulty_read, .close = faulty_close});
    if (!w) free(f);
    return w;
}

static void inject(size_t after, int e) {
    g_fault_after = after;
    g_fault_errno = e;
    ct_test_stream_hook = fault_hook;
}

static void no_injection(void) { ct_test_stream_hook = NULL; }

static char *write_tmp(const char *name, const char *text) {
    char *p = ct_path_join(ct_test_tmpdir(), name);
    FILE *f = fopen(p, "wb");
    fputs(text, f);
    fclose(f);
    return p;
}

/* 100 pre-tokenized rows, one per line; returns the byte offset where line `at` starts. */
static char *tokens_file(const char *name, size_t at, size_t *off) {
    char *text = malloc(100 * 64);
    size_t n = 0;
    for (int i = 1; i <= 100; i++) {
        if ((size_t)i == at) *off = n;
        n += (size_t)sprintf(text + n, "{\"input_ids\": [%d, %d, %d]}\n", i, i + 1, i + 2);
    }
    char *p = write_tmp(name, text);
    free(text);
    return p;
}

static ct_status count_row(void *user, ct_conv *conv, const char *where, ct_err *err) {
    (void)conv, (void)where, (void)err;
    (*(size_t *)user)++;
    return CT_OK;
}

/* getline failing with EIO or ENOMEM in the JSONL reader ended the file as if it were complete:
 * training went on with half the rows. Now it is an error naming file:line and the cause. */
TEST(robust_input_jsonl_read_error_is_an_error) {
    size_t off = 0;
    char *path = tokens_file("rows.jsonl", 51, &off);
    const int errs[] = {EIO, ENOMEM};
    const ct_status codes[] = {CT_ERR_IO, CT_ERR_NOMEM};
    for (int k = 0; k < 2; k++) {
        ct_err err = {0};
        size_t rows = 0, bad = 0;
        inject(off + 5, errs[k]); /* in the middle of line 51 */
        ct_status st = ct_read_dataset_file(path, CT_FORMAT_AUTO, NULL, false, &bad, count_row, &rows, &err);
        no_injection();
        CHECK_EQ_INT(st, codes[k]);
        CHECK_EQ_INT(rows, 50);
        char want[64];
        snprintf(want, sizeof want, "rows.jsonl:51: read error: %s", strerror(errs[k]));
        CHECK_MSG(strstr(err.msg, want), "message '%s' lacks '%s'", err.msg, want);
        /* skip_bad does not turn a read error into skipped rows */
        rows = 0;
        inject(off + 5, errs[k]);
        st = ct_read_dataset_file(path, CT_FORMAT_AUTO, NULL, true, &bad, count_row, &rows, &err);
        no_injection();
        CHECK_EQ_INT(st, codes[k]);
        CHECK_EQ_INT(bad, 0);
    }
    /* a fault at the very first byte, and none at all */
    ct_err err = {0};
    size_t rows = 0;
    inject(0, EIO);
    CHECK_EQ_INT(ct_read_dataset_file(path, CT_FORMAT_AUTO, NULL, false, NULL, count_row, &rows, &err), CT_ERR_IO);
    no_injection();
    CHECK(strstr(err.msg, "rows.jsonl:1: read error"));
    rows = 0;
    CHECK_OK(ct_read_dataset_file(path, CT_FORMAT_AUTO, NULL, false, NULL, count_row, &rows, &err), &err);
    CHECK_EQ_INT(rows, 100);
    free(path);
}

/* .json files (and every JSON file ctune reads) went through jansson's file reader, which takes
 * a read error for the end of the input: now a read error, not "invalid JSON". */
TEST(robust_input_json_read_error_is_an_error) {
    char *path = write_tmp("rows.json", "[{\"input_ids\": [1, 2]}, {\"input_ids\": [3, 4]}]");
    ct_err err = {0};
    size_t rows = 0;
    inject(10, EIO);
    CHECK_EQ_INT(ct_read_dataset_file(path, CT_FORMAT_AUTO, NULL, false, NULL, count_row, &rows, &err), CT_ERR_IO);
    CHECK_MSG(strstr(err.msg, "rows.json: read error after 10 bytes: Input/output error"), "%s", err.msg);
    json_t *j = NULL;
    CHECK_EQ_INT(ct_json_load_file(path, &j, &err), CT_ERR_IO);
    char *buf = NULL;
    CHECK_EQ_INT(ct_read_file(path, &buf, NULL, &err), CT_ERR_IO);
    no_injection();
    CHECK(!buf && !j && rows == 0);
    CHECK_OK(ct_json_load_file(path, &j, &err), &err);
    json_decref(j);
    free(path);
}

static size_t count_cache_files(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".ctdc")) n++;
    closedir(d);
    return n;
}

/* The truncated encoding used to be cached, so a rerun without the fault still trained on half
 * the rows. After a read error no cache file is written; the next clean build reads all rows. */
TEST(robust_input_read_error_writes_no_cache) {
    size_t off = 0;
    char *path = tokens_file("cached.jsonl", 40, &off);
    char *cache = ct_path_join(ct_test_tmpdir(), "cache");
    const char *names[] = {path};
    ct_data_args a = {.dataset = names, .n_dataset = 1, .dataset_dir = ct_test_tmpdir(), .template_name = "qwen",
                      .stage = "sft", .cutoff_len = 64, .max_samples = -1, .enable_thinking = CT_THINK_TRUE,
                      .mix_strategy = "concat", .on_bad_sample = "fail", .seed = 42};
    ct_dataset d;
    ct_err err = {0};
    for (int k = 0; k < 2; k++) {
        inject(off + 3, k ? ENOMEM : EIO);
        CHECK(ct_dataset_build(&a, NULL, cache, &d, &err) != CT_OK);
        no_injection();
        CHECK_MSG(strstr(err.msg, "cached.jsonl:40: read error"), "%s", err.msg);
        CHECK_EQ_INT(count_cache_files(cache), 0);
    }
    CHECK_OK(ct_dataset_build(&a, NULL, cache, &d, &err), &err);
    CHECK(!d.stats.from_cache);
    CHECK_EQ_INT(d.train.n, 100);
    ct_dataset_free(&d);
    CHECK_EQ_INT(count_cache_files(cache), 1);
    CHECK_OK(ct_dataset_build(&a, NULL, cache, &d, &err), &err);
    CHECK(d.stats.from_cache);
    CHECK_EQ_INT(d.train.n, 100);
    ct_dataset_free(&d);
    free(cache);
    free(path);
}

/* A FIFO among the data files blocked open() forever, /dev/zero linked in was read until 4 GB
 * were gone. Only regular files are data files, and the error says what was found. The alarm
 * turns a regression (a blocking open) into a failure instead of a hung suite. */
TEST(robust_input_fifo_and_device_in_dataset_dir) {
    const char *tmp = ct_test_tmpdir();
    char *dir = ct_path_join(tmp, "ds");
    REQUIRE(mkdir(dir, 0755) == 0);
    char *a = ct_path_join(dir, "a.jsonl"), *b = ct_path_join(dir, "b.jsonl");
    FILE *f = fopen(a, "w");
    fputs("{\"input_ids\": [1, 2]}\n", f);
    fclose(f);
    REQUIRE(mkfifo(b, 0600) == 0);
    ct_err err = {0};
    size_t rows = 0;
    alarm(60);
    CHECK_EQ_INT(ct_read_dataset_file(dir, CT_FORMAT_AUTO, NULL, false, NULL, count_row, &rows, &err), CT_ERR_IO);
    CHECK_MSG(strstr(err.msg, "b.jsonl: is a FIFO, not a regular file"), "%s", err.msg);
    /* the FIFO named directly, through every reader */
    CHECK_EQ_INT(ct_read_dataset_file(b, CT_FORMAT_AUTO, NULL, false, NULL, count_row, &rows, &err), CT_ERR_IO);
    CHECK_MSG(strstr(err.msg, "is a FIFO"), "%s", err.msg);
    char *buf = NULL;
    CHECK_EQ_INT(ct_read_file(b, &buf, NULL, &err), CT_ERR_IO);
    CHECK(strstr(err.msg, "is a FIFO"));
    ct_mmap m;
    CHECK_EQ_INT(ct_mmap_open(&m, b, &err), CT_ERR_IO);
    CHECK(strstr(err.msg, "is a FIFO"));
    /* in dataset_info.json, and as a dataset name: "is a FIFO", not "not found" */
    char *info = ct_path_join(dir, "dataset_info.json");
    f = fopen(info, "w");
    fputs("{\"pipe\": {\"file_name\": \"b.jsonl\"}}", f);
    fclose(f);
    ct_dataset_info di;
    CHECK_EQ_INT(ct_dataset_info_find(dir, "pipe", &di, &err), CT_ERR_IO);
    CHECK_MSG(strstr(err.msg, "file_name") && strstr(err.msg, "is a FIFO"), "%s", err.msg);
    CHECK_EQ_INT(ct_dataset_info_find(dir, "b.jsonl", &di, &err), CT_ERR_IO);
    CHECK_MSG(strstr(err.msg, "is a FIFO"), "%s", err.msg);
    unlink(b);
    /* /dev/zero linked into the directory */
    if (symlink("/dev/zero", b) == 0) {
        CHECK_EQ_INT(ct_read_dataset_file(dir, CT_FORMAT_AUTO, NULL, false, NULL, count_row, &rows, &err), CT_ERR_IO);
        CHECK_MSG(strstr(err.msg, "b.jsonl: is a character device"), "%s", err.msg);
    }
    alarm(0);
    free(info);
    free(a);
    free(b);
    free(dir);
}

