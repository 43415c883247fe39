/* dataset_info.json (LlamaFactory) in a directory holding small data files a.jsonl,
 * b.json, sub/c.jsonl. Looks up several names and reads the file of every entry found with
 * the entry's format and (fuzzed) column/tag names. */
#include "ctune/data.h"
#include "fuzz_util.h"

static const char *const kNames[] = {"demo", "a", "a.jsonl", "b.json", "sub", "../x", "", "remote"};

static ct_status on_row(void *user, ct_conv *c, const char *where, ct_err *err) {
    (void)c, (void)where, (void)err;
    (*(size_t *)user)++;
    return CT_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    static int init;
    if (!init) {
        const char *a = "{\"messages\": [{\"role\": \"user\", \"content\": \"Q\"}, {\"role\": \"assistant\", \"content\": \"A\"}]}\n"
                        "{\"conversations\": [{\"from\": \"human\", \"value\": \"Q\"}, {\"from\": \"gpt\", \"value\": \"A\"}], \"system\": \"S\"}\n"
                        "{\"instruction\": \"I\", \"input\": \"X\", \"output\": \"O\", \"history\": [[\"q\", \"a\"]]}\n";
        fz_write(fz_path(0, "a.jsonl"), a, strlen(a));
        const char *b = "[{\"instruction\": \"I\", \"output\": \"O\"}, {\"text\": \"T\"}, {\"input_ids\": [1, 2]}]";
        fz_write(fz_path(0, "b.json"), b, strlen(b));
        mkdir(fz_path(0, "sub"), 0755);
        fz_write(fz_path(0, "sub/c.jsonl"), a, strlen(a));
        init = 1;
    }
    fz_write(fz_path(0, "dataset_info.json"), d, n);
    for (size_t k = 0; k < sizeof kNames / sizeof *kNames; k++) {
        ct_err err = {0};
        ct_dataset_info info;
        memset(&info, 0, sizeof info);
        ct_status st = ct_dataset_info_find(fz_dir(), kNames[k], &info, &err);
        fz_check_err(st, &err);
        if (st == CT_OK) {
            if (!info.path) abort();
            size_t rows = 0;
            ct_bad_rows bad = {0};
            if (access(info.path, R_OK) == 0) {
                ct_read_opts ro = ct_read_opts_default();
                ro.format = info.format;
                ro.cols = &info.cols;
                ro.skip_bad = k & 1;
                ro.bad = &bad;
                st = ct_read_dataset_file(info.path, &ro, on_row, &rows, &err);
                fz_check_err(st, &err);
            }
            ct_dataset_info_free(&info);
        }
    }
    return 0;
}
