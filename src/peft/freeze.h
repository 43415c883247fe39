/* Freeze tuning, LlamaFactory `_setup_freeze_tuning` semantics: a parameter is trainable when
 * its HF name contains one of the patterns: ".{i}." (modules "all") or ".{i}.{module}" for each
 * trainable layer i (N > 0: last N layers, N < 0: first |N|), plus each extra module name
 * verbatim (a substring match, as LlamaFactory does: "norm" also matches the layer norms). */
#ifndef CT_PEFT_FREEZE_H
#define CT_PEFT_FREEZE_H

#include <stdbool.h>
#include <stddef.h>

#include "ctune/err.h"
#include "ctune/model.h"

typedef struct ct_freeze_patterns {
    char **pat;
    size_t n;
} ct_freeze_patterns;

/* modules: NULL or "all" or comma list of self_attn, mlp, input_layernorm,
 * post_attention_layernorm; extra: NULL or comma list of embed_tokens, norm, lm_head (untied). */
ct_status ct_freeze_patterns_init(ct_freeze_patterns *fp, const ct_config *cfg, int trainable_layers,
                                  const char *modules, const char *extra, ct_err *err);
/* The same for an explicit list of trainable layer indices (LLaMA Pro, BAdam blocks). */
ct_status ct_freeze_patterns_layers(ct_freeze_patterns *fp, const ct_config *cfg, const int *ids, size_t n_ids,
                                    const char *modules, const char *extra, ct_err *err);
/* LlamaFactory use_llama_pro: the expanded blocks of a model of num_layers layers grown by
 * num_expanded (scripts/llama_pro.py puts one after every num_layers / num_expanded layers):
 * ids stride - 1, 2 stride - 1, ... (stride = num_layers / num_expanded) into ids
 * [CT_MAX_LAYERS]. Returns their count, or -1 (CT_ERR_ARG in err) when num_layers is not a
 * multiple of num_expanded (> 0). */
int ct_llama_pro_layers(int num_layers, int num_expanded, int *ids, ct_err *err);
bool ct_freeze_match(const ct_freeze_patterns *fp, const char *name);
void ct_freeze_patterns_free(ct_freeze_patterns *fp);

#endif
