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
        size_t rows = 0;
        ct_bad_rows bad = {0};
        ct_read_opts ro = ct_read_opts_default(), skip = ro;
        skip.skip_bad = true, skip.bad = &bad;
        inject(off + 5, errs[k]); /* in the middle of line 51 */
        ct_status st = ct_read_dataset_file(path, &ro, count_row, &rows, &err);
        no_injection();
        CHECK_EQ_INT(st, codes[k]);
        CHECK_EQ_INT(rows, 50);
        char want[64];
        snprintf(want, sizeof want, "rows.jsonl:51: read error: %s", strerror(errs[k]));
        CHECK_MSG(strstr(err.msg, want), "message '%s' lacks '%s'", err.msg, want);
        /* skip_bad does not turn a read error into skipped rows */
        rows = 0;
        inject(off + 5, errs[k]);
        st = ct_read_dataset_file(path, &skip, count_row, &rows, &err);
        no_injection();
        CHECK_EQ_INT(st, codes[k]);
        CHECK_EQ_INT(bad.n, 0);
    }
    /* a fault at the very first byte, and none at all */
    ct_err err = {0};
    size_t rows = 0;
    inject(0, EIO);
    CHECK_EQ_INT(ct_read_dataset_file(path, NULL, count_row, &rows, &err), CT_ERR_IO);
    no_injection();
    CHECK(strstr(err.msg, "rows.jsonl:1: read error"));
    rows = 0;
    CHECK_OK(ct_read_dataset_file(path, NULL, count_row, &rows, &err), &err);
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
    CHECK_EQ_INT(ct_read_dataset_file(path, NULL, count_row, &rows, &err), CT_ERR_IO);
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

/* LlamaFactory's .txt datasets (one row per line) and the .jsonl-holding-an-array check read
 * through the same layer: a read error ends with the error, never as a short file, even with
 * skip_bad; a FIFO named .txt or .jsonl is refused without blocking. */
TEST(robust_input_txt_and_jsonl_sniff) {
    char *text = malloc(100 * 16);
    size_t n = 0, off = 0;
    for (int i = 1; i <= 100; i++) {
        if (i == 51) off = n;
        n += (size_t)sprintf(text + n, "line %d\n", i);
    }
    char *path = write_tmp("rows.txt", text);
    free(text);
    ct_bad_rows bad = {0};
    ct_read_opts skip = ct_read_opts_default();
    skip.skip_bad = true, skip.bad = &bad;
    ct_err err = {0};
    size_t rows = 0;
    inject(off + 2, EIO);
    CHECK_EQ_INT(ct_read_dataset_file(path, &skip, count_row, &rows, &err), CT_ERR_IO);
    no_injection();
    CHECK_MSG(strstr(err.msg, "rows.txt:51: read error: Input/output error"), "%s", err.msg);
    CHECK_EQ_INT(rows, 50);
    CHECK_EQ_INT(bad.n, 0);
    rows = 0;
    CHECK_OK(ct_read_dataset_file(path, &skip, count_row, &rows, &err), &err);
    CHECK_EQ_INT(rows, 100);
    /* the first byte of a .jsonl (array or lines?) unreadable */
    char *jl = tokens_file("sniff.jsonl", 1, &off);
    inject(0, EIO);
    CHECK_EQ_INT(ct_read_dataset_file(jl, NULL, count_row, &rows, &err), CT_ERR_IO);
    no_injection();
    CHECK_MSG(strstr(err.msg, "sniff.jsonl:1: read error"), "%s", err.msg);
    /* FIFOs with data-file names */
    const char *names[] = {"pipe.txt", "pipe.jsonl"};
    alarm(60);
    for (int k = 0; k < 2; k++) {
        char *p = ct_path_join(ct_test_tmpdir(), names[k]);
        REQUIRE(mkfifo(p, 0600) == 0);
        CHECK_EQ_INT(ct_read_dataset_file(p, &skip, count_row, &rows, &err), CT_ERR_IO);
        CHECK_MSG(strstr(err.msg, "is a FIFO"), "%s", err.msg);
        unlink(p);
        free(p);
    }
    alarm(0);
    free(jl);
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
    CHECK_EQ_INT(ct_read_dataset_file(dir, NULL, count_row, &rows, &err), CT_ERR_IO);
    CHECK_MSG(strstr(err.msg, "b.jsonl: is a FIFO, not a regular file"), "%s", err.msg);
    /* the FIFO named directly, through every reader */
    CHECK_EQ_INT(ct_read_dataset_file(b, NULL, count_row, &rows, &err), CT_ERR_IO);
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
    /* dataset_info.json itself a FIFO: named, not skipped as if absent */
    unlink(info);
    REQUIRE(mkfifo(info, 0600) == 0);
    CHECK_EQ_INT(ct_dataset_info_find(dir, "a.jsonl", &di, &err), CT_ERR_IO);
    CHECK_MSG(strstr(err.msg, "dataset_info.json: is a FIFO"), "%s", err.msg);
    unlink(info);
    unlink(b);
    /* /dev/zero linked into the directory */
    if (symlink("/dev/zero", b) == 0) {
        CHECK_EQ_INT(ct_read_dataset_file(dir, NULL, count_row, &rows, &err), CT_ERR_IO);
        CHECK_MSG(strstr(err.msg, "b.jsonl: is a character device"), "%s", err.msg);
    }
    alarm(0);
    free(info);
    free(a);
    free(b);
    free(dir);
}

/* ---- the tokenized-cache key ---- */

typedef struct key_case {
    const char *what, *info; /* dataset_info.json text for dataset "d" */
} key_case;

static void write_file(const char *dir, const char *name, const char *text) {
    char *p = ct_path_join(dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    free(p);
}

/* The key ignored dataset_info.json: changing num_samples, columns, formatting or tags reused the
 * old encoding. Each variant below must miss the cache on its first build and hit on its second,
 * and must encode differently from the base entry. */
TEST(robust_input_cache_key_covers_dataset_info) {
    ct_tokenizer *tok = NULL;
    ct_err err = {0};
    REQUIRE(ct_tokenizer_load(ct_test_path("tests/fixtures/tok/qwen3_5-synth"), &tok, &err) == CT_OK);
    char *dir = ct_path_join(ct_test_tmpdir(), "keyds"), *cache = ct_path_join(ct_test_tmpdir(), "keycache");
    REQUIRE(mkdir(dir, 0755) == 0);
    write_file(dir, "alpaca.jsonl",
               "{\"q\": \"hello\", \"x\": \"other question\", \"a\": \"hi\", \"b\": \"bye now\"}\n"
               "{\"q\": \"two\", \"x\": \"second other\", \"a\": \"2\", \"b\": \"deux\"}\n");
    write_file(dir, "chat.jsonl",
               "{\"m\": [{\"from\": \"human\", \"value\": \"one\", \"role\": \"user\", \"content\": \"uno\"}, "
               "{\"from\": \"gpt\", \"value\": \"two\", \"role\": \"assistant\", \"content\": \"dos\"}]}\n");
    static const key_case cases[] = {
        {"base", "{\"d\": {\"file_name\": \"alpaca.jsonl\", \"columns\": {\"prompt\": \"q\", \"response\": \"a\"}}}"},
        {"num_samples", "{\"d\": {\"file_name\": \"alpaca.jsonl\", \"num_samples\": 1, "
                        "\"columns\": {\"prompt\": \"q\", \"response\": \"a\"}}}"},
        {"columns", "{\"d\": {\"file_name\": \"alpaca.jsonl\", \"columns\": {\"prompt\": \"x\", \"response\": \"b\"}}}"},
        {"formatting", "{\"d\": {\"file_name\": \"chat.jsonl\", \"formatting\": \"sharegpt\", \"columns\": {\"messages\": \"m\"}}}"},
        {"tags", "{\"d\": {\"file_name\": \"chat.jsonl\", \"formatting\": \"sharegpt\", \"columns\": {\"messages\": \"m\"}, "
                 "\"tags\": {\"role_tag\": \"role\", \"content_tag\": \"content\", \"user_tag\": \"user\", "
                 "\"assistant_tag\": \"assistant\"}}}"},
    };
    const char *names[] = {"d"};
    ct_data_args a = {.dataset = names, .n_dataset = 1, .dataset_dir = dir, .template_name = "qwen", .stage = "sft",
                      .cutoff_len = 64, .max_samples = -1, .enable_thinking = CT_THINK_TRUE, .mix_strategy = "concat",
                      .on_bad_sample = "fail", .seed = 42};
    size_t n_tokens[5] = {0};
    int32_t first_trained[5] = {0};
    for (size_t i = 0; i < 5; i++) {
        write_file(dir, "dataset_info.json", cases[i].info);
        for (int pass = 0; pass < 2; pass++) {
            ct_dataset d;
            if (ct_dataset_build(&a, tok, cache, &d, &err)) {
                CHECK_MSG(false, "%s: %s", cases[i].what, err.msg);
                continue;
            }
            CHECK_MSG(d.stats.from_cache == (pass == 1), "%s: pass %d from_cache %d", cases[i].what, pass,
                      d.stats.from_cache);
            n_tokens[i] = d.train.n_tokens;
            for (size_t k = 0; k < d.train.n_tokens; k++)
                if (d.train.labels[k] != CT_IGNORE_INDEX) {
                    first_trained[i] = d.train.labels[k];
                    break;
                }
            ct_dataset_free(&d);
        }
    }
    for (size_t i = 1; i < 5; i++)
        CHECK_MSG(n_tokens[i] != n_tokens[i - 1] || first_trained[i] != first_trained[i - 1],
                  "%s encodes like %s", cases[i].what, cases[i - 1].what);
    /* back to the base entry: its cache file is still valid */
    write_file(dir, "dataset_info.json", cases[0].info);
    ct_dataset d;
    CHECK_OK(ct_dataset_build(&a, tok, cache, &d, &err), &err);
    CHECK(d.stats.from_cache && d.train.n_tokens == n_tokens[0]);
    ct_dataset_free(&d);
    ct_tokenizer_free(tok);
    free(dir);
    free(cache);
}

/* A directory dataset hashed only its own path and stat: editing a file inside it (same size, the
 * directory's mtime unchanged) reused the old encoding. Now the files' names and contents count. */
TEST(robust_input_cache_key_covers_directory_contents) {
    char *dir = ct_path_join(ct_test_tmpdir(), "dirds"), *cache = ct_path_join(ct_test_tmpdir(), "dircache");
    REQUIRE(mkdir(dir, 0755) == 0);
    write_file(dir, "a.jsonl", "{\"input_ids\": [1, 2, 3]}\n");
    const char *names[] = {dir};
    ct_data_args a = {.dataset = names, .n_dataset = 1, .dataset_dir = ct_test_tmpdir(), .template_name = "qwen",
                      .stage = "sft", .cutoff_len = 64, .max_samples = -1, .enable_thinking = CT_THINK_TRUE,
                      .mix_strategy = "concat", .on_bad_sample = "fail", .seed = 42};
    const char *contents[] = {"{\"input_ids\": [1, 2, 3]}\n", "{\"input_ids\": [7, 8, 9]}\n"};
    ct_err err = {0};
    for (int k = 0; k < 2; k++) {
        write_file(dir, "a.jsonl", contents[k]);
        ct_dataset d;
        CHECK_OK(ct_dataset_build(&a, NULL, cache, &d, &err), &err);
        CHECK_MSG(!d.stats.from_cache, "edit %d: stale cache hit", k);
        CHECK(d.train.n == 1 && d.train.ids[0] == (k ? 7 : 1));
        ct_dataset_free(&d);
    }
    /* a new file in the directory */
    write_file(dir, "b.jsonl", "{\"input_ids\": [4, 5]}\n");
    ct_dataset d;
    CHECK_OK(ct_dataset_build(&a, NULL, cache, &d, &err), &err);
    CHECK(!d.stats.from_cache && d.train.n == 2);
    ct_dataset_free(&d);
    free(dir);
    free(cache);
}

/* The key was formatted with snprintf into a 1 KiB stack buffer and hashed with the untruncated
 * length: a ~1 KiB model path read past the buffer (ASan), and two paths differing after the
 * first KiB shared a key. */
TEST(robust_input_cache_key_long_paths) {
    size_t off = 0;
    char *path = tokens_file("long.jsonl", 1, &off);
    char *cache = ct_path_join(ct_test_tmpdir(), "longcache");
    char tdir[3000];
    memset(tdir, 'm', sizeof tdir - 1);
    tdir[0] = '/';
    tdir[sizeof tdir - 1] = 0;
    const char *names[] = {path};
    ct_data_args a = {.dataset = names, .n_dataset = 1, .dataset_dir = ct_test_tmpdir(), .template_name = "qwen",
                      .stage = "sft", .cutoff_len = 64, .max_samples = -1, .enable_thinking = CT_THINK_TRUE,
                      .mix_strategy = "concat", .on_bad_sample = "fail", .seed = 42, .tokenizer_dir = tdir};
    ct_err err = {0};
    ct_dataset d;
    CHECK_OK(ct_dataset_build(&a, NULL, cache, &d, &err), &err);
    CHECK(!d.stats.from_cache);
    ct_dataset_free(&d);
    CHECK_OK(ct_dataset_build(&a, NULL, cache, &d, &err), &err);
    CHECK(d.stats.from_cache);
    ct_dataset_free(&d);
    tdir[2500] = 'n'; /* differs only after the first 2 KiB */
    CHECK_OK(ct_dataset_build(&a, NULL, cache, &d, &err), &err);
    CHECK(!d.stats.from_cache);
    ct_dataset_free(&d);
    free(cache);
    free(path);
}
