/* A model ready to use: base + adapter + tokenizer + template + generation settings + context
 * (include/ctune/runtime.h). */
#include "ctune/runtime.h"

#include <stdlib.h>
#include <string.h>

struct ct_runtime {
    bool borrowed;             /* model, adapter and tokenizer belong to the caller */
    ct_ctx *ctx;
    ct_model *model;
    ct_adapter *adapter;
    const char *model_dir, *adapter_dir;
    bool tok_tried;            /* the tokenizer is loaded on first use */
    ct_tokenizer *tok;
    ct_err tok_err;            /* why there is no tokenizer */
    const char *template_name; /* the option strings above point into strings[] */
    const ct_template *tmpl;   /* resolved on first use */
    char strings[];
};

ct_runtime_opts ct_runtime_opts_default(void) {
    ct_runtime_opts o;
    memset(&o, 0, sizeof o);
    return o;
}

/* The parts both constructors share: context, precision, and the option strings (copied into
 * the runtime's own allocation; NULL stays NULL). */
static ct_status rt_new(const ct_runtime_opts *o, ct_runtime **out, ct_err *err) {
    const char *in[3] = {o->model_dir, o->adapter_dir, o->template_name};
    size_t len = 0;
    for (int i = 0; i < 3; i++) len += in[i] ? strlen(in[i]) + 1 : 0;
    ct_runtime *rt = *out = calloc(1, sizeof *rt + len + 1);
    if (!rt) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    const char **dst[3] = {&rt->model_dir, &rt->adapter_dir, &rt->template_name};
    char *p = rt->strings;
    for (int i = 0; i < 3; i++)
        if (in[i]) *dst[i] = strcpy(p, in[i]), p += strlen(in[i]) + 1;
    ct_status st = ct_ctx_new(&rt->ctx, o->threads, err);
    if (!st && o->precision != CT_PRECISION_F32 && !ct_ctx_set_precision(rt->ctx, o->precision))
        st = ct_err_set(err, CT_ERR_UNSUPPORTED, "unknown compute precision %d", (int)o->precision);
    if (!st && !ct_ctx_set_batch_precision(rt->ctx, o->batch_precision))
        st = ct_err_set(err, CT_ERR_UNSUPPORTED, "unknown batch precision %d", (int)o->batch_precision);
    return st;
}

ct_status ct_runtime_borrow(const ct_model *m, const ct_adapter *ad, const ct_tokenizer *tok,
                            const ct_runtime_opts *o, ct_runtime **out, ct_err *err) {
    *out = NULL;
    ct_runtime *rt = NULL;
    ct_status st = rt_new(o, &rt, err);
    if (rt) {
        rt->borrowed = true;
        rt->model = (ct_model *)m;
        rt->adapter = (ct_adapter *)ad;
        rt->tok = (ct_tokenizer *)tok;
        rt->tok_tried = true;
        if (!tok) ct_err_set(&rt->tok_err, CT_ERR_ARG, "runtime: no tokenizer was given");
    }
    if (st) ct_runtime_free(rt);
    else *out = rt;
    return st;
}

ct_status ct_runtime_open(const ct_runtime_opts *o, ct_runtime **out, ct_err *err) {
    *out = NULL;
    if (!o->model_dir) return ct_err_set(err, CT_ERR_ARG, "runtime: no model directory");
    ct_runtime *rt = NULL;
    ct_status st = rt_new(o, &rt, err);
    if (!st) st = ct_model_load(o->model_dir, &rt->model, err);
    if (!st) st = ct_model_quantize(rt->model, &o->quant, err);
    if (!st) st = ct_model_pack_decode(rt->model, err);
    if (!st && o->adapter_dir) st = ct_adapter_load(o->adapter_dir, rt->model, &rt->adapter, err);
    if (!st && rt->adapter && o->merge_adapter) st = ct_adapter_merge(rt->adapter, rt->ctx, err);
    if (st) ct_runtime_free(rt);
    else *out = rt;
    return st;
}

void ct_runtime_free(ct_runtime *rt) {
    if (!rt) return;
    if (!rt->borrowed) {
        ct_tokenizer_free(rt->tok);
        ct_adapter_free(rt->adapter);
        ct_model_free(rt->model);
    }
    ct_ctx_free(rt->ctx);
    free(rt);
}

const ct_model *ct_runtime_model(const ct_runtime *rt) { return rt->model; }
const ct_adapter *ct_runtime_adapter(const ct_runtime *rt) { return rt->adapter; }
ct_ctx *ct_runtime_ctx(const ct_runtime *rt) { return rt->ctx; }

const ct_tokenizer *ct_runtime_tokenizer(ct_runtime *rt, const char **why) {
    if (!rt->tok_tried) {
        rt->tok_tried = true;
        if (ct_tokenizer_load(rt->model_dir, &rt->tok, &rt->tok_err)) {
            ct_err e2 = {0};
            if (!rt->adapter_dir || ct_tokenizer_load(rt->adapter_dir, &rt->tok, &e2)) rt->tok = NULL;
        }
    }
    if (why) *why = rt->tok ? NULL : rt->tok_err.msg;
    return rt->tok;
}

static ct_status need_tok(ct_runtime *rt, ct_err *err) {
    if (ct_runtime_tokenizer(rt, NULL)) return CT_OK;
    return ct_err_set(err, rt->tok_err.code ? rt->tok_err.code : CT_ERR_IO, "%s", rt->tok_err.msg);
}

ct_status ct_runtime_template(ct_runtime *rt, const ct_template **out, ct_err *err) {
    *out = NULL;
    if (!rt->tmpl) {
        const ct_tokenizer *tok = ct_runtime_tokenizer(rt, NULL);
        const char *src = tok ? ct_tokenizer_chat_template(tok) : NULL;
        ct_status st = ct_template_resolve(rt->template_name, rt->template_name ? NULL : src, &rt->tmpl, NULL, 0, err);
        if (st) return st;
    }
    *out = rt->tmpl;
    return CT_OK;
}

ct_status ct_runtime_gen_params(ct_runtime *rt, bool chat, ct_gen_params *p, ct_err *err) {
    ct_gen_params_init(p, ct_model_config(rt->model));
    p->tok = ct_runtime_tokenizer(rt, NULL);
    return chat ? ct_runtime_chat_stops(rt, p, err) : CT_OK;
}

ct_status ct_runtime_chat_stops(ct_runtime *rt, ct_gen_params *p, ct_err *err) {
    const ct_template *t;
    ct_status st = ct_runtime_template(rt, &t, err);
    if (st) return st;
    /* the template's end-of-turn token stops generation too */
    const char *end = ct_template_eos(t);
    int32_t id = end && *end && rt->tok ? ct_tokenizer_token_to_id(rt->tok, end) : -1;
    bool have = false;
    for (int32_t i = 0; i < p->num_eos; i++) have |= p->eos_ids[i] == id;
    if (id >= 0 && !have && p->num_eos < CT_GEN_MAX_EOS) p->eos_ids[p->num_eos++] = id;
    return CT_OK;
}

ct_status ct_runtime_encode(ct_runtime *rt, const char *text, size_t len, ct_ids *out, ct_err *err) {
    ct_status st = need_tok(rt, err);
    return st ? st : ct_tokenizer_encode_text(rt->tok, text, len, out, err);
}

ct_status ct_runtime_encode_chat(ct_runtime *rt, const ct_conv *conv, const ct_render_opts *ro, ct_ids *out,
                                 ct_err *err) {
    const ct_template *t;
    ct_status st = need_tok(rt, err);
    if (!st) st = ct_runtime_template(rt, &t, err);
    if (st) return st;
    ct_render r;
    ct_render_init(&r);
    st = ct_template_render(t, conv, ro, &r, err);
    if (!st) st = ct_tokenizer_encode(rt->tok, r.text, r.len, false, out, err);
    ct_render_free(&r);
    return st;
}

ct_status ct_runtime_generate(ct_runtime *rt, const int32_t *prompt, size_t n_prompt, const ct_gen_params *p,
                              ct_ids *out, ct_gen_stop *stop, ct_err *err) {
    return ct_generate(rt->ctx, rt->model, rt->adapter, prompt, n_prompt, p, out, stop, err);
}

ct_status ct_runtime_generate_batch(ct_runtime *rt, const int32_t *const *prompts, const size_t *n_prompts, size_t n,
                                    const ct_gen_params *p, ct_ids *outs, ct_gen_stop *stops, ct_err *err) {
    return ct_generate_batch(rt->ctx, rt->model, rt->adapter, prompts, n_prompts, n, p, outs, stops, err);
}

ct_status ct_runtime_nll(ct_runtime *rt, const int32_t *ids, size_t T, double *nll_sum, size_t *n_predicted,
                         ct_err *err) {
    return ct_model_nll(rt->ctx, rt->model, rt->adapter, ids, T, nll_sum, n_predicted, err);
}

ct_status ct_runtime_nll_decode(ct_runtime *rt, const int32_t *ids, size_t T, double *nll_sum, size_t *n_predicted,
                                ct_err *err) {
    return ct_model_nll_decode(rt->ctx, rt->model, rt->adapter, ids, T, nll_sum, n_predicted, err);
}
