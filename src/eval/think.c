/* The `think` task: does the model keep the reasoning switch? Each prompt (query / question, or
 * messages) is answered twice with the chat template: enable_thinking true (compliant when the
 * output opens with "<think>") and false (compliant when no "<think>" appears). Metrics:
 * think_compliance, no_think_compliance, reasoning_length (characters between <think> and
 * </think>, or to the end when unclosed, in thinking mode). docs/eval.md, "think". */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "eval/task.h"

typedef struct think_args {
    char *local_path; /* one JSONL file */
} think_args;

static const ct_cfg_key k_keys[] = {
    {"local_path", CT_CFG_STR, offsetof(think_args, local_path), NULL, NULL},
};

typedef struct think_state {
    ct_conv *v;
    size_t n, cap;
} think_state;

static ct_status think_row(void *user, json_t *row, const char *where, ct_err *err) {
    think_state *s = user;
    if (!json_is_object(row)) return ct_err_set(err, CT_ERR_FORMAT, "%s: expected a JSON object", where);
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 32;
        ct_conv *p = realloc(s->v, nc * sizeof *p);
        if (!p) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        s->v = p;
        s->cap = nc;
    }
    ct_conv *c = &s->v[s->n];
    ct_conv_init(c);
    const char *q = ct_json_get_str(row, "query");
    if (!q) q = ct_json_get_str(row, "question");
    ct_status st = CT_OK;
    if (json_is_array(json_object_get(row, "messages"))) st = ct_conv_from_json(row, CT_FORMAT_OPENAI, NULL, where, c, err);
    else if (q) st = ct_conv_add(c, CT_ROLE_USER, q, err) ? CT_OK : CT_ERR_NOMEM;
    else st = ct_err_set(err, CT_ERR_FORMAT, "%s: expected \"query\" (or \"question\") or \"messages\"", where);
    if (!st && (c->n_msgs == 0 || c->msgs[c->n_msgs - 1].role != CT_ROLE_USER))
        st = ct_err_set(err, CT_ERR_FORMAT, "%s: the conversation must end with a user message", where);
    if (st) {
        ct_conv_free(c);
        return st;
    }
    s->n++;
    return CT_OK;
}

static void think_free(void *p) {
    think_state *s = p;
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) ct_conv_free(&s->v[i]);
    free(s->v);
    free(s);
}

static ct_status think_load(const void *args, const char *where, void **out, ct_err *err) {
    const think_args *a = args;
    if (!a->local_path) return ct_err_set(err, CT_ERR_ARG, "%s: dataset_args.think.local_path is required", where);
    think_state *s = calloc(1, sizeof *s);
    if (!s) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = ct_eval_read_jsonl(a->local_path, think_row, s, err);
    if (st) {
        think_free(s);
        return st;
    }
    *out = s;
    return CT_OK;
}

static size_t think_count(const void *p, int64_t limit) {
    const think_state *s = p;
    return limit >= 0 && (size_t)limit < s->n ? (size_t)limit : s->n;
}

/* Characters (code points) of the reasoning: after "<think>" up to "</think>" or the end. */
static size_t reasoning_chars(const char *open) {
    const char *b = open + 7, *e = strstr(b, "</think>");
    if (!e) e = b + strlen(b);
    size_t n = 0;
    for (const char *p = b; p < e; p++) n += ((unsigned char)*p & 0xC0) != 0x80;
    return n;
}

/* Answer 2i is prompt i with thinking on, 2i+1 with it off. */
static ct_status conv_of(void *user, size_t k, const ct_conv **conv, ct_think *think, ct_err *err) {
    (void)err;
    *conv = &((think_state *)user)->v[k / 2];
    *think = k % 2 ? CT_THINK_FALSE : CT_THINK_TRUE;
    return CT_OK;
}

static ct_status think_run(void *p, ct_eval_env *env, ct_err *err) {
    think_state *s = p;
    ct_status st = CT_OK;
    size_t n = think_count(s, env->limit);
    ct_eval_gen g;
    ct_eval_gen_init(&g, env, 2 * n, env->batch, conv_of, s);
    for (size_t i = 0; i < n && !st; i++) {
        char *on = NULL, *off = NULL;
        st = ct_eval_gen_text(&g, 2 * i, &on, err);
        if (!st) st = ct_eval_gen_text(&g, 2 * i + 1, &off, err);
        if (!st) {
            const char *t = on;
            while (*t == ' ' || *t == '\n') t++;
            bool on_ok = !strncmp(t, "<think>", 7), off_ok = !strstr(off, "<think>");
            size_t len = on_ok ? reasoning_chars(t) : 0;
            st = ct_eval_add(env, "think_compliance", "default", on_ok, err);
            if (!st) st = ct_eval_add(env, "no_think_compliance", "default", off_ok, err);
            if (!st) st = ct_eval_add(env, "reasoning_length", "default", (double)len, err);
            char id[32];
            snprintf(id, sizeof id, "%zu", i);
            const ct_message *q = &s->v[i].msgs[s->v[i].n_msgs - 1];
            json_t *pred = json_pack("{s:s, s:s, s:s, s:s}", "id", id, "input", q->content, "output_thinking", on,
                                     "output_no_thinking", off);
            json_t *rev = json_pack("{s:s, s:b, s:b, s:I, s:s}", "id", id, "think_compliant", on_ok,
                                    "no_think_compliant", off_ok, "reasoning_length", (json_int_t)len, "why",
                                    on_ok && off_ok ? "both modes followed"
                                    : !on_ok        ? "enable_thinking true: the output does not open with <think>"
                                                    : "enable_thinking false: the output has a <think> block");
            if (!st) st = ct_eval_emit(env, "default", pred, rev, err);
            else {
                json_decref(pred);
                json_decref(rev);
            }
        }
        free(on);
        free(off);
        ct_eval_tick(env);
    }
    ct_eval_gen_free(&g);
    return st;
}

const ct_eval_task ct_eval_task_think = {
    .name = "think",
    .alias = NULL,
    .keys = k_keys,
    .n_keys = sizeof k_keys / sizeof *k_keys,
    .args_size = sizeof(think_args),
    .load = think_load,
    .count = think_count,
    .run = think_run,
    .free = think_free,
};
