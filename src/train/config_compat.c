/* LlamaFactory / HF keys without a ctune field: harmless, guarded, optim (config_compat.h).
 * Key names and defaults: LlamaFactory src/llamafactory/hparams/{model,data,finetuning,
 * generating,training}_args.py and transformers' TrainingArguments. */
#include "train/config_compat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cfgfile.h"

typedef struct harmless_key {
    const char *name;
    bool flag; /* a boolean */
} harmless_key;

/* Change nothing ctune computes or writes for a text model on one CPU process. */
static const harmless_key HARMLESS[] = {
    /* process, hardware, speed */
    {"do_train", true}, {"do_eval", true}, {"trust_remote_code", true}, {"ddp_timeout", false},
    {"ddp_find_unused_parameters", true}, {"ddp_backend", false}, {"local_rank", false},
    {"preprocessing_num_workers", false}, {"dataloader_num_workers", false},
    {"dataloader_pin_memory", true}, {"dataloader_persistent_workers", true}, {"data_shared_file_system", true},
    {"flash_attn", false}, {"torch_compile", true}, {"tf32", true},
    {"enable_liger_kernel", true}, {"use_unsloth", true}, {"use_unsloth_gc", true}, {"use_reentrant_gc", true},
    {"gradient_checkpointing_kwargs", false}, {"upcast_layernorm", true}, {"upcast_lmhead_output", true},
    {"low_cpu_mem_usage", true}, {"use_fast_tokenizer", true}, {"use_cache", true}, {"use_kv_cache", true},
    {"use_cpu", true}, {"no_cuda", true}, {"full_determinism", true}, {"average_tokens_across_devices", true},
    {"bf16_full_eval", true}, {"fp16_full_eval", true}, {"quantization_device_map", false},
    {"moe_aux_loss_coef", false}, {"print_param_status", true},
    /* where files come from and go (ctune reads local directories, writes output_dir) */
    {"cache_dir", false}, {"model_revision", false}, {"hf_hub_token", false}, {"ms_hub_token", false},
    {"om_hub_token", false}, {"hub_model_id", false}, {"hub_token", false}, {"offload_folder", false},
    {"logging_dir", false}, {"save_only_model", true}, {"save_on_each_node", true},
    /* logging and evaluation output, not the trained weights */
    {"disable_tqdm", true}, {"logging_first_step", true}, {"logging_nan_inf_filter", true},
    {"include_num_input_tokens_seen", false}, {"include_tokens_per_second", true},
    {"include_effective_tokens_per_second", true}, {"eval_on_each_dataset", true}, {"eval_accumulation_steps", false},
    {"metric_for_best_model", false}, {"greater_is_better", true}, {"compute_accuracy", true},
    {"remove_unused_columns", true}, {"length_column_name", false}, {"buffer_size", false},
    /* multimodal settings: no effect on text data and text models */
    {"media_dir", false}, {"image_max_pixels", false}, {"image_min_pixels", false}, {"image_do_pan_and_scan", true},
    {"video_max_pixels", false}, {"video_min_pixels", false}, {"video_fps", false}, {"video_maxlen", false},
    {"audio_sampling_rate", false}, {"use_audio_in_video", true}, {"freeze_vision_tower", true},
    {"freeze_multi_modal_projector", true},
    /* inference, export and generation keys in a training config (LlamaFactory parses them too) */
    {"infer_backend", false}, {"infer_dtype", false}, {"export_dir", false}, {"export_size", false},
    {"export_device", false}, {"export_legacy_format", true}, {"export_quantization_bit", false},
    {"export_quantization_dataset", false}, {"export_quantization_nsamples", false},
    {"export_quantization_maxlen", false}, {"export_hub_model_id", false}, {"do_sample", true},
    {"temperature", false}, {"top_p", false}, {"top_k", false}, {"num_beams", false}, {"max_length", false},
    {"max_new_tokens", false}, {"repetition_penalty", false}, {"length_penalty", false},
    {"skip_special_tokens", true}, {"eval_num_beams", false},
    /* preference-training keys: their stages (dpo, kto, rm, ppo) are refused by `stage` */
    {"pref_beta", false}, {"pref_ftx", false}, {"pref_loss", false}, {"pref_bco_weight", false},
    {"dpo_label_smoothing", false}, {"simpo_gamma", false}, {"kto_chosen_weight", false},
    {"kto_rejected_weight", false}, {"reward_model", false}, {"reward_model_type", false},
};
#define N_HARMLESS (sizeof HARMLESS / sizeof HARMLESS[0])

typedef struct guarded_key {
    const char *name;
    bool flag;
    const char *ok;  /* the harmless value: "false", "true", "null" or a literal ("0", "steps") */
    const char *why; /* what any other value would need */
} guarded_key;

static const guarded_key GUARDED[] = {
    {"do_predict", true, "false", "predictions are not written by `ctune train` (use ctune generate-batch)"},
    {"predict_with_generate", true, "false", "generation metrics (BLEU/ROUGE) are not computed; evaluation reports the loss"},
    {"streaming", true, "false", "streamed datasets are not implemented (ctune reads, shuffles and caches whole datasets)"},
    {"train_from_scratch", true, "false", "use `ctune init-model` to make a randomly initialised model, then train it"},
    {"disable_shuffling", true, "false", "training always shuffles (HF's sampler order)"},
    {"data_seed", false, "null", "the data order follows `seed`"},
    {"group_by_length", true, "false", "length-grouped batches are not implemented"},
    {"auto_find_batch_size", true, "false", "not implemented (ctune estimate shows what fits)"},
    {"label_smoothing_factor", false, "0", "label smoothing is not implemented"},
    {"load_best_model_at_end", true, "false", "the final model is the last step's, not the best checkpoint's"},
    {"early_stopping_steps", false, "null", "early stopping is not implemented"},
    {"logging_strategy", false, "steps", "only logging every logging_steps is implemented"},
    {"push_to_hub", true, "false", "ctune does not upload"},
    {"save_safetensors", true, "true", "ctune writes safetensors only"},
    {"ignore_pad_token_for_loss", true, "true", "padding is never trained"},
    {"resize_vocab", true, "false", "resizing the embeddings to the tokenizer is not implemented"},
    {"split_special_tokens", true, "false", "special tokens in the text are always read as single tokens"},
    {"add_tokens", false, "null", "adding tokens to the vocabulary is not implemented"},
    {"add_special_tokens", false, "null", "adding tokens to the vocabulary is not implemented"},
    {"new_special_tokens_config", false, "null", "adding tokens to the vocabulary is not implemented"},
    {"rope_scaling", false, "null", "changing the RoPE scaling for training is not implemented (set it in config.json)"},
    {"shift_attn", true, "false", "LongLoRA shift short attention is not implemented"},
    {"mixture_of_depths", false, "null", "mixture-of-depths is not implemented"},
    {"freeze_language_model", true, "false", "multimodal freezing is not implemented"},
    {"lora_bias", true, "false", "LoRA bias terms are not implemented"},
    {"use_adam_mini", true, "false", "Adam-mini is not implemented (AdamW is)"},
    {"use_muon", true, "false", "Muon is not implemented (AdamW is)"},
    {"use_dft_loss", true, "false", "the DFT loss is not implemented"},
    {"use_asft_loss", true, "false", "the ASFT loss is not implemented"},
    {"use_eaft_loss", true, "false", "the EAFT loss is not implemented"},
    {"adapter_folder", false, "null", "adapters are read from adapter_name_or_path itself"},
};
#define N_GUARDED (sizeof GUARDED / sizeof GUARDED[0])

static const harmless_key *find_harmless(const char *key) {
    for (size_t i = 0; i < N_HARMLESS; i++)
        if (!strcmp(HARMLESS[i].name, key)) return &HARMLESS[i];
    return NULL;
}

static const guarded_key *find_guarded(const char *key) {
    for (size_t i = 0; i < N_GUARDED; i++)
        if (!strcmp(GUARDED[i].name, key)) return &GUARDED[i];
    return NULL;
}

bool ct_compat_known(const char *key) { return find_harmless(key) || find_guarded(key); }

bool ct_compat_is_flag(const char *key) {
    const harmless_key *h = find_harmless(key);
    const guarded_key *g = find_guarded(key);
    return (h && h->flag) || (g && g->flag);
}

/* Is v the guarded key's harmless value? Booleans by meaning, numbers by value, null as unset
 * (the default is the harmless value for every guarded key). */
static bool harmless_value(const guarded_key *g, const char *v) {
    if (ct_cfg_is_null(v)) return true;
    bool b;
    if (!strcmp(g->ok, "false") || !strcmp(g->ok, "true"))
        return !ct_cfg_parse_bool(v, &b) && b == !strcmp(g->ok, "true");
    if (!strcmp(g->ok, "0")) {
        char *end;
        double x = strtod(v, &end);
        return end != v && !*end && x == 0;
    }
    return !strcmp(g->ok, v);
}

ct_status ct_compat_check(const char *key, const char *value, const char *where, ct_err *err) {
    const guarded_key *g = find_guarded(key);
    if (g && !harmless_value(g, value))
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: key '%s': '%s' is not supported: %s", where, key, value, g->why);
    if (!g && !find_harmless(key)) return ct_err_set(err, CT_ERR_ARG, "%s: unknown key '%s'", where, key);
    return CT_OK;
}

/* ---------------------------------------------------------------- optim */

/* torch.optim.AdamW's update in each: the fused / foreach kernels, apex's FusedAdam, bitsandbytes'
 * 32-bit (paged) AdamW (its step folds the bias corrections into lr and eps, the same algebra),
 * and adamw_hf, which transformers >= 4.50 maps to torch.optim.AdamW. */
static const char *const ADAMW[] = {"adamw_torch", "adamw_torch_fused", "adamw_hf", "adamw_apex_fused",
                                    "adamw_torch_xla", "adamw_torch_npu_fused", "paged_adamw_32bit", NULL};
/* AdamW with quantized optimizer states (bitsandbytes' blockwise 8-bit, torchao's 8/4-bit). */
static const char *const ADAMW_LOWBIT[] = {"adamw_8bit", "adamw_bnb_8bit", "paged_adamw_8bit", "adamw_torch_8bit",
                                           "adamw_torch_4bit", NULL};

static bool in_list(const char *const *l, const char *s) {
    for (; *l; l++)
        if (!strcmp(*l, s)) return true;
    return false;
}

ct_status ct_compat_optim_check(const char *v, const char *where, ct_err *err) {
    if (ct_cfg_is_null(v) || in_list(ADAMW, v) || in_list(ADAMW_LOWBIT, v)) return CT_OK;
    return ct_err_set(err, CT_ERR_UNSUPPORTED,
                      "%s: key 'optim': '%s' is not implemented (ctune trains with AdamW: adamw_torch, "
                      "adamw_torch_fused, paged_adamw_32bit, or the 8-bit names, which run 32-bit AdamW)",
                      where, v);
}

const char *ct_compat_optim_note(const char *optim, char *buf, size_t n) {
    if (!optim || !in_list(ADAMW_LOWBIT, optim)) return NULL;
    snprintf(buf, n,
             "optim '%s': runs 32-bit AdamW (torch.optim.AdamW); low-bit optimizer states are not implemented, "
             "so the updates differ slightly from a %s run (no quantisation error in m and v) and the states "
             "take 8 bytes per trainable parameter instead of about 2",
             optim, strstr(optim, "torch") ? "torchao" : "bitsandbytes");
    return buf;
}
