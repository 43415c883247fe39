/* ctune — memory and speed estimates of a fine-tuning run (or of inference) before it starts.
 *
 * The memory model follows what the trainer actually allocates (src/train/trainer.c,
 * src/peft/method.c, src/model/decoder.c, src/ops/cpu/xent.c), so its peak agrees with the
 * measured peak RSS of `ctune train` (tests/cli/estimate_agreement.sh checks 15 %):
 *
 *   weights      the checkpoint as stored (mmap'd: resident once touched). bf16/f16 2 bytes and
 *                f32 4 bytes per parameter. qlora4: linear layer weights at 4 bits + bitsandbytes
 *                block statistics (1 uint8 absmax per 64 weights, 1 f32 absmax per 256 blocks);
 *                qlora8: 1 byte per linear weight + 1 f32 scale per row. Embeddings, norms, biases
 *                and the LM head stay 16-bit. An f32 model's untied, frozen embedding is only
 *                touched at the rows of the batch's tokens.
 *   frozen_f32   the trainer's f32 copies of frozen bf16/f16 weights (ct_train_model_cache_frozen_f32),
 *                made in exact f32 compute when all parameters in f32 would fit in 8 GiB; quantized
 *                linears are never copied, and bf16 compute makes no copies.
 *   masters, grads, adam   the trainable f32 parameters, their gradients and the two AdamW
 *                moments: 4 x 4 bytes per trainable parameter (each tensor padded to 16 floats).
 *                badam: the largest decoder layer (one block trains at a time); frozen_f32 then
 *                also holds the trained blocks' values: an f32 copy of every weight when the
 *                trainer caches frozen weights in f32, else a stored-dtype copy of every layer
 *                weight once each block has trained (the steady state after one sweep).
 *                GaLore (`galore`): a targeted weight [m, n] keeps moments of its projected
 *                gradient ([m, r] / [r, n] / [r, r]) and its projector (adam); the step's scratch
 *                holds 3 x m n f32 values and the SVD's f64 LAPACK work of the largest target.
 *   activations  the step arena: the layer inputs, what every layer saves for its backward (one
 *                layer's worth with gradient checkpointing, recomputed in the backward), the final
 *                hidden state, its gradient and one layer's backward scratch, for B x (T + virtual)
 *                tokens.
 *   lm_head      the fused cross-entropy's chunk buffers: CT_XENT_CHUNK (64; 512 in bf16) labelled tokens x
 *                vocab f32 logits + the chunk's hidden states and their gradient.
 *   scratch      per-thread kernel scratch beyond the LM-head buffers (attention backward's per-head
 *                dk / dv, widened weight blocks).
 *   overhead     the process baseline (binary, libraries, OpenBLAS / OpenMP buffers, dataset),
 *                measured once (see the constants in src/train/estimate.c), + the tokenizer's
 *                parsed vocabulary and merges (~384 bytes per vocabulary entry).
 *   peak         the sum.
 *   kv_cache     inference only (ct_estimate_inference): f32 keys and values for ctx_len tokens.
 *
 * Speed: tokens/s = achieved FLOP/s / FLOPs per token, where the achieved rate comes from a short
 * calibration of the f32 GEMM kernel on this machine (ct_estimate_calibrate) and
 *   forward   F = 2 * P_linear + 2 * T * L * q_dim       (P_linear: every matmul weight including
 *             the LM head; attention QK^T + PV over a causal half: 4 * T/2 * q_dim per layer)
 *   full      3 F                                        (backward = dx + dW = 2 F)
 *   freeze, badam   2 F + 2 * P_trainable_linear         (dx through every layer, dW of the
 *                                                         trainable ones)
 *   lora, qlora, prompt   2 F                            (dx through the frozen layers; the
 *                                                         adapters' FLOPs are negligible)
 *   gradient checkpointing adds one more F (the recomputed forward).
 * The calibration keeps the best of repeated GEMM pairs (other processes only slow a pair down),
 * so the rate is what the matmuls reach, not the elementwise ops, attention and the optimizer:
 * treat tokens/s as an upper bound (the 25M-parameter test model on 2 shared cores trains at
 * 0.4-0.7 of it at T 512). */
#ifndef CTUNE_ESTIMATE_H
#define CTUNE_ESTIMATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/config.h"
#include "ctune/ctx.h"
#include "ctune/err.h"
#include "ctune/model.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ct_est_method {
    CT_EST_FULL = 0, CT_EST_FREEZE, CT_EST_LORA, CT_EST_QLORA8, CT_EST_QLORA4, CT_EST_PROMPT, CT_EST_BADAM,
    CT_EST_METHODS
} ct_est_method;

/* "full", "freeze", "lora", "qlora8", "qlora4", "prompt", "badam" (full fine-tuning with
 * use_badam: one decoder layer trainable at a time). */
const char *ct_est_method_name(ct_est_method m);
/* Parses one of those names; false when unknown. */
bool ct_est_method_parse(const char *name, ct_est_method *m);

typedef struct ct_estimate_opts {
    ct_est_method method;        /* CT_EST_LORA */
    size_t cutoff_len;           /* T: tokens per row (2048, LlamaFactory) */
    size_t batch;                /* B: rows per micro-batch (1) */
    bool checkpointing;          /* gradient checkpointing (false) */
    int lora_rank;               /* 8 (LlamaFactory) */
    char lora_target[256];       /* "" / "all": every linear layer, or a comma list (q_proj, ...) */
    bool use_dora;               /* DoRA: a magnitude vector [out] per adapted linear as well */
    int freeze_trainable_layers; /* 2 (LlamaFactory): last N layers, -N first N */
    int num_virtual_tokens;      /* prompt tuning: 20 */
    int threads;                 /* 0: all cores */
    bool bf16;                   /* bf16 compute (bf16 / pure_bf16 / fp16): the kernels read the
                                    stored weights, no f32 copies of frozen ones (false: exact f32) */
    bool llama_pro;              /* freeze / lora: only LLaMA Pro's expanded blocks (use_llama_pro;
                                    freeze_trainable_layers = their count) */
    bool galore;                 /* full / freeze with use_galore: the targeted trainable linear
                                    weights keep low-rank moments + a projector */
    int galore_rank;             /* 16 */
    char galore_target[256];     /* "" / "all" (every decoder linear) or a comma list of substrings
                                    of module names, as LlamaFactory matches them */
    char galore_proj_type[16];   /* "" / "std", reverse_std, right, left, full */
} ct_estimate_opts;

void ct_estimate_opts_default(ct_estimate_opts *o);
/* The options of a LlamaFactory training config: finetuning_type (+ quantization_bit 4 / 8 with
 * lora: qlora4 / qlora8), cutoff_len, per_device_train_batch_size, gradient_checkpointing,
 * bf16 / pure_bf16 / fp16, lora_rank, lora_target, freeze_trainable_layers, num_virtual_tokens,
 * threads. */
ct_status ct_estimate_opts_from_train(const ct_train_config *c, ct_estimate_opts *o, ct_err *err);

typedef struct ct_estimate {
    int64_t params;              /* all parameters (a tied LM head once) */
    int64_t trainable;           /* trainable parameters */
    size_t weights, frozen_f32, masters, grads, adam, activations, lm_head, scratch, overhead;
    size_t peak;                 /* bytes: the sum of the above */
    size_t kv_cache;             /* inference over cutoff_len tokens: the f32 KV cache */
    size_t inference;            /* ... and its whole peak (ct_model_memory_estimate + overhead) */
    double flops_per_token;      /* training FLOPs per token (see the formula above) */
    double gflops;               /* calibrated rate used (0: not calibrated) */
    double tokens_per_s;         /* gflops * 1e9 / flops_per_token (0: not calibrated) */
} ct_estimate;

/* The estimate of training cfg's model (its dtype: cfg->dtype) with options o. Errors: bad
 * options (CT_ERR_ARG, naming the option). */
ct_status ct_estimate_train(const ct_config *cfg, const ct_estimate_opts *o, ct_estimate *out, ct_err *err);
/* Bytes beyond the weights to run inference over ctx_len tokens: f32 KV cache (*kv_cache, may be
 * NULL) + prefill activations of a ctx_len chunk + one chunk of LM-head logits.
 * ct_model_memory_estimate is the model's weight bytes + this. */
size_t ct_estimate_inference(const ct_config *cfg, size_t ctx_len, size_t *kv_cache);
/* Parameter count of cfg's model (what ct_model_param_count gives once loaded). */
int64_t ct_config_param_count(const ct_config *cfg);

/* Achieved f32 GEMM rate of this machine in GFLOP/s: the best rate of pairs of ct_sgemm calls of
 * training-like shapes ([256 x 1024] x [1024 x 1024] and [256 x 1024] x [1024 x 2816]) repeated
 * for about `seconds` (0: 0.3 s) on `threads` threads (0: all cores). Its buffers come from mmap,
 * not malloc, so a training run in the same process afterwards allocates as it would without. */
double ct_estimate_calibrate(int threads, double seconds);
/* Fills e->gflops and e->tokens_per_s from a calibrated rate. */
void ct_estimate_set_speed(ct_estimate *e, double gflops);

/* ---- named model sizes (the HF config.json of each published model) ---- */
/* cfg of a named size ("qwen2.5-7b", "qwen3-0.6b", ...; case-insensitive), weights bf16.
 * CT_ERR_ARG naming the size and the known names when unknown. */
ct_status ct_size_config(const char *name, ct_config *cfg, ct_err *err);
/* The config of `model`: a model directory (its config.json), a config.json file, a size name, or
 * a Hugging Face id whose last component names a size ("Qwen/Qwen2.5-7B-Instruct": qwen2.5-7b). */
ct_status ct_estimate_config(const char *model, ct_config *cfg, ct_err *err);
/* The i-th known size name (NULL past the end), in table order. */
const char *ct_size_name(size_t i);

/* MemAvailable of /proc/meminfo in bytes (0 when unknown). */
size_t ct_mem_available(void);

#ifdef __cplusplus
}
#endif
#endif
