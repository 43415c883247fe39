/* The architecture table: every tensor of the decoder families ctune runs (qwen2, qwen3, llama),
 * one row each, and one row per family. Loading, random init, the trainable-parameter set-up,
 * PEFT I/O, HF export and the adapter code all read it; adding a tensor is one row here (the
 * X-macro lists generate the ids and the table), adding a family one row of k_arch in arch.c.
 *
 * Row: X(ID, HF name, dim0, dim1, present when, init, PEFT LoRA module, weight decay, GGUF name)
 *   HF name   per-layer rows: the suffix after "model.layers.<l>."; global rows: the full name
 *   dims      shape symbols (C hidden, I intermediate, Q heads*head_dim, KV kv_heads*head_dim,
 *             HD head_dim, V vocab; NONE for 1-D); PyTorch Linear layout [out, in]
 *   present   ALWAYS, or the config flag that adds it (QKV_BIAS, O_BIAS, MLP_BIAS, QK_NORM,
 *             UNTIED: only with tie_word_embeddings false)
 *   init      transformers _init_weights: NORMAL(0, initializer_range), ONES (RMSNorm), ZEROS (bias)
 *   lora      the PEFT target_modules name when LoRA may adapt it ("q_proj"), else NULL
 *   decay     AdamW weight decay (HF Trainer: not biases, not norms)
 *   gguf      llama.cpp tensor name (%d: layer) */
#ifndef CT_MODEL_ARCH_H
#define CT_MODEL_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/model.h"

#define CT_LAYER_TENSORS(X)                                                                                    \
    X(ATTN_NORM, "input_layernorm.weight", C, NONE, ALWAYS, ONES, NULL, false, "blk.%d.attn_norm.weight")     \
    X(WQ, "self_attn.q_proj.weight", Q, C, ALWAYS, NORMAL, "q_proj", true, "blk.%d.attn_q.weight")             \
    X(WK, "self_attn.k_proj.weight", KV, C, ALWAYS, NORMAL, "k_proj", true, "blk.%d.attn_k.weight")            \
    X(WV, "self_attn.v_proj.weight", KV, C, ALWAYS, NORMAL, "v_proj", true, "blk.%d.attn_v.weight")            \
    X(WO, "self_attn.o_proj.weight", C, Q, ALWAYS, NORMAL, "o_proj", true, "blk.%d.attn_output.weight")        \
    X(BQ, "self_attn.q_proj.bias", Q, NONE, QKV_BIAS, ZEROS, NULL, false, "blk.%d.attn_q.bias")                \
    X(BK, "self_attn.k_proj.bias", KV, NONE, QKV_BIAS, ZEROS, NULL, false, "blk.%d.attn_k.bias")               \
    X(BV, "self_attn.v_proj.bias", KV, NONE, QKV_BIAS, ZEROS, NULL, false, "blk.%d.attn_v.bias")               \
    X(BO, "self_attn.o_proj.bias", C, NONE, O_BIAS, ZEROS, NULL, false, "blk.%d.attn_output.bias")             \
    X(Q_NORM, "self_attn.q_norm.weight", HD, NONE, QK_NORM, ONES, NULL, false, "blk.%d.attn_q_norm.weight")   \
    X(K_NORM, "self_attn.k_norm.weight", HD, NONE, QK_NORM, ONES, NULL, false, "blk.%d.attn_k_norm.weight")   \
    X(MLP_NORM, "post_attention_layernorm.weight", C, NONE, ALWAYS, ONES, NULL, false, "blk.%d.ffn_norm.weight") \
    X(GATE, "mlp.gate_proj.weight", I, C, ALWAYS, NORMAL, "gate_proj", true, "blk.%d.ffn_gate.weight")         \
    X(UP, "mlp.up_proj.weight", I, C, ALWAYS, NORMAL, "up_proj", true, "blk.%d.ffn_up.weight")                 \
    X(DOWN, "mlp.down_proj.weight", C, I, ALWAYS, NORMAL, "down_proj", true, "blk.%d.ffn_down.weight")         \
    X(B_GATE, "mlp.gate_proj.bias", I, NONE, MLP_BIAS, ZEROS, NULL, false, "blk.%d.ffn_gate.bias")             \
    X(B_UP, "mlp.up_proj.bias", I, NONE, MLP_BIAS, ZEROS, NULL, false, "blk.%d.ffn_up.bias")                   \
    X(B_DOWN, "mlp.down_proj.bias", C, NONE, MLP_BIAS, ZEROS, NULL, false, "blk.%d.ffn_down.bias")

#define CT_GLOBAL_TENSORS(X)                                                                          \
    X(EMBED, "model.embed_tokens.weight", V, C, ALWAYS, NORMAL, NULL, true, "token_embd.weight")      \
    X(FINAL_NORM, "model.norm.weight", C, NONE, ALWAYS, ONES, NULL, false, "output_norm.weight")      \
    X(LM_HEAD, "lm_head.weight", V, C, UNTIED, NORMAL, NULL, true, "output.weight")

#define CT_X_LAYER_ID(id, ...) CT_LT_##id,
#define CT_X_GLOBAL_ID(id, ...) CT_GT_##id,
typedef enum ct_layer_tensor_id { CT_LAYER_TENSORS(CT_X_LAYER_ID) CT_LT_COUNT } ct_layer_tensor_id;
typedef enum ct_global_tensor_id { CT_GLOBAL_TENSORS(CT_X_GLOBAL_ID) CT_GT_COUNT } ct_global_tensor_id;

typedef enum ct_dim { CT_DIM_NONE = 0, CT_DIM_C, CT_DIM_I, CT_DIM_Q, CT_DIM_KV, CT_DIM_HD, CT_DIM_V } ct_dim;
typedef enum ct_presence {
    CT_PRESENT_ALWAYS = 0, CT_PRESENT_QKV_BIAS, CT_PRESENT_O_BIAS, CT_PRESENT_MLP_BIAS,
    CT_PRESENT_QK_NORM, CT_PRESENT_UNTIED
} ct_presence;
typedef enum ct_init { CT_INIT_NORMAL = 0, CT_INIT_ONES, CT_INIT_ZEROS } ct_init;

typedef struct ct_tensor_spec {
    int id;            /* ct_layer_tensor_id or ct_global_tensor_id */
    bool per_layer;
    const char *hf;
    ct_dim dim[2];
    ct_presence presence;
    ct_init init;
    const char *lora;  /* PEFT module name or NULL */
    bool decay;
    const char *gguf;
} ct_tensor_spec;

extern const ct_tensor_spec ct_layer_specs[CT_LT_COUNT];
extern const ct_tensor_spec ct_global_specs[CT_GT_COUNT];

/* Whether the config's model has this tensor in its checkpoint files. */
bool ct_spec_present(const ct_tensor_spec *s, const ct_config *cfg);
/* Shape under cfg; returns ndim (1 or 2). */
int ct_spec_shape(const ct_tensor_spec *s, const ct_config *cfg, int64_t shape[2]);
/* HF parameter name ("model.layers.3.self_attn.q_proj.weight"; layer ignored for global rows). */
void ct_spec_name(char *buf, size_t n, const ct_tensor_spec *s, int layer);
/* PEFT module path of a LoRA target ("model.layers.3.self_attn.q_proj"). */
void ct_spec_module(char *buf, size_t n, const ct_tensor_spec *s, int layer);
/* Rank of per-layer tensor `id` among the table's LoRA targets (q 0, k 1, v 2, o 3, gate 4,
 * up 5, down 6), -1 when LoRA cannot adapt it: the module's bit in a target mask and its
 * stream in the LoRA init and dropout draws. CT_LORA_MODULES is their number. */
int ct_spec_lora_index(int id);
#define CT_LORA_MODULES 7
/* The per-layer spec whose PEFT LoRA module name is `module` (NULL if none). */
const ct_tensor_spec *ct_spec_by_lora(const char *module);
/* "self_attn" / "mlp": the HF submodule a per-layer tensor belongs to (NULL for the layer norms). */
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
    bool qwen_keys;           /* config.json has use_sliding_window / sliding_window / max_window_layers */
} ct_arch_info;

const ct_arch_info *ct_arch_by_type(const char *model_type);
const ct_arch_info *ct_arch_by_class(const char *hf_class);
const ct_arch_info *ct_arch_get(ct_arch arch);
/* "llama, qwen2, qwen3": the model types the table knows (for messages). */
const char *ct_arch_list(void);

#endif
