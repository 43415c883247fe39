/* The one decoder of ctune (HF LlamaModel / Qwen2Model / Qwen3Model / Qwen3_5TextModel), for
 * training and inference:
 *   x = embed(ids)                    (virtual-token rows from the prompt-tuning embeddings)
 *   per layer: h = x + mixer(rmsnorm(x)), the token mixer of the layer's kind (layer_types):
 *                attention: o_proj(gate(attn(rope(qk_norm(q/k/v_proj(.))))))
 *                Gated DeltaNet (Qwen3.5 linear attention, src/model/deltanet.c)
 *              x = h + down(silu(gate(n)) * up(n)),  n = rmsnorm(h)
 *   hidden = rmsnorm(x)
 * Architecture differences are config flags and table rows (biases, q/k norm, head_dim, tied
 * head, partial RoPE, the attention's output gate, 1 + w norms, layer kinds). One layer function
 * serves every use; what differs between uses are hooks:
 *   - rows: B rows of T positions; in training every row attends within itself (packed samples
 *     within their segment), in inference row b continues its KV cache kv[b] (prefill, decode,
 *     batched decode);
 *   - opts.train: keep what the backward needs (per layer, or only the layer inputs with
 *     activation checkpointing) and apply LoRA dropout; otherwise activations are reused
 *     layer after layer;
 *   - hooks: the adapter (or training method) — the weights to read, LoRA on linears (run
 *     unmerged through ct_linear_forward + ct_lora_forward, as in training), virtual tokens.
 * Activations live in an arena the caller names (the training state's, or the context's for
 * inference) from ct_dec_forward until ct_dec_end. */
#ifndef CT_MODEL_DECODER_H
#define CT_MODEL_DECODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "ctune/generate.h"
#include "model/model.h"
#include "ops/ops.h"

struct ct_kv_cache {
    size_t L, KV, cap, len;
    size_t *slot;           /* [L]: the layer's index among the attention (or DeltaNet) layers */
    size_t n_attn, n_dn;
    float *k, *v;           /* [n_attn, cap, Hkv*D] */
    size_t conv_floats, ssm_floats; /* per DeltaNet layer */
    float *conv, *ssm;      /* [n_dn, K-1, conv channels], [n_dn, Hv, Dk, Dv] */
};

/* LoRA on the decoder's linears: ref[l * CT_LT_COUNT + id] adapts linear `id` of layer l
 * (A == NULL: not adapted). */
typedef struct ct_lora_set {
    int n_layers;
    float dropout;    /* training passes only */
    ct_lora_ref *ref; /* [n_layers * CT_LT_COUNT] */
} ct_lora_set;

/* How an adapter or a training method changes the base computation. It is the first member of
 * struct ct_adapter (src/peft/adapter.c), so model code reads any adapter through it. */
typedef struct ct_dec_hooks {
    const ct_weights *w;     /* weights to read instead of the model's (NULL: the model's) */
    const ct_lora_set *lora; /* NULL: no LoRA */
    const float *virt;       /* prompt-tuning virtual token embeddings [n_virt, C] */
    size_t n_virt;
} ct_dec_hooks;

/* The hooks of an adapter (NULL for NULL). */
static inline const ct_dec_hooks *ct_adapter_hooks(const ct_adapter *ad) { return (const ct_dec_hooks *)ad; }

/* Gradient destinations mirroring the weights (NULL entries: frozen). */
typedef struct ct_dec_grads {
    float *g[CT_GT_COUNT];
    float *(*layer)[CT_LT_COUNT]; /* [n_layers] or NULL */
    float *virt;                  /* [n_virt, C] or NULL */
} ct_dec_grads;

/* B rows of T positions. */
typedef struct ct_dec_rows {
    size_t B, T;
    const int32_t *ids;     /* [B*T]: token id, or -1 - p for virtual token p */
    const int32_t *pos;     /* [B*T] RoPE positions */
    const int32_t *seg;     /* [B*T] segment ids of packed rows, or NULL */
    ct_kv_cache *const *kv; /* [B]: the cache each row continues (inference), or NULL */
} ct_dec_rows;

typedef struct ct_dec_opts {
    bool train;           /* keep activations for ct_dec_backward; LoRA dropout on */
    bool checkpointing;   /* train: keep only layer inputs and recompute each layer in the backward */
    uint64_t seed, step;  /* LoRA dropout streams of (seed, step, layer, module) */
    float neftune_mag;    /* train: NEFTune noise U(-mag, mag) on every real token's embedding (transformers'
                             neftune_post_forward_hook with mag = alpha / sqrt(L d)), drawn from (seed, step) */
} ct_dec_opts;

typedef struct ct_dec_acts ct_dec_acts;

/* One pass through the decoder. */
typedef struct ct_dec {
    ct_ctx *ctx;
    const ct_config *cfg;
    const ct_weights *w;
    const ct_lora_set *lora;
    const float *virt;
    ct_dec_opts opts;
    ct_arena *arena;
    size_t mark;
    ct_dec_rows rows;
    size_t N;          /* B * T */
    float **xs;        /* input of layer l (train: [L + 1]; inference: 2 buffers used in turn) */
    ct_dec_acts *acts; /* train: [L] (checkpointing: [1]); inference: [1] */
    float *hidden;     /* [N, C] final-normed hidden states */
    float *rstd;       /* [N] of the final norm */
    float inv_freq[CT_MAX_HEAD_DIM / 2]; /* RoPE inverse frequencies (ct_rope_inv_freq) */
    float rope_scale;  /* cos / sin multiplier: YaRN's attention factor, else 1 */
    float norm_add;    /* 1 where RMSNorm weights are offsets from 1 (Qwen3.5), else 0 */
} ct_dec;

/* Runs the rows through the decoder; d->hidden holds the result. With rows->kv, every cache must
 * have room for T more positions; their lengths grow by T. hooks may be NULL. */
ct_status ct_dec_forward(ct_dec *d, ct_ctx *ctx, const ct_model *m, const ct_dec_hooks *hooks,
                         const ct_dec_opts *opts, ct_arena *arena, const ct_dec_rows *rows, ct_err *err);
/* Backward of a train pass from dhidden [N, C] (the gradient of the loss w.r.t. d->hidden):
 * accumulates into g and into the LoRA refs' dA / dB. CT_ERR_NOMEM when its scratch does not fit,
 * CT_ERR_ARG after an inference pass (opts->train false: no activations were kept). */
ct_status ct_dec_backward(ct_dec *d, const float *dhidden, const ct_dec_grads *g);
/* Releases the pass's activations. */
void ct_dec_end(ct_dec *d);

/* True when the text of out->data[first..] contains one of p's stop strings (generation). */
bool ct_gen_hit_stop_string(const ct_gen_params *p, const ct_ids *out, size_t first, ct_status *st, ct_err *err);

/* ---- language-model loss over token rows (training, evaluation, eval-loss: one path) ---- */

/* B rows of T token ids with labels aligned to them (HF convention, NOT shifted: the position of
 * label t-1 predicts label t; < 0 is ignored). With n_virt virtual tokens (hooks) they are put
 * in front of every row, positions run 0..n_virt+T-1 (PEFT prompt learning ignores
 * position_ids) and the last virtual token predicts labels[0]. */
typedef struct ct_lm_batch {
    size_t B, T;
    const int32_t *input_ids;    /* [B*T] */
    const int32_t *labels;       /* [B*T] */
    const int32_t *position_ids; /* [B*T] or NULL: 0..T-1 (restart per packed sample when given) */
    const int32_t *segment_ids;  /* [B*T] or NULL: packed samples attend within their segment */
    const float *loss_weights;   /* [B*T] weight of labels[b,t], or NULL (all 1) */
} ct_lm_batch;

/* The number of targets that contribute to the loss. */
size_t ct_lm_count_targets(const ct_lm_batch *b, size_t n_virt);

/* sum_t w_t CE_t of the batch under the (hooked) model into *loss_sum (targets into *n_tokens,
 * optional). grad_scale != 0 (needs opts->train): also the backward of grad_scale * sum into g
 * and the LoRA refs. Errors: bad ids / labels / shapes (CT_ERR_ARG), prompt tuning with
 * segment ids (CT_ERR_UNSUPPORTED), a non-finite loss (CT_ERR_NUMERIC: no backward then). */
ct_status ct_lm_loss(ct_ctx *ctx, const ct_model *m, const ct_dec_hooks *hooks, const ct_dec_opts *opts,
                     ct_arena *arena, const ct_lm_batch *b, float grad_scale, const ct_dec_grads *g,
                     size_t xent_chunk, double *loss_sum, size_t *n_tokens, ct_err *err);

#endif
