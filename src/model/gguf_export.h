/* Models as GGUF files for llama.cpp / Ollama (ct_model_export_gguf, include/ctune/model.h), as
 * llama.cpp's convert_hf_to_gguf.py writes them (docs/export.md):
 *   general.architecture llama | qwen2 | qwen3 | qwen35 (Qwen3.5: gguf_qwen35.h), the hyper-parameters
 *   llama.cpp reads (<arch>.context_length, embedding_length, block_count, feed_forward_length,
 *   attention.head_count / head_count_kv / key_length / value_length /
 *   layer_norm_rms_epsilon, rope.freq_base, rope.dimension_count, rope scaling: linear as
 *   rope.scaling.type + factor, llama3 as the rope_freqs.weight tensor), the tokenizer
 *   (tok/gguf_vocab.h) and the tensors under their llama.cpp names (the architecture table's
 *   GGUF column); output.weight only when the head is not the embedding.
 *   llama only: the rows of q_proj / k_proj (and their biases) are permuted per head from HF's
 *   half-split RoPE layout to llama.cpp's adjacent pairs (convert_hf_to_gguf LlamaModel.permute).
 *   Tensor types: 1-D tensors (norms, biases, rope_freqs) F32; 2-D ones in the requested type,
 *   F16 when Q8_0 / Q4_0 is asked for and a row is not a multiple of 32 elements (convert's
 *   fallback). */
#ifndef CT_MODEL_GGUF_EXPORT_H
#define CT_MODEL_GGUF_EXPORT_H

#include "ctune/model.h"
#include "io/gguf.h"
#include "model/model.h"

/* The GGUF type a tensor of ndim dims with rows of `row` elements is stored as. */
ct_ggml_type ct_gguf_tensor_type(ct_gguf_dtype d, int ndim, int64_t row);
/* Per-head row permutation of llama's q / k weights (or biases: row_len 1), in place:
 * rows of a head [2, D/2] -> [D/2, 2] (convert_hf_to_gguf LlamaModel.permute). */
ct_status ct_gguf_llama_permute(float *x, int64_t rows, int64_t row_len, int n_head, ct_err *err);

/* Qwen3.5's value heads, grouped by key head in HF ([k0: v0..v(r-1)], [k1: ...]) and tiled in
 * llama.cpp's qwen35 ([v0 of k0, v0 of k1, ..., v1 of k0, ...]; convert_hf_to_gguf
 * _LinearAttentionVReorderBase): `hk` key heads of `per_k` value heads of `dim` rows (axis
 * ROWS, from row `start`) or columns (axis COLS, from column 0) each. */
typedef enum ct_gguf_vaxis { CT_GGUF_VNONE = 0, CT_GGUF_VROWS, CT_GGUF_VCOLS } ct_gguf_vaxis;
typedef struct ct_gguf_vreorder {
    ct_gguf_vaxis axis;
    int64_t start, dim;
    int hk, per_k;
} ct_gguf_vreorder;

/* A tensor to write: a view of any float dtype decoded to f32, then transformed in this order:
 * x + add, -exp(x) when neg_exp, value heads reordered (vr), rows permuted when permute_heads > 0;
 * converted to `type` by ct_gguf_fill_tensor (a ct_gguf_fill_fn over this struct). Zero fields
 * change nothing. */
typedef struct ct_gguf_src {
    const ct_tensor *t;
    ct_ggml_type type;
    int permute_heads; /* 0: none */
    float add;         /* Qwen3.5's (1 + w) norms: 1 */
    bool neg_exp;      /* Qwen3.5's A_log -> ssm_a = -exp(A_log) */
    ct_gguf_vreorder vr;
} ct_gguf_src;
/* Reorders the value heads of x ([rows, row_len], row-major) as vr says, in place. */
ct_status ct_gguf_reorder_v_heads(float *x, int64_t rows, int64_t row_len, const ct_gguf_vreorder *vr, ct_err *err);
ct_status ct_gguf_fill_tensor(void *user, void *dst, size_t nbytes, ct_err *err);

/* llama.cpp's general.architecture of cfg: "qwen35" for Qwen3.5, else ctune's model_type. */
const char *ct_gguf_arch_name(const ct_config *cfg);
/* general.* and <arch>.* keys of cfg (general.type "model" or "adapter"). */
ct_status ct_gguf_add_model_keys(ct_gguf_writer *w, const ct_config *cfg, const char *type, const char *name,
                                 ct_gguf_dtype dtype, ct_err *err);
/* The whole model: cfg + weights w (a tied head is detected from the views) + the tokenizer of
 * tok_dir (NULL: no tokenizer keys, a weights-only file for tests), written to `path`. */
ct_status ct_gguf_write_model(const ct_config *cfg, const ct_weights *w, const char *tok_dir, const char *path,
                              const ct_gguf_export_opts *o, ct_err *err);
/* Ollama's Modelfile in out_dir (src/model/modelfile.c): FROM ./<model_file>, ADAPTER
 * ./<adapter_file> when given, TEMPLATE (+ SYSTEM) of the chat template tok_dir's chat_template is
 * recognised as when ctune has a checked Go translation of it (else a comment saying none),
 * PARAMETER stop for every end-of-generation token of cfg and the template's end of turn that is a
 * control token. */
ct_status ct_gguf_write_modelfile(const ct_config *cfg, const char *tok_dir, const char *out_dir,
                                  const char *model_file, const char *adapter_file, ct_err *err);
/* The checked Ollama TEMPLATE text of ctune chat template `name` (qwen, qwen3, qwen3_5, llama3,
 * llama2, chatml), NULL for the others; *bos (optional) gets the BOS text the model's Jinja opens
 * with, which the TEMPLATE leaves to the tokenizer ("" when none). */
const char *ct_ollama_template(const char *name, const char **bos);

#endif
