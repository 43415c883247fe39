/* The memory model of a fine-tuning run (include/ctune/estimate.h): what the trainer allocates,
 * computed from the config alone. Each term names the code whose allocations it mirrors; a
 * change there needs the same change here (tests/cli/estimate_agreement.sh measures both). */
#include "ctune/estimate.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/str.h"
#include "model/arch.h"
#include "model/decoder_int.h"
#include "ops/ops.h"
#include "peft/freeze.h"
#include "peft/method.h"
#include "quant/bnb_load.h"

/* The process baseline beyond the terms below: the ctune binary and its shared libraries
 * (OpenBLAS, libgomp, jansson, pcre2, utf8proc, libyaml), OpenBLAS's and OpenMP's per-thread
 * buffers, the dataset, and the tokenizer. Measured with ru_maxrss (all_results.json
 * peak_memory_mb) of `ctune train` (2 LoRA steps, T 128) on init-model models:
 *   hidden 64, 2 layers, stories260k tokenizer (vocab 512; every other term < 3 MiB):
 *     9.0 MiB at threads 1, 10.3 MiB at threads 2  ->  ~6 MiB + ~1 MiB per thread;
 *   the same with the Qwen3 tokenizer (vocab 151680, 11 MB tokenizer.json): +61 MiB, and
 *   hidden 512, 8 layers with it: +53 MiB over the prediction without a tokenizer term -> the
 *   parsed vocabulary and merges stay resident at ~384 bytes per vocabulary entry. */
#define EST_OVERHEAD_BASE ((size_t)6 << 20)
#define EST_OVERHEAD_PER_THREAD ((size_t)1 << 20)
#define EST_TOKENIZER_PER_TOKEN ((size_t)384)

/* The trainer caches frozen non-f32 weights in f32 below this many bytes of f32 parameters
 * (src/train/trainer.c setup_method). */
#define EST_F32_CACHE_LIMIT (8.0 * 1073741824.0)

static const char *k_method[CT_EST_METHODS] = {"full", "freeze", "lora", "qlora8", "qlora4", "prompt", "badam"};

const char *ct_est_method_name(ct_est_method m) { return (unsigned)m < CT_EST_METHODS ? k_method[m] : "?"; }

bool ct_est_method_parse(const char *name, ct_est_method *m) {
    for (int i = 0; name && i < CT_EST_METHODS; i++)
        if (!strcasecmp(name, k_method[i])) {
            *m = (ct_est_method)i;
            return true;
        }
    return false;
}

void ct_estimate_opts_default(ct_estimate_opts *o) {
    memset(o, 0, sizeof *o);
    o->method = CT_EST_LORA;
    o->cutoff_len = 2048;
    o->batch = 1;
    o->lora_rank = 8;
    o->freeze_trainable_layers = 2;
    o->num_virtual_tokens = 20;
    o->galore_rank = 16;
}

ct_status ct_estimate_opts_from_train(const ct_train_config *c, ct_estimate_opts *o, ct_err *err) {
    ct_estimate_opts_default(o);
    int quant_bit = (int)c->quantization_bit;
    o->bf16 = c->bf16 || c->pure_bf16 || c->fp16;
    const char *ft = c->finetuning_type ? c->finetuning_type : "lora";
    if (!ct_est_method_parse(ft, &o->method) || o->method == CT_EST_QLORA4 || o->method == CT_EST_QLORA8)
        return ct_err_set(err, CT_ERR_ARG, "finetuning_type '%s' is not one of full, freeze, lora, prompt", ft);
    if (quant_bit && quant_bit != 4 && quant_bit != 8)
        return ct_err_set(err, CT_ERR_ARG, "quantization_bit %d is not 4 or 8", quant_bit);
    if (quant_bit && o->method != CT_EST_LORA)
        return ct_err_set(err, CT_ERR_ARG, "quantization_bit needs finetuning_type lora (QLoRA)");
    /* a pre-quantized (bnb-4bit) base is trained as it is stored, whatever quantization_bit says */
    ct_bnb_config bq = {0};
    if (o->method == CT_EST_LORA && c->model_name_or_path && !ct_bnb_config_load(c->model_name_or_path, &bq, NULL) &&
        bq.present && bq.load_in_4bit)
        quant_bit = 4;
    ct_bnb_config_free(&bq);
    if (quant_bit) o->method = quant_bit == 4 ? CT_EST_QLORA4 : CT_EST_QLORA8;
    if (c->use_badam && o->method == CT_EST_FULL) o->method = CT_EST_BADAM;
    o->llama_pro = c->use_llama_pro && (o->method == CT_EST_FREEZE || o->method == CT_EST_LORA);
    o->galore = c->use_galore && (o->method == CT_EST_FULL || o->method == CT_EST_FREEZE);
    if (c->galore_rank > 0) o->galore_rank = (int)c->galore_rank;
    snprintf(o->galore_proj_type, sizeof o->galore_proj_type, "%s", c->galore_proj_type ? c->galore_proj_type : "std");
    size_t gn = 0;
    for (size_t i = 0; i < c->galore_target.n && gn < sizeof o->galore_target; i++)
        gn += (size_t)snprintf(o->galore_target + gn, sizeof o->galore_target - gn, "%s%s", i ? "," : "",
                               c->galore_target.v[i]);
    if (c->cutoff_len > 0) o->cutoff_len = (size_t)c->cutoff_len;
    if (c->per_device_train_batch_size > 0) o->batch = (size_t)c->per_device_train_batch_size;
    o->checkpointing = c->gradient_checkpointing;
    if (c->lora_rank > 0) o->lora_rank = (int)c->lora_rank;
    o->use_dora = c->use_dora;
    o->freeze_trainable_layers = (int)c->freeze_trainable_layers;
    if (c->num_virtual_tokens > 0) o->num_virtual_tokens = (int)c->num_virtual_tokens;
    o->threads = (int)c->threads;
    size_t n = 0;
    for (size_t i = 0; i < c->lora_target.n && n < sizeof o->lora_target; i++)
        n += (size_t)snprintf(o->lora_target + n, sizeof o->lora_target - n, "%s%s", i ? "," : "", c->lora_target.v[i]);
    return CT_OK;
}

/* ---- parameters ---- */

static size_t pad16(size_t n) { return (n + 15) & ~(size_t)15; } /* ct_params_alloc's tensor padding */

static size_t numel_of(const ct_tensor_spec *s, const ct_config *c) {
    int64_t sh[3];
    int nd = ct_spec_shape(s, c, sh);
    size_t n = 1;
    for (int i = 0; i < nd; i++) n *= (size_t)sh[i];
    return n;
}

static bool is_qlora(ct_est_method m) { return m == CT_EST_QLORA4 || m == CT_EST_QLORA8; }
static bool is_lora(ct_est_method m) { return m == CT_EST_LORA || is_qlora(m); }

typedef struct walk {
    const ct_config *cfg;
    const ct_estimate_opts *o;
    const ct_freeze_patterns *fp; /* freeze: the trainable tensors */
    uint32_t lora_mask;
    const bool *lora_layers;      /* LLaMA Pro + LoRA: the adapted layers (NULL: all) */
    int64_t params, trainable;
    size_t trainable_padded;      /* floats */
    double weights, frozen;       /* bytes stored / f32-copied numel */
    size_t embed_numel;
    bool embed_trainable;
    double linear_all, linear_trainable; /* matmul weights (FLOPs) */
    /* badam: each layer's tensors (numel, padded floats, linear numel) */
    double layer_numel[CT_MAX_LAYERS], layer_linear[CT_MAX_LAYERS], layers_numel;
    size_t layer_padded[CT_MAX_LAYERS];
    /* GaLore: moments of the targets as projected, their projectors, the largest target */
    size_t galore_full_padded, galore_state_padded, galore_proj, galore_max_mn, galore_max_k;
} walk;

static bool quantized(const walk *w, const ct_tensor_spec *s) {
    return is_qlora(w->o->method) && s->per_layer && ct_spec_lora_index(s->id) >= 0; /* as ct_model_quantize */
}

/* Whether galore_target selects a linear module (LlamaFactory: a target is a substring of the
 * module name; "all": every decoder linear, not the LM head). */
static bool galore_selects(const walk *w, const ct_tensor_spec *s, int layer) {
    const ct_config *c = w->cfg;
    bool head = s->id == CT_GT_LM_HEAD || (s->id == CT_GT_EMBED && c->tie_word_embeddings);
    if (s->per_layer ? ct_spec_lora_index(s->id) < 0 : !head) return false;
    char mod[192], item[256];
    if (s->per_layer) ct_spec_module(mod, sizeof mod, c, s, layer);
    else snprintf(mod, sizeof mod, "lm_head");
    const char *t = w->o->galore_target;
    if (!*t || !strcmp(t, "all")) return s->per_layer;
    for (const char *p = t; *p;) {
        size_t n = strcspn(p, ",");
        snprintf(item, sizeof item, "%.*s", (int)n, p);
        if (*item && strstr(mod, item)) return true;
        p += n + (p[n] == ',');
    }
    return false;
}

/* GaLore's moments, projector and scratch of a trained [m, n] target (src/train/galore.c). */
static void galore_add(walk *w, size_t m, size_t n) {
    const char *pt = w->o->galore_proj_type;
    size_t k = m < n ? m : n, r = (size_t)w->o->galore_rank < k ? (size_t)w->o->galore_rank : k;
    bool left, right;
    if (!*pt || !strcmp(pt, "std")) right = m >= n, left = !right;
    else if (!strcmp(pt, "reverse_std")) left = m >= n, right = !left;
    else left = !strcmp(pt, "left") || !strcmp(pt, "full"), right = !strcmp(pt, "right") || !strcmp(pt, "full");
    w->galore_full_padded += pad16(m * n);
    w->galore_state_padded += pad16((left ? r : m) * (right ? r : n));
    w->galore_proj += (left ? m * r : 0) + (right ? r * n : 0);
    if (m * n > w->galore_max_mn) w->galore_max_mn = m * n, w->galore_max_k = k;
}

static int walk_one(const ct_tensor_spec *s, int layer, void *user) {
    walk *w = user;
    const ct_config *c = w->cfg;
    int64_t sh[3];
    int nd = ct_spec_shape(s, c, sh);
    size_t n = numel_of(s, c);
    w->params += (int64_t)n;
    bool linear = nd == 2 && (s->per_layer || s->id == CT_GT_LM_HEAD || (s->id == CT_GT_EMBED && c->tie_word_embeddings));
    if (linear) w->linear_all += (double)n;
    bool train = false;
    if (w->o->method == CT_EST_FULL) {
        train = true;
    } else if (w->o->method == CT_EST_FREEZE) {
        char name[192];
        ct_spec_name(name, sizeof name, c, s, layer);
        train = ct_freeze_match(w->fp, name);
    }
    if (train) {
        w->trainable += (int64_t)n;
        w->trainable_padded += pad16(n);
        if (linear) w->linear_trainable += (double)n;
        if (w->o->galore && nd == 2 && galore_selects(w, s, layer)) galore_add(w, (size_t)sh[0], (size_t)sh[1]);
    }
    if (w->o->method == CT_EST_BADAM && s->per_layer) {
        w->layer_numel[layer] += (double)n;
        w->layer_padded[layer] += pad16(n);
        if (linear) w->layer_linear[layer] += (double)n;
        w->layers_numel += (double)n;
    }
    /* stored bytes */
    double esz = c->dtype == CT_DTYPE_F32 ? 4.0 : 2.0;
    if (quantized(w, s)) {
        if (w->o->method == CT_EST_QLORA4) /* nf4: 2 per byte, uint8 absmax per 64, f32 absmax per 256 blocks */
            w->weights += (double)n / 2.0 + (double)n / 64.0 + 4.0 * (double)n / (64.0 * 256.0);
        else /* int8 + one f32 scale per output row */
            w->weights += (double)n + 4.0 * (double)sh[0];
    } else {
        w->weights += (double)n * (is_qlora(w->o->method) ? 2.0 : esz); /* QLoRA keeps the rest 16-bit */
    }
    if (s->id == CT_GT_EMBED && !s->per_layer) {
        w->embed_numel = n;
        w->embed_trainable = train;
    }
    if (!train && !quantized(w, s)) w->frozen += (double)n;
    /* LoRA adapters: A [r, in] and B [out, r] on each targeted linear */
    if (is_lora(w->o->method) && s->per_layer) {
        int k = ct_spec_lora_index(s->id);
        if (k >= 0 && (w->lora_mask & (1u << k)) && (!w->lora_layers || w->lora_layers[layer])) {
            size_t r = (size_t)w->o->lora_rank, a = r * (size_t)sh[1], b = (size_t)sh[0] * r;
            size_t m = w->o->use_dora ? (size_t)sh[0] : 0; /* DoRA magnitude */
            w->trainable += (int64_t)(a + b + m);
            w->trainable_padded += pad16(a) + pad16(b) + (m ? pad16(m) : 0);
        }
    }
    return 0;
}

int64_t ct_config_param_count(const ct_config *cfg) {
    ct_estimate_opts o;
    ct_estimate_opts_default(&o);
    o.method = CT_EST_PROMPT; /* nothing of the model trains: a plain walk */
    walk w = {.cfg = cfg, .o = &o};
    ct_specs_each(cfg, walk_one, &w);
    return w.params;
}

/* ---- activations (src/model/decoder.c, src/model/lm_loss.c) ---- */

static size_t ar(size_t bytes) { return (bytes + 63) & ~(size_t)63; } /* ct_arena_alloc's rounding */
static size_t arf(size_t floats) { return ar(floats * sizeof(float)); }

/* Gated DeltaNet sizes: conv channels, value dim, value heads, one recurrent state (floats). */
typedef struct dn_sizes {
    size_t CD, VD, Hv, Hk, S;
} dn_sizes;

static dn_sizes dn_of(const ct_config *c) {
    dn_sizes z = {0};
    if (!c->n_deltanet) return z;
    size_t KD = (size_t)c->lin_k_heads * (size_t)c->lin_k_dim;
    z.VD = (size_t)c->lin_v_heads * (size_t)c->lin_v_dim;
    z.CD = 2 * KD + z.VD;
    z.Hv = (size_t)c->lin_v_heads;
    z.Hk = (size_t)c->lin_k_heads;
    z.S = z.Hv * (size_t)c->lin_k_dim * (size_t)c->lin_v_dim;
    return z;
}

/* The step arena's peak for B rows of T' tokens (T' = T + virtual tokens), N = B * T'. */
static size_t activation_bytes(const ct_config *c, size_t B, size_t Tr, bool ckpt) {
    size_t N = B * Tr;
    size_t C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size, L = (size_t)c->num_layers;
    size_t Q = (size_t)c->num_heads * (size_t)c->head_dim, KV = (size_t)c->num_kv_heads * (size_t)c->head_dim;
    size_t n_dn = (size_t)c->n_deltanet, n_attn = L - n_dn;
    bool qk = c->qk_norm, og = c->attn_output_gate;
    dn_sizes z = dn_of(c);
    size_t rows = 4 * ar(N * sizeof(int32_t));                  /* build_rows: ids, pos, tgt, weights */
    size_t xs = (L + 1) * arf(N * C) + ar((L + 1) * sizeof(float *));
    /* acts_alloc of a train pass: xn1 h gate up rstd1 rstd2 xn2 act, then the mixer's */
    size_t common = 3 * arf(N * C) + 3 * arf(N * I) + 2 * arf(N);
    /* attention: q k v att (+ qraw kraw qrstd krstd; + qg ogate att0 with the output gate) */
    size_t attn = 2 * arf(N * Q) + 2 * arf(N * KV);
    if (qk) attn += arf(N * Q) + arf(N * KV) + arf(N * (size_t)c->num_heads) + arf(N * (size_t)c->num_kv_heads);
    if (og) attn += 4 * arf(N * Q);
    /* Gated DeltaNet (src/model/deltanet.c): mixed conv qkv, l2inv, z core o, a b g beta nrstd, the
     * chunk-start states (one segment per row at most: packed rows add a chunk per segment) */
    size_t dn = n_dn ? 3 * arf(N * z.CD) + arf(N * 2 * z.Hk) + 3 * arf(N * z.VD) + 5 * arf(N * z.Hv) +
                           arf(B * ((Tr + 63) / 64) * z.S)
                     : 0;
    size_t acts = ckpt ? common + (n_attn ? attn : 0) + dn : L * common + n_attn * attn + n_dn * dn;
    size_t nacts = ckpt ? 1 : L;
    size_t final = arf(N * C) + arf(N); /* hidden, rstd */
    size_t dh = arf(N * C);             /* lm_loss: d(hidden) */
    /* ct_dec_backward: dres dact dgate dup dxn; attention: datt dq dk dv (+ dqraw dkraw; + datt0
     * dogate dqg); a DeltaNet layer's own: dO dcore dz dqkv act dact dg/dbeta/da/db */
    size_t bwd = 2 * arf(N * C) + 3 * arf(N * I);
    if (n_attn) {
        bwd += 2 * arf(N * Q) + 2 * arf(N * KV);
        if (qk) bwd += arf(N * Q) + arf(N * KV);
        if (og) bwd += 4 * arf(N * Q);
    }
    if (n_dn) bwd += 3 * arf(N * z.VD) + 3 * arf(N * z.CD) + arf(4 * N * z.Hv);
    return rows + xs + acts + ar(nacts * sizeof(struct ct_dec_acts)) + final + dh + bwd;
}

/* Attention's per-thread scratch (src/ops/cpu/attention.c): s0 + s1 of the backward. */
static size_t attn_thread_bytes(size_t T) {
    size_t sn = T < 32 ? T : (T < 256 ? T : 256) * T;
    return 2 * arf(sn);
}

size_t ct_estimate_inference(const ct_config *c, size_t ctx_len, size_t *kv_cache) {
    size_t C = (size_t)c->hidden_size, I = (size_t)c->intermediate_size;
    size_t Q = (size_t)c->num_heads * (size_t)c->head_dim;
    size_t KV = (size_t)c->num_kv_heads * (size_t)c->head_dim;
    dn_sizes z = dn_of(c);
    size_t n_dn = (size_t)c->n_deltanet, n_attn = (size_t)c->num_layers - n_dn;
    /* KV of the attention layers; conv and recurrent states of the DeltaNet layers */
    size_t kv = 2 * n_attn * ctx_len * KV * sizeof(float) +
                n_dn * ((size_t)(c->lin_conv > 0 ? c->lin_conv - 1 : 0) * z.CD + z.S) * sizeof(float);
    /* prefill activations of the decoder for a ctx_len-token chunk: layer input and output,
     * normed input, q, k, v, attention output, residual, gate, up (src/model/decoder.c), and a
     * DeltaNet layer's mixed, conv, z, a, b, g, beta, core, o */
    size_t act = ctx_len * (4 * C + 2 * Q + 2 * KV + 2 * I) * sizeof(float);
    if (c->attn_output_gate) act += ctx_len * 3 * Q * sizeof(float);
    if (n_dn) act += ctx_len * (2 * z.CD + 3 * z.VD + 5 * z.Hv) * sizeof(float);
    size_t head = 32 * (size_t)c->vocab_size * sizeof(float);
    if (kv_cache) *kv_cache = kv;
    return kv + act + head;
}

ct_status ct_estimate_train(const ct_config *c, const ct_estimate_opts *o, ct_estimate *e, ct_err *err) {
    memset(e, 0, sizeof *e);
    if ((unsigned)o->method >= CT_EST_METHODS) return ct_err_set(err, CT_ERR_ARG, "estimate: unknown method %d", (int)o->method);
    if (o->cutoff_len < 1 || o->batch < 1)
        return ct_err_set(err, CT_ERR_ARG, "estimate: cutoff_len and batch must be >= 1");
    if (o->cutoff_len > ((size_t)1 << 24) || o->batch > ((size_t)1 << 24) || o->cutoff_len * o->batch > ((size_t)1 << 32))
        return ct_err_set(err, CT_ERR_ARG, "estimate: cutoff_len %zu x batch %zu is out of range", o->cutoff_len, o->batch);
    bool lora = is_lora(o->method);
    if (lora && o->lora_rank < 1) return ct_err_set(err, CT_ERR_ARG, "estimate: lora_rank must be >= 1 (got %d)", o->lora_rank);
    if (o->method == CT_EST_PROMPT && o->num_virtual_tokens < 1)
        return ct_err_set(err, CT_ERR_ARG, "estimate: num_virtual_tokens must be >= 1 (got %d)", o->num_virtual_tokens);
    walk w = {.cfg = c, .o = o};
    ct_freeze_patterns fp = {0};
    int ids[CT_MAX_LAYERS];
    bool pro_layers[CT_MAX_LAYERS] = {0};
    int n_ids = o->llama_pro ? ct_llama_pro_layers(c->num_layers, o->freeze_trainable_layers, ids, err) : 0;
    if (n_ids < 0) return err ? err->code : CT_ERR_ARG;
    for (int i = 0; i < n_ids; i++) pro_layers[ids[i]] = true;
    if (o->llama_pro && lora) w.lora_layers = pro_layers;
    if (o->method == CT_EST_FREEZE) {
        ct_status st = o->llama_pro ? ct_freeze_patterns_layers(&fp, c, ids, (size_t)n_ids, "all", NULL, err)
                                    : ct_freeze_patterns_init(&fp, c, o->freeze_trainable_layers, "all", NULL, err);
        if (st) return st;
        w.fp = &fp;
    }
    if (lora) {
        ct_status st = ct_lora_target_mask(o->lora_target, &w.lora_mask, err);
        if (st) return st;
    }
    ct_specs_each(c, walk_one, &w);
    ct_freeze_patterns_free(&fp);
    if (o->method == CT_EST_PROMPT) {
        size_t n = (size_t)o->num_virtual_tokens * (size_t)c->hidden_size;
        w.trainable += (int64_t)n;
        w.trainable_padded += pad16(n);
    }
    if (o->method == CT_EST_BADAM) { /* the largest layer is the block that costs most */
        int big = 0;
        for (int l = 1; l < c->num_layers; l++)
            if (w.layer_padded[l] > w.layer_padded[big]) big = l;
        w.trainable = (int64_t)w.layer_numel[big];
        w.trainable_padded = w.layer_padded[big];
        w.linear_trainable = w.layer_linear[big];
    }
    if (w.trainable == 0) return ct_err_set(err, CT_ERR_ARG, "estimate: no trainable parameters selected");
    if (o->galore && !w.galore_full_padded)
        return ct_err_set(err, CT_ERR_ARG, "estimate: galore_target selects no trainable linear weight");
    int threads = o->threads > 0 ? o->threads : omp_get_num_procs();
    size_t P = o->method == CT_EST_PROMPT ? (size_t)o->num_virtual_tokens : 0;
    size_t Tr = o->cutoff_len + P, N = o->batch * Tr;
    size_t C = (size_t)c->hidden_size, V = (size_t)c->vocab_size, I = (size_t)c->intermediate_size;
    e->params = w.params;
    e->trainable = w.trainable;
    /* f32 copies of frozen weights: trainer.c's rule (exact compute, non-f32 model below 8 GiB in f32) */
    bool cached = !o->bf16 && c->dtype != CT_DTYPE_F32 && (double)w.params * 4.0 < EST_F32_CACHE_LIMIT;
    e->frozen_f32 = cached ? (size_t)(w.frozen * 4.0) : 0;
    double badam_copies = 0; /* trained blocks' copies in the stored dtype: their mmap'd pages are released */
    if (o->method == CT_EST_BADAM && !cached) {
        badam_copies = w.layers_numel * (c->dtype == CT_DTYPE_F32 ? 4.0 : 2.0);
        e->frozen_f32 = (size_t)badam_copies;
    }
    /* An untied embedding neither trained nor cached is only read at the batch's rows; the
     * kernel maps ~128 KiB of the file around each (fault-around + readahead: measured 20 MiB
     * for 128 rows of an f32 hidden-512 model) */
    double weights = w.weights;
    if (!c->tie_word_embeddings && !w.embed_trainable && !cached) {
        double esz = c->dtype == CT_DTYPE_F32 ? 4.0 : 2.0, row = (double)C * esz, all = (double)w.embed_numel * esz;
        double touched = (double)N * (row > 131072.0 ? row : 131072.0);
        weights -= all - (touched < all ? touched : all);
    }
    e->weights = (size_t)(weights - badam_copies);
    size_t tp = w.trainable_padded ? w.trainable_padded : 16;
    e->masters = e->grads = e->adam = tp * sizeof(float);
    e->adam *= 2;
    if (o->galore) /* low-rank moments and the projectors (src/train/galore.c) */
        e->adam = 2 * (tp - w.galore_full_padded + w.galore_state_padded) * sizeof(float) + w.galore_proj * sizeof(float);
    e->activations = activation_bytes(c, o->batch, Tr, o->checkpointing);
    size_t chunk = o->bf16 ? CT_XENT_CHUNK_BF16 : CT_XENT_CHUNK, cmax = N < chunk ? N : chunk;
    e->lm_head = ar(N * sizeof(size_t)) + 2 * arf(cmax * C) + arf(cmax * V) + ar(cmax * sizeof(double));
    /* thread 0's arena serves the LM head and attention backward's per-head dk / dv in turn: its
     * block is the larger of the two; the other threads hold their attention scratch */
    size_t Hq = (size_t)c->num_heads, D = (size_t)c->head_dim;
    size_t att0 = 2 * arf(Hq * Tr * D) + attn_thread_bytes(Tr);
    size_t per_thread = attn_thread_bytes(Tr);
    if (!cached && c->dtype != CT_DTYPE_F32) { /* decode-sgemm's widened weight block */
        size_t wb = arf(128 * (I > C ? I : C));
        per_thread = per_thread > wb ? per_thread : wb;
    }
    e->scratch = (att0 > e->lm_head ? att0 - e->lm_head : 0) + (size_t)(threads - 1) * per_thread;
    if (o->galore) { /* galore.c's 3 x m n scratch; dgesdd's copy, U, V^T, S and workspace in f64 */
        size_t mn = w.galore_max_mn, k = w.galore_max_k, mx = k ? mn / k : 0;
        /* a copy [m n], U and V^T [k (m + n) = m n + k^2], S [k], dgesdd's optimal work (4 k^2 + 7 k + max(m, n)) */
        e->scratch += 3 * mn * sizeof(float) +
                      (2 * mn + 5 * k * k + 8 * k + mx) * sizeof(double) + 8 * k * sizeof(int);
    }
    e->overhead = EST_OVERHEAD_BASE + (size_t)threads * EST_OVERHEAD_PER_THREAD + V * EST_TOKENIZER_PER_TOKEN;
    e->peak = e->weights + e->frozen_f32 + e->masters + e->grads + e->adam + e->activations + e->lm_head +
              e->scratch + e->overhead;
    e->inference = (size_t)w.weights + ct_estimate_inference(c, o->cutoff_len, &e->kv_cache) + e->overhead;
    /* FLOPs per token (see estimate.h) */
    /* attention scores and mixing over the attention layers; the DeltaNet's chunked delta rule
     * per token and value head: q k^T and kb k^T rows (2 x 64 Dk), the solves and W S0 / P Vn
     * (~2 x 64 Dv + 64 Dk), the state read and update (3 Dk Dv) */
    double fwd = 2.0 * w.linear_all + 2.0 * (double)Tr * (double)(c->num_layers - c->n_deltanet) * (double)(Hq * D);
    if (c->n_deltanet) {
        double Dk = c->lin_k_dim, Dv = c->lin_v_dim;
        fwd += 2.0 * (double)c->n_deltanet * (double)c->lin_v_heads * (3.0 * 64.0 * Dk + 2.0 * 64.0 * Dv + 3.0 * Dk * Dv);
    }
    double f = o->method == CT_EST_FULL ? 3.0 * fwd : 2.0 * fwd;
    if (o->method == CT_EST_FREEZE || o->method == CT_EST_BADAM) f += 2.0 * w.linear_trainable;
    if (o->checkpointing) f += fwd;
    e->flops_per_token = f;
    return CT_OK;
}

void ct_estimate_set_speed(ct_estimate *e, double gflops) {
    e->gflops = gflops;
    e->tokens_per_s = gflops > 0 && e->flops_per_token > 0 ? gflops * 1e9 / e->flops_per_token : 0;
}

size_t ct_mem_available(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    fclose(f);
    return (size_t)kb * 1024;
}
