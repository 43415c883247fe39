/* Model → GGUF (rules in gguf_export.h). */
#include "model/gguf_export.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/file.h"
#include "ctune/tokenizer.h"
#include "model/arch.h"
#include "model/gguf_qwen35.h"
#include "quant/ggml_blocks.h"
#include "tok/gguf_vocab.h"

static const struct {
    const char *name, *alias;
    ct_gguf_dtype d;
} k_dtypes[] = {
    {"f32", "float32", CT_GGUF_DTYPE_F32},  {"f16", "float16", CT_GGUF_DTYPE_F16},
    {"bf16", "bfloat16", CT_GGUF_DTYPE_BF16}, {"q8_0", "q8_0", CT_GGUF_DTYPE_Q8_0},
    {"q4_0", "q4_0", CT_GGUF_DTYPE_Q4_0},
};

int ct_gguf_dtype_parse(const char *s, ct_gguf_dtype *out) {
    for (size_t i = 0; s && i < sizeof k_dtypes / sizeof k_dtypes[0]; i++)
        if (!strcasecmp(s, k_dtypes[i].name) || !strcasecmp(s, k_dtypes[i].alias)) {
            *out = k_dtypes[i].d;
            return 0;
        }
    return -1;
}

const char *ct_gguf_dtype_name(ct_gguf_dtype d) {
    for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; i++)
        if (k_dtypes[i].d == d) return k_dtypes[i].name;
    return "?";
}

/* llama_ftype of general.file_type (llama.h): ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q4_0 2,
 * MOSTLY_Q8_0 7, MOSTLY_BF16 32. */
static uint32_t file_type(ct_gguf_dtype d) {
    switch (d) {
    case CT_GGUF_DTYPE_F32: return 0;
    case CT_GGUF_DTYPE_F16: return 1;
    case CT_GGUF_DTYPE_Q4_0: return 2;
    case CT_GGUF_DTYPE_Q8_0: return 7;
    case CT_GGUF_DTYPE_BF16: return 32;
    }
    return 0;
}

ct_ggml_type ct_gguf_tensor_type(ct_gguf_dtype d, int ndim, int64_t row) {
    if (ndim < 2) return CT_GGML_F32;
    switch (d) {
    case CT_GGUF_DTYPE_F32: return CT_GGML_F32;
    case CT_GGUF_DTYPE_F16: return CT_GGML_F16;
    case CT_GGUF_DTYPE_BF16: return CT_GGML_BF16;
    case CT_GGUF_DTYPE_Q8_0: return row % CT_GGML_QK ? CT_GGML_F16 : CT_GGML_Q8_0;
    case CT_GGUF_DTYPE_Q4_0: return row % CT_GGML_QK ? CT_GGML_F16 : CT_GGML_Q4_0;
    }
    return CT_GGML_F32;
}

ct_status ct_gguf_llama_permute(float *x, int64_t rows, int64_t row_len, int n_head, ct_err *err) {
    if (n_head <= 0 || rows % n_head || (rows / n_head) % 2)
        return ct_err_set(err, CT_ERR_SHAPE, "gguf: %lld rows cannot be split into %d heads of pairs", (long long)rows,
                          n_head);
    int64_t D = rows / n_head, half = D / 2;
    float *tmp = malloc((size_t)(D * row_len) * sizeof *tmp);
    if (!tmp) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (int h = 0; h < n_head; h++) {
        float *head = x + (size_t)(h * D * row_len);
        memcpy(tmp, head, (size_t)(D * row_len) * sizeof *tmp);
        /* new row i * 2 + j = old row j * D/2 + i */
        for (int64_t i = 0; i < half; i++)
            for (int64_t j = 0; j < 2; j++)
                memcpy(head + (size_t)((i * 2 + j) * row_len), tmp + (size_t)((j * half + i) * row_len),
                       (size_t)row_len * sizeof *tmp);
    }
    free(tmp);
    return CT_OK;
}

ct_status ct_gguf_fill_tensor(void *user, void *dst, size_t nbytes, ct_err *err) {
    const ct_gguf_src *s = user;
    const ct_tensor *t = s->t;
    size_t n = (size_t)ct_tensor_numel(t);
    int64_t row = t->shape[t->ndim - 1];
    float *f = malloc((n ? n : 1) * sizeof *f);
    if (!f) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_tensor_to_f32(t, 0, n, f);
    for (size_t i = 0; s->add != 0 && i < n; i++) f[i] += s->add;
    for (size_t i = 0; s->neg_exp && i < n; i++) f[i] = -expf(f[i]);
    int64_t row_len = t->ndim > 1 ? row : 1; /* a 1-D tensor: rows of one element */
    ct_status st = ct_gguf_reorder_v_heads(f, (int64_t)n / row_len, row_len, &s->vr, err);
    if (!st && s->permute_heads) st = ct_gguf_llama_permute(f, t->shape[0], row_len, s->permute_heads, err);
    if (!st) switch (s->type) {
        case CT_GGML_F32: memcpy(dst, f, nbytes); break;
        case CT_GGML_F16: ct_f32_to_dtype(f, n, CT_DTYPE_F16, dst); break;
        case CT_GGML_BF16: ct_f32_to_dtype(f, n, CT_DTYPE_BF16, dst); break;
        case CT_GGML_Q8_0:
            if (!ct_ggml_quantize_q8_0(f, n, dst)) st = ct_err_set(err, CT_ERR_NUMERIC, "NaN or infinite weight");
            break;
        case CT_GGML_Q4_0:
            if (!ct_ggml_quantize_q4_0(f, n, dst)) st = ct_err_set(err, CT_ERR_NUMERIC, "NaN or infinite weight");
            break;
        default: st = ct_err_set(err, CT_ERR_UNSUPPORTED, "gguf: type %s is not written", ct_ggml_type_name(s->type));
        }
    free(f);
    return st;
}

const char *ct_gguf_arch_name(const ct_config *cfg) {
    return cfg->arch == CT_ARCH_QWEN3_5 ? "qwen35" : ct_arch_name(cfg->arch);
}

/* Keys of one architecture: "<arch>.<suffix>". */
static const char *akey(char *buf, size_t n, const ct_config *cfg, const char *suffix) {
    snprintf(buf, n, "%s.%s", ct_gguf_arch_name(cfg), suffix);
    return buf;
}

ct_status ct_gguf_add_model_keys(ct_gguf_writer *w, const ct_config *cfg, const char *type, const char *name,
                                 ct_gguf_dtype dtype, ct_err *err) {
    ct_status st = cfg->arch == CT_ARCH_QWEN3_5 ? ct_gguf_qwen35_check(cfg, err) : CT_OK;
    if (st) return st;
    if (cfg->rope_type == CT_ROPE_DYNAMIC || cfg->rope_type == CT_ROPE_YARN)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "gguf: rope_scaling type %s is not exported (linear and llama3 are)",
                          cfg->rope_type == CT_ROPE_DYNAMIC ? "dynamic" : "yarn");
    char k[96];
    const ct_config *c = cfg;
    st = ct_gguf_set_str(w, "general.architecture", ct_gguf_arch_name(c), err);
    if (!st) st = ct_gguf_set_str(w, "general.type", type, err);
    if (!st && name) st = ct_gguf_set_str(w, "general.name", name, err);
    if (!st) st = ct_gguf_set_u32(w, "general.file_type", file_type(dtype), err);
    if (!st) st = ct_gguf_set_u32(w, "general.quantization_version", 2, err); /* GGML_QNT_VERSION */
    if (!st) st = ct_gguf_set_u32(w, "general.alignment", CT_GGUF_ALIGNMENT, err);
    if (!st) st = ct_gguf_set_u32(w, akey(k, sizeof k, c, "vocab_size"), (uint32_t)c->vocab_size, err);
    if (!st) st = ct_gguf_set_u32(w, akey(k, sizeof k, c, "context_length"), (uint32_t)c->max_position_embeddings, err);
    if (!st) st = ct_gguf_set_u32(w, akey(k, sizeof k, c, "embedding_length"), (uint32_t)c->hidden_size, err);
    if (!st) st = ct_gguf_set_u32(w, akey(k, sizeof k, c, "block_count"), (uint32_t)c->num_layers, err);
    if (!st) st = ct_gguf_set_u32(w, akey(k, sizeof k, c, "feed_forward_length"), (uint32_t)c->intermediate_size, err);
    if (!st) st = ct_gguf_set_u32(w, akey(k, sizeof k, c, "attention.head_count"), (uint32_t)c->num_heads, err);
    if (!st) st = ct_gguf_set_u32(w, akey(k, sizeof k, c, "attention.head_count_kv"), (uint32_t)c->num_kv_heads, err);
    if (!st) st = ct_gguf_set_u32(w, akey(k, sizeof k, c, "attention.key_length"), (uint32_t)c->head_dim, err);
    if (!st) st = ct_gguf_set_u32(w, akey(k, sizeof k, c, "attention.value_length"), (uint32_t)c->head_dim, err);
    if (!st)
        st = ct_gguf_set_f32(w, akey(k, sizeof k, c, "attention.layer_norm_rms_epsilon"), (float)c->rms_norm_eps, err);
    if (!st) st = ct_gguf_set_f32(w, akey(k, sizeof k, c, "rope.freq_base"), (float)c->rope_theta, err);
    if (!st) st = ct_gguf_set_u32(w, akey(k, sizeof k, c, "rope.dimension_count"), (uint32_t)ct_rotary_dim(c), err);
    if (!st && c->rope_type == CT_ROPE_LINEAR) {
        st = ct_gguf_set_str(w, akey(k, sizeof k, c, "rope.scaling.type"), "linear", err);
        if (!st) st = ct_gguf_set_f32(w, akey(k, sizeof k, c, "rope.scaling.factor"), (float)c->rope_factor, err);
    }
    if (!st && c->arch == CT_ARCH_QWEN3_5) st = ct_gguf_qwen35_keys(w, c, err);
    return st;
}

/* rope_freqs.weight of a llama3 rope (convert_hf_to_gguf LlamaModel.generate_extra_tensors): per
 * frequency the divisor llama.cpp applies, 1 / factor-mixed as in HF's _compute_llama3_parameters. */
static void rope_factors(const ct_config *c, float *out) {
    int D = ct_rotary_dim(c);
    if (c->rope_type == CT_ROPE_FACTORS) {
        memcpy(out, c->rope_freq_factors, (size_t)(D / 2) * sizeof *out);
        return;
    }
    double lo_wl = c->rope_original_max_pos / c->rope_low_freq_factor;
    double hi_wl = c->rope_original_max_pos / c->rope_high_freq_factor;
    for (int i = 0; i < D / 2; i++) {
        float freq = 1.0f / powf((float)c->rope_theta, (float)(2 * i) / (float)D);
        double wavelen = 2 * M_PI / freq;
        if (wavelen < hi_wl) out[i] = 1.0f;
        else if (wavelen > lo_wl) out[i] = (float)c->rope_factor;
        else {
            double smooth = (c->rope_original_max_pos / wavelen - c->rope_low_freq_factor) /
                            (c->rope_high_freq_factor - c->rope_low_freq_factor);
            out[i] = (float)(1.0 / ((1 - smooth) / c->rope_factor + smooth));
        }
    }
}

typedef struct walk_ctx {
    const ct_config *cfg;
    const ct_weights *w;
    const ct_gguf_export_opts *o;
    ct_gguf_writer *gw;
    ct_gguf_src *src;
    size_t n;
    ct_err *err;
} walk_ctx;

/* Adds tensor t under gname with the transforms of `tr` (NULL: none), written with shape
 * (ndim, shape) when ndim > 0 (else t's own), F32 when f32. */
static int add_as(walk_ctx *c, const char *gname, const ct_tensor *t, const ct_gguf_src *tr, int ndim,
                  const int64_t *shape, bool f32) {
    if (!t || !t->data) return ct_err_set(c->err, CT_ERR_FORMAT, "gguf: the model has no %s", gname);
    ct_gguf_src *s = &c->src[c->n++];
    if (tr) *s = *tr;
    s->t = t;
    if (ndim <= 0) ndim = t->ndim, shape = t->shape;
    s->type = f32 ? CT_GGML_F32 : ct_gguf_tensor_type(c->o->dtype, ndim, shape[ndim - 1]);
    return ct_gguf_add_tensor(c->gw, gname, ndim, shape, s->type, ct_gguf_fill_tensor, s, c->err);
}

static int add_one(walk_ctx *c, const char *gname, const ct_tensor *t, int permute) {
    ct_gguf_src tr = {.permute_heads = permute};
    return add_as(c, gname, t, &tr, 0, NULL, false);
}

static int walk_fn(const ct_tensor_spec *s, int layer, void *user) {
    walk_ctx *c = user;
    char gname[96];
    if (c->cfg->arch == CT_ARCH_QWEN3_5) {
        ct_gguf_src tr = {0};
        int ndim = 0;
        int64_t shape[3];
        bool f32 = ct_gguf_qwen35_map(c->cfg, s, layer, gname, sizeof gname, &tr, &ndim, shape);
        return add_as(c, gname, ct_weights_at_c(c->w, s, layer), &tr, ndim, shape, f32);
    }
    snprintf(gname, sizeof gname, s->gguf, layer);
    int permute = 0;
    if (c->cfg->arch == CT_ARCH_LLAMA && s->per_layer) {
        if (s->id == CT_LT_WQ || s->id == CT_LT_BQ) permute = c->cfg->num_heads;
        if (s->id == CT_LT_WK || s->id == CT_LT_BK) permute = c->cfg->num_kv_heads;
    }
    return add_one(c, gname, ct_weights_at_c(c->w, s, layer), permute);
}

ct_status ct_gguf_write_model(const ct_config *cfg, const ct_weights *w, const char *tok_dir, const char *path,
                              const ct_gguf_export_opts *o, ct_err *err) {
    ct_gguf_writer *gw = NULL;
    ct_status st = ct_gguf_writer_init(&gw, err);
    if (st) return st;
    size_t cap = CT_GT_COUNT + (size_t)cfg->num_layers * CT_LT_COUNT + 2;
    ct_gguf_src *src = calloc(cap, sizeof *src);
    float *rope = NULL;
    ct_tensor rope_t = {0};
    if (!src) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!st) st = ct_gguf_add_model_keys(gw, cfg, "model", o->name, o->dtype, err);
    ct_gguf_vocab_opts vo = {.dir = tok_dir,
                             .vocab_size = cfg->vocab_size,
                             .fallback_eos = cfg->num_eos ? cfg->eos_token_ids[0] : -1,
                             .fallback_bos = cfg->bos_token_id};
    if (!st && tok_dir) st = ct_gguf_vocab_add(gw, &vo, NULL, err); /* NULL: weights only (tests) */
    walk_ctx c = {cfg, w, o, gw, src, 0, err};
    if (!st) st = ct_specs_each(cfg, walk_fn, &c);
    /* a tied head replaced by modules_to_save is written as its own output.weight */
    if (!st && cfg->tie_word_embeddings && !ct_weights_tied(w)) st = add_one(&c, "output.weight", &w->g[CT_GT_LM_HEAD], 0);
    if (!st && (cfg->rope_type == CT_ROPE_LLAMA3 || cfg->rope_type == CT_ROPE_FACTORS)) {
        int half = ct_rotary_dim(cfg) / 2;
        if (!(rope = malloc((size_t)half * sizeof *rope))) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        else {
            rope_factors(cfg, rope);
            rope_t = (ct_tensor){.dtype = CT_DTYPE_F32, .ndim = 1, .shape = {half}, .data = rope};
            st = add_one(&c, "rope_freqs.weight", &rope_t, 0);
        }
    }
    if (!st) st = ct_gguf_write(gw, path, err);
    free(rope);
    free(src);
    ct_gguf_writer_free(gw);
    return st;
}

/* The base name of a directory path (general.name), into buf. */
static const char *dir_name(const char *dir, char *buf, size_t n) {
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/') len--;
    size_t s = len;
    while (s > 0 && dir[s - 1] != '/') s--;
    snprintf(buf, n, "%.*s", (int)(len - s), dir + s);
    return buf;
}

ct_status ct_model_export_gguf(const ct_model *m, const char *model_dir, const char *out_dir,
                               const ct_gguf_export_opts *o, ct_err *err) {
    if (ct_model_need_hf(m, "export", err)) return err->code;
    if (ct_model_is_quantized(m))
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "export: %s has quantized (bitsandbytes) linear weights; a GGUF of "
                                                   "it would hold dequantized copies (export the 16-bit model)", model_dir);
    ct_gguf_export_opts eo = *o;
    char nbuf[256];
    if (!eo.tokenizer_dir) eo.tokenizer_dir = model_dir;
    if (!eo.name) eo.name = dir_name(model_dir, nbuf, sizeof nbuf);
    ct_status st = ct_mkdir_p(out_dir, err);
    char *path = ct_path_join(out_dir, "model.gguf");
    if (!st && !path) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!st) st = ct_gguf_write_model(&m->cfg, &m->w, eo.tokenizer_dir, path, &eo, err);
    if (!st) st = ct_gguf_write_modelfile(&m->cfg, eo.tokenizer_dir, out_dir, "model.gguf", NULL, err);
    free(path);
    return st;
}
