/* Golden parity with PyTorch autograd (float64; tests/gen/make_train_fixtures.py) on tiny Qwen3
 * (q/k norm, explicit head_dim, tied, one packed row) and Qwen2 (q/k/v bias, untied) models:
 * loss and every LoRA gradient (all 7 linear modules, non-zero B), every full fine-tuning
 * gradient, and 20 AdamW steps with cosine schedule + warmup + clipping (LoRA and full). */
#include <stdlib.h>

#include "fixture.h"
#include "harness.h"
#include "peft/method.h"
#include "quant/quant.h"
#include "train/optim.h"
#include "train/step.h"

/* Copies the fixture's LoRA init (non-zero B) into the registry. */
static void fx_set_lora(const fixture *fx, ct_train_model *tm) {
    char key[256];
    for (size_t i = 0; i < tm->params.n; i++) {
        ct_param *p = &tm->params.p[i];
        snprintf(key, sizeof key, "lora_init.%s", p->name);
        const fx_array *a = fx_get(fx, key);
        CHECK_MSG(a && a->n == p->numel, "fixture has no %s of %zu values", key, p->numel);
        if (a && a->n == p->numel)
            for (size_t j = 0; j < a->n; j++) p->data[j] = (float)a->data[j];
    }
}

/* Compares every registered gradient with "<prefix><name>"; returns the worst relative error. */
static double compare_grads(const fixture *fx, ct_train_model *tm, const char *prefix, double tol) {
    char key[256];
    double worst = 0;
    size_t found = 0;
    for (size_t i = 0; i < tm->params.n; i++) {
        ct_param *p = &tm->params.p[i];
        snprintf(key, sizeof key, "%s%s", prefix, p->name);
        const fx_array *a = fx_get(fx, key);
        CHECK_MSG(a && a->n == p->numel, "no reference gradient %s", key);
        if (!a || a->n != p->numel) continue;
        found++;
        double mx = 0, d = 0;
        for (size_t j = 0; j < a->n; j++) {
            mx = fmax(mx, fabs(a->data[j]));
            d = fmax(d, fabs(a->data[j] - p->grad[j]));
        }
        double rel = d / fmax(mx, 1e-12);
        worst = fmax(worst, rel);
        CHECK_MSG(rel <= tol, "%s: max |grad - torch| = %.3g (rel %.3g of max %.3g)", p->name, d, rel, mx);
    }
    CHECK(found == tm->params.n);
    return worst;
}

/* Quantizes m's linear weights to NF4 with double quantization, runs one LoRA step and compares
 * with the float64 autograd of the dequantized model ("qlora.*"); restores m. */
static void check_qlora(const fixture *fx, ct_model *m, fx_batch *fb, ct_method_cfg lc, double norm, const char *file) {
    ct_err err = {0};
    int L = m->cfg.num_layers;
    ct_tensor *orig = calloc((size_t)L * CT_LT_COUNT, sizeof *orig);
    ct_quant4_owner **own = calloc((size_t)L * CT_LT_COUNT, sizeof *own);
    for (int l = 0; l < L; l++)
        for (int id = 0; id < CT_LT_COUNT; id++) {
            ct_tensor *t = &m->w.layers[l].t[id];
            orig[l * CT_LT_COUNT + id] = *t;
            if (ct_spec_lora_index(id) < 0 || !t->data) continue;
            CHECK_OK(ct_quant4_quantize(t, CT_DTYPE_NF4, true, &own[l * CT_LT_COUNT + id], t, &err), &err);
        }
    ct_train_model tm;
    double loss = 0;
    CHECK_OK(ct_train_model_init(&tm, m, &lc, &err), &err);
    fx_set_lora(fx, &tm);
    CHECK_OK(ct_train_step(ct_test_ctx(), &tm, &fb->b, norm, true, &loss, &err), &err);
    double ref = fx_get(fx, "qlora.loss")->data[0];
    CHECK_MSG(fabs(loss - ref) <= 1e-5 * fabs(ref), "%s QLoRA loss %.9g vs torch %.9g", file, loss, ref);
    double w = compare_grads(fx, &tm, "qlora.grad.", 1e-4);
    if (getenv("CT_TEST_VERBOSE")) printf("    %s qlora: loss %.8f (torch %.8f), worst grad rel err %.2e\n", file, loss, ref, w);
    ct_train_model_free(&tm);
    for (int i = 0; i < L * CT_LT_COUNT; i++) {
        m->w.layers[i / CT_LT_COUNT].t[i % CT_LT_COUNT] = orig[i];
        ct_quant4_owner_free(own[i]);
    }
    free(orig);
    free(own);
}

static void golden_arch(const char *file) {
    fixture fx;
    const char *path = ct_test_path(file);
    REQUIRE(fx_load(&fx, path) == 0);
    ct_model m;
    fx_model(&fx, &m);
    fx_batch fb;
    fx_batch_init(&fx, &fb);
    const double *cfg = fx_get(&fx, "config")->data;
    ct_err err = {0};
    double norm = (double)ct_lm_count_targets(&fb.b, 0), loss = 0;
    bool verbose = getenv("CT_TEST_VERBOSE") != NULL;

    /* LoRA on all linear modules */
    ct_method_cfg lc = {.method = CT_METHOD_LORA, .lora_rank = (int)cfg[12], .lora_alpha = cfg[13],
                        .lora_target = "all", .seed = 1};
    ct_train_model tm;
    CHECK_OK(ct_train_model_init(&tm, &m, &lc, &err), &err);
    CHECK_EQ_INT(tm.params.n, (size_t)(2 * 7 * m.cfg.num_layers));
    fx_set_lora(&fx, &tm);
    CHECK_OK(ct_train_step(ct_test_ctx(), &tm, &fb.b, norm, true, &loss, &err), &err);
    double ref = fx_get(&fx, "lora.loss")->data[0];
    CHECK_MSG(fabs(loss - ref) <= 1e-5 * fabs(ref), "%s LoRA loss %.9g vs torch %.9g", file, loss, ref);
    double w = compare_grads(&fx, &tm, "lora.grad.", 1e-4);
    if (verbose) printf("    %s lora: loss %.8f (torch %.8f), worst grad rel err %.2e\n", file, loss, ref, w);

    /* QLoRA: the same LoRA over NF4 + double-quant linear weights (quantized here, bnb-exact) */
    check_qlora(&fx, &m, &fb, lc, norm, file);

    /* 20 AdamW steps (cosine, warmup 3, clip 1.0, wd 0.01) from the same init */
    const char *runs[2] = {"train_lora", "train_full"};
    for (int run = 0; run < 2; run++) {
        if (run == 1) {
            ct_train_model_free(&tm);
            ct_method_cfg fc = {.method = CT_METHOD_FULL};
            CHECK_OK(ct_train_model_init(&tm, &m, &fc, &err), &err);
            ct_params_zero_grad(&tm.params);
            CHECK_OK(ct_train_step(ct_test_ctx(), &tm, &fb.b, norm, true, &loss, &err), &err);
            ref = fx_get(&fx, "full.loss")->data[0];
            CHECK_MSG(fabs(loss - ref) <= 1e-5 * fabs(ref), "%s full loss %.9g vs torch %.9g", file, loss, ref);
            w = compare_grads(&fx, &tm, "full.grad.", 1e-4);
            if (verbose) printf("    %s full: loss %.8f (torch %.8f), worst grad rel err %.2e\n", file, loss, ref, w);
        } else {
            fx_set_lora(&fx, &tm);
        }
        char key[64];
        snprintf(key, sizeof key, "%s.losses", runs[run]);
        const fx_array *rl = fx_get(&fx, key);
        snprintf(key, sizeof key, "%s.grad_norms", runs[run]);
        const fx_array *rn = fx_get(&fx, key);
        snprintf(key, sizeof key, "%s.lrs", runs[run]);
        const fx_array *rlr = fx_get(&fx, key);
        REQUIRE(rl && rn && rlr);
        ct_adamw opt;
        ct_adamw_init(&opt, 0.9, 0.999, 1e-8, 0.01);
        ct_scheduler sch;
        CHECK_OK(ct_scheduler_init(&sch, "cosine", run ? 1e-3 : 5e-3, (int64_t)rl->n, 3, 0.0, 0.0, &err), &err);
        double worst = 0;
        for (size_t s = 0; s < rl->n; s++) {
            ct_params_zero_grad(&tm.params);
            CHECK_OK(ct_train_step(ct_test_ctx(), &tm, &fb.b, norm, true, &loss, &err), &err);
            float clip = 1.0f;
            double gn = ct_clip_grad_norm(ct_test_ctx(), &tm.params, 1.0, &clip);
            double lr = ct_scheduler_lr(&sch, (int64_t)s);
            ct_adamw_step(ct_test_ctx(), &opt, &tm.params, lr, clip);
            double rel = fabs(loss - rl->data[s]) / fabs(rl->data[s]);
            worst = fmax(worst, rel);
            CHECK_MSG(rel <= 1e-4, "%s %s step %zu: loss %.9g vs torch %.9g", file, runs[run], s, loss, rl->data[s]);
            CHECK_MSG(fabs(gn - rn->data[s]) <= 1e-3 * rn->data[s], "%s step %zu grad norm %.6g vs %.6g", runs[run],
                      s, gn, rn->data[s]);
            CHECK_MSG(fabs(lr - rlr->data[s]) <= 1e-12, "%s step %zu lr %.9g vs %.9g", runs[run], s, lr, rlr->data[s]);
        }
        if (verbose)
            printf("    %s %s: 20 steps %.5f -> %.5f, worst loss rel err %.2e\n", file, runs[run], rl->data[0],
                   rl->data[rl->n - 1], worst);
    }
    ct_train_model_free(&tm);
    fx_batch_free(&fb);
    fx_model_free(&m);
    fx_free(&fx);
}

TEST(grad_golden_qwen3) { golden_arch("tests/fixtures/train/qwen3.bin"); }
TEST(grad_golden_qwen2) { golden_arch("tests/fixtures/train/qwen2.bin"); }

/* Qwen3.5 (tests/gen/make_qwen35_fixtures.py, float64 autograd through the per-token delta rule):
 * tiny-qwen3_5 (2 Gated DeltaNet layers + 1 gated attention layer) on a packed batch whose
 * segments span two DeltaNet chunks and restart mid-row. Full fine-tuning (every gradient,
 * A_log / dt_bias / conv included; with and without activation checkpointing) and LoRA on all
 * 12 linear modules with non-zero B. */
TEST(grad_golden_qwen3_5) {
    fixture fx;
    REQUIRE(fx_load(&fx, ct_test_path("tests/fixtures/train/qwen3_5.bin")) == 0);
    ct_err err = {0};
    ct_model *m = NULL;
    REQUIRE(ct_model_load("tests/fixtures/tiny-qwen3_5", &m, &err) == CT_OK);
    const double *c = fx_get(&fx, "config")->data;
    fx_batch fb = {fx_ints(&fx, "batch.input_ids"), fx_ints(&fx, "batch.labels"), fx_ints(&fx, "batch.position_ids"),
                   fx_ints(&fx, "batch.segment_ids"), {0}};
    ct_lm_batch b = {.B = (size_t)c[2], .T = (size_t)c[3], .input_ids = fb.ids, .labels = fb.lab,
                     .position_ids = fb.pos, .segment_ids = fb.seg};
    double norm = (double)ct_lm_count_targets(&b, 0), loss = 0, w;
    bool verbose = getenv("CT_TEST_VERBOSE") != NULL;
    for (int ckpt = 0; ckpt < 2; ckpt++) {
        ct_method_cfg fc = {.method = CT_METHOD_FULL};
        ct_train_model tm;
        CHECK_OK(ct_train_model_init(&tm, m, &fc, &err), &err);
        tm.checkpointing = ckpt;
        ct_params_zero_grad(&tm.params);
        CHECK_OK(ct_train_step(ct_test_ctx(), &tm, &b, norm, true, &loss, &err), &err);
        double ref = fx_get(&fx, "full.loss")->data[0];
        CHECK_MSG(fabs(loss - ref) <= 1e-5 * fabs(ref), "qwen3_5 full loss %.9g vs torch %.9g", loss, ref);
        w = compare_grads(&fx, &tm, "full.grad.", 1e-4);
        if (verbose) printf("    qwen3_5 full (ckpt %d): loss %.8f (torch %.8f), worst grad rel err %.2e\n", ckpt, loss, ref, w);
        ct_train_model_free(&tm);
    }
    ct_method_cfg lc = {.method = CT_METHOD_LORA, .lora_rank = (int)c[0], .lora_alpha = c[1], .lora_target = "all",
                        .seed = 1};
    ct_train_model tm;
    CHECK_OK(ct_train_model_init(&tm, m, &lc, &err), &err);
    CHECK_EQ_INT(tm.params.n, (size_t)(2 * (2 * 8 + 1 * 7))); /* DeltaNet layers: 5 + 3 modules, attention: 4 + 3 */
    fx_set_lora(&fx, &tm);
    CHECK_OK(ct_train_step(ct_test_ctx(), &tm, &b, norm, true, &loss, &err), &err);
    double ref = fx_get(&fx, "lora.loss")->data[0];
    CHECK_MSG(fabs(loss - ref) <= 1e-5 * fabs(ref), "qwen3_5 LoRA loss %.9g vs torch %.9g", loss, ref);
    w = compare_grads(&fx, &tm, "lora.grad.", 1e-4);
    if (verbose) printf("    qwen3_5 lora: loss %.8f (torch %.8f), worst grad rel err %.2e\n", loss, ref, w);
    ct_train_model_free(&tm);
    fx_batch_free(&fb);
    ct_model_free(m);
    fx_free(&fx);
}

TEST(optim_schedulers_hf) {
    ct_scheduler s;
    ct_err err = {0};
    /* linear, 10 steps, warmup 2: 0, .5, 1, 7/8, ... */
    CHECK_OK(ct_scheduler_init(&s, "linear", 1.0, 10, 2, 0.0, 0.0, &err), &err);
    CHECK_NEAR(ct_scheduler_lr(&s, 0), 0.0, 1e-15);
    CHECK_NEAR(ct_scheduler_lr(&s, 1), 0.5, 1e-15);
    CHECK_NEAR(ct_scheduler_lr(&s, 2), 1.0, 1e-15);
    CHECK_NEAR(ct_scheduler_lr(&s, 3), 7.0 / 8.0, 1e-15);
    CHECK_NEAR(ct_scheduler_lr(&s, 10), 0.0, 1e-15);
    /* warmup_ratio: ceil(0.15 * 10) = 2 */
    CHECK_OK(ct_scheduler_init(&s, "cosine", 2.0, 10, 0, 0.15, 0.0, &err), &err);
    CHECK_EQ_INT(s.warmup_steps, 2);
    CHECK_NEAR(ct_scheduler_lr(&s, 6), 2.0 * 0.5 * (1 + cos(M_PI * 0.5)), 1e-12);
    CHECK_OK(ct_scheduler_init(&s, "cosine_with_min_lr", 1.0, 10, 0, 0.0, 0.1, &err), &err);
    CHECK_NEAR(ct_scheduler_lr(&s, 10), 0.1, 1e-12);
    CHECK_NEAR(ct_scheduler_lr(&s, 0), 1.0, 1e-12);
    CHECK_OK(ct_scheduler_init(&s, "constant_with_warmup", 1.0, 10, 4, 0.0, 0.0, &err), &err);
    CHECK_NEAR(ct_scheduler_lr(&s, 1), 0.25, 1e-15);
    CHECK_NEAR(ct_scheduler_lr(&s, 9), 1.0, 1e-15);
    CHECK_OK(ct_scheduler_init(&s, "constant", 3.0, 10, 4, 0.0, 0.0, &err), &err);
    CHECK_NEAR(ct_scheduler_lr(&s, 0), 3.0, 1e-15);
    CHECK(ct_scheduler_init(&s, "cosin", 1.0, 10, 0, 0.0, 0.0, &err) == CT_ERR_ARG);
    CHECK(strstr(err.msg, "cosin") != NULL);
}

TEST(optim_adamw_torch_formula) {
    /* one parameter, two steps, hand-computed torch.optim.AdamW */
    float data[2] = {1.0f, -2.0f}, grad[2] = {0.5f, 0.25f}, mm[2] = {0}, vv[2] = {0};
    ct_param p = {.name = "w", .ndim = 1, .shape = {2}, .numel = 2, .data = data, .grad = grad, .m = mm, .v = vv,
                  .decay = true};
    ct_params ps = {.p = &p, .n = 1, .total = 2, .data = data, .grad = grad, .m = mm, .v = vv};
    ct_adamw o;
    ct_adamw_init(&o, 0.9, 0.999, 1e-8, 0.1);
    double x = 1.0, m1 = 0, v1 = 0, lr = 0.01;
    for (int t = 1; t <= 2; t++) {
        ct_adamw_step(ct_test_ctx(), &o, &ps, lr, 1.0f);
        x *= 1 - lr * 0.1;
        m1 = 0.9 * m1 + 0.1 * 0.5;
        v1 = 0.999 * v1 + 0.001 * 0.25;
        x -= lr / (1 - pow(0.9, t)) * m1 / (sqrt(v1) / sqrt(1 - pow(0.999, t)) + 1e-8);
        CHECK_NEAR(data[0], x, 1e-6);
    }
    /* clipping: norm sqrt(.5^2+.25^2); factor max_norm / (norm + 1e-6), 1 below max_norm; the
     * update with the factor equals the update of the scaled gradients */
    float k = 0;
    double n = ct_clip_grad_norm(ct_test_ctx(), &ps, 0.1, &k);
    CHECK_NEAR(n, sqrt(0.3125), 1e-7);
    CHECK_NEAR(k, 0.1 / (n + 1e-6), 1e-7);
    float k2 = 0;
    CHECK_NEAR(ct_clip_grad_norm(ct_test_ctx(), &ps, 10.0, &k2), n, 1e-12);
    CHECK(k2 == 1.0f && grad[0] == 0.5f);
    float d2[2] = {1.0f, -2.0f}, g2[2] = {0.5f * k, 0.25f * k}, m2[2] = {0}, v2[2] = {0};
    float d3[2] = {1.0f, -2.0f}, m3[2] = {0}, v3[2] = {0};
    ct_param p2 = p, p3 = p;
    p2.data = d2, p2.grad = g2, p2.m = m2, p2.v = v2;
    p3.data = d3, p3.m = m3, p3.v = v3;
    ct_params s2 = {.p = &p2, .n = 1, .total = 2, .data = d2, .grad = g2, .m = m2, .v = v2};
    ct_params s3 = {.p = &p3, .n = 1, .total = 2, .data = d3, .grad = grad, .m = m3, .v = v3};
    ct_adamw o2, o3;
    ct_adamw_init(&o2, 0.9, 0.999, 1e-8, 0.1);
    ct_adamw_init(&o3, 0.9, 0.999, 1e-8, 0.1);
    ct_adamw_step(ct_test_ctx(), &o2, &s2, lr, 1.0f);
    ct_adamw_step(ct_test_ctx(), &o3, &s3, lr, k);
    CHECK(!memcmp(d2, d3, sizeof d2) && !memcmp(m2, m3, sizeof m2) && !memcmp(v2, v3, sizeof v2));
}
