/* Qwen3.5 → llama.cpp qwen35 GGUF (rules in gguf_qwen35.h). */
#include "model/gguf_qwen35.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Which position of ggml's interleaved M-RoPE (GGML_ROPE_TYPE_IMROPE, ggml_mrope_cache_init)
 * rotary pair i takes under sections s: 0 t, 1 h, 2 w, 3 the extra one (0 for text). */
static int imrope_sector_source(const int32_t s[4], int i) {
    int sum = s[0] + s[1] + s[2] + s[3];
    if (sum <= 0) return 3;
    int sector = i % sum;
    if (sector % 3 == 1 && sector < 3 * s[1]) return 1;
    if (sector % 3 == 2 && sector < 3 * s[2]) return 2;
    if (sector % 3 == 0 && sector < 3 * s[0]) return 0;
    return 3;
}

ct_status ct_gguf_qwen35_check(const ct_config *c, ct_err *err) {
    if (c->n_deltanet && c->lin_k_dim != c->lin_v_dim)
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "gguf: llama.cpp's qwen35 needs linear_key_head_dim = linear_value_head_dim (got %d and %d)",
                          c->lin_k_dim, c->lin_v_dim);
    if (!c->attn_output_gate)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "gguf: llama.cpp's qwen35 always gates attention; "
                                                   "attn_output_gate false is not exported");
    if (c->attention_bias || c->o_bias)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "gguf: llama.cpp's qwen35 has no attention biases; "
                                                   "attention_bias true is not exported");
    if (c->rope_type != CT_ROPE_DEFAULT)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "gguf: Qwen3.5 with rope scaling is not exported (default RoPE only)");
    const int32_t *s = c->mrope_section;
    int sum = s[0] + s[1] + s[2] + s[3];
    if (sum <= 0 || sum > c->head_dim)
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "gguf: mrope_section sums to %d; llama.cpp needs 1 to head_dim (%d)", sum, c->head_dim);
    int bad = ct_gguf_qwen35_extra_pair(c);
    if (bad >= 0)
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "gguf: mrope_section [%d, %d, %d, %d] leaves rotary pair %d to the extra position", s[0],
                          s[1], s[2], s[3], bad);
    return CT_OK;
}

int ct_gguf_qwen35_extra_pair(const ct_config *c) {
    /* text tokens have one position in t, h and w and 0 in the extra section: every rotary pair
     * must take t, h or w */
    for (int i = 0; i < ct_rotary_dim(c) / 2; i++)
        if (imrope_sector_source(c->mrope_section, i) == 3) return i;
    return -1;
}

/* The N of a full_attention_interval schedule (layer l attention iff (l + 1) % N == 0), or 0. */
static int attention_interval(const ct_config *c) {
    int n = 0;
    while (n < c->num_layers && c->layer_kind[n] != CT_LAYER_ATTENTION) n++;
    if (n == c->num_layers) return 0;
    n++;
    for (int l = 0; l < c->num_layers; l++)
        if ((c->layer_kind[l] == CT_LAYER_ATTENTION) != ((l + 1) % n == 0)) return 0;
    return n;
}

ct_status ct_gguf_qwen35_keys(ct_gguf_writer *w, const ct_config *c, ct_err *err) {
    ct_status st = ct_gguf_set_u32(w, "qwen35.ssm.conv_kernel", (uint32_t)c->lin_conv, err);
    if (!st) st = ct_gguf_set_u32(w, "qwen35.ssm.state_size", (uint32_t)c->lin_k_dim, err);
    if (!st) st = ct_gguf_set_u32(w, "qwen35.ssm.group_count", (uint32_t)c->lin_k_heads, err);
    if (!st) st = ct_gguf_set_u32(w, "qwen35.ssm.time_step_rank", (uint32_t)c->lin_v_heads, err);
    if (!st) st = ct_gguf_set_u32(w, "qwen35.ssm.inner_size", (uint32_t)(c->lin_v_dim * c->lin_v_heads), err);
    int every = attention_interval(c);
    if (!st && every) st = ct_gguf_set_u32(w, "qwen35.full_attention_interval", (uint32_t)every, err);
    if (!st && !every) { /* llama.cpp reads a bool / int array of num_layers */
        int32_t recr[CT_MAX_LAYERS];
        for (int l = 0; l < c->num_layers; l++) recr[l] = c->layer_kind[l] == CT_LAYER_DELTANET;
        st = ct_gguf_set_arr_i32(w, "qwen35.attention.recurrent_layers", recr, (size_t)c->num_layers, err);
    }
    if (!st) st = ct_gguf_set_arr_i32(w, "qwen35.rope.dimension_sections", c->mrope_section, 4, err);
    return st;
}

bool ct_gguf_qwen35_map(const ct_config *c, const ct_tensor_spec *s, int layer, char *name, size_t n,
                        ct_gguf_src *src, int *ndim, int64_t shape[3]) {
    snprintf(name, n, s->per_layer && s->id == CT_LT_MLP_NORM ? "blk.%d.post_attention_norm.weight" : s->gguf, layer);
    *ndim = ct_spec_shape(s, c, shape);
    if (s->init == CT_INIT_NORM && c->norm_offset) src->add = 1.0f;
    if (!s->per_layer) return false;
    int per_k = c->lin_k_heads ? c->lin_v_heads / c->lin_k_heads : 1;
    int64_t KD = (int64_t)c->lin_k_heads * c->lin_k_dim;
    ct_gguf_vreorder vr = {CT_GGUF_VROWS, 0, c->lin_v_dim, c->lin_k_heads, per_k};
    bool f32 = false;
    switch (s->id) {
    case CT_LT_LIN_QKV: vr.start = 2 * KD; break;
    case CT_LT_LIN_Z: break;
    case CT_LT_LIN_B:
    case CT_LT_LIN_A:
    case CT_LT_LIN_DT: vr.dim = 1; break;
    case CT_LT_LIN_ALOG:
        vr.dim = 1;
        src->neg_exp = true;
        break;
    case CT_LT_LIN_CONV: /* [channels, 1, kernel] -> [channels, kernel] */
        vr.start = 2 * KD;
        *ndim = 2;
        shape[1] = shape[2];
        shape[2] = 0;
        f32 = true;
        break;
    case CT_LT_LIN_OUT: vr.axis = CT_GGUF_VCOLS; break;
    default: vr.axis = CT_GGUF_VNONE;
    }
    if (per_k > 1) src->vr = vr;
    return f32;
}

ct_status ct_gguf_reorder_v_heads(float *x, int64_t rows, int64_t row_len, const ct_gguf_vreorder *vr, ct_err *err) {
    if (vr->axis == CT_GGUF_VNONE || vr->per_k <= 1) return CT_OK;
    int64_t span = (int64_t)vr->hk * vr->per_k * vr->dim;
    bool by_row = vr->axis == CT_GGUF_VROWS;
    if ((by_row && vr->start + span > rows) || (!by_row && span > row_len))
        return ct_err_set(err, CT_ERR_SHAPE, "gguf: %lld value-head %s do not fit a [%lld, %lld] tensor",
                          (long long)span, by_row ? "rows" : "columns", (long long)rows, (long long)row_len);
    int64_t unit = by_row ? row_len : 1; /* floats per moved element */
    int64_t blocks = by_row ? 1 : rows;   /* independent spans */
    int64_t stride = by_row ? 0 : row_len;
    float *tmp = malloc((size_t)(span * unit) * sizeof *tmp);
    if (!tmp) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (int64_t b = 0; b < blocks; b++) {
        float *base = x + (size_t)(b * stride + (by_row ? vr->start * row_len : 0));
        memcpy(tmp, base, (size_t)(span * unit) * sizeof *tmp);
        /* grouped head k * per_k + j -> tiled head j * hk + k */
        for (int k = 0; k < vr->hk; k++)
            for (int j = 0; j < vr->per_k; j++)
                memcpy(base + (size_t)(((int64_t)j * vr->hk + k) * vr->dim * unit),
                       tmp + (size_t)(((int64_t)k * vr->per_k + j) * vr->dim * unit),
                       (size_t)(vr->dim * unit) * sizeof *tmp);
    }
    free(tmp);
    return CT_OK;
}
