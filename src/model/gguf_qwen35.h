/* Qwen3.5 (dense text model: qwen3_5_text, or the text model of a qwen3_5 vision-language
 * checkpoint) as llama.cpp's "qwen35" GGUF architecture, as convert_hf_to_gguf.py's
 * Qwen3_5TextModel writes it (llama.cpp src/models/qwen35.cpp reads it; docs/export.md):
 *   keys   qwen35.ssm.conv_kernel (linear_conv_kernel_dim), ssm.state_size (linear_key_head_dim),
 *          ssm.group_count (linear_num_key_heads), ssm.time_step_rank (linear_num_value_heads),
 *          ssm.inner_size (linear_value_head_dim * linear_num_value_heads),
 *          full_attention_interval when layer_types is that schedule, else
 *          attention.recurrent_layers (one bool per layer), rope.dimension_sections
 *          (mrope_section padded to 4), and the common ones (rope.dimension_count is the partial
 *          rotary width, key_length / value_length head_dim)
 *   tensors  (1 + w) norms written as 1 + w (attn_norm, post_attention_norm, attn_q_norm,
 *          attn_k_norm, output_norm; the DeltaNet's gated norm ssm_norm is a plain weight);
 *          ssm_a = -exp(A_log); ssm_dt.bias = dt_bias; ssm_conv1d [channels, kernel] (always
 *          F32); q_proj as stored ([query | gate] per head is llama.cpp's layout); value heads
 *          reordered from grouped to tiled (in_proj_qkv's value rows, in_proj_z, in_proj_b,
 *          in_proj_a, A_log, dt_bias, the conv's value channels, out_proj's columns) */
#ifndef CT_MODEL_GGUF_QWEN35_H
#define CT_MODEL_GGUF_QWEN35_H

#include "io/gguf.h"
#include "model/arch.h"
#include "model/gguf_export.h"

/* What llama.cpp's qwen35 cannot represent, refused with the reason. */
ct_status ct_gguf_qwen35_check(const ct_config *cfg, ct_err *err);
/* The first rotary pair that llama.cpp's interleaved M-RoPE (mrope_section) turns by the extra
 * position (0 for a text token, so not plain partial RoPE), or -1. */
int ct_gguf_qwen35_extra_pair(const ct_config *cfg);
/* The qwen35.* keys beyond the common ones. */
ct_status ct_gguf_qwen35_keys(ct_gguf_writer *w, const ct_config *cfg, ct_err *err);
/* Tensor `s` of layer `layer` (-1: global): its GGUF name into name[n] and its transforms into
 * src (add, neg_exp, vr; t and type are left to the caller); *ndim / shape: the shape to write
 * (PyTorch order; the conv loses its middle dim). Returns whether the type must be F32 whatever
 * the requested dtype (the conv, as convert_hf_to_gguf keeps SSM_CONV1D). */
bool ct_gguf_qwen35_map(const ct_config *cfg, const ct_tensor_spec *s, int layer, char *name, size_t n,
                        ct_gguf_src *src, int *ndim, int64_t shape[3]);

#endif
