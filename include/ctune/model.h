/* ctune — decoder-only models in Hugging Face format (qwen2, qwen3, llama).
 * One implementation; architecture differences are flags in ct_config read from config.json. */
#ifndef CTUNE_MODEL_H
#define CTUNE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"
#include "ctune/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ct_arch { CT_ARCH_LLAMA = 0, CT_ARCH_QWEN2, CT_ARCH_QWEN3 } ct_arch;

#define CT_MAX_EOS 8

typedef struct ct_config {
    ct_arch arch;
    char model_type[32];     /* as in config.json */
    int32_t hidden_size;     /* C */
    int32_t intermediate_size;
    int32_t num_layers;      /* L */
    int32_t num_heads;       /* Hq */
    int32_t num_kv_heads;    /* Hkv (GQA when < Hq) */
    int32_t head_dim;        /* D: explicit for qwen3, hidden/heads otherwise */
    int32_t vocab_size;      /* V */
    int32_t max_position_embeddings;
    double rms_norm_eps;
    double rope_theta;
    bool tie_word_embeddings;
    bool attention_bias;     /* q/k/v biases (qwen2 always; others from config) */
    bool o_bias;             /* o_proj bias (llama attention_bias applies to o_proj too) */
    bool mlp_bias;
    bool qk_norm;            /* qwen3 q_norm / k_norm over head_dim */
    ct_dtype dtype;          /* torch_dtype / dtype from config.json */
    int32_t bos_token_id;    /* -1 if none */
    int32_t eos_token_ids[CT_MAX_EOS];
    int32_t num_eos;
    int32_t pad_token_id;    /* -1 if none */
} ct_config;

/* Per-layer weights as views (data NULL when absent). Shapes in PyTorch Linear layout [out, in]. */
typedef struct ct_layer_weights {
    ct_tensor attn_norm; /* [C] */
    ct_tensor wq;        /* [Hq*D, C] */
    ct_tensor wk;        /* [Hkv*D, C] */
    ct_tensor wv;        /* [Hkv*D, C] */
    ct_tensor wo;        /* [C, Hq*D] */
    ct_tensor bq, bk, bv, bo; /* [Hq*D], [Hkv*D], [Hkv*D], [C] or absent */
    ct_tensor q_norm, k_norm; /* [D] (qwen3) */
    ct_tensor mlp_norm;  /* [C] */
    ct_tensor w_gate;    /* [I, C] */
    ct_tensor w_up;      /* [I, C] */
    ct_tensor w_down;    /* [C, I] */
    ct_tensor b_gate, b_up, b_down; /* mlp_bias only */
} ct_layer_weights;

typedef struct ct_weights {
    ct_tensor embed;       /* [V, C] */
    ct_tensor final_norm;  /* [C] */
    ct_tensor lm_head;     /* [V, C]; equals embed view when tied */
    ct_layer_weights *layers; /* [L] */
} ct_weights;

typedef struct ct_model ct_model;

#ifdef __cplusplus
}
#endif
#endif
