/* Checks of the LoRA-family method keys (see config_peft.h). */
#include "train/config_peft.h"

#include <string.h>

static bool is_null(const char *v) { return !v || !*v || !strcmp(v, "null") || !strcmp(v, "~") || !strcmp(v, "None"); }

static bool is_lora(const ct_train_config *c) { return !c->finetuning_type || !strcmp(c->finetuning_type, "lora"); }

ct_status ct_config_check_peft_key(const ct_train_config *c, const char *key, const char *value, const char *where,
                                   ct_err *err) {
    if (!strcmp(key, "loraplus_lr_ratio") && !is_null(value) && !(c->loraplus_lr_ratio > 0))
        return ct_err_set(err, CT_ERR_ARG, "%s: key 'loraplus_lr_ratio': must be > 0 (lr of lora_B / lr of lora_A), got %s",
                          where, value);
    if (!strcmp(key, "loraplus_lr_embedding") && !(c->loraplus_lr_embedding >= 0))
        return ct_err_set(err, CT_ERR_ARG, "%s: key 'loraplus_lr_embedding': must be >= 0, got %s", where, value);
    if (!strcmp(key, "pissa_iter") && c->pissa_iter < -1)
        return ct_err_set(err, CT_ERR_ARG,
                          "%s: key 'pissa_iter': must be -1 (exact SVD) or >= 0 (randomized SVD iterations), got %s",
                          where, value);
    if (!strcmp(key, "neftune_noise_alpha") && !(c->neftune_noise_alpha >= 0))
        return ct_err_set(err, CT_ERR_ARG, "%s: key 'neftune_noise_alpha': must be >= 0 (0 = off), got %s", where,
                          value);
    return CT_OK;
}

static size_t count_items(const char *list) {
    size_t n = 0;
    for (const char *s = list; s && *s;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        for (size_t i = 0; i < len; i++)
            if (s[i] != ' ' && s[i] != '\t') {
                n++;
                break;
            }
        s = comma ? comma + 1 : s + len;
    }
    return n;
}

ct_status ct_config_validate_peft(const ct_train_config *c, ct_err *err) {
    if (!is_lora(c)) { /* LlamaFactory FinetuningArguments.__post_init__ */
        const char *key = c->loraplus_lr_ratio > 0 ? "loraplus_lr_ratio"
                          : c->use_rslora          ? "use_rslora"
                          : c->use_dora            ? "use_dora"
                          : c->pissa_init          ? "pissa_init"
                          : c->pissa_convert       ? "pissa_convert"
                                                   : NULL;
        if (key)
            return ct_err_set(err, CT_ERR_ARG, "%s is only valid for finetuning_type lora (got '%s')", key,
                              c->finetuning_type);
    }
    if (c->quantization_bit && c->pissa_init) /* LlamaFactory _verify_model_args */
        return ct_err_set(err, CT_ERR_ARG,
                          "pissa_init: cannot initialize PiSSA on a quantized model (quantization_bit); as LlamaFactory "
                          "asks, initialize it on the 16-bit model first");
    if (c->quantization_bit && c->adapter_name_or_path && c->create_new_adapter)
        return ct_err_set(err, CT_ERR_ARG, "create_new_adapter: cannot merge adapters into a quantized model "
                                           "(quantization_bit), as in LlamaFactory");
    if (c->quantization_bit && count_items(c->adapter_name_or_path) > 1)
        return ct_err_set(err, CT_ERR_ARG, "adapter_name_or_path: a quantized model takes a single adapter (merge them "
                                           "first), as in LlamaFactory");
    if (c->pissa_convert && c->use_dora)
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "pissa_convert: a DoRA adapter cannot be converted to plain LoRA (PEFT's conversion keeps "
                          "only lora_A / lora_B and would drop the magnitude vectors)");
    if (c->pissa_convert && c->additional_target.n)
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "pissa_convert: PEFT's conversion keeps only lora_A / lora_B, so the trained "
                          "additional_target modules would be lost; drop one of the two keys");
    if (c->pissa_init && c->adapter_name_or_path && !c->create_new_adapter)
        return ct_err_set(err, CT_ERR_ARG,
                          "pissa_init: training continues the adapter in adapter_name_or_path, so there is nothing "
                          "to initialize (set create_new_adapter: true for a new PiSSA adapter)");
    return CT_OK;
}
