/* safetensors reader and model loader on corrupted inputs: every error is a clean status with a
 * message naming the file and the tensor or key; nothing crashes (run under ASan). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/file.h"
#include "ctune/model.h"
#include "harness.h"
#include "io/safetensors.h"

/* Writes u64 header length (hlen_override when nonzero) + header + data_len bytes of data. */
static char *write_st(const char *name, const char *header, size_t data_len,
                      uint64_t hlen_override) {
    char *path = ct_path_join(ct_test_tmpdir(), name);
    FILE *f = fopen(path, "wb");
    uint64_t n = hlen_override ? hlen_override : strlen(header);
    unsigned char len[8];
    for (int i = 0; i < 8; i++) len[i] = (unsigned char)(n >> (8 * i));
    fwrite(len, 1, 8, f);
    fwrite(header, 1, strlen(header), f);
    for (size_t i = 0; i < data_len; i++) fputc((int)(i & 0xff), f);
    fclose(f);
    return path;
}

/* Expects ct_st_open to fail with `code` and a message containing each of the words. */
static void expect_fail(const char *header, size_t data_len, uint64_t hlen, ct_status code,
                        const char *w1, const char *w2) {
    char *path = write_st("x.safetensors", header, data_len, hlen);
    ct_err err = {0};
    ct_st *st = NULL;
    ct_status s = ct_st_open(path, &st, &err);
    CHECK_MSG(s == code, "header %s: status %d, expected %d (%s)", header, s, code, err.msg);
    CHECK_MSG(strstr(err.msg, "x.safetensors") != NULL, "message lacks the file: %s", err.msg);
    CHECK_MSG(!w1 || strstr(err.msg, w1), "message lacks '%s': %s", w1, err.msg);
    CHECK_MSG(!w2 || strstr(err.msg, w2), "message lacks '%s': %s", w2, err.msg);
    CHECK(st == NULL);
    free(path);
}

TEST(safetensors_valid_and_lookup) {
    /* a: F32 [2,2] = 16 bytes, b: BF16 [3] = 6 bytes at offset 16 */
    const char *h = "{\"__metadata__\":{\"format\":\"pt\"},"
                    "\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[16,22]},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}  ";
    char *path = write_st("ok.safetensors", h, 22, 0);
    ct_err err = {0};
    ct_st *st = NULL;
    CHECK_OK(ct_st_open(path, &st, &err), &err);
    if (st) {
        CHECK_EQ_INT(ct_st_count(st), 2);
        CHECK_STREQ(ct_st_name(st, 0), "a");
        const ct_tensor *a = ct_st_get(st, "a"), *b = ct_st_get(st, "b");
        CHECK(a && a->dtype == CT_DTYPE_F32 && a->ndim == 2 && a->shape[1] == 2);
        CHECK(b && b->dtype == CT_DTYPE_BF16 && b->shape[0] == 3);
        CHECK(b && ((const unsigned char *)b->data)[0] == 16); /* data byte i == i */
        CHECK(ct_st_get(st, "c") == NULL);
        CHECK_STREQ(ct_st_metadata(st, "format"), "pt");
        ct_st_close(st);
    }
    free(path);
}

TEST(safetensors_unaligned_tensor_is_copied) {
    /* F32 tensor at byte offset 2 of the data buffer: view must be 4-byte aligned */
    const char *h = "{\"a\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}";
    char *path = write_st("u.safetensors", h, 6, 0);
    ct_err err = {0};
    ct_st *st = NULL;
    CHECK_OK(ct_st_open(path, &st, &err), &err);
    if (st) {
        const ct_tensor *b = ct_st_get(st, "b");
        CHECK(b && ((uintptr_t)b->data & 3) == 0);
        CHECK(b && ((const unsigned char *)b->data)[0] == 2);
        ct_st_close(st);
    }
    free(path);
}

TEST(safetensors_corrupt_inputs) {
    const char *ok1 = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    /* truncated data: tensor ends past the file */
    expect_fail(ok1, 5, 0, CT_ERR_FORMAT, "'w'", "outside");
    /* header length lying (bigger than the file) */
    expect_fail(ok1, 8, 4096, CT_ERR_FORMAT, "header length", "larger than the file");
    /* header length over 100 MB */
    expect_fail(ok1, 8, 200000000, CT_ERR_FORMAT, "100 MB", NULL);
    /* bad JSON */
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],", 8, 0, CT_ERR_FORMAT, "JSON", NULL);
    /* not an object */
    expect_fail("[1,2]", 0, 0, CT_ERR_FORMAT, "'{'", NULL);
    /* unknown dtype */
    expect_fail("{\"w\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, 0,
                CT_ERR_UNSUPPORTED, "'w'", "F8_E4M3");
    /* shape * dtype size != byte range */
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8, 0,
                CT_ERR_FORMAT, "'w'", "12 bytes");
    /* offsets reversed */
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]}}", 8, 0,
                CT_ERR_FORMAT, "'w'", "data_offsets");
    /* overlap */
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                12, 0, CT_ERR_FORMAT, "overlap", NULL);
    /* hole */
    expect_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}",
                12, 0, CT_ERR_FORMAT, "'b'", "hole");
    /* trailing bytes not covered by any tensor */
    expect_fail(ok1, 12, 0, CT_ERR_FORMAT, "12 bytes", NULL);
    /* duplicate names */
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                8, 0, CT_ERR_FORMAT, "duplicate", "w");
    /* negative / non-integer shape */
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, 0,
                CT_ERR_FORMAT, "'w'", "shape");
    /* huge shape must not overflow into a small byte count */
    expect_fail("{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],"
                "\"data_offsets\":[0,0]}}", 0, 0, CT_ERR_FORMAT, "'w'", NULL);
    /* file shorter than the 8-byte length */
    char *p = ct_path_join(ct_test_tmpdir(), "tiny.safetensors");
    ct_err err = {0};
    CHECK_OK(ct_write_file_atomic(p, "abc", 3, &err), &err);
    ct_st *st = NULL;
    CHECK(ct_st_open(p, &st, &err) == CT_ERR_FORMAT && strstr(err.msg, "tiny.safetensors"));
    free(p);
}

/* Copies the files of tests/fixtures/<name> into a temp dir; returns the dir. */
static const char *copy_fixture(const char *name) {
    const char *dst = ct_test_tmpdir();
    static const char *files[] = {"config.json", "model.safetensors", "generation_config.json",
                                  "model.safetensors.index.json",
                                  "model-00001-of-00002.safetensors",
                                  "model-00002-of-00002.safetensors"};
    ct_err err = {0};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char src[512];
        snprintf(src, sizeof src, "tests/fixtures/%s/%s", name, files[i]);
        if (!ct_file_exists(src)) continue;
        char *buf = NULL;
        size_t n = 0;
        CHECK_OK(ct_read_file(src, &buf, &n, &err), &err);
        char *d = ct_path_join(dst, files[i]);
        CHECK_OK(ct_write_file_atomic(d, buf, n, &err), &err);
        free(d);
        free(buf);
    }
    return dst;
}

/* Replaces the first occurrence of `from` with `to` (same length or not) in dir/file. */
static void edit_file(const char *dir, const char *file, const char *from, const char *to) {
    char *p = ct_path_join(dir, file);
    char *buf = NULL;
    size_t n = 0;
    ct_err err = {0};
    CHECK_OK(ct_read_file(p, &buf, &n, &err), &err);
    char *at = buf ? memmem(buf, n, from, strlen(from)) : NULL;
    CHECK_MSG(at != NULL, "'%s' not in %s", from, file);
    if (at) {
        size_t fl = strlen(from), tl = strlen(to), off = (size_t)(at - buf);
        char *nb = malloc(n - fl + tl);
        memcpy(nb, buf, off);
        memcpy(nb + off, to, tl);
        memcpy(nb + off + tl, at + fl, n - off - fl);
        CHECK_OK(ct_write_file_atomic(p, nb, n - fl + tl, &err), &err);
        free(nb);
    }
    free(buf);
    free(p);
}

static void expect_load_fail(const char *dir, ct_status code, const char *w1, const char *w2) {
    ct_err err = {0};
    ct_model *m = NULL;
    ct_status s = ct_model_load(dir, &m, &err);
    CHECK_MSG(s == code, "status %d, expected %d (%s)", s, code, err.msg);
    CHECK(m == NULL);
    CHECK_MSG(!w1 || strstr(err.msg, w1), "message lacks '%s': %s", w1, err.msg);
    CHECK_MSG(!w2 || strstr(err.msg, w2), "message lacks '%s': %s", w2, err.msg);
}

TEST(model_load_corrupt_inputs) {
    const char *d;
    /* missing config.json */
    d = copy_fixture("tiny-llama");
    char *cfg = ct_path_join(d, "config.json");
    remove(cfg);
    free(cfg);
    expect_load_fail(d, CT_ERR_IO, "config.json", "missing");
    /* unsupported rope_scaling */
    d = copy_fixture("tiny-llama");
    edit_file(d, "config.json", "\"rope_theta\": 10000.0",
              "\"rope_theta\": 10000.0, \"rope_scaling\": {\"rope_type\": \"longrope\", \"factor\": 4}");
    expect_load_fail(d, CT_ERR_UNSUPPORTED, "config.json", "longrope");
    /* llama3 rope scaling without one of its keys */
    d = copy_fixture("tiny-llama");
    edit_file(d, "config.json", "\"rope_theta\": 10000.0",
              "\"rope_theta\": 10000.0, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0, "
              "\"low_freq_factor\": 1.0, \"original_max_position_embeddings\": 8192}");
    expect_load_fail(d, CT_ERR_FORMAT, "config.json", "rope_scaling.high_freq_factor");
    /* sliding window, unknown model_type, non-silu activation */
    d = copy_fixture("tiny-qwen2");
    edit_file(d, "config.json", "\"use_sliding_window\": false", "\"use_sliding_window\": true");
    expect_load_fail(d, CT_ERR_UNSUPPORTED, "config.json", "use_sliding_window");
    d = copy_fixture("tiny-qwen2");
    edit_file(d, "config.json", "\"model_type\": \"qwen2\"", "\"model_type\": \"gpt2\"");
    expect_load_fail(d, CT_ERR_UNSUPPORTED, "config.json", "gpt2");
    d = copy_fixture("tiny-qwen2");
    edit_file(d, "config.json", "\"silu\"", "\"gelu\"");
    expect_load_fail(d, CT_ERR_UNSUPPORTED, "hidden_act", "gelu");
    /* shape mismatch with config: intermediate_size 64 -> 48 */
    d = copy_fixture("tiny-llama");
    edit_file(d, "config.json", "\"intermediate_size\": 64", "\"intermediate_size\": 48");
    expect_load_fail(d, CT_ERR_SHAPE, "model.layers.0.mlp.gate_proj.weight", "[64, 32]");
    /* missing tensor: rename model.norm.weight in the header (same length keeps offsets) */
    d = copy_fixture("tiny-llama");
    edit_file(d, "model.safetensors", "\"model.norm.weight\"", "\"model.norX.weight\"");
    expect_load_fail(d, CT_ERR_SHAPE, "missing tensor 'model.norm.weight'", NULL);
    /* untied model without lm_head */
    d = copy_fixture("tiny-llama");
    edit_file(d, "model.safetensors", "\"lm_head.weight\"", "\"lm_headXweight\"");
    expect_load_fail(d, CT_ERR_SHAPE, "lm_head.weight", "tie_word_embeddings");
    /* offsets out of range: tensor end moved past the buffer */
    d = copy_fixture("tiny-llama");
    edit_file(d, "model.safetensors", "\"data_offsets\":[0,", "\"data_offsets\":[9,");
    expect_load_fail(d, CT_ERR_FORMAT, "model.safetensors", "data_offsets");
    /* sharded: weight_map names a tensor its shard lacks */
    d = copy_fixture("tiny-llama-sharded");
    edit_file(d, "model.safetensors.index.json", "\"model.norm.weight\"", "\"model.norZ.weight\"");
    expect_load_fail(d, CT_ERR_FORMAT, "model.norZ.weight", "model.safetensors.index.json");
    /* sharded: a shard is missing */
    d = copy_fixture("tiny-llama-sharded");
    char *sh = ct_path_join(d, "model-00002-of-00002.safetensors");
    remove(sh);
    free(sh);
    expect_load_fail(d, CT_ERR_IO, "model-00002-of-00002.safetensors", NULL);
    /* no weights at all */
    d = copy_fixture("tiny-llama");
    char *w = ct_path_join(d, "model.safetensors");
    remove(w);
    free(w);
    expect_load_fail(d, CT_ERR_IO, "no model.safetensors", NULL);
    /* truncated weights file */
    d = copy_fixture("tiny-qwen2");
    w = ct_path_join(d, "model.safetensors");
    CHECK(truncate(w, 20000) == 0);
    free(w);
    expect_load_fail(d, CT_ERR_FORMAT, "model.safetensors", "truncated");
}

/* Qwen3.5 configs and checkpoints that do not fit: one-line errors naming the key or tensor. */
TEST(model_load_qwen3_5_bad_inputs) {
    const char *d;
    /* a layer_types entry ctune does not run, and a schedule of the wrong length */
    d = copy_fixture("tiny-qwen3_5");
    edit_file(d, "config.json", "\"linear_attention\"", "\"sliding_attention\"");
    expect_load_fail(d, CT_ERR_UNSUPPORTED, "layer_types[0]", "sliding_attention");
    d = copy_fixture("tiny-qwen3_5");
    edit_file(d, "config.json", "\"layer_types\": [", "\"layer_types\": [\"full_attention\", ");
    expect_load_fail(d, CT_ERR_FORMAT, "layer_types", "num_hidden_layers (3)");
    /* linear_attention in a family without Gated DeltaNet layers */
    d = copy_fixture("tiny-qwen3");
    edit_file(d, "config.json", "\"head_dim\": 16", "\"head_dim\": 16, \"layer_types\": [\"linear_attention\", \"full_attention\"]");
    expect_load_fail(d, CT_ERR_UNSUPPORTED, "layer_types[0]", "model_type qwen3");
    /* a DeltaNet tensor of the wrong shape: the conv kernel the config implies is 3, stored 4 */
    d = copy_fixture("tiny-qwen3_5");
    edit_file(d, "config.json", "\"linear_conv_kernel_dim\": 4", "\"linear_conv_kernel_dim\": 3");
    expect_load_fail(d, CT_ERR_SHAPE, "'model.layers.0.linear_attn.conv1d.weight' has shape [56, 1, 4]", "[56, 1, 3]");
    d = copy_fixture("tiny-qwen3_5");
    edit_file(d, "model.safetensors", "\"model.layers.1.linear_attn.conv1d.weight\":{\"dtype\":\"F32\",\"shape\":[56,1,4]",
              "\"model.layers.1.linear_attn.conv1d.weight\":{\"dtype\":\"F32\",\"shape\":[56,4,1]");
    expect_load_fail(d, CT_ERR_SHAPE, "'model.layers.1.linear_attn.conv1d.weight' has shape [56, 4, 1]", "[56, 1, 4]");
    /* a missing DeltaNet parameter */
    d = copy_fixture("tiny-qwen3_5");
    edit_file(d, "model.safetensors", "\"model.layers.0.linear_attn.A_log\"", "\"model.layers.0.linear_attn.A_lgg\"");
    expect_load_fail(d, CT_ERR_SHAPE, "missing tensor 'model.layers.0.linear_attn.A_log'", NULL);
    /* value heads that do not group the key heads; an odd partial rotary width */
    d = copy_fixture("tiny-qwen3_5");
    edit_file(d, "config.json", "\"linear_num_value_heads\": 4", "\"linear_num_value_heads\": 3");
    expect_load_fail(d, CT_ERR_FORMAT, "linear_num_value_heads 3", "linear_num_key_heads 2");
    d = copy_fixture("tiny-qwen3_5");
    edit_file(d, "config.json", "\"partial_rotary_factor\": 0.25", "\"partial_rotary_factor\": 0.1");
    expect_load_fail(d, CT_ERR_FORMAT, "partial_rotary_factor", "head_dim 16");
    /* Qwen3_5ForConditionalGeneration without its text_config */
    d = copy_fixture("tiny-qwen3_5-vl");
    edit_file(d, "config.json", "\"text_config\"", "\"text_cfg\"");
    expect_load_fail(d, CT_ERR_FORMAT, "config.json", "text_config");
    /* the text model's keys are read from text_config: an error there names it */
    d = copy_fixture("tiny-qwen3_5-vl");
    edit_file(d, "config.json", "\"hidden_size\": 32", "\"hidden_size\": \"32\"");
    expect_load_fail(d, CT_ERR_FORMAT, "text_config", "hidden_size");
}
