/* Checkpoints that hold more than config.json describes: a config with fewer num_hidden_layers
 * than the weights, or a tensor no row of the architecture table names, loaded silently without
 * those tensors. Both are now errors naming them; what transformers also ignores still loads. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/file.h"
#include "ctune/model.h"
#include "harness.h"
#include "io/safetensors.h"
#include "io/st_writer.h"

/* A copy of fixture `src` in a fresh directory: config.json with `from` replaced by `to` (NULL:
 * as is), the weights plus `extra` (NULL: none), a 1-D float tensor. */
static char *variant(const char *src, const char *from, const char *to, const char *extra) {
    ct_err err = {0};
    char *dir = ct_path_join(ct_test_tmpdir(), "m");
    mkdir(dir, 0755);
    char *sp = ct_path_join(ct_test_path(src), "config.json"), *dp = ct_path_join(dir, "config.json");
    char *cfg = NULL;
    size_t n = 0;
    if (ct_read_file(sp, &cfg, &n, &err)) return NULL;
    char *hit = from ? strstr(cfg, from) : NULL;
    FILE *f = fopen(dp, "w");
    if (hit) {
        fwrite(cfg, 1, (size_t)(hit - cfg), f);
        fputs(to, f);
        fputs(hit + strlen(from), f);
    } else {
        fputs(cfg, f);
    }
    fclose(f);
    free(cfg);
    free(sp);
    free(dp);
    ct_st *st = NULL;
    if (ct_st_open_dir(ct_test_path(src), &st, &err)) return NULL;
    size_t k = ct_st_count(st);
    ct_st_item *items = calloc(k + 1, sizeof *items);
    for (size_t i = 0; i < k; i++) items[i] = ct_st_item_of(ct_st_name(st, i), *ct_st_get(st, ct_st_name(st, i)));
    float one[4] = {1, 2, 3, 4};
    ct_tensor t = {0};
    t.dtype = CT_DTYPE_F32;
    t.ndim = 1;
    t.shape[0] = 4;
    t.data = one;
    if (extra) items[k++] = ct_st_item_of(extra, t);
    char *wp = ct_path_join(dir, "model.safetensors");
    ct_status s = ct_st_write(wp, items, k, CT_ST_META_PT, &err);
    free(wp);
    free(items);
    ct_st_close(st);
    return s ? NULL : dir;
}

TEST(robust_model_fewer_layers_than_weights) {
    char *dir = variant("tests/fixtures/tiny-llama", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 1", NULL);
    REQUIRE(dir);
    ct_model *m = NULL;
    ct_err err = {0};
    CHECK_EQ_INT(ct_model_load(dir, &m, &err), CT_ERR_SHAPE);
    CHECK_MSG(strstr(err.msg, "num_hidden_layers 1 but the weights hold layers up to 1: 9 tensor(s) would be dropped") &&
                  strstr(err.msg, "'model.layers.1.input_layernorm.weight'"),
              "%s", err.msg);
    CHECK(!m);
    free(dir);
}

TEST(robust_model_unknown_tensor_is_named) {
    char *dir = variant("tests/fixtures/tiny-llama", NULL, NULL, "model.layers.0.self_attn.extra_proj.weight");
    REQUIRE(dir);
    ct_model *m = NULL;
    ct_err err = {0};
    CHECK_EQ_INT(ct_model_load(dir, &m, &err), CT_ERR_SHAPE);
    CHECK_MSG(strstr(err.msg, "1 tensor(s) in the weights are not used by config.json "
                              "('model.layers.0.self_attn.extra_proj.weight')"),
              "%s", err.msg);
    free(dir);
    /* a bias the config does not enable is unused too (attention_bias false) */
    dir = variant("tests/fixtures/tiny-llama", NULL, NULL, "model.layers.1.self_attn.o_proj.bias");
    REQUIRE(dir);
    CHECK_EQ_INT(ct_model_load(dir, &m, &err), CT_ERR_SHAPE);
    CHECK_MSG(strstr(err.msg, "'model.layers.1.self_attn.o_proj.bias'"), "%s", err.msg);
    free(dir);
}

/* What transformers leaves unused loads: old RoPE buffers, lm_head.weight next to tied
 * embeddings, Qwen3.5's vision tower and MTP head (the -vl fixture holds both). */
TEST(robust_model_expected_unused_tensors_load) {
    ct_model *m = NULL;
    ct_err err = {0};
    char *dir = variant("tests/fixtures/tiny-llama", NULL, NULL, "model.layers.0.self_attn.rotary_emb.inv_freq");
    REQUIRE(dir);
    CHECK_OK(ct_model_load(dir, &m, &err), &err);
    ct_model_free(m);
    free(dir);
    dir = variant("tests/fixtures/tiny-llama", "\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true", NULL);
    REQUIRE(dir);
    m = NULL;
    CHECK_OK(ct_model_load(dir, &m, &err), &err);
    ct_model_free(m);
    free(dir);
    m = NULL;
    CHECK_OK(ct_model_load(ct_test_path("tests/fixtures/tiny-qwen3_5-vl"), &m, &err), &err);
    ct_model_free(m);
    /* but an MTP tensor in a llama checkpoint is not expected */
    dir = variant("tests/fixtures/tiny-llama", NULL, NULL, "mtp.fc.weight");
    REQUIRE(dir);
    CHECK_EQ_INT(ct_model_load(dir, &m, &err), CT_ERR_SHAPE);
    CHECK_MSG(strstr(err.msg, "'mtp.fc.weight'"), "%s", err.msg);
    free(dir);
}
