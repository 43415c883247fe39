/* Pre-quantized bitsandbytes checkpoints (`*-bnb-4bit`, as transformers saves them).
 * A 4-bit linear weight NAME (e.g. model.layers.0.self_attn.q_proj.weight) is stored as
 *   NAME                 U8 [(n + 1) / 2, 1]   packed codes (first in the high nibble)
 *   NAME.absmax          F32 [blocks], or U8 [blocks] when double-quantized
 *   NAME.quant_map       F32 [16]              the 4-bit code table
 *   NAME.nested_absmax   F32 [ceil(blocks / nested_blocksize)]   (double quant only)
 *   NAME.nested_quant_map F32 [256]            the 8-bit dynamic map (double quant only)
 *   NAME.quant_state.bitsandbytes__nf4 | __fp4   U8 bytes of a JSON object: quant_type, blocksize,
 *       dtype (original torch dtype), shape, and when nested: nested_blocksize, nested_offset,
 *       nested_dtype.
 * config.json carries `quantization_config` {quant_method: "bitsandbytes", load_in_4bit,
 * bnb_4bit_quant_type, bnb_4bit_use_double_quant, bnb_4bit_compute_dtype, llm_int8_skip_modules}. */
#ifndef CT_QUANT_BNB_LOAD_H
#define CT_QUANT_BNB_LOAD_H

#include <jansson.h>
#include <stdbool.h>

#include "io/safetensors.h"
#include "quant/quant.h"

/* Builds the NF4/FP4 view of 4-bit weight `name` from st. want_shape (may be NULL) is the [out,
 * in] shape the model config expects; the quant_state shape must equal it. Everything is
 * validated (missing companions, quant_type, blocksize, dtype, array sizes, code tables) with an
 * error naming the tensor or key. *owner receives the state (out->quant points into it; the code
 * and scale arrays stay in st's mapping, so free the owner with ct_quant4_owner_free before or
 * after ct_st_close, and use the tensor only while st is open). */
ct_status ct_bnb4_bind(const ct_st *st, const char *name, const int64_t want_shape[2],
                       ct_tensor *out, ct_quant4_owner **owner, ct_err *err);
/* True when st holds a bitsandbytes quant_state for weight `name`. */
bool ct_bnb4_present(const ct_st *st, const char *name);

/* config.json's quantization_config. */
typedef struct ct_bnb_config {
    bool present;        /* quant_method == "bitsandbytes" */
    bool load_in_4bit, load_in_8bit;
    ct_dtype quant_type; /* CT_DTYPE_NF4 / CT_DTYPE_FP4 (4-bit) */
    bool double_quant;   /* bnb_4bit_use_double_quant */
    ct_dtype compute_dtype; /* bnb_4bit_compute_dtype: F32 / F16 / BF16 (default F32) */
    char **skip_modules; /* llm_int8_skip_modules (module names kept unquantized) */
    int n_skip;
} ct_bnb_config;

/* Parses the model's config.json object (absent quantization_config: present = false). */
ct_status ct_bnb_config_parse(const json_t *config, ct_bnb_config *out, ct_err *err);
/* Same from DIR/config.json. */
ct_status ct_bnb_config_load(const char *dir, ct_bnb_config *out, ct_err *err);
void ct_bnb_config_free(ct_bnb_config *c);
/* True when module or weight `name` falls under one of skip_modules (a whole dotted component
 * sequence of the name, as transformers matches them). */
bool ct_bnb_config_skips(const ct_bnb_config *c, const char *name);

#endif
