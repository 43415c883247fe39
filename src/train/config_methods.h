/* Checks of the LlamaFactory keys of BAdam, LLaMA Pro and GaLore (include/ctune/config.h):
 * ranges when a key is set (errors name the file:line or --flag and the key), and the
 * combinations LlamaFactory refuses or ctune does not implement (ct_train_config_validate). */
#ifndef CT_TRAIN_CONFIG_METHODS_H
#define CT_TRAIN_CONFIG_METHODS_H

#include "ctune/config.h"

/* Range check of one just-set key (no-op for other keys). `value` is the text it was set from. */
ct_status ct_train_config_check_method_key(const ct_train_config *c, const char *key, const char *value,
                                           const char *where, ct_err *err);
/* Combinations: BAdam / GaLore / LLaMA Pro against finetuning_type, each other and their modes. */
ct_status ct_train_config_validate_methods(const ct_train_config *c, ct_err *err);

#endif
