/* src/base/str.c: the one edit distance behind every "did you mean" suggestion. */
#include <stdlib.h>
#include <string.h>

#include "base/str.h"
#include "harness.h"

TEST(base_str_distance) {
    CHECK_EQ_INT(ct_str_distance("", ""), 0);
    CHECK_EQ_INT(ct_str_distance("abc", ""), 3);
    CHECK_EQ_INT(ct_str_distance("", "abc"), 3);
    CHECK_EQ_INT(ct_str_distance("kitten", "sitting"), 3);
    CHECK_EQ_INT(ct_str_distance("learnig_rate", "learning_rate"), 1); /* insertion */
    CHECK_EQ_INT(ct_str_distance("qwen3", "qwen2"), 1);                 /* substitution */
    CHECK_EQ_INT(ct_str_distance("genrate", "generate"), 1);
    CHECK_EQ_INT(ct_str_distance("flaw", "lawn"), 2);
    /* long strings (the old data/strutil copy gave up above 255 bytes) */
    size_t n = 600;
    char *a = malloc(n + 1), *b = malloc(n + 1);
    memset(a, 'x', n);
    memset(b, 'x', n);
    a[n] = b[n] = 0;
    b[n / 2] = 'y';
    CHECK_EQ_INT(ct_str_distance(a, b), 1);
    b[n - 1] = 0;
    CHECK_EQ_INT(ct_str_distance(a, b), 2);
    free(a);
    free(b);
}

static int collect(const char *item, void *ctx) {
    char *out = ctx;
    if (!strcmp(item, "stop")) return 7;
    strcat(out, "[");
    strcat(out, item);
    strcat(out, "]");
    return 0;
}

TEST(base_str_each_item) {
    char out[128] = "";
    CHECK_EQ_INT(ct_each_item(" q_proj, ,v_proj ,  down_proj,", collect, out), 0);
    CHECK(!strcmp(out, "[q_proj][v_proj][down_proj]"));
    out[0] = 0;
    CHECK_EQ_INT(ct_each_item("a,stop,b", collect, out), 7); /* fn's first non-zero ends the walk */
    CHECK(!strcmp(out, "[a]"));
    out[0] = 0;
    CHECK_EQ_INT(ct_each_item(" , ", collect, out), 0);
    CHECK(!strcmp(out, ""));
}
