/* A dataset file read by ct_read_dataset_file: byte 0 bit 0 picks .jsonl (line reader) or .json
 * (one array), bit 1 skip_bad; the rest is the file. Every row handed to the callback must be
 * a checked conversation. */
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
    const char *path = fz_path(0, (d[0] & 1) ? "rows.json" : "rows.jsonl");
    bool skip = d[0] & 2;
    fz_write(path, d + 1, n - 1);
    size_t rows = 0, bad = 0;
    ct_err err = {0};
    ct_status st = ct_read_dataset_file(path, CT_FORMAT_AUTO, NULL, skip, &bad, on_row, &rows, &err);
    fz_check_err(st, &err);
    if (st && !strstr(err.msg, "rows.json")) {
        fprintf(stderr, "error does not name the file: %s\n", err.msg);
        abort();
    }
    unlink(path);
    return 0;
}
