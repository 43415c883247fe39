/* LlamaFactory's LoRA-family methods against float64 PyTorch autograd
 * (tests/gen/make_peft_fixtures.py) on the tiny Qwen3 (tied, q/k norm, a packed row) and Qwen2
 * (biases, untied) models of the golden gradient tests:
 *   DoRA: loss and every gradient (A, B, magnitude), without and with LoRA dropout, and with
 *         activation checkpointing;
 *   NEFTune: loss and LoRA gradients with the noise of step 0;
 *   LoRA+: the param groups (lr multiplier, decay) and 6 clipped AdamW steps against torch's
 *          param groups, modules_to_save included;
 *   continuing a DoRA adapter: 3 steps, save, load, 3 steps with a fresh optimizer and schedule;
 *   PiSSA: A, B and the residual of the exact and the randomized SVD (same test matrix), and the
 *          PiSSA-initialised model computes the base model's loss;
 *   the DoRA op on BF16 and NF4 weights equals the op on their f32 decoding. */
#include <stdlib.h>

#include "base/file.h"
#include "base/rng.h"
#include "ctfx.h"
#include "harness.h"
#include "peft/peft_io.h"
#include "peft/pissa.h"
#include "quant/quant.h"
#include "train/optim.h"
#include "train/step.h"

#define GRAD_RTOL 1e-4
#define LOSS_RTOL 1e-5

typedef struct peft_fx {
    fixture fx;
    ct_model m;
    fx_batch fb;
    double norm;
    int r;
    double alpha;
    const char *arch;
} peft_fx;

static bool pf_open(peft_fx *p, const char *arch) {
    char path[128];
    snprintf(path, sizeof path, "tests/fixtures/train/peft_%s.bin", arch);
    memset(p, 0, sizeof *p);
    if (fx_load(&p->fx, ct_test_path(path)) != 0) return false;
    fx_model(&p->fx, &p->m);
    fx_batch_init(&p->fx, &p->fb);
    p->norm = (double)ct_lm_count_targets(&p->fb.b, 0);
    const double *c = fx_get(&p->fx, "config")->data;
    p->r = (int)c[12];
    p->alpha = c[13];
    p->arch = arch;
    return true;
}

static void pf_close(peft_fx *p) {
    fx_batch_free(&p->fb);
    fx_model_free(&p->m);
    fx_free(&p->fx);
}

static ct_method_cfg lora_cfg(const peft_fx *p) {
    return (ct_method_cfg){.method = CT_METHOD_LORA, .lora_rank = p->r, .lora_alpha = p->alpha, .lora_target = "all",
                           .seed = 1};
}

/* Every parameter from "lora_init.<name>" or "dora_mag_init.<name>". */
static void set_init(const peft_fx *p, ct_train_model *tm) {
    char key[256];
    for (size_t i = 0; i < tm->params.n; i++) {
        ct_param *q = &tm->params.p[i];
        snprintf(key, sizeof key, "%s%s", strstr(q->name, "magnitude") ? "dora_mag_init." : "lora_init.", q->name);
        const fx_array *a = fx_get(&p->fx, key);
        CHECK_MSG(a && a->n == q->numel, "fixture has no %s", key);
        for (size_t j = 0; a && j < a->n && j < q->numel; j++) q->data[j] = (float)a->data[j];
    }
}

/* One training micro-step from the fixture's init, compared with "<tag>.loss" / "<tag>.grad.*". */
static void check_step(peft_fx *p, ct_train_model *tm, const char *tag) {
    ct_err err = {0};
    char key[128];
    double loss = 0;
    ct_params_zero_grad(&tm->params);
    CHECK_OK(ct_train_step(ct_test_ctx(), tm, &p->fb.b, p->norm, true, &loss, &err), &err);
    snprintf(key, sizeof key, "%s.loss", tag);
    double ref = fx_get(&p->fx, key)->data[0];
    CHECK_MSG(fabs(loss - ref) <= LOSS_RTOL * fabs(ref), "%s %s loss %.9g vs torch %.9g", p->arch, tag, loss, ref);
    snprintf(key, sizeof key, "%s.grad.", tag);
    double w = fx_compare_grads(&p->fx, tm, key, GRAD_RTOL);
    if (getenv("CT_TEST_VERBOSE"))
        printf("    %s %s: loss %.8f (torch %.8f), worst grad rel err %.2e\n", p->arch, tag, loss, ref, w);
}

static void dora_grads(const char *arch) {
    peft_fx p;
    REQUIRE(pf_open(&p, arch));
    ct_err err = {0};
    for (int variant = 0; variant < 3; variant++) { /* plain, activation checkpointing, dropout */
        ct_method_cfg mc = lora_cfg(&p);
        mc.use_dora = true;
        mc.lora_dropout = variant == 2 ? 0.1 : 0.0;
        ct_train_model tm;
        CHECK_OK(ct_train_model_init(&tm, &p.m, &mc, &err), &err);
        CHECK_EQ_INT(tm.params.n, (size_t)(3 * 7 * p.m.cfg.num_layers)); /* A, B, magnitude per linear */
        tm.checkpointing = variant == 1;
        set_init(&p, &tm);
        check_step(&p, &tm, variant == 2 ? "dora_drop" : "dora");
        ct_train_model_free(&tm);
    }
    pf_close(&p);
}
TEST(peft_golden_dora_qwen3) { dora_grads("qwen3"); }
TEST(peft_golden_dora_qwen2_bias) { dora_grads("qwen2"); }

/* PEFT's DoRA init: m = ||W + s B A|| = ||W|| per row when B = 0. */
TEST(peft_dora_magnitude_init_is_row_norm) {
    peft_fx p;
    REQUIRE(pf_open(&p, "qwen2"));
    ct_err err = {0};
    ct_method_cfg mc = lora_cfg(&p);
    mc.use_dora = true;
    mc.lora_target = "v_proj";
    ct_train_model tm;
    CHECK_OK(ct_train_model_init(&tm, &p.m, &mc, &err), &err);
    ct_param *m = ct_params_find(&tm.params, "base_model.model.model.layers.1.self_attn.v_proj.lora_magnitude_vector");
    REQUIRE(m);
    const ct_tensor *W = &p.m.w.layers[1].t[CT_LT_WV];
    for (int64_t j = 0; j < W->shape[0]; j++) {
        double ss = 0;
        for (int64_t i = 0; i < W->shape[1]; i++) ss += pow(((float *)W->data)[j * W->shape[1] + i], 2);
        CHECK_NEAR(m->data[j], sqrt(ss), 1e-6 * sqrt(ss));
    }
    ct_train_model_free(&tm);
    pf_close(&p);
}

static void neftune_grads(const char *arch) {
    peft_fx p;
    REQUIRE(pf_open(&p, arch));
    ct_err err = {0};
    const double *nc = fx_get(&p.fx, "neftune.config")->data;
    ct_method_cfg mc = lora_cfg(&p);
    ct_train_model tm;
    CHECK_OK(ct_train_model_init(&tm, &p.m, &mc, &err), &err);
    set_init(&p, &tm);
    tm.neftune_alpha = nc[0];
    tm.neftune_pad = (size_t)nc[1];
    check_step(&p, &tm, "neftune");
    /* evaluation passes see no noise: the loss of the plain LoRA model */
    double loss = 0, noisy = fx_get(&p.fx, "neftune.loss")->data[0];
    CHECK_OK(ct_train_step(ct_test_ctx(), &tm, &p.fb.b, p.norm, false, &loss, &err), &err);
    CHECK_MSG(fabs(loss - noisy) > 1e-4, "%s: evaluation loss %.9g equals the noisy loss", arch, loss);
    ct_train_model_free(&tm);
    pf_close(&p);
}
TEST(peft_golden_neftune_qwen3) { neftune_grads("qwen3"); }
TEST(peft_golden_neftune_qwen2) { neftune_grads("qwen2"); }

/* n optimizer steps as the trainer runs them (zero grads, micro-step, clip, AdamW, schedule). */
static void run_steps(peft_fx *p, ct_train_model *tm, const char *losses_key, const char *sched, double lr,
                      int64_t warmup, double wd, double clip_norm) {
    ct_err err = {0};
    const fx_array *rl = fx_get(&p->fx, losses_key);
    REQUIRE(rl);
    ct_adamw opt;
    ct_adamw_init(&opt, 0.9, 0.999, 1e-8, wd);
    ct_scheduler sch;
    CHECK_OK(ct_scheduler_init(&sch, sched, lr, (int64_t)rl->n, warmup, 0.0, 0.0, &err), &err);
    double worst = 0;
    for (size_t s = 0; s < rl->n; s++) {
        double loss = 0;
        ct_params_zero_grad(&tm->params);
        CHECK_OK(ct_train_step(ct_test_ctx(), tm, &p->fb.b, p->norm, true, &loss, &err), &err);
        float scale = 1.0f;
        ct_clip_grad_norm(ct_test_ctx(), &tm->params, clip_norm, &scale);
        ct_adamw_step(ct_test_ctx(), &opt, &tm->params, ct_scheduler_lr(&sch, (int64_t)s), scale);
        double rel = fabs(loss - rl->data[s]) / fabs(rl->data[s]);
        worst = fmax(worst, rel);
        CHECK_MSG(rel <= 1e-4, "%s %s step %zu: loss %.9g vs torch %.9g", p->arch, losses_key, s, loss, rl->data[s]);
    }
    if (getenv("CT_TEST_VERBOSE"))
        printf("    %s %s: %zu steps %.5f -> %.5f, worst loss rel err %.2e\n", p->arch, losses_key, rl->n, rl->data[0],
               rl->data[rl->n - 1], worst);
}

/* Every parameter against "<prefix><name>", relative to the tensor's largest value. */
static void compare_params(peft_fx *p, ct_train_model *tm, const char *prefix, double tol) {
    char key[256];
    for (size_t i = 0; i < tm->params.n; i++) {
        ct_param *q = &tm->params.p[i];
        snprintf(key, sizeof key, "%s%s", prefix, q->name);
        const fx_array *a = fx_get(&p->fx, key);
        CHECK_MSG(a && a->n == q->numel, "no reference %s", key);
        double mx = 0, d = 0;
        for (size_t j = 0; a && j < a->n && j < q->numel; j++) {
            mx = fmax(mx, fabs(a->data[j]));
            d = fmax(d, fabs(a->data[j] - q->data[j]));
        }
        CHECK_MSG(d <= tol * mx, "%s %s: max |value - torch| %.3g of max %.3g", p->arch, q->name, d, mx);
    }
}

static void loraplus(const char *arch) {
    peft_fx p;
    REQUIRE(pf_open(&p, arch));
    ct_err err = {0};
    const double *lc = fx_get(&p.fx, "loraplus.config")->data; /* ratio, lr, warmup, wd, max_norm */
    bool tied = p.m.cfg.tie_word_embeddings;
    ct_method_cfg mc = lora_cfg(&p);
    mc.additional_target = tied ? "norm" : "norm,lm_head";
    mc.loraplus_lr_ratio = lc[0];
    ct_train_model tm;
    CHECK_OK(ct_train_model_init(&tm, &p.m, &mc, &err), &err);
    /* LlamaFactory's groups: lora_B and 1-D tensors at lr * ratio (decaying unless "bias"),
     * lora_A and 2-D modules_to_save at lr, all with weight decay */
    for (size_t i = 0; i < tm.params.n; i++) {
        const ct_param *q = &tm.params.p[i];
        bool b_group = strstr(q->name, "lora_B") || q->ndim == 1;
        CHECK_MSG(q->lr_scale == (b_group ? lc[0] : 1.0) && q->decay, "%s: lr_scale %g decay %d", q->name, q->lr_scale,
                  q->decay);
        if (strstr(q->name, "lora_")) continue;
        const fx_array *a = fx_get(&p.fx, strstr(q->name, "norm") ? "w.model.norm.weight" : "w.lm_head.weight");
        for (size_t j = 0; a && j < q->numel; j++) CHECK_NEAR(q->data[j], a->data[j], 0); /* starts from the base */
    }
    for (size_t i = 0; i < tm.params.n; i++) {
        ct_param *q = &tm.params.p[i];
        char key[256];
        snprintf(key, sizeof key, "lora_init.%s", q->name);
        const fx_array *a = fx_get(&p.fx, key);
        for (size_t j = 0; a && j < q->numel; j++) q->data[j] = (float)a->data[j];
    }
    run_steps(&p, &tm, "loraplus.losses", "cosine", lc[1], (int64_t)lc[2], lc[3], lc[4]);
    compare_params(&p, &tm, "loraplus.final.", 1e-3);
    ct_train_model_free(&tm);
    pf_close(&p);
}
TEST(peft_golden_loraplus_qwen3) { loraplus("qwen3"); }
TEST(peft_golden_loraplus_qwen2) { loraplus("qwen2"); }

/* Writes tm's LoRA (with DoRA magnitudes) as a PEFT adapter in dir. */
static void save_adapter(const peft_fx *p, ct_train_model *tm, const char *dir) {
    int L = tm->lora.n_layers;
    ct_lora_pair *pairs = calloc((size_t)L * CT_LT_COUNT, sizeof *pairs);
    ct_tensor *mags = calloc((size_t)L * CT_LT_COUNT, sizeof *mags);
    const char *mods[] = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    size_t n = 0;
    for (int l = 0; l < L; l++)
        for (int id = 0; id < CT_LT_COUNT; id++) {
            const ct_lora_ref *r = &tm->lora.ref[(size_t)l * CT_LT_COUNT + (size_t)id];
            if (!r->A) continue;
            const ct_tensor *W = &tm->w.layers[l].t[id];
            pairs[n] = (ct_lora_pair){l, ct_layer_specs[id].lora,
                                      {.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {r->r, W->shape[1]}, .data = (void *)r->A},
                                      {.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {W->shape[0], r->r}, .data = (void *)r->B}};
            mags[n++] = (ct_tensor){.dtype = CT_DTYPE_F32, .ndim = 1, .shape = {W->shape[0]}, .data = (void *)r->mag};
        }
    ct_lora_config lc = {.r = p->r, .lora_alpha = p->alpha, .target_modules = mods, .n_target_modules = 7,
                         .use_dora = true, .mags = mags};
    ct_err err = {0};
    CHECK_OK(ct_peft_save_lora(dir, &lc, pairs, n, CT_DTYPE_F32, &err), &err);
    free(pairs);
    free(mags);
}

static void continue_dora(const char *arch) {
    peft_fx p;
    REQUIRE(pf_open(&p, arch));
    ct_err err = {0};
    ct_method_cfg mc = lora_cfg(&p);
    mc.use_dora = true;
    ct_train_model tm;
    CHECK_OK(ct_train_model_init(&tm, &p.m, &mc, &err), &err);
    set_init(&p, &tm);
    run_steps(&p, &tm, "cont.phase1.losses", "linear", 5e-3, 1, 0.01, 1.0);
    char sub[64];
    snprintf(sub, sizeof sub, "dora-%s", arch);
    char *dir = ct_path_join(ct_test_tmpdir(), sub);
    save_adapter(&p, &tm, dir);
    ct_train_model_free(&tm);
    /* a new run continues the saved adapter: its values, a fresh optimizer and schedule */
    ct_peft_adapter ad;
    CHECK_OK(ct_peft_load(dir, &ad, &err), &err);
    CHECK(ad.use_dora && ad.n_lora == (size_t)(7 * p.m.cfg.num_layers));
    ct_method_cfg mc2 = lora_cfg(&p);
    mc2.use_dora = true;
    mc2.lora_target = "q_proj"; /* ignored: the adapter's (layer, module) set wins */
    mc2.init_adapter = &ad;
    CHECK_OK(ct_train_model_init(&tm, &p.m, &mc2, &err), &err);
    CHECK_EQ_INT(tm.params.n, (size_t)(3 * 7 * p.m.cfg.num_layers));
    run_steps(&p, &tm, "cont.phase2.losses", "linear", 5e-3, 1, 0.01, 1.0);
    compare_params(&p, &tm, "cont.final.", 1e-3);
    ct_train_model_free(&tm);
    ct_peft_free(&ad);
    free(dir);
    pf_close(&p);
}
TEST(peft_golden_continue_dora_adapter_qwen3) { continue_dora("qwen3"); }
TEST(peft_golden_continue_dora_adapter_qwen2) { continue_dora("qwen2"); }

/* max |x - sign * ref| over a factor whose rows (A) or columns (B) may flip sign together. */
static void pissa_case(peft_fx *p, int layer, int id, const char *tag, int niter) {
    const ct_tensor *W = &p->m.w.layers[layer].t[id];
    size_t out = (size_t)W->shape[0], in = (size_t)W->shape[1], r = (size_t)p->r;
    float scaling = (float)(p->alpha / p->r);
    float *A = malloc(r * in * 4), *B = malloc(out * r * 4), *res = malloc(out * in * 4);
    ct_err err = {0};
    CHECK_OK(ct_pissa_init(ct_test_ctx(), W, p->r, scaling, niter, ct_pissa_stream(layer, ct_spec_lora_index(id)), A, B,
                           res, "test", &err), &err);
    char key[160];
    snprintf(key, sizeof key, "pissa_%s.model.layers.%d.%s", tag, layer, ct_layer_specs[id].hf);
    key[strlen(key) - strlen(".weight")] = 0;
    char ka[200], kb[200], kr[200];
    snprintf(ka, sizeof ka, "%s.A", key);
    snprintf(kb, sizeof kb, "%s.B", key);
    snprintf(kr, sizeof kr, "%s.res", key);
    const fx_array *ra = fx_get(&p->fx, ka), *rb = fx_get(&p->fx, kb), *rr = fx_get(&p->fx, kr);
    REQUIRE(ra && rb && rr);
    double da = 0, db = 0, dr = 0, ma = 0, mb = 0, mw = 0;
    for (size_t k = 0; k < r; k++) {
        double dot = 0;
        for (size_t i = 0; i < in; i++) dot += A[k * in + i] * ra->data[k * in + i];
        double sg = dot < 0 ? -1 : 1; /* singular vectors are defined up to a sign per triplet */
        for (size_t i = 0; i < in; i++) {
            da = fmax(da, fabs(sg * A[k * in + i] - ra->data[k * in + i]));
            ma = fmax(ma, fabs(ra->data[k * in + i]));
        }
        for (size_t j = 0; j < out; j++) {
            db = fmax(db, fabs(sg * B[j * r + k] - rb->data[j * r + k]));
            mb = fmax(mb, fabs(rb->data[j * r + k]));
        }
    }
    for (size_t i = 0; i < out * in; i++) {
        dr = fmax(dr, fabs(res[i] - rr->data[i]));
        mw = fmax(mw, fabs(((float *)W->data)[i]));
    }
    double tol = niter < 0 ? 1e-5 : 1e-4;
    CHECK_MSG(da <= tol * ma && db <= tol * mb && dr <= tol * mw,
              "%s %s: |A - torch| %.3g (max %.3g), |B - torch| %.3g (max %.3g), |residual - torch| %.3g", p->arch, key,
              da, ma, db, mb, dr);
    if (getenv("CT_TEST_VERBOSE"))
        printf("    %s %s: rel err A %.2e B %.2e residual %.2e\n", p->arch, key, da / ma, db / mb, dr / mw);
    free(A), free(B), free(res);
}

static void pissa(const char *arch) {
    peft_fx p;
    REQUIRE(pf_open(&p, arch));
    pissa_case(&p, 0, CT_LT_WQ, "exact", -1);
    pissa_case(&p, 0, CT_LT_WQ, "niter2", 2);
    pissa_case(&p, 1, CT_LT_DOWN, "exact", -1);
    pissa_case(&p, 1, CT_LT_DOWN, "niter2", 2);
    /* the PiSSA model (residual + s B A) computes the base model's loss */
    ct_err err = {0};
    double base = 0, loss = 0;
    ct_method_cfg mc = lora_cfg(&p);
    ct_train_model tm;
    CHECK_OK(ct_train_model_init(&tm, &p.m, &mc, &err), &err); /* B = 0: the base */
    CHECK_OK(ct_train_step(ct_test_ctx(), &tm, &p.fb.b, p.norm, false, &base, &err), &err);
    ct_train_model_free(&tm);
    for (int niter = -1; niter <= 16; niter += 17) {
        mc.pissa_init = true;
        mc.pissa_iter = niter;
        CHECK_OK(ct_train_model_init(&tm, &p.m, &mc, &err), &err);
        CHECK_STREQ(tm.init_lora_weights, niter < 0 ? "pissa" : "pissa_niter_16");
        CHECK_OK(ct_train_step(ct_test_ctx(), &tm, &p.fb.b, p.norm, false, &loss, &err), &err);
        CHECK_MSG(fabs(loss - base) <= 1e-5 * base, "%s PiSSA (niter %d) loss %.9g vs base %.9g", arch, niter, loss, base);
        ct_train_model_free(&tm);
    }
    pf_close(&p);
}
TEST(peft_golden_pissa_qwen3) { pissa("qwen3"); }
TEST(peft_golden_pissa_qwen2) { pissa("qwen2"); }

/* The DoRA op reads any weight dtype through the dtype table: a BF16 or NF4 weight gives what its
 * f32 decoding gives (forward, every gradient; with bias and dropout). */
static void dora_run(const ct_tensor *W, const ct_tensor *b, const float *x, const float *dy, const float *A,
                     const float *B, const float *mag, size_t N, size_t in, size_t out, int r, float *y, float *dx,
                     float *dA, float *dB, float *dm) {
    float *wn = calloc(out, sizeof *wn);
    ct_lora_ref lo = {.A = A, .B = B, .dA = dA, .dB = dB, .r = r, .scaling = 2.0f, .mag = mag, .dmag = dm, .wnorm = wn};
    ct_dropout drop = {0.2f, 5, 77};
    ct_dora_forward(ct_test_ctx(), y, x, W, b, &lo, drop, N, in, out);
    ct_dora_backward(ct_test_ctx(), dx, dy, x, W, &lo, drop, N, in, out);
    free(wn);
}

TEST(peft_dora_weight_dtypes_agree) {
    size_t N = 5, in = 128, out = 24;
    int r = 3;
    float *Wf = malloc(out * in * 4), *x = malloc(N * in * 4), *dy = malloc(N * out * 4), *A = malloc(r * in * 4);
    float *B = malloc(out * r * 4), *mag = malloc(out * 4), *bias = malloc(out * 4), *Wd = malloc(out * in * 4);
    uint16_t *Wb = malloc(out * in * 2);
    uint64_t s = 99;
    for (size_t i = 0; i < out * in; i++) Wf[i] = (float)(ct_rng_uniform(1, s, i) - 0.5);
    for (size_t i = 0; i < N * in; i++) x[i] = (float)(ct_rng_uniform(2, s, i) - 0.5);
    for (size_t i = 0; i < N * out; i++) dy[i] = (float)(ct_rng_uniform(3, s, i) - 0.5);
    for (size_t i = 0; i < (size_t)r * in; i++) A[i] = (float)(ct_rng_uniform(4, s, i) - 0.5) * 0.2f;
    for (size_t i = 0; i < out * (size_t)r; i++) B[i] = (float)(ct_rng_uniform(5, s, i) - 0.5) * 0.2f;
    for (size_t i = 0; i < out; i++) mag[i] = (float)(2.0 + ct_rng_uniform(6, s, i)), bias[i] = (float)ct_rng_uniform(7, s, i);
    ct_tensor bt = {.dtype = CT_DTYPE_F32, .ndim = 1, .shape = {(int64_t)out}, .data = bias};
    ct_tensor wsrc = {.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {(int64_t)out, (int64_t)in}, .data = Wf};
    ct_quant4_owner *own = NULL;
    ct_tensor wq;
    ct_err err = {0};
    CHECK_OK(ct_quant4_quantize(&wsrc, CT_DTYPE_NF4, true, &own, &wq, &err), &err);
    for (size_t i = 0; i < out * in; i++) Wb[i] = ct_f32_to_bf16(Wf[i]);
    ct_tensor wb = {.dtype = CT_DTYPE_BF16, .ndim = 2, .shape = {(int64_t)out, (int64_t)in}, .data = Wb};
    const ct_tensor *ws[2] = {&wb, &wq};
    for (int k = 0; k < 2; k++) {
        ct_tensor_to_f32(ws[k], 0, out * in, Wd);
        ct_tensor wdf = {.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {(int64_t)out, (int64_t)in}, .data = Wd};
        float *o[2][5];
        for (int v = 0; v < 2; v++) {
            size_t sz[5] = {N * out, N * in, (size_t)r * in, out * (size_t)r, out};
            for (int j = 0; j < 5; j++) o[v][j] = calloc(sz[j], 4);
            dora_run(v ? &wdf : ws[k], &bt, x, dy, A, B, mag, N, in, out, r, o[v][0], o[v][1], o[v][2], o[v][3], o[v][4]);
        }
        size_t sz[5] = {N * out, N * in, (size_t)r * in, out * (size_t)r, out};
        const char *what[5] = {"y", "dx", "dA", "dB", "dmag"};
        for (int j = 0; j < 5; j++) {
            double d = 0, mx = 0;
            for (size_t i = 0; i < sz[j]; i++) {
                d = fmax(d, fabs(o[0][j][i] - o[1][j][i]));
                mx = fmax(mx, fabs(o[1][j][i]));
            }
            CHECK_MSG(d <= 1e-5 * mx && mx > 0, "%s weight: %s differs by %.3g (max %.3g)", k ? "NF4" : "BF16", what[j], d, mx);
            free(o[0][j]);
            free(o[1][j]);
        }
    }
    ct_quant4_owner_free(own);
    free(Wf), free(x), free(dy), free(A), free(B), free(mag), free(bias), free(Wd), free(Wb);
}
