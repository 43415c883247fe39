/* YAML training config with LlamaFactory keys (include/ctune/config.h). Table-driven: every key
 * has a type, a field and a default given in text form, so YAML values, CLI overrides and
 * defaults go through the same typed parser (ct_train_config_set). */
#include "ctune/config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "base/str.h"
#include "ctune/data.h"

typedef enum ktype { K_STR, K_INT, K_DBL, K_BOOL, K_LIST, K_THINK } ktype;

typedef struct key_def {
    const char *name;
    ktype type;
    size_t off;
    const char *def;      /* text default; NULL = unset */
    const char *choices;  /* "a|b|c" for strings, NULL = free */
} key_def;

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
    {"num_virtual_tokens", K_INT, F(num_virtual_tokens), "20", NULL},
    {"prompt_tuning_init", K_STR, F(prompt_tuning_init), "random", "random|vocab|text"},
    {"prompt_tuning_init_text", K_STR, F(prompt_tuning_init_text), NULL, NULL},
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
    {"save_steps", K_INT, F(save_steps), "500", NULL},
    {"save_total_limit", K_INT, F(save_total_limit), "-1", NULL},
    {"output_dir", K_STR, F(output_dir), NULL, NULL},
    {"overwrite_output_dir", K_BOOL, F(overwrite_output_dir), "false", NULL},
    {"resume_from_checkpoint", K_STR, F(resume_from_checkpoint), NULL, NULL},
    {"plot_loss", K_BOOL, F(plot_loss), "false", NULL},
    {"report_to", K_LIST, F(report_to), "none", NULL},
    {"threads", K_INT, F(threads), "0", NULL},
};
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

/* LlamaFactory / HF keys accepted without effect (reported in cfg->ignored). */
static const char *const IGNORED[] = {
    "do_train", "do_eval", "do_predict", "trust_remote_code", "ddp_timeout", "preprocessing_num_workers",
    "dataloader_num_workers", "save_only_model", "flash_attn", "logging_dir", "run_name", "deepspeed",
    "streaming", "buffer_size",
    "eval_on_each_dataset", "media_dir", "image_max_pixels", "video_max_pixels", "predict_with_generate",
    "max_new_tokens", "use_fast_tokenizer", "ddp_find_unused_parameters", "include_num_input_tokens_seen",
    "torch_compile", "optim", "save_strategy", "load_best_model_at_end", "metric_for_best_model",
    "greater_is_better", "upcast_layernorm", "enable_liger_kernel", "use_unsloth",
    "resize_vocab", "split_special_tokens", "tf32", "dataloader_pin_memory", "remove_unused_columns",
    "eval_accumulation_steps", "logging_first_step", "disable_tqdm", "lora_bias", "loraplus_lr_ratio",
    "pissa_init", "create_new_adapter", "use_llama_pro", "export_dir", "cache_dir", "hf_hub_token",
    "ignore_pad_token_for_loss", "image_min_pixels", "video_fps", "video_maxlen", "freeze_vision_tower",
    "freeze_multi_modal_projector", "low_cpu_mem_usage", "infer_backend", "rope_scaling", "use_cache",
    NULL};

static const key_def *find_key(const char *name) {
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(KEYS[i].name, name)) return &KEYS[i];
    return NULL;
}

static bool is_ignored(const char *name) {
    for (size_t i = 0; IGNORED[i]; i++)
        if (!strcmp(IGNORED[i], name)) return true;
    return false;
}

const char *ct_train_config_suggest(const char *key) {
    const char *best = NULL;
    int bd = 5;
    for (size_t i = 0; i < N_KEYS; i++) {
        int d = ct_str_distance(key, KEYS[i].name);
        if (d < bd) bd = d, best = KEYS[i].name;
    }
    static const char *const aliases[] = {"disable_gradient_checkpointing", "lr_scheduler_kwargs", NULL};
    for (size_t i = 0; aliases[i]; i++) {
        int d = ct_str_distance(key, aliases[i]);
        if (d < bd) bd = d, best = aliases[i];
    }
    return best;
}

static void list_free(ct_strlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int list_add(ct_strlist *l, const char *s, size_t n) {
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (!n) return 0;
    char **v = realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v) return -1;
    l->v = v;
    if (!(v[l->n] = strndup(s, n))) return -1;
    l->n++;
    return 0;
}

static bool is_null(const char *v) { return !v || !*v || !strcmp(v, "null") || !strcmp(v, "~") || !strcmp(v, "None"); }

/* YAML 1.1 booleans (what PyYAML accepts). */
static int parse_bool(const char *v, bool *out) {
    static const char *const t[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "1", NULL};
    static const char *const f[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "0", NULL};
    for (size_t i = 0; t[i]; i++)
        if (!strcmp(v, t[i])) return *out = true, 0;
    for (size_t i = 0; f[i]; i++)
        if (!strcmp(v, f[i])) return *out = false, 0;
    return -1;
}

static ct_status set_typed(ct_train_config *c, const key_def *k, const char *v, const char *where, ct_err *err) {
    char *p = (char *)c + k->off;
    char *end;
    switch (k->type) {
    case K_STR: {
        char **s = (char **)p;
        if (is_null(v)) {
            free(*s);
            *s = NULL;
            return CT_OK;
        }
        if (k->choices) {
            char buf[256];
            snprintf(buf, sizeof buf, "|%s|", k->choices);
            char pat[128];
            snprintf(pat, sizeof pat, "|%s|", v);
            if (!strstr(buf, pat))
                return ct_err_set(err, CT_ERR_ARG, "%s: key '%s': '%s' is not one of %s", where, k->name, v, k->choices);
        }
        char *d = strdup(v);
        if (!d) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        free(*s);
        *s = d;
        return CT_OK;
    }
    case K_INT: {
        if (is_null(v) && k->choices && !k->def) { /* an optional choice: null = none (0) */
            *(int64_t *)p = 0;
            return CT_OK;
        }
        if (is_null(v)) v = k->def ? k->def : "0";
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (errno || end == v || *end) {
            /* allow "1e3"-style or "2.0" integers written as floats */
            double d = strtod(v, &end);
            if (end == v || *end || d != floor(d) || fabs(d) > 9e18)
                return ct_err_set(err, CT_ERR_ARG, "%s: key '%s': expected an integer, got '%s'", where, k->name, v);
            x = (long long)d;
        }
        if (k->choices) {
            char buf[128], pat[32];
            snprintf(buf, sizeof buf, "|%s|", k->choices);
            snprintf(pat, sizeof pat, "|%lld|", x);
            if (!strstr(buf, pat))
                return ct_err_set(err, CT_ERR_ARG, "%s: key '%s': %lld is not one of %s", where, k->name, x, k->choices);
        }
        *(int64_t *)p = x;
        return CT_OK;
    }
    case K_DBL: {
        if (is_null(v)) v = k->def ? k->def : "0";
        errno = 0;
        double x = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(x))
            return ct_err_set(err, CT_ERR_ARG, "%s: key '%s': expected a number, got '%s'", where, k->name, v);
        *(double *)p = x;
        return CT_OK;
    }
    case K_BOOL: {
        bool b;
        if (is_null(v)) v = k->def ? k->def : "false";
        if (parse_bool(v, &b))
            return ct_err_set(err, CT_ERR_ARG, "%s: key '%s': expected true or false, got '%s'", where, k->name, v);
        *(bool *)p = b;
        return CT_OK;
    }
    case K_THINK: {
        bool b;
        if (is_null(v)) *(int *)p = -1;
        else if (parse_bool(v, &b))
            return ct_err_set(err, CT_ERR_ARG, "%s: key '%s': expected true, false or null, got '%s'", where, k->name, v);
        else *(int *)p = b ? 1 : 0;
        return CT_OK;
    }
    case K_LIST: {
        ct_strlist *l = (ct_strlist *)p;
        list_free(l);
        if (is_null(v)) return CT_OK;
        const char *s = v;
        for (;;) {
            const char *comma = strchr(s, ',');
            size_t n = comma ? (size_t)(comma - s) : strlen(s);
            if (list_add(l, s, n)) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            if (!comma) break;
            s = comma + 1;
        }
        return CT_OK;
    }
    }
    return CT_OK;
}

static void mark_set(ct_train_config *c, const char *key) {
    for (size_t i = 0; i < c->set_keys.n; i++)
        if (!strcmp(c->set_keys.v[i], key)) return;
    list_add(&c->set_keys, key, strlen(key));
}

bool ct_train_config_is_set(const ct_train_config *c, const char *key) {
    for (size_t i = 0; i < c->set_keys.n; i++)
        if (!strcmp(c->set_keys.v[i], key)) return true;
    return false;
}

ct_status ct_train_config_set(ct_train_config *c, const char *key, const char *value, const char *where, ct_err *err) {
    if (!where) where = "config";
    if (!strcmp(key, "disable_gradient_checkpointing")) {
        bool b;
        if (is_null(value)) return CT_OK;
        if (parse_bool(value, &b))
            return ct_err_set(err, CT_ERR_ARG, "%s: key '%s': expected true or false, got '%s'", where, key, value);
        c->gradient_checkpointing = !b;
        mark_set(c, "gradient_checkpointing");
        return CT_OK;
    }
    if (!strcmp(key, "evaluation_strategy")) key = "eval_strategy";
    const key_def *k = find_key(key);
    if (!k) {
        if (is_ignored(key)) {
            for (size_t i = 0; i < c->ignored.n; i++)
                if (!strcmp(c->ignored.v[i], key)) return CT_OK;
            if (list_add(&c->ignored, key, strlen(key))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            return CT_OK;
        }
        const char *s = ct_train_config_suggest(key);
        if (s) return ct_err_set(err, CT_ERR_ARG, "%s: unknown key '%s' (did you mean '%s'?)", where, key, s);
        return ct_err_set(err, CT_ERR_ARG, "%s: unknown key '%s'", where, key);
    }
    ct_status st = set_typed(c, k, value, where, err);
    if (st) return st;
    if (!strcmp(key, "packing")) c->packing_set = !is_null(value);
    if (!strcmp(key, "preprocessing_batch_size") && c->preprocessing_batch_size < 1)
        return ct_err_set(err, CT_ERR_ARG, "%s: key '%s': must be >= 1, got %lld", where, key,
                          (long long)c->preprocessing_batch_size);
    mark_set(c, key);
    return CT_OK;
}

void ct_train_config_init(ct_train_config *c) {
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < N_KEYS; i++)
        if (KEYS[i].def) set_typed(c, &KEYS[i], KEYS[i].def, "defaults", NULL);
    c->max_samples = -1;
}

void ct_train_config_free(ct_train_config *c) {
    for (size_t i = 0; i < N_KEYS; i++) {
        char *p = (char *)c + KEYS[i].off;
        if (KEYS[i].type == K_STR) free(*(char **)p);
        if (KEYS[i].type == K_LIST) list_free((ct_strlist *)p);
    }
    list_free(&c->ignored);
    list_free(&c->set_keys);
    memset(c, 0, sizeof *c);
}

/* ---------------------------------------------------------------- YAML */

typedef struct yparse {
    yaml_parser_t p;
    const char *path;
} yparse;

static ct_status next_event(yparse *y, yaml_event_t *ev, ct_err *err) {
    if (!yaml_parser_parse(&y->p, ev))
        return ct_err_set(err, CT_ERR_FORMAT, "%s:%zu:%zu: invalid YAML: %s", y->path, y->p.problem_mark.line + 1,
                          y->p.problem_mark.column + 1, y->p.problem ? y->p.problem : "parse error");
    return CT_OK;
}

/* Reads a value node: scalar → text; sequence of scalars → comma-joined; mapping → only for
 * lr_scheduler_kwargs (min_lr_rate). */
static ct_status read_value(yparse *y, ct_train_config *c, const char *key, size_t line, ct_err *err) {
    yaml_event_t ev;
    ct_status st = next_event(y, &ev, err);
    if (st) return st;
    char where[4200];
    snprintf(where, sizeof where, "%s:%zu", y->path, line);
    if (ev.type == YAML_SCALAR_EVENT) {
        const char *v = (const char *)ev.data.scalar.value;
        /* a quoted "" or 'null' stays a string; plain empty/null is null */
        bool plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (!plain && is_null(v) && *v) {
            st = ct_train_config_set(c, key, v, where, err); /* quoted "null": still text; keys treat it as null */
        } else {
            st = ct_train_config_set(c, key, v, where, err);
        }
        yaml_event_delete(&ev);
        return st;
    }
    if (ev.type == YAML_SEQUENCE_START_EVENT) {
        yaml_event_delete(&ev);
        char *joined = calloc(1, 1);
        size_t len = 0;
        for (;;) {
            if ((st = next_event(y, &ev, err))) break;
            if (ev.type == YAML_SEQUENCE_END_EVENT) {
                yaml_event_delete(&ev);
                break;
            }
            if (ev.type != YAML_SCALAR_EVENT) {
                yaml_event_delete(&ev);
                st = ct_err_set(err, CT_ERR_FORMAT, "%s: key '%s': list items must be plain values", where, key);
                break;
            }
            size_t n = strlen((char *)ev.data.scalar.value);
            char *j = realloc(joined, len + n + 2);
            if (!j) {
                yaml_event_delete(&ev);
                st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
                break;
            }
            joined = j;
            if (len) joined[len++] = ',';
            memcpy(joined + len, ev.data.scalar.value, n + 1);
            len += n;
            yaml_event_delete(&ev);
        }
        if (!st) st = ct_train_config_set(c, key, joined, where, err);
        free(joined);
        return st;
    }
    if (ev.type == YAML_MAPPING_START_EVENT && !strcmp(key, "lr_scheduler_kwargs")) {
        yaml_event_delete(&ev);
        for (;;) {
            if ((st = next_event(y, &ev, err))) return st;
            if (ev.type == YAML_MAPPING_END_EVENT) {
                yaml_event_delete(&ev);
                return CT_OK;
            }
            if (ev.type != YAML_SCALAR_EVENT) {
                yaml_event_delete(&ev);
                return ct_err_set(err, CT_ERR_FORMAT, "%s: lr_scheduler_kwargs: expected name: value pairs", where);
            }
            char *sub = strdup((char *)ev.data.scalar.value);
            size_t sl = ev.start_mark.line + 1;
            yaml_event_delete(&ev);
            if (!sub) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            if (strcmp(sub, "min_lr_rate")) {
                free(sub);
                return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s:%zu: lr_scheduler_kwargs: only min_lr_rate is supported",
                                  y->path, sl);
            }
            free(sub);
            if ((st = read_value(y, c, "min_lr_rate", sl, err))) return st;
        }
    }
    yaml_event_delete(&ev);
    return ct_err_set(err, CT_ERR_FORMAT, "%s: key '%s': expected a value or a list", where, key);
}

ct_status ct_train_config_load(ct_train_config *c, const char *path, ct_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) return ct_err_set(err, CT_ERR_IO, "%s: %s", path, strerror(errno));
    yparse y = {.path = path};
    yaml_parser_initialize(&y.p);
    yaml_parser_set_input_file(&y.p, f);
    ct_status st = CT_OK;
    yaml_event_t ev;
    int depth = 0; /* 0 before the top mapping, 1 inside it */
    bool done = false;
    while (!done && !st) {
        if ((st = next_event(&y, &ev, err))) break;
        switch (ev.type) {
        case YAML_STREAM_START_EVENT:
        case YAML_DOCUMENT_START_EVENT: break;
        case YAML_DOCUMENT_END_EVENT:
        case YAML_STREAM_END_EVENT: done = true; break;
        case YAML_MAPPING_START_EVENT:
            if (depth) st = ct_err_set(err, CT_ERR_FORMAT, "%s:%zu: unexpected nested mapping", path, ev.start_mark.line + 1);
            depth = 1;
            break;
        case YAML_MAPPING_END_EVENT: done = true; break;
        case YAML_SCALAR_EVENT: {
            if (!depth) {
                if (ev.data.scalar.length == 0) { done = true; break; } /* empty file */
                st = ct_err_set(err, CT_ERR_FORMAT, "%s:%zu: expected 'key: value' lines", path, ev.start_mark.line + 1);
                break;
            }
            char *key = strdup((char *)ev.data.scalar.value);
            size_t line = ev.start_mark.line + 1;
            if (!key) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            else st = read_value(&y, c, key, line, err);
            free(key);
            break;
        }
        default:
            st = ct_err_set(err, CT_ERR_FORMAT, "%s:%zu: expected a mapping of keys", path, ev.start_mark.line + 1);
        }
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&y.p);
    fclose(f);
    return st;
}

ct_status ct_train_config_apply_args(ct_train_config *c, int argc, char **argv, ct_err *err) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) || !a[2])
            return ct_err_set(err, CT_ERR_ARG, "unexpected argument '%s' (overrides are --key value)", a);
        char key[256];
        const char *eq = strchr(a + 2, '='), *val;
        if (eq) {
            snprintf(key, sizeof key, "%.*s", (int)(eq - a - 2), a + 2);
            val = eq + 1;
        } else {
            snprintf(key, sizeof key, "%s", a + 2);
            if (i + 1 >= argc) return ct_err_set(err, CT_ERR_ARG, "--%s needs a value", key);
            val = argv[++i];
        }
        for (char *p = key; *p; p++)
            if (*p == '-') *p = '_';
        char where[300];
        snprintf(where, sizeof where, "--%s", key);
        ct_status st = ct_train_config_set(c, key, val, where, err);
        if (st) return st;
    }
    return CT_OK;
}

ct_status ct_train_config_validate(const ct_train_config *c, ct_err *err) {
    if (c->cutoff_len <= 0) return ct_err_set(err, CT_ERR_ARG, "cutoff_len must be > 0 (got %lld)", (long long)c->cutoff_len);
    if (c->val_size < 0) return ct_err_set(err, CT_ERR_ARG, "val_size must be >= 0");
    if (c->val_size >= 1 && c->val_size != floor(c->val_size))
        return ct_err_set(err, CT_ERR_ARG, "val_size: a count (>= 1) must be an integer, got %g", c->val_size);
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
    for (size_t i = 0; i < c->report_to.n; i++)
        if (strcmp(c->report_to.v[i], "none") && strcmp(c->report_to.v[i], "tensorboard"))
            return ct_err_set(err, CT_ERR_UNSUPPORTED, "report_to: '%s' is not supported (none, tensorboard)", c->report_to.v[i]);
    if (c->interleave_probs.n) {
        double *p = NULL;
        size_t n = 0;
        ct_status st = ct_train_config_probs(c, &p, &n, err);
        free(p);
        if (st) return st;
        if (c->dataset.n && n != c->dataset.n)
            return ct_err_set(err, CT_ERR_ARG, "interleave_probs has %zu values for %zu datasets", n, c->dataset.n);
    }
    return CT_OK;
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

char *ct_train_config_dump(const ct_train_config *c) {
    size_t cap = 8192, n = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    s[0] = 0;
    for (size_t i = 0; i < N_KEYS; i++) {
        const key_def *k = &KEYS[i];
        const char *p = (const char *)c + k->off;
        char line[1024];
        switch (k->type) {
        case K_STR: snprintf(line, sizeof line, "%s: %s\n", k->name, *(char *const *)p ? *(char *const *)p : "null"); break;
        case K_INT: snprintf(line, sizeof line, "%s: %lld\n", k->name, (long long)*(const int64_t *)p); break;
        case K_DBL: snprintf(line, sizeof line, "%s: %.17g\n", k->name, *(const double *)p); break;
        case K_BOOL: snprintf(line, sizeof line, "%s: %s\n", k->name, *(const bool *)p ? "true" : "false"); break;
        case K_THINK: {
            int t = *(const int *)p;
            snprintf(line, sizeof line, "%s: %s\n", k->name, t < 0 ? "null" : t ? "true" : "false");
            break;
        }
        case K_LIST: {
            const ct_strlist *l = (const ct_strlist *)p;
            size_t m = (size_t)snprintf(line, sizeof line, "%s: %s", k->name, l->n ? "" : "null");
            for (size_t j = 0; j < l->n && m < sizeof line; j++)
                m += (size_t)snprintf(line + m, sizeof line - m, "%s%s", j ? "," : "", l->v[j]);
            if (m < sizeof line - 1) strcat(line, "\n");
            break;
        }
        }
        size_t ln = strlen(line);
        if (n + ln + 1 > cap) {
            cap = (n + ln + 1) * 2;
            char *t = realloc(s, cap);
            if (!t) {
                free(s);
                return NULL;
            }
            s = t;
        }
        memcpy(s + n, line, ln + 1);
        n += ln;
    }
    return s;
}
