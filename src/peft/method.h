/* Fine-tuning methods applied to a model (full | freeze | lora | prompt): which tensors train,
 * their f32 masters and gradients (src/peft/params.h), the LoRA adapters and prompt embeddings,
 * and the hooks through which the one decoder (src/model/decoder.h) runs the adapted model.
 *
 *   ct_train_model tm;
 *   ct_train_model_init(&tm, model, &method_cfg, &err);   // registry + LoRA / prompt init
 *   ... ct_train_step (src/train/step.h) ... ct_adamw_step (src/train/optim.h)
 *   ct_train_model_free(&tm);
 *
 * The base model is never modified: tm.w is a shallow copy of its weight views in which the
 * trainable tensors point at their f32 masters (and, with ct_train_model_cache_frozen_f32, the
 * frozen bf16/f16 tensors at f32 copies; quantized ones stay quantized). */
#ifndef CT_PEFT_METHOD_H
#define CT_PEFT_METHOD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "ctune/err.h"
#include "model/decoder.h"
#include "peft/params.h"

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
    /* explicit layers (LLaMA Pro's expanded blocks, BAdam's active block): freeze trains these
     * layers instead of freeze_trainable_layers' range, LoRA adapts only these; NULL: unused */
    const int *layer_ids;
    size_t n_layer_ids;
    /* lora (PEFT) */
    int lora_rank;
    double lora_alpha;           /* <= 0: 2 * rank (LlamaFactory default) */
    double lora_dropout;
    const char *lora_target;     /* "all" / NULL or comma list of the table's LoRA modules */
    bool use_rslora;
    const char *additional_target; /* comma list of non-layer modules trained fully (modules_to_save) */
    bool use_dora;               /* DoRA: a magnitude vector per adapted linear (PEFT use_dora) */
    double loraplus_lr_ratio;    /* > 0: LoRA+ param groups (LlamaFactory create_loraplus_optimizer) */
    bool pissa_init;             /* PiSSA init (peft/pissa.h) with pissa_iter: -1 exact SVD, else niter */
    int pissa_iter;
    /* Continuing training (LlamaFactory adapter_name_or_path): A, B, DoRA magnitudes and
     * modules_to_save start from this adapter, whose (layer, module) set replaces lora_target; a
     * PiSSA adapter first turns the base into its residual, as PEFT does when it loads one. */
    const struct ct_peft_adapter *init_adapter;
    ct_ctx *ctx;                 /* compute for DoRA norms and PiSSA (NULL: a one-off context) */
    /* allocate masters and gradients only; the caller gives the optimizer state its shapes and
     * allocates it (ct_params_alloc_state: GaLore keeps low-rank moments) */
    bool defer_state;
    /* prompt tuning (PEFT PROMPT_TUNING) */
    int num_virtual_tokens;
    ct_prompt_init prompt_init;
    const int32_t *prompt_init_ids; /* TEXT: token ids of prompt_tuning_init_text */
    size_t n_prompt_init_ids;
} ct_method_cfg;

typedef struct ct_train_model {
    const ct_model *model;
    ct_method method;
    ct_params params;
    ct_weights w;           /* what the decoder reads */
    /* LoRA: ref[l * CT_LT_COUNT + id] points into params (A, B, dA, dB) */
    ct_lora_set lora;
    int lora_r;             /* 0 when unused */
    float lora_scaling;     /* alpha / r, or alpha / sqrt(r) with rsLoRA */
    bool dora;              /* LoRA refs carry DoRA magnitudes */
    float *dora_wnorm;      /* DoRA row norms, one [out] slice per adapted linear */
    char init_lora_weights[32]; /* "" (true) or "pissa" / "pissa_niter_<n>", as adapter_config.json says */
    ct_dec_grads grads;     /* views into params.grad */
    int n_virtual;          /* prompt tuning: virtual tokens, their param index */
    int prompt_param;
    float **owned;          /* f32 copies of frozen weights */
    size_t n_owned;
    ct_arena acts;          /* step activations, kept between steps */
    /* options */
    bool checkpointing;     /* recompute each layer's forward in the backward (identical grads) */
    size_t xent_chunk;      /* tokens per LM-head chunk (0: CT_XENT_CHUNK / _BF16 by precision) */
    uint64_t seed;          /* dropout stream seed */
    uint64_t rng_step;      /* dropout counter, advanced once per training step */
    double neftune_alpha;   /* NEFTune noise alpha (0: off; transformers neftune_post_forward_hook) */
    size_t neftune_pad;     /* L of alpha / sqrt(L d): the batch length rounded up to this multiple (LlamaFactory's
                               SFT collator pads to 8; 0 or 1: the length as padded) */
} ct_train_model;

ct_status ct_train_model_init(ct_train_model *tm, const ct_model *m, const ct_method_cfg *cfg, ct_err *err);
/* Makes the model tensors whose HF names match keep (a freeze pattern set) tm's registry, which
 * must be empty: adds them, allocates masters, gradients and moments and points the decoder's
 * gradient views at them (src/peft/block.c moves BAdam's active block with it). */
struct ct_freeze_patterns;
ct_status ct_train_model_register(ct_train_model *tm, const struct ct_freeze_patterns *keep, ct_err *err);
/* LlamaFactory lora_target ("all", "all-linear", or a comma list of q_proj ... down_proj; NULL or
 * empty: all) as a mask of bit ct_spec_lora_index per module. */
ct_status ct_lora_target_mask(const char *list, uint32_t *mask, ct_err *err);
/* Speed option: every frozen non-f32 weight the step reads gets an f32 copy owned by tm, so no
 * conversion runs per matmul. Costs 4 bytes per frozen parameter (what a float32 PyTorch model
 * holds anyway). */
ct_status ct_train_model_cache_frozen_f32(ct_train_model *tm, ct_err *err);
void ct_train_model_free(ct_train_model *tm);
/* The hooks that run the model with tm's weights, LoRA and prompt embeddings. */
ct_dec_hooks ct_train_model_hooks(const ct_train_model *tm);

/* LoRA scaling: alpha / r, or alpha / sqrt(r) with rsLoRA (PEFT LoraLayer.update_layer). */
float ct_lora_scaling(double alpha, int r, bool rslora);
/* PEFT reset_lora_parameters: A ~ kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)) drawn
 * from the counter RNG (seed, stream); B starts at zero. */
void ct_lora_init_a(float *A, int r, size_t in, uint64_t seed, uint64_t stream);

/* src/peft/lora_init.c: after the default init, the LoRA variants of cfg: values from
 * cfg->init_adapter (and its PiSSA residual), PiSSA, DoRA magnitudes, LoRA+ groups. */
ct_status ct_lora_init_variants(ct_train_model *tm, const ct_method_cfg *cfg, ct_err *err);
/* PEFT's DoRA magnitude init: m = ||W + scaling B A|| per output row of every adapted linear. */
void ct_lora_dora_init_magnitudes(ct_train_model *tm, ct_ctx *c);

#endif
