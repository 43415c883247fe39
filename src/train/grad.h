/* Whole-model training forward + backward for the one decoder (qwen2 / qwen3 / llama), the
 * trainable-parameter registry, and the method setup (full | freeze | lora | prompt).
 *
 *   ct_train_model tm;
 *   ct_train_model_init(&tm, model, &method_cfg, &err);   // registry + LoRA/prompt init
 *   ct_params_zero_grad(&tm.params);
 *   for each micro-batch: ct_train_step(&tm, &batch, n_tokens_of_whole_step, true, &loss, &err);
 *   ct_adamw_step(&opt, &tm.params, lr, &err)  (src/train/optim.h)
 *   ct_train_model_free(&tm);                             // restores the model's weight views
 *
 * Loss convention = HF causal LM: labels are aligned with input_ids (NOT shifted by the caller);
 * token t predicts labels[t+1] of the same row; -100 is ignored. The returned loss and the
 * gradients are sum_t w_t * CE_t / norm_tokens, with norm_tokens passed by the caller (the count
 * of trained tokens in the whole optimizer step), so accumulating micro-batches reproduces one
 * big batch exactly. */
#ifndef CT_TRAIN_GRAD_H
#define CT_TRAIN_GRAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"
#include "ctune/tensor.h"
#include "model/model.h"

/* ---- per-layer tensors by id (names are the HF keys after "model.layers.N.") ---- */
typedef enum ct_layer_tensor_id {
    CT_LT_ATTN_NORM = 0, CT_LT_WQ, CT_LT_WK, CT_LT_WV, CT_LT_WO, CT_LT_BQ, CT_LT_BK, CT_LT_BV,
    CT_LT_BO, CT_LT_Q_NORM, CT_LT_K_NORM, CT_LT_MLP_NORM, CT_LT_GATE, CT_LT_UP, CT_LT_DOWN,
    CT_LT_B_GATE, CT_LT_B_UP, CT_LT_B_DOWN, CT_LT_COUNT
} ct_layer_tensor_id;
ct_tensor *ct_layer_tensor(ct_layer_weights *lw, int id);
const char *ct_layer_tensor_name(int id); /* e.g. "self_attn.q_proj.weight" */

/* ---- trainable parameter registry: one flat f32 allocation per role ---- */
typedef struct ct_param {
    char name[192];      /* key as saved: HF ("model.layers.0.mlp.up_proj.weight") for full/freeze,
                            PEFT ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
                            "prompt_embeddings") for adapters */
    int ndim;
    int64_t shape[2];
    size_t numel, offset; /* offset of this tensor in the flat arrays */
    float *data, *grad, *m, *v; /* views into ct_params' flat arrays (f32 master, grad, AdamW) */
    bool decay;          /* AdamW weight decay applies (HF rule: not biases / norm weights) */
    ct_tensor *view;     /* full/freeze/modules_to_save: the model tensor now pointing at data */
    ct_tensor orig;      /* that tensor's original view (stored dtype, data) for export/restore */
} ct_param;

typedef struct ct_params {
    ct_param *p;
    size_t n, cap;
    size_t total;                /* sum of numel */
    float *data, *grad, *m, *v;  /* flat [total] each */
} ct_params;

void ct_params_zero_grad(ct_params *ps);
ct_param *ct_params_find(ct_params *ps, const char *name);
/* HF Trainer get_decay_parameter_names rule: false for names with "bias", "layernorm",
 * "rmsnorm", a ".norm"/"norm." component or a "_norm" component. */
bool ct_param_name_decays(const char *name);
/* sqrt(sum of squares of all grads) (double accumulation). */
double ct_params_grad_norm(const ct_params *ps);
/* True when every gradient is finite. */
bool ct_params_grads_finite(const ct_params *ps);

/* ---- methods ---- */
typedef enum ct_method { CT_METHOD_FULL = 0, CT_METHOD_FREEZE, CT_METHOD_LORA, CT_METHOD_PROMPT } ct_method;
typedef enum ct_prompt_init { CT_PROMPT_INIT_RANDOM = 0, CT_PROMPT_INIT_VOCAB, CT_PROMPT_INIT_TEXT } ct_prompt_init;

typedef struct ct_method_cfg {
    ct_method method;
    uint64_t seed;
    /* freeze (LlamaFactory): N > 0 last N layers, N < 0 first |N|; modules "all" or
     * comma list of layer children (self_attn, mlp, input_layernorm, post_attention_layernorm);
     * extra: comma list of non-layer modules (embed_tokens, norm, lm_head). */
    int freeze_trainable_layers;
    const char *freeze_trainable_modules; /* NULL = "all" */
    const char *freeze_extra_modules;     /* NULL = none */
    /* lora (PEFT) */
    int lora_rank;
    double lora_alpha;           /* <= 0: 2 * rank (LlamaFactory default) */
    double lora_dropout;
    const char *lora_target;     /* "all" / NULL or comma list: q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj */
    bool use_rslora;
    const char *additional_target; /* comma list of non-layer modules trained fully (modules_to_save) */
    /* prompt tuning (PEFT PROMPT_TUNING) */
    int num_virtual_tokens;
    ct_prompt_init prompt_init;
    const int32_t *prompt_init_ids; /* TEXT: token ids of prompt_tuning_init_text */
    size_t n_prompt_init_ids;
} ct_method_cfg;

#define CT_LORA_MODULES 7 /* q, k, v, o, gate, up, down */
const char *ct_lora_module_name(int i);      /* "q_proj", ... */
int ct_lora_module_tensor(int i);            /* CT_LT_WQ, ... */

typedef struct ct_lora_state {
    int r;
    float scaling;   /* alpha / r, or alpha / sqrt(r) with rsLoRA */
    float dropout;
    uint32_t targets; /* bit i set: module i of ct_lora_module_name has an adapter */
    int32_t *idx_a, *idx_b; /* [L * 7] param index or -1 */
} ct_lora_state;

typedef struct ct_train_model {
    ct_model *model;
    ct_method method;
    ct_params params;
    /* Gradient buffers mirroring the model weights (NULL = frozen): views into params.grad. */
    float *g_embed, *g_final_norm, *g_lm_head;
    float *(*g_layer)[CT_LT_COUNT]; /* [L][CT_LT_COUNT] */
    ct_lora_state lora;             /* r == 0 when unused */
    int n_virtual;                  /* prompt tuning: virtual tokens; param index prompt_param */
    int prompt_param;
    /* frozen bf16/f16 weights converted once to f32 (ct_train_model_cache_frozen_f32) */
    struct ct_frozen_f32 { ct_tensor *view; ct_tensor orig; } *cache;
    size_t n_cache;
    void *ws;             /* step workspace (grad.c), kept between steps */
    struct ct_frozen_f32 *merged; /* ct_train_model_merge_lora: merged f32 copies + original views */
    size_t n_merged;
    bool lora_merged;
    /* options */
    bool checkpointing;   /* recompute each layer's forward in the backward (identical grads) */
    size_t xent_chunk;    /* tokens per LM-head chunk (default 64) */
    uint64_t seed;        /* dropout stream seed */
    uint64_t rng_step;    /* dropout counter, advanced once per training ct_train_step */
} ct_train_model;

ct_status ct_train_model_init(ct_train_model *tm, ct_model *m, const ct_method_cfg *cfg, ct_err *err);
/* Speed option: converts every frozen non-f32 weight the step reads (linear weights, embedding,
 * LM head, norms) to an f32 copy owned by tm, so no bf16->f32 conversion runs per matmul.
 * Costs 4 bytes per frozen parameter (what a float32 PyTorch model holds anyway). */
ct_status ct_train_model_cache_frozen_f32(ct_train_model *tm, ct_err *err);
/* For inference with the adapters through the plain model forward (generation, chat, eval):
 * every LoRA target gets its own f32 copy W' = W + scaling * B A and the model view points at
 * it. While merged, ct_train_step skips the LoRA path and refuses backward (CT_ERR_ARG).
 * Unmerge restores the original views and frees the copies. No-ops without LoRA.
 * This merges the live, in-training A/B of tm (reversibly, in place); a saved PEFT adapter
 * directory is applied with ct_adapter_load (include/ctune/adapter.h) instead. */
ct_status ct_train_model_merge_lora(ct_train_model *tm, ct_err *err);
void ct_train_model_unmerge_lora(ct_train_model *tm);
/* Restores the model's original weight views and frees everything tm owns. */
void ct_train_model_free(ct_train_model *tm);

/* Frees the step workspace (called by ct_train_model_free; lets a caller drop it early). */
void ct_train_ws_free(ct_train_model *tm);

/* ---- batches and the step ---- */
typedef struct ct_train_batch {
    size_t B, T;
    const int32_t *input_ids;    /* [B,T] */
    const int32_t *labels;       /* [B,T] unshifted, -100 ignored */
    const int32_t *position_ids; /* [B,T] or NULL: 0..T-1 per row (packing: restart per sample) */
    const int32_t *segment_ids;  /* [B,T] or NULL: packed samples attend only within a segment */
    const float *loss_weights;   /* [B,T] weight of labels[b,t], or NULL (all 1) */
} ct_train_batch;

/* Number of (shifted) targets that contribute to the loss: labels[b,t+1] >= 0. */
size_t ct_train_batch_count_tokens(const ct_train_batch *b);
/* The same for this method: with prompt tuning labels[b,0] is trained too (the last virtual
 * token predicts it, as in PEFT). Use this for norm_tokens. */
size_t ct_train_count_tokens(const ct_train_model *tm, const ct_train_batch *b);

/* Forward (+ backward when `backward`) of one micro-batch. *loss = sum_t w_t CE_t / norm_tokens.
 * Gradients ACCUMULATE into tm->params.grad. Errors: bad token id / shape (CT_ERR_ARG),
 * non-finite loss (CT_ERR_NUMERIC). */
ct_status ct_train_step(ct_train_model *tm, const ct_train_batch *b, double norm_tokens, bool backward,
                        double *loss, ct_err *err);

#endif
