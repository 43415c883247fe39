/* The keys of LlamaFactory's LoRA-family methods (DoRA, LoRA+, PiSSA, NEFTune, continuing from
 * an adapter): range checks when a key is set (the message names the file:line or --flag and
 * the key) and the rules between keys that LlamaFactory enforces (hparams/finetuning_args.py,
 * hparams/parser.py). Called by src/train/config.c. */
#ifndef CT_TRAIN_CONFIG_PEFT_H
#define CT_TRAIN_CONFIG_PEFT_H

#include "ctune/config.h"

/* After `key` was set to `value` (text; null allowed) at `where`. */
ct_status ct_config_check_peft_key(const ct_train_config *c, const char *key, const char *value, const char *where,
                                   ct_err *err);
/* Rules between keys (finetuning_type, quantization_bit, adapter_name_or_path, pissa_*). */
ct_status ct_config_validate_peft(const ct_train_config *c, ct_err *err);

#endif
