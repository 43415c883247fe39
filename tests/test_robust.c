/* Robustness regressions: every crash, hang, leak or silently accepted bad input found by the
 * fuzzers in fuzz/ (docs/robustness.md) is kept here as its minimized input, plus fault
 * injection for the writers (full disk through /dev/full, short writes). */
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "ctune/data.h"
#include "harness.h"

/* Parses one row; returns its status and leaves the message in *err. */
static ct_status row_status(const char *json, ct_format fmt, ct_err *err) {
    ct_conv c;
    memset(err, 0, sizeof *err);
    ct_status st = ct_conv_from_text(json, strlen(json), fmt, NULL, "rows.jsonl:7", &c, err);
    ct_conv_free(&c);
    return st;
}

/* fuzz_conv: pre-tokenized labels were cast to int32 (4294967196 became -100, masked) and
 * negative labels other than -100 were accepted and silently treated as masked. */
TEST(robust_tokens_labels_range) {
    ct_err err;
    CHECK_EQ_INT(row_status("{\"input_ids\": [1, 2], \"labels\": [-100, 2]}", CT_FORMAT_AUTO, &err), CT_OK);
    CHECK_EQ_INT(row_status("{\"input_ids\": [1, 2], \"labels\": [-100, 4294967196]}", CT_FORMAT_AUTO, &err),
                 CT_ERR_FORMAT);
    CHECK(strstr(err.msg, "rows.jsonl:7") && strstr(err.msg, "labels[1]"));
    CHECK_EQ_INT(row_status("{\"input_ids\": [1, 2], \"labels\": [-5, 2]}", CT_FORMAT_TOKENS, &err), CT_ERR_FORMAT);
    CHECK(strstr(err.msg, "labels[0]"));
    CHECK_EQ_INT(row_status("{\"input_ids\": [1, 2], \"labels\": [1, 2.5]}", CT_FORMAT_TOKENS, &err), CT_ERR_FORMAT);
}

