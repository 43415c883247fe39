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
    /* Generation defaults from generation_config.json (HF GenerationConfig defaults when the
     * file or key is absent: do_sample false, temperature 1, top_k 50, top_p 1, penalty 1). */
    bool gen_do_sample;
    float gen_temperature;
    int32_t gen_top_k;
    float gen_top_p;
    float gen_repetition_penalty;
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

const char *ct_arch_name(ct_arch arch); /* "llama", "qwen2", "qwen3" */

/* Reads DIR/config.json (+ DIR/generation_config.json when present) into *cfg.
 * model_type qwen2 | qwen3 | llama (or architectures[0] Qwen2ForCausalLM, Qwen3ForCausalLM,
 * LlamaForCausalLM). Refuses (CT_ERR_UNSUPPORTED, naming file and key): other model types,
 * hidden_act other than silu, rope_scaling with a type other than "default",
 * use_sliding_window true. */
ct_status ct_config_load(const char *dir, ct_config *cfg, ct_err *err);

/* Loads a Hugging Face model directory: config.json, generation_config.json (optional),
 * model.safetensors or model.safetensors.index.json + shards. Weights are mmap'd and stay in
 * their stored dtype (BF16/F16/F32); every tensor's presence and shape is checked against the
 * config (errors name the tensor and file). Free with ct_model_free. */
ct_status ct_model_load(const char *dir, ct_model **out, ct_err *err);
/* Frees a model from ct_model_load: closes the weight files (m->storage), frees m->dir,
 * m->w.layers and m. For models built in memory (storage == NULL) the weight data is NOT freed
 * (the builder owns it); w.layers, dir and m itself still are (all must be malloc'd). */
void ct_model_free(ct_model *m);
const ct_config *ct_model_config(const ct_model *m);
const ct_weights *ct_model_weights(const ct_model *m);
/* Number of parameters (lm_head counted once when tied). */
int64_t ct_model_param_count(const ct_model *m);
/* Bytes of weights in their stored dtype. */
size_t ct_model_weight_bytes(const ct_model *m);
/* Memory to run inference over ctx_len tokens: weights + f32 KV cache + prefill activations
 * for a ctx_len-token chunk + one chunk of LM-head logits. */
size_t ct_model_memory_estimate(const ct_model *m, size_t ctx_len);

/* ---- Forward (f32 activations; weights converted on the fly). ---- */

/* KV cache: f32 keys/values for every layer, positions 0..capacity-1. */
typedef struct ct_kv_cache ct_kv_cache;
ct_status ct_kv_cache_init(ct_kv_cache **out, const ct_config *cfg, size_t capacity, ct_err *err);
void ct_kv_cache_free(ct_kv_cache *kv);
void ct_kv_cache_reset(ct_kv_cache *kv);       /* length back to 0 */
size_t ct_kv_cache_len(const ct_kv_cache *kv); /* tokens already in the cache */
size_t ct_kv_cache_capacity(const ct_kv_cache *kv);
/* Drops cached positions >= len (no-op when len >= current length). */
void ct_kv_cache_truncate(ct_kv_cache *kv, size_t len);
/* Enlarges the capacity to at least `capacity` tokens, keeping the cached positions. */
ct_status ct_kv_cache_grow(ct_kv_cache *kv, size_t capacity, ct_err *err);

/* Runs T tokens at positions len..len+T-1 of the cache and appends their keys/values (prefill
 * when T > 1, decode when T == 1). kv may be NULL: a fresh sequence at positions 0..T-1 with no
 * cache kept. Outputs (each optional, NULL to skip):
 *   hidden [T, C]  hidden states after the final norm (input of lm_head);
 *   logits [T, V]  logits of every position (only for small T*V; prefer logits_last);
 *   logits_last [V] logits of the last position. */
ct_status ct_model_forward(const ct_model *m, ct_kv_cache *kv, const int32_t *ids, size_t T,
                           float *hidden, float *logits, float *logits_last, ct_err *err);

/* As ct_model_forward but the T inputs are given as input embeddings embeds[T, C] (e.g. PEFT
 * prompt-tuning virtual tokens) instead of token ids; they take positions len..len+T-1. */
ct_status ct_model_forward_embeds(const ct_model *m, ct_kv_cache *kv, const float *embeds,
                                  size_t T, float *hidden, float *logits_last, ct_err *err);

/* Sum of next-token negative log-likelihoods -log p(ids[t+1] | ids[..t]) over t = 0..T-2
 * (f64 accumulation) and the number of predicted tokens (T-1, or 0 when T < 2). The LM head
 * and log-softmax run in chunks of positions, never materialising [T, V]. */
ct_status ct_model_nll(const ct_model *m, const int32_t *ids, size_t T, double *nll_sum,
                       size_t *n_predicted, ct_err *err);

#ifdef __cplusplus
}
#endif
#endif
