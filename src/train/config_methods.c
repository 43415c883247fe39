/* BAdam / LLaMA Pro / GaLore key checks (see config_methods.h). The refusals follow
 * LlamaFactory's FinetuningArguments.__post_init__ and _create_galore_optimizer /
 * _create_badam_optimizer (src/llamafactory/hparams/finetuning_args.py, train/trainer_utils.py),
 * plus what BAdam's BlockOptimizer cannot run and what ctune does not implement. */
#include "train/config_methods.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/cfgfile.h"

ct_status ct_train_config_check_method_key(const ct_train_config *c, const char *key, const char *value,
                                           const char *where, ct_err *err) {
    /* -1 is null (what --print-config writes for it) */
    if (!strcmp(key, "badam_start_block") && !ct_cfg_is_null(value) && c->badam_start_block < -1)
        return ct_err_set(err, CT_ERR_ARG, "%s: key 'badam_start_block': must be a block index >= 0 (or null), got %lld",
                          where, (long long)c->badam_start_block);
    if (!strcmp(key, "badam_switch_interval") && c->badam_switch_interval == -1)
        return ct_err_set(err, CT_ERR_ARG,
                          "%s: key 'badam_switch_interval': -1 is refused: BAdam's BlockOptimizer then switches "
                          "blocks after every step (step %% -1 == 0), not never as LlamaFactory's help says; use "
                          "badam_switch_mode: fixed to keep one block",
                          where);
    if (!strcmp(key, "badam_switch_interval") && c->badam_switch_interval < 1)
        return ct_err_set(err, CT_ERR_ARG, "%s: key 'badam_switch_interval': must be >= 1 (steps per block), got %lld",
                          where, (long long)c->badam_switch_interval);
    if (!strcmp(key, "badam_update_ratio") && !(c->badam_update_ratio > 1e-6 && c->badam_update_ratio <= 1))
        return ct_err_set(err, CT_ERR_ARG, "%s: key 'badam_update_ratio': must be in (1e-6, 1], got %g", where,
                          c->badam_update_ratio);
    if (!strcmp(key, "badam_verbose") && (c->badam_verbose < 0 || c->badam_verbose > 2))
        return ct_err_set(err, CT_ERR_ARG, "%s: key 'badam_verbose': must be 0, 1 or 2, got %lld", where,
                          (long long)c->badam_verbose);
    if (!strcmp(key, "galore_rank") && (c->galore_rank < 1 || c->galore_rank > 65536))
        return ct_err_set(err, CT_ERR_ARG, "%s: key 'galore_rank': must be in [1, 65536], got %lld", where,
                          (long long)c->galore_rank);
    if (!strcmp(key, "galore_update_interval") && c->galore_update_interval < 1)
        return ct_err_set(err, CT_ERR_ARG, "%s: key 'galore_update_interval': must be >= 1 (steps between SVDs), got %lld",
                          where, (long long)c->galore_update_interval);
    if (!strcmp(key, "galore_scale") && !(c->galore_scale > 0))
        return ct_err_set(err, CT_ERR_ARG, "%s: key 'galore_scale': must be > 0, got %g", where, c->galore_scale);
    if (!strcmp(key, "galore_target")) {
        for (size_t i = 0; i < c->galore_target.n; i++)
            if (strlen(c->galore_target.v[i]) > 160)
                return ct_err_set(err, CT_ERR_ARG, "%s: key 'galore_target': name '%.40s...' is too long", where,
                                  c->galore_target.v[i]);
    }
    return CT_OK;
}

ct_status ct_train_config_validate_methods(const ct_train_config *c, ct_err *err) {
    const char *ft = c->finetuning_type ? c->finetuning_type : "lora";
    bool full = !strcmp(ft, "full"), freeze = !strcmp(ft, "freeze"), lora = !strcmp(ft, "lora");
    if (lora && (c->use_galore || c->use_badam))
        return ct_err_set(err, CT_ERR_ARG, "%s: cannot use LoRA with GaLore or BAdam together (as LlamaFactory)",
                          c->use_galore ? "use_galore" : "use_badam");
    if (c->use_galore && c->use_badam)
        return ct_err_set(err, CT_ERR_ARG, "use_galore + use_badam: cannot use GaLore and BAdam together (as LlamaFactory)");
    if (c->use_llama_pro && !freeze && !lora)
        return ct_err_set(err, CT_ERR_ARG, "use_llama_pro: only valid for finetuning_type freeze or lora (got '%s'), as "
                                           "LlamaFactory", ft);
    if (c->use_llama_pro && freeze && c->freeze_trainable_layers <= 0)
        return ct_err_set(err, CT_ERR_ARG,
                          "use_llama_pro: freeze_trainable_layers must be the number of expanded blocks (> 0), got %lld",
                          (long long)c->freeze_trainable_layers);
    if (c->use_badam) {
        if (!full)
            return ct_err_set(err, CT_ERR_ARG,
                              "use_badam: needs finetuning_type full (got '%s'): BAdam switches every decoder layer on "
                              "in turn whatever else is frozen", ft);
        if (c->badam_mode && !strcmp(c->badam_mode, "ratio"))
            return ct_err_set(err, CT_ERR_UNSUPPORTED,
                              "badam_mode: ratio (BAdam's BlockOptimizerRatio: sparse masks of every weight) is not "
                              "implemented; use badam_mode: layer");
        const char *sm = c->badam_switch_mode ? c->badam_switch_mode : "ascending";
        if (!strcmp(sm, "fixed") && c->badam_start_block < 0)
            return ct_err_set(err, CT_ERR_ARG, "badam_switch_mode fixed needs badam_start_block (the block to train)");
        if (!strcmp(sm, "random") && c->badam_start_block >= 0)
            return ct_err_set(err, CT_ERR_ARG,
                              "badam_start_block with badam_switch_mode random: BAdam's BlockOptimizer keeps no block "
                              "order then and fails at the first switch; drop badam_start_block");
    }
    if (c->use_galore) {
        if (!full && !freeze)
            return ct_err_set(err, CT_ERR_ARG, "use_galore: needs finetuning_type full or freeze (got '%s')", ft);
        if (c->galore_layerwise && c->gradient_accumulation_steps != 1)
            return ct_err_set(err, CT_ERR_ARG,
                              "galore_layerwise: per-layer GaLore does not support gradient accumulation "
                              "(gradient_accumulation_steps %lld), as LlamaFactory",
                              (long long)c->gradient_accumulation_steps);
        if (!c->galore_target.n)
            return ct_err_set(err, CT_ERR_ARG, "galore_target: empty (use all or module names)");
    }
    return CT_OK;
}
