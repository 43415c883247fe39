/* Test helpers for training: tiny in-memory models (malloc'd F32 tensors) and an independent
 * double-precision reference forward of the whole model (full / LoRA / prompt tuning), written
 * straight from the HF math, used for whole-model finite-difference checks. */
#ifndef CT_TESTS_GRAD_UTIL_H
#define CT_TESTS_GRAD_UTIL_H

#include <stdlib.h>

#include "model/model.h"
#include "peft/method.h"
#include "train/step.h"

typedef struct tiny_spec {
    int C, Hq, Hkv, D, I, L, V;
    int qwen3; /* qk_norm + explicit head_dim, tied embeddings; else qwen2: qkv bias, untied */
} tiny_spec;

static uint64_t tiny_rng_state;
static double tiny_urand(void) {
    tiny_rng_state ^= tiny_rng_state << 13;
    tiny_rng_state ^= tiny_rng_state >> 7;
    tiny_rng_state ^= tiny_rng_state << 17;
    return (double)(tiny_rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

static ct_tensor tiny_tensor(int64_t a, int64_t b, double scale, double offset) {
    size_t n = (size_t)a * (size_t)(b ? b : 1);
    float *d = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) d[i] = (float)(offset + scale * tiny_urand());
    ct_tensor t = {.dtype = CT_DTYPE_F32, .ndim = b ? 2 : 1, .shape = {a, b}, .data = d};
    return t;
}

static void tiny_model_init(ct_model *m, const tiny_spec *s, uint64_t seed) {
    tiny_rng_state = seed * 2654435761ull + 88172645463325252ull;
    memset(m, 0, sizeof *m);
    ct_config *c = &m->cfg;
    c->arch = s->qwen3 ? CT_ARCH_QWEN3 : CT_ARCH_QWEN2;
    c->hidden_size = s->C;
    c->intermediate_size = s->I;
    c->num_layers = s->L;
    c->num_heads = s->Hq;
    c->num_kv_heads = s->Hkv;
    c->head_dim = s->D;
    c->vocab_size = s->V;
    c->rms_norm_eps = 1e-6;
    c->rope_theta = 10000.0;
    c->tie_word_embeddings = s->qwen3;
    c->attention_bias = !s->qwen3;
    c->qk_norm = s->qwen3;
    c->dtype = CT_DTYPE_F32;
    double ws = 0.35;
    ct_tensor *g = m->w.g;
    g[CT_GT_EMBED] = tiny_tensor(s->V, s->C, 1.0, 0);
    g[CT_GT_FINAL_NORM] = tiny_tensor(s->C, 0, 0.2, 1.0);
    g[CT_GT_LM_HEAD] = s->qwen3 ? g[CT_GT_EMBED] : tiny_tensor(s->V, s->C, ws, 0);
    m->w.layers = calloc((size_t)s->L, sizeof(ct_layer_weights));
    m->w.n_layers = s->L;
    for (int l = 0; l < s->L; l++) {
        ct_tensor *w = m->w.layers[l].t;
        w[CT_LT_ATTN_NORM] = tiny_tensor(s->C, 0, 0.2, 1.0);
        w[CT_LT_WQ] = tiny_tensor(s->Hq * s->D, s->C, ws, 0);
        w[CT_LT_WK] = tiny_tensor(s->Hkv * s->D, s->C, ws, 0);
        w[CT_LT_WV] = tiny_tensor(s->Hkv * s->D, s->C, ws, 0);
        w[CT_LT_WO] = tiny_tensor(s->C, s->Hq * s->D, ws, 0);
        if (!s->qwen3) {
            w[CT_LT_BQ] = tiny_tensor(s->Hq * s->D, 0, 0.2, 0);
            w[CT_LT_BK] = tiny_tensor(s->Hkv * s->D, 0, 0.2, 0);
            w[CT_LT_BV] = tiny_tensor(s->Hkv * s->D, 0, 0.2, 0);
        } else {
            w[CT_LT_Q_NORM] = tiny_tensor(s->D, 0, 0.2, 1.0);
            w[CT_LT_K_NORM] = tiny_tensor(s->D, 0, 0.2, 1.0);
        }
        w[CT_LT_MLP_NORM] = tiny_tensor(s->C, 0, 0.2, 1.0);
        w[CT_LT_GATE] = tiny_tensor(s->I, s->C, ws, 0);
        w[CT_LT_UP] = tiny_tensor(s->I, s->C, ws, 0);
        w[CT_LT_DOWN] = tiny_tensor(s->C, s->I, ws, 0);
    }
}

static void tiny_model_free(ct_model *m) {
    if (!ct_weights_tied(&m->w)) free(m->w.g[CT_GT_LM_HEAD].data);
    free(m->w.g[CT_GT_EMBED].data);
    free(m->w.g[CT_GT_FINAL_NORM].data);
    for (int l = 0; l < m->cfg.num_layers; l++)
        for (int id = 0; id < CT_LT_COUNT; id++) free(m->w.layers[l].t[id].data);
    free(m->w.layers);
}

/* ---- double reference forward ---- */
static double *ref_get(const ct_tensor *t) {
    if (!t->data) return NULL;
    size_t n = (size_t)ct_tensor_numel(t);
    float *f = malloc(n * sizeof(float));
    double *d = malloc(n * sizeof(double));
    ct_tensor_to_f32(t, 0, n, f);
    for (size_t i = 0; i < n; i++) d[i] = f[i];
    free(f);
    return d;
}
static void ref_rms(double *y, const double *x, const double *w, size_t rows, size_t C, double eps) {
    for (size_t r = 0; r < rows; r++) {
        double ss = 0;
        for (size_t i = 0; i < C; i++) ss += x[r * C + i] * x[r * C + i];
        double k = 1.0 / sqrt(ss / (double)C + eps);
        for (size_t i = 0; i < C; i++) y[r * C + i] = x[r * C + i] * k * w[i];
    }
}
/* y[N,out] = x W^T + b (+ scaling * x A^T B^T) */
static void ref_linear(double *y, const double *x, const ct_tensor *Wt, const ct_tensor *bt, const float *A,
                       const float *B, int r, double scaling, size_t N) {
    size_t out = (size_t)Wt->shape[0], in = (size_t)Wt->shape[1];
    double *W = ref_get(Wt), *b = ref_get(bt);
    for (size_t t = 0; t < N; t++)
        for (size_t o = 0; o < out; o++) {
            double s = b ? b[o] : 0;
            for (size_t i = 0; i < in; i++) s += x[t * in + i] * W[o * in + i];
            if (A) {
                for (int k = 0; k < r; k++) {
                    double u = 0;
                    for (size_t i = 0; i < in; i++) u += x[t * in + i] * A[(size_t)k * in + i];
                    s += scaling * B[o * (size_t)r + (size_t)k] * u;
                }
            }
            y[t * out + o] = s;
        }
    free(W);
    free(b);
}
static void ref_rope(double *x, const int32_t *pos, size_t N, size_t H, size_t D, double theta) {
    size_t half = D / 2;
    for (size_t t = 0; t < N; t++)
        for (size_t i = 0; i < half; i++) {
            float inv = (float)(1.0 / pow(theta, (double)(2 * i) / (double)D));
            double ang = (float)((float)pos[t] * inv); /* HF: f32 angle */
            for (size_t h = 0; h < H; h++) {
                double *xh = x + (t * H + h) * D, a = xh[i], b = xh[i + half];
                xh[i] = a * cos(ang) - b * sin(ang);
                xh[i + half] = b * cos(ang) + a * sin(ang);
            }
        }
}

/* Loss of the batch (sum_t w CE / norm) computed independently in double, with tm's current
 * weights (trained masters included), LoRA and prompt embeddings. */
static double ref_loss(ct_train_model *tm, const ct_lm_batch *bt, double norm) {
    const ct_model *m = tm->model;
    const ct_weights *Wt = &tm->w;
    size_t P = (size_t)tm->n_virtual, T = bt->T + P, B = bt->B, N = B * T;
    size_t C = (size_t)m->cfg.hidden_size, Hq = (size_t)m->cfg.num_heads, Hkv = (size_t)m->cfg.num_kv_heads;
    size_t D = (size_t)m->cfg.head_dim, I = (size_t)m->cfg.intermediate_size, V = (size_t)m->cfg.vocab_size;
    double eps = m->cfg.rms_norm_eps;
    int32_t *pos = malloc(N * sizeof(int32_t)), *seg = malloc(N * sizeof(int32_t));
    double *x = calloc(N * C, sizeof(double));
    double *E = ref_get(&Wt->g[CT_GT_EMBED]);
    const float *Pe = tm->prompt_param >= 0 ? tm->params.p[tm->prompt_param].data : NULL;
    for (size_t r = 0; r < B; r++)
        for (size_t t = 0; t < T; t++) {
            size_t i = r * T + t;
            pos[i] = (!P && bt->position_ids) ? bt->position_ids[r * bt->T + t] : (int32_t)t;
            seg[i] = bt->segment_ids ? bt->segment_ids[r * bt->T + t] : 0;
            for (size_t c = 0; c < C; c++)
                x[i * C + c] = t < P ? Pe[t * C + c] : E[(size_t)bt->input_ids[r * bt->T + t - P] * C + c];
        }
    free(E);
    double *xn = malloc(N * C * sizeof(double)), *q = malloc(N * Hq * D * sizeof(double));
    double *k = malloc(N * Hkv * D * sizeof(double)), *v = malloc(N * Hkv * D * sizeof(double));
    double *att = malloc(N * Hq * D * sizeof(double)), *o = malloc(N * C * sizeof(double));
    double *g = malloc(N * I * sizeof(double)), *u = malloc(N * I * sizeof(double));
    double *sc = malloc(T * sizeof(double));
    for (int l = 0; l < m->cfg.num_layers; l++) {
        const ct_tensor *w = Wt->layers[l].t;
        const float *LA[CT_LT_COUNT] = {0}, *LB[CT_LT_COUNT] = {0};
        if (tm->lora_r)
            for (int i = 0; i < CT_LT_COUNT; i++) {
                const ct_lora_ref *lr = &tm->lora.ref[l * CT_LT_COUNT + i];
                LA[i] = lr->A;
                LB[i] = lr->B;
            }
        int r = tm->lora_r;
        double s = tm->lora_scaling;
        double *wn = ref_get(&w[CT_LT_ATTN_NORM]);
        ref_rms(xn, x, wn, N, C, eps);
        free(wn);
        ref_linear(q, xn, &w[CT_LT_WQ], &w[CT_LT_BQ], LA[CT_LT_WQ], LB[CT_LT_WQ], r, s, N);
        ref_linear(k, xn, &w[CT_LT_WK], &w[CT_LT_BK], LA[CT_LT_WK], LB[CT_LT_WK], r, s, N);
        ref_linear(v, xn, &w[CT_LT_WV], &w[CT_LT_BV], LA[CT_LT_WV], LB[CT_LT_WV], r, s, N);
        if (w[CT_LT_Q_NORM].data) {
            double *qn = ref_get(&w[CT_LT_Q_NORM]), *kn = ref_get(&w[CT_LT_K_NORM]);
            ref_rms(q, q, qn, N * Hq, D, eps);
            ref_rms(k, k, kn, N * Hkv, D, eps);
            free(qn);
            free(kn);
        }
        ref_rope(q, pos, N, Hq, D, m->cfg.rope_theta);
        ref_rope(k, pos, N, Hkv, D, m->cfg.rope_theta);
        for (size_t b = 0; b < B; b++)
            for (size_t h = 0; h < Hq; h++)
                for (size_t t = 0; t < T; t++) {
                    size_t qi = b * T + t, kh = h / (Hq / Hkv);
                    double mx = -1e300, sum = 0;
                    for (size_t j = 0; j <= t; j++) {
                        size_t kj = b * T + j;
                        if (seg[kj] != seg[qi]) continue;
                        double d = 0;
                        for (size_t e = 0; e < D; e++) d += q[(qi * Hq + h) * D + e] * k[(kj * Hkv + kh) * D + e];
                        sc[j] = d / sqrt((double)D);
                        mx = fmax(mx, sc[j]);
                    }
                    for (size_t j = 0; j <= t; j++)
                        if (seg[b * T + j] == seg[qi]) sum += (sc[j] = exp(sc[j] - mx));
                    for (size_t e = 0; e < D; e++) {
                        double a = 0;
                        for (size_t j = 0; j <= t; j++)
                            if (seg[b * T + j] == seg[qi]) a += sc[j] / sum * v[((b * T + j) * Hkv + kh) * D + e];
                        att[(qi * Hq + h) * D + e] = a;
                    }
                }
        ref_linear(o, att, &w[CT_LT_WO], &w[CT_LT_BO], LA[CT_LT_WO], LB[CT_LT_WO], r, s, N);
        for (size_t i = 0; i < N * C; i++) x[i] += o[i];
        wn = ref_get(&w[CT_LT_MLP_NORM]);
        ref_rms(xn, x, wn, N, C, eps);
        free(wn);
        ref_linear(g, xn, &w[CT_LT_GATE], &w[CT_LT_B_GATE], LA[CT_LT_GATE], LB[CT_LT_GATE], r, s, N);
        ref_linear(u, xn, &w[CT_LT_UP], &w[CT_LT_B_UP], LA[CT_LT_UP], LB[CT_LT_UP], r, s, N);
        for (size_t i = 0; i < N * I; i++) g[i] = g[i] / (1 + exp(-g[i])) * u[i];
        ref_linear(o, g, &w[CT_LT_DOWN], &w[CT_LT_B_DOWN], LA[CT_LT_DOWN], LB[CT_LT_DOWN], r, s, N);
        for (size_t i = 0; i < N * C; i++) x[i] += o[i];
    }
    double *fw = ref_get(&Wt->g[CT_GT_FINAL_NORM]), *H = ref_get(&Wt->g[CT_GT_LM_HEAD]);
    ref_rms(xn, x, fw, N, C, eps);
    double L = 0, *lg = malloc(V * sizeof(double));
    for (size_t r = 0; r < B; r++)
        for (size_t t = 0; t + 1 < T; t++) {
            if (t + 1 < P) continue;
            int32_t lab = bt->labels[r * bt->T + t + 1 - P];
            if (lab < 0) continue;
            double wt = bt->loss_weights ? bt->loss_weights[r * bt->T + t + 1 - P] : 1.0;
            double mx = -1e300, se = 0;
            for (size_t vv = 0; vv < V; vv++) {
                double d = 0;
                for (size_t c = 0; c < C; c++) d += xn[(r * T + t) * C + c] * H[vv * C + c];
                lg[vv] = d;
                mx = fmax(mx, d);
            }
            for (size_t vv = 0; vv < V; vv++) se += exp(lg[vv] - mx);
            L += wt * (mx + log(se) - lg[lab]);
        }
    free(lg); free(fw); free(H); free(x); free(xn); free(q); free(k); free(v); free(att); free(o);
    free(g); free(u); free(sc); free(pos); free(seg);
    return L / norm;
}

#endif
