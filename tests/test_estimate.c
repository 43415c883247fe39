/* The estimator's arithmetic on known configs (include/ctune/estimate.h); its agreement with a
 * measured run is tests/cli/estimate_agreement.sh. */
#include "ctune/estimate.h"
#include "harness.h"

/* Parameter counts of the published checkpoints (HF safetensors metadata totals). */
TEST(estimate_named_sizes_param_counts) {
    static const struct { const char *name; long long n; } k[] = {
        {"qwen2.5-0.5b", 494032768LL}, {"qwen2.5-1.5b", 1543714304LL}, {"qwen2.5-7b", 7615616512LL},
        {"qwen2.5-72b", 72706203648LL}, {"qwen3-0.6b", 596049920LL}, {"qwen3-8b", 8190735360LL},
        {"llama-3.2-1b", 1235814400LL}, {"llama-3.2-3b", 3212749824LL}, {"llama-3.1-8b", 8030261248LL},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        ct_config c;
        CHECK(ct_size_config(k[i].name, &c, NULL) == CT_OK);
        CHECK_MSG(ct_config_param_count(&c) == k[i].n, "%s: %lld", k[i].name, (long long)ct_config_param_count(&c));
    }
    ct_config c;
    CHECK(ct_estimate_config("Qwen/Qwen2.5-7B-Instruct", &c, NULL) == CT_OK && c.hidden_size == 3584 &&
          !c.tie_word_embeddings);
    CHECK(ct_size_config("QWEN3-4B", &c, NULL) == CT_OK && c.qk_norm && c.head_dim == 128);
    ct_err err = {0};
    CHECK(ct_size_config("qwen9-1b", &c, &err) == CT_ERR_ARG && strstr(err.msg, "qwen9-1b") &&
          strstr(err.msg, "qwen2.5-0.5b"));
}

TEST(estimate_breakdown_qwen25_05b) {
    ct_config c;
    CHECK(ct_size_config("qwen2.5-0.5b", &c, NULL) == CT_OK);
    const double P = 494032768.0;
    ct_estimate_opts o;
    ct_estimate_opts_default(&o);
    o.method = CT_EST_FULL;
    o.cutoff_len = 512;
    o.threads = 1;
    ct_estimate e;
    CHECK(ct_estimate_train(&c, &o, &e, NULL) == CT_OK);
    /* every tensor's size is a multiple of 16 floats: no padding */
    CHECK(e.trainable == 494032768LL && e.weights == (size_t)(2 * P) && e.frozen_f32 == 0);
    CHECK(e.masters == (size_t)(4 * P) && e.grads == e.masters && e.adam == 2 * e.masters);
    CHECK(e.peak == e.weights + e.frozen_f32 + e.masters + e.grads + e.adam + e.activations + e.lm_head + e.scratch +
                        e.overhead);
    /* LM head chunk: 64 x 151936 f32 logits dominate */
    CHECK(e.lm_head >= 64u * 151936u * 4u && e.lm_head < 64u * 151936u * 4u + (1u << 20));
    size_t act = e.activations;
    o.checkpointing = true;
    CHECK(ct_estimate_train(&c, &o, &e, NULL) == CT_OK && e.activations < act / 4);
    o.checkpointing = false;
    o.cutoff_len = 1024;
    CHECK(ct_estimate_train(&c, &o, &e, NULL) == CT_OK && e.activations > 2 * act - (1u << 20) &&
          e.activations < 2 * act + (1u << 20));
    /* LoRA r8 on every linear: LlamaFactory's 4,399,104 trainable; frozen weights get f32 copies */
    o.method = CT_EST_LORA;
    CHECK(ct_estimate_train(&c, &o, &e, NULL) == CT_OK);
    CHECK(e.trainable == 4399104 && e.frozen_f32 == (size_t)(4 * P) && e.masters == 4399104u * 4u);
    snprintf(o.lora_target, sizeof o.lora_target, "q_proj,v_proj");
    CHECK(ct_estimate_train(&c, &o, &e, NULL) == CT_OK && e.trainable == 24 * (8 * 896 * 2 + 8 * 896 + 128 * 8));
    snprintf(o.lora_target, sizeof o.lora_target, "qproj");
    ct_err err = {0};
    CHECK(ct_estimate_train(&c, &o, &e, &err) == CT_ERR_ARG && strstr(err.msg, "qproj"));
    o.lora_target[0] = 0;
    /* QLoRA 4-bit: 357,826,560 linear weights at 4 bits + absmax statistics, the rest 16-bit */
    o.method = CT_EST_QLORA4;
    CHECK(ct_estimate_train(&c, &o, &e, NULL) == CT_OK);
    double lin = 357826560.0, q4 = lin / 2 + lin / 64 + 4 * lin / (64 * 256) + 2 * (P - lin);
    CHECK_MSG(fabs((double)e.weights - q4) < 16, "qlora4 weights %zu vs %.0f", e.weights, q4);
    CHECK(e.frozen_f32 == (size_t)(4 * (P - lin)));
    o.method = CT_EST_QLORA8;
    CHECK(ct_estimate_train(&c, &o, &e, NULL) == CT_OK && e.weights < (size_t)(1.1 * lin + 2 * (P - lin)));
    /* freeze: the last 2 layers (14,912,384 parameters each) */
    o.method = CT_EST_FREEZE;
    CHECK(ct_estimate_train(&c, &o, &e, NULL) == CT_OK && e.trainable == 2 * 14912384LL);
    o.method = CT_EST_PROMPT;
    CHECK(ct_estimate_train(&c, &o, &e, NULL) == CT_OK && e.trainable == 20 * 896);
    /* above 8 GiB of f32 parameters the trainer keeps frozen weights in bf16 */
    CHECK(ct_size_config("qwen2.5-7b", &c, NULL) == CT_OK);
    o.method = CT_EST_LORA;
    CHECK(ct_estimate_train(&c, &o, &e, NULL) == CT_OK && e.frozen_f32 == 0);
    /* speed: full = 3 forwards, LoRA 2, checkpointing one more */
    double lora = e.flops_per_token;
    o.method = CT_EST_FULL;
    CHECK(ct_estimate_train(&c, &o, &e, NULL) == CT_OK && fabs(e.flops_per_token / lora - 1.5) < 1e-9);
    o.checkpointing = true;
    CHECK(ct_estimate_train(&c, &o, &e, NULL) == CT_OK && fabs(e.flops_per_token / lora - 2.0) < 1e-9);
    ct_estimate_set_speed(&e, 100.0);
    CHECK(fabs(e.tokens_per_s * e.flops_per_token - 100e9) < 1.0);
    ct_est_method m;
    CHECK(ct_est_method_parse("qlora4", &m) && m == CT_EST_QLORA4 && !ct_est_method_parse("dora", &m));
}

/* Llama 3.x config.json as shipped (transformers-4 layout) and in the transformers-5 layout
 * (rope_parameters with rope_theta inside, dtype): llama3 rope scaling, the eos list, the
 * parameter counts of the checkpoints. */
TEST(estimate_llama3_configs_as_shipped) {
    static const struct { const char *file; long long n; double factor; bool tied; } k[] = {
        {"tests/fixtures/configs/llama-3.1-8b-instruct.json", 8030261248LL, 8.0, false},
        {"tests/fixtures/configs/llama-3.2-1b-instruct.json", 1235814400LL, 32.0, true},
        {"tests/fixtures/configs/llama-3.2-1b-instruct-tf5.json", 1235814400LL, 32.0, true},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        ct_config c;
        ct_err err = {0};
        CHECK_OK(ct_estimate_config(k[i].file, &c, &err), &err);
        CHECK_MSG(ct_config_param_count(&c) == k[i].n, "%s: %lld", k[i].file, (long long)ct_config_param_count(&c));
        CHECK(c.arch == CT_ARCH_LLAMA && c.rope_type == CT_ROPE_LLAMA3 && c.rope_factor == k[i].factor);
        CHECK(c.rope_theta == 5e5 && c.rope_original_max_pos == 8192 && c.dtype == CT_DTYPE_BF16);
        CHECK(c.tie_word_embeddings == k[i].tied && c.num_eos == 3 && c.eos_token_ids[2] == 128009);
    }
}
