/* safetensors writer / loader, Python-compatible JSON, CRC-32C. */
#include <stdlib.h>
#include <math.h>
#include <sys/stat.h>

#include "base/file.h"
#include "harness.h"
#include "io/crc32c.h"
#include "io/pyjson.h"
#include "io/safetensors.h"
#include "io/st_writer.h"

/* Writes buf[0..n) to a fresh file in the test's temp dir and opens it with the reader. */
static ct_status open_bytes(const uint8_t *buf, size_t n, const char *name, ct_st **out, ct_err *err) {
    char *path = ct_path_join(ct_test_tmpdir(), name);
    ct_status s = ct_write_file_atomic(path, buf, n, err);
    if (!s) s = ct_st_open(path, out, err);
    free(path);
    return s;
}

static ct_tensor f32_tensor(float *data, int ndim, const int64_t *shape) {
    ct_tensor t = {0};
    t.dtype = CT_DTYPE_F32;
    t.ndim = ndim;
    for (int i = 0; i < ndim; i++) t.shape[i] = shape[i];
    t.data = data;
    return t;
}

/* Expected bytes are the ones the safetensors crate's own unit tests assert
 * (test_serialization, test_empty, test_serialization_forced_alignement). */
TEST(infra_st_exact_bytes_single_tensor) {
    ct_err err = {0};
    float v[6] = {0, 1, 2, 3, 4, 5};
    ct_st_item it = ct_st_item_of("attn.0", f32_tensor(v, 3, (int64_t[]){1, 2, 3}));
    uint8_t *buf = NULL;
    size_t n = 0;
    CHECK_OK(ct_st_serialize(&it, 1, NULL, &buf, &n, &err), &err);
    const char *hdr = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
    REQUIRE(buf);
    CHECK_EQ_INT(n, 8 + 64 + 24);
    CHECK_EQ_INT(buf[0], 64);
    CHECK(memcmp(buf + 8, hdr, strlen(hdr)) == 0);
    CHECK_EQ_INT(strlen(hdr), 64);
    CHECK(memcmp(buf + 72, v, 24) == 0);
    free(buf);

    it.name = "attn0";
    it.src.ndim = 4;
    it.src.shape[0] = 1, it.src.shape[1] = 1, it.src.shape[2] = 2, it.src.shape[3] = 3;
    CHECK_OK(ct_st_serialize(&it, 1, NULL, &buf, &n, &err), &err);
    const char *hdr2 = "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       ";
    REQUIRE(buf);
    CHECK_EQ_INT(buf[0], 72);
    CHECK(memcmp(buf + 8, hdr2, 72) == 0);
    free(buf);
}

TEST(infra_st_exact_bytes_empty_and_metadata) {
    ct_err err = {0};
    uint8_t *buf = NULL;
    size_t n = 0;
    CHECK_OK(ct_st_serialize(NULL, 0, NULL, &buf, &n, &err), &err);
    CHECK_EQ_INT(n, 16);
    CHECK(buf && memcmp(buf, "\x08\0\0\0\0\0\0\0{}      ", 16) == 0);
    free(buf);
    const char *meta[] = {"framework", "pt", NULL};
    CHECK_OK(ct_st_serialize(NULL, 0, meta, &buf, &n, &err), &err);
    CHECK_EQ_INT(n, 48);
    CHECK(buf && memcmp(buf, "\x28\0\0\0\0\0\0\0{\"__metadata__\":{\"framework\":\"pt\"}}     ", 48) == 0);
    free(buf);
}

TEST(infra_st_order_alignment_then_name) {
    ct_err err = {0};
    float f[2] = {1, 2};
    uint16_t h[2] = {0x3f80, 0x4000};
    int64_t l[1] = {7};
    ct_tensor tb = {.dtype = CT_DTYPE_BF16, .ndim = 1, .shape = {2}, .data = h};
    ct_tensor tl = {.dtype = CT_DTYPE_I64, .ndim = 1, .shape = {1}, .data = l};
    ct_st_item items[] = {
        ct_st_item_of("b.weight", f32_tensor(f, 1, (int64_t[]){2})),
        ct_st_item_of("a.bf16", tb),
        ct_st_item_of("a.weight", f32_tensor(f, 1, (int64_t[]){2})),
        ct_st_item_of("z.ids", tl),
    };
    uint8_t *buf = NULL;
    size_t n = 0;
    CHECK_OK(ct_st_serialize(items, 4, CT_ST_META_PT, &buf, &n, &err), &err);
    REQUIRE(buf);
    const char *hdr = (const char *)buf + 8;
    const char *pm = strstr(hdr, "__metadata__"), *pz = strstr(hdr, "z.ids"),
               *pa = strstr(hdr, "a.weight"), *pb = strstr(hdr, "b.weight"),
               *ph = strstr(hdr, "a.bf16");
    REQUIRE(pm && pz && pa && pb && ph);
    CHECK(pm < pz && pz < pa && pa < pb && pb < ph); /* I64, F32 (by name), BF16 */
    CHECK(strstr(hdr, "\"z.ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}"));
    CHECK(strstr(hdr, "\"a.bf16\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[24,28]}"));
    uint64_t hl = 0;
    for (int i = 0; i < 8; i++) hl |= (uint64_t)buf[i] << (8 * i);
    CHECK_EQ_INT(hl % 8, 0);
    /* every tensor's data offset (8 + header + begin) is 8-byte aligned in the file */
    const char *zo = strstr(hdr, "\"z.ids\"");
    REQUIRE(zo);
    CHECK_EQ_INT((8 + hl) % 8, 0);
    ct_st *sb = NULL;
    CHECK_OK(open_bytes(buf, n, "order.safetensors", &sb, &err), &err);
    REQUIRE(sb);
    CHECK_EQ_INT(ct_st_count(sb), 4);
    CHECK_STREQ(ct_st_metadata(sb, "format"), "pt");
    const ct_tensor *e = ct_st_get(sb, "a.bf16");
    REQUIRE(e);
    CHECK(e->dtype == CT_DTYPE_BF16 && memcmp(e->data, h, 4) == 0);
    e = ct_st_get(sb, "z.ids");
    REQUIRE(e);
    CHECK_EQ_INT(((const int64_t *)e->data)[0], 7);
    CHECK_EQ_INT((uintptr_t)e->data % 8, 0);
    ct_st_close(sb);
    free(buf);
}

TEST(infra_st_convert_bf16_rne_roundtrip_file) {
    ct_err err = {0};
    enum { N = 200000 }; /* > one conversion chunk */
    float *v = malloc(N * sizeof *v);
    REQUIRE(v);
    for (int i = 0; i < N; i++) v[i] = sinf((float)i * 0.01f) * 3.0f + 1.00390625f * (i % 3);
    ct_st_item it = {"w", f32_tensor(v, 2, (int64_t[]){400, 500}), CT_DTYPE_BF16};
    char *path = ct_path_join(ct_test_tmpdir(), "conv.safetensors");
    CHECK_OK(ct_st_write(path, &it, 1, CT_ST_META_PT, &err), &err);
    uint64_t expect = 0;
    CHECK_OK(ct_st_file_size(&it, 1, CT_ST_META_PT, &expect, &err), &err);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (uint64_t)st.st_size == expect);
    ct_st *sb = NULL;
    CHECK_OK(ct_st_open(path, &sb, &err), &err);
    const ct_tensor *e = sb ? ct_st_get(sb, "w") : NULL;
    REQUIRE(e);
    CHECK(e->dtype == CT_DTYPE_BF16 && e->shape[0] == 400 && e->shape[1] == 500);
    const uint16_t *h = e->data;
    int bad = 0;
    for (int i = 0; i < N; i++) bad += h[i] != ct_f32_to_bf16(v[i]);
    CHECK_EQ_INT(bad, 0);
    ct_st_close(sb);
    free(path);
    free(v);
}

TEST(infra_st_errors) {
    ct_err err = {0};
    float f[1] = {1};
    ct_st_item items[2] = {ct_st_item_of("x", f32_tensor(f, 1, (int64_t[]){1})),
                           ct_st_item_of("x", f32_tensor(f, 1, (int64_t[]){1}))};
    uint8_t *buf;
    size_t n;
    CHECK(ct_st_serialize(items, 2, NULL, &buf, &n, &err) == CT_ERR_ARG);
    CHECK(strstr(err.msg, "duplicate") && strstr(err.msg, "x"));
    int32_t iv = 3;
    ct_tensor ti = {.dtype = CT_DTYPE_I32, .ndim = 1, .shape = {1}, .data = &iv};
    ct_st_item bad = {"ids", ti, CT_DTYPE_F32};
    CHECK(ct_st_serialize(&bad, 1, NULL, &buf, &n, &err) == CT_ERR_ARG);
    CHECK(strstr(err.msg, "ids") != NULL);
    /* A file used as a directory: the error names the path. */
    char *file = ct_path_join(ct_test_tmpdir(), "plainfile");
    CHECK_OK(ct_write_file_atomic(file, "x", 1, &err), &err);
    char *path = ct_path_join(file, "a.safetensors");
    CHECK(ct_st_write(path, items, 1, NULL, &err) == CT_ERR_IO);
    CHECK(strstr(err.msg, "plainfile/a.safetensors") != NULL);
    free(path);
    free(file);
}

TEST(infra_st_loader_rejects_corrupt) {
    ct_err err = {0};
    float v[4] = {1, 2, 3, 4};
    ct_st_item it = ct_st_item_of("t", f32_tensor(v, 1, (int64_t[]){4}));
    uint8_t *buf;
    size_t n;
    CHECK_OK(ct_st_serialize(&it, 1, NULL, &buf, &n, &err), &err);
    ct_st *sb = NULL;
    CHECK(open_bytes(buf, n - 1, "trunc.safetensors", &sb, &err) != CT_OK); /* truncated data */
    CHECK(sb == NULL);
    CHECK(strstr(err.msg, "trunc") != NULL);
    buf[0] = 0xff; /* header length beyond the file */
    CHECK(open_bytes(buf, n, "badlen.safetensors", &sb, &err) == CT_ERR_FORMAT);
    CHECK(open_bytes(buf, 4, "tiny.safetensors", &sb, &err) == CT_ERR_FORMAT);
    free(buf);
}

TEST(infra_pyjson_matches_python) {
    char b[64];
    struct { double x; const char *s; } cases[] = {
        {0.05, "0.05"}, {1e-5, "1e-05"}, {2e-5, "2e-05"}, {0.0001, "0.0001"}, {16.0, "16.0"},
        {1e16, "1e+16"}, {123456789012345.0, "123456789012345.0"}, {0.1 + 0.2, "0.30000000000000004"},
        {-2.5, "-2.5"}, {1.5e300, "1.5e+300"}, {0.0, "0.0"}, {3.0e-310, "3e-310"},
        {1234.5678, "1234.5678"}, {9999999999999998.0, "9999999999999998.0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ct_pyjson_float(cases[i].x, b, sizeof b);
        CHECK_STREQ(b, cases[i].s);
    }
    json_t *o = json_pack("{s:i, s:[s,s], s:{}, s:n, s:b, s:f, s:s}", "r", 8, "target_modules",
                          "q_proj", "v_proj", "rank_pattern", "alpha", "lora_dropout", 0, "a",
                          0.1, "name", "caf\xc3\xa9 \xf0\x9f\x98\x80\n\"");
    char *s = ct_pyjson_dumps(o, 2, true);
    CHECK_STREQ(s, "{\n  \"a\": 0.1,\n  \"alpha\": null,\n  \"lora_dropout\": false,\n"
                   "  \"name\": \"caf\\u00e9 \\ud83d\\ude00\\n\\\"\",\n  \"r\": 8,\n"
                   "  \"rank_pattern\": {},\n  \"target_modules\": [\n    \"q_proj\",\n"
                   "    \"v_proj\"\n  ]\n}");
    free(s);
    s = ct_pyjson_dumps(o, -1, false);
    CHECK_STREQ(s, "{\"r\": 8, \"target_modules\": [\"q_proj\", \"v_proj\"], \"rank_pattern\": {}, "
                   "\"alpha\": null, \"lora_dropout\": false, \"a\": 0.1, \"name\": "
                   "\"caf\\u00e9 \\ud83d\\ude00\\n\\\"\"}");
    free(s);
    json_decref(o);
}

TEST(infra_crc32c_known_values) {
    /* RFC 3720 / iSCSI test vectors. */
    uint8_t zeros[32] = {0}, ones[32], inc[32];
    for (int i = 0; i < 32; i++) ones[i] = 0xff, inc[i] = (uint8_t)i;
    CHECK_EQ_INT(ct_crc32c(zeros, 32), 0x8a9136aa);
    CHECK_EQ_INT(ct_crc32c(ones, 32), 0x62a8ab43);
    CHECK_EQ_INT(ct_crc32c(inc, 32), 0x46dd794e);
    CHECK_EQ_INT(ct_crc32c("123456789", 9), 0xe3069283);
    CHECK_EQ_INT(ct_crc32c_update(ct_crc32c("1234", 4), "56789", 5), 0xe3069283);
}
