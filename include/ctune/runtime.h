/* ctune — a ready-to-use model: base model + optional PEFT adapter + tokenizer + chat template +
 * generation settings + compute context, opened from directories in one call. The CLI's
 * generate / chat / generate-batch / eval-loss, the evaluation suite and a server all run
 * through it, so how a prompt is encoded, which template and stop tokens apply and how an adapter
 * is attached are decided once, here.
 *
 *   ct_runtime_opts o = ct_runtime_opts_default();
 *   o.model_dir = "/models/Qwen2.5-0.5B-Instruct";  o.adapter_dir = "out/lora";
 *   ct_runtime *rt;  ct_runtime_open(&o, &rt, &err);
 *   ct_ids ids = {0}, out = {0};
 *   ct_runtime_encode(rt, "Hello", 5, &ids, &err);
 *   ct_gen_params p;  ct_runtime_gen_params(rt, false, &p);
 *   ct_runtime_generate(rt, ids.data, ids.n, &p, &out, NULL, &err);
 *   ct_runtime_free(rt); */
#ifndef CTUNE_RUNTIME_H
#define CTUNE_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/adapter.h"
#include "ctune/ctx.h"
#include "ctune/data.h"
#include "ctune/err.h"
#include "ctune/generate.h"
#include "ctune/model.h"
#include "ctune/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ct_runtime ct_runtime;

typedef struct ct_runtime_opts {
    const char *model_dir;     /* required: HF model directory */
    const char *adapter_dir;   /* optional PEFT adapter (LoRA or prompt tuning) */
    const char *template_name; /* chat template; NULL: detected from the tokenizer's chat_template
                                  (when a chat template is first needed) */
    int threads;               /* compute threads; <= 0: all cores */
    bool merge_adapter;        /* LoRA merged into f32 copies at load instead of run unmerged */
    ct_precision precision;    /* CT_PRECISION_F32 (default) or the opt-in CT_PRECISION_BF16 */
    ct_batch_precision batch_precision; /* batched decode steps: CT_BATCH_EXACT (default) or the
                                           opt-in CT_BATCH_BF16DOT (ctune/ctx.h) */
    ct_quant_opts quant;       /* quantize the base's linear layers on load (bits 0: no) */
} ct_runtime_opts;

ct_runtime_opts ct_runtime_opts_default(void);

/* Loads the model and the adapter (errors name the adapter's files). The tokenizer is loaded on
 * first use: the model directory's, else the adapter directory's (trainers copy it next to
 * adapters); a missing tokenizer only fails the functions that need text. */
ct_status ct_runtime_open(const ct_runtime_opts *o, ct_runtime **out, ct_err *err);
/* A runtime over objects the caller already holds (a model built in memory, a tokenizer loaded
 * elsewhere): borrowed, so they must outlive the runtime and ct_runtime_free leaves them. ad and
 * tok may be NULL; o supplies template_name, threads and precision (its directories are ignored). */
ct_status ct_runtime_borrow(const ct_model *m, const ct_adapter *ad, const ct_tokenizer *tok,
                            const ct_runtime_opts *o, ct_runtime **out, ct_err *err);
void ct_runtime_free(ct_runtime *rt);

const ct_model *ct_runtime_model(const ct_runtime *rt);
const ct_adapter *ct_runtime_adapter(const ct_runtime *rt); /* NULL without one */
ct_ctx *ct_runtime_ctx(const ct_runtime *rt);
/* The tokenizer (loaded on the first call); NULL when neither directory has one, and then *why
 * (optional) gets the model directory's error. */
const ct_tokenizer *ct_runtime_tokenizer(ct_runtime *rt, const char **why);
/* The chat template (opts.template_name, else detected), resolved once. */
ct_status ct_runtime_template(ct_runtime *rt, const ct_template **out, ct_err *err);

/* Generation defaults: generation_config.json (HF GenerationConfig defaults when absent), the
 * model's eos ids, the tokenizer (for stop strings), and for chat use (`chat` true) the
 * template's end-of-turn token too (ct_runtime_chat_stops). */
ct_status ct_runtime_gen_params(ct_runtime *rt, bool chat, ct_gen_params *p, ct_err *err);
/* Adds the chat template's end-of-turn token ("<|im_end|>", "<|eot_id|>", ...) to p's eos ids. */
ct_status ct_runtime_chat_stops(ct_runtime *rt, ct_gen_params *p, ct_err *err);

/* A plain prompt as HF `tokenizer(text)` encodes it (ct_tokenizer_encode_text). Appends. */
ct_status ct_runtime_encode(ct_runtime *rt, const char *text, size_t len, ct_ids *out, ct_err *err);
/* A conversation rendered with the chat template (opts: add_generation_prompt, enable_thinking,
 * ...) and encoded without extra special tokens (the template text carries them). Appends. */
ct_status ct_runtime_encode_chat(ct_runtime *rt, const ct_conv *conv, const ct_render_opts *ro, ct_ids *out,
                                 ct_err *err);

/* ct_generate / ct_model_nll (/ _decode) with the runtime's model, adapter and context. */
ct_status ct_runtime_generate(ct_runtime *rt, const int32_t *prompt, size_t n_prompt, const ct_gen_params *p,
                              ct_ids *out, ct_gen_stop *stop, ct_err *err);
/* ct_generate_batch with the runtime's model, adapter and context (generate-batch, evaluation). */
ct_status ct_runtime_generate_batch(ct_runtime *rt, const int32_t *const *prompts, const size_t *n_prompts, size_t n,
                                    const ct_gen_params *p, ct_ids *outs, ct_gen_stop *stops, ct_err *err);
ct_status ct_runtime_nll(ct_runtime *rt, const int32_t *ids, size_t T, double *nll_sum, size_t *n_predicted,
                         ct_err *err);
ct_status ct_runtime_nll_decode(ct_runtime *rt, const int32_t *ids, size_t T, double *nll_sum,
                                size_t *n_predicted, ct_err *err);

#ifdef __cplusplus
}
#endif
#endif
