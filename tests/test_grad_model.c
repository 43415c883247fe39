/* Whole-model gradient checks: float backward (src/model/decoder.c) against central differences of
 * an independent double-precision forward (test_grad_util.h) for full, freeze, LoRA (all targets,
 * non-zero B) and prompt tuning on tiny qwen2/qwen3-shaped models; plus the invariants
 * (checkpointing == none, grad accumulation == big batch, packed == unpacked). */
#include "harness.h"
#include "test_grad_util.h"

static const tiny_spec k_qwen3 = {.C = 16, .Hq = 4, .Hkv = 2, .D = 8, .I = 24, .L = 2, .V = 29, .qwen3 = 1};
static const tiny_spec k_qwen2 = {.C = 16, .Hq = 4, .Hkv = 2, .D = 4, .I = 20, .L = 2, .V = 23, .qwen3 = 0};

typedef struct tbatch {
    int32_t ids[128], lab[128], pos[128], seg[128];
    float wt[128];
    ct_lm_batch b;
} tbatch;

/* B rows of T tokens; packed rows hold two samples (segment 0 / 1, positions restart). */
static void make_batch(tbatch *tb, size_t B, size_t T, int V, bool packed, bool weights, uint64_t seed) {
    tiny_rng_state = seed * 7919 + 12345;
    for (size_t i = 0; i < B * T; i++) {
        size_t t = i % T;
        tb->ids[i] = (int32_t)((tiny_urand() + 1) * 0.5 * V) % V;
        tb->lab[i] = (t % 4 == 1) ? -100 : tb->ids[i];
        size_t cut = T / 2;
        tb->seg[i] = packed && t >= cut ? 1 : 0;
        tb->pos[i] = (int32_t)(packed && t >= cut ? t - cut : t);
        if (packed && t == cut) tb->lab[i] = -100; /* first token of a packed sample: prompt */
        tb->wt[i] = weights ? (float)(0.5 + 0.25 * (double)(t % 3)) : 1.0f;
    }
    tb->lab[0] = -100;
    ct_lm_batch b = {.B = B, .T = T, .input_ids = tb->ids, .labels = tb->lab,
                  .position_ids = packed ? tb->pos : NULL, .segment_ids = packed ? tb->seg : NULL,
                  .loss_weights = weights ? tb->wt : NULL};
    tb->b = b;
}

/* Checks every registered parameter at its largest-gradient entry and a few random ones. */
static void fd_whole(ct_train_model *tm, const ct_lm_batch *b, const char *what) {
    ct_err err = {0};
    double norm = (double)ct_train_count_tokens(tm, b);
    ct_params_zero_grad(&tm->params);
    double loss = 0;
    CHECK_OK(ct_train_step(ct_test_ctx(), tm, b, norm, true, &loss, &err), &err);
    double ref = ref_loss(tm, b, norm);
    CHECK_MSG(fabs(loss - ref) <= 1e-5 * fabs(ref), "%s: loss %.9g vs double reference %.9g", what, loss, ref);
    double gmax = 0;
    for (size_t i = 0; i < tm->params.total; i++) gmax = fmax(gmax, fabs(tm->params.grad[i]));
    CHECK_MSG(gmax > 0, "%s: all gradients are zero", what);
    double worst = 0;
    const char *worst_name = "";
    for (size_t pi = 0; pi < tm->params.n; pi++) {
        ct_param *p = &tm->params.p[pi];
        size_t imax = 0;
        double pmax = 0;
        for (size_t i = 0; i < p->numel; i++)
            if (fabs(p->grad[i]) > pmax) pmax = fabs(p->grad[i]), imax = i;
        size_t picks[5] = {imax};
        for (int k = 1; k < 5; k++) picks[k] = (size_t)((tiny_urand() + 1) * 0.5 * (double)p->numel) % p->numel;
        for (int k = 0; k < 5; k++) {
            size_t i = picks[k];
            float x0 = p->data[i];
            double h = 1e-3 * fmax(1.0, fabs(x0));
            float xp = (float)(x0 + h), xm = (float)(x0 - h);
            p->data[i] = xp;
            double lp = ref_loss(tm, b, norm);
            p->data[i] = xm;
            double lm = ref_loss(tm, b, norm);
            p->data[i] = x0;
            double fd = (lp - lm) / ((double)xp - (double)xm);
            double err_rel = fabs(fd - p->grad[i]) / fmax(pmax, 1e-3 * gmax);
            if (err_rel > worst) worst = err_rel, worst_name = p->name;
            CHECK_MSG(err_rel < 2e-3, "%s: %s[%zu] grad %.6g vs finite difference %.6g", what, p->name, i,
                      (double)p->grad[i], fd);
        }
    }
    if (getenv("CT_TEST_VERBOSE")) printf("    %s: loss %.6f, worst rel err %.2e (%s)\n", what, loss, worst, worst_name);
}

TEST(grad_model_full_fd) {
    ct_model m;
    ct_err err = {0};
    for (int arch = 0; arch < 2; arch++) {
        tiny_model_init(&m, arch ? &k_qwen3 : &k_qwen2, 1 + arch);
        ct_method_cfg mc = {.method = CT_METHOD_FULL, .seed = 3};
        ct_train_model tm;
        CHECK_OK(ct_train_model_init(&tm, &m, &mc, &err), &err);
        tbatch tb;
        make_batch(&tb, 2, 8, m.cfg.vocab_size, arch == 1, true, 5);
        fd_whole(&tm, &tb.b, arch ? "full qwen3 packed+weights" : "full qwen2");
        ct_train_model_free(&tm);
        tiny_model_free(&m);
    }
}

TEST(grad_model_lora_fd) {
    ct_model m;
    ct_err err = {0};
    for (int arch = 0; arch < 2; arch++) {
        tiny_model_init(&m, arch ? &k_qwen3 : &k_qwen2, 11 + arch);
        ct_method_cfg mc = {.method = CT_METHOD_LORA, .seed = 3, .lora_rank = 3, .lora_alpha = 5,
                            .lora_target = "all", .use_rslora = arch == 1,
                            .additional_target = arch ? "norm" : "lm_head"};
        ct_train_model tm;
        CHECK_OK(ct_train_model_init(&tm, &m, &mc, &err), &err);
        CHECK_EQ_INT(tm.params.n, (size_t)(2 * 7 * 2 + 1));
        CHECK(ct_params_find(&tm.params, arch ? "base_model.model.model.norm.weight" : "base_model.model.lm_head.weight"));
        ct_param *qa = ct_params_find(&tm.params, "base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight");
        ct_param *db = ct_params_find(&tm.params, "base_model.model.model.layers.0.mlp.down_proj.lora_B.weight");
        CHECK(qa && qa->shape[0] == 3 && qa->shape[1] == m.cfg.hidden_size && qa->decay);
        CHECK(db && db->shape[0] == m.cfg.hidden_size && db->shape[1] == 3);
        if (qa) { /* kaiming_uniform(a=sqrt(5)) bound 1/sqrt(in), not all zero */
            double mx = 0;
            for (size_t j = 0; j < qa->numel; j++) mx = fmax(mx, fabs(qa->data[j]));
            CHECK(mx > 0 && mx <= 1.0 / sqrt((double)m.cfg.hidden_size));
        }
        /* B starts at zero (PEFT); make it non-zero so A gradients are non-trivial */
        for (size_t i = 0; i < tm.params.n; i++)
            if (strstr(tm.params.p[i].name, "lora_B"))
                for (size_t j = 0; j < tm.params.p[i].numel; j++) {
                    CHECK(tm.params.p[i].data[j] == 0.0f);
                    tm.params.p[i].data[j] = (float)(0.3 * tiny_urand());
                }
        tbatch tb;
        make_batch(&tb, 2, 7, m.cfg.vocab_size, false, false, 6);
        fd_whole(&tm, &tb.b, arch ? "lora qwen3 rslora" : "lora qwen2");
        ct_train_model_free(&tm);
        tiny_model_free(&m);
    }
}

TEST(grad_model_prompt_fd) {
    ct_model m;
    ct_err err = {0};
    tiny_model_init(&m, &k_qwen3, 21);
    int32_t text[2] = {4, 9};
    ct_method_cfg mc = {.method = CT_METHOD_PROMPT, .seed = 3, .num_virtual_tokens = 3,
                        .prompt_init = CT_PROMPT_INIT_TEXT, .prompt_init_ids = text, .n_prompt_init_ids = 2};
    ct_train_model tm;
    CHECK_OK(ct_train_model_init(&tm, &m, &mc, &err), &err);
    CHECK_EQ_INT(tm.params.n, 1);
    CHECK_STREQ(tm.params.p[0].name, "prompt_embeddings");
    /* TEXT init: rows of ids 4, 9, 4 */
    CHECK(memcmp(tm.params.p[0].data + 2 * 16, (float *)m.w.g[CT_GT_EMBED].data + 4 * 16, 16 * sizeof(float)) == 0);
    CHECK(memcmp(tm.params.p[0].data + 16, (float *)m.w.g[CT_GT_EMBED].data + 9 * 16, 16 * sizeof(float)) == 0);
    tbatch tb;
    make_batch(&tb, 2, 6, m.cfg.vocab_size, false, false, 7);
    tb.lab[6] = tb.ids[6]; /* row 1's first label is predicted by the last virtual token */
    CHECK_EQ_INT(ct_train_count_tokens(&tm, &tb.b), ct_lm_count_targets(&tb.b, 0) + 1);
    fd_whole(&tm, &tb.b, "prompt tuning");
    ct_train_model_free(&tm);
    tiny_model_free(&m);
}

TEST(grad_model_freeze_select) {
    ct_model m;
    ct_err err = {0};
    tiny_spec s = k_qwen2;
    s.L = 4;
    tiny_model_init(&m, &s, 31);
    ct_method_cfg mc = {.method = CT_METHOD_FREEZE, .freeze_trainable_layers = 1,
                        .freeze_trainable_modules = "mlp,self_attn", .freeze_extra_modules = "embed_tokens"};
    ct_train_model tm;
    CHECK_OK(ct_train_model_init(&tm, &m, &mc, &err), &err);
    /* last layer's attention (4 weights + 3 biases) and MLP (3), plus the embedding */
    CHECK_EQ_INT(tm.params.n, 11);
    CHECK(ct_params_find(&tm.params, "model.layers.3.mlp.up_proj.weight") != NULL);
    CHECK(ct_params_find(&tm.params, "model.layers.3.self_attn.k_proj.bias") != NULL);
    CHECK(ct_params_find(&tm.params, "model.layers.3.input_layernorm.weight") == NULL);
    CHECK(ct_params_find(&tm.params, "model.layers.2.mlp.up_proj.weight") == NULL);
    CHECK(ct_params_find(&tm.params, "model.embed_tokens.weight") != NULL);
    CHECK(!ct_params_find(&tm.params, "model.layers.3.self_attn.k_proj.bias")->decay);
    CHECK(ct_params_find(&tm.params, "model.layers.3.mlp.up_proj.weight")->decay);
    tbatch tb;
    make_batch(&tb, 1, 8, m.cfg.vocab_size, false, false, 8);
    fd_whole(&tm, &tb.b, "freeze");
    ct_train_model_free(&tm);
    /* negative N = first layers; "norm" extra matches every norm by substring (LlamaFactory) */
    ct_method_cfg mc2 = {.method = CT_METHOD_FREEZE, .freeze_trainable_layers = -2, .freeze_extra_modules = "norm"};
    CHECK_OK(ct_train_model_init(&tm, &m, &mc2, &err), &err);
    CHECK(ct_params_find(&tm.params, "model.layers.1.mlp.down_proj.weight") != NULL);
    CHECK(ct_params_find(&tm.params, "model.layers.2.mlp.down_proj.weight") == NULL);
    CHECK(ct_params_find(&tm.params, "model.layers.3.input_layernorm.weight") != NULL);
    CHECK(ct_params_find(&tm.params, "model.norm.weight") != NULL);
    ct_train_model_free(&tm);
    ct_method_cfg bad = {.method = CT_METHOD_FREEZE, .freeze_trainable_layers = 1, .freeze_trainable_modules = "mlpp"};
    CHECK(ct_train_model_init(&tm, &m, &bad, &err) == CT_ERR_ARG);
    CHECK(strstr(err.msg, "mlpp") != NULL);
    ct_method_cfg bad2 = {.method = CT_METHOD_LORA, .lora_rank = 4, .lora_target = "q_proj,foo"};
    CHECK(ct_train_model_init(&tm, &m, &bad2, &err) == CT_ERR_ARG);
    CHECK(strstr(err.msg, "foo") != NULL);
    /* the base model's views are never touched */
    CHECK(m.w.layers[3].t[CT_LT_UP].dtype == CT_DTYPE_F32);
    tiny_model_free(&m);
}

TEST(grad_decay_names) {
    CHECK(ct_param_name_decays("model.layers.0.mlp.up_proj.weight"));
    CHECK(ct_param_name_decays("model.embed_tokens.weight"));
    CHECK(ct_param_name_decays("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"));
    CHECK(!ct_param_name_decays("model.layers.0.self_attn.q_proj.bias"));
    CHECK(!ct_param_name_decays("model.layers.0.input_layernorm.weight"));
    CHECK(!ct_param_name_decays("model.layers.0.self_attn.q_norm.weight"));
    CHECK(!ct_param_name_decays("model.norm.weight"));
}

/* Runs one step with the given options; returns loss and a malloc'd copy of the grads. */
static float *run_grads(ct_model *m, const ct_method_cfg *mc, const ct_lm_batch *bs, size_t nb, bool ckpt,
                        double *loss_out) {
    ct_err err = {0};
    ct_train_model tm;
    CHECK_OK(ct_train_model_init(&tm, m, mc, &err), &err);
    for (size_t i = 0; i < tm.params.n; i++)
        if (strstr(tm.params.p[i].name, "lora_B"))
            for (size_t j = 0; j < tm.params.p[i].numel; j++) tm.params.p[i].data[j] = 0.01f * (float)(j % 7);
    tm.checkpointing = ckpt;
    size_t norm = 0;
    for (size_t i = 0; i < nb; i++) norm += ct_lm_count_targets(&bs[i], 0);
    double total = 0;
    for (size_t i = 0; i < nb; i++) {
        double l = 0;
        CHECK_OK(ct_train_step(ct_test_ctx(), &tm, &bs[i], (double)norm, true, &l, &err), &err);
        total += l;
    }
    *loss_out = total;
    float *g = malloc(tm.params.total * sizeof(float));
    memcpy(g, tm.params.grad, tm.params.total * sizeof(float));
    ct_train_model_free(&tm);
    return g;
}

static double max_rel_diff(const float *a, const float *b, size_t n) {
    double mx = 0, d = 0;
    for (size_t i = 0; i < n; i++) {
        mx = fmax(mx, fabs(a[i]));
        d = fmax(d, fabs((double)a[i] - b[i]));
    }
    return d / fmax(mx, 1e-30);
}

static size_t params_total(ct_model *m, const ct_method_cfg *mc) {
    ct_err err = {0};
    ct_train_model tm;
    if (ct_train_model_init(&tm, m, mc, &err)) return 0;
    size_t n = tm.params.total;
    ct_train_model_free(&tm);
    return n;
}

TEST(grad_checkpointing_identical) {
    ct_model m;
    tiny_model_init(&m, &k_qwen3, 41);
    ct_method_cfg mcs[2] = {{.method = CT_METHOD_FULL}, {.method = CT_METHOD_LORA, .lora_rank = 2, .lora_dropout = 0.25, .seed = 9}};
    tbatch tb;
    make_batch(&tb, 2, 8, m.cfg.vocab_size, true, false, 9);
    for (int k = 0; k < 2; k++) {
        double l1, l2;
        float *g1 = run_grads(&m, &mcs[k], &tb.b, 1, false, &l1);
        float *g2 = run_grads(&m, &mcs[k], &tb.b, 1, true, &l2);
        size_t n = params_total(&m, &mcs[k]);
        CHECK(l1 == l2);
        CHECK_MSG(memcmp(g1, g2, n * sizeof(float)) == 0, "checkpointing changed gradients (method %d, max rel %.3g)",
                  k, max_rel_diff(g1, g2, n));
        free(g1);
        free(g2);
    }
    tiny_model_free(&m);
}

TEST(grad_accumulation_equals_big_batch) {
    ct_model m;
    tiny_model_init(&m, &k_qwen2, 51);
    ct_method_cfg mcs[2] = {{.method = CT_METHOD_FULL}, {.method = CT_METHOD_LORA, .lora_rank = 4, .seed = 2}};
    tbatch big;
    make_batch(&big, 4, 8, m.cfg.vocab_size, false, true, 10);
    /* different numbers of trained tokens per row make per-micro-batch averaging wrong */
    big.lab[9] = big.lab[10] = big.lab[11] = -100;
    tbatch small[4];
    ct_lm_batch bs[4];
    for (int r = 0; r < 4; r++) {
        memcpy(small[r].ids, big.ids + r * 8, 8 * sizeof(int32_t));
        memcpy(small[r].lab, big.lab + r * 8, 8 * sizeof(int32_t));
        memcpy(small[r].wt, big.wt + r * 8, 8 * sizeof(float));
        ct_lm_batch b = {.B = 1, .T = 8, .input_ids = small[r].ids, .labels = small[r].lab, .loss_weights = small[r].wt};
        bs[r] = b;
    }
    for (int k = 0; k < 2; k++) {
        double l1, l2;
        float *g1 = run_grads(&m, &mcs[k], &big.b, 1, false, &l1);
        float *g2 = run_grads(&m, &mcs[k], bs, 4, false, &l2);
        size_t n = params_total(&m, &mcs[k]);
        CHECK_MSG(fabs(l1 - l2) <= 1e-6 * fabs(l1), "accumulated loss %.9g vs big batch %.9g", l2, l1);
        double rd = max_rel_diff(g1, g2, n);
        CHECK_MSG(rd <= 1e-6, "accumulated grads differ from big batch: max rel %.3g (method %d)", rd, k);
        free(g1);
        free(g2);
    }
    tiny_model_free(&m);
}

TEST(grad_packed_equals_unpacked) {
    /* 2 x 40 tokens: long enough for the sgemm-blocked attention (T >= 32) in both layouts */
    ct_model m;
    tiny_model_init(&m, &k_qwen3, 61);
    ct_method_cfg mc = {.method = CT_METHOD_LORA, .lora_rank = 2};
    size_t H = 40;
    tbatch pk;
    make_batch(&pk, 1, 2 * H, m.cfg.vocab_size, true, false, 11); /* samples [0,H) and [H,2H) */
    tbatch a, b;
    memcpy(a.ids, pk.ids, H * sizeof(int32_t));
    memcpy(a.lab, pk.lab, H * sizeof(int32_t));
    memcpy(b.ids, pk.ids + H, H * sizeof(int32_t));
    memcpy(b.lab, pk.lab + H, H * sizeof(int32_t));
    ct_lm_batch un[2] = {{.B = 1, .T = H, .input_ids = a.ids, .labels = a.lab},
                      {.B = 1, .T = H, .input_ids = b.ids, .labels = b.lab}};
    double l1, l2;
    float *g1 = run_grads(&m, &mc, &pk.b, 1, false, &l1);
    float *g2 = run_grads(&m, &mc, un, 2, false, &l2);
    size_t n = params_total(&m, &mc);
    CHECK_MSG(fabs(l1 - l2) <= 1e-5 * fabs(l1), "packed loss %.9g vs unpacked %.9g", l1, l2);
    double rd = max_rel_diff(g1, g2, n);
    CHECK_MSG(rd <= 1e-5, "packed grads differ from unpacked: max rel %.3g", rd);
    free(g1);
    free(g2);
    /* and the blocked path agrees with the double reference on the packed row */
    ct_err err = {0};
    ct_train_model tm;
    CHECK_OK(ct_train_model_init(&tm, &m, &mc, &err), &err);
    double loss = 0, norm = (double)ct_lm_count_targets(&pk.b, 0);
    CHECK_OK(ct_train_step(ct_test_ctx(), &tm, &pk.b, norm, false, &loss, &err), &err);
    double ref = ref_loss(&tm, &pk.b, norm);
    CHECK_MSG(fabs(loss - ref) <= 1e-5 * ref, "packed T=80 loss %.9g vs double reference %.9g", loss, ref);
    ct_train_model_free(&tm);
    tiny_model_free(&m);
}

TEST(grad_step_errors) {
    ct_model m;
    ct_err err = {0};
    tiny_model_init(&m, &k_qwen2, 71);
    ct_method_cfg mc = {.method = CT_METHOD_LORA, .lora_rank = 2};
    ct_train_model tm;
    CHECK_OK(ct_train_model_init(&tm, &m, &mc, &err), &err);
    int32_t ids[4] = {1, 2, 99, 3}, lab[4] = {1, 2, 3, 4};
    ct_lm_batch b = {.B = 1, .T = 4, .input_ids = ids, .labels = lab};
    double loss;
    CHECK(ct_train_step(ct_test_ctx(), &tm, &b, 3, true, &loss, &err) == CT_ERR_ARG);
    CHECK(strstr(err.msg, "input_ids[0][2] = 99") != NULL);
    ids[2] = 5;
    lab[3] = 1000;
    CHECK(ct_train_step(ct_test_ctx(), &tm, &b, 3, true, &loss, &err) == CT_ERR_ARG);
    CHECK(strstr(err.msg, "labels[0][3]") != NULL);
    /* NaN weights are detected */
    lab[3] = 4;
    ((float *)m.w.layers[0].t[CT_LT_UP].data)[0] = NAN;
    CHECK(ct_train_step(ct_test_ctx(), &tm, &b, 3, true, &loss, &err) == CT_ERR_NUMERIC);
    ct_train_model_free(&tm);
    tiny_model_free(&m);
}

TEST(grad_prompt_init_modes) {
    ct_model m;
    ct_err err = {0};
    tiny_model_init(&m, &k_qwen3, 81);
    ct_train_model tm;
    ct_method_cfg r = {.method = CT_METHOD_PROMPT, .num_virtual_tokens = 4, .prompt_init = CT_PROMPT_INIT_RANDOM, .seed = 5};
    CHECK_OK(ct_train_model_init(&tm, &m, &r, &err), &err);
    double mean = 0, var = 0;
    size_t n = tm.params.total > 64 ? 64 : tm.params.total;
    for (size_t i = 0; i < n; i++) mean += tm.params.p[0].data[i] / (double)n;
    for (size_t i = 0; i < n; i++) var += pow(tm.params.p[0].data[i] - mean, 2) / (double)n;
    CHECK(fabs(mean) < 0.4 && var > 0.5 && var < 1.6); /* ~N(0, 1) */
    ct_train_model_free(&tm);
    ct_method_cfg v = {.method = CT_METHOD_PROMPT, .num_virtual_tokens = 4, .prompt_init = CT_PROMPT_INIT_VOCAB, .seed = 5};
    CHECK_OK(ct_train_model_init(&tm, &m, &v, &err), &err);
    for (int row = 0; row < 4; row++) { /* every row is some vocab embedding */
        bool found = false;
        for (int id = 0; id < m.cfg.vocab_size && !found; id++)
            found = memcmp(tm.params.p[0].data + row * 16, (float *)m.w.g[CT_GT_EMBED].data + id * 16, 16 * sizeof(float)) == 0;
        CHECK(found);
    }
    ct_train_model_free(&tm);
    ct_method_cfg t = {.method = CT_METHOD_PROMPT, .num_virtual_tokens = 4, .prompt_init = CT_PROMPT_INIT_TEXT};
    CHECK(ct_train_model_init(&tm, &m, &t, &err) == CT_ERR_ARG);
    /* packing is refused with prompt tuning */
    CHECK_OK(ct_train_model_init(&tm, &m, &r, &err), &err);
    tbatch tb;
    make_batch(&tb, 1, 8, m.cfg.vocab_size, true, false, 3);
    double loss;
    CHECK(ct_train_step(ct_test_ctx(), &tm, &tb.b, 4, true, &loss, &err) == CT_ERR_UNSUPPORTED);
    ct_train_model_free(&tm);
    tiny_model_free(&m);
}

TEST(grad_lora_bf16_base_matches_rounded_f32) {
    /* frozen bf16 base weights give the same LoRA grads as f32 weights holding the bf16 values */
    ct_model m;
    tiny_model_init(&m, &k_qwen2, 91);
    for (int l = 0; l < m.cfg.num_layers; l++)
        for (int i = 0; i < CT_LT_COUNT; i++) {
            ct_tensor *W = &m.w.layers[l].t[i];
            if (!ct_layer_specs[i].lora || !m.w.layers[l].t[i].data) continue;
            for (int64_t j = 0; j < ct_tensor_numel(W); j++)
                ((float *)W->data)[j] = ct_bf16_to_f32(ct_f32_to_bf16(((float *)W->data)[j]));
        }
    ct_method_cfg mc = {.method = CT_METHOD_LORA, .lora_rank = 2};
    tbatch tb;
    make_batch(&tb, 2, 8, m.cfg.vocab_size, false, false, 4);
    double l1, l2;
    float *g1 = run_grads(&m, &mc, &tb.b, 1, false, &l1);
    void *saved[2][CT_LT_COUNT];
    for (int l = 0; l < m.cfg.num_layers; l++)
        for (int i = 0; i < CT_LT_COUNT; i++) {
            ct_tensor *W = &m.w.layers[l].t[i];
            if (!ct_layer_specs[i].lora || !m.w.layers[l].t[i].data) continue;
            size_t n = (size_t)ct_tensor_numel(W);
            uint16_t *b = malloc(n * 2);
            for (size_t j = 0; j < n; j++) b[j] = ct_f32_to_bf16(((float *)W->data)[j]);
            saved[l][i] = W->data;
            W->data = b;
            W->dtype = CT_DTYPE_BF16;
        }
    float *g2 = run_grads(&m, &mc, &tb.b, 1, false, &l2);
    size_t n = params_total(&m, &mc);
    CHECK_NEAR(l1, l2, 1e-6 * l1);
    /* the f32 cache of frozen bf16 weights gives the same result and leaves the base alone */
    {
        ct_err err = {0};
        ct_train_model tm;
        CHECK_OK(ct_train_model_init(&tm, &m, &mc, &err), &err);
        CHECK_OK(ct_train_model_cache_frozen_f32(&tm, &err), &err);
        CHECK(tm.w.layers[0].t[CT_LT_WQ].dtype == CT_DTYPE_F32);
        CHECK(m.w.layers[0].t[CT_LT_WQ].dtype == CT_DTYPE_BF16);
        ct_train_model_free(&tm);
        CHECK(m.w.layers[0].t[CT_LT_WQ].dtype == CT_DTYPE_BF16);
        CHECK(m.w.layers[0].t[CT_LT_WQ].data == NULL || m.w.layers[0].t[CT_LT_WQ].data != saved[0][0]);
    }
    CHECK_MSG(max_rel_diff(g1, g2, n) < 1e-5, "bf16 base grads differ: %.3g", max_rel_diff(g1, g2, n));
    for (int l = 0; l < m.cfg.num_layers; l++)
        for (int i = 0; i < CT_LT_COUNT; i++) {
            ct_tensor *W = &m.w.layers[l].t[i];
            if (!ct_layer_specs[i].lora || !m.w.layers[l].t[i].data) continue;
            free(W->data);
            W->data = saved[l][i];
            W->dtype = CT_DTYPE_F32;
        }
    free(g1);
    free(g2);
    tiny_model_free(&m);
}

/* The one LoRA merge (ct_lora_merge, used by adapter merging and export) gives the model the
 * unmerged linear-with-LoRA path computes; the base stays untouched. */
TEST(grad_lora_merge_unmerge) {
    ct_model m;
    ct_err err = {0};
    tiny_model_init(&m, &k_qwen2, 101);
    ct_method_cfg mc = {.method = CT_METHOD_LORA, .lora_rank = 3, .lora_alpha = 6};
    ct_train_model tm;
    CHECK_OK(ct_train_model_init(&tm, &m, &mc, &err), &err);
    for (size_t i = 0; i < tm.params.n; i++)
        for (size_t j = 0; j < tm.params.p[i].numel; j++)
            if (strstr(tm.params.p[i].name, "lora_B")) tm.params.p[i].data[j] = (float)(0.2 * tiny_urand());
    tbatch tb;
    make_batch(&tb, 2, 8, m.cfg.vocab_size, false, false, 12);
    double norm = (double)ct_lm_count_targets(&tb.b, 0), l0, l1, l2;
    CHECK_OK(ct_train_step(ct_test_ctx(), &tm, &tb.b, norm, false, &l0, &err), &err);
    void *wq = m.w.layers[1].t[CT_LT_WQ].data;
    ct_weights mw;
    CHECK_OK(ct_weights_clone(&mw, &tm.w, &err), &err);
    float *owned[2 * CT_LT_COUNT];
    int no = 0;
    for (int l = 0; l < mw.n_layers; l++)
        for (int id = 0; id < CT_LT_COUNT; id++) {
            const ct_lora_ref *r = &tm.lora.ref[l * CT_LT_COUNT + id];
            if (!r->A) continue;
            ct_tensor *W = &mw.layers[l].t[id];
            size_t n = (size_t)ct_tensor_numel(W);
            float *f = owned[no++] = malloc(n * sizeof(float));
            ct_tensor_to_f32(W, 0, n, f);
            ct_lora_merge(ct_test_ctx(), f, r, (size_t)W->shape[0], (size_t)W->shape[1]);
            W->data = f;
        }
    CHECK(mw.layers[1].t[CT_LT_WQ].data != wq);
    ct_dec_hooks merged = {.w = &mw};
    ct_dec_opts o = {0};
    CHECK_OK(ct_lm_loss(ct_test_ctx(), &m, &merged, &o, ct_ctx_arena(ct_test_ctx()), &tb.b, 0.0f, NULL, 64, &l1, NULL,
                        &err),
             &err);
    l1 /= norm;
    CHECK_MSG(fabs(l0 - l1) <= 1e-5 * l0, "merged loss %.9g vs adapter loss %.9g", l1, l0);
    CHECK(ct_lm_loss(ct_test_ctx(), &m, &merged, &o, ct_ctx_arena(ct_test_ctx()), &tb.b, 1.0f, &tm.grads, 64, &l1,
                     NULL, &err) == CT_ERR_ARG); /* a backward needs a train pass */
    CHECK(m.w.layers[1].t[CT_LT_WQ].data == wq);
    CHECK_OK(ct_train_step(ct_test_ctx(), &tm, &tb.b, norm, false, &l2, &err), &err);
    CHECK(l2 == l0);
    for (int i = 0; i < no; i++) free(owned[i]);
    ct_weights_free(&mw);
    ct_train_model_free(&tm);
    CHECK(m.w.layers[1].t[CT_LT_WQ].data == wq);
    tiny_model_free(&m);
}
