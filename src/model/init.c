/* A randomly initialised HF model directory (`ctune init-model`, ct_init_model).
 * Initialisation mirrors transformers' PreTrainedModel._init_weights for these decoders:
 * nn.Linear / nn.Embedding weights ~ N(0, initializer_range), biases 0, RMSNorm weights 1
 * (q_norm / k_norm too). Draws come from our counter RNG (src/base/rng.h), seeded, one stream
 * per tensor, so the same seed gives the same bytes on every machine (not torch's numbers). */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "ctune/tokenizer.h"
#include "io/hf_export.h"
#include "io/pyjson.h"
#include "model/arch.h"
#include "base/rng.h"

void ct_init_model_opts_default(ct_init_model_opts *o) {
    memset(o, 0, sizeof *o);
    o->arch = "qwen3";
    o->tie_word_embeddings = true;
    o->dtype = "bf16";
}

typedef struct tbuf {
    char name[160];
    ct_tensor t;
} tbuf;

static ct_status add_tensor(tbuf *v, size_t *n, const char *name, int ndim, const int64_t *shape, ct_init kind,
                            double std, uint64_t seed, ct_err *err) {
    tbuf *b = &v[*n];
    snprintf(b->name, sizeof b->name, "%s", name);
    memset(&b->t, 0, sizeof b->t);
    b->t.dtype = CT_DTYPE_F32;
    b->t.ndim = ndim;
    size_t numel = 1;
    for (int i = 0; i < ndim; i++) numel *= (size_t)(b->t.shape[i] = shape[i]);
    float *f = malloc(numel * sizeof(float));
    if (!f) return ct_err_set(err, CT_ERR_NOMEM, "out of memory for %s", name);
    uint64_t stream = 0x496e6974ull + (uint64_t)*n * CT_RNG_GOLDEN;
    if (kind == CT_INIT_NORMAL) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < numel; i++) f[i] = (float)(std * ct_rng_normal(seed, stream, i));
    } else if (kind == CT_INIT_A_LOG) { /* Qwen3.5: A ~ U(0.01, 16), stored as log A */
        for (size_t i = 0; i < numel; i++) f[i] = (float)log(0.01 + 15.99 * ct_rng_uniform(seed, stream, i));
    } else {
        for (size_t i = 0; i < numel; i++) f[i] = kind == CT_INIT_ONES || kind == CT_INIT_DT_BIAS ? 1.0f : 0.0f;
    }
    b->t.data = f;
    (*n)++;
    return CT_OK;
}

typedef struct init_ctx {
    tbuf *tv;
    size_t n, cap;
    const ct_config *cfg;
    double std;
    uint64_t seed;
    ct_err *err;
} init_ctx;

static int init_one(const ct_tensor_spec *s, int layer, void *user) {
    init_ctx *ic = user;
    char name[160];
    int64_t shape[3];
    ct_spec_name(name, sizeof name, ic->cfg, s, layer);
    int nd = ct_spec_shape(s, ic->cfg, shape);
    ct_init kind = s->init; /* RMSNorm weights: 1, or 0 where they are offsets from 1 (Qwen3.5) */
    if (kind == CT_INIT_NORM) kind = ic->cfg->norm_offset ? CT_INIT_ZEROS : CT_INIT_ONES;
    return add_tensor(ic->tv, &ic->n, name, nd, shape, kind, ic->std, ic->seed, ic->err);
}

/* 0 means "the default" for these; anything else must be a valid value. */
static ct_status check_values(const ct_init_model_opts *o, ct_err *err) {
    static const char *const names[] = {"rope_theta (--rope-theta)", "rms_norm_eps",
                                        "initializer_range (--initializer-range)"};
    const double v[] = {o->rope_theta, o->rms_norm_eps, o->initializer_range};
    for (int i = 0; i < 3; i++)
        if (!isfinite(v[i]) || v[i] < 0)
            return ct_err_set(err, CT_ERR_ARG, "init-model: %s must be a positive number (got %g)", names[i], v[i]);
    if (o->max_position_embeddings < 0)
        return ct_err_set(err, CT_ERR_ARG, "init-model: max_position_embeddings must be positive (got %d)",
                          o->max_position_embeddings);
    if (o->linear_key_heads < 0 || o->linear_value_heads < 0 || o->linear_head_dim < 0)
        return ct_err_set(err, CT_ERR_ARG, "init-model: linear heads and their dim must be positive (got %d, %d, %d)",
                          o->linear_key_heads, o->linear_value_heads, o->linear_head_dim);
    if (o->vocab_size < 0 || o->head_dim < 0 || o->num_kv_heads < 0)
        return ct_err_set(err, CT_ERR_ARG, "init-model: vocab size, head_dim and kv heads must be positive (got %d, %d, %d)",
                          o->vocab_size, o->head_dim, o->num_kv_heads);
    return CT_OK;
}

static bool dir_has_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return ct_file_exists(dir); /* a file in the way counts too */
    struct dirent *e;
    bool any = false;
    while (!any && (e = readdir(d))) any = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return any;
}

ct_status ct_init_model(const ct_init_model_opts *o, ct_err *err) {
    if (!o->out_dir || !o->tokenizer_dir) return ct_err_set(err, CT_ERR_ARG, "init-model: --out and --tokenizer are required");
    const char *arch = o->arch ? o->arch : "qwen3";
    const ct_arch_info *ai = ct_arch_by_type(arch);
    if (!ai) return ct_err_set(err, CT_ERR_ARG, "init-model: --arch must be one of %s (got '%s')", ct_arch_list(), arch);
    int32_t C = o->hidden_size, L = o->num_layers, H = o->num_heads, K = o->num_kv_heads ? o->num_kv_heads : o->num_heads,
            I = o->intermediate_size;
    if (C <= 0 || L <= 0 || H <= 0 || K <= 0 || I <= 0 || H % K)
        return ct_err_set(err, CT_ERR_ARG,
                          "init-model: hidden size, layers, heads, kv heads and intermediate size must be positive "
                          "and heads a multiple of kv heads (got %d, %d, %d, %d, %d)",
                          C, L, H, K, I);
    int32_t D = o->head_dim > 0 ? o->head_dim : C / H;
    if (!ai->head_dim && D * H != C)
        return ct_err_set(err, CT_ERR_ARG, "init-model: %s needs hidden_size = heads * head_dim", arch);
    if (D <= 0 || D % 2) return ct_err_set(err, CT_ERR_ARG, "init-model: head_dim must be even and positive (got %d)", D);
    bool f32 = o->dtype && (!strcmp(o->dtype, "f32") || !strcmp(o->dtype, "float32"));
    if (o->dtype && !f32 && strcmp(o->dtype, "bf16") && strcmp(o->dtype, "bfloat16"))
        return ct_err_set(err, CT_ERR_ARG, "init-model: --dtype must be bf16 or f32 (got '%s')", o->dtype);
    ct_status st = check_values(o, err);
    if (st) return st;
    if (!o->overwrite && dir_has_entries(o->out_dir))
        return ct_err_set(err, CT_ERR_ARG, "init-model: %s already exists and is not empty (use --force to replace its "
                          "model files)", o->out_dir);
    ct_tokenizer *tok = NULL;
    if ((st = ct_tokenizer_load(o->tokenizer_dir, &tok, err))) return st;
    int32_t V = o->vocab_size, tok_vocab = ct_tokenizer_vocab_size(tok);
    if (V <= 0) V = (tok_vocab + 63) / 64 * 64;
    if (V < tok_vocab) {
        ct_tokenizer_free(tok);
        return ct_err_set(err, CT_ERR_ARG, "init-model: vocab size %d is smaller than the tokenizer's %d", V, tok_vocab);
    }
    int32_t eos1 = ct_tokenizer_token_to_id(tok, "<|im_end|>"), eos2 = ct_tokenizer_token_to_id(tok, "<|endoftext|>");
    int32_t teos = ct_tokenizer_eos_id(tok), tbos = ct_tokenizer_bos_id(tok), tpad = ct_tokenizer_pad_id(tok);
    ct_tokenizer_free(tok);
    double std = o->initializer_range > 0 ? o->initializer_range : 0.02; /* 0: the default (checked above) */
    uint64_t seed = o->seed;

    ct_config mc = {.arch = ai->arch, .hidden_size = C, .intermediate_size = I, .num_layers = L, .num_heads = H,
                    .num_kv_heads = K, .head_dim = D, .vocab_size = V, .tie_word_embeddings = o->tie_word_embeddings,
                    .attention_bias = ai->qkv_bias == CT_BIAS_ALWAYS, .o_bias = ai->o_bias == CT_BIAS_ALWAYS,
                    .mlp_bias = ai->mlp_bias == CT_BIAS_ALWAYS, .qk_norm = ai->qk_norm,
                    .attn_output_gate = ai->hybrid, .norm_offset = ai->hybrid};
    if (ai->hybrid) { /* Qwen3.5's schedule (every 4th layer attention); DeltaNet heads like the attention's */
        for (int l = 0; l < L; l++) mc.layer_kind[l] = (l + 1) % 4 ? CT_LAYER_DELTANET : CT_LAYER_ATTENTION;
        mc.lin_k_heads = o->linear_key_heads ? o->linear_key_heads : H;
        mc.lin_v_heads = o->linear_value_heads ? o->linear_value_heads : mc.lin_k_heads;
        mc.lin_k_dim = mc.lin_v_dim = o->linear_head_dim ? o->linear_head_dim : D;
        if (mc.lin_v_heads % mc.lin_k_heads)
            return ct_err_set(err, CT_ERR_ARG, "init-model: linear value heads %d are not a multiple of the key heads %d",
                              mc.lin_v_heads, mc.lin_k_heads);
        mc.lin_conv = 4;
        mc.rotary_dim = D / 4 >= 2 && D % 8 == 0 ? D / 4 : D;
    }
    if (!ai->hybrid && (o->linear_key_heads || o->linear_value_heads || o->linear_head_dim))
        return ct_err_set(err, CT_ERR_ARG, "init-model: linear heads are for qwen3_5_text (got --arch %s)", arch);
    bool bias = mc.attention_bias;
    init_ctx ic = {.cap = 3 + (size_t)L * CT_LT_COUNT, .cfg = &mc, .std = std, .seed = seed, .err = err};
    ic.tv = calloc(ic.cap, sizeof *ic.tv);
    if (!ic.tv) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    /* one stream per tensor in the table's order (the same bytes for the same seed) */
    st = (ct_status)ct_specs_each(&mc, init_one, &ic);
    tbuf *tv = ic.tv;
    size_t n = ic.n;

    json_t *cfg = json_object();
    const char *archname = ai->hf_class;
    json_t *archs = json_array();
    json_array_append_new(archs, json_string(archname));
    json_object_set_new(cfg, "architectures", archs);
    json_object_set_new(cfg, "model_type", json_string(arch));
    json_object_set_new(cfg, "attention_bias", json_boolean(bias));
    json_object_set_new(cfg, "attention_dropout", json_real(0.0));
    int32_t bos = tbos >= 0 ? tbos : eos2 >= 0 ? eos2 : teos;
    int32_t eos_main = eos1 >= 0 ? eos1 : teos;
    if (bos >= 0) json_object_set_new(cfg, "bos_token_id", json_integer(bos));
    if (eos_main >= 0) json_object_set_new(cfg, "eos_token_id", json_integer(eos_main));
    json_object_set_new(cfg, "head_dim", json_integer(D));
    json_object_set_new(cfg, "hidden_act", json_string("silu"));
    json_object_set_new(cfg, "hidden_size", json_integer(C));
    json_object_set_new(cfg, "initializer_range", json_real(std));
    json_object_set_new(cfg, "intermediate_size", json_integer(I));
    json_object_set_new(cfg, "max_position_embeddings",
                        json_integer(o->max_position_embeddings > 0 ? o->max_position_embeddings : 4096));
    if (ai->qwen_keys) json_object_set_new(cfg, "max_window_layers", json_integer(L));
    json_object_set_new(cfg, "num_attention_heads", json_integer(H));
    json_object_set_new(cfg, "num_hidden_layers", json_integer(L));
    json_object_set_new(cfg, "num_key_value_heads", json_integer(K));
    json_object_set_new(cfg, "rms_norm_eps", json_real(o->rms_norm_eps > 0 ? o->rms_norm_eps : 1e-6));
    json_object_set_new(cfg, "rope_scaling", json_null());
    json_object_set_new(cfg, "rope_theta", json_real(o->rope_theta > 0 ? o->rope_theta : 1000000.0));
    if (ai->qwen_keys) {
        json_object_set_new(cfg, "sliding_window", json_null());
        json_object_set_new(cfg, "use_sliding_window", json_false());
    }
    json_object_set_new(cfg, "tie_word_embeddings", json_boolean(o->tie_word_embeddings));
    json_object_set_new(cfg, "torch_dtype", json_string(f32 ? "float32" : "bfloat16"));
    json_object_set_new(cfg, "use_cache", json_true());
    json_object_set_new(cfg, "vocab_size", json_integer(V));
    if (ai->hybrid) {
        json_t *lt = json_array();
        for (int l = 0; l < L; l++)
            json_array_append_new(lt, json_string(mc.layer_kind[l] == CT_LAYER_DELTANET ? "linear_attention"
                                                                                          : "full_attention"));
        json_object_set_new(cfg, "layer_types", lt);
        json_object_set_new(cfg, "linear_conv_kernel_dim", json_integer(mc.lin_conv));
        json_object_set_new(cfg, "linear_key_head_dim", json_integer(mc.lin_k_dim));
        json_object_set_new(cfg, "linear_num_key_heads", json_integer(mc.lin_k_heads));
        json_object_set_new(cfg, "linear_num_value_heads", json_integer(mc.lin_v_heads));
        json_object_set_new(cfg, "linear_value_head_dim", json_integer(mc.lin_v_dim));
        json_object_set_new(cfg, "partial_rotary_factor", json_real((double)mc.rotary_dim / D));
    }

    if (!st) {
        ct_st_item *items = calloc(n, sizeof *items);
        if (!items) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        for (size_t i = 0; !st && i < n; i++) items[i] = ct_st_item_of(tv[i].name, tv[i].t);
        ct_hf_export_opts eo;
        memset(&eo, 0, sizeof eo);
        eo.out_dir = o->out_dir;
        eo.config = cfg;
        eo.dtype = f32 ? CT_DTYPE_F32 : CT_DTYPE_BF16;
        eo.tokenizer_dir = o->tokenizer_dir;
        if (!st) st = ct_hf_export(&eo, items, n, err);
        free(items);
    }
    if (!st) { /* generation_config.json: greedy by default, stop at <|im_end|> and <|endoftext|> */
        json_t *g = json_object();
        if (bos >= 0) json_object_set_new(g, "bos_token_id", json_integer(bos));
        json_t *e = json_array();
        if (eos1 >= 0) json_array_append_new(e, json_integer(eos1));
        if (eos2 >= 0 && eos2 != eos1) json_array_append_new(e, json_integer(eos2));
        if (!json_array_size(e) && teos >= 0) json_array_append_new(e, json_integer(teos));
        json_object_set_new(g, "eos_token_id", e);
        int32_t pad = tpad >= 0 ? tpad : eos2;
        if (pad >= 0) json_object_set_new(g, "pad_token_id", json_integer(pad));
        char *p = ct_path_join(o->out_dir, "generation_config.json");
        st = p ? ct_pyjson_write_file(p, g, 2, true, true, err)
               : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        free(p);
        json_decref(g);
    }
    json_decref(cfg);
    for (size_t i = 0; i < n; i++) free(tv[i].t.data);
    free(tv);
    return st;
}
