/* The `general_mcq` task (alias mcq): EvalScope general_mcq files (mcq_data.h) in the MMLU,
 * C-Eval or CMMLU prompt style with k-shot examples from {subset}_dev, scored by log-likelihood
 * (lm-eval: acc = argmax of the option continuation's log-likelihood, acc_norm = argmax of it
 * divided by the continuation's length in characters) or by generation (the letter after
 * "Answer:" / "答案：", EvalScope style). docs/eval.md, "mcq". */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "eval/loglik.h"
#include "eval/mcq_data.h"
#include "eval/task.h"

typedef struct mcq_args {
    char *local_path;
    ct_strlist subset_list;
    int64_t few_shot_num;
    char *prompt_template; /* the question: {subject} {question} {choices} {letters} */
    char *prompt_style;    /* evalscope | mmlu | ceval | cmmlu; NULL: evalscope (generation), mmlu (loglik) */
    char *eval_mode;       /* loglik | generation */
    bool prefix_reuse;
} mcq_args;

#define F(x) offsetof(mcq_args, x)
static const ct_cfg_key k_keys[] = {
    {"local_path", CT_CFG_STR, F(local_path), NULL, NULL},
    {"subset_list", CT_CFG_LIST, F(subset_list), NULL, NULL},
    {"few_shot_num", CT_CFG_INT, F(few_shot_num), "0", NULL},
    {"prompt_template", CT_CFG_STR, F(prompt_template), NULL, NULL},
    {"prompt_style", CT_CFG_STR, F(prompt_style), NULL, "evalscope|mmlu|ceval|cmmlu"},
    {"eval_mode", CT_CFG_STR, F(eval_mode), "loglik", "loglik|generation"},
    {"prefix_reuse", CT_CFG_BOOL, F(prefix_reuse), "true", NULL},
};
#undef F

typedef struct mcq_state {
    const mcq_args *a;
    ct_mcq_subset *subsets;
    size_t n_subsets;
    const char *style;
    bool zh;         /* C-Eval / CMMLU style: "答案：" and no space before the letter */
    bool evalscope;  /* EvalScope's general_mcq template */
    bool zh_parse;   /* generated answers parsed with the "答案：" marker */
    bool generation;
} mcq_state;

static ct_status mcq_load(const void *args, const char *where, void **out, ct_err *err) {
    const mcq_args *a = args;
    if (!a->local_path) return ct_err_set(err, CT_ERR_ARG, "%s: dataset_args.general_mcq.local_path is required", where);
    if (a->few_shot_num < 0 || a->few_shot_num > 64)
        return ct_err_set(err, CT_ERR_ARG, "%s: dataset_args.general_mcq.few_shot_num must be in [0, 64]", where);
    mcq_state *s = calloc(1, sizeof *s);
    if (!s) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    s->a = a;
    s->generation = !strcmp(a->eval_mode, "generation");
    s->style = a->prompt_style ? a->prompt_style : s->generation ? "evalscope" : "mmlu";
    s->evalscope = !strcmp(s->style, "evalscope");
    s->zh = !strcmp(s->style, "ceval") || !strcmp(s->style, "cmmlu");
    /* EvalScope parses "答案：" for its Chinese templates and "ANSWER:" for any other template */
    s->zh_parse = s->zh || (s->evalscope && !a->prompt_template);
    if (s->evalscope && !s->generation) {
        free(s);
        return ct_err_set(err, CT_ERR_ARG,
                          "%s: dataset_args.general_mcq: prompt_style evalscope needs eval_mode generation (its template "
                          "has no answer slot to score; use mmlu, ceval or cmmlu for loglik)",
                          where);
    }
    ct_status st = ct_mcq_load_dir(a->local_path, &a->subset_list, a->few_shot_num > 0, &s->subsets, &s->n_subsets, err);
    for (size_t i = 0; !st && i < s->n_subsets; i++)
        if (s->subsets[i].n_dev < (size_t)a->few_shot_num)
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: subset '%s': few_shot_num is %lld but its _dev file has %zu rows",
                            a->local_path, s->subsets[i].name, (long long)a->few_shot_num, s->subsets[i].n_dev);
    if (st) {
        ct_mcq_subsets_free(s->subsets, s->n_subsets);
        free(s);
        return st;
    }
    *out = s;
    return CT_OK;
}

static void mcq_free(void *p) {
    mcq_state *s = p;
    if (!s) return;
    ct_mcq_subsets_free(s->subsets, s->n_subsets);
    free(s);
}

static size_t mcq_count(const void *p, int64_t limit) {
    const mcq_state *s = p;
    size_t n = 0;
    for (size_t i = 0; i < s->n_subsets; i++) n += ct_eval_take(s->subsets[i].n_val, limit);
    return n;
}

/* ---- prompts ---- */

static void put_subject(ct_buf *b, const char *name) {
    for (const char *p = name; *p; p++) ct_buf_put(b, *p == '_' ? " " : p, 1);
}

static void put_header(ct_buf *b, const mcq_state *s, const char *subject) {
    const char *style = s->style;
    if (s->evalscope) {
        if (s->a->few_shot_num > 0) ct_buf_puts(b, "Here are some examples of how to answer similar questions:\n\n");
    } else if (!strcmp(style, "mmlu")) {
        ct_buf_puts(b, "The following are multiple choice questions (with answers) about ");
        put_subject(b, subject);
        ct_buf_puts(b, ".\n\n");
    } else if (!strcmp(style, "ceval")) {
        ct_buf_puts(b, "以下是中国关于");
        put_subject(b, subject);
        ct_buf_puts(b, "考试的单项选择题，请选出其中的正确答案。\n\n");
    } else {
        ct_buf_puts(b, "以下是关于");
        put_subject(b, subject);
        ct_buf_puts(b, "的单项选择题，请直接给出正确答案的选项。\n\n");
    }
}

/* EvalScope's default general_mcq template (CHINESE_SINGLE_ANSWER_TEMPLATE). */
static const char k_evalscope_tpl[] =
    "回答下面的单项选择题，请选出其中的正确答案。你的回答的全部内容应该是这样的格式：\"答案：[LETTER]\"（不带引号），"
    "其中 [LETTER] 是 {letters} 中的一个。\n\n问题：{question}\n选项：\n{choices}\n";

static void put_choices(ct_buf *b, const mcq_state *s, const ct_mcq_item *it) {
    for (int i = 0; i < it->n_opts; i++)
        ct_buf_printf(b, "%s%c%s %s", i ? "\n" : "", 'A' + i, s->evalscope ? ")" : ".", it->opts[i]);
}

/* A template with {subject}, {question}, {choices} ("A. ..." lines; "A) ..." in the evalscope
 * style) and {letters} ("A,B,C,D") replaced. */
static void put_template(ct_buf *b, const mcq_state *s, const char *tpl, const char *subject, const ct_mcq_item *it) {
    for (const char *p = tpl; *p;) {
        if (!strncmp(p, "{question}", 10)) {
            ct_buf_puts(b, it->question);
            p += 10;
        } else if (!strncmp(p, "{choices}", 9)) {
            put_choices(b, s, it);
            p += 9;
        } else if (!strncmp(p, "{letters}", 9)) {
            for (int i = 0; i < it->n_opts; i++) ct_buf_printf(b, "%s%c", i ? "," : "", 'A' + i);
            p += 9;
        } else if (!strncmp(p, "{subject}", 9)) {
            put_subject(b, subject);
            p += 9;
        } else {
            ct_buf_put(b, p++, 1);
        }
    }
}

/* The question: prompt_template, else the style's: "{question}\n{choices}\nAnswer:" (MMLU),
 * "...\n答案：" (C-Eval, CMMLU), EvalScope's template (evalscope). */
static void put_block(ct_buf *b, const mcq_state *s, const char *subject, const ct_mcq_item *it) {
    const char *tpl = s->a->prompt_template ? s->a->prompt_template
                      : s->evalscope         ? k_evalscope_tpl
                      : s->zh                ? "{question}\n{choices}\n答案："
                                             : "{question}\n{choices}\nAnswer:";
    put_template(b, s, tpl, subject, it);
}

/* The continuation of an option: " A" (MMLU: lm-eval's target_delimiter) or "A" (after "答案："). */
static void continuation(const mcq_state *s, int opt, char *out) {
    if (s->zh) snprintf(out, 4, "%c", 'A' + opt);
    else snprintf(out, 4, " %c", 'A' + opt);
}

/* The prompt before the question: the style's header and the k-shot examples (EvalScope:
 * "question\nA) ..\nANSWER: X" joined by blank lines; the others: each question block followed
 * by its answer's continuation and a blank line). Shared by every question of the subset. */
static void put_shots(ct_buf *b, const mcq_state *s, const ct_mcq_subset *sub) {
    put_header(b, s, sub->name);
    for (int64_t k = 0; k < s->a->few_shot_num; k++) {
        const ct_mcq_item *it = &sub->dev[k];
        if (s->evalscope) {
            ct_buf_printf(b, "%s%s\n", k ? "\n\n" : "", it->question);
            put_choices(b, s, it);
            ct_buf_printf(b, "\nANSWER: %c", 'A' + it->answer);
            if (k + 1 == s->a->few_shot_num) ct_buf_puts(b, "\n\n");
            continue;
        }
        char c[4];
        put_block(b, s, sub->name, it);
        continuation(s, it->answer, c);
        ct_buf_puts(b, c);
        ct_buf_puts(b, "\n\n");
    }
}

static size_t utf8_chars(const char *s) {
    size_t n = 0;
    for (; *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* lm-eval's _encode_pair: trailing spaces of the context move to the continuation; the context
 * is encoded alone (cids, once per question) and the continuation's ids are those of
 * context+continuation after the context's ids. */
static size_t trailing_spaces(const char *ctx, size_t n) {
    size_t sp = 0;
    while (sp < n && ctx[n - 1 - sp] == ' ') sp++;
    return sp;
}

static ct_status encode_context(ct_runtime *rt, const char *ctx, ct_ids *cids, ct_err *err) {
    size_t n = strlen(ctx);
    cids->n = 0;
    ct_status st = ct_runtime_encode(rt, ctx, n - trailing_spaces(ctx, n), cids, err);
    if (!st && cids->n == 0) st = ct_err_set(err, CT_ERR_FORMAT, "the prompt has no tokens");
    return st;
}

static ct_status encode_option(ct_runtime *rt, ct_buf *whole, const char *ctx, const char *cont, const ct_ids *cids,
                               ct_ids *oids, ct_ids *scratch, ct_err *err) {
    whole->len = 0;
    ct_buf_puts(whole, ctx);
    ct_buf_puts(whole, cont);
    if (whole->oom) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    scratch->n = 0;
    oids->n = 0;
    ct_status st = ct_runtime_encode(rt, whole->data, whole->len, scratch, err);
    for (size_t i = cids->n; !st && i < scratch->n; i++) st = ct_ids_push(oids, scratch->data[i], err);
    if (!st && oids->n == 0) st = ct_err_set(err, CT_ERR_FORMAT, "option '%s' has no tokens of its own after the context", cont);
    return st;
}

/* Question q's whole prompt: the subset's shots, then its block. */
static ct_status build_prompt(ct_buf *prompt, const mcq_state *s, const ct_mcq_subset *sub, const ct_buf *shots,
                              size_t q, ct_err *err) {
    prompt->len = 0;
    ct_buf_put(prompt, shots->data ? shots->data : "", shots->len);
    put_block(prompt, s, sub->name, &sub->val[q]);
    return prompt->oom ? ct_err_set(err, CT_ERR_NOMEM, "out of memory") : CT_OK;
}

/* Generation mode: question q's prompt as the user message (ct_eval_gen). */
typedef struct gen_prompts {
    const mcq_state *s;
    const ct_mcq_subset *sub;
    const ct_buf *shots;
    ct_buf prompt;
    ct_conv conv;
} gen_prompts;

static ct_status conv_of(void *user, size_t q, const ct_conv **conv, ct_think *think, ct_err *err) {
    gen_prompts *g = user;
    ct_conv_free(&g->conv);
    ct_conv_init(&g->conv);
    ct_status st = build_prompt(&g->prompt, g->s, g->sub, g->shots, q, err);
    if (!st && !ct_conv_add(&g->conv, CT_ROLE_USER, g->prompt.data, err)) st = CT_ERR_NOMEM;
    *conv = &g->conv;
    *think = CT_THINK_FALSE;
    return st;
}

/* Loglik mode: the log-likelihoods of questions [lo, hi), scored eval_batch_size at a time
 * (ct_loglik_score_batch: one batched forward after the subset's shared prefix). */
typedef struct ll_group {
    size_t cap, lo, hi;
    ct_ids *cids, *oids;    /* [cap], [cap * CT_MCQ_MAX_OPTS] */
    const int32_t **conts;  /* [cap * CT_MCQ_MAX_OPTS] */
    size_t *nconts;         /* [cap * CT_MCQ_MAX_OPTS] */
    double *ll;             /* [cap * CT_MCQ_MAX_OPTS] */
    ct_loglik_req *reqs;    /* [cap] */
    ct_buf prompt, whole;
    ct_ids scratch;
} ll_group;

static ct_status ll_group_init(ll_group *g, size_t cap, ct_err *err) {
    memset(g, 0, sizeof *g);
    g->cap = cap ? cap : 1;
    size_t k = g->cap * CT_MCQ_MAX_OPTS;
    g->cids = calloc(g->cap, sizeof *g->cids);
    g->oids = calloc(k, sizeof *g->oids);
    g->conts = calloc(k, sizeof *g->conts);
    g->nconts = calloc(k, sizeof *g->nconts);
    g->ll = calloc(k, sizeof *g->ll);
    g->reqs = calloc(g->cap, sizeof *g->reqs);
    if (!g->cids || !g->oids || !g->conts || !g->nconts || !g->ll || !g->reqs)
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    return CT_OK;
}

static void ll_group_free(ll_group *g) {
    for (size_t i = 0; g->cids && i < g->cap; i++) ct_ids_free(&g->cids[i]);
    for (size_t i = 0; g->oids && i < g->cap * CT_MCQ_MAX_OPTS; i++) ct_ids_free(&g->oids[i]);
    free(g->cids);
    free(g->oids);
    free(g->conts);
    free(g->nconts);
    free(g->ll);
    free(g->reqs);
    ct_buf_free(&g->prompt);
    ct_buf_free(&g->whole);
    ct_ids_free(&g->scratch);
}

/* Encodes and scores questions [lo, min(lo + cap, n)). */
static ct_status ll_group_fill(ll_group *g, const mcq_state *s, const ct_mcq_subset *sub, const ct_buf *shots,
                               ct_eval_env *env, ct_loglik *L, size_t lo, size_t n, ct_err *err) {
    g->lo = g->hi = lo;
    size_t m = n - lo < g->cap ? n - lo : g->cap;
    ct_status st = CT_OK;
    for (size_t i = 0; i < m && !st; i++) {
        const ct_mcq_item *it = &sub->val[lo + i];
        ct_ids *oids = g->oids + i * CT_MCQ_MAX_OPTS;
        st = build_prompt(&g->prompt, s, sub, shots, lo + i, err);
        if (!st) st = encode_context(env->rt, g->prompt.data, &g->cids[i], err);
        for (int o = 0; o < it->n_opts && !st; o++) {
            char c[4];
            continuation(s, o, c);
            st = encode_option(env->rt, &g->whole, g->prompt.data, c, &g->cids[i], &oids[o], &g->scratch, err);
            g->conts[i * CT_MCQ_MAX_OPTS + o] = oids[o].data;
            g->nconts[i * CT_MCQ_MAX_OPTS + o] = oids[o].n;
        }
        /* every option's context ids are the same (the context is encoded alone) */
        g->reqs[i] = (ct_loglik_req){g->cids[i].data, g->cids[i].n, g->conts + i * CT_MCQ_MAX_OPTS,
                                     g->nconts + i * CT_MCQ_MAX_OPTS, (size_t)it->n_opts,
                                     g->ll + i * CT_MCQ_MAX_OPTS, NULL};
        if (st) return ct_err_prefix(err, "%s/%s: question %s", s->a->local_path, sub->name, it->id);
    }
    if ((st = ct_loglik_score_batch(L, g->reqs, m, err))) {
        if (m == 1) return ct_err_prefix(err, "%s/%s: question %s", s->a->local_path, sub->name, sub->val[lo].id);
        return ct_err_prefix(err, "%s/%s: questions %s .. %s", s->a->local_path, sub->name, sub->val[lo].id,
                             sub->val[lo + m - 1].id);
    }
    g->hi = lo + m;
    return CT_OK;
}

static ct_status run_subset(mcq_state *s, const ct_mcq_subset *sub, ct_eval_env *env, ct_loglik *L, ct_err *err) {
    ct_buf shots = {0}, prompt = {0};
    put_shots(&shots, s, sub);
    ll_group lg;
    ct_status st = ll_group_init(&lg, s->generation ? 1 : env->batch, err);
    if (!st && shots.oom) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    size_t n = ct_eval_take(sub->n_val, env->limit);
    gen_prompts gp = {.s = s, .sub = sub, .shots = &shots};
    ct_conv_init(&gp.conv);
    ct_eval_gen g;
    ct_eval_gen_init(&g, env, n, env->batch, conv_of, &gp);
    for (size_t q = 0; q < n && !st; q++) {
        const ct_mcq_item *it = &sub->val[q];
        if ((st = build_prompt(&prompt, s, sub, &shots, q, err))) break;
        json_t *pred = json_pack("{s:s, s:s}", "id", it->id, "input", prompt.data);
        json_t *rev = json_pack("{s:s, s:s}", "id", it->id, "target", (char[]){(char)('A' + it->answer), 0});
        int choice = -1;
        if (s->generation) {
            char *text = NULL;
            st = ct_eval_gen_text(&g, q, &text, err);
            if (!st) {
                choice = ct_mcq_extract(text, it->n_opts, s->zh_parse);
                json_object_set_new(pred, "output", json_string(text ? text : ""));
            }
            free(text);
            if (!st) st = ct_eval_add(env, "acc", sub->name, choice == it->answer, err);
        } else {
            if (q >= lg.hi && (st = ll_group_fill(&lg, s, sub, &shots, env, L, q, n, err))) {
                json_decref(pred);
                json_decref(rev);
                break;
            }
            const double *ll = lg.ll + (q - lg.lo) * CT_MCQ_MAX_OPTS;
            int best = 0, best_norm = 0;
            json_t *lls = json_array(), *norms = json_array();
            for (int o = 0; o < it->n_opts; o++) {
                char c[4];
                continuation(s, o, c);
                double norm = ll[o] / (double)utf8_chars(c);
                double bn = ll[best_norm] / (double)utf8_chars((continuation(s, best_norm, c), c));
                if (ll[o] > ll[best]) best = o;
                if (norm > bn) best_norm = o;
                json_array_append_new(lls, json_real(ll[o]));
                json_array_append_new(norms, json_real(norm));
            }
            choice = best;
            json_object_set_new(pred, "loglik", lls);
            json_object_set_new(pred, "loglik_norm", norms);
            json_object_set_new(rev, "pred_norm", json_string((char[]){(char)('A' + best_norm), 0}));
            st = ct_eval_add(env, "acc", sub->name, best == it->answer, err);
            if (!st) st = ct_eval_add(env, "acc_norm", sub->name, best_norm == it->answer, err);
        }
        if (st) {
            json_decref(pred);
            json_decref(rev);
            break;
        }
        char letter[2] = {choice >= 0 ? (char)('A' + choice) : 0, 0};
        json_object_set_new(pred, "answer", choice >= 0 ? json_string(letter) : json_null());
        json_object_set_new(rev, "pred", choice >= 0 ? json_string(letter) : json_null());
        json_object_set_new(rev, "correct", json_boolean(choice == it->answer));
        json_object_set_new(rev, "why", json_string(choice < 0           ? "no option letter found in the output"
                                                    : choice == it->answer ? "the chosen option is the answer"
                                                                           : "the chosen option is not the answer"));
        st = ct_eval_emit(env, sub->name, pred, rev, err);
        ct_eval_tick(env);
    }
    ct_eval_gen_free(&g);
    ct_conv_free(&gp.conv);
    ct_buf_free(&gp.prompt);
    ct_buf_free(&shots);
    ct_buf_free(&prompt);
    ll_group_free(&lg);
    return st;
}

static ct_status mcq_run(void *p, ct_eval_env *env, ct_err *err) {
    mcq_state *s = p;
    ct_loglik *L = NULL;
    ct_status st = CT_OK;
    if (!s->generation) {
        const char *why = NULL;
        if (!ct_runtime_tokenizer(env->rt, &why)) return ct_err_set(err, CT_ERR_ARG, "general_mcq needs the tokenizer: %s", why);
        st = ct_loglik_init(&L, ct_runtime_ctx(env->rt), ct_runtime_model(env->rt), ct_runtime_adapter(env->rt),
                            s->a->prefix_reuse, err);
    }
    for (size_t i = 0; i < s->n_subsets && !st; i++) st = run_subset(s, &s->subsets[i], env, L, err);
    ct_loglik_free(L);
    return st;
}

const ct_eval_task ct_eval_task_mcq = {
    .name = "general_mcq",
    .alias = "mcq",
    .keys = k_keys,
    .n_keys = sizeof k_keys / sizeof *k_keys,
    .args_size = sizeof(mcq_args),
    .load = mcq_load,
    .count = mcq_count,
    .run = mcq_run,
    .free = mcq_free,
};
