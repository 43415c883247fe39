/* YAML training config with LlamaFactory keys (include/ctune/config.h). Table-driven: every key
 * has a type, a field and a default given in text form, so YAML values, CLI overrides and
 * defaults go through the same typed parser (base/cfgfile.h). Keys without a field of their own
 * (harmless, guarded, optim) are sorted in train/config_compat.c. */
#include "ctune/config.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cfgfile.h"
#include "base/str.h"
#include "ctune/ctx.h"
#include "ctune/data.h"
#include "io/pyjson.h"
#include "train/config_compat.h"
#include "train/config_methods.h"
#include "train/config_peft.h"

typedef ct_cfg_key key_def;
#define K_STR CT_CFG_STR
#define K_INT CT_CFG_INT
#define K_DBL CT_CFG_DBL
#define K_BOOL CT_CFG_BOOL
#define K_LIST CT_CFG_LIST
#define K_THINK CT_CFG_THINK

#define F(field) offsetof(ct_train_config, field)
static const key_def KEYS[] = {
    /* model */
    {"model_name_or_path", K_STR, F(model_name_or_path), NULL, NULL},
    {"adapter_name_or_path", K_STR, F(adapter_name_or_path), NULL, NULL},
    {"stage", K_STR, F(stage), "sft", "sft|pt"},
    /* data */
    {"template", K_STR, F(template_name), NULL, NULL},
    {"dataset", K_LIST, F(dataset), NULL, NULL},
    {"eval_dataset", K_LIST, F(eval_dataset), NULL, NULL},
    {"dataset_dir", K_STR, F(dataset_dir), "data", NULL},
    {"cutoff_len", K_INT, F(cutoff_len), "2048", NULL},
    {"max_samples", K_INT, F(max_samples), "-1", NULL},
    {"val_size", K_DBL, F(val_size), "0", NULL},
    {"packing", K_BOOL, F(packing), "false", NULL},
    {"neat_packing", K_BOOL, F(neat_packing), "false", NULL},
    {"train_on_prompt", K_BOOL, F(train_on_prompt), "false", NULL},
    {"mask_history", K_BOOL, F(mask_history), "false", NULL},
    {"enable_thinking", K_THINK, F(enable_thinking), "true", NULL},
    {"preserve_thinking", K_BOOL, F(preserve_thinking), "false", NULL},
    {"mix_strategy", K_STR, F(mix_strategy), "concat", "concat|interleave_under|interleave_over"},
    {"interleave_probs", K_LIST, F(interleave_probs), NULL, NULL},
    {"default_system", K_STR, F(default_system), NULL, NULL},
    {"on_bad_sample", K_STR, F(on_bad_sample), "skip", "skip|fail"},
    {"think_per_turn", K_BOOL, F(think_per_turn), "false", NULL},
    {"tool_format", K_STR, F(tool_format), NULL, NULL},
    {"preprocessing_batch_size", K_INT, F(preprocessing_batch_size), "1000", NULL},
    {"tokenized_path", K_STR, F(tokenized_path), NULL, NULL},
    {"overwrite_cache", K_BOOL, F(overwrite_cache), "false", NULL},
    /* method */
    {"finetuning_type", K_STR, F(finetuning_type), "lora", "full|freeze|lora|prompt"},
    {"freeze_trainable_layers", K_INT, F(freeze_trainable_layers), "2", NULL},
    {"freeze_trainable_modules", K_LIST, F(freeze_trainable_modules), "all", NULL},
    {"freeze_extra_modules", K_LIST, F(freeze_extra_modules), NULL, NULL},
    {"lora_rank", K_INT, F(lora_rank), "8", NULL},
    {"lora_alpha", K_DBL, F(lora_alpha), "-1", NULL},
    {"lora_dropout", K_DBL, F(lora_dropout), "0", NULL},
    {"lora_target", K_LIST, F(lora_target), "all", NULL},
    {"additional_target", K_LIST, F(additional_target), NULL, NULL},
    {"use_rslora", K_BOOL, F(use_rslora), "false", NULL},
    {"use_dora", K_BOOL, F(use_dora), "false", NULL},
    {"loraplus_lr_ratio", K_DBL, F(loraplus_lr_ratio), "0", NULL},
    {"loraplus_lr_embedding", K_DBL, F(loraplus_lr_embedding), "1e-6", NULL},
    {"pissa_init", K_BOOL, F(pissa_init), "false", NULL},
    {"pissa_iter", K_INT, F(pissa_iter), "16", NULL},
    {"pissa_convert", K_BOOL, F(pissa_convert), "false", NULL},
    {"create_new_adapter", K_BOOL, F(create_new_adapter), "false", NULL},
    {"neftune_noise_alpha", K_DBL, F(neftune_noise_alpha), "0", NULL},
    {"num_virtual_tokens", K_INT, F(num_virtual_tokens), "20", NULL},
    {"prompt_tuning_init", K_STR, F(prompt_tuning_init), "random", "random|vocab|text"},
    {"prompt_tuning_init_text", K_STR, F(prompt_tuning_init_text), NULL, NULL},
    {"use_badam", K_BOOL, F(use_badam), "false", NULL},
    {"badam_mode", K_STR, F(badam_mode), "layer", "layer|ratio"},
    {"badam_start_block", K_INT, F(badam_start_block), "-1", NULL},
    {"badam_switch_mode", K_STR, F(badam_switch_mode), "ascending", "ascending|descending|random|fixed"},
    {"badam_switch_interval", K_INT, F(badam_switch_interval), "50", NULL},
    {"badam_update_ratio", K_DBL, F(badam_update_ratio), "0.05", NULL},
    {"badam_mask_mode", K_STR, F(badam_mask_mode), "adjacent", "adjacent|scatter"},
    {"badam_verbose", K_INT, F(badam_verbose), "0", NULL},
    {"use_llama_pro", K_BOOL, F(use_llama_pro), "false", NULL},
    {"use_galore", K_BOOL, F(use_galore), "false", NULL},
    {"galore_target", K_LIST, F(galore_target), "all", NULL},
    {"galore_rank", K_INT, F(galore_rank), "16", NULL},
    {"galore_update_interval", K_INT, F(galore_update_interval), "200", NULL},
    {"galore_scale", K_DBL, F(galore_scale), "2.0", NULL},
    {"galore_proj_type", K_STR, F(galore_proj_type), "std", "std|reverse_std|right|left|full"},
    {"galore_layerwise", K_BOOL, F(galore_layerwise), "false", NULL},
    /* training */
    {"learning_rate", K_DBL, F(learning_rate), "5e-5", NULL},
    {"num_train_epochs", K_DBL, F(num_train_epochs), "3.0", NULL},
    {"max_steps", K_INT, F(max_steps), "-1", NULL},
    {"per_device_train_batch_size", K_INT, F(per_device_train_batch_size), "8", NULL},
    {"per_device_eval_batch_size", K_INT, F(per_device_eval_batch_size), "8", NULL},
    {"gradient_accumulation_steps", K_INT, F(gradient_accumulation_steps), "1", NULL},
    {"lr_scheduler_type", K_STR, F(lr_scheduler_type), "linear",
     "linear|cosine|constant|constant_with_warmup|cosine_with_min_lr"},
    {"min_lr_rate", K_DBL, F(min_lr_rate), "0", NULL},
    {"warmup_ratio", K_DBL, F(warmup_ratio), "0", NULL},
    {"warmup_steps", K_INT, F(warmup_steps), "0", NULL},
    {"weight_decay", K_DBL, F(weight_decay), "0", NULL},
    {"adam_beta1", K_DBL, F(adam_beta1), "0.9", NULL},
    {"adam_beta2", K_DBL, F(adam_beta2), "0.999", NULL},
    {"adam_epsilon", K_DBL, F(adam_epsilon), "1e-8", NULL},
    {"optim", K_STR, F(optim), "adamw_torch", NULL},
    {"max_grad_norm", K_DBL, F(max_grad_norm), "1.0", NULL},
    {"seed", K_INT, F(seed), "42", NULL},
    {"gradient_checkpointing", K_BOOL, F(gradient_checkpointing), "false", NULL},
    {"bf16", K_BOOL, F(bf16), "false", NULL},
    {"pure_bf16", K_BOOL, F(pure_bf16), "false", NULL},
    {"fp16", K_BOOL, F(fp16), "false", NULL},
    /* quantization (QLoRA: bitsandbytes semantics) */
    {"quantization_bit", K_INT, F(quantization_bit), NULL, "4|8"},
    {"quantization_method", K_STR, F(quantization_method), "bnb", "bnb"},
    {"quantization_type", K_STR, F(quantization_type), "nf4", "nf4|fp4"},
    {"double_quantization", K_BOOL, F(double_quantization), "true", NULL},
    /* logging / output */
    {"logging_steps", K_INT, F(logging_steps), "500", NULL},
    {"eval_steps", K_INT, F(eval_steps), "-1", NULL},
    {"eval_strategy", K_STR, F(eval_strategy), "no", "no|steps|epoch"},
    {"eval_tasks", K_STR, F(eval_tasks), NULL, NULL},
    {"save_strategy", K_STR, F(save_strategy), "steps", "no|steps|epoch"},
    {"save_steps", K_INT, F(save_steps), "500", NULL},
    {"save_total_limit", K_INT, F(save_total_limit), "-1", NULL},
    {"output_dir", K_STR, F(output_dir), NULL, NULL},
    {"overwrite_output_dir", K_BOOL, F(overwrite_output_dir), "false", NULL},
    {"resume_from_checkpoint", K_STR, F(resume_from_checkpoint), NULL, NULL},
    {"plot_loss", K_BOOL, F(plot_loss), "false", NULL},
    {"report_to", K_LIST, F(report_to), "none", "none|all|tensorboard|wandb|mlflow|swanlab"},
    {"run_name", K_STR, F(run_name), NULL, NULL},
    /* LlamaFactory's SwanLabArguments: the W&B run + the SwanLab import command (src/train/tracker.h) */
    {"use_swanlab", K_BOOL, F(use_swanlab), "false", NULL},
    {"swanlab_project", K_STR, F(swanlab_project), "llamafactory", NULL},
    {"swanlab_workspace", K_STR, F(swanlab_workspace), NULL, NULL},
    {"swanlab_run_name", K_STR, F(swanlab_run_name), NULL, NULL},
    {"swanlab_mode", K_STR, F(swanlab_mode), "cloud", "cloud|local"},
    {"swanlab_api_key", K_STR, F(swanlab_api_key), NULL, NULL},
    {"swanlab_logdir", K_STR, F(swanlab_logdir), NULL, NULL},
    {"swanlab_lark_webhook_url", K_STR, F(swanlab_lark_webhook_url), NULL, NULL},
    {"swanlab_lark_secret", K_STR, F(swanlab_lark_secret), NULL, NULL},
    {"threads", K_INT, F(threads), "0", NULL},
    /* data parallel over MPI ranks (docs/distributed.md) */
    {"zero_stage", K_INT, F(zero_stage), "0", NULL},
    {"deepspeed", K_STR, F(deepspeed), NULL, NULL},
};
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

static const key_def *find_key(const char *name) { return ct_cfg_find(KEYS, N_KEYS, name); }

/* Spellings of keys that have no row of their own. */
static const char *const ALIASES[] = {"disable_gradient_checkpointing", "lr_scheduler_kwargs", "evaluation_strategy",
                                      NULL};

bool ct_train_config_knows(const char *key) {
    if (find_key(key) || ct_compat_known(key)) return true;
    for (size_t i = 0; ALIASES[i]; i++)
        if (!strcmp(ALIASES[i], key)) return true;
    return false;
}

const char *ct_train_config_suggest(const char *key) {
    const char *best = NULL;
    int bd = 5;
    for (size_t i = 0; i < N_KEYS; i++) {
        int d = ct_str_distance(key, KEYS[i].name);
        if (d < bd) bd = d, best = KEYS[i].name;
    }
    for (size_t i = 0; ALIASES[i]; i++) {
        int d = ct_str_distance(key, ALIASES[i]);
        if (d < bd) bd = d, best = ALIASES[i];
    }
    return best;
}

static void mark_set(ct_train_config *c, const char *key) {
    if (!ct_strlist_has(&c->set_keys, key)) ct_strlist_add(&c->set_keys, key, strlen(key));
}

bool ct_train_config_is_set(const ct_train_config *c, const char *key) { return ct_strlist_has(&c->set_keys, key); }

static ct_status add_ignored(ct_train_config *c, const char *key, ct_err *err) {
    if (!ct_strlist_has(&c->ignored, key) && ct_strlist_add(&c->ignored, key, strlen(key)))
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    return CT_OK;
}

static ct_status unknown_key(const char *key, const char *where, ct_err *err) {
    const char *s = ct_train_config_suggest(key);
    if (s) return ct_err_set(err, CT_ERR_ARG, "%s: unknown key '%s' (did you mean '%s'?)", where, key, s);
    return ct_err_set(err, CT_ERR_ARG, "%s: unknown key '%s'", where, key);
}

/* "parent.child" from a nested YAML mapping: lr_scheduler_kwargs.min_lr_rate, or any entry of a
 * harmless mapping key (gradient_checkpointing_kwargs); *key becomes the key to set, or NULL
 * when the entry is done with. */
static ct_status nested_key(ct_train_config *c, const char **key, const char *value, const char *where, ct_err *err) {
    const char *dot = strchr(*key, '.');
    char parent[256];
    snprintf(parent, sizeof parent, "%.*s", (int)(dot - *key), *key);
    if (!strcmp(parent, "lr_scheduler_kwargs")) {
        if (strcmp(dot + 1, "min_lr_rate"))
            return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: lr_scheduler_kwargs: only min_lr_rate is supported (got '%s')",
                              where, dot + 1);
        *key = "min_lr_rate";
        return CT_OK;
    }
    *key = NULL;
    if (ct_compat_known(parent)) {
        ct_status st = ct_compat_check(parent, value, where, err);
        return st ? st : add_ignored(c, parent, err);
    }
    if (find_key(parent)) return ct_err_set(err, CT_ERR_ARG, "%s: key '%s': expected a value, not a mapping", where, parent);
    return unknown_key(parent, where, err);
}

/* tool_format: LlamaFactory's override of the template's tool format. ctune renders each
 * template's own format only, so a name no template renders is refused here, and one that is not
 * the configured template's own when the data is built (ct_dataset_build). */
static ct_status check_tool_format(const char *v, const char *where, ct_err *err) {
    const char *fmts[16];
    size_t n = ct_tool_formats(fmts, 16);
    char list[160] = "";
    for (size_t i = 0; i < n && i < 16; i++) {
        if (!strcmp(fmts[i], v)) return CT_OK;
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "", fmts[i]);
    }
    return ct_err_set(err, CT_ERR_UNSUPPORTED,
                      "%s: key 'tool_format': '%s' is not supported: ctune renders a template's own tool format only "
                      "(%s; leave it unset for the template's)",
                      where, v, list);
}

/* Checks that a key's type alone does not make. */
static ct_status check_value(const char *key, const char *v, const char *where, ct_err *err) {
    if (!strcmp(key, "tool_format") && !ct_cfg_is_null(v)) return check_tool_format(v, where, err);
    if (!strcmp(key, "optim")) return ct_compat_optim_check(v, where, err);
    if (!strcmp(key, "save_strategy") && !strcmp(v, "best"))
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "%s: key 'save_strategy': 'best' is not supported: it needs metric_for_best_model and "
                          "load_best_model_at_end, which are not implemented (no|steps|epoch)", where);
    return CT_OK;
}

/* Range checks of data keys, after the typed parse. */
static ct_status check_data_key(const ct_train_config *c, const char *key, const char *where, ct_err *err) {
    if (!strcmp(key, "preprocessing_batch_size") && c->preprocessing_batch_size < 1)
        return ct_err_set(err, CT_ERR_ARG, "%s: key '%s': must be >= 1, got %lld", where, key,
                          (long long)c->preprocessing_batch_size);
    return CT_OK;
}

ct_status ct_train_config_set(ct_train_config *c, const char *key, const char *value, const char *where, ct_err *err) {
    if (!where) where = "config";
    if (!value) value = "";
    ct_status st;
    if (strchr(key, '.')) {
        if ((st = nested_key(c, &key, value, where, err)) || !key) return st;
    }
    if (!strcmp(key, "lr_scheduler_kwargs")) {
        if (ct_cfg_is_null(value)) return CT_OK;
        return ct_err_set(err, CT_ERR_ARG, "%s: key 'lr_scheduler_kwargs': expected a mapping (min_lr_rate: x)", where);
    }
    if (!strcmp(key, "disable_gradient_checkpointing")) {
        bool b;
        if (ct_cfg_is_null(value)) return CT_OK;
        if (ct_cfg_parse_bool(value, &b))
            return ct_err_set(err, CT_ERR_ARG, "%s: key '%s': expected true or false, got '%s'", where, key, value);
        c->gradient_checkpointing = !b;
        mark_set(c, "gradient_checkpointing");
        return CT_OK;
    }
    if (!strcmp(key, "evaluation_strategy")) key = "eval_strategy";
    const key_def *k = find_key(key);
    if (!k) {
        if (!ct_compat_known(key)) return unknown_key(key, where, err);
        if ((st = ct_compat_check(key, value, where, err))) return st;
        return add_ignored(c, key, err);
    }
    if ((st = check_value(key, value, where, err))) return st;
    if ((st = ct_cfg_set_typed(c, k, value, where, err))) return st;
    if ((st = ct_config_check_peft_key(c, key, value, where, err))) return st;
    if ((st = ct_train_config_check_method_key(c, key, value, where, err))) return st;
    if (!strcmp(key, "packing")) c->packing_set = !ct_cfg_is_null(value);
    if ((st = check_data_key(c, key, where, err))) return st;
    mark_set(c, key);
    return CT_OK;
}

void ct_train_config_init(ct_train_config *c) {
    memset(c, 0, sizeof *c);
    ct_cfg_defaults(c, KEYS, N_KEYS);
    c->max_samples = -1;
}

void ct_train_config_free(ct_train_config *c) {
    ct_cfg_free_fields(c, KEYS, N_KEYS);
    ct_strlist_free(&c->ignored);
    ct_strlist_free(&c->set_keys);
    memset(c, 0, sizeof *c);
}

static ct_status set_cb(void *user, const char *key, const char *value, const char *where, ct_err *err) {
    return ct_train_config_set(user, key, value, where, err);
}

ct_status ct_train_config_load(ct_train_config *c, const char *path, ct_err *err) {
    return ct_cfg_load_yaml(path, set_cb, c, err);
}

static ct_cfg_arg_kind arg_kind(void *user, const char *key) {
    (void)user;
    const key_def *k = find_key(key);
    if (k) return k->type == K_BOOL || k->type == K_THINK ? CT_CFG_ARG_BOOL : CT_CFG_ARG_VALUE;
    if (!strcmp(key, "disable_gradient_checkpointing")) return CT_CFG_ARG_BOOL;
    if (ct_compat_known(key)) return ct_compat_is_flag(key) ? CT_CFG_ARG_BOOL : CT_CFG_ARG_VALUE;
    return ct_train_config_knows(key) ? CT_CFG_ARG_VALUE : CT_CFG_ARG_UNKNOWN;
}

ct_status ct_train_config_apply_args(ct_train_config *c, int argc, char **argv, ct_err *err) {
    return ct_cfg_apply_args(argc, argv, arg_kind, set_cb, c, err);
}

char *ct_train_config_ignored_line(const ct_train_config *c) {
    if (!c->ignored.n) return NULL;
    static const char head[] = "accepted for LlamaFactory compatibility, no effect in ctune:";
    size_t n = sizeof head;
    for (size_t i = 0; i < c->ignored.n; i++) n += strlen(c->ignored.v[i]) + 2;
    char *s = malloc(n);
    if (!s) return NULL;
    strcpy(s, head);
    for (size_t i = 0; i < c->ignored.n; i++) {
        strcat(s, i ? ", " : " ");
        strcat(s, c->ignored.v[i]);
    }
    return s;
}

const char *ct_train_config_optim_note(const ct_train_config *c, char *buf, size_t n) {
    return ct_compat_optim_note(c->optim, buf, n);
}

ct_status ct_train_config_validate(const ct_train_config *c, ct_err *err) {
    if (c->cutoff_len <= 0) return ct_err_set(err, CT_ERR_ARG, "cutoff_len must be > 0 (got %lld)", (long long)c->cutoff_len);
    if (c->threads < 0 || c->threads > CT_MAX_THREADS)
        return ct_err_set(err, CT_ERR_ARG, "threads must be 0..%d (0: all cores), got %lld", CT_MAX_THREADS,
                          (long long)c->threads);
    if (c->zero_stage < 0 || c->zero_stage > 1)
        return ct_err_set(err, CT_ERR_ARG, "zero_stage must be 0 or 1 (got %lld; ctune shards the AdamW moments only)",
                          (long long)c->zero_stage);
    if (c->val_size < 0) return ct_err_set(err, CT_ERR_ARG, "val_size must be >= 0");
    if (c->val_size >= 1 && c->val_size != floor(c->val_size))
        return ct_err_set(err, CT_ERR_ARG, "val_size: a count (>= 1) must be an integer, got %g", c->val_size);
    if (c->val_size > 1e-6 && c->eval_dataset.n)
        return ct_err_set(err, CT_ERR_ARG, "val_size cannot be used with eval_dataset (eval_dataset is the validation "
                                           "set; LlamaFactory refuses the pair too)");
    if (c->val_size > 1e-6 && !c->dataset.n)
        return ct_err_set(err, CT_ERR_ARG, "val_size needs dataset (it splits the training data)");
    if (c->lora_rank <= 0) return ct_err_set(err, CT_ERR_ARG, "lora_rank must be > 0");
    if (c->lora_dropout < 0 || c->lora_dropout >= 1) return ct_err_set(err, CT_ERR_ARG, "lora_dropout must be in [0, 1)");
    if (c->learning_rate < 0) return ct_err_set(err, CT_ERR_ARG, "learning_rate must be >= 0");
    if (c->per_device_train_batch_size <= 0) return ct_err_set(err, CT_ERR_ARG, "per_device_train_batch_size must be > 0");
    if (c->gradient_accumulation_steps <= 0) return ct_err_set(err, CT_ERR_ARG, "gradient_accumulation_steps must be > 0");
    if (c->warmup_ratio < 0 || c->warmup_ratio > 1) return ct_err_set(err, CT_ERR_ARG, "warmup_ratio must be in [0, 1]");
    if (c->quantization_bit && c->finetuning_type && strcmp(c->finetuning_type, "lora"))
        return ct_err_set(err, CT_ERR_ARG, "quantization_bit: quantization is only compatible with finetuning_type "
                                           "lora (got '%s'), as in LlamaFactory", c->finetuning_type);
    if (c->neat_packing && !c->packing && c->packing_set)
        return ct_err_set(err, CT_ERR_ARG, "neat_packing needs packing (packing: false was given)");
    ct_status mst = ct_train_config_validate_methods(c, err);
    if (mst) return mst;
    if (c->interleave_probs.n) {
        double *p = NULL;
        size_t n = 0;
        ct_status st = ct_train_config_probs(c, &p, &n, err);
        free(p);
        if (st) return st;
        if (c->dataset.n && n != c->dataset.n)
            return ct_err_set(err, CT_ERR_ARG, "interleave_probs has %zu values for %zu datasets", n, c->dataset.n);
    }
    return ct_config_validate_peft(c, err);
}

ct_status ct_train_config_probs(const ct_train_config *c, double **out, size_t *n, ct_err *err) {
    ct_data_args a;
    ct_train_config_data_args(c, &a);
    return ct_data_args_probs(&a, out, n, err);
}

void ct_train_config_data_args(const ct_train_config *c, ct_data_args *out) {
    *out = (ct_data_args){
        .dataset = (const char *const *)c->dataset.v,
        .n_dataset = c->dataset.n,
        .eval_dataset = (const char *const *)c->eval_dataset.v,
        .n_eval_dataset = c->eval_dataset.n,
        .dataset_dir = c->dataset_dir,
        .template_name = c->template_name,
        .stage = c->stage,
        .cutoff_len = c->cutoff_len,
        .max_samples = c->max_samples,
        .val_size = c->val_size,
        .train_on_prompt = c->train_on_prompt,
        .mask_history = c->mask_history,
        .enable_thinking = (ct_think)c->enable_thinking,
        .preserve_thinking = c->preserve_thinking,
        .packing = c->packing,
        .packing_set = c->packing_set,
        .neat_packing = c->neat_packing,
        .mix_strategy = c->mix_strategy,
        .interleave_probs = (const char *const *)c->interleave_probs.v,
        .n_interleave_probs = c->interleave_probs.n,
        .on_bad_sample = c->on_bad_sample,
        .default_system = c->default_system,
        .think_per_turn = c->think_per_turn,
        .tool_format = c->tool_format,
        .preprocessing_batch_size = c->preprocessing_batch_size,
        .seed = c->seed,
        .overwrite_cache = c->overwrite_cache,
        .tokenizer_dir = c->model_name_or_path,
        .threads = (int)c->threads,
    };
}

double ct_train_config_lora_alpha(const ct_train_config *c) {
    return c->lora_alpha > 0 ? c->lora_alpha : 2.0 * (double)c->lora_rank;
}

char *ct_train_config_dump(const ct_train_config *c) { return ct_cfg_dump(c, KEYS, N_KEYS); }

char *ct_train_config_dump_json(const ct_train_config *c) {
    json_t *o = json_object();
    for (size_t i = 0; o && i < N_KEYS; i++) {
        const key_def *k = &KEYS[i];
        const char *p = (const char *)c + k->off;
        json_t *v = NULL;
        switch (k->type) {
        case K_STR: v = *(char *const *)p ? json_string(*(char *const *)p) : json_null(); break;
        case K_INT: v = json_integer(*(const int64_t *)p); break;
        case K_DBL: v = json_real(*(const double *)p); break;
        case K_BOOL: v = json_boolean(*(const bool *)p); break;
        case K_THINK: v = *(const int *)p < 0 ? json_null() : json_boolean(*(const int *)p); break;
        case K_LIST: {
            const ct_strlist *l = (const ct_strlist *)p;
            v = l->n ? json_array() : json_null();
            for (size_t j = 0; v && j < l->n; j++) json_array_append_new(v, json_string(l->v[j]));
            break;
        }
        }
        if (!v || json_object_set_new(o, k->name, v)) {
            json_decref(o);
            o = NULL;
        }
    }
    char *s = o ? ct_pyjson_dumps(o, -1, false) : NULL;
    json_decref(o);
    return s;
}
