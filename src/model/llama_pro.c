/* LLaMA Pro block expansion (see ctune/model.h ct_llama_pro_expand), what LlamaFactory's
 * scripts/llama_pro.py (block_expansion, after TencentARC's LLaMA-Pro) writes: layer i of the
 * original becomes layer i + (number of blocks inserted before it); after every `split` =
 * L / num_expand original layers a copy of the last one follows, with every tensor whose name
 * contains "o_proj" or "down_proj" zeroed (torch.zeros_like), the others copied. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "io/hf_export.h"
#include "model/model.h"

/* config.json with num_hidden_layers (and layer_types, which the script leaves stale) updated. */
static ct_status expanded_config(const char *dir, int L, int split, int E, json_t **out, ct_err *err) {
    char *p = ct_path_join(dir, "config.json");
    ct_status st = p ? ct_json_load_file(p, out, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    free(p);
    if (st) return st;
    json_object_set_new(*out, "num_hidden_layers", json_integer(L + E));
    json_t *lt = json_object_get(*out, "layer_types");
    if (json_is_array(lt) && (int)json_array_size(lt) == L) {
        json_t *nl = json_array();
        for (int i = 0; i < L; i++) {
            json_array_append(nl, json_array_get(lt, (size_t)i));
            if ((i + 1) % split == 0) json_array_append(nl, json_array_get(lt, (size_t)i));
        }
        json_object_set_new(*out, "layer_types", nl);
    }
    return CT_OK;
}

ct_status ct_llama_pro_expand(const ct_llama_pro_opts *o, ct_err *err) {
    if (!o->model_dir || !o->out_dir) return ct_err_set(err, CT_ERR_ARG, "llama-pro: a model and an output directory are needed");
    ct_model *m = NULL;
    ct_status st = ct_model_load(o->model_dir, &m, err);
    if (st) return st;
    const ct_config *c = &m->cfg;
    int L = c->num_layers, E = o->num_expand;
    if (E < 1 || L % E)
        st = ct_err_set(err, CT_ERR_ARG, "llama-pro: num_expand %d: the model's %d layers should be divisible by it", E, L);
    else if (L + E > CT_MAX_LAYERS)
        st = ct_err_set(err, CT_ERR_ARG, "llama-pro: %d layers would exceed the %d ctune reads", L + E, CT_MAX_LAYERS);
    else if (ct_model_is_quantized(m))
        st = ct_err_set(err, CT_ERR_UNSUPPORTED, "llama-pro: %s is quantized; expand the 16-bit model", o->model_dir);
    else if (c->n_deltanet)
        st = ct_err_set(err, CT_ERR_UNSUPPORTED,
                        "llama-pro: %s has Gated DeltaNet layers, whose output projection is out_proj: a copy with "
                        "o_proj and down_proj zeroed would not start as the identity (LlamaFactory's script covers "
                        "LLaMA, Mistral, Qwen2 and Yi)", o->model_dir);
    if (st) {
        ct_model_free(m);
        return st;
    }
    int split = L / E;
    ct_config nc = *c;
    nc.num_layers = L + E;
    ct_weights nw = {0};
    json_t *config = NULL;
    void **zeros = calloc((size_t)E * CT_LT_COUNT + 1, sizeof *zeros);
    size_t nz = 0;
    st = zeros ? ct_weights_alloc(&nw, L + E, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!st) {
        memcpy(nw.g, m->w.g, sizeof nw.g);
        int k = 0;
        for (int i = 0; i < L && !st; i++) {
            nw.layers[k++] = m->w.layers[i];
            if ((i + 1) % split) continue;
            ct_layer_weights copy = m->w.layers[i];
            for (int id = 0; id < CT_LT_COUNT && !st; id++) {
                ct_tensor *t = &copy.t[id];
                const char *hf = ct_layer_specs[id].hf;
                if (!t->data || (!strstr(hf, "o_proj") && !strstr(hf, "down_proj"))) continue;
                if (!(zeros[nz] = calloc(1, ct_tensor_nbytes(t) ? ct_tensor_nbytes(t) : 1)))
                    st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
                else t->data = zeros[nz++];
            }
            nw.layers[k++] = copy;
        }
    }
    if (!st) st = expanded_config(o->model_dir, L, split, E, &config, err);
    ct_weights_items wi = {0};
    ct_dtype dt = c->dtype == CT_DTYPE_BF16 || c->dtype == CT_DTYPE_F16 ? c->dtype : CT_DTYPE_F32;
    if (!st) st = ct_weights_items_make(&wi, &nw, &nc, dt, err);
    if (!st) {
        ct_hf_export_opts eo = {.out_dir = o->out_dir, .config = config, .dtype = dt, .max_shard_bytes = o->max_shard_bytes,
                                .tokenizer_dir = o->model_dir, .generation_config_dir = o->model_dir};
        st = ct_hf_export(&eo, wi.items, wi.n, err);
    }
    ct_weights_items_free(&wi);
    json_decref(config);
    for (size_t i = 0; i < nz; i++) free(zeros[i]);
    free(zeros);
    if (nw.layers) ct_weights_free(&nw);
    ct_model_free(m);
    return st;
}
