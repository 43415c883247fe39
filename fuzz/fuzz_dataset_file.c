/* A dataset file read by ct_read_dataset_file: byte 0 bits 0 and 2 pick .jsonl (line reader),
 * .json (one array, or JSON Lines) or .txt (text lines), bit 1 skip_bad, bit 3 max_rows 3; the
 * rest is the file. Every row handed to the callback must be a checked conversation, and every
 * skipped row must name the file. */
#include "ctune/data.h"
#include "fuzz_util.h"

static ct_status on_row(void *user, ct_conv *c, const char *where, ct_err *err) {
    (void)err;
    if (!where || !*where) abort();
    if (c->kind == CT_CONV_MESSAGES && c->n_msgs == 0) abort();
    (*(size_t *)user)++;
    return CT_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 1) return 0;
    static const char *const names[] = {"rows.jsonl", "rows.json", "rows.txt", "rows.jsonl"};
    const char *path = fz_path(0, names[(d[0] & 1) | ((d[0] >> 1) & 2)]);
    fz_write(path, d + 1, n - 1);
    size_t rows = 0;
    ct_bad_rows bad = {0};
    ct_err err = {0};
    ct_read_opts ro = ct_read_opts_default();
    ro.skip_bad = d[0] & 2;
    ro.max_rows = (d[0] & 8) ? 3 : -1;
    ro.bad = &bad;
    ct_status st = ct_read_dataset_file(path, &ro, on_row, &rows, &err);
    if (bad.n > 0 && !strstr(bad.first[0], "rows.")) {
        fprintf(stderr, "a skipped row does not name the file: %s\n", bad.first[0]);
        abort();
    }
    fz_check_err(st, &err);
    if (st && !strstr(err.msg, "rows.")) {
        fprintf(stderr, "error does not name the file: %s\n", err.msg);
        abort();
    }
    unlink(path);
    return 0;
}
