/* The model as the library sees it: config + weight views laid out by the architecture table
 * (src/model/arch.h). Shared by src/model, src/peft, src/train. */
#ifndef CT_MODEL_MODEL_H
#define CT_MODEL_MODEL_H

#include "ctune/model.h"
#include "io/st_writer.h"
#include "model/arch.h"

/* Weight views, indexed by the table's ids (data NULL: the model has no such tensor). */
typedef struct ct_layer_weights {
    ct_tensor t[CT_LT_COUNT];
} ct_layer_weights;

typedef struct ct_weights {
    ct_tensor g[CT_GT_COUNT]; /* embed, final norm, lm_head (the embedding's view when tied) */
    ct_layer_weights *layers; /* [n_layers] */
    int n_layers;
} ct_weights;

struct ct_model {
    ct_config cfg;
    ct_weights w;
    char *dir;        /* model directory (NULL for in-memory models) */
    void *storage;    /* loader-owned: mmaps of safetensors files (NULL: the builder owns the data) */
    void *gguf;       /* loader-owned: the mapped GGUF file (ct_gguf) of a model loaded from one */
    void **quant_owned; /* quantization states / codes of quantized weights (src/model/quantize.c) */
    size_t n_quant_owned;
    void *packed; /* the weights in decode order (ct_model_pack_decode), or NULL */
};

struct json_t;
/* config.json's parsed object `root` into *cfg (ct_config_load's parser; errors name `path`). The
 * GGUF loader builds such an object from a file's metadata. */
ct_status ct_config_parse_json(const char *path, struct json_t *root, ct_config *cfg, ct_err *err);
/* A model file in GGUF (src/model/gguf_load.c; ct_model_load dispatches to it). */
/* Refuses (naming the file) to `what` a model loaded from a GGUF file: exports and merges read the
 * Hugging Face directory's files (config.json, tokenizer files) beside the weights. */
ct_status ct_model_need_hf(const ct_model *m, const char *what, ct_err *err);
ct_status ct_model_load_gguf(const char *path, ct_model **out, ct_err *err);
/* Makes m own `p` (freed with m, or when ct_model_pack_decode copies the weight at p); on error
 * p is freed. */
ct_status ct_model_own(ct_model *m, void *p, ct_err *err);
/* Takes over `blocks` (ct_big_alloc'd plain ggml blocks, rows of *t's [N, K] shape, dtype dt
 * Q8_0 / Q4_0), packs them by 8 rows (the decode GEMV's layout) and points *t at them, m owning
 * them; on error they are freed. */
ct_status ct_model_adopt_ggml(ct_model *m, ct_tensor *t, ct_dtype dt, uint8_t *blocks, ct_err *err);

/* Loader hook (src/model/quantize.c): when the files hold a bitsandbytes 4-bit state for weight
 * `name`, binds *out to it (shape-checked against want) and returns CT_OK with *bound true. */
ct_status ct_model_bind_bnb(ct_model *m, const void *st, const char *name, const int64_t want[2], ct_tensor *out,
                            bool *bound, ct_err *err);
/* log softmax(logits)[id] in f64 over V logits (the max subtracted; exp and log in double); *is_max:
 * id is the first argmax (NULL: not wanted). Eval's log-likelihoods and ct_model_nll_decode. */
double ct_logits_logprob(const float *logits, size_t V, int32_t id, bool *is_max);
/* Frees what quantization added to m. */
void ct_model_quant_free(ct_model *m);
/* Frees the ggml blocks quantization on load made at data (true), or does nothing (false: data is
 * not such blocks). */
bool ct_model_quant_release(ct_model *m, const void *data);
/* Drops the pages of a weight of a loaded model that will not be read again from the process's
 * resident memory (the mmap'd original: a later touch would fault it back from the file); nothing
 * for a model without files. */
void ct_model_release_pages(const ct_model *m, const ct_tensor *t);
/* The same for n bytes at p inside the model's files. */
void ct_model_release_bytes(const ct_model *m, const void *p, size_t n);

/* The view of (spec, layer) in w. */
ct_tensor *ct_weights_at(ct_weights *w, const ct_tensor_spec *s, int layer);
const ct_tensor *ct_weights_at_c(const ct_weights *w, const ct_tensor_spec *s, int layer);
/* The view with HF name `name`; NULL when w has no present tensor of that name. */
ct_tensor *ct_weights_find(ct_weights *w, const ct_config *cfg, const char *name);
/* dst = a shallow copy of src (its own layers array, the same data pointers). */
ct_status ct_weights_clone(ct_weights *dst, const ct_weights *src, ct_err *err);
/* Frees the layers array of a clone (not the data). */
void ct_weights_free(ct_weights *w);
/* Allocates an empty weights struct for cfg->num_layers layers. */
ct_status ct_weights_alloc(ct_weights *w, int n_layers, ct_err *err);
/* Replaces the view *t (any dtype) by an f32 copy of its values, malloc'ed and appended to the list
 * (*owned)[*n_owned] that the caller frees. */
ct_status ct_tensor_own_f32(ct_tensor *t, float ***owned, size_t *n_owned, ct_err *err);
/* True when lm_head is the embedding (tie_word_embeddings and the views share their data). */
bool ct_weights_tied(const ct_weights *w);

/* The tensors w stores for cfg (ct_specs_each order) as safetensors items named by their HF
 * names, each to be written as `dtype` (the items point into w; the names are owned). */
typedef struct ct_weights_items {
    ct_st_item *items;
    char (*names)[192];
    size_t n;
} ct_weights_items;
ct_status ct_weights_items_make(ct_weights_items *out, const ct_weights *w, const ct_config *cfg, ct_dtype dtype,
                                ct_err *err);
void ct_weights_items_free(ct_weights_items *wi);
/* Appends, as stored, the tensors of m's checkpoint files that the decoder does not load (the
 * vision tower and MTP head of a Qwen3_5ForConditionalGeneration checkpoint), so a saved or
 * exported model is whole; nothing for a model built in memory. */
ct_status ct_weights_items_add_unloaded(ct_weights_items *wi, const ct_model *m, ct_err *err);

/* Builds a model around weights the caller owns (tests, benchmarks): cfg + w are taken over
 * (w.layers freed by ct_model_free, the tensor data not). */
ct_model *ct_model_wrap(const ct_config *cfg, const ct_weights *w);

#endif
