/* Minimal test harness: TEST(name) { ... } registers a test; CHECK* record failures with
 * file:line and keep going; the runner prints "N passed, N failed, N skipped".
 * Run one group with `ctune_tests SUBSTRING`. Tests locate fixtures with ct_test_path(). */
#ifndef CT_TESTS_HARNESS_H
#define CT_TESTS_HARNESS_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef void (*ct_test_fn)(void);
void ct_test_register(const char *name, ct_test_fn fn);
void ct_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void ct_test_skip(const char *why);
/* Path of a file relative to the repository root (tests run from there). */
const char *ct_test_path(const char *rel);
/* ../shared/<rel> when present, else NULL (tests then skip with a clear message). */
const char *ct_test_shared(const char *rel);
/* A fresh empty temporary directory for this test (removed at exit). */
const char *ct_test_tmpdir(void);
/* The compute context tests run in (all cores, exact f32), created on first use. */
struct ct_ctx;
struct ct_ctx *ct_test_ctx(void);

#define TEST(name)                                                                   \
    static void test_##name(void);                                                   \
    __attribute__((constructor)) static void register_##name(void) {                 \
        ct_test_register(#name, test_##name);                                        \
    }                                                                                \
    static void test_##name(void)

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) ct_test_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);           \
    } while (0)
#define CHECK_MSG(cond, ...)                                                         \
    do {                                                                             \
        if (!(cond)) ct_test_fail(__FILE__, __LINE__, __VA_ARGS__);                  \
    } while (0)
#define REQUIRE(cond)                                                                \
    do {                                                                             \
        if (!(cond)) {                                                               \
            ct_test_fail(__FILE__, __LINE__, "REQUIRE(%s)", #cond);                  \
            return;                                                                  \
        }                                                                            \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                           \
    do {                                                                             \
        long long _a = (long long)(a), _b = (long long)(b);                          \
        if (_a != _b) ct_test_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, _a, #b, _b); \
    } while (0)
#define CHECK_STREQ(a, b)                                                            \
    do {                                                                             \
        const char *_a = (a), *_b = (b);                                             \
        if (!_a || !_b || strcmp(_a, _b) != 0)                                       \
            ct_test_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a, _a ? _a : "(null)", _b ? _b : "(null)"); \
    } while (0)
#define CHECK_NEAR(a, b, tol)                                                        \
    do {                                                                             \
        double _a = (double)(a), _b = (double)(b);                                   \
        if (!(fabs(_a - _b) <= (tol)))                                               \
            ct_test_fail(__FILE__, __LINE__, "%s = %.9g, expected %.9g (tol %g)", #a, _a, _b, (double)(tol)); \
    } while (0)
/* Checks a ct_status call returned CT_OK, printing err.msg otherwise. */
#define CHECK_OK(call, errp)                                                         \
    do {                                                                             \
        int _st = (call);                                                            \
        if (_st != 0) ct_test_fail(__FILE__, __LINE__, "%s failed: %s", #call, (errp)->msg); \
    } while (0)

#endif
