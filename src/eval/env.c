/* Services the suite gives a running task (task.h): generation through the runtime, JSONL
 * reading with file:line errors, and the task registry. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/file.h"
#include "base/json.h"
#include "base/str.h"
#include "eval/task.h"

static const ct_eval_task *const k_tasks[] = {&ct_eval_task_mcq, &ct_eval_task_qa, &ct_eval_task_loss,
                                              &ct_eval_task_think, &ct_eval_task_risk, &ct_eval_task_json, &ct_eval_task_fc};

const ct_eval_task *ct_eval_task_find(const char *name) {
    for (size_t i = 0; i < sizeof k_tasks / sizeof *k_tasks; i++)
        if (!strcmp(k_tasks[i]->name, name) || (k_tasks[i]->alias && !strcmp(k_tasks[i]->alias, name)))
            return k_tasks[i];
    return NULL;
}

const char *ct_eval_task_names(void) { return "general_mcq (mcq), general_qa (qa), loss, think, risk, json, general_fc (fc)"; }

ct_status ct_eval_generate_ids(ct_eval_env *e, const int32_t *ids, size_t n, bool chat, char **text, ct_err *err) {
    ct_gen_params p = e->gen;
    ct_status st = chat ? ct_runtime_chat_stops(e->rt, &p, err) : CT_OK;
    ct_ids out = {0};
    const char *why = NULL;
    const ct_tokenizer *tok = ct_runtime_tokenizer(e->rt, &why);
    if (!st && !tok) st = ct_err_set(err, CT_ERR_ARG, "generation needs the tokenizer: %s", why);
    if (!st) st = ct_runtime_generate(e->rt, ids, n, &p, &out, NULL, err);
    size_t len = 0;
    *text = NULL;
    if (!st) st = ct_tokenizer_decode(tok, out.data, out.n, true, text, &len, err);
    ct_ids_free(&out);
    return st;
}

ct_status ct_eval_encode_chat(ct_eval_env *e, const ct_conv *conv, ct_think think, ct_ids *ids, ct_err *err) {
    ct_render_opts ro = ct_render_opts_default();
    ro.add_generation_prompt = true;
    ro.enable_thinking = think;
    ro.jinja = true;
    const char *why = NULL;
    if (!ct_runtime_tokenizer(e->rt, &why)) return ct_err_set(err, CT_ERR_ARG, "generation needs the tokenizer: %s", why);
    return ct_runtime_encode_chat(e->rt, conv, &ro, ids, err);
}

ct_status ct_eval_generate_chat(ct_eval_env *e, const ct_conv *conv, ct_think think, char **text, ct_err *err) {
    ct_ids ids = {0};
    *text = NULL;
    ct_status st = ct_eval_encode_chat(e, conv, think, &ids, err);
    if (!st) st = ct_eval_generate_ids(e, ids.data, ids.n, true, text, err);
    ct_ids_free(&ids);
    return st;
}

static void put_question(ct_buf *b, const char *tpl, const char *q) {
    for (const char *p = tpl; *p;) {
        if (!strncmp(p, "{question}", 10)) {
            ct_buf_puts(b, q);
            p += 10;
        } else {
            ct_buf_put(b, p++, 1);
        }
    }
}

ct_status ct_eval_prompt_conv(const json_t *row, const char *tpl, const char *question, const char *system,
                              const char *where, ct_conv *out, ct_err *err) {
    ct_conv_init(out);
    ct_status st = CT_OK;
    if (json_is_array(json_object_get(row, "messages"))) {
        st = ct_conv_from_json(row, CT_FORMAT_OPENAI, NULL, where, out, err);
        ct_role last = out->n_msgs ? out->msgs[out->n_msgs - 1].role : CT_ROLE_SYSTEM;
        if (!st && last != CT_ROLE_USER && last != CT_ROLE_TOOL)
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: \"messages\" must end with a user (or tool) message", where);
        return st;
    }
    if (!question) return ct_err_set(err, CT_ERR_FORMAT, "%s: expected \"query\" (or \"question\") or \"messages\"", where);
    const char *sys = ct_json_get_str(row, "system");
    if (!sys) sys = system;
    ct_buf b = {0};
    put_question(&b, tpl ? tpl : "{question}", question);
    if (sys && !ct_conv_add(out, CT_ROLE_SYSTEM, sys, err)) st = CT_ERR_NOMEM;
    if (!st && (b.oom || !ct_conv_add(out, CT_ROLE_USER, b.data ? b.data : "", err)))
        st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_buf_free(&b);
    return st;
}

typedef struct jsonl_ctx {
    const char *path;
    ct_eval_row_fn fn;
    void *user;
    size_t rows;
} jsonl_ctx;

static ct_status jsonl_line(void *p, char *line, size_t lineno, ct_err *err) {
    jsonl_ctx *c = p;
    size_t wn = strlen(c->path) + 24;
    char *where = malloc(wn);
    if (!where) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    snprintf(where, wn, "%s:%zu", c->path, lineno);
    json_t *row = NULL;
    ct_status st = ct_json_load_buf(line, strlen(line), where, &row, err);
    if (!st) st = c->fn(c->user, row, where, err);
    json_decref(row);
    free(where);
    c->rows++;
    return st;
}

ct_status ct_eval_read_jsonl(const char *path, ct_eval_row_fn fn, void *user, ct_err *err) {
    char *buf = NULL;
    size_t n = 0;
    ct_status st = ct_read_file(path, &buf, &n, err);
    if (st) return st;
    jsonl_ctx c = {path, fn, user, 0};
    st = ct_each_line(buf, jsonl_line, &c, err);
    free(buf);
    if (!st && c.rows == 0) st = ct_err_set(err, CT_ERR_FORMAT, "%s: no records", path);
    return st;
}

ct_status ct_eval_read_subset(const char *dir, const char *subset, ct_eval_row_fn fn, void *user, ct_err *err) {
    size_t pn = strlen(dir) + strlen(subset) + 8;
    char *path = malloc(pn);
    if (!path) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    snprintf(path, pn, "%s/%s.jsonl", dir, subset);
    ct_status st = ct_eval_read_jsonl(path, fn, user, err);
    free(path);
    return st;
}
