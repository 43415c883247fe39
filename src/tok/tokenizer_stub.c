/* Placeholder until the tokenizer lands (issue 2): every call reports CT_ERR_UNSUPPORTED.
 * This file is deleted by the tokenizer implementation. */
#include <stdlib.h>

#include "ctune/tokenizer.h"

ct_status ct_ids_push(ct_ids *v, int32_t id, ct_err *err) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int32_t *d = realloc(v->data, cap * sizeof *d);
        if (!d) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        v->data = d;
        v->cap = cap;
    }
    v->data[v->n++] = id;
    return CT_OK;
}
void ct_ids_free(ct_ids *v) {
    free(v->data);
    v->data = NULL;
    v->n = v->cap = 0;
}
ct_status ct_tokenizer_load(const char *dir, ct_tokenizer **out, ct_err *err) {
    *out = NULL;
    return ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: tokenizer not implemented yet", dir);
}
void ct_tokenizer_free(ct_tokenizer *tok) { (void)tok; }
ct_status ct_tokenizer_encode(const ct_tokenizer *tok, const char *text, size_t len,
                              bool add_special, ct_ids *out, ct_err *err) {
    (void)tok, (void)text, (void)len, (void)add_special, (void)out;
    return ct_err_set(err, CT_ERR_UNSUPPORTED, "tokenizer not implemented yet");
}
ct_status ct_tokenizer_decode(const ct_tokenizer *tok, const int32_t *ids, size_t n,
                              bool skip_special, char **out, size_t *out_len, ct_err *err) {
    (void)tok, (void)ids, (void)n, (void)skip_special, (void)out_len;
    *out = NULL;
    return ct_err_set(err, CT_ERR_UNSUPPORTED, "tokenizer not implemented yet");
}
int32_t ct_tokenizer_vocab_size(const ct_tokenizer *tok) { (void)tok; return 0; }
int32_t ct_tokenizer_token_to_id(const ct_tokenizer *tok, const char *t) { (void)tok, (void)t; return -1; }
const char *ct_tokenizer_id_to_token(const ct_tokenizer *tok, int32_t id) { (void)tok, (void)id; return NULL; }
bool ct_tokenizer_is_special(const ct_tokenizer *tok, int32_t id) { (void)tok, (void)id; return false; }
int32_t ct_tokenizer_bos_id(const ct_tokenizer *tok) { (void)tok; return -1; }
int32_t ct_tokenizer_eos_id(const ct_tokenizer *tok) { (void)tok; return -1; }
int32_t ct_tokenizer_pad_id(const ct_tokenizer *tok) { (void)tok; return -1; }
bool ct_tokenizer_add_bos(const ct_tokenizer *tok) { (void)tok; return false; }
const char *ct_tokenizer_chat_template(const ct_tokenizer *tok) { (void)tok; return NULL; }
