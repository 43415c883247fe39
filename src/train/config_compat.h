/* LlamaFactory / HF TrainingArguments keys that ctune accepts without a field of its own, sorted
 * by one rule: a key that changes what is trained is implemented or refused, never ignored.
 *   harmless  changes nothing ctune computes (worker counts, timeouts, kernels, hub tokens,
 *             multimodal sizes on text data, ...): accepted, listed on one summary line;
 *   guarded   harmless at one value (streaming: false, rope_scaling: null) and refused with the
 *             reason at any other;
 *   optim     an optimizer name: AdamW variants run as AdamW (8-bit ones with a note saying so),
 *             other optimizers are refused.
 * Used by the training config (src/train/config.c) and the inference config
 * (src/runtime/infer_config.c). */
#ifndef CT_TRAIN_CONFIG_COMPAT_H
#define CT_TRAIN_CONFIG_COMPAT_H

#include <stdbool.h>
#include <stddef.h>

#include "ctune/err.h"

/* True for a harmless or guarded key. */
bool ct_compat_known(const char *key);
/* True when the key is a boolean (a bare --key on the command line means true). */
bool ct_compat_is_flag(const char *key);
/* CT_OK when value is harmless for key (a known key); otherwise
 * "<where>: key 'K': 'V' is not supported: <reason>" (CT_ERR_UNSUPPORTED). */
ct_status ct_compat_check(const char *key, const char *value, const char *where, ct_err *err);

/* `optim`: CT_OK for the AdamW family, else a one-line refusal naming where and the value. */
ct_status ct_compat_optim_check(const char *value, const char *where, ct_err *err);
/* What runs for `optim` when it is not exactly AdamW (the 8-bit variants), as one line in buf;
 * NULL when it is AdamW as named. */
const char *ct_compat_optim_note(const char *optim, char *buf, size_t n);

#endif
