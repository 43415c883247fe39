/* Model forward against the float64 PyTorch reference (tests/gen/make_model_fixtures.py):
 * logits of every position, mean next-token loss, KV-cache decode == full-sequence logits,
 * for qwen2 / qwen3 / llama in F32, BF16, F16 and a sharded checkpoint. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <unistd.h>

#include "base/file.h"
#include "base/json.h"
#include "ctune/estimate.h"
#include "ctune/model.h"
#include "harness.h"
#include "model/arch.h"
#include "model/model.h"

typedef struct ref {
    json_t *root;
    int32_t ids[64];
    size_t T, V;
    double loss;
} ref;

static bool load_ref(const char *dir, ref *r) {
    char path[512];
    snprintf(path, sizeof path, "%s/reference.json", dir);
    ct_err err = {0};
    if (ct_json_load_file(path, &r->root, &err)) {
        ct_test_fail(__FILE__, __LINE__, "%s", err.msg);
        return false;
    }
    json_t *ids = json_object_get(r->root, "ids");
    r->T = json_array_size(ids);
    for (size_t i = 0; i < r->T && i < 64; i++)
        r->ids[i] = (int32_t)json_integer_value(json_array_get(ids, i));
    r->V = json_array_size(json_array_get(json_object_get(r->root, "logits"), 0));
    r->loss = json_real_value(json_object_get(r->root, "loss"));
    return r->T > 1 && r->T <= 64 && r->V > 0;
}

static double ref_logit(const ref *r, size_t t, size_t j) {
    return json_number_value(json_array_get(json_array_get(json_object_get(r->root, "logits"), t), j));
}

/* Tolerances: f32 activations vs a float64 reference on weights that f32 holds exactly
 * (bf16/f16 weights are widened exactly), logits |x| < 25: 1e-4 absolute, loss 1e-4 relative. */
#define LOGIT_TOL 1e-4
#define LOSS_RTOL 1e-4

/* kv_matches: prefill + token-by-token decode reproduces the full sequence's logits (not for
 * dynamic NTK RoPE, whose frequencies follow the length of each pass, as in HF). */
static void check_variant_kv(const char *name, bool kv_matches) {
    char dir[256];
    snprintf(dir, sizeof dir, "tests/fixtures/%s", name);
    ref r = {0};
    if (!load_ref(dir, &r)) {
        ct_test_fail(__FILE__, __LINE__, "%s: bad reference.json", name);
        json_decref(r.root);
        return;
    }
    ct_err err = {0};
    ct_model *m = NULL;
    CHECK_OK(ct_model_load(dir, &m, &err), &err);
    if (!m) {
        json_decref(r.root);
        return;
    }
    const ct_config *c = ct_model_config(m);
    CHECK_EQ_INT(c->vocab_size, r.V);
    CHECK_EQ_INT(ct_model_param_count(m),
                 json_integer_value(json_object_get(r.root, "n_params")));
    size_t T = r.T, V = r.V;
    float *logits = malloc(T * V * sizeof(float));
    float *last = malloc(V * sizeof(float));
    /* 1. full sequence, no cache */
    CHECK_OK(ct_model_forward(ct_test_ctx(), m, NULL, NULL, r.ids, T, NULL, logits, NULL, &err), &err);
    double maxd = 0;
    for (size_t t = 0; t < T; t++)
        for (size_t j = 0; j < V; j++) {
            double d = fabs(logits[t * V + j] - ref_logit(&r, t, j));
            if (d > maxd) maxd = d;
        }
    CHECK_MSG(maxd <= LOGIT_TOL, "%s: max |logit - reference| = %.3g > %g", name, maxd, LOGIT_TOL);
    /* 2. loss */
    double nll = 0;
    size_t n = 0;
    CHECK_OK(ct_model_nll(ct_test_ctx(), m, NULL, r.ids, T, &nll, &n, &err), &err);
    CHECK_EQ_INT(n, T - 1);
    double loss = n ? nll / (double)n : 0;
    CHECK_MSG(fabs(loss - r.loss) <= LOSS_RTOL * fabs(r.loss), "%s: loss %.9g, reference %.9g",
              name, loss, r.loss);
    /* 3. prefill 5 tokens then decode one at a time: same logits as the full sequence */
    ct_kv_cache *kv = NULL;
    CHECK_OK(ct_kv_cache_init(&kv, c, T, &err), &err);
    double maxkv = 0;
    if (kv) {
        CHECK_OK(ct_model_forward(ct_test_ctx(), m, NULL, kv, r.ids, 5, NULL, NULL, last, &err), &err);
        for (size_t t = 4; t < T; t++) {
            if (t > 4) CHECK_OK(ct_model_forward(ct_test_ctx(), m, NULL, kv, r.ids + t, 1, NULL, NULL, last, &err), &err);
            for (size_t j = 0; j < V; j++) {
                double d = fabs(last[j] - logits[t * V + j]);
                if (d > maxkv) maxkv = d;
            }
        }
        CHECK_EQ_INT(ct_kv_cache_len(kv), T);
        /* cache full: one more token is an error, not an overflow */
        CHECK(ct_model_forward(ct_test_ctx(), m, NULL, kv, r.ids, 1, NULL, NULL, last, &err) == CT_ERR_ARG);
        CHECK(strstr(err.msg, "capacity") != NULL);
    }
    if (kv_matches) CHECK_MSG(maxkv <= 5e-5, "%s: KV-cache decode differs from full forward by %.3g", name, maxkv);
    else CHECK_MSG(maxkv > 1e-3, "%s: decode past max_position_embeddings equals the full pass (%.3g)", name, maxkv);
    fprintf(stderr, "    %s: max|dlogit| %.2g, loss %.7f (ref %.7f), kv decode max diff %.2g\n",
            name, maxd, loss, r.loss, maxkv);
    ct_kv_cache_free(kv);
    free(logits);
    free(last);
    ct_model_free(m);
    json_decref(r.root);
}

static void check_variant(const char *name) { check_variant_kv(name, true); }

TEST(model_tiny_qwen2_f32) { check_variant("tiny-qwen2"); }
TEST(model_tiny_qwen2_bf16) { check_variant("tiny-qwen2-bf16"); }
TEST(model_tiny_qwen2_f16) { check_variant("tiny-qwen2-f16"); }
TEST(model_tiny_qwen3_f32) { check_variant("tiny-qwen3"); }
TEST(model_tiny_qwen3_bf16) { check_variant("tiny-qwen3-bf16"); }
TEST(model_tiny_llama_f32) { check_variant("tiny-llama"); }
TEST(model_tiny_llama_bf16) { check_variant("tiny-llama-bf16"); }
TEST(model_tiny_llama_sharded) { check_variant("tiny-llama-sharded"); }
/* rope_scaling "llama3" (Llama 3.1 / 3.2): frequencies in all three bands of the rescaling. */
TEST(model_tiny_llama3_rope) { check_variant("tiny-llama3-rope"); }
/* rope_scaling {"type": "linear", "factor": 4} (transformers-4 spelling). */
TEST(model_tiny_llama_rope_linear) { check_variant("tiny-llama-rope-linear"); }
/* rope_scaling "dynamic" (NTK): 16 positions past max_position_embeddings 8, the base grown for
 * seq_len 16 in the full pass (decode steps grow it token by token instead). */
TEST(model_tiny_llama_rope_dynamic) { check_variant_kv("tiny-llama-rope-dynamic", false); }
/* rope_parameters "yarn" (transformers-5 layout): the ramp over the frequencies and the attention
 * factor 0.1 ln(factor) + 1 on cos / sin. */
TEST(model_tiny_llama_rope_yarn) { check_variant("tiny-llama-rope-yarn"); }
/* Qwen3.5 (tests/gen/make_qwen35_fixtures.py): Gated DeltaNet layers (conv, L2-normalised q/k,
 * gates, delta rule, gated norm) and gated attention (partial RoPE, 1 + w norms); decode carries
 * the conv and recurrent states token by token. */
TEST(model_tiny_qwen3_5) { check_variant("tiny-qwen3_5"); }
/* The text model of a Qwen3_5ForConditionalGeneration checkpoint: text_config, tied,
 * full_attention_interval, tensors under model.language_model. (vision tower and MTP head not
 * loaded). */
TEST(model_tiny_qwen3_5_vl) { check_variant("tiny-qwen3_5-vl"); }
/* The GGUF export's Qwen3.5 models (tests/gen/make_qwen35_gguf_fixtures.py): more value heads
 * than key heads, equal key / value head dims, layer_types [L, F, L, L]; and a VL checkpoint. */
TEST(model_tiny_qwen3_5_gguf) { check_variant("tiny-qwen3_5-gguf"); }
TEST(model_tiny_qwen3_5_gguf_vl) { check_variant("tiny-qwen3_5-gguf-vl"); }
/* A checkpoint for `cfg` in dir: every tensor of the architecture table under its HF name, bf16,
 * the data a sparse hole (zeros: the shapes, names and loading are what is tested). */
typedef struct hdr_ctx {
    json_t *h;
    const ct_config *cfg;
    size_t off;
} hdr_ctx;

static int hdr_one(const ct_tensor_spec *s, int layer, void *user) {
    hdr_ctx *x = user;
    char name[192];
    int64_t sh[3];
    int nd = ct_spec_shape(s, x->cfg, sh);
    ct_spec_name(name, sizeof name, x->cfg, s, layer);
    json_t *shape = json_array();
    size_t n = 2;
    for (int i = 0; i < nd; i++) {
        json_array_append_new(shape, json_integer(sh[i]));
        n *= (size_t)sh[i];
    }
    json_object_set_new(x->h, name, json_pack("{s:s, s:o, s:[I, I]}", "dtype", "BF16", "shape", shape, "data_offsets",
                                              (json_int_t)x->off, (json_int_t)(x->off + n)));
    x->off += n;
    return 0;
}

static void sparse_checkpoint(const char *dir, const char *config_file, const ct_config *cfg) {
    ct_err err = {0};
    char *buf = NULL, *p = ct_path_join(dir, "config.json");
    size_t n = 0;
    CHECK_OK(ct_read_file(config_file, &buf, &n, &err), &err);
    CHECK_OK(ct_write_file_atomic(p, buf, n, &err), &err);
    free(buf);
    free(p);
    hdr_ctx x = {json_object(), cfg, 0};
    ct_specs_each(cfg, hdr_one, &x);
    char *js = json_dumps(x.h, JSON_COMPACT);
    size_t hl = (strlen(js) + 7) / 8 * 8;
    p = ct_path_join(dir, "model.safetensors");
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    uint64_t le = hl;
    char *pad = malloc(hl);
    memset(pad, ' ', hl);
    memcpy(pad, js, strlen(js));
    CHECK(write(fd, &le, 8) == 8 && write(fd, pad, hl) == (ssize_t)hl);
    CHECK(ftruncate(fd, (off_t)(8 + hl + x.off)) == 0);
    close(fd);
    free(pad);
    free(js);
    free(p);
    json_decref(x.h);
}

/* Qwen3.5-0.8B and -4B config.json as shipped (Qwen3_5ForConditionalGeneration: text_config with
 * layer_types, rope_parameters with partial_rotary_factor and mrope keys, a vision_config): the
 * text model's schedule and sizes, and a full-size checkpoint under model.language_model. loads
 * (bf16 weights, a sparse file) and runs a 3-token forward with the real shapes (0.8B). */
TEST(model_qwen3_5_real_configs_load) {
    static const struct { const char *file; int L, C, Hv, n_dn; } k[] = {
        {"tests/fixtures/configs/qwen3.5-0.8b.json", 24, 1024, 16, 18},
        {"tests/fixtures/configs/qwen3.5-4b.json", 32, 2560, 32, 24},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        ct_config c;
        ct_err err = {0};
        CHECK_OK(ct_estimate_config(k[i].file, &c, &err), &err);
        CHECK(c.arch == CT_ARCH_QWEN3_5 && !strcmp(c.model_type, "qwen3_5"));
        CHECK(c.num_layers == k[i].L && c.hidden_size == k[i].C && c.lin_v_heads == k[i].Hv);
        CHECK(c.n_deltanet == k[i].n_dn && c.layer_kind[3] == CT_LAYER_ATTENTION && c.layer_kind[4] == CT_LAYER_DELTANET);
        CHECK(c.head_dim == 256 && c.rotary_dim == 64 && c.rope_theta == 1e7 && c.attn_output_gate && c.norm_offset);
        CHECK(c.lin_k_heads == 16 && c.lin_k_dim == 128 && c.lin_v_dim == 128 && c.lin_conv == 4);
        CHECK(c.vocab_size == 248320 && c.tie_word_embeddings && c.num_eos == 1 && c.eos_token_ids[0] == 248044);
        CHECK(!strcmp(c.weight_prefix, "model.language_model.") && c.vision_tower);
        const char *dir = ct_test_tmpdir();
        sparse_checkpoint(dir, k[i].file, &c);
        ct_model *m = NULL;
        CHECK_OK(ct_model_load(dir, &m, &err), &err);
        if (!m) continue;
        CHECK(ct_model_param_count(m) == ct_config_param_count(&c));
        fprintf(stderr, "    %s: %.3f B text parameters\n", k[i].file, (double)ct_model_param_count(m) / 1e9);
        if (i == 0) {
            int32_t ids[3] = {9707, 11, 1879};
            float *logits = malloc((size_t)c.vocab_size * sizeof(float));
            CHECK_OK(ct_model_forward(ct_test_ctx(), m, NULL, NULL, ids, 3, NULL, NULL, logits, &err), &err);
            bool finite = true;
            for (int32_t j = 0; j < c.vocab_size; j++) finite &= isfinite(logits[j]) != 0;
            CHECK(finite);
            free(logits);
        }
        ct_model_free(m);
    }
}

/* The shipped Llama 3.x config.json (transformers-4 and -5 layouts) load with a full-size
 * checkpoint (a sparse bf16 file) whose tensors the config implies. */
TEST(model_llama3_real_configs_load) {
    static const char *const files[] = {"tests/fixtures/configs/llama-3.1-8b-instruct.json",
                                        "tests/fixtures/configs/llama-3.2-1b-instruct.json",
                                        "tests/fixtures/configs/llama-3.2-1b-instruct-tf5.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        ct_config c;
        ct_err err = {0};
        CHECK_OK(ct_estimate_config(files[i], &c, &err), &err);
        const char *dir = ct_test_tmpdir();
        sparse_checkpoint(dir, files[i], &c);
        ct_model *m = NULL;
        CHECK_OK(ct_model_load(dir, &m, &err), &err);
        if (!m) continue;
        CHECK(ct_model_param_count(m) == ct_config_param_count(&c) && ct_model_config(m)->rope_type == CT_ROPE_LLAMA3);
        ct_model_free(m);
    }
}

/* A bitsandbytes NF4 + double-quant checkpoint (tests/gen/make_quant_fixtures.py): the reference is
 * the float64 forward of the dequantized weights. */
TEST(model_tiny_llama_bnb_4bit) { check_variant("tiny-llama-bnb-4bit"); }

/* Quantization on load gives the checkpoint's weights bit for bit: tiny-llama quantized here
 * (NF4, double quant) has the same logits as the bnb-4bit checkpoint made from it. */
TEST(model_quantize_on_load_equals_checkpoint) {
    ct_err err = {0};
    ct_model *a = NULL, *b = NULL;
    REQUIRE(ct_model_load("tests/fixtures/tiny-llama", &a, &err) == CT_OK);
    REQUIRE(ct_model_load("tests/fixtures/tiny-llama-bnb-4bit", &b, &err) == CT_OK);
    ct_quant_opts q = {.bits = 4, .fp4 = false, .double_quant = true};
    CHECK_OK(ct_model_quantize(a, &q, &err), &err);
    CHECK_EQ_INT(ct_model_linear_dtype(a), CT_DTYPE_NF4);
    CHECK_EQ_INT(ct_model_linear_dtype(b), CT_DTYPE_NF4);
    CHECK_EQ_INT(ct_model_config(a)->dtype, CT_DTYPE_F32); /* embeddings, norms, head as stored */
    int32_t ids[8] = {1, 5, 9, 17, 33, 65, 100, 2};
    size_t V = (size_t)ct_model_config(a)->vocab_size;
    float *la = malloc(8 * V * sizeof(float)), *lb = malloc(8 * V * sizeof(float));
    CHECK_OK(ct_model_forward(ct_test_ctx(), a, NULL, NULL, ids, 8, NULL, la, NULL, &err), &err);
    CHECK_OK(ct_model_forward(ct_test_ctx(), b, NULL, NULL, ids, 8, NULL, lb, NULL, &err), &err);
    CHECK(!memcmp(la, lb, 8 * V * sizeof(float)));
    /* 8-bit row-wise and FP4 run too (a second call on a quantized model is a no-op) */
    CHECK_OK(ct_model_quantize(a, &(ct_quant_opts){.bits = 8}, &err), &err);
    CHECK_EQ_INT(ct_model_linear_dtype(a), CT_DTYPE_NF4);
    free(la), free(lb);
    ct_model_free(a);
    ct_model_free(b);
    const char *kinds[][2] = {{"8", "INT8ROW"}, {"4", "FP4"}};
    for (int i = 0; i < 2; i++) {
        REQUIRE(ct_model_load("tests/fixtures/tiny-llama", &a, &err) == CT_OK);
        ct_quant_opts o = {.bits = atoi(kinds[i][0]), .fp4 = i == 1, .double_quant = false};
        CHECK_OK(ct_model_quantize(a, &o, &err), &err);
        CHECK_STREQ(ct_dtype_name(ct_model_linear_dtype(a)), kinds[i][1]);
        double nll = 0;
        size_t n = 0;
        CHECK_OK(ct_model_nll(ct_test_ctx(), a, NULL, ids, 8, &nll, &n, &err), &err);
        CHECK(n == 7 && isfinite(nll));
        ct_model_free(a);
    }
}

TEST(model_config_flags) {
    ct_err err = {0};
    ct_config c;
    CHECK_OK(ct_config_load("tests/fixtures/tiny-qwen2", &c, &err), &err);
    CHECK(c.arch == CT_ARCH_QWEN2 && c.attention_bias && !c.o_bias && !c.qk_norm);
    CHECK(!c.tie_word_embeddings && c.head_dim == 8 && c.num_kv_heads == 2);
    CHECK(c.dtype == CT_DTYPE_F32 && c.num_eos == 1 && c.eos_token_ids[0] == 2);
    CHECK(!c.gen_do_sample && c.gen_top_k == 50);
    CHECK_OK(ct_config_load("tests/fixtures/tiny-qwen3", &c, &err), &err);
    CHECK(c.arch == CT_ARCH_QWEN3 && c.qk_norm && c.head_dim == 16 && c.tie_word_embeddings);
    CHECK(!c.attention_bias && c.rope_theta == 1e6);
    CHECK_OK(ct_config_load("tests/fixtures/tiny-qwen2-bf16", &c, &err), &err);
    CHECK(c.dtype == CT_DTYPE_BF16);
    CHECK_OK(ct_config_load("tests/fixtures/tiny-llama-sharded", &c, &err), &err);
    CHECK(c.arch == CT_ARCH_LLAMA && c.attention_bias && c.o_bias && c.mlp_bias);
    CHECK(c.rope_theta == 500000.0 && c.rms_norm_eps == 1e-5);
    /* generation_config.json */
    CHECK(c.num_eos == 2 && c.eos_token_ids[0] == 2 && c.eos_token_ids[1] == 3);
    CHECK(c.gen_do_sample && c.gen_top_k == 20);
    CHECK_NEAR(c.gen_temperature, 0.7, 1e-6);
    CHECK_NEAR(c.gen_top_p, 0.8, 1e-6);
    CHECK_NEAR(c.gen_repetition_penalty, 1.05, 1e-6);
}

TEST(model_info_numbers) {
    ct_err err = {0};
    ct_model *m = NULL;
    CHECK_OK(ct_model_load("tests/fixtures/tiny-qwen2-bf16", &m, &err), &err);
    if (!m) return;
    /* embed 128*32 + lm_head 128*32 + norm 32 + 2 layers of (2*32 norms + q 32*32 + k,v 16*32
     * + biases 32+16+16 + o 32*32 + 3 * 64*32) */
    int64_t per_layer = 64 + 1024 + 512 + 512 + 64 + 1024 + 3 * 2048;
    CHECK_EQ_INT(ct_model_param_count(m), 2 * 4096 + 32 + 2 * per_layer);
    CHECK_EQ_INT(ct_model_weight_bytes(m), 2 * ct_model_param_count(m));
    CHECK(ct_model_memory_estimate(m, 256) > ct_model_weight_bytes(m));
    ct_model_free(m);
}

TEST(model_lora_module_index) {
    /* the table's LoRA targets in order: a target mask's bits and the LoRA init / dropout streams */
    static const char *order[CT_LORA_MODULES] = {"q_proj",      "k_proj",    "v_proj",    "o_proj",
                                                 "gate_proj",   "up_proj",   "down_proj", "in_proj_qkv",
                                                 "in_proj_z",   "in_proj_b", "in_proj_a", "out_proj"};
    int seen = 0;
    for (int id = 0; id < CT_LT_COUNT; id++) {
        int k = ct_spec_lora_index(id);
        if (!ct_layer_specs[id].lora) {
            CHECK_EQ_INT(k, -1);
            continue;
        }
        CHECK_EQ_INT(k, seen);
        CHECK(k < CT_LORA_MODULES && !strcmp(ct_layer_specs[id].lora, order[k]));
        CHECK(ct_spec_by_lora(order[k]) == &ct_layer_specs[id]);
        seen++;
    }
    CHECK_EQ_INT(seen, CT_LORA_MODULES);
    CHECK_EQ_INT(ct_spec_lora_index(-1), -1);
    CHECK_EQ_INT(ct_spec_lora_index(CT_LT_COUNT), -1);
}
