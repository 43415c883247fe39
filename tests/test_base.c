#include <stdint.h>
#include <stdlib.h>

#include "base/arena.h"
#include "base/file.h"
#include "base/json.h"
#include "ctune/tensor.h"
#include "harness.h"

TEST(base_bf16_roundtrip) {
    float vals[] = {0.0f, 1.0f, -2.5f, 3.14159f, 1e-20f, 65504.0f, -1e30f};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        float r = ct_bf16_to_f32(ct_f32_to_bf16(vals[i]));
        CHECK_NEAR(r, vals[i], fabs(vals[i]) * 0.004);
    }
    CHECK_EQ_INT(ct_f32_to_bf16(1.0f), 0x3f80);
    /* 1 + 2^-8 is a tie between bf16 neighbours: round to even (1.0). */
    CHECK_EQ_INT(ct_f32_to_bf16(1.00390625f), 0x3f80);
    CHECK(isnan(ct_bf16_to_f32(ct_f32_to_bf16(NAN))));
}

TEST(base_f16_roundtrip) {
    CHECK_EQ_INT(ct_f32_to_f16(1.0f), 0x3c00);
    CHECK_EQ_INT(ct_f32_to_f16(-2.0f), 0xc000);
    CHECK_EQ_INT(ct_f32_to_f16(65504.0f), 0x7bff);
    CHECK_EQ_INT(ct_f32_to_f16(1e6f), 0x7c00);
    CHECK_NEAR(ct_f16_to_f32(0x0001), 5.960464477539063e-08, 1e-15);
    for (int h = 0; h < 0x7c00; h += 7) CHECK_EQ_INT(ct_f32_to_f16(ct_f16_to_f32((uint16_t)h)), h);
}

TEST(base_atomic_write) {
    ct_err err = {0};
    const char *dir = ct_test_tmpdir();
    char *p = ct_path_join(dir, "a/b/file.txt");
    char *d = ct_path_join(dir, "a/b");
    CHECK_OK(ct_mkdir_p(d, &err), &err);
    CHECK_OK(ct_write_file_atomic(p, "hello", 5, &err), &err);
    char *buf = NULL;
    size_t n = 0;
    CHECK_OK(ct_read_file(p, &buf, &n, &err), &err);
    CHECK_EQ_INT(n, 5);
    CHECK(buf && memcmp(buf, "hello", 5) == 0);
    free(buf);
    CHECK(ct_read_file("/nonexistent/x", &buf, &n, &err) == CT_ERR_IO);
    CHECK(strstr(err.msg, "/nonexistent/x") != NULL);
    free(p);
    free(d);
}

/* A file of several MiB written in pieces of odd sizes (some larger than stdio's buffer, some
 * straddling it) reads back byte for byte through the mmap (2 MiB pages hinted); an aborted
 * writer leaves the committed file untouched. */
TEST(base_atomic_write_large_then_mmap) {
    ct_err err = {0};
    char *p = ct_path_join(ct_test_tmpdir(), "large.bin");
    size_t n = ((size_t)8 << 20) + 3 * 4096 + 123;
    uint8_t *src = malloc(n);
    for (size_t i = 0; i < n; i++) src[i] = (uint8_t)(i * 2654435761u >> 13);
    ct_atomic_file af;
    CHECK_OK(ct_atomic_open(&af, p, &err), &err);
    static const size_t piece[] = {8, 1000, 4194300, 17, 5000000, 65536};
    for (size_t off = 0, i = 0; off < n; i++) {
        size_t m = piece[i % 6] < n - off ? piece[i % 6] : n - off;
        CHECK_OK(ct_atomic_write(&af, src + off, m, &err), &err);
        off += m;
    }
    CHECK_OK(ct_atomic_commit(&af, &err), &err);
    ct_mmap mm;
    CHECK_OK(ct_mmap_open(&mm, p, &err), &err);
    CHECK_EQ_INT(mm.size, n);
    CHECK(mm.data && memcmp(mm.data, src, n) == 0);
    ct_mmap_close(&mm);
    CHECK_OK(ct_atomic_open(&af, p, &err), &err);
    CHECK_OK(ct_atomic_write(&af, src, 10, &err), &err);
    ct_atomic_abort(&af);
    CHECK_OK(ct_mmap_open(&mm, p, &err), &err); /* the committed file is untouched */
    CHECK_EQ_INT(mm.size, n);
    ct_mmap_close(&mm);
    free(src);
    free(p);
}

TEST(base_json_errors_name_line) {
    ct_err err = {0};
    const char *dir = ct_test_tmpdir();
    char *p = ct_path_join(dir, "bad.json");
    CHECK_OK(ct_write_file_atomic(p, "{\n \"a\": 1,\n \"b\": \n}", 20, &err), &err);
    json_t *j = NULL;
    CHECK(ct_json_load_file(p, &j, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "bad.json:4:") != NULL, "message: %s", err.msg);
    free(p);
}

/* The scratch arena: aligned, stack-like release, and after one pass of a pattern the same
 * pattern is served from one block without further allocation. */
TEST(base_arena) {
    ct_arena a = {0};
    for (int pass = 0; pass < 2; pass++) {
        size_t m0 = ct_arena_mark(&a);
        unsigned char *p = ct_arena_alloc(&a, 100);
        REQUIRE(p);
        CHECK(((uintptr_t)p & 63) == 0);
        memset(p, 1, 100);
        size_t m1 = ct_arena_mark(&a);
        unsigned char *q = ct_arena_alloc(&a, 5000), *r = ct_arena_calloc(&a, 300);
        REQUIRE(q && r);
        CHECK(((uintptr_t)q & 63) == 0 && ((uintptr_t)r & 63) == 0);
        memset(q, 2, 5000);
        CHECK(r[0] == 0 && r[299] == 0);
        ct_arena_release(&a, m1);
        unsigned char *s2 = ct_arena_alloc(&a, 64);
        REQUIRE(s2);
        memset(s2, 3, 64);
        CHECK(p[0] == 1 && p[99] == 1); /* earlier allocations stay intact */
#ifndef __SANITIZE_ADDRESS__
        if (pass == 1) CHECK(a.extra == NULL); /* served from the consolidated block */
#endif
        ct_arena_release(&a, m0);
        CHECK_EQ_INT(ct_arena_mark(&a), 0);
    }
#ifndef __SANITIZE_ADDRESS__
    CHECK(a.cap >= 100 + 5000 + 300);
#endif
    ct_arena_free(&a);
}

/* The vectorised f16 decoder (dtype table) equals the scalar conversion on all 65536 patterns
 * (subnormals, infinities; NaN stays NaN), at every offset of a vector. */
TEST(base_f16_decode_all_patterns) {
    uint16_t *h = malloc(65536 * sizeof *h + 64);
    float *f = malloc(65536 * sizeof *f);
    for (size_t i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    for (size_t off = 0; off < 3; off++) {
        ct_tensor t = {.dtype = CT_DTYPE_F16, .ndim = 1, .shape = {65536}, .data = h};
        ct_tensor_to_f32(&t, off, 65536 - off, f);
        size_t bad = 0;
        for (size_t i = off; i < 65536; i++) {
            float r = ct_f16_to_f32((uint16_t)i), g = f[i - off];
            if (isnan(r) ? !isnan(g) : memcmp(&r, &g, sizeof r) != 0) bad++;
        }
        CHECK_MSG(bad == 0, "f16 decode at offset %zu: %zu patterns differ", off, bad);
    }
    free(h), free(f);
}
