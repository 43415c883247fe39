/* Binding pre-quantized bitsandbytes 4-bit weights from a safetensors set, and config.json's
 * quantization_config (layout in bnb_load.h). */
#include "quant/bnb_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"

#define KEY_MAX 512

/* Companion tensor NAME.suffix, or NULL. */
static const ct_tensor *companion(const ct_st *st, const char *name, const char *suffix, char *key) {
    snprintf(key, KEY_MAX, "%s.%s", name, suffix);
    return ct_st_get(st, key);
}

bool ct_bnb4_present(const ct_st *st, const char *name) {
    char key[KEY_MAX];
    return companion(st, name, "quant_state.bitsandbytes__nf4", key) ||
           companion(st, name, "quant_state.bitsandbytes__fp4", key);
}

static ct_dtype torch_dtype(const char *s) {
    if (!s) return CT_DTYPE_COUNT;
    if (!strcmp(s, "float32")) return CT_DTYPE_F32;
    if (!strcmp(s, "float16")) return CT_DTYPE_F16;
    if (!strcmp(s, "bfloat16")) return CT_DTYPE_BF16;
    return CT_DTYPE_COUNT;
}

static bool valid_blocksize(int64_t b) {
    return b == 32 || b == 64 || b == 128 || b == 256 || b == 512 || b == 1024 || b == 2048 || b == 4096;
}

/* A 1-D (or [n, 1]) tensor of dtype dt with n elements. */
static ct_status expect(const ct_tensor *t, const char *key, ct_dtype dt, int64_t n, ct_err *err) {
    if (!t) return ct_err_set(err, CT_ERR_FORMAT, "%s: missing (bitsandbytes 4-bit weight needs it)", key);
    if (t->dtype != dt)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: dtype %s, expected %s", key, ct_dtype_name(t->dtype),
                          ct_dtype_name(dt));
    if (ct_tensor_numel(t) != n)
        return ct_err_set(err, CT_ERR_SHAPE, "%s: %lld elements, expected %lld", key,
                          (long long)ct_tensor_numel(t), (long long)n);
    return CT_OK;
}

/* The fields of the quant_state JSON that shape the tensor. */
typedef struct qs_info {
    ct_dtype type, orig;
    int64_t blocksize, shape[2], nested_blocksize;
    double offset;
    bool has_offset;
} qs_info;

static ct_status parse_state(const ct_tensor *t, const char *key, const char *suffix, qs_info *qi,
                             ct_err *err) {
    if (t->dtype != CT_DTYPE_U8) return ct_err_set(err, CT_ERR_FORMAT, "%s: dtype %s, expected U8", key, ct_dtype_name(t->dtype));
    json_t *j = NULL;
    ct_status s = ct_json_load_buf(t->data, (size_t)ct_tensor_numel(t), key, &j, err);
    if (s != CT_OK) return s;
    s = CT_OK;
    const char *qt = ct_json_get_str(j, "quant_type");
    json_t *shape = json_object_get(j, "shape");
    int64_t bs = 0;
    if (!json_is_object(j)) s = ct_err_set(err, CT_ERR_FORMAT, "%s: not a JSON object", key);
    else if (!qt || (strcmp(qt, "nf4") && strcmp(qt, "fp4")))
        s = ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: unknown quant_type \"%s\" (nf4 or fp4)", key, qt ? qt : "(missing)");
    else if (strcmp(qt, suffix))
        s = ct_err_set(err, CT_ERR_FORMAT, "%s: quant_type \"%s\" disagrees with the key", key, qt);
    else if (!ct_json_get_int(j, "blocksize", &bs) || !valid_blocksize(bs))
        s = ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: blocksize %lld is not one of bitsandbytes' (32..4096, powers of 2)", key, (long long)bs);
    else if ((qi->orig = torch_dtype(ct_json_get_str(j, "dtype"))) == CT_DTYPE_COUNT)
        s = ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: dtype \"%s\" (float32, float16 or bfloat16)", key,
                       ct_json_get_str(j, "dtype") ? ct_json_get_str(j, "dtype") : "(missing)");
    else if (!json_is_array(shape) || json_array_size(shape) != 2 || !json_is_integer(json_array_get(shape, 0)) ||
             !json_is_integer(json_array_get(shape, 1)) || json_integer_value(json_array_get(shape, 0)) <= 0 ||
             json_integer_value(json_array_get(shape, 1)) <= 0)
        s = ct_err_set(err, CT_ERR_FORMAT, "%s: shape must be [out, in] with positive sizes", key);
    if (s == CT_OK) {
        qi->type = strcmp(qt, "nf4") ? CT_DTYPE_FP4 : CT_DTYPE_NF4;
        qi->blocksize = bs;
        qi->shape[0] = json_integer_value(json_array_get(shape, 0));
        qi->shape[1] = json_integer_value(json_array_get(shape, 1));
        json_t *off = json_object_get(j, "nested_offset");
        qi->has_offset = json_is_number(off);
        qi->offset = qi->has_offset ? json_number_value(off) : 0.0;
        qi->nested_blocksize = 0;
        const char *nd = ct_json_get_str(j, "nested_dtype");
        if (!ct_json_get_int(j, "nested_blocksize", &qi->nested_blocksize))
            s = ct_err_set(err, CT_ERR_FORMAT, "%s: nested_blocksize is not an integer", key);
        else if (nd && strcmp(nd, "float32"))
            s = ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: nested_dtype \"%s\" (float32 only)", key, nd);
    }
    json_decref(j);
    return s;
}

static ct_status bind_nested(const ct_st *st, const char *name, const char *qskey, const qs_info *qi,
                             const ct_tensor *absmax, ct_quant4 *q, ct_err *err) {
    char key[KEY_MAX];
    snprintf(key, KEY_MAX, "%s.absmax", name);
    ct_status s = expect(absmax, key, CT_DTYPE_U8, q->nblocks, err);
    if (s != CT_OK) return s;
    if (!qi->has_offset || qi->nested_blocksize <= 0)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: double-quantized weight without nested_offset / nested_blocksize", qskey);
    if (!valid_blocksize(qi->nested_blocksize))
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: nested_blocksize %lld", qskey, (long long)qi->nested_blocksize);
    const ct_tensor *na = companion(st, name, "nested_absmax", key);
    int64_t nn = (q->nblocks + qi->nested_blocksize - 1) / qi->nested_blocksize;
    if ((s = expect(na, key, CT_DTYPE_F32, nn, err)) != CT_OK) return s;
    q->nested_absmax = na->data;
    const ct_tensor *nm = companion(st, name, "nested_quant_map", key);
    if ((s = expect(nm, key, CT_DTYPE_F32, 256, err)) != CT_OK) return s;
    memcpy(q->nested_code, nm->data, sizeof q->nested_code);
    q->qabsmax = absmax->data;
    q->nested_blocksize = (int32_t)qi->nested_blocksize;
    q->offset = (float)qi->offset;
    q->nested = true;
    return CT_OK;
}

ct_status ct_bnb4_bind(const ct_st *st, const char *name, const int64_t want_shape[2],
                       ct_tensor *out, ct_quant4_owner **owner, ct_err *err) {
    *owner = NULL;
    char key[KEY_MAX], qskey[KEY_MAX];
    if (strlen(name) + 40 >= KEY_MAX) return ct_err_set(err, CT_ERR_ARG, "%.200s...: tensor name too long", name);
    const char *suffix = "nf4";
    const ct_tensor *qs = companion(st, name, "quant_state.bitsandbytes__nf4", qskey);
    const ct_tensor *qs_fp4 = companion(st, name, "quant_state.bitsandbytes__fp4", key);
    if (qs && qs_fp4) return ct_err_set(err, CT_ERR_FORMAT, "%s: both nf4 and fp4 quant_state tensors", name);
    if (!qs && qs_fp4) {
        qs = qs_fp4;
        suffix = "fp4";
        strcpy(qskey, key);
    }
    if (!qs)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: no %s.quant_state.bitsandbytes__nf4 (or __fp4): not a bitsandbytes 4-bit weight", name, name);
    qs_info qi;
    ct_status s = parse_state(qs, qskey, suffix, &qi, err);
    if (s != CT_OK) return s;
    if (want_shape && (qi.shape[0] != want_shape[0] || qi.shape[1] != want_shape[1]))
        return ct_err_set(err, CT_ERR_SHAPE, "%s: shape [%lld, %lld], config expects [%lld, %lld]", qskey,
                          (long long)qi.shape[0], (long long)qi.shape[1], (long long)want_shape[0], (long long)want_shape[1]);
    int64_t n = qi.shape[0] * qi.shape[1];
    const ct_tensor *w = ct_st_get(st, name);
    /* bnb_4bit_quant_storage (LlamaFactory sets the compute dtype, for FSDP): the same packed
     * bytes stored as uint8 or viewed as a 2- or 4-byte dtype */
    if (w && w->dtype != CT_DTYPE_U8 && (w->dtype == CT_DTYPE_I8 || w->dtype == CT_DTYPE_BF16 ||
                                         w->dtype == CT_DTYPE_F16 || w->dtype == CT_DTYPE_F32)) {
        if (ct_tensor_nbytes(w) != (size_t)(n + 1) / 2)
            return ct_err_set(err, CT_ERR_SHAPE, "%s: %zu bytes of packed 4-bit codes, expected %lld", name,
                              ct_tensor_nbytes(w), (long long)(n + 1) / 2);
    } else if ((s = expect(w, name, CT_DTYPE_U8, (n + 1) / 2, err)) != CT_OK) {
        return s;
    }
    const ct_tensor *qm = companion(st, name, "quant_map", key);
    if ((s = expect(qm, key, CT_DTYPE_F32, 16, err)) != CT_OK) return s;
    const float *code = ct_quant4_code(qi.type);
    for (int i = 0; i < 16; i++) /* == so FP4's +0.0 in quant_map matches the kernel's -0.0 */
        if (((const float *)qm->data)[i] != code[i])
            return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: entry %d is %g, bitsandbytes' %s table has %g", key, i,
                              (double)((const float *)qm->data)[i], suffix, (double)code[i]);
    ct_quant4_owner *o = calloc(1, sizeof *o);
    if (!o) return ct_err_set(err, CT_ERR_NOMEM, "%s: out of memory", name);
    ct_quant4 *q = &o->st;
    memcpy(q->code, code, sizeof q->code);
    q->blocksize = (int32_t)qi.blocksize;
    q->orig_dtype = qi.orig;
    q->numel = n;
    q->nblocks = (n + qi.blocksize - 1) / qi.blocksize;
    const ct_tensor *absmax = companion(st, name, "absmax", key);
    if (companion(st, name, "nested_absmax", key)) {
        s = bind_nested(st, name, qskey, &qi, absmax, q, err);
    } else {
        snprintf(key, KEY_MAX, "%s.absmax", name);
        s = expect(absmax, key, CT_DTYPE_F32, q->nblocks, err);
        q->absmax = absmax ? absmax->data : NULL;
    }
    if (s != CT_OK) {
        ct_quant4_owner_free(o);
        return s;
    }
    *out = (ct_tensor){.dtype = qi.type, .ndim = 2, .shape = {qi.shape[0], qi.shape[1]},
                       .data = w->data, .quant = q};
    *owner = o;
    return CT_OK;
}
