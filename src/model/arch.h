/* The architecture table: every tensor of the decoder families ctune runs (qwen2, qwen3, qwen3.5,
 * llama), one row each, and one row per family. Loading, random init, the trainable-parameter
 * set-up, PEFT I/O, HF export and the adapter code all read it; adding a tensor is one row here
 * (the X-macro lists generate the ids and the table), adding a family one row of k_arch in arch.c.
 *
 * Row: X(ID, HF name, dim0, dim1, mixer, present when, init, PEFT LoRA module, weight decay, GGUF name)
 *   HF name   per-layer rows: the suffix after "<prefix>layers.<l>."; global rows: the name after
 *             the prefix ("model." or "model.language_model.", ct_config.weight_prefix) when it
 *             starts with "model.", else the full name (lm_head.weight)
 *   dims      shape symbols (C hidden, I intermediate, QP q_proj outputs (Hq*head_dim, twice that
 *             with Qwen3.5's output gate), Q heads*head_dim, KV kv_heads*head_dim, HD head_dim,
 *             V vocab; Gated DeltaNet: LQKV 2*key_dim + value_dim (the conv channels), LV
 *             value_dim, LH value heads, LDV value head dim, CONVK the conv kernel, stored
 *             [LQKV, 1, CONVK] as nn.Conv1d keeps it; NONE for 1-D); PyTorch Linear layout [out, in]
 *   mixer     ANY layer, or only layers whose token mixer (layer_types) is ATTN / DELTANET
 *   present   ALWAYS, or the config flag that adds it (QKV_BIAS, O_BIAS, MLP_BIAS, QK_NORM,
 *             UNTIED: only with tie_word_embeddings false)
 *   init      transformers _init_weights: NORMAL(0, initializer_range), NORM (RMSNorm: ones, or
 *             zeros where the weight is an offset from 1, Qwen3.5), ONES, ZEROS (bias),
 *             A_LOG (log U(0.01, 16)), DT_BIAS (ones)
 *   lora      the PEFT target_modules name when LoRA may adapt it ("q_proj"), else NULL
 *   decay     AdamW weight decay (HF Trainer: not biases, not norms)
 *   gguf      llama.cpp tensor name (%d: layer) */
#ifndef CT_MODEL_ARCH_H
#define CT_MODEL_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/model.h"

/* LoRA targets keep their table order as their rank (ct_spec_lora_index): new targets go last. */
#define CT_LAYER_TENSORS(X)                                                                                           \
    X(ATTN_NORM, "input_layernorm.weight", C, NONE, ANY, ALWAYS, NORM, NULL, false, "blk.%d.attn_norm.weight")       \
    X(WQ, "self_attn.q_proj.weight", QP, C, ATTN, ALWAYS, NORMAL, "q_proj", true, "blk.%d.attn_q.weight")             \
    X(WK, "self_attn.k_proj.weight", KV, C, ATTN, ALWAYS, NORMAL, "k_proj", true, "blk.%d.attn_k.weight")             \
    X(WV, "self_attn.v_proj.weight", KV, C, ATTN, ALWAYS, NORMAL, "v_proj", true, "blk.%d.attn_v.weight")             \
    X(WO, "self_attn.o_proj.weight", C, Q, ATTN, ALWAYS, NORMAL, "o_proj", true, "blk.%d.attn_output.weight")         \
    X(BQ, "self_attn.q_proj.bias", QP, NONE, ATTN, QKV_BIAS, ZEROS, NULL, false, "blk.%d.attn_q.bias")                \
    X(BK, "self_attn.k_proj.bias", KV, NONE, ATTN, QKV_BIAS, ZEROS, NULL, false, "blk.%d.attn_k.bias")                \
    X(BV, "self_attn.v_proj.bias", KV, NONE, ATTN, QKV_BIAS, ZEROS, NULL, false, "blk.%d.attn_v.bias")                \
    X(BO, "self_attn.o_proj.bias", C, NONE, ATTN, O_BIAS, ZEROS, NULL, false, "blk.%d.attn_output.bias")              \
    X(Q_NORM, "self_attn.q_norm.weight", HD, NONE, ATTN, QK_NORM, NORM, NULL, false, "blk.%d.attn_q_norm.weight")    \
    X(K_NORM, "self_attn.k_norm.weight", HD, NONE, ATTN, QK_NORM, NORM, NULL, false, "blk.%d.attn_k_norm.weight")    \
    X(MLP_NORM, "post_attention_layernorm.weight", C, NONE, ANY, ALWAYS, NORM, NULL, false, "blk.%d.ffn_norm.weight") \
    X(GATE, "mlp.gate_proj.weight", I, C, ANY, ALWAYS, NORMAL, "gate_proj", true, "blk.%d.ffn_gate.weight")          \
    X(UP, "mlp.up_proj.weight", I, C, ANY, ALWAYS, NORMAL, "up_proj", true, "blk.%d.ffn_up.weight")                  \
    X(DOWN, "mlp.down_proj.weight", C, I, ANY, ALWAYS, NORMAL, "down_proj", true, "blk.%d.ffn_down.weight")          \
    X(B_GATE, "mlp.gate_proj.bias", I, NONE, ANY, MLP_BIAS, ZEROS, NULL, false, "blk.%d.ffn_gate.bias")              \
    X(B_UP, "mlp.up_proj.bias", I, NONE, ANY, MLP_BIAS, ZEROS, NULL, false, "blk.%d.ffn_up.bias")                    \
    X(B_DOWN, "mlp.down_proj.bias", C, NONE, ANY, MLP_BIAS, ZEROS, NULL, false, "blk.%d.ffn_down.bias")              \
    X(LIN_QKV, "linear_attn.in_proj_qkv.weight", LQKV, C, DELTANET, ALWAYS, NORMAL, "in_proj_qkv", true,              \
      "blk.%d.attn_qkv.weight")                                                                                       \
    X(LIN_Z, "linear_attn.in_proj_z.weight", LV, C, DELTANET, ALWAYS, NORMAL, "in_proj_z", true,                      \
      "blk.%d.attn_gate.weight")                                                                                      \
    X(LIN_B, "linear_attn.in_proj_b.weight", LH, C, DELTANET, ALWAYS, NORMAL, "in_proj_b", true,                      \
      "blk.%d.ssm_beta.weight")                                                                                       \
    X(LIN_A, "linear_attn.in_proj_a.weight", LH, C, DELTANET, ALWAYS, NORMAL, "in_proj_a", true,                      \
      "blk.%d.ssm_alpha.weight")                                                                                      \
    X(LIN_CONV, "linear_attn.conv1d.weight", LQKV, CONVK, DELTANET, ALWAYS, NORMAL, NULL, true,                       \
      "blk.%d.ssm_conv1d.weight")                                                                                     \
    X(LIN_DT, "linear_attn.dt_bias", LH, NONE, DELTANET, ALWAYS, DT_BIAS, NULL, false, "blk.%d.ssm_dt.bias")          \
    X(LIN_ALOG, "linear_attn.A_log", LH, NONE, DELTANET, ALWAYS, A_LOG, NULL, true, "blk.%d.ssm_a")                   \
    X(LIN_NORM, "linear_attn.norm.weight", LDV, NONE, DELTANET, ALWAYS, ONES, NULL, false, "blk.%d.ssm_norm.weight")  \
    X(LIN_OUT, "linear_attn.out_proj.weight", C, LV, DELTANET, ALWAYS, NORMAL, "out_proj", true,                      \
      "blk.%d.ssm_out.weight")

#define CT_GLOBAL_TENSORS(X)                                                                                \
    X(EMBED, "model.embed_tokens.weight", V, C, ANY, ALWAYS, NORMAL, NULL, true, "token_embd.weight")       \
    X(FINAL_NORM, "model.norm.weight", C, NONE, ANY, ALWAYS, NORM, NULL, false, "output_norm.weight")       \
    X(LM_HEAD, "lm_head.weight", V, C, ANY, UNTIED, NORMAL, NULL, true, "output.weight")

#define CT_X_LAYER_ID(id, ...) CT_LT_##id,
#define CT_X_GLOBAL_ID(id, ...) CT_GT_##id,
typedef enum ct_layer_tensor_id { CT_LAYER_TENSORS(CT_X_LAYER_ID) CT_LT_COUNT } ct_layer_tensor_id;
typedef enum ct_global_tensor_id { CT_GLOBAL_TENSORS(CT_X_GLOBAL_ID) CT_GT_COUNT } ct_global_tensor_id;

typedef enum ct_dim {
    CT_DIM_NONE = 0, CT_DIM_C, CT_DIM_I, CT_DIM_QP, CT_DIM_Q, CT_DIM_KV, CT_DIM_HD, CT_DIM_V,
    CT_DIM_LQKV, CT_DIM_LV, CT_DIM_LH, CT_DIM_LDV, CT_DIM_CONVK
} ct_dim;
typedef enum ct_mixer { CT_MIXER_ANY = 0, CT_MIXER_ATTN, CT_MIXER_DELTANET } ct_mixer;
typedef enum ct_presence {
    CT_PRESENT_ALWAYS = 0, CT_PRESENT_QKV_BIAS, CT_PRESENT_O_BIAS, CT_PRESENT_MLP_BIAS,
    CT_PRESENT_QK_NORM, CT_PRESENT_UNTIED
} ct_presence;
typedef enum ct_init { CT_INIT_NORMAL = 0, CT_INIT_NORM, CT_INIT_ONES, CT_INIT_ZEROS, CT_INIT_A_LOG, CT_INIT_DT_BIAS } ct_init;

typedef struct ct_tensor_spec {
    int id;            /* ct_layer_tensor_id or ct_global_tensor_id */
    bool per_layer;
    const char *hf;
    ct_dim dim[2];
    ct_mixer mixer;
    ct_presence presence;
    ct_init init;
    const char *lora;  /* PEFT module name or NULL */
    bool decay;
    const char *gguf;
} ct_tensor_spec;

extern const ct_tensor_spec ct_layer_specs[CT_LT_COUNT];
extern const ct_tensor_spec ct_global_specs[CT_GT_COUNT];

/* Whether the config's model has this tensor (per-layer rows: in layer `layer`) in its checkpoint
 * files. */
bool ct_spec_present(const ct_tensor_spec *s, const ct_config *cfg, int layer);
/* Shape under cfg as stored; returns ndim (1, 2, or 3 for the DeltaNet conv [LQKV, 1, CONVK]). */
int ct_spec_shape(const ct_tensor_spec *s, const ct_config *cfg, int64_t shape[3]);
/* HF parameter name under cfg's prefix ("model.layers.3.self_attn.q_proj.weight"; layer ignored
 * for global rows). */
void ct_spec_name(char *buf, size_t n, const ct_config *cfg, const ct_tensor_spec *s, int layer);
/* PEFT module path of a LoRA target ("model.layers.3.self_attn.q_proj"). */
void ct_spec_module(char *buf, size_t n, const ct_config *cfg, const ct_tensor_spec *s, int layer);
/* Rank of per-layer tensor `id` among the table's LoRA targets (q 0, k 1, v 2, o 3, gate 4,
 * up 5, down 6, then the DeltaNet's in_proj_qkv 7, in_proj_z 8, in_proj_b 9, in_proj_a 10,
 * out_proj 11), -1 when LoRA cannot adapt it: the module's bit in a target mask and its
 * stream in the LoRA init and dropout draws. CT_LORA_MODULES is their number. */
int ct_spec_lora_index(int id);
#define CT_LORA_MODULES 12
/* The per-layer spec whose PEFT LoRA module name is `module` (NULL if none). */
const ct_tensor_spec *ct_spec_by_lora(const char *module);
/* "self_attn" / "linear_attn" / "mlp": the HF submodule a per-layer tensor belongs to (NULL for
 * the layer norms). */
const char *ct_spec_parent(const ct_tensor_spec *s, char *buf, size_t n);

/* Every tensor the config's model stores, in canonical order (embed, layer 0 .. L-1 in table
 * order, final norm, lm_head when untied): fn(spec, layer (-1 for globals), user). A non-zero
 * return stops the walk and is returned. */
int ct_specs_each(const ct_config *cfg, int (*fn)(const ct_tensor_spec *s, int layer, void *user), void *user);

/* ---- families ---- */
typedef enum ct_bias_rule { CT_BIAS_NEVER = 0, CT_BIAS_ALWAYS, CT_BIAS_CONFIG } ct_bias_rule;

typedef struct ct_arch_info {
    ct_arch arch;
    const char *model_type;   /* config.json model_type */
    const char *hf_class;     /* architectures[0] */
    int32_t max_position;     /* HF config class default of max_position_embeddings */
    int32_t head_dim;         /* default head_dim (0: hidden_size / num_attention_heads) */
    ct_bias_rule qkv_bias, o_bias, mlp_bias; /* from attention_bias / mlp_bias, or fixed */
    bool qk_norm;             /* RMSNorm of q and k over head_dim before RoPE */
    bool hybrid;              /* layer_types may name "linear_attention" (Gated DeltaNet) layers, and
                               * Qwen3.5's conventions: output gate, 1 + w norms, partial RoPE 0.25 */
    bool qwen_keys;           /* config.json has use_sliding_window / sliding_window / max_window_layers */
} ct_arch_info;

const ct_arch_info *ct_arch_by_type(const char *model_type);
const ct_arch_info *ct_arch_by_class(const char *hf_class);
const ct_arch_info *ct_arch_get(ct_arch arch);
/* "llama, qwen2, qwen3": the model types the table knows (for messages). */
const char *ct_arch_list(void);

#endif
