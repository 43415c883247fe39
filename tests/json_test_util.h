/* Shared by the constrained-decoding tests (test_json_constrain.c, test_json_budget.c): one greedy
 * step under a JSON constraint, driven by logits the test makes up. */
#ifndef CT_TESTS_JSON_TEST_UTIL_H
#define CT_TESTS_JSON_TEST_UTIL_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ctune/constrain.h"
#include "ctune/tokenizer.h"
#include "harness.h"

/* Masks logits[V] under c with `left` tokens left (eos: the end-of-sequence id) and takes the
 * largest: false when that is eos; else accepts it and, when text, appends its bytes at *n while
 * they fit in cap - 1 bytes (text stays NUL-terminated). A library error fails the test and
 * returns false too. */
static inline bool json_greedy_step(ct_json_constraint *c, const ct_tokenizer *tok, float *logits, int32_t V,
                                    int32_t eos, int64_t left, char *text, size_t cap, size_t *n) {
    ct_err err = {0};
    if (ct_json_constraint_apply(c, logits, (size_t)V, &eos, 1, left, &err) != CT_OK) {
        ct_test_fail(__FILE__, __LINE__, "apply: %s", err.msg);
        return false;
    }
    int32_t best = 0;
    for (int32_t j = 1; j < V; j++)
        if (logits[j] > logits[best]) best = j;
    if (best == eos) return false;
    if (ct_json_constraint_accept(c, best, &err) != CT_OK) {
        ct_test_fail(__FILE__, __LINE__, "accept %d: %s", best, err.msg);
        return false;
    }
    if (text) {
        char *b = NULL;
        size_t len = 0;
        if (ct_tokenizer_token_bytes(tok, best, &b, &len, &err) != CT_OK) {
            ct_test_fail(__FILE__, __LINE__, "token %d: %s", best, err.msg);
            return false;
        }
        if (*n + len < cap) memcpy(text + *n, b, len), *n += len, text[*n] = 0;
        free(b);
    }
    return true;
}

#endif
