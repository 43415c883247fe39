/* A loaded model written back as a Hugging Face model directory (ct_model_export,
 * include/ctune/model.h): LlamaFactory's `export` of a model without an adapter. */
#include <jansson.h>
#include <stdlib.h>

#include "base/file.h"
#include "base/json.h"
#include "io/hf_export.h"
#include "model/model.h"

ct_status ct_model_export(const ct_model *m, const char *model_dir, const char *out_dir, const ct_export_opts *o,
                          ct_err *err) {
    if (ct_model_need_hf(m, "export", err)) return err->code;
    if (ct_model_is_quantized(m))
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "export: %s has quantized (bitsandbytes) linear weights; re-exporting a quantized model is not "
                          "supported (ctune writes float weights; LlamaFactory would save the quantized ones)",
                          model_dir);
    ct_dtype dtype = o && o->dtype != CT_DTYPE_COUNT ? o->dtype : m->cfg.dtype;
    if (dtype != CT_DTYPE_BF16 && dtype != CT_DTYPE_F16 && dtype != CT_DTYPE_F32)
        return ct_err_set(err, CT_ERR_ARG, "export: dtype must be bf16, f16 or f32");
    char *cpath = ct_path_join(model_dir, "config.json");
    json_t *cfg = NULL;
    ct_status st = cpath ? ct_json_load_file(cpath, &cfg, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    free(cpath);
    if (st) return st;
    ct_weights_items wi = {0};
    st = ct_weights_items_make(&wi, &m->w, &m->cfg, dtype, err);
    ct_hf_export_opts ho = {.out_dir = out_dir,
                            .config = cfg,
                            .dtype = dtype,
                            .max_shard_bytes = o ? o->max_shard_bytes : 0,
                            .tokenizer_dir = model_dir,
                            .generation_config_dir = model_dir};
    if (!st) st = ct_hf_export(&ho, wi.items, wi.n, err);
    ct_weights_items_free(&wi);
    json_decref(cfg);
    return st;
}
