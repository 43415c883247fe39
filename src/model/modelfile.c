/* Ollama's Modelfile beside an exported GGUF (docs/export.md "Modelfile (Ollama)").
 *
 * The chat template is the one ctune recognises in the tokenizer's chat_template (the text the
 * GGUF holds as tokenizer.chat_template). For the families with a Go translation (qwen, qwen3,
 * qwen3_5, llama3, llama3_1 (plain chats), llama2, chatml) the Modelfile gets an explicit TEMPLATE in Ollama's
 * text/template dialect: the texts of src/model/ollama_templates.inc, generated and checked
 * against the model's Jinja by tests/gen/make_ollama_template_fixtures.py. Templates whose Jinja
 * opens with bos_token leave that first BOS to Ollama's tokenizer (tokenizer.ggml.add_bos_token);
 * when the tokenizer adds none, the BOS text is put in front of the TEMPLATE. The others
 * (qwen3_nothink, unrecognised or no chat_template) get no TEMPLATE and a comment:
 * Ollama then derives one from the GGUF. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/file.h"
#include "ctune/data.h"
#include "ctune/tokenizer.h"
#include "model/gguf_export.h"
#include "tok/gguf_vocab.h"

static const struct {
    const char *name, *bos, *text;
} k_templates[] = {
#include "model/ollama_templates.inc"
};

const char *ct_ollama_template(const char *name, const char **bos) {
    for (size_t i = 0; name && i < sizeof k_templates / sizeof k_templates[0]; i++)
        if (!strcmp(k_templates[i].name, name)) {
            if (bos) *bos = k_templates[i].bos;
            return k_templates[i].text;
        }
    return NULL;
}

/* A one-line Modelfile string literal; false when the text cannot be one (quotes, backslashes,
 * controls). */
static bool quotable(const char *s) {
    for (; *s; s++)
        if (*s == '"' || *s == '\\' || (unsigned char)*s < 0x20) return false;
    return true;
}

/* Ollama's parser ends a """ value at the first """ followed by white space and drops control
 * characters other than tab, CR and LF. */
static bool triple_quotable(const char *s) {
    if (strstr(s, "\"\"\"") || (*s && s[strlen(s) - 1] == '"')) return false;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 && !strchr("\t\r\n", *s)) return false;
    return true;
}

/* TEMPLATE (and SYSTEM) of the chat template tok carries, or a comment saying why there is none. */
static ct_status template_lines(ct_buf *b, const ct_tokenizer *tok, ct_err *err) {
    const ct_template *t = ct_template_detect(ct_tokenizer_chat_template(tok));
    const char *bos = "", *text = t ? ct_ollama_template(ct_template_name(t), &bos) : NULL;
    if (!text) {
        if (!ct_tokenizer_chat_template(tok))
            ct_buf_printf(b, "# No TEMPLATE: the tokenizer has no chat_template; Ollama uses its default.\n");
        else
            ct_buf_printf(b, "# No TEMPLATE: %s%s has no verified Go translation in ctune; Ollama derives one from "
                             "the GGUF's tokenizer.chat_template.\n",
                          t ? "chat template " : "the chat template is not one ctune recognises",
                          t ? ct_template_name(t) : "");
        return CT_OK;
    }
    bool add_bos = false, add_eos = false;
    ct_status st = *bos ? ct_gguf_vocab_special_flags(tok, &add_bos, &add_eos, err) : CT_OK;
    if (st) return st;
    ct_buf_printf(b, "# TEMPLATE: chat template %s in Ollama's Go template dialect, checked against the model's "
                     "Jinja (docs/export.md).\n",
                  ct_template_name(t));
    ct_buf_printf(b, "TEMPLATE \"\"\"%s%s\"\"\"\n", *bos && !add_bos ? bos : "", text);
    const char *sys = ct_template_default_system(t);
    if (sys && triple_quotable(sys)) ct_buf_printf(b, "SYSTEM \"\"\"%s\"\"\"\n", sys);
    return CT_OK;
}

ct_status ct_gguf_write_modelfile(const ct_config *cfg, const char *tok_dir, const char *out_dir,
                                  const char *model_file, const char *adapter_file, ct_err *err) {
    ct_tokenizer *tok = NULL;
    ct_status st = ct_tokenizer_load(tok_dir, &tok, err);
    if (st) return st;
    ct_buf b = {0};
    ct_buf_printf(&b, "# Ollama Modelfile written by ctune export (docs/export.md): `ollama create NAME -f Modelfile`.\n");
    ct_buf_printf(&b, "FROM ./%s\n", model_file);
    if (adapter_file) ct_buf_printf(&b, "ADAPTER ./%s\n", adapter_file);
    st = template_lines(&b, tok, err);
    int32_t ids[CT_MAX_EOS + 1];
    int n = 0;
    for (int i = 0; i < cfg->num_eos; i++) ids[n++] = cfg->eos_token_ids[i];
    if (ct_tokenizer_eos_id(tok) >= 0) ids[n++] = ct_tokenizer_eos_id(tok);
    const char *stops[CT_MAX_EOS + 2];
    int ns = 0;
    for (int i = 0; i < n; i++) {
        bool dup = false;
        for (int j = 0; j < i; j++) dup |= ids[j] == ids[i];
        const char *s = ct_tokenizer_id_to_token(tok, ids[i]);
        if (!dup && s && ct_tokenizer_is_special(tok, ids[i]) && quotable(s)) stops[ns++] = s;
    }
    /* the chat template's end of turn, when it is a control token the ids above missed */
    const ct_template *t = ct_template_detect(ct_tokenizer_chat_template(tok));
    const char *eot = t ? ct_template_eos(t) : "";
    int32_t eot_id = *eot ? ct_tokenizer_token_to_id(tok, eot) : -1;
    bool have = false;
    for (int i = 0; i < ns; i++) have |= !strcmp(stops[i], eot);
    if (!have && eot_id >= 0 && ct_tokenizer_is_special(tok, eot_id) && quotable(eot)) stops[ns++] = eot;
    for (int i = 0; i < ns && !st; i++) ct_buf_printf(&b, "PARAMETER stop \"%s\"\n", stops[i]);
    ct_tokenizer_free(tok);
    char *path = st ? NULL : ct_path_join(out_dir, "Modelfile");
    if (!st && (b.oom || !path)) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (!st) st = ct_write_file_atomic(path, b.data, b.len, err);
    free(path);
    ct_buf_free(&b);
    return st;
}
