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

/* fuzz_conv: an unknown role containing a newline made a two-line error message; every
 * ct_err message is now one line (control characters escaped). */
TEST(robust_error_messages_are_one_line) {
    ct_err err;
    CHECK_EQ_INT(row_status("{\"messages\": [{\"role\": \"user\", \"content\": \"Q\"}, "
                            "{\"role\": \"as\\nsistant\\t\\u0001\", \"content\": \"A\"}]}",
                            CT_FORMAT_AUTO, &err),
                 CT_ERR_FORMAT);
    CHECK(!strchr(err.msg, '\n') && !strchr(err.msg, '\t') && !strchr(err.msg, 1));
    CHECK_MSG(strstr(err.msg, "as\\nsistant\\t\\x01"), "message: %s", err.msg);
    ct_err_set(&err, CT_ERR_FORMAT, "%s", "a\nb");
    ct_err_prefix(&err, "x\r");
    CHECK_STREQ(err.msg, "x\\r: a\\nb");
    /* a message at the size limit stays NUL-terminated when escaping grows it */
    char big[CT_ERR_MSG_MAX + 8];
    memset(big, '\n', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ct_err_set(&err, CT_ERR_FORMAT, "%s", big);
    CHECK(strlen(err.msg) < CT_ERR_MSG_MAX && !strchr(err.msg, '\n'));
}
