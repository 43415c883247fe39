/* ctune — decoder-only models in Hugging Face format (qwen2, qwen3, llama).
 * One implementation; architecture differences are flags in ct_config read from config.json. */
#ifndef CTUNE_MODEL_H
#define CTUNE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/ctx.h"
#include "ctune/err.h"
#include "ctune/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ct_arch { CT_ARCH_LLAMA = 0, CT_ARCH_QWEN2, CT_ARCH_QWEN3, CT_ARCH_QWEN3_5 } ct_arch;

#define CT_MAX_EOS 8
#define CT_MAX_HEAD_DIM 512 /* config.json head_dim above it is refused */
#define CT_MAX_LAYERS 256   /* num_hidden_layers above it is refused */

/* The token mixer of a layer (config.json layer_types). */
typedef enum ct_layer_kind {
    CT_LAYER_ATTENTION = 0, /* "full_attention": softmax attention with a KV cache */
    CT_LAYER_DELTANET,      /* "linear_attention": Qwen3.5's Gated DeltaNet with a recurrent state */
} ct_layer_kind;

typedef enum ct_rope_type {
    CT_ROPE_DEFAULT = 0, /* theta^(-2i/D) */
    CT_ROPE_LINEAR,      /* position interpolation: inverse frequencies / factor */
    CT_ROPE_LLAMA3,      /* Llama 3.1 / 3.2 per-frequency rescaling */
    CT_ROPE_DYNAMIC,     /* dynamic NTK: a larger base for sequences beyond max_position_embeddings */
    CT_ROPE_YARN,        /* YaRN: per-frequency ramp between interpolation and extrapolation */
    CT_ROPE_FACTORS,     /* inverse frequencies divided by rope_freq_factors (a GGUF file's
                          * rope_freqs.weight, llama.cpp's freq_factors: how Llama 3 scaling is stored) */
} ct_rope_type;

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
    /* rope_scaling (or rope_parameters): the type and its parameters (ct_rope_inv_freq) */
    ct_rope_type rope_type;
    double rope_factor;            /* linear, llama3, dynamic, yarn */
    double rope_low_freq_factor, rope_high_freq_factor; /* llama3 */
    double rope_original_max_pos;  /* llama3, yarn */
    double rope_beta_fast, rope_beta_slow; /* yarn (32, 1) */
    bool rope_truncate;            /* yarn: floor / ceil the correction range (true) */
    double rope_attention_scale;   /* cos / sin multiplier (yarn's attention factor); 1 otherwise */
    float rope_freq_factors[CT_MAX_HEAD_DIM / 2]; /* CT_ROPE_FACTORS: one divisor per frequency */
    bool tie_word_embeddings;
    bool attention_bias;     /* q/k/v biases (qwen2 always; others from config) */
    bool o_bias;             /* o_proj bias (llama attention_bias applies to o_proj too) */
    bool mlp_bias;
    bool qk_norm;            /* qwen3 q_norm / k_norm over head_dim */
    int32_t rotary_dim;      /* the leading dims of a head RoPE rotates: head_dim * partial_rotary_factor */
    bool attn_output_gate;   /* qwen3.5: q_proj also yields a per-head gate, att *= sigmoid(gate) */
    bool norm_offset;        /* qwen3.5: RMSNorm weights are offsets, y = norm(x) * (1 + w) */
    int32_t mrope_section[4];/* qwen3.5: rope_parameters.mrope_section (t, h, w, 0); text positions
                              * are equal in every section, so only the GGUF export writes it */
    /* layer_types: the mixer of every layer (all attention but for hybrid models) */
    uint8_t layer_kind[CT_MAX_LAYERS];
    int32_t n_deltanet;      /* layers of kind CT_LAYER_DELTANET */
    /* Gated DeltaNet sizes (qwen3.5 linear_*): key heads, value heads, their dims, conv kernel */
    int32_t lin_k_heads, lin_v_heads, lin_k_dim, lin_v_dim, lin_conv;
    /* Value heads in llama.cpp's tiled order (a qwen35 GGUF file): value head h reads key head
     * h % lin_k_heads, where Hugging Face's grouped order reads h / (lin_v_heads / lin_k_heads). */
    bool lin_v_tiled;
    /* Where the decoder's tensors live: "model." (…ForCausalLM) or "model.language_model."
     * (Qwen3_5ForConditionalGeneration: the text model of a vision-language checkpoint). */
    char weight_prefix[24];
    bool vision_tower;       /* the checkpoint also holds a vision tower, which ctune does not load */
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

typedef struct ct_model ct_model;
/* A PEFT adapter applied at inference (ctune/adapter.h); NULL everywhere means the plain base. */
typedef struct ct_adapter ct_adapter;

const char *ct_arch_name(ct_arch arch); /* "llama", "qwen2", "qwen3" */

/* Reads DIR/config.json (+ DIR/generation_config.json when present) into *cfg.
 * model_type qwen2 | qwen3 | llama (or architectures[0] Qwen2ForCausalLM, Qwen3ForCausalLM,
 * LlamaForCausalLM). Refuses (CT_ERR_UNSUPPORTED, naming file and key): other model types,
 * hidden_act other than silu, rope_scaling with a type other than "default", "linear" or "llama3",
 * use_sliding_window true. */
ct_status ct_config_load(const char *dir, ct_config *cfg, ct_err *err);
/* The config of a GGUF model file (llama.cpp's format: architectures llama, qwen2, qwen3), from its
 * metadata as ct_model_load reads it (docs/inference.md, "GGUF models"). */
ct_status ct_config_load_gguf(const char *path, ct_config *cfg, ct_err *err);
/* One config.json file at `path` (no generation_config.json), same rules and errors. */
ct_status ct_config_load_file(const char *path, ct_config *cfg, ct_err *err);

/* Loads a Hugging Face model directory: config.json, generation_config.json (optional),
 * model.safetensors or model.safetensors.index.json + shards. Weights are mmap'd and stay in
 * their stored dtype (BF16/F16/F32); every tensor's presence and shape is checked against the
 * config (errors name the tensor and file). `dir` may also be a GGUF file (llama.cpp's format;
 * architectures llama, qwen2, qwen3; F32 / F16 / BF16 tensors mapped, Q8_0 / Q4_0 blocks as
 * quantization on load leaves them; docs/inference.md, "GGUF models"). Free with ct_model_free. */
ct_status ct_model_load(const char *dir, ct_model **out, ct_err *err);
/* Frees a model from ct_model_load: closes the weight files (m->storage), frees m->dir,
 * m->w.layers and m. For models built in memory (storage == NULL) the weight data is NOT freed
 * (the builder owns it); w.layers, dir and m itself still are (all must be malloc'd). */
void ct_model_free(ct_model *m);
const ct_config *ct_model_config(const ct_model *m);
/* RoPE inverse frequencies of cfg, head_dim / 2 values, as HF's rope init computes them in f32:
 * theta^(-2i/D); linear: divided by factor; llama3: the per-frequency rescaling of
 * _compute_llama3_parameters (wavelengths above original_max_position_embeddings /
 * low_freq_factor divided by factor, below .../high_freq_factor kept, smoothly mixed between);
 * dynamic: for seq_len (the highest position + 1 of the pass) above max_position_embeddings, the
 * base theta * (factor * seq_len / max_pos - (factor - 1))^(D / (D - 2)) (HF recomputes it per
 * forward the same way; a KV cache keeps the keys rotated as they were). */
void ct_rope_inv_freq(const ct_config *cfg, size_t seq_len, float *out);
/* The dims RoPE rotates at the start of every head: head_dim * partial_rotary_factor (0 in a
 * hand-built config means all of head_dim). ct_rope_inv_freq writes half as many values. */
static inline int32_t ct_rotary_dim(const ct_config *cfg) { return cfg->rotary_dim ? cfg->rotary_dim : cfg->head_dim; }

/* Weight quantization of the decoder's linear layers (q/k/v/o/gate/up/down projections), as
 * bitsandbytes does it for QLoRA (LlamaFactory quantization_bit): 4-bit NF4/FP4 in blocks of 64
 * (double quantization: the block absmax quantized again to 8 bits in blocks of 256), or 8-bit
 * row-wise int8 (LLM.int8 weights); embeddings, norms, biases and the LM head stay as stored.
 * Kernels dequantize blocks on the fly; no 16-bit copy of a quantized weight is kept.
 * Or, for inference (format CT_QUANT_Q8_0 / CT_QUANT_Q4_0), ggml's Q8_0 / Q4_0 blocks, the codes
 * llama.cpp's llama-quantize --pure writes, bit for bit: every 2-D weight whose rows are a
 * multiple of 32 long (the linear projections of every layer kind, the token embedding and the
 * LM head; a tied head is the quantized embedding); a weight with another row length stays as
 * stored (as ctune's GGUF export keeps it 16-bit). Decode runs integer GEMV kernels on them
 * (docs/inference.md "Quantized inference"). */
typedef enum ct_quant_format {
    CT_QUANT_BNB = 0, /* bitsandbytes, per bits / fp4 / double_quant */
    CT_QUANT_Q8_0,    /* ggml Q8_0 (bits, fp4, double_quant unused) */
    CT_QUANT_Q4_0,    /* ggml Q4_0 */
} ct_quant_format;
typedef struct ct_quant_opts {
    int bits;          /* 0: none, 4, 8 (CT_QUANT_BNB) */
    bool fp4;          /* 4-bit: FP4 instead of NF4 */
    bool double_quant; /* 4-bit: double quantization (LlamaFactory's default: true) */
    ct_quant_format format;
} ct_quant_opts;
/* Quantizes m's weights in place (bit-identical to bitsandbytes' quantize_4bit / Int8Params, or
 * to ggml's reference quantizers). A model loaded pre-quantized (a *-bnb-4bit checkpoint) is left
 * as it is when bnb is asked, and refused for Q8_0 / Q4_0. */
ct_status ct_model_quantize(ct_model *m, const ct_quant_opts *q, ct_err *err);
/* Copies m's weights (quantized or not; bitsandbytes-bound ones excepted) into one buffer in the
 * order a decode step reads them, so decode streams memory front to back (src/model/decode_pack.c;
 * the same values). For inference: ct_runtime_open calls it after quantization and before an
 * adapter is attached. Once per model; the views' data pointers change. */
ct_status ct_model_pack_decode(ct_model *m, ct_err *err);
/* "q8_0" / "q4_0" -> the format (false for any other name). */
bool ct_quant_format_parse(const char *name, ct_quant_format *out);
/* The dtype of m's linear weights: NF4 / FP4 / INT8ROW / Q8_0 / Q4_0 when quantized (loaded
 * pre-quantized or by ct_model_quantize), else the stored dtype. */
ct_dtype ct_model_linear_dtype(const ct_model *m);
/* True when m's linear weights are quantized (ct_model_linear_dtype is a quantized dtype). */
bool ct_model_is_quantized(const ct_model *m);
/* Export options of a Hugging Face model directory (ct_model_export, ct_adapter_export_ex). */
typedef struct ct_export_opts {
    ct_dtype dtype;           /* stored dtype of float weights: BF16 / F16 / F32; CT_DTYPE_COUNT =
                                 the model's own */
    uint64_t max_shard_bytes; /* shard size (transformers' max_shard_size; LlamaFactory export_size
                                 GB = 10^9 bytes); 0 = 5 GB */
} ct_export_opts;
/* Re-exports the model as loaded (no adapter; LlamaFactory's export of a full model): config.json
 * of model_dir with the dtype keys updated, the weights in o->dtype sharded at o->max_shard_bytes,
 * generation_config.json and the tokenizer files copied from model_dir. Atomic like
 * ct_adapter_export. A quantized model is refused (CT_ERR_UNSUPPORTED): its float weights would
 * be dequantized copies, where LlamaFactory saves the quantized ones. */
ct_status ct_model_export(const ct_model *m, const char *model_dir, const char *out_dir, const ct_export_opts *o,
                          ct_err *err);
/* ---- GGUF (llama.cpp / Ollama; docs/export.md) ---- */
typedef enum ct_gguf_dtype {
    CT_GGUF_DTYPE_F32 = 0, CT_GGUF_DTYPE_F16, CT_GGUF_DTYPE_BF16, CT_GGUF_DTYPE_Q8_0, CT_GGUF_DTYPE_Q4_0
} ct_gguf_dtype;
/* "f32" | "f16" | "bf16" | "q8_0" | "q4_0" (also upper case, "float16", ...); 0 ok, -1 unknown. */
int ct_gguf_dtype_parse(const char *s, ct_gguf_dtype *out);
const char *ct_gguf_dtype_name(ct_gguf_dtype d); /* "f32", "q8_0", ... */
typedef struct ct_gguf_export_opts {
    ct_gguf_dtype dtype;       /* 2-D weights; 1-D tensors stay F32 */
    const char *tokenizer_dir; /* tokenizer.json (+ tokenizer_config.json); NULL: the model directory */
    const char *name;          /* general.name (NULL: the model directory's base name) */
} ct_gguf_export_opts;
/* Writes out_dir/model.gguf (GGUF v3 as llama.cpp's convert_hf_to_gguf.py writes it: metadata,
 * tokenizer, llama.cpp tensor names, llama's q/k rows permuted) and out_dir/Modelfile (Ollama:
 * FROM ./model.gguf, PARAMETER stop). out_dir is created when missing; each file is written
 * atomically. qwen3_5 and rope scaling types other than linear / llama3 are refused. */
ct_status ct_model_export_gguf(const ct_model *m, const char *model_dir, const char *out_dir,
                               const ct_gguf_export_opts *o, ct_err *err);
/* The weight with HF parameter name `name` ("model.layers.0.self_attn.q_proj.weight",
 * "lm_head.weight": the embedding's view when tied), or NULL when the model has none. */
const ct_tensor *ct_model_tensor(const ct_model *m, const char *name);
/* Number of parameters (lm_head counted once when tied). */
int64_t ct_model_param_count(const ct_model *m);
/* Bytes of weights in their stored dtype. */
size_t ct_model_weight_bytes(const ct_model *m);
/* Memory to run inference over ctx_len tokens: weights + f32 KV cache + prefill activations
 * for a ctx_len-token chunk + one chunk of LM-head logits. */
size_t ct_model_memory_estimate(const ct_model *m, size_t ctx_len);

/* ---- Forward (f32 activations; weights read in their stored dtype). ----
 * Every function runs in a compute context (ctune/ctx.h) and takes an optional adapter `ad`
 * (ctune/adapter.h; NULL: the base model): LoRA runs unmerged through the same linear-with-LoRA
 * path as training, modules_to_save tensors replace the base's, and a prompt-tuning adapter's
 * virtual tokens come first: they fill the first positions of an empty KV cache (or of a
 * cache-less pass) and the ids follow. One base model can serve several adapters at once. */

/* KV cache of one sequence: f32 keys/values for every attention layer, positions 0..capacity-1
 * (a prompt-tuning adapter's virtual tokens count as positions), and the conv and recurrent
 * states of Gated DeltaNet layers. */
typedef struct ct_kv_cache ct_kv_cache;
ct_status ct_kv_cache_init(ct_kv_cache **out, const ct_config *cfg, size_t capacity, ct_err *err);
void ct_kv_cache_free(ct_kv_cache *kv);
void ct_kv_cache_reset(ct_kv_cache *kv);       /* length back to 0 */
size_t ct_kv_cache_len(const ct_kv_cache *kv); /* positions already in the cache */
size_t ct_kv_cache_capacity(const ct_kv_cache *kv);
/* Drops cached positions >= len (no-op when len >= current length). A model with Gated DeltaNet
 * layers cannot rewind their recurrent state: its cache is reset to length 0 instead (callers
 * read ct_kv_cache_len afterwards and run what is no longer cached). */
void ct_kv_cache_truncate(ct_kv_cache *kv, size_t len);
/* Enlarges the capacity to at least `capacity` positions, keeping the cached ones. */
ct_status ct_kv_cache_grow(ct_kv_cache *kv, size_t capacity, ct_err *err);
/* Makes dst hold what src holds (keys/values and recurrent states of its positions, copied,
 * not recomputed), with room for at least `extra` more positions. Both of the same model. */
ct_status ct_kv_cache_copy(ct_kv_cache *dst, const ct_kv_cache *src, size_t extra, ct_err *err);

/* Runs T token ids after what kv holds and appends their keys/values (prefill when T > 1,
 * decode when T == 1). kv may be NULL: a fresh sequence with no cache kept. With a
 * prompt-tuning adapter and an empty (or no) cache, its virtual tokens run first (the cache then
 * holds them too; the cache grows for them). Outputs, each optional (NULL to skip), cover the T
 * ids only:
 *   hidden [T, C]   hidden states after the final norm (input of lm_head);
 *   logits [T, V]   logits of every position (only for small T*V; prefer logits_last);
 *   logits_last [V] logits of the last position. */
ct_status ct_model_forward(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, ct_kv_cache *kv,
                           const int32_t *ids, size_t T, float *hidden, float *logits,
                           float *logits_last, ct_err *err);

/* Batched decode: B sequences, each with its own cache kv[b] (every cache already prefilled,
 * e.g. by ct_model_forward), advance by T ids each (ids[b*T .. b*T+T)); logits_last[b*V ..]
 * receives row b's last logits. One pass: every weight is read once for the B*T tokens. */
ct_status ct_model_forward_batch(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad,
                                 ct_kv_cache *const *kv, size_t B, const int32_t *ids, size_t T,
                                 float *logits_last, ct_err *err);

/* As ct_model_forward_batch, with the logits of chosen positions: logits[i*V ..] receives those
 * of flat row rows[i] = b*T + t (sequence b's t-th id), i < n_rows. Rows may be right-padded: a
 * position's logits depend only on its own and earlier ids (and on what kv[b] held). Always in
 * the exact precision (the batch precision is for decode steps of ct_model_forward_batch). */
ct_status ct_model_forward_batch_rows(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad,
                                      ct_kv_cache *const *kv, size_t B, const int32_t *ids, size_t T,
                                      const size_t *rows, size_t n_rows, float *logits, ct_err *err);

/* Sum of next-token negative log-likelihoods -log p(ids[t+1] | ids[..t]) over t = 0..T-2 (f64
 * sums) and the number of predicted tokens (T-1, or 0 when T < 2). With a prompt-tuning adapter
 * the last virtual token predicts ids[0] too (PEFT's loss with labels = input_ids): T predicted.
 * The LM head and log-softmax run in chunks of positions ([T, V] logits never exist): the same
 * fused cross-entropy the training step uses. */
ct_status ct_model_nll(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, const int32_t *ids,
                       size_t T, double *nll_sum, size_t *n_predicted, ct_err *err);
/* The same sums computed token by token through the KV-cache decode path (one token per forward
 * step, what generation runs: with ggml-quantized weights, the integer GEMV with 8-bit
 * activations, src/ops/cpu/gemv_quant.c), log-softmax in f64. A prompt-tuning adapter is refused
 * (CT_ERR_UNSUPPORTED). */
ct_status ct_model_nll_decode(ct_ctx *ctx, const ct_model *m, const ct_adapter *ad, const int32_t *ids,
                              size_t T, double *nll_sum, size_t *n_predicted, ct_err *err);

/* ---- A model initialised from scratch (`ctune init-model`). ---- */
typedef struct ct_init_model_opts {
    const char *arch;             /* "qwen3" (also "qwen2", "llama") */
    int32_t hidden_size, num_layers, num_heads, num_kv_heads, intermediate_size, head_dim;
    /* qwen3_5_text's Gated DeltaNet: key heads, value heads (a multiple), their dim; 0: num_heads,
     * the key heads, head_dim */
    int32_t linear_key_heads, linear_value_heads, linear_head_dim;
    int32_t vocab_size;           /* 0: from the tokenizer (rounded up to a multiple of 64) */
    int32_t max_position_embeddings; /* 0: 4096 */
    double rope_theta;            /* 0: 1e6 */
    double rms_norm_eps;          /* 0: 1e-6 */
    double initializer_range;     /* 0: 0.02 */
    bool tie_word_embeddings;
    const char *tokenizer_dir;    /* tokenizer files copied from here; vocab + eos ids from it */
    const char *out_dir;
    bool overwrite;               /* replace the files of a non-empty out_dir (CLI --force); false:
                                     refused, so a pretrained model is never replaced by accident */
    uint64_t seed;
    const char *dtype;            /* "bf16" (default) | "f32" */
} ct_init_model_opts;

void ct_init_model_opts_default(ct_init_model_opts *o);
/* Writes a randomly initialised HF model directory: config.json, model.safetensors,
 * generation_config.json (eos = <|im_end|> and <|endoftext|> when the tokenizer has them),
 * tokenizer files. HF _init_weights: linear and embedding weights ~ N(0, initializer_range),
 * biases 0, RMSNorm weights 1 (our seeded RNG, not torch's). 0 selects a default; a negative,
 * NaN or infinite value is an error (never silently replaced by the default), as is a vocab
 * size below the tokenizer's. */
ct_status ct_init_model(const ct_init_model_opts *o, ct_err *err);

/* ---- LLaMA Pro block expansion (`ctune llama-pro`, LlamaFactory scripts/llama_pro.py) ---- */
typedef struct ct_llama_pro_opts {
    const char *model_dir;        /* the model to expand (llama / qwen2 / qwen3 layouts) */
    const char *out_dir;          /* a new HF model directory */
    int32_t num_expand;           /* blocks to add; the layer count must be a multiple of it */
    uint64_t max_shard_bytes;     /* 0: "5GB" (HF: 5 * 10^9) */
} ct_llama_pro_opts;

/* Grows an L-layer model to L + num_expand layers: after every L / num_expand original layers
 * comes a copy of the last of them whose o_proj and down_proj (weights and biases) are zero, so
 * the new block starts as the identity and the expanded model computes what the original did.
 * Writes config.json (num_hidden_layers, and layer_types when present, updated), the weights in
 * the model's dtype (sharded above max_shard_bytes), generation_config.json and the tokenizer
 * files. Train it with finetuning_type freeze, freeze_trainable_layers num_expand and
 * use_llama_pro true. Errors: the layer count not a multiple of num_expand, a quantized or
 * hybrid (Gated DeltaNet) model, the usual loading / writing errors. */
ct_status ct_llama_pro_expand(const ct_llama_pro_opts *o, ct_err *err);

#ifdef __cplusplus
}
#endif
#endif
