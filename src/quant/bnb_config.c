/* config.json's bitsandbytes quantization_config (bnb_load.h). */
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "quant/bnb_load.h"

void ct_bnb_config_free(ct_bnb_config *c) {
    if (!c) return;
    for (int i = 0; i < c->n_skip; i++) free(c->skip_modules[i]);
    free(c->skip_modules);
    memset(c, 0, sizeof *c);
}

static ct_status get_bool(const json_t *q, const char *key, bool *out, ct_err *err) {
    if (!ct_json_get_bool(q, key, out))
        return ct_err_set(err, CT_ERR_FORMAT, "config.json: quantization_config.%s is not a boolean", key);
    return CT_OK;
}

static ct_status parse_skip(const json_t *q, ct_bnb_config *c, ct_err *err) {
    json_t *a = json_object_get(q, "llm_int8_skip_modules");
    if (!a || json_is_null(a)) return CT_OK;
    if (!json_is_array(a))
        return ct_err_set(err, CT_ERR_FORMAT, "config.json: quantization_config.llm_int8_skip_modules is not a list");
    c->skip_modules = calloc(json_array_size(a) + 1, sizeof(char *));
    if (!c->skip_modules) return ct_err_set(err, CT_ERR_NOMEM, "config.json: out of memory");
    for (size_t i = 0; i < json_array_size(a); i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (!s)
            return ct_err_set(err, CT_ERR_FORMAT, "config.json: quantization_config.llm_int8_skip_modules[%zu] is not a string", i);
        if (!(c->skip_modules[c->n_skip] = strdup(s))) return ct_err_set(err, CT_ERR_NOMEM, "config.json: out of memory");
        c->n_skip++;
    }
    return CT_OK;
}

static ct_status parse(const json_t *q, ct_bnb_config *c, ct_err *err) {
    const char *m = ct_json_get_str(q, "quant_method");
    if (!m || strcmp(m, "bitsandbytes"))
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "config.json: quantization_config.quant_method \"%s\" (only bitsandbytes)",
                          m ? m : "(missing)");
    c->present = true;
    c->quant_type = CT_DTYPE_FP4; /* BitsAndBytesConfig's default */
    c->compute_dtype = CT_DTYPE_F32;
    ct_status s;
    if ((s = get_bool(q, "load_in_4bit", &c->load_in_4bit, err)) != CT_OK ||
        (s = get_bool(q, "load_in_8bit", &c->load_in_8bit, err)) != CT_OK ||
        (s = get_bool(q, "bnb_4bit_use_double_quant", &c->double_quant, err)) != CT_OK)
        return s;
    const char *qt = ct_json_get_str(q, "bnb_4bit_quant_type");
    if (qt && !strcmp(qt, "nf4")) c->quant_type = CT_DTYPE_NF4;
    else if (qt && strcmp(qt, "fp4"))
        return ct_err_set(err, CT_ERR_UNSUPPORTED, "config.json: quantization_config.bnb_4bit_quant_type \"%s\" (nf4 or fp4)", qt);
    const char *cd = ct_json_get_str(q, "bnb_4bit_compute_dtype");
    if (cd) {
        if (!strcmp(cd, "float32")) c->compute_dtype = CT_DTYPE_F32;
        else if (!strcmp(cd, "float16")) c->compute_dtype = CT_DTYPE_F16;
        else if (!strcmp(cd, "bfloat16")) c->compute_dtype = CT_DTYPE_BF16;
        else return ct_err_set(err, CT_ERR_UNSUPPORTED, "config.json: quantization_config.bnb_4bit_compute_dtype \"%s\"", cd);
    }
    if (c->load_in_4bit && c->load_in_8bit)
        return ct_err_set(err, CT_ERR_FORMAT, "config.json: quantization_config has both load_in_4bit and load_in_8bit");
    return parse_skip(q, c, err);
}

ct_status ct_bnb_config_parse(const json_t *config, ct_bnb_config *out, ct_err *err) {
    memset(out, 0, sizeof *out);
    json_t *q = json_object_get(config, "quantization_config");
    if (!q || json_is_null(q)) return CT_OK;
    if (!json_is_object(q)) return ct_err_set(err, CT_ERR_FORMAT, "config.json: quantization_config is not an object");
    ct_status s = parse(q, out, err);
    if (s != CT_OK) ct_bnb_config_free(out);
    return s;
}

ct_status ct_bnb_config_load(const char *dir, ct_bnb_config *out, ct_err *err) {
    memset(out, 0, sizeof *out);
    char *path = ct_path_join(dir, "config.json");
    if (!path) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    json_t *j = NULL;
    ct_status s = ct_json_load_file(path, &j, err);
    free(path);
    if (s != CT_OK) return s;
    s = ct_bnb_config_parse(j, out, err);
    json_decref(j);
    return s;
}

/* transformers keeps a module unquantized when a skip entry matches whole dotted components of
 * its name ("lm_head" matches "lm_head" and "model.lm_head.weight", not "lm_head2"). */
bool ct_bnb_config_skips(const ct_bnb_config *c, const char *name) {
    for (int i = 0; i < c->n_skip; i++) {
        size_t k = strlen(c->skip_modules[i]);
        if (!k) continue;
        for (const char *p = strstr(name, c->skip_modules[i]); p; p = strstr(p + 1, c->skip_modules[i])) {
            bool start = p == name || p[-1] == '.', end = p[k] == '\0' || p[k] == '.';
            if (start && end) return true;
        }
    }
    return false;
}
