/* A model file in GGUF (llama.cpp / Ollama) -> ct_model, the inverse of gguf_export.c for the
 * architectures llama, qwen2, qwen3 and qwen35 (docs/inference.md, "GGUF models"; Qwen3.5's
 * keys in qwen35_json, its stored forms kept as llama.cpp reads them in qwen35_config and a_log):
 *  - the config is rebuilt as the config.json object those keys come from and parsed by the same
 *    code as a Hugging Face directory (ct_config_parse_json), so every check and default is
 *    config.json's: <arch>.embedding_length -> hidden_size, feed_forward_length,
 *    block_count, attention.head_count / head_count_kv / key_length (head_dim; value_length must
 *    equal it), context_length, attention.layer_norm_rms_epsilon, rope.freq_base, rope.scaling
 *    linear; the vocabulary size is token_embd's rows; tie_word_embeddings is the absence of
 *    output.weight, the biases and Qwen3's q/k norms are the presence of their tensors; bos / eos /
 *    padding ids from tokenizer.ggml.*. rope_freqs.weight (Llama 3.x's scaling as convert writes
 *    it) is kept as llama.cpp uses it: per-frequency divisors of the inverse frequencies
 *    (CT_ROPE_FACTORS).
 *  - tensors under their llama.cpp names (the architecture table's GGUF column), shapes checked
 *    against the config; F32 / F16 / BF16 tensors are views of the mapped file; Q8_0 / Q4_0
 *    blocks are copied and packed by 8 rows for the decode GEMV (as quantization on load leaves
 *    them); Q2_K .. Q6_K and IQ4_XS (what llama-quantize's Q4_K_M & co. write) stay views of the
 *    file (dtypes CT_DTYPE_Q4_K ...: their own decode GEMV, prefill through the dtype table's
 *    decoder); Q5_0 and IQ4_NL are rewritten exactly as Q8_0 blocks; Q4_1 and Q5_1 are decoded as
 *    ggml decodes them (src/quant/ggml_dequant.c) and stored as bf16 (no kernels on those blocks:
 *    16-bit speed and memory); llama's q / k rows (and biases) get HF's
 *    head layout back (gguf_export.c permutes them for llama.cpp's adjacent-pair rotation). Any
 *    other ggml type (the codebook IQ types, TQ*, MXFP4, ...) is refused naming the tensor and its
 *    type; a tensor the config does not use is an error. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bigalloc.h"
#include "io/gguf_read.h"
#include "model/gguf_export.h"
#include "model/gguf_qwen35.h"
#include "model/model.h"
#include "quant/ggml_blocks.h"
#include "quant/ggml_dequant.h"

typedef struct gctx {
    const ct_gguf *g;
    const char *path, *arch, *model_type; /* GGUF architecture, config.json model_type */
    ct_err *err;
} gctx;

static bool is_qwen35(const gctx *c) { return !strcmp(c->arch, "qwen35"); }

/* "<arch>.<key>" */
static const char *akey(const gctx *c, const char *key, char buf[128]) {
    snprintf(buf, 128, "%s.%s", c->arch, key);
    return buf;
}

/* After a getter of key k returned false: its type error, or a missing required key, or nothing. */
static ct_status absent(const gctx *c, const ct_err *e, const char *k, bool required) {
    if (e->code) return ct_err_set(c->err, e->code, "%s", e->msg);
    return required ? ct_err_set(c->err, CT_ERR_FORMAT, "%s: GGUF key %s: missing", c->path, k) : CT_OK;
}

/* json[name] = the u32 at <arch>.<key>; missing: an error when required. */
static ct_status put_u32(const gctx *c, json_t *root, const char *name, const char *key, bool required) {
    char k[128];
    uint32_t v;
    ct_err e = {0};
    if (!ct_gguf_get_u32(c->g, akey(c, key, k), &v, &e)) return absent(c, &e, k, required);
    json_object_set_new(root, name, json_integer(v));
    return CT_OK;
}

static ct_status put_f64(const gctx *c, json_t *root, const char *name, const char *key, bool required) {
    char k[128];
    double v;
    ct_err e = {0};
    if (!ct_gguf_get_f64(c->g, akey(c, key, k), &v, &e)) return absent(c, &e, k, required);
    /* GGUF stores f32: its decimal shortest form is what config.json held (1e-06, not 9.99999997e-07) */
    char txt[32];
    for (int p = 1; p <= 9; p++) {
        snprintf(txt, sizeof txt, "%.*g", p, v);
        if ((float)strtod(txt, NULL) == (float)v) break;
    }
    json_object_set_new(root, name, json_real(strtod(txt, NULL)));
    return CT_OK;
}

static ct_status put_token_id(const gctx *c, json_t *root, const char *name, const char *key) {
    uint32_t v;
    ct_err e = {0};
    if (!ct_gguf_get_u32(c->g, key, &v, &e)) return absent(c, &e, key, false);
    json_object_set_new(root, name, json_integer(v));
    return CT_OK;
}

static bool has_tensor(const gctx *c, const char *name) { return ct_gguf_tensor_find(c->g, name) != NULL; }

/* rope.scaling.type: none / linear (with factor); others refused. */
static ct_status put_rope_scaling(const gctx *c, json_t *root) {
    char k[128];
    const char *type;
    size_t n;
    ct_err e = {0};
    if (!ct_gguf_get_str(c->g, akey(c, "rope.scaling.type", k), &type, &n, &e)) return absent(c, &e, k, false);
    if (n == 4 && !memcmp(type, "none", 4)) return CT_OK;
    if (n != 6 || memcmp(type, "linear", 6))
        return ct_err_set(c->err, CT_ERR_UNSUPPORTED, "%s: GGUF key %s: '%.*s' is not supported (none and linear are)",
                          c->path, k, (int)n, type);
    float f;
    if (!ct_gguf_get_f32(c->g, akey(c, "rope.scaling.factor", k), &f, &e)) return absent(c, &e, k, true);
    json_t *rs = json_object();
    json_object_set_new(rs, "type", json_string("linear"));
    json_object_set_new(rs, "factor", json_real(f));
    json_object_set_new(root, "rope_scaling", rs);
    return CT_OK;
}

/* <arch>.nextn_predict_layers: the multi-token-prediction blocks convert_hf_to_gguf appends to a
 * Qwen3.5 (block_count counts them; llama.cpp skips them unless asked to draft with them). */
static uint32_t mtp_layers(const gctx *c) {
    char k[128];
    uint32_t n = 0;
    ct_err e = {0};
    if (!is_qwen35(c) || !ct_gguf_get_u32(c->g, akey(c, "nextn_predict_layers", k), &n, &e)) return 0;
    return n;
}

/* v[0 .. *n) = the integer array at <arch>.<key> (1 to `max` items); missing: an error. */
static ct_status get_ints(const gctx *c, const char *key, int64_t *v, size_t max, size_t *n) {
    char k[128];
    ct_gguf_arr a;
    ct_err e = {0};
    if (!ct_gguf_get_arr(c->g, akey(c, key, k), &a, &e)) return absent(c, &e, k, true);
    if (a.type == CT_GGUF_STRING || a.type == CT_GGUF_ARRAY || a.type == CT_GGUF_F32 || a.type == CT_GGUF_F64 ||
        a.n == 0 || a.n > max)
        return ct_err_set(c->err, CT_ERR_FORMAT, "%s: GGUF key %s: expected 1 to %zu integers", c->path, k, max);
    for (uint64_t i = 0; i < a.n; i++) v[i] = ct_gguf_arr_int(&a, i);
    *n = (size_t)a.n;
    return CT_OK;
}

/* Qwen3.5's keys (the inverse of gguf_qwen35.c's): the Gated DeltaNet sizes, the layer schedule,
 * the M-RoPE sections. */
static ct_status qwen35_json(const gctx *c, json_t *root) {
    char k[128];
    uint32_t inner = 0, vheads = 0;
    ct_err e = {0};
    ct_status s;
    if ((s = put_u32(c, root, "linear_conv_kernel_dim", "ssm.conv_kernel", true)) ||
        (s = put_u32(c, root, "linear_key_head_dim", "ssm.state_size", true)) ||
        (s = put_u32(c, root, "linear_num_key_heads", "ssm.group_count", true)) ||
        (s = put_u32(c, root, "linear_num_value_heads", "ssm.time_step_rank", true)))
        return s;
    if (!ct_gguf_get_u32(c->g, akey(c, "ssm.time_step_rank", k), &vheads, &e) || !vheads)
        return ct_err_set(c->err, CT_ERR_FORMAT, "%s: GGUF key %s must be positive", c->path, k);
    if (!ct_gguf_get_u32(c->g, akey(c, "ssm.inner_size", k), &inner, &e)) return absent(c, &e, k, true);
    if (!inner || inner % vheads)
        return ct_err_set(c->err, CT_ERR_FORMAT, "%s: GGUF key %s %u is not a positive multiple of %s.ssm.time_step_rank %u",
                          c->path, k, inner, c->arch, vheads);
    json_object_set_new(root, "linear_value_head_dim", json_integer(inner / vheads));
    /* the decoder: block_count less the MTP blocks after it */
    uint32_t blocks = 0, mtp = mtp_layers(c);
    ct_gguf_get_u32(c->g, akey(c, "block_count", k), &blocks, &e); /* present: config_json read it */
    if (mtp >= blocks)
        return ct_err_set(c->err, CT_ERR_FORMAT, "%s: %s.nextn_predict_layers %u leaves no decoder layer of block_count %u",
                          c->path, c->arch, mtp, blocks);
    json_object_set_new(root, "num_hidden_layers", json_integer(blocks - mtp));
    if ((s = put_u32(c, root, "full_attention_interval", "full_attention_interval", false))) return s;
    if (!json_object_get(root, "full_attention_interval")) { /* one 0/1 per block, MTP blocks included */
        int64_t r[CT_MAX_LAYERS];
        size_t n = 0;
        if ((s = get_ints(c, "attention.recurrent_layers", r, CT_MAX_LAYERS, &n))) return s;
        if (n != blocks)
            return ct_err_set(c->err, CT_ERR_FORMAT, "%s: %s.attention.recurrent_layers has %zu entries for %u blocks",
                              c->path, c->arch, n, blocks);
        json_t *lt = json_array();
        for (size_t i = 0; i < blocks - mtp; i++)
            json_array_append_new(lt, json_string(r[i] ? "linear_attention" : "full_attention"));
        json_object_set_new(root, "layer_types", lt);
    }
    uint32_t rot = 0, hd = 0;
    if (!ct_gguf_get_u32(c->g, akey(c, "rope.dimension_count", k), &rot, &e)) return absent(c, &e, k, true);
    if (!ct_gguf_get_u32(c->g, akey(c, "attention.key_length", k), &hd, &e)) return absent(c, &e, k, true);
    if (!rot || rot > hd || rot % 2)
        return ct_err_set(c->err, CT_ERR_FORMAT, "%s: %s.rope.dimension_count %u must be even and at most key_length %u",
                          c->path, c->arch, rot, hd);
    json_object_set_new(root, "partial_rotary_factor", json_real((double)rot / hd)); /* rotary_dim set exactly after */
    int64_t sec[4];
    size_t n = 0;
    if ((s = get_ints(c, "rope.dimension_sections", sec, 4, &n))) return s;
    json_t *ms = json_array(), *rp = json_object();
    for (size_t i = 0; i < n; i++) json_array_append_new(ms, json_integer(sec[i]));
    json_object_set_new(rp, "mrope_section", ms);
    json_object_set_new(root, "rope_parameters", rp);
    return CT_OK;
}

/* The config.json object of the file's metadata. */
static ct_status config_json(const gctx *c, json_t *root) {
    json_object_set_new(root, "model_type", json_string(c->model_type));
    ct_status s;
    if ((s = put_u32(c, root, "hidden_size", "embedding_length", true)) ||
        (s = put_u32(c, root, "intermediate_size", "feed_forward_length", true)) ||
        (s = put_u32(c, root, "num_hidden_layers", "block_count", true)) ||
        (s = put_u32(c, root, "num_attention_heads", "attention.head_count", true)) ||
        (s = put_u32(c, root, "num_key_value_heads", "attention.head_count_kv", false)) ||
        (s = put_u32(c, root, "head_dim", "attention.key_length", false)) ||
        (s = put_u32(c, root, "max_position_embeddings", "context_length", false)) ||
        (s = put_f64(c, root, "rms_norm_eps", "attention.layer_norm_rms_epsilon", true)) ||
        (s = put_f64(c, root, "rope_theta", "rope.freq_base", false)) || (s = put_rope_scaling(c, root)))
        return s;
    char k[128];
    uint32_t kl = 0, vl = 0;
    ct_err e = {0};
    if (ct_gguf_get_u32(c->g, akey(c, "attention.key_length", k), &kl, &e) &&
        ct_gguf_get_u32(c->g, akey(c, "attention.value_length", k), &vl, &e) && kl != vl)
        return ct_err_set(c->err, CT_ERR_UNSUPPORTED, "%s: %s.attention.value_length %u differs from key_length %u",
                          c->path, c->arch, vl, kl);
    if (is_qwen35(c) && (s = qwen35_json(c, root))) return s;
    const ct_gguf_tensor *emb = ct_gguf_tensor_find(c->g, "token_embd.weight");
    if (!emb || emb->ndim != 2)
        return ct_err_set(c->err, CT_ERR_FORMAT, "%s: no 2-D tensor 'token_embd.weight'", c->path);
    json_object_set_new(root, "vocab_size", json_integer(emb->shape[0]));
    json_object_set_new(root, "tie_word_embeddings", json_boolean(!has_tensor(c, "output.weight")));
    json_object_set_new(root, "attention_bias", json_boolean(has_tensor(c, "blk.0.attn_q.bias")));
    json_object_set_new(root, "mlp_bias", json_boolean(has_tensor(c, "blk.0.ffn_gate.bias")));
    const char *dt = emb->type == CT_GGML_BF16 ? "bfloat16" : emb->type == CT_GGML_F16 ? "float16" : "float32";
    json_object_set_new(root, "torch_dtype", json_string(dt));
    if ((s = put_token_id(c, root, "bos_token_id", "tokenizer.ggml.bos_token_id")) ||
        (s = put_token_id(c, root, "eos_token_id", "tokenizer.ggml.eos_token_id")) ||
        (s = put_token_id(c, root, "pad_token_id", "tokenizer.ggml.padding_token_id")))
        return s;
    return CT_OK;
}

/* rope_freqs.weight: llama.cpp's per-frequency divisors (how convert_hf_to_gguf stores Llama 3's
 * rope scaling), kept as they are (CT_ROPE_FACTORS). */
static ct_status rope_freqs(const gctx *c, ct_config *cfg) {
    const ct_gguf_tensor *t = ct_gguf_tensor_find(c->g, "rope_freqs.weight");
    if (!t) return CT_OK;
    int half = ct_rotary_dim(cfg) / 2;
    if (cfg->rope_type != CT_ROPE_DEFAULT || t->type != CT_GGML_F32 || t->ndim != 1 || t->shape[0] != half)
        return ct_err_set(c->err, CT_ERR_UNSUPPORTED,
                          "%s: tensor 'rope_freqs.weight' must be %d f32 values%s", c->path, half,
                          cfg->rope_type != CT_ROPE_DEFAULT ? " and the only RoPE scaling" : "");
    memcpy(cfg->rope_freq_factors, t->data, (size_t)half * sizeof(float));
    for (int i = 0; i < half; i++)
        if (!(cfg->rope_freq_factors[i] > 0) || !isfinite(cfg->rope_freq_factors[i]))
            return ct_err_set(c->err, CT_ERR_FORMAT, "%s: tensor 'rope_freqs.weight': value %d is %g (must be positive)",
                              c->path, i, (double)cfg->rope_freq_factors[i]);
    cfg->rope_type = CT_ROPE_FACTORS;
    return CT_OK;
}

/* Row r of an HF q / k head layout comes from GGUF row `perm_src(r)` (gguf_export.c's permute run
 * backwards: GGUF row i * 2 + j of a head holds HF row j * D/2 + i). */
static int64_t perm_src(int64_t r, int64_t D) {
    int64_t h = r / D, k = r % D, half = D / 2;
    return h * D + (k % half) * 2 + k / half;
}

typedef struct bctx {
    gctx *c;
    ct_model *m;
    bool *used; /* [tensor count] */
} bctx;

/* Qwen3.5's ssm_a = -exp(A_log) (F32, [Hv]) back to the A_log the model reads (one rounding of
 * log; the decoder's -exp gives ssm_a back within an ulp or two). */
static ct_status a_log(bctx *b, ct_tensor *out, const ct_gguf_tensor *t, const char *name) {
    const gctx *c = b->c;
    if (t->type != CT_GGML_F32 || t->ndim != 1)
        return ct_err_set(c->err, CT_ERR_UNSUPPORTED, "%s: tensor '%s' must be a 1-D F32 tensor", c->path, name);
    size_t n = (size_t)t->shape[0];
    float *v = malloc(n * sizeof *v);
    if (!v) return ct_err_set(c->err, CT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        float a;
        memcpy(&a, (const char *)t->data + i * sizeof a, sizeof a);
        if (!(a < 0.0f) || !isfinite(a)) {
            free(v);
            return ct_err_set(c->err, CT_ERR_FORMAT, "%s: tensor '%s': value %zu is %g (ssm_a = -exp(A_log) must be "
                              "negative)", c->path, name, i, (double)a);
        }
        v[i] = logf(-a);
    }
    *out = (ct_tensor){.dtype = CT_DTYPE_F32, .ndim = 1, .shape = {(int64_t)n}, .data = v};
    return ct_model_own(b->m, v, c->err);
}

static int bind(const ct_tensor_spec *s, int layer, void *user) {
    bctx *b = user;
    const gctx *c = b->c;
    const ct_config *cfg = &b->m->cfg;
    char name[96], tl[16];
    ct_tensor *out = ct_weights_at(&b->m->w, s, layer);
    memset(out, 0, sizeof *out);
    int64_t want[3], fshape[3]; /* the model's shape, the file's (Qwen3.5's conv drops its middle 1) */
    int ndim = ct_spec_shape(s, cfg, want), fdim = ndim;
    memcpy(fshape, want, sizeof want);
    ct_gguf_src q35 = {0}; /* Qwen3.5: the name; of the transforms only ssm_a's is undone here (qwen35_config) */
    if (cfg->arch == CT_ARCH_QWEN3_5) ct_gguf_qwen35_map(cfg, s, layer, name, sizeof name, &q35, &fdim, fshape);
    else snprintf(name, sizeof name, s->gguf, layer);
    const ct_gguf_tensor *t = ct_gguf_tensor_find(c->g, name);
    if (!t) return ct_err_set(c->err, CT_ERR_SHAPE, "%s: missing tensor '%s' (required by its metadata)", c->path, name);
    b->used[t - ct_gguf_tensor_at(c->g, 0)] = true;
    bool same = t->ndim == fdim;
    for (int i = 0; same && i < fdim; i++) same = t->shape[i] == fshape[i];
    if (!same)
        return ct_err_set(c->err, CT_ERR_SHAPE, "%s: tensor '%s' has shape [%lld, %lld] but the metadata implies [%lld, %lld]",
                          c->path, name, (long long)t->shape[0], (long long)(t->ndim > 1 ? t->shape[1] : 1),
                          (long long)fshape[0], (long long)(fdim > 1 ? fshape[1] : 1));
    if (q35.neg_exp) return a_log(b, out, t, name);
    ct_dtype dt;
    bool deq = false; /* other ggml block types: decoded to bf16 */
    switch (t->type) {
    case CT_GGML_F32: dt = CT_DTYPE_F32; break;
    case CT_GGML_F16: dt = CT_DTYPE_F16; break;
    case CT_GGML_BF16: dt = CT_DTYPE_BF16; break;
    case CT_GGML_Q8_0: dt = CT_DTYPE_Q8_0; break;
    case CT_GGML_Q4_0: dt = CT_DTYPE_Q4_0; break;
    case CT_GGML_Q5_0:
    case CT_GGML_IQ4_NL: dt = CT_DTYPE_Q8_0; break; /* rewritten exactly as Q8_0 blocks (ggml_dequant.h) */
    case CT_GGML_Q4_K: dt = CT_DTYPE_Q4_K; break;
    case CT_GGML_Q5_K: dt = CT_DTYPE_Q5_K; break;
    case CT_GGML_Q6_K: dt = CT_DTYPE_Q6_K; break;
    case CT_GGML_IQ4_XS: dt = CT_DTYPE_IQ4_XS; break;
    case CT_GGML_Q2_K: dt = CT_DTYPE_Q2_K; break;
    case CT_GGML_Q3_K: dt = CT_DTYPE_Q3_K; break;
    default:
        if (!ct_ggml_dequant_supported(t->type) || !t->nbytes)
            return ct_err_set(c->err, CT_ERR_UNSUPPORTED,
                              "%s: tensor '%s' is %s: ctune reads F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, "
                              "Q2_K .. Q6_K, IQ4_NL and IQ4_XS tensors (llama-quantize can rewrite the file as one of "
                              "those, or load the Hugging Face model)",
                              c->path, name, ct_ggml_type_label(t->type, tl));
        dt = CT_DTYPE_BF16, deq = true;
    }
    bool quant = dt == CT_DTYPE_Q8_0 || dt == CT_DTYPE_Q4_0; /* packed by 8 rows; K-quants stay as stored */
    bool kquant = dt == CT_DTYPE_Q2_K || dt == CT_DTYPE_Q3_K || dt == CT_DTYPE_Q4_K || dt == CT_DTYPE_Q5_K ||
                  dt == CT_DTYPE_Q6_K || dt == CT_DTYPE_IQ4_XS;
    if ((quant || kquant || deq) && ndim != 2)
        return ct_err_set(c->err, CT_ERR_UNSUPPORTED, "%s: tensor '%s': %s is read for 2-D weights only", c->path, name,
                          ct_ggml_type_label(t->type, tl));
    int heads = 0;
    if (cfg->arch == CT_ARCH_LLAMA && s->per_layer) {
        if (s->id == CT_LT_WQ || s->id == CT_LT_BQ) heads = cfg->num_heads;
        if (s->id == CT_LT_WK || s->id == CT_LT_BK) heads = cfg->num_kv_heads;
    }
    *out = (ct_tensor){.dtype = dt, .ndim = ndim, .data = (void *)t->data};
    memcpy(out->shape, want, sizeof want);
    if (!quant && !heads && !deq) return CT_OK; /* a view of the file */
    /* a copy: llama's q / k rows back in HF's order, ggml blocks packed or decoded */
    int64_t rows = want[0], D = heads ? rows / heads : 1;
    size_t rb = t->nbytes / (size_t)rows, K = (size_t)(ct_tensor_numel(out) / rows);
    bool to_q8 = ct_ggml_q8_0_exact(t->type);
    size_t ob = deq ? K * 2 : to_q8 ? K / CT_GGML_QK * CT_GGML_Q8_0_BYTES : rb; /* bytes of an output row */
    uint8_t *copy = ct_big_alloc((size_t)rows * ob);
    if (!copy) return ct_err_set(c->err, CT_ERR_NOMEM, "out of memory");
    if (deq) {
        int bad = 0;
#pragma omp parallel reduction(| : bad)
        {
            float *f = malloc(K * sizeof *f);
            bad |= !f;
#pragma omp for schedule(static)
            for (int64_t r = 0; r < rows; r++) {
                if (!f) continue;
                const uint8_t *src = (const uint8_t *)t->data + (size_t)(heads ? perm_src(r, D) : r) * rb;
                ct_ggml_dequantize_row(t->type, src, K, f);
                ct_f32_to_dtype(f, K, CT_DTYPE_BF16, copy + (size_t)r * ob);
            }
            free(f);
        }
        if (bad) {
            free(copy);
            return ct_err_set(c->err, CT_ERR_NOMEM, "out of memory");
        }
    } else {
        for (int64_t r = 0; r < rows; r++) {
            const uint8_t *src = (const uint8_t *)t->data + (size_t)(heads ? perm_src(r, D) : r) * rb;
            if (to_q8) ct_ggml_to_q8_0(t->type, src, K, copy + (size_t)r * ob);
            else memcpy(copy + (size_t)r * ob, src, rb);
        }
    }
    if (quant) {
        ct_status st = ct_model_adopt_ggml(b->m, out, dt, copy, c->err);
        return st ? ct_err_prefix(c->err, "%s: tensor '%s'", c->path, name) : CT_OK;
    }
    ct_model_release_bytes(b->m, t->data, t->nbytes); /* the file's copy is not read again */
    out->data = copy;
    return ct_model_own(b->m, copy, c->err);
}

/* What a qwen35 file stores differently from the Hugging Face checkpoint (gguf_qwen35.h): norms
 * already hold 1 + w (used as they are: no offset), value heads in the tiled order (read as they
 * are: lin_v_tiled), the rotary width as a count. llama.cpp's interleaved M-RoPE is plain partial
 * RoPE for text only when every rotary pair takes the t, h or w position. */
static ct_status qwen35_config(const gctx *c, ct_config *cfg) {
    char k[128];
    uint32_t rot = 0;
    ct_err e = {0};
    ct_gguf_get_u32(c->g, akey(c, "rope.dimension_count", k), &rot, &e);
    cfg->rotary_dim = (int32_t)rot;
    cfg->norm_offset = false;
    cfg->lin_v_tiled = cfg->n_deltanet && cfg->lin_v_heads > cfg->lin_k_heads;
    int bad = ct_gguf_qwen35_extra_pair(cfg);
    if (bad >= 0)
        return ct_err_set(c->err, CT_ERR_UNSUPPORTED,
                          "%s: %s.rope.dimension_sections leave rotary pair %d to the extra position (not a text model's "
                          "RoPE)", c->path, c->arch, bad);
    return CT_OK;
}

/* The config of an open file's metadata (c->g, c->path set). */
static ct_status gguf_config(gctx *c, ct_config *cfg) {
    const char *arch = NULL;
    size_t an = 0;
    ct_err e = {0};
    static const char *const archs[][2] = {
        {"llama", "llama"}, {"qwen2", "qwen2"}, {"qwen3", "qwen3"}, {"qwen35", "qwen3_5_text"}};
    if (!ct_gguf_get_str(c->g, "general.architecture", &arch, &an, &e)) return absent(c, &e, "general.architecture", true);
    for (size_t i = 0; i < sizeof archs / sizeof archs[0] && !c->arch; i++)
        if (an == strlen(archs[i][0]) && !memcmp(arch, archs[i][0], an)) c->arch = archs[i][0], c->model_type = archs[i][1];
    if (!c->arch)
        return ct_err_set(c->err, CT_ERR_UNSUPPORTED,
                          "%s: general.architecture '%.*s' is not read (llama, qwen2, qwen3 and qwen35 GGUF files are; "
                          "load other models from their Hugging Face directory)", c->path, (int)(an > 64 ? 64 : an), arch);
    json_t *root = json_object();
    if (!root) return ct_err_set(c->err, CT_ERR_NOMEM, "out of memory");
    ct_status s = config_json(c, root);
    if (!s) s = ct_config_parse_json(c->path, root, cfg, c->err);
    json_decref(root);
    if (!s) s = rope_freqs(c, cfg);
    if (!s && is_qwen35(c)) s = qwen35_config(c, cfg);
    return s;
}

ct_status ct_model_need_hf(const ct_model *m, const char *what, ct_err *err) {
    if (!m->gguf) return CT_OK;
    return ct_err_set(err, CT_ERR_UNSUPPORTED,
                      "%s: %s is a GGUF file; this needs the model's Hugging Face directory (GGUF files are read for "
                      "inference: generate, chat, eval, serve)", what, m->dir);
}

ct_status ct_config_load_gguf(const char *path, ct_config *cfg, ct_err *err) {
    memset(cfg, 0, sizeof *cfg);
    ct_gguf *g = NULL;
    ct_status s = ct_gguf_open(path, &g, err);
    gctx c = {g, path, NULL, NULL, err};
    if (!s) s = gguf_config(&c, cfg);
    ct_gguf_close(g);
    return s;
}

ct_status ct_model_load_gguf(const char *path, ct_model **out, ct_err *err) {
    *out = NULL;
    ct_model *m = calloc(1, sizeof *m);
    if (!m || !(m->dir = strdup(path))) {
        free(m);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    ct_gguf *g = NULL;
    ct_status s = ct_gguf_open(path, &g, err);
    m->gguf = g;
    gctx c = {g, path, NULL, NULL, err};
    if (!s) s = gguf_config(&c, &m->cfg);
    if (!s) s = ct_weights_alloc(&m->w, m->cfg.num_layers, err);
    if (!s) {
        bctx b = {&c, m, calloc(ct_gguf_n_tensors(g) + 1, sizeof(bool))};
        if (!b.used) s = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        if (!s) s = (ct_status)ct_specs_each(&m->cfg, bind, &b);
        const ct_gguf_tensor *rf = ct_gguf_tensor_find(g, "rope_freqs.weight");
        if (!s && rf) b.used[rf - ct_gguf_tensor_at(g, 0)] = true;
        /* the MTP blocks' tensors are not read (ctune does not draft with them) */
        int L = m->cfg.num_layers, mtp = (int)mtp_layers(&c);
        for (size_t i = 0; !s && mtp && i < ct_gguf_n_tensors(g); i++) {
            int bl = -1, at = 0;
            if (sscanf(ct_gguf_tensor_at(g, i)->name, "blk.%d.%n", &bl, &at) == 1 && at > 0 && bl >= L && bl < L + mtp)
                b.used[i] = true;
        }
        for (size_t i = 0; !s && i < ct_gguf_n_tensors(g); i++)
            if (!b.used[i])
                s = ct_err_set(err, CT_ERR_SHAPE, "%s: tensor '%s' is not used by a %s model of %d layers", path,
                               ct_gguf_tensor_at(g, i)->name, c.arch, m->cfg.num_layers);
        free(b.used);
    }
    if (s) {
        ct_model_free(m);
        return s;
    }
    if (m->cfg.tie_word_embeddings) m->w.g[CT_GT_LM_HEAD] = m->w.g[CT_GT_EMBED];
    *out = m;
    return CT_OK;
}
