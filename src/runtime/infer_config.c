/* Inference / export config with LlamaFactory's keys (include/ctune/infer_config.h). Defaults:
 * LlamaFactory hparams/model_args.py (export arguments, infer_backend, infer_dtype) and
 * hparams/generating_args.py; the checks follow tuner.py export_model and parser.py
 * _verify_model_args. */
#include "ctune/infer_config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cfgfile.h"
#include "base/str.h"
#include "train/config_compat.h"

#define F(field) offsetof(ct_infer_config, field)
static const ct_cfg_key KEYS[] = {
    {"model_name_or_path", CT_CFG_STR, F(model_name_or_path), NULL, NULL},
    {"adapter_name_or_path", CT_CFG_STR, F(adapter_name_or_path), NULL, NULL},
    {"finetuning_type", CT_CFG_STR, F(finetuning_type), "lora", "lora|full|freeze|prompt"},
    {"template", CT_CFG_STR, F(template_name), NULL, NULL},
    {"default_system", CT_CFG_STR, F(default_system), NULL, NULL},
    {"enable_thinking", CT_CFG_THINK, F(enable_thinking), "true", NULL},
    {"infer_backend", CT_CFG_STR, F(infer_backend), "huggingface", "huggingface|vllm|sglang|ktransformers"},
    {"infer_dtype", CT_CFG_STR, F(infer_dtype), "auto", "auto|float16|bfloat16|float32"},
    {"quantization_bit", CT_CFG_INT, F(quantization_bit), NULL, "4|8"},
    {"quantization_method", CT_CFG_STR, F(quantization_method), "bnb", "bnb|gguf"},
    {"quantization_type", CT_CFG_STR, F(quantization_type), "nf4", "nf4|fp4"},
    {"double_quantization", CT_CFG_BOOL, F(double_quantization), "true", NULL},
    {"do_sample", CT_CFG_BOOL, F(do_sample), "true", NULL},
    {"temperature", CT_CFG_DBL, F(temperature), "0.95", NULL},
    {"top_p", CT_CFG_DBL, F(top_p), "0.7", NULL},
    {"top_k", CT_CFG_INT, F(top_k), "50", NULL},
    {"num_beams", CT_CFG_INT, F(num_beams), "1", NULL},
    {"max_length", CT_CFG_INT, F(max_length), "1024", NULL},
    {"max_new_tokens", CT_CFG_INT, F(max_new_tokens), "1024", NULL},
    {"repetition_penalty", CT_CFG_DBL, F(repetition_penalty), "1.0", NULL},
    {"length_penalty", CT_CFG_DBL, F(length_penalty), "1.0", NULL},
    {"skip_special_tokens", CT_CFG_BOOL, F(skip_special_tokens), "true", NULL},
    {"seed", CT_CFG_INT, F(seed), "0", NULL},
    {"export_dir", CT_CFG_STR, F(export_dir), NULL, NULL},
    {"export_size", CT_CFG_INT, F(export_size), "5", NULL},
    {"export_device", CT_CFG_STR, F(export_device), "cpu", "cpu|auto"},
    {"export_legacy_format", CT_CFG_BOOL, F(export_legacy_format), "false", NULL},
    {"export_quantization_bit", CT_CFG_INT, F(export_quantization_bit), "0", NULL},
    {"export_quantization_dataset", CT_CFG_STR, F(export_quantization_dataset), NULL, NULL},
    {"export_quantization_nsamples", CT_CFG_INT, F(export_quantization_nsamples), "128", NULL},
    {"export_quantization_maxlen", CT_CFG_INT, F(export_quantization_maxlen), "1024", NULL},
    {"export_hub_model_id", CT_CFG_STR, F(export_hub_model_id), NULL, NULL},
    /* ctune's GGUF export (not LlamaFactory keys; docs/export.md) */
    {"export_format", CT_CFG_STR, F(export_format), "hf", "hf|gguf"},
    {"export_quantization", CT_CFG_STR, F(export_quantization), NULL, "f32|f16|bf16|q8_0|q4_0"},
    {"export_gguf_lora", CT_CFG_BOOL, F(export_gguf_lora), "false", NULL},
    {"threads", CT_CFG_INT, F(threads), "0", NULL},
};
#define N_KEYS (sizeof KEYS / sizeof KEYS[0])

/* ctune's own flag names (chat, export) as spellings of LlamaFactory keys. */
static const char *const ALIASES[][2] = {
    {"model", "model_name_or_path"}, {"adapter", "adapter_name_or_path"}, {"system", "default_system"}};

static const char *unalias(const char *key) {
    for (size_t i = 0; i < sizeof ALIASES / sizeof ALIASES[0]; i++)
        if (!strcmp(ALIASES[i][0], key)) return ALIASES[i][1];
    return key;
}

void ct_infer_config_init(ct_infer_config *c) {
    memset(c, 0, sizeof *c);
    ct_cfg_defaults(c, KEYS, N_KEYS);
}

void ct_infer_config_free(ct_infer_config *c) {
    ct_cfg_free_fields(c, KEYS, N_KEYS);
    ct_strlist_free(&c->ignored);
    ct_strlist_free(&c->set_keys);
    memset(c, 0, sizeof *c);
}

bool ct_infer_config_is_set(const ct_infer_config *c, const char *key) { return ct_strlist_has(&c->set_keys, key); }

static ct_status add_to(ct_strlist *l, const char *key, ct_err *err) {
    if (!ct_strlist_has(l, key) && ct_strlist_add(l, key, strlen(key)))
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    return CT_OK;
}

static ct_status unknown_key(const char *key, const char *where, ct_err *err) {
    const char *best = NULL;
    int bd = 5;
    for (size_t i = 0; i < N_KEYS; i++) {
        int d = ct_str_distance(key, KEYS[i].name);
        if (d < bd) bd = d, best = KEYS[i].name;
    }
    if (best) return ct_err_set(err, CT_ERR_ARG, "%s: unknown key '%s' (did you mean '%s'?)", where, key, best);
    return ct_err_set(err, CT_ERR_ARG, "%s: unknown key '%s'", where, key);
}

ct_status ct_infer_config_set(ct_infer_config *c, const char *key, const char *value, const char *where,
                              ct_err *err) {
    if (!where) where = "config";
    if (!value) value = "";
    key = unalias(key);
    const ct_cfg_key *k = ct_cfg_find(KEYS, N_KEYS, key);
    if (k) {
        ct_status st = ct_cfg_set_typed(c, k, value, where, err);
        return st ? st : add_to(&c->set_keys, key, err);
    }
    /* a training key (or a harmless LlamaFactory one, or an entry of a nested mapping such as
     * lr_scheduler_kwargs): nothing is trained here, so it is listed and has no effect */
    char parent[256];
    snprintf(parent, sizeof parent, "%.*s", (int)strcspn(key, "."), key);
    if (ct_train_config_knows(parent)) return add_to(&c->ignored, parent, err);
    return unknown_key(key, where, err);
}

static ct_status set_cb(void *user, const char *key, const char *value, const char *where, ct_err *err) {
    return ct_infer_config_set(user, key, value, where, err);
}

ct_status ct_infer_config_load(ct_infer_config *c, const char *path, ct_err *err) {
    return ct_cfg_load_yaml(path, set_cb, c, err);
}

static ct_cfg_arg_kind arg_kind(void *user, const char *key) {
    (void)user;
    const ct_cfg_key *k = ct_cfg_find(KEYS, N_KEYS, unalias(key));
    if (k) return k->type == CT_CFG_BOOL || k->type == CT_CFG_THINK ? CT_CFG_ARG_BOOL : CT_CFG_ARG_VALUE;
    if (ct_compat_known(key)) return ct_compat_is_flag(key) ? CT_CFG_ARG_BOOL : CT_CFG_ARG_VALUE;
    return ct_train_config_knows(key) ? CT_CFG_ARG_VALUE : CT_CFG_ARG_UNKNOWN;
}

ct_status ct_infer_config_apply_args(ct_infer_config *c, int argc, char **argv, ct_err *err) {
    return ct_cfg_apply_args(argc, argv, arg_kind, set_cb, c, err);
}

static bool gguf_quant(const ct_infer_config *c) {
    return c->quantization_method && !strcmp(c->quantization_method, "gguf");
}

ct_status ct_infer_config_validate(const ct_infer_config *c, ct_infer_use use, ct_err *err) {
    if (!c->model_name_or_path) return ct_err_set(err, CT_ERR_ARG, "model_name_or_path is required");
    const char *ad = c->adapter_name_or_path;
    if (ad && strchr(ad, ','))
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "adapter_name_or_path: several adapters ('%s') are not supported: LlamaFactory merges all but "
                          "the last one into the base; ctune applies one (merge the others first with ctune export)",
                          ad);
    if (ad && c->finetuning_type && strcmp(c->finetuning_type, "lora") && strcmp(c->finetuning_type, "prompt"))
        return ct_err_set(err, CT_ERR_ARG, "adapter_name_or_path needs finetuning_type: lora (got '%s'), as in "
                                           "LlamaFactory", c->finetuning_type);
    if (c->quantization_bit && c->finetuning_type && strcmp(c->finetuning_type, "lora"))
        return ct_err_set(err, CT_ERR_ARG, "quantization_bit needs finetuning_type: lora (got '%s'), as in LlamaFactory",
                          c->finetuning_type);
    if (c->threads < 0 || c->threads > 1024) return ct_err_set(err, CT_ERR_ARG, "threads: expected 0..1024");
    if (gguf_quant(c)) { /* ctune's extension: ggml Q8_0 / Q4_0 blocks for inference */
        if (c->quantization_bit != 4 && c->quantization_bit != 8)
            return ct_err_set(err, CT_ERR_ARG, "quantization_method: gguf needs quantization_bit: 8 (q8_0) or 4 (q4_0)");
        if (c->quantization_type && strcmp(c->quantization_type, "nf4"))
            return ct_err_set(err, CT_ERR_ARG, "quantization_type: %s is a bitsandbytes type; quantization_method: gguf "
                                               "uses Q8_0 / Q4_0 blocks", c->quantization_type);
        if (!c->double_quantization)
            return ct_err_set(err, CT_ERR_ARG, "double_quantization applies to bitsandbytes; quantization_method: gguf "
                                               "has none");
        if (use != CT_INFER_CHAT)
            return ct_err_set(err, CT_ERR_UNSUPPORTED, "quantization_method: gguf is for inference; to export Q8_0 / "
                                                       "Q4_0 use export_format: gguf with export_quantization");
    }
    if (use == CT_INFER_CHAT) {
        if (c->num_beams != 1)
            return ct_err_set(err, CT_ERR_UNSUPPORTED, "num_beams: %lld is not supported: beam search is not "
                                                       "implemented (1 = sampling or greedy)", (long long)c->num_beams);
        if (c->max_new_tokens <= 0 || c->max_new_tokens > 1000000)
            return ct_err_set(err, CT_ERR_ARG, "max_new_tokens must be in 1..1000000 (got %lld; max_length alone is "
                                               "not supported)", (long long)c->max_new_tokens);
        if (c->temperature < 0) return ct_err_set(err, CT_ERR_ARG, "temperature must be >= 0 (got %g)", c->temperature);
        if (c->top_p <= 0 || c->top_p > 1) return ct_err_set(err, CT_ERR_ARG, "top_p must be in (0, 1] (got %g)", c->top_p);
        if (c->top_k < 0) return ct_err_set(err, CT_ERR_ARG, "top_k must be >= 0 (got %lld)", (long long)c->top_k);
        if (c->repetition_penalty <= 0)
            return ct_err_set(err, CT_ERR_ARG, "repetition_penalty must be > 0 (got %g)", c->repetition_penalty);
        if (!c->skip_special_tokens)
            return ct_err_set(err, CT_ERR_UNSUPPORTED, "skip_special_tokens: false is not supported: chat answers are "
                                                       "decoded without special tokens");
        return CT_OK;
    }
    if (!c->export_dir) return ct_err_set(err, CT_ERR_ARG, "export_dir is required (where the model is written)");
    if (c->export_size < 1) return ct_err_set(err, CT_ERR_ARG, "export_size must be >= 1 (GB per shard), got %lld",
                                              (long long)c->export_size);
    if (c->export_legacy_format)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "export_legacy_format: true is not supported: ctune writes "
                                                   "safetensors only (no .bin pickles)");
    if (c->export_quantization_bit)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "export_quantization_bit: GPTQ quantization at export is not "
                                                   "implemented (export a float model)");
    if (c->export_hub_model_id)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "export_hub_model_id: ctune does not upload (push %s yourself)",
                          c->export_dir);
    bool gguf = c->export_format && !strcmp(c->export_format, "gguf");
    if (!gguf && c->export_quantization)
        return ct_err_set(err, CT_ERR_ARG, "export_quantization '%s' needs export_format: gguf", c->export_quantization);
    if (!gguf && c->export_gguf_lora) return ct_err_set(err, CT_ERR_ARG, "export_gguf_lora needs export_format: gguf");
    if (c->export_gguf_lora && !ad)
        return ct_err_set(err, CT_ERR_ARG, "export_gguf_lora needs adapter_name_or_path (the LoRA to write)");
    if (gguf && ct_infer_config_is_set(c, "export_size"))
        return ct_err_set(err, CT_ERR_ARG, "export_size shards safetensors; a GGUF is one file (drop it)");
    if (c->quantization_bit && !ad)
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "quantization_bit without an adapter: exporting a quantized model is "
                                                   "not supported (ctune writes float weights)");
    return CT_OK;
}

static void add_line(char **s, size_t *n, const char *fmt, const char *a, const char *b) {
    char line[1024];
    snprintf(line, sizeof line, fmt, a, b);
    size_t ln = strlen(line);
    char *t = realloc(*s, *n + ln + 2);
    if (!t) return;
    *s = t;
    if (*n) t[(*n)++] = '\n';
    memcpy(t + *n, line, ln + 1);
    *n += ln;
}

char *ct_infer_config_notes(const ct_infer_config *c, ct_infer_use use) {
    char *s = NULL;
    size_t n = 0;
    if (c->ignored.n) {
        size_t len = 0;
        for (size_t i = 0; i < c->ignored.n; i++) len += strlen(c->ignored.v[i]) + 2;
        char *keys = malloc(len + 1);
        if (keys) {
            keys[0] = 0;
            for (size_t i = 0; i < c->ignored.n; i++) strcat(strcat(keys, i ? ", " : ""), c->ignored.v[i]);
            add_line(&s, &n, "accepted for LlamaFactory compatibility, no effect in ctune %s: %s",
                     use == CT_INFER_CHAT ? "chat" : "export", keys);
            free(keys);
        }
    }
    if (c->infer_backend && strcmp(c->infer_backend, "huggingface"))
        add_line(&s, &n, "infer_backend '%s': ctune's own engine runs%s", c->infer_backend,
                 use == CT_INFER_CHAT ? " (same keys, same sampling rules as LlamaFactory's huggingface engine)" : "");
    if (use == CT_INFER_CHAT && c->infer_dtype &&
        (!strcmp(c->infer_dtype, "bfloat16") || !strcmp(c->infer_dtype, "float16")))
        add_line(&s, &n, "infer_dtype %s: the linear layers compute in bf16 (ctune's --precision bf16)%s",
                 c->infer_dtype, !strcmp(c->infer_dtype, "float16") ? "; CPUs have no f16 path here" : "");
    if (use == CT_INFER_EXPORT) {
        if (c->export_device && strcmp(c->export_device, "cpu"))
            add_line(&s, &n, "export_device '%s': ctune exports on the CPU%s", c->export_device, "");
        if (c->default_system)
            add_line(&s, &n, "default_system: LlamaFactory writes it only into its Ollama Modelfile; ctune's (with "
                             "export_format gguf) has the chat template's own SYSTEM; the exported model is the same%s%s",
                     "", "");
    }
    return s;
}

void ct_infer_config_runtime_opts(const ct_infer_config *c, ct_runtime_opts *o) {
    *o = ct_runtime_opts_default();
    o->model_dir = c->model_name_or_path;
    o->adapter_dir = c->adapter_name_or_path;
    o->template_name = c->template_name;
    o->threads = (int)c->threads;
    if (c->infer_dtype && (!strcmp(c->infer_dtype, "bfloat16") || !strcmp(c->infer_dtype, "float16")))
        o->precision = CT_PRECISION_BF16;
    o->quant = (ct_quant_opts){.bits = (int)c->quantization_bit,
                               .fp4 = c->quantization_type && !strcmp(c->quantization_type, "fp4"),
                               .double_quant = c->double_quantization};
    if (gguf_quant(c)) o->quant = (ct_quant_opts){.format = c->quantization_bit == 4 ? CT_QUANT_Q4_0 : CT_QUANT_Q8_0};
}

void ct_infer_config_gen_params(const ct_infer_config *c, ct_gen_params *p) {
    p->do_sample = c->do_sample && c->temperature > 0; /* LlamaFactory: temperature 0 = greedy */
    p->temperature = (float)c->temperature;
    p->top_p = (float)c->top_p;
    p->top_k = (int32_t)c->top_k;
    p->repetition_penalty = (float)c->repetition_penalty;
    p->max_new_tokens = (int32_t)c->max_new_tokens;
    p->seed = (uint64_t)c->seed;
}

bool ct_infer_config_gguf_opts(const ct_infer_config *c, ct_gguf_export_opts *o) {
    memset(o, 0, sizeof *o);
    o->dtype = CT_GGUF_DTYPE_F16;
    if (c->export_quantization) ct_gguf_dtype_parse(c->export_quantization, &o->dtype); /* checked on load */
    return c->export_format && !strcmp(c->export_format, "gguf");
}

void ct_infer_config_export_opts(const ct_infer_config *c, ct_export_opts *o) {
    o->dtype = CT_DTYPE_COUNT; /* auto: the stored dtype */
    if (c->infer_dtype && !strcmp(c->infer_dtype, "bfloat16")) o->dtype = CT_DTYPE_BF16;
    if (c->infer_dtype && !strcmp(c->infer_dtype, "float16")) o->dtype = CT_DTYPE_F16;
    if (c->infer_dtype && !strcmp(c->infer_dtype, "float32")) o->dtype = CT_DTYPE_F32;
    o->max_shard_bytes = (uint64_t)c->export_size * 1000000000ull;
}
