/* BAdam, GaLore and LLaMA Pro against float64 PyTorch implementations of their references
 * (tests/gen/make_method_fixtures.py): per-step losses and gradient norms, BAdam's active blocks,
 * GaLore's first projected update, the final weights; that BAdam's inactive layers do not change
 * and that a LLaMA Pro expansion computes what the original model does. */
#include <stdlib.h>

#include "base/file.h"
#include "base/json.h"
#include "ctfx.h"
#include "harness.h"
#include "io/hf_export.h"
#include "peft/block.h"
#include "peft/freeze.h"
#include "peft/method.h"
#include "train/badam.h"
#include "train/galore.h"
#include "train/optim.h"
#include "train/step.h"

/* ||a - ref|| relative to ||ref - base|| (the change a run made), for one tensor. A norm, not
 * the largest element: Adam's first step after every state reset (BAdam's switches, GaLore's
 * refreshed subspace) moves each weight by about lr * sign(g), so an element whose gradient is at
 * f32's rounding level can step the other way than in float64 -- a few such elements are
 * expected and harmless, a wrong update is not. */
static double rel_change_err(const float *a, const double *ref, const double *base, size_t n) {
    double d = 0, mx = 0;
    for (size_t i = 0; i < n; i++) {
        double c = ref[i] - (base ? base[i] : 0.0);
        d += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
        mx += c * c;
    }
    return sqrt(d) / fmax(sqrt(mx), 1e-12);
}

/* Every tensor of tm.w against "<prefix><hf name>" (relative to the change from "w.<hf>"). */
static double compare_weights(const fixture *fx, const ct_train_model *tm, const char *prefix, double tol,
                              const char *what) {
    const ct_config *c = &tm->model->cfg;
    double worst = 0;
    size_t found = 0;
    for (int l = -1; l < c->num_layers; l++)
        for (int id = 0; id < (l < 0 ? CT_GT_COUNT : CT_LT_COUNT); id++) {
            const ct_tensor_spec *s = l < 0 ? &ct_global_specs[id] : &ct_layer_specs[id];
            const ct_tensor *t = ct_weights_at_c(&tm->w, s, l);
            if (!t->data || (l < 0 && id == CT_GT_LM_HEAD && c->tie_word_embeddings)) continue;
            char hf[192], key[256], wkey[256];
            ct_spec_name(hf, sizeof hf, c, s, l);
            snprintf(key, sizeof key, "%s%s", prefix, hf);
            snprintf(wkey, sizeof wkey, "w.%s", hf);
            const fx_array *r = fx_get(fx, key), *w0 = fx_get(fx, wkey);
            if (!r) continue;
            found++;
            size_t n = (size_t)ct_tensor_numel(t);
            CHECK_MSG(t->dtype == CT_DTYPE_F32 && r->n == n, "%s: %s shape", what, hf);
            if (t->dtype != CT_DTYPE_F32 || r->n != n) continue;
            double e = rel_change_err(t->data, r->data, w0 && w0->n == n ? w0->data : NULL, n);
            worst = fmax(worst, e);
            CHECK_MSG(e <= tol, "%s: final %s off by %.3g of its change (tol %g)", what, hf, e, tol);
        }
    CHECK_MSG(found > 0, "%s: no final weights in the fixture", what);
    return worst;
}

static bool verbose(void) { return getenv("CT_TEST_VERBOSE") != NULL; }

/* ---------------------------------------------------------------- BAdam */

static void badam_case(const fixture *fx, ct_model *m, fx_batch *fb, const char *tag, ct_badam_order order, int start) {
    ct_err err = {0};
    char key[128];
    snprintf(key, sizeof key, "%s.losses", tag);
    const fx_array *rl = fx_get(fx, key);
    snprintf(key, sizeof key, "%s.grad_norms", tag);
    const fx_array *rn = fx_get(fx, key);
    snprintf(key, sizeof key, "%s.blocks", tag);
    const fx_array *rb = fx_get(fx, key);
    REQUIRE(rl && rn && rb);
    ct_badam b;
    CHECK_OK(ct_badam_init(&b, m->cfg.num_layers, order, 2, start, 42, &err), &err);
    ct_method_cfg mc = {.method = CT_METHOD_FREEZE, .freeze_trainable_modules = "all", .layer_ids = &b.active,
                        .n_layer_ids = 1};
    ct_train_model tm;
    REQUIRE(ct_train_model_init(&tm, m, &mc, &err) == CT_OK);
    ct_adamw opt;
    ct_adamw_init(&opt, 0.9, 0.999, 1e-8, 0.0);
    ct_badam_reset_optimizer(ct_test_ctx(), &opt, &tm.params);
    ct_scheduler sch;
    CHECK_OK(ct_scheduler_init(&sch, "cosine", 5e-3, (int64_t)rl->n, 1, 0.0, 0.0, &err), &err);
    double norm = (double)ct_lm_count_targets(&fb->b, 0), worst = 0;
    bool active_ever[CT_MAX_LAYERS] = {0};
    size_t layer_numel = 0;
    for (size_t i = 0; i < tm.params.n; i++) layer_numel += tm.params.p[i].numel;
    for (size_t s = 0; s < rl->n; s++) {
        CHECK_MSG(b.active == (int)rb->data[s], "%s step %zu: block %d active, BAdam's is %d", tag, s + 1, b.active,
                  (int)rb->data[s]);
        active_ever[b.active] = true;
        /* only the active layer has masters, gradients and moments */
        size_t reg = 0;
        for (size_t i = 0; i < tm.params.n; i++) {
            reg += tm.params.p[i].numel;
            char pre[32];
            snprintf(pre, sizeof pre, "model.layers.%d.", b.active);
            CHECK_MSG(!strncmp(tm.params.p[i].name, pre, strlen(pre)), "%s: %s in the registry", tag, tm.params.p[i].name);
        }
        CHECK_EQ_INT(reg, layer_numel);
        ct_params_zero_grad(&tm.params);
        double loss = 0;
        CHECK_OK(ct_train_step(ct_test_ctx(), &tm, &fb->b, norm, true, &loss, &err), &err);
        float clip = 1.0f;
        double gn = ct_clip_grad_norm(ct_test_ctx(), &tm.params, 1.0, &clip);
        ct_adamw_step(ct_test_ctx(), &opt, &tm.params, ct_scheduler_lr(&sch, (int64_t)s), clip);
        double rel = fabs(loss - rl->data[s]) / fabs(rl->data[s]);
        worst = fmax(worst, rel);
        CHECK_MSG(rel <= 1e-4, "%s step %zu: loss %.9g vs torch %.9g", tag, s + 1, loss, rl->data[s]);
        CHECK_MSG(fabs(gn - rn->data[s]) <= 1e-4 * rn->data[s], "%s step %zu: grad norm %.9g vs %.9g", tag, s + 1, gn,
                  rn->data[s]);
        if (ct_badam_step_done(&b)) CHECK_OK(ct_badam_apply(ct_test_ctx(), &b, &tm, &opt, false, &err), &err);
    }
    /* the last switch wrote the active block back: tm.w holds every trained value */
    int id = b.active;
    CHECK_OK(ct_train_model_switch_layers(&tm, &id, 1, false, &err), &err);
    snprintf(key, sizeof key, "%s.final.", tag);
    double wf = compare_weights(fx, &tm, key, 1e-2, tag);
    /* layers never active and the embeddings / final norm: bit for bit the base */
    for (int l = -1; l < m->cfg.num_layers; l++) {
        if (l >= 0 && active_ever[l]) continue;
        for (int k = 0; k < (l < 0 ? CT_GT_COUNT : CT_LT_COUNT); k++) {
            const ct_tensor_spec *sp = l < 0 ? &ct_global_specs[k] : &ct_layer_specs[k];
            const ct_tensor *t = ct_weights_at_c(&tm.w, sp, l), *t0 = ct_weights_at_c(&m->w, sp, l);
            if (!t->data) continue;
            CHECK_MSG(!memcmp(t->data, t0->data, ct_tensor_nbytes(t0)), "%s: frozen tensor %s of layer %d changed", tag,
                      sp->hf, l);
        }
    }
    if (verbose())
        printf("    badam %s: %zu steps %.5f -> %.5f, worst loss rel err %.2e, final weights %.2e of their change\n", tag,
               rl->n, rl->data[0], rl->data[rl->n - 1], worst, wf);
    ct_train_model_free(&tm);
}

TEST(badam_golden_block_schedule_and_updates) {
    fixture fx;
    REQUIRE(fx_load(&fx, ct_test_path("tests/fixtures/train/badam.bin")) == 0);
    ct_model m;
    fx_model(&fx, &m);
    fx_batch fb;
    fx_batch_init(&fx, &fb);
    badam_case(&fx, &m, &fb, "ascending", CT_BADAM_ASCENDING, -1);
    badam_case(&fx, &m, &fb, "descending", CT_BADAM_DESCENDING, 1);
    badam_case(&fx, &m, &fb, "fixed", CT_BADAM_FIXED, 2);
    fx_batch_free(&fb);
    fx_model_free(&m);
    fx_free(&fx);
}

TEST(badam_random_visits_every_block_once_per_sweep) {
    ct_badam b;
    ct_err err = {0};
    CHECK_OK(ct_badam_init(&b, 6, CT_BADAM_RANDOM, 1, -1, 7, &err), &err);
    for (int sweep = 0; sweep < 4; sweep++) {
        bool seen[6] = {0};
        for (int i = 0; i < 6; i++) {
            CHECK_MSG(!seen[b.active], "sweep %d: block %d twice", sweep, b.active);
            seen[b.active] = true;
            CHECK(ct_badam_step_done(&b)); /* interval 1: a switch after every step */
        }
    }
    ct_badam c;
    CHECK_OK(ct_badam_init(&c, 6, CT_BADAM_RANDOM, 1, -1, 7, &err), &err);
    CHECK_EQ_INT(c.active, (ct_badam_init(&b, 6, CT_BADAM_RANDOM, 1, -1, 7, &err), b.active)); /* seeded */
    /* interval 3: switches after steps 2, 5, 8 ((s + 1) % 3 == 0) */
    CHECK_OK(ct_badam_init(&b, 4, CT_BADAM_ASCENDING, 3, -1, 0, &err), &err);
    bool sw[9];
    for (int s = 0; s < 9; s++) sw[s] = ct_badam_step_done(&b);
    for (int s = 0; s < 9; s++) CHECK_MSG(sw[s] == (s == 1 || s == 4 || s == 7), "interval 3: switch after step %d", s + 1);
    CHECK_EQ_INT(b.active, 3);
    CHECK(ct_badam_init(&b, 4, CT_BADAM_FIXED, 3, -1, 0, &err) == CT_ERR_ARG && strstr(err.msg, "badam_start_block"));
    CHECK(ct_badam_init(&b, 4, CT_BADAM_ASCENDING, 3, 4, 0, &err) == CT_ERR_ARG && strstr(err.msg, "out of range"));
}

/* ---------------------------------------------------------------- GaLore */

static void galore_case(const fixture *fx, ct_model *m, fx_batch *fb, const char *tag, const char *const *targets,
                        size_t nt, ct_galore_proj proj) {
    ct_err err = {0};
    char key[256];
    snprintf(key, sizeof key, "%s.params", tag);
    const fx_array *pa = fx_get(fx, key);
    snprintf(key, sizeof key, "%s.losses", tag);
    const fx_array *rl = fx_get(fx, key);
    snprintf(key, sizeof key, "%s.grad_norms", tag);
    const fx_array *rn = fx_get(fx, key);
    REQUIRE(pa && rl && rn);
    int64_t rank = (int64_t)pa->data[0], gap = (int64_t)pa->data[1];
    double scale = pa->data[2], max_norm = pa->data[4];
    ct_method_cfg mc = {.method = CT_METHOD_FULL, .defer_state = true};
    ct_train_model tm;
    REQUIRE(ct_train_model_init(&tm, m, &mc, &err) == CT_OK);
    for (size_t i = 0; i < tm.params.n; i++) tm.params.p[i].decay = !strstr(tm.params.p[i].name, "bias");
    bool *sel = calloc(tm.params.n, sizeof *sel);
    size_t n_sel = 0;
    CHECK_OK(ct_galore_select(&tm, targets, nt, sel, &n_sel, &err), &err);
    ct_galore g;
    CHECK_OK(ct_galore_init(&g, &tm.params, sel, rank, gap, scale, proj, &err), &err);
    CHECK_OK(ct_params_alloc_state(&tm.params, &err), &err);
    g.no_clip = max_norm == 0;
    ct_adamw opt;
    ct_adamw_init(&opt, 0.9, 0.999, 1e-8, 0.05);
    ct_scheduler sch;
    CHECK_OK(ct_scheduler_init(&sch, "cosine", 5e-3, (int64_t)rl->n, 0, 0.0, 0.0, &err), &err);
    double norm = (double)ct_lm_count_targets(&fb->b, 0), worst = 0, wu = 0;
    size_t n_update = 0;
    for (size_t s = 0; s < rl->n; s++) {
        ct_params_zero_grad(&tm.params);
        double loss = 0;
        CHECK_OK(ct_train_step(ct_test_ctx(), &tm, &fb->b, norm, true, &loss, &err), &err);
        float clip = 1.0f;
        double gn = ct_clip_grad_norm(ct_test_ctx(), &tm.params, max_norm > 0 ? max_norm : 1.0, &clip);
        CHECK_OK(ct_galore_step(ct_test_ctx(), &g, &opt, &tm.params, ct_scheduler_lr(&sch, (int64_t)s), clip, &err), &err);
        double rel = fabs(loss - rl->data[s]) / fabs(rl->data[s]);
        worst = fmax(worst, rel);
        CHECK_MSG(rel <= 1e-4, "galore %s step %zu: loss %.9g vs torch %.9g", tag, s + 1, loss, rl->data[s]);
        CHECK_MSG(fabs(gn - rn->data[s]) <= 1e-4 * rn->data[s], "galore %s step %zu: grad norm %.9g vs %.9g", tag, s + 1,
                  gn, rn->data[s]);
        if (s) continue;
        /* the first projected update of every GaLore weight (galore_torch's AdamW step) */
        for (size_t i = 0; i < tm.params.n; i++) {
            if (!sel[i]) continue;
            const ct_param *p = &tm.params.p[i];
            char uk[256], wk[256];
            snprintf(uk, sizeof uk, "%s.update1.%s", tag, p->name);
            snprintf(wk, sizeof wk, "w.%s", p->name);
            const fx_array *u = fx_get(fx, uk), *w0 = fx_get(fx, wk);
            CHECK_MSG(u && w0 && u->n == p->numel, "galore %s: no reference update of %s", tag, p->name);
            if (!u || !w0 || u->n != p->numel) continue;
            double d = 0, mx = 0;
            for (size_t j = 0; j < p->numel; j++) {
                double e = (double)p->data[j] - w0->data[j] - u->data[j];
                d += e * e;
                mx += u->data[j] * u->data[j];
            }
            d = sqrt(d), mx = sqrt(mx);
            wu = fmax(wu, d / mx);
            n_update++;
            /* full: at a refresh U_r^T G V_r^T is diagonal in exact arithmetic; its off-diagonal
             * entries are f32 rounding noise, which the first Adam step turns into +-1 (in f64 they
             * stay below eps): f32 (ctune's, galore_torch's) and float64 runs differ there */
            CHECK_MSG(mx > 0 && (proj == CT_GALORE_FULL || d <= 1e-3 * mx),
                      "galore %s: first update of %s off by %.3g (norm %.3g)", tag, p->name, d, mx);
        }
    }
    CHECK_EQ_INT(n_update, n_sel);
    snprintf(key, sizeof key, "%s.final.", tag);
    double wf = NAN;
    snprintf(key + strlen(key), sizeof key - strlen(key), "%s", tm.params.p[0].name);
    bool has_final = fx_get(fx, key) != NULL;
    snprintf(key, sizeof key, "%s.final.", tag);
    if (has_final) wf = compare_weights(fx, &tm, key, 1e-2, tag);
    if (verbose())
        printf("    galore %s: %zu weights, %zu steps %.5f -> %.5f, worst loss rel err %.2e, first update %.2e, final "
               "weights %.2e of their change\n",
               tag, n_sel, rl->n, rl->data[0], rl->data[rl->n - 1], worst, wu, wf);
    free(sel);
    ct_galore_free(&g);
    ct_train_model_free(&tm);
}

TEST(galore_golden_projected_adamw) {
    fixture fx;
    REQUIRE(fx_load(&fx, ct_test_path("tests/fixtures/train/galore.bin")) == 0);
    ct_model m;
    fx_model(&fx, &m);
    fx_batch fb;
    fx_batch_init(&fx, &fb);
    static const char *const all[] = {"all"}, *const some[] = {"mlp", "lm_head"};
    galore_case(&fx, &m, &fb, "std", all, 1, CT_GALORE_STD);
    galore_case(&fx, &m, &fb, "reverse_std", all, 1, CT_GALORE_REVERSE_STD);
    galore_case(&fx, &m, &fb, "right", all, 1, CT_GALORE_RIGHT);
    galore_case(&fx, &m, &fb, "left", all, 1, CT_GALORE_LEFT);
    galore_case(&fx, &m, &fb, "full", all, 1, CT_GALORE_FULL);
    galore_case(&fx, &m, &fb, "targets", some, 2, CT_GALORE_STD);
    galore_case(&fx, &m, &fb, "layerwise", all, 1, CT_GALORE_STD);
    /* a target that names no linear module is an error, not an empty selection */
    ct_err err = {0};
    ct_method_cfg mc = {.method = CT_METHOD_FULL, .defer_state = true};
    ct_train_model tm;
    REQUIRE(ct_train_model_init(&tm, &m, &mc, &err) == CT_OK);
    bool *sel = calloc(tm.params.n, sizeof *sel);
    size_t n = 0;
    static const char *const bad[] = {"qproj"};
    CHECK(ct_galore_select(&tm, bad, 1, sel, &n, &err) == CT_ERR_ARG && strstr(err.msg, "'qproj'"));
    free(sel);
    ct_train_model_free(&tm);
    fx_batch_free(&fb);
    fx_model_free(&m);
    fx_free(&fx);
}

TEST(svd_basis_spans_the_leading_subspace) {
    /* A = 3 e1 f1^T + 2 e2 f2^T (+ a tiny third direction): the leading 2 vectors are e1, e2 and
     * f1, f2 with signs fixed positive at their largest component */
    enum { M = 5, N = 4 };
    float A[M * N] = {0}, U[M * 2], Vh[2 * N];
    double e1[M] = {0.6, -0.8, 0, 0, 0}, e2[M] = {0, 0, -1, 0, 0}, f1[N] = {0, 0, 0, -1}, f2[N] = {0.8, 0.6, 0, 0};
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) A[i * N + j] = (float)(3 * e1[i] * f1[j] + 2 * e2[i] * f2[j]) + (i == 4 && j == 2 ? 1e-3f : 0);
    ct_err err = {0};
    CHECK_OK(ct_svd_basis(A, M, N, 2, U, Vh, &err), &err);
    /* e1's largest component is -0.8 -> flipped; e2 (-1) flipped; f1 (-1) flipped; f2 (0.8) kept */
    for (int i = 0; i < M; i++) {
        CHECK_NEAR(U[i * 2 + 0], -e1[i], 1e-6);
        CHECK_NEAR(U[i * 2 + 1], -e2[i], 1e-6);
    }
    for (int j = 0; j < N; j++) {
        CHECK_NEAR(Vh[j], -f1[j], 1e-6);
        CHECK_NEAR(Vh[N + j], f2[j], 1e-6);
    }
    float bad[4] = {1, NAN, 0, 1};
    CHECK(ct_svd_basis(bad, 2, 2, 1, U, Vh, &err) == CT_ERR_NUMERIC);
    CHECK(ct_svd_basis(A, M, N, 5, U, Vh, &err) == CT_ERR_ARG);
}

/* ---------------------------------------------------------------- LLaMA Pro */

/* Writes fixture model m as an F32 HF directory. */
static void write_model_dir(const ct_model *m, const char *dir) {
    const ct_config *c = &m->cfg;
    json_t *cfg = json_pack("{s:[s],s:s,s:i,s:i,s:i,s:i,s:i,s:i,s:i,s:f,s:f,s:b,s:s,s:s,s:i}", "architectures",
                            "Qwen3ForCausalLM", "model_type", "qwen3", "hidden_size", c->hidden_size, "intermediate_size",
                            c->intermediate_size, "num_hidden_layers", c->num_layers, "num_attention_heads", c->num_heads,
                            "num_key_value_heads", c->num_kv_heads, "head_dim", c->head_dim, "vocab_size", c->vocab_size,
                            "rms_norm_eps", c->rms_norm_eps, "rope_theta", c->rope_theta, "tie_word_embeddings", 1,
                            "hidden_act", "silu", "torch_dtype", "float32", "max_position_embeddings", 128);
    ct_weights_items wi = {0};
    ct_err err = {0};
    CHECK_OK(ct_weights_items_make(&wi, &m->w, c, CT_DTYPE_F32, &err), &err);
    ct_hf_export_opts o = {.out_dir = dir, .config = cfg, .dtype = CT_DTYPE_F32};
    CHECK_OK(ct_hf_export(&o, wi.items, wi.n, &err), &err);
    ct_weights_items_free(&wi);
    json_decref(cfg);
}

static double model_loss(ct_model *m, fx_batch *fb) {
    ct_method_cfg mc = {.method = CT_METHOD_FREEZE, .freeze_trainable_layers = 1};
    ct_train_model tm;
    ct_err err = {0};
    double loss = NAN;
    if (ct_train_model_init(&tm, m, &mc, &err)) return NAN;
    CHECK_OK(ct_train_step(ct_test_ctx(), &tm, &fb->b, (double)ct_lm_count_targets(&fb->b, 0), false, &loss, &err), &err);
    ct_train_model_free(&tm);
    return loss;
}

TEST(llama_pro_golden_expansion_and_training) {
    fixture fx;
    REQUIRE(fx_load(&fx, ct_test_path("tests/fixtures/train/llama_pro.bin")) == 0);
    ct_model m;
    fx_model(&fx, &m);
    fx_batch fb;
    fx_batch_init(&fx, &fb);
    ct_err err = {0};
    char *src = ct_path_join(ct_test_tmpdir(), "lp-base"), *dst = ct_path_join(ct_test_tmpdir(), "lp-pro");
    write_model_dir(&m, src);
    ct_llama_pro_opts o = {.model_dir = src, .out_dir = dst, .num_expand = 3};
    CHECK(ct_llama_pro_expand(&o, &err) == CT_ERR_ARG && strstr(err.msg, "divisible"));
    o.num_expand = 2;
    CHECK_OK(ct_llama_pro_expand(&o, &err), &err);
    ct_model *pm = NULL;
    REQUIRE(ct_model_load(dst, &pm, &err) == CT_OK);
    CHECK_EQ_INT(pm->cfg.num_layers, 6);
    /* layers 0 1 [copy of 1] 2 3 [copy of 3]; copies with o_proj and down_proj zero */
    static const int from[6] = {0, 1, 1, 2, 3, 3};
    for (int l = 0; l < 6; l++)
        for (int id = 0; id < CT_LT_COUNT; id++) {
            const ct_tensor *t = &pm->w.layers[l].t[id], *t0 = &m.w.layers[from[l]].t[id];
            if (!t0->data) continue;
            bool zero = (l == 2 || l == 5) && (id == CT_LT_WO || id == CT_LT_DOWN);
            size_t n = (size_t)ct_tensor_numel(t0);
            bool ok = true;
            for (size_t i = 0; i < n; i++) ok = ok && ((const float *)t->data)[i] == (zero ? 0.0f : ((const float *)t0->data)[i]);
            CHECK_MSG(ok, "expanded layer %d %s is not %s of layer %d", l, ct_layer_specs[id].hf, zero ? "zeros" : "a copy",
                      from[l]);
        }
    /* identity blocks: the expanded model computes the original's loss, bit for bit */
    double l0 = model_loss(&m, &fb), l1 = model_loss(pm, &fb), ref = fx_get(&fx, "original.loss")->data[0];
    CHECK_MSG(l0 == l1, "expanded loss %.17g != original %.17g", l1, l0);
    CHECK_MSG(fabs(l0 - ref) <= 1e-5 * ref, "loss %.9g vs torch %.9g", l0, ref);
    /* use_llama_pro with freeze: the expanded blocks train, nothing else (4 AdamW steps) */
    int ids[CT_MAX_LAYERS];
    const fx_array *el = fx_get(&fx, "expanded.layers");
    REQUIRE(el && ct_llama_pro_layers(6, 2, ids, &err) == (int)el->n);
    for (size_t i = 0; i < el->n; i++) CHECK_EQ_INT(ids[i], (int)el->data[i]);
    CHECK(ct_llama_pro_layers(6, 4, ids, &err) < 0 && strstr(err.msg, "divisible"));
    ct_method_cfg mc = {.method = CT_METHOD_FREEZE, .freeze_trainable_modules = "all", .layer_ids = ids, .n_layer_ids = 2};
    ct_train_model tm;
    REQUIRE(ct_train_model_init(&tm, pm, &mc, &err) == CT_OK);
    for (size_t i = 0; i < tm.params.n; i++)
        CHECK_MSG(!strncmp(tm.params.p[i].name, "model.layers.2.", 15) || !strncmp(tm.params.p[i].name, "model.layers.5.", 15),
                  "%s trains", tm.params.p[i].name);
    const fx_array *rl = fx_get(&fx, "train.losses"), *rn = fx_get(&fx, "train.grad_norms");
    REQUIRE(rl && rn);
    ct_adamw opt;
    ct_adamw_init(&opt, 0.9, 0.999, 1e-8, 0.01);
    ct_scheduler sch;
    CHECK_OK(ct_scheduler_init(&sch, "cosine", 1e-2, (int64_t)rl->n, 1, 0.0, 0.0, &err), &err);
    double norm = (double)ct_lm_count_targets(&fb.b, 0);
    for (size_t s = 0; s < rl->n; s++) {
        ct_params_zero_grad(&tm.params);
        double loss = 0;
        CHECK_OK(ct_train_step(ct_test_ctx(), &tm, &fb.b, norm, true, &loss, &err), &err);
        float clip = 1.0f;
        double gn = ct_clip_grad_norm(ct_test_ctx(), &tm.params, 1.0, &clip);
        ct_adamw_step(ct_test_ctx(), &opt, &tm.params, ct_scheduler_lr(&sch, (int64_t)s), clip);
        CHECK_MSG(fabs(loss - rl->data[s]) <= 1e-5 * rl->data[s], "llama pro step %zu: loss %.9g vs %.9g", s + 1, loss,
                  rl->data[s]);
        CHECK_MSG(fabs(gn - rn->data[s]) <= 1e-4 * rn->data[s], "llama pro step %zu: grad norm %.9g vs %.9g", s + 1, gn,
                  rn->data[s]);
    }
    double worst = 0;
    for (size_t i = 0; i < tm.params.n; i++) {
        const ct_param *p = &tm.params.p[i];
        char k[256];
        snprintf(k, sizeof k, "train.final.%s", p->name);
        const fx_array *r = fx_get(&fx, k);
        CHECK_MSG(r && r->n == p->numel, "no reference for %s", p->name);
        if (!r || r->n != p->numel) continue;
        double e = rel_change_err(p->data, r->data, NULL, p->numel);
        worst = fmax(worst, e);
        CHECK_MSG(e <= 1e-2, "llama pro: final %s off by %.3g", p->name, e);
    }
    ct_train_model_free(&tm);
    /* LoRA with use_llama_pro adapts the expanded blocks only */
    ct_method_cfg lc = {.method = CT_METHOD_LORA, .lora_rank = 2, .lora_alpha = 4, .lora_target = "all", .layer_ids = ids,
                        .n_layer_ids = 2, .seed = 1};
    REQUIRE(ct_train_model_init(&tm, pm, &lc, &err) == CT_OK);
    CHECK_EQ_INT(tm.params.n, 2 * 7 * 2);
    for (size_t i = 0; i < tm.params.n; i++)
        CHECK_MSG(strstr(tm.params.p[i].name, ".layers.2.") || strstr(tm.params.p[i].name, ".layers.5."), "%s",
                  tm.params.p[i].name);
    ct_train_model_free(&tm);
    if (verbose()) printf("    llama pro: loss %.8f (torch %.8f) = expanded; 4 steps, final weights %.2e\n", l0, ref, worst);
    ct_model_free(pm);
    free(src);
    free(dst);
    fx_batch_free(&fb);
    fx_model_free(&m);
    fx_free(&fx);
}
