/* PEFT adapter files, HF export directory, checkpoints (atomicity, rotation, resume). */
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/file.h"
#include "base/json.h"
#include "harness.h"
#include "io/hf_export.h"
#include "peft/peft_io.h"
#include "io/safetensors.h"
#include "train/checkpoint.h"

static ct_tensor t2(float *d, int64_t a, int64_t b) {
    ct_tensor t = {.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {a, b}, .data = d};
    return t;
}

static char *slurp(const char *dir, const char *name) {
    char *p = ct_path_join(dir, name), *buf = NULL;
    ct_err err;
    if (ct_read_file(p, &buf, NULL, &err) != CT_OK) buf = NULL;
    free(p);
    return buf;
}

TEST(infra_peft_lora_config_exact_text) {
    const char *targets[] = {"v_proj", "q_proj", "q_proj"};
    ct_lora_config c = {.base_model_name_or_path = "Qwen/Qwen3-0.6B", .r = 8, .lora_alpha = 16,
                        .lora_dropout = 0.05, .target_modules = targets, .n_target_modules = 3};
    const char *dir = ct_test_tmpdir();
    char *ad = ct_path_join(dir, "adapter");
    float A[8 * 4], B[6 * 8];
    for (int i = 0; i < 32; i++) A[i] = (float)i * 0.25f;
    for (int i = 0; i < 48; i++) B[i] = -(float)i;
    ct_lora_pair pairs[] = {{1, "v_proj", t2(A, 8, 4), t2(B, 6, 8)},
                            {0, "q_proj", t2(A, 8, 4), t2(B, 6, 8)}};
    ct_err err = {0};
    CHECK_OK(ct_peft_save_lora(ad, &c, pairs, 2, CT_DTYPE_F32, &err), &err);
    char *text = slurp(ad, "adapter_config.json");
    /* PEFT's save_pretrained: json.dumps(to_dict(), indent=2, sort_keys=True). */
    const char *want =
        "{\n  \"alpha_pattern\": {},\n  \"auto_mapping\": null,\n"
        "  \"base_model_name_or_path\": \"Qwen/Qwen3-0.6B\",\n  \"bias\": \"none\",\n"
        "  \"fan_in_fan_out\": false,\n  \"inference_mode\": true,\n  \"init_lora_weights\": true,\n"
        "  \"layer_replication\": null,\n  \"layers_pattern\": null,\n  \"layers_to_transform\": null,\n"
        "  \"loftq_config\": {},\n  \"lora_alpha\": 16,\n  \"lora_dropout\": 0.05,\n"
        "  \"megatron_config\": null,\n  \"megatron_core\": \"megatron.core\",\n"
        "  \"modules_to_save\": null,\n  \"peft_type\": \"LORA\",\n  \"r\": 8,\n"
        "  \"rank_pattern\": {},\n  \"revision\": null,\n  \"target_modules\": [\n"
        "    \"q_proj\",\n    \"v_proj\"\n  ],\n  \"task_type\": \"CAUSAL_LM\",\n"
        "  \"use_dora\": false,\n  \"use_rslora\": false\n}";
    CHECK_STREQ(text, want);
    free(text);

    ct_peft_adapter a;
    CHECK_OK(ct_peft_load(ad, &a, &err), &err);
    CHECK(a.type == CT_PEFT_LORA);
    CHECK_EQ_INT(a.r, 8);
    CHECK_EQ_INT(a.n_lora, 2);
    CHECK_NEAR(ct_peft_lora_scaling(&a), 2.0, 0);
    const ct_peft_lora_tensors *p = ct_peft_find_lora(&a, 1, "v_proj");
    REQUIRE(p);
    CHECK(p->in == 4 && p->out == 6 && p->r == 8);
    CHECK(memcmp(p->A, A, sizeof A) == 0 && memcmp(p->B, B, sizeof B) == 0);
    CHECK(a.lora[0].layer == 0 && strcmp(a.lora[0].module, "q_proj") == 0);
    ct_peft_free(&a);

    /* Keys as PEFT names them. */
    ct_st *sb = NULL;
    char *wp = ct_path_join(ad, "adapter_model.safetensors");
    CHECK_OK(ct_st_open(wp, &sb, &err), &err);
    CHECK(ct_st_get(sb, "base_model.model.model.layers.1.self_attn.v_proj.lora_A.weight") != NULL);
    CHECK(ct_st_get(sb, "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight") != NULL);
    CHECK_STREQ(ct_st_metadata(sb, "format"), "pt");
    ct_st_close(sb);
    free(wp);
    free(ad);
}

TEST(infra_peft_rslora_and_mlp_keys) {
    char k[128];
    CHECK(ct_peft_lora_key(k, sizeof k, NULL, 3, "down_proj", 'B'));
    CHECK_STREQ(k, "base_model.model.model.layers.3.mlp.down_proj.lora_B.weight");
    CHECK(!ct_peft_lora_key(k, sizeof k, NULL, 3, "lm_head", 'A'));
    /* Qwen3.5: the DeltaNet's projections, and a vision-language base's text model */
    CHECK(ct_peft_lora_key(k, sizeof k, "model.language_model.", 2, "in_proj_qkv", 'A'));
    CHECK_STREQ(k, "base_model.model.model.language_model.layers.2.linear_attn.in_proj_qkv.lora_A.weight");
    const char *targets[] = {"gate_proj"};
    ct_lora_config c = {.r = 4, .lora_alpha = 8, .target_modules = targets, .n_target_modules = 1,
                        .use_rslora = true};
    float A[4 * 3] = {0}, B[5 * 4] = {0};
    ct_lora_pair pr = {0, "gate_proj", t2(A, 4, 3), t2(B, 5, 4)};
    char *ad = ct_path_join(ct_test_tmpdir(), "rs");
    ct_err err = {0};
    CHECK_OK(ct_peft_save_lora(ad, &c, &pr, 1, CT_DTYPE_BF16, &err), &err);
    ct_peft_adapter a;
    CHECK_OK(ct_peft_load(ad, &a, &err), &err);
    CHECK_NEAR(ct_peft_lora_scaling(&a), 4.0, 1e-12); /* 8 / sqrt(4) */
    CHECK(a.base_model_name_or_path == NULL);
    ct_peft_free(&a);
    /* wrong shape is refused with the key named */
    ct_lora_pair bad = {0, "up_proj", t2(A, 3, 4), t2(B, 5, 4)};
    CHECK(ct_peft_save_lora(ad, &c, &bad, 1, CT_DTYPE_F32, &err) == CT_ERR_SHAPE);
    CHECK(strstr(err.msg, "up_proj.lora_A") != NULL);
    free(ad);
}

TEST(infra_peft_reader_errors) {
    ct_err err = {0};
    ct_peft_adapter a;
    const char *dir = ct_test_tmpdir();
    char *d = ct_path_join(dir, "bad");
    CHECK(ct_peft_load(d, &a, &err) == CT_ERR_IO);
    CHECK(strstr(err.msg, "adapter_config.json") != NULL);
    CHECK_OK(ct_mkdir_p(d, &err), &err);
    char *cp = ct_path_join(d, "adapter_config.json");
    const char *ia3 = "{\"peft_type\": \"IA3\"}";
    CHECK_OK(ct_write_file_atomic(cp, ia3, strlen(ia3), &err), &err);
    CHECK(ct_peft_load(d, &a, &err) == CT_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "IA3") != NULL);
    /* LoRA config whose tensors carry an unsupported key */
    const char *lora = "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 4}";
    CHECK_OK(ct_write_file_atomic(cp, lora, strlen(lora), &err), &err);
    CHECK(ct_peft_load(d, &a, &err) == CT_ERR_IO); /* no weights */
    CHECK(strstr(err.msg, "adapter_model.safetensors") != NULL);
    float z[8] = {0};
    ct_st_item it = ct_st_item_of("base_model.model.lm_head.weight", t2(z, 2, 4));
    char *wp = ct_path_join(d, "adapter_model.safetensors");
    CHECK_OK(ct_st_write(wp, &it, 1, CT_ST_META_PT, &err), &err);
    /* modules_to_save tensors load as full replacements */
    CHECK_OK(ct_peft_load(d, &a, &err), &err);
    CHECK(a.n_saved == 1 && !strcmp(a.saved[0].name, "lm_head.weight") && a.n_lora == 0);
    ct_peft_free(&a);
    /* embedding LoRA is not supported: the error names the tensor */
    it.name = "base_model.model.model.embed_tokens.lora_embedding_A";
    CHECK_OK(ct_st_write(wp, &it, 1, CT_ST_META_PT, &err), &err);
    CHECK(ct_peft_load(d, &a, &err) == CT_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "embed_tokens.lora_embedding_A") != NULL);
    /* rank disagreeing with config */
    it.name = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
    it.src.shape[0] = 3, it.src.shape[1] = 2;
    ct_st_item two[2] = {it, it};
    two[1].name = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight";
    CHECK_OK(ct_st_write(wp, two, 2, CT_ST_META_PT, &err), &err);
    CHECK(ct_peft_load(d, &a, &err) == CT_ERR_SHAPE);
    CHECK(strstr(err.msg, "r=2") != NULL);
    /* A without B */
    it.src.shape[0] = 2, it.src.shape[1] = 4;
    CHECK_OK(ct_st_write(wp, &it, 1, CT_ST_META_PT, &err), &err);
    CHECK(ct_peft_load(d, &a, &err) == CT_ERR_FORMAT);
    CHECK(strstr(err.msg, "lora_B") != NULL);
    /* out-of-range hyper-parameters and wrong-typed prompt-tuning sizes are errors, not ignored */
    const char *bad_cfgs[] = {
        "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 0}",
        "{\"peft_type\": \"LORA\", \"r\": 2, \"lora_alpha\": 4, \"lora_dropout\": 1.5}",
        "{\"peft_type\": \"PROMPT_TUNING\", \"num_virtual_tokens\": \"3\"}",
        "{\"peft_type\": \"PROMPT_TUNING\", \"num_virtual_tokens\": 3, \"token_dim\": -4}",
    };
    for (size_t i = 0; i < sizeof bad_cfgs / sizeof bad_cfgs[0]; i++) {
        CHECK_OK(ct_write_file_atomic(cp, bad_cfgs[i], strlen(bad_cfgs[i]), &err), &err);
        CHECK_MSG(ct_peft_load(d, &a, &err) == CT_ERR_FORMAT, "config %zu accepted", i);
        CHECK(strstr(err.msg, "adapter_config.json") != NULL);
    }
    free(wp);
    free(cp);
    free(d);
}

TEST(infra_ckpt_manifest_names_stay_inside) {
    ct_err err = {0};
    char *d = ct_path_join(ct_test_tmpdir(), "checkpoint-1");
    CHECK_OK(ct_mkdir_p(d, &err), &err);
    char *mp = ct_path_join(d, CT_CKPT_MANIFEST);
    const char *names[] = {"../x", "/etc/passwd", "a/../../x", ".."};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char buf[256];
        snprintf(buf, sizeof buf,
                 "{\"format\": \"%s\", \"version\": %d, \"step\": 1, \"files\": {\"%s\": {}}}",
                 CT_CKPT_FORMAT, CT_CKPT_VERSION, names[i]);
        CHECK_OK(ct_write_file_atomic(mp, buf, strlen(buf), &err), &err);
        CHECK_MSG(ct_ckpt_verify(d, &err) == CT_ERR_FORMAT, "manifest name %s accepted", names[i]);
        CHECK(strstr(err.msg, "outside the checkpoint") != NULL);
    }
    free(mp);
    free(d);
}

TEST(infra_peft_prompt_tuning_roundtrip) {
    ct_prompt_config c = {.base_model_name_or_path = "m", .num_virtual_tokens = 3, .token_dim = 4,
                          .num_layers = 2, .num_attention_heads = 2};
    float e[12];
    for (int i = 0; i < 12; i++) e[i] = (float)i / 7.0f;
    char *ad = ct_path_join(ct_test_tmpdir(), "pt");
    ct_err err = {0};
    CHECK_OK(ct_peft_save_prompt(ad, &c, e, CT_DTYPE_F32, &err), &err);
    char *text = slurp(ad, "adapter_config.json");
    CHECK_STREQ(text,
                "{\n  \"auto_mapping\": null,\n  \"base_model_name_or_path\": \"m\",\n"
                "  \"inference_mode\": true,\n  \"num_attention_heads\": 2,\n  \"num_layers\": 2,\n"
                "  \"num_transformer_submodules\": 1,\n  \"num_virtual_tokens\": 3,\n"
                "  \"peft_type\": \"PROMPT_TUNING\",\n  \"prompt_tuning_init\": \"RANDOM\",\n"
                "  \"prompt_tuning_init_text\": null,\n  \"revision\": null,\n"
                "  \"task_type\": \"CAUSAL_LM\",\n  \"token_dim\": 4,\n  \"tokenizer_kwargs\": null,\n"
                "  \"tokenizer_name_or_path\": null\n}");
    free(text);
    ct_peft_adapter a;
    CHECK_OK(ct_peft_load(ad, &a, &err), &err);
    CHECK(a.type == CT_PEFT_PROMPT_TUNING && a.num_virtual_tokens == 3 && a.token_dim == 4);
    CHECK(a.prompt_embeddings && memcmp(a.prompt_embeddings, e, sizeof e) == 0);
    ct_peft_free(&a);
    free(ad);
}

static void fill_model(float *w, size_t n, float s) {
    for (size_t i = 0; i < n; i++) w[i] = s * (float)i + 0.001f;
}

TEST(infra_hf_export_sharded_and_single) {
    ct_err err = {0};
    const char *dir = ct_test_tmpdir();
    float emb[64 * 8], q[8 * 8], norm[8];
    fill_model(emb, 512, 0.01f);
    fill_model(q, 64, -0.02f);
    fill_model(norm, 8, 1.0f);
    ct_st_item items[] = {
        ct_st_item_of("model.embed_tokens.weight", t2(emb, 64, 8)),
        ct_st_item_of("model.layers.0.self_attn.q_proj.weight", t2(q, 8, 8)),
        {"model.norm.weight", {.dtype = CT_DTYPE_F32, .ndim = 1, .shape = {8}, .data = norm}, CT_DTYPE_F32},
    };
    /* fake tokenizer source dir */
    char *src = ct_path_join(dir, "src");
    CHECK_OK(ct_mkdir_p(src, &err), &err);
    char *tj = ct_path_join(src, "tokenizer.json"), *gc = ct_path_join(src, "generation_config.json");
    CHECK_OK(ct_write_file_atomic(tj, "{\"tok\": 1}", 10, &err), &err);
    CHECK_OK(ct_write_file_atomic(gc, "{\"eos\": 2}", 10, &err), &err);
    json_t *cfg = json_pack("{s:s, s:i, s:s}", "model_type", "qwen3", "hidden_size", 8, "torch_dtype", "float32");
    char *out = ct_path_join(dir, "merged");
    ct_hf_export_opts o = {.out_dir = out, .config = cfg, .dtype = CT_DTYPE_BF16, .max_shard_bytes = 1100,
                           .tokenizer_dir = src, .generation_config_dir = src};
    CHECK_OK(ct_hf_export(&o, items, 3, &err), &err);
    /* emb 1024 B (bf16) -> shard 1; q 128 + norm 16 -> shard 2 */
    char *idx = slurp(out, "model.safetensors.index.json");
    CHECK_STREQ(idx, "{\n  \"metadata\": {\n    \"total_size\": 1168\n  },\n  \"weight_map\": {\n"
                     "    \"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\",\n"
                     "    \"model.layers.0.self_attn.q_proj.weight\": \"model-00002-of-00002.safetensors\",\n"
                     "    \"model.norm.weight\": \"model-00002-of-00002.safetensors\"\n  }\n}\n");
    free(idx);
    char *c = slurp(out, "config.json");
    CHECK_STREQ(c, "{\n  \"hidden_size\": 8,\n  \"model_type\": \"qwen3\",\n  \"torch_dtype\": \"bfloat16\"\n}\n");
    free(c);
    char *t = slurp(out, "tokenizer.json");
    CHECK_STREQ(t, "{\"tok\": 1}");
    free(t);
    t = slurp(out, "generation_config.json");
    CHECK_STREQ(t, "{\"eos\": 2}");
    free(t);
    ct_st *sb = NULL;
    char *s2 = ct_path_join(out, "model-00002-of-00002.safetensors");
    CHECK_OK(ct_st_open(s2, &sb, &err), &err);
    const ct_tensor *e = ct_st_get(sb, "model.layers.0.self_attn.q_proj.weight");
    REQUIRE(e);
    CHECK(e->dtype == CT_DTYPE_BF16);
    CHECK_EQ_INT(((const uint16_t *)e->data)[5], ct_f32_to_bf16(q[5]));
    ct_st_close(sb);
    free(s2);
    /* no temp dir left beside it */
    char tmpname[512];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", out, (long)getpid());
    CHECK(!ct_dir_exists(tmpname));

    /* Re-export into the existing dir with one shard: model.safetensors appears, other files kept. */
    o.max_shard_bytes = 0;
    CHECK_OK(ct_hf_export(&o, items, 3, &err), &err);
    char *single = ct_path_join(out, "model.safetensors");
    CHECK(ct_file_exists(single));
    free(single);
    free(out);
    free(tj);
    free(gc);
    free(src);
    json_decref(cfg);
}

TEST(infra_hf_export_error_leaves_nothing) {
    ct_err err = {0};
    const char *dir = ct_test_tmpdir();
    float w[4] = {0};
    ct_st_item items[] = {ct_st_item_of("a", t2(w, 2, 2)), ct_st_item_of("a", t2(w, 2, 2))};
    char *out = ct_path_join(dir, "broken");
    ct_hf_export_opts o = {.out_dir = out, .dtype = CT_DTYPE_BF16};
    CHECK(ct_hf_export(&o, items, 2, &err) == CT_ERR_ARG); /* duplicate name fails mid-export */
    CHECK(!ct_dir_exists(out));
    char tmpname[512];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", out, (long)getpid());
    CHECK(!ct_dir_exists(tmpname));
    free(out);
}

/* ---- checkpoints ---- */

typedef struct fake_run {
    float w[6], m[6], v[6];
} fake_run;

static void describe(fake_run *r, ct_st_item *params, ct_st_item *opt, ct_ckpt_file files[2]) {
    params[0] = ct_st_item_of("lora.q.A", t2(r->w, 2, 3));
    opt[0] = ct_st_item_of("exp_avg.lora.q.A", t2(r->m, 2, 3));
    opt[1] = ct_st_item_of("exp_avg_sq.lora.q.A", t2(r->v, 2, 3));
    files[0] = (ct_ckpt_file){"model.safetensors", params, 1};
    files[1] = (ct_ckpt_file){"optimizer.safetensors", opt, 2};
}

static ct_status save_step(const char *out, fake_run *r, int64_t step, int limit, ct_ckpt_extra_fn extra,
                           ct_err *err) {
    ct_st_item params[1], opt[2];
    ct_ckpt_file files[2];
    describe(r, params, opt, files);
    json_t *state = json_pack("{s:I, s:f, s:s, s:[]}", "global_step", (json_int_t)step, "epoch", 0.5 * (double)step,
                              "rng", "0123456789abcdef", "log_history");
    ct_ckpt_save_opts o = {.output_dir = out, .step = step, .files = files, .n_files = 2, .state = state,
                           .extra = extra, .save_total_limit = limit};
    ct_status st = ct_ckpt_save(&o, NULL, err);
    json_decref(state);
    return st;
}

TEST(infra_ckpt_save_restore_exact) {
    ct_err err = {0};
    char *out = ct_path_join(ct_test_tmpdir(), "run");
    fake_run r;
    for (int i = 0; i < 6; i++) r.w[i] = 1.0f / (float)(i + 3), r.m[i] = -1e-7f * (float)i, r.v[i] = 1e-30f * (float)i;
    CHECK_OK(save_step(out, &r, 10, 0, NULL, &err), &err);
    fake_run back;
    memset(&back, 0, sizeof back);
    ct_st_item params[1], opt[2];
    ct_ckpt_file files[2];
    describe(&back, params, opt, files);
    char *latest = NULL;
    int64_t step = -1;
    CHECK_OK(ct_ckpt_find_latest(out, &latest, &step, &err), &err);
    REQUIRE(latest);
    CHECK_EQ_INT(step, 10);
    json_t *state = NULL;
    CHECK_OK(ct_ckpt_restore(latest, files, 2, &state, &err), &err);
    CHECK(memcmp(&back, &r, sizeof r) == 0); /* bitwise */
    int64_t gs = 0;
    CHECK(ct_json_get_int(state, "global_step", &gs) && gs == 10);
    CHECK_STREQ(ct_json_get_str(state, "rng"), "0123456789abcdef");
    json_decref(state);

    /* A flipped byte is caught by the checksum, naming the file. */
    char *mp = ct_path_join(latest, "optimizer.safetensors");
    FILE *f = fopen(mp, "r+b");
    REQUIRE(f);
    fseek(f, -1, SEEK_END);
    fputc(0x55, f);
    fclose(f);
    CHECK(ct_ckpt_restore(latest, files, 2, NULL, &err) == CT_ERR_FORMAT);
    CHECK(strstr(err.msg, "optimizer.safetensors") && strstr(err.msg, "checksum"));
    /* ... and find_latest no longer picks it */
    free(latest);
    CHECK_OK(ct_ckpt_find_latest(out, &latest, &step, &err), &err);
    CHECK(latest == NULL);
    free(mp);

    /* Wrong trainable set: shape mismatch names the tensor. */
    CHECK_OK(save_step(out, &r, 11, 0, NULL, &err), &err);
    char *c11 = ct_path_join(out, "checkpoint-11");
    params[0].src.shape[0] = 3, params[0].src.shape[1] = 2;
    CHECK(ct_ckpt_restore(c11, files, 2, NULL, &err) == CT_ERR_SHAPE);
    CHECK(strstr(err.msg, "lora.q.A") != NULL);
    /* Version mismatch is reported as such. */
    char *man = ct_path_join(c11, CT_CKPT_MANIFEST);
    const char *v2 = "{\"format\": \"ctune-checkpoint\", \"version\": 2, \"files\": {}}";
    CHECK_OK(ct_write_file_atomic(man, v2, strlen(v2), &err), &err);
    CHECK(ct_ckpt_verify(c11, &err) == CT_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "version 2") != NULL);
    free(man);
    free(c11);
    free(out);
}

TEST(infra_ckpt_rotation_keeps_limit_and_resume_dir) {
    ct_err err = {0};
    char *out = ct_path_join(ct_test_tmpdir(), "rot");
    fake_run r = {0};
    for (int s = 1; s <= 4; s++) CHECK_OK(save_step(out, &r, s * 5, 0, NULL, &err), &err);
    char *keep = ct_path_join(out, "checkpoint-5");
    CHECK_OK(ct_ckpt_rotate(out, 2, keep, &err), &err);
    int64_t *steps;
    size_t n;
    CHECK_OK(ct_ckpt_list(out, &steps, &n, &err), &err);
    CHECK_EQ_INT(n, 2);
    if (n == 2) CHECK(steps[0] == 5 && steps[1] == 20); /* 5 kept (resumed from), 10 and 15 deleted */
    free(steps);
    CHECK_OK(save_step(out, &r, 25, 2, NULL, &err), &err); /* default keep: the new one */
    CHECK_OK(ct_ckpt_list(out, &steps, &n, &err), &err);
    CHECK_EQ_INT(n, 2);
    if (n == 2) CHECK(steps[0] == 20 && steps[1] == 25);
    free(steps);
    free(keep);
    free(out);
}

static ct_status slow_extra(const char *tmp_dir, void *user, ct_err *err) {
    (void)user;
    char *p = ct_path_join(tmp_dir, "marker");
    ct_status st = ct_write_file_atomic(p, "x", 1, err);
    free(p);
    sleep(30); /* parent kills us here */
    return st;
}

TEST(infra_ckpt_kill9_mid_save_keeps_previous) {
    ct_err err = {0};
    char *out = ct_path_join(ct_test_tmpdir(), "kill");
    fake_run r;
    for (int i = 0; i < 6; i++) r.w[i] = (float)i, r.m[i] = 2.0f * (float)i, r.v[i] = 3.0f * (float)i;
    CHECK_OK(save_step(out, &r, 100, 0, NULL, &err), &err);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        fake_run r2 = r;
        r2.w[0] = 99;
        ct_err e2;
        save_step(out, &r2, 200, 1, slow_extra, &e2);
        _exit(0);
    }
    /* Wait until the child is inside the save (marker written), then SIGKILL it. */
    char *marker = ct_path_join(out, "checkpoint-200.tmp/marker");
    for (int i = 0; i < 500 && !ct_file_exists(marker); i++) usleep(10000);
    CHECK(ct_file_exists(marker));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    char *c200 = ct_path_join(out, "checkpoint-200");
    CHECK(!ct_dir_exists(c200));
    char *latest = NULL;
    int64_t step = 0;
    CHECK_OK(ct_ckpt_find_latest(out, &latest, &step, &err), &err);
    CHECK_EQ_INT(step, 100);
    fake_run back = {0};
    ct_st_item params[1], opt[2];
    ct_ckpt_file files[2];
    describe(&back, params, opt, files);
    if (latest) CHECK_OK(ct_ckpt_restore(latest, files, 2, NULL, &err), &err);
    CHECK(memcmp(&back, &r, sizeof r) == 0);
    /* The next save cleans the stale temp dir. */
    CHECK_OK(save_step(out, &r, 200, 0, NULL, &err), &err);
    char *tmpd = ct_path_join(out, "checkpoint-200.tmp");
    CHECK(!ct_dir_exists(tmpd));
    CHECK(ct_dir_exists(c200));
    free(tmpd);
    free(latest);
    free(c200);
    free(marker);
    free(out);
}

TEST(infra_ckpt_unwritable_output_names_path) {
    ct_err err = {0};
    char *file = ct_path_join(ct_test_tmpdir(), "iamafile");
    CHECK_OK(ct_write_file_atomic(file, "x", 1, &err), &err);
    fake_run r = {0};
    CHECK(save_step(file, &r, 1, 0, NULL, &err) == CT_ERR_IO);
    CHECK(strstr(err.msg, "iamafile") != NULL);
    free(file);
}
