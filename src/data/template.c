/* Chat templates as data + one renderer per template family. Every renderer reproduces the
 * model's own Jinja chat_template byte for byte (HF apply_chat_template; references in
 * tests/gen/node/make_template_fixtures.mjs) and tags each piece of text with its loss weight:
 *   prompt pieces (system, user, tool results, "<|im_start|>assistant\n") → 0
 *   answer pieces (assistant content, tool calls, kept reasoning) → the message's weight
 *   the answer's end ("<|im_end|>\n", "<|eot_id|>", "</s>") → weight, flagged CT_SEG_END
 * (LlamaFactory: the qwen assistant slot is "{{content}}<|im_end|>\n", so the newline after
 * <|im_end|> is trained too.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/types.h>

#include "base/str.h"
#include "ctune/data.h"
#include "data/render.h"
#include "data/tojson.h"
#include "io/pyjson.h"

typedef enum tfamily {
    TF_QWEN,
    TF_QWEN3,
    TF_QWEN3_NOTHINK,
    TF_QWEN3_5,
    TF_LLAMA3,
    TF_LLAMA3_1,
    TF_LLAMA2,
    TF_CHATML,
    TF_EMPTY
} tfamily;

struct ct_template {
    const char *name;
    tfamily family;
    const char *eos;            /* end of an answer */
    const char *default_system; /* NULL: none */
    const char *controls[12];   /* control strings (added tokens): hard tokenization boundaries */
};

static const ct_template TEMPLATES[] = {
    {"qwen", TF_QWEN, "<|im_end|>", "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
     {"<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", NULL}},
    {"qwen3", TF_QWEN3, "<|im_end|>", NULL,
     {"<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>",
      "</tool_response>", NULL}},
    {"qwen3_nothink", TF_QWEN3_NOTHINK, "<|im_end|>", NULL,
     {"<|im_start|>", "<|im_end|>", "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", NULL}},
    {"qwen3_5", TF_QWEN3_5, "<|im_end|>", NULL,
     {"<|im_start|>", "<|im_end|>", "<think>", "</think>", "<tool_call>", "</tool_call>", "<tool_response>",
      "</tool_response>", NULL}},
    {"llama3", TF_LLAMA3, "<|eot_id|>", NULL,
     {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", NULL}},
    {"llama3_1", TF_LLAMA3_1, "<|eot_id|>", NULL,
     {"<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|eom_id|>", "<|python_tag|>",
      NULL}},
    {"llama2", TF_LLAMA2, "</s>", NULL, {"<s>", "</s>", NULL}},
    {"chatml", TF_CHATML, "<|im_end|>", NULL, {"<|im_start|>", "<|im_end|>", NULL}},
    {"empty", TF_EMPTY, "", NULL, {NULL}},
};
#define N_TEMPLATES (sizeof TEMPLATES / sizeof TEMPLATES[0])

const ct_template *ct_template_get(const char *name) {
    for (size_t i = 0; i < N_TEMPLATES; i++)
        if (!strcmp(TEMPLATES[i].name, name)) return &TEMPLATES[i];
    if (!strcmp(name, "qwen2") || !strcmp(name, "qwen2.5")) return &TEMPLATES[0];
    if (!strcmp(name, "qwen3.5")) return ct_template_get("qwen3_5");
    if (!strcmp(name, "llama3.1")) return ct_template_get("llama3_1");
    return NULL;
}

const char *ct_template_name(const ct_template *t) { return t->name; }
const char *ct_template_eos(const ct_template *t) { return t->eos; }
const char *ct_template_default_system(const ct_template *t) { return t->default_system; }
const char *const *ct_template_controls(const ct_template *t) { return t->controls; }

const char *ct_template_tool_format(const ct_template *t) {
    switch (t->family) {
    case TF_QWEN:
    case TF_QWEN3:
    case TF_QWEN3_NOTHINK: return "qwen";
    case TF_QWEN3_5: return "qwen3_5";
    case TF_LLAMA3: return "llama3";
    default: return NULL;
    }
}

size_t ct_tool_formats(const char **out, size_t max) {
    size_t n = 0;
    for (size_t i = 0; i < N_TEMPLATES; i++) {
        const char *f = ct_template_tool_format(&TEMPLATES[i]);
        bool seen = !f;
        for (size_t k = 0; k < n && k < max && !seen; k++) seen = !strcmp(out[k], f);
        if (seen) continue;
        if (n < max) out[n] = f;
        n++;
    }
    return n;
}

const char *ct_template_render_date(const ct_template *t, char buf[32]) {
    return t->family == TF_LLAMA3 ? ct_template_today(buf) : "";
}

/* "qwen, qwen3, ..., empty" into list (256 bytes fit every name). */
static void known_names(char list[256]) {
    list[0] = 0;
    for (size_t i = 0; i < N_TEMPLATES; i++) {
        strcat(list, i ? ", " : "");
        strcat(list, TEMPLATES[i].name);
    }
}

ct_status ct_template_lookup(const char *name, const ct_template **out, ct_err *err) {
    *out = ct_template_get(name);
    if (*out) return CT_OK;
    const char *best = NULL;
    int bd = 1 << 30;
    char list[256];
    known_names(list);
    for (size_t i = 0; i < N_TEMPLATES; i++) {
        int d = ct_str_distance(name, TEMPLATES[i].name);
        if (d < bd) bd = d, best = TEMPLATES[i].name;
    }
    if (bd <= 3)
        return ct_err_set(err, CT_ERR_ARG, "unknown template '%s' (did you mean '%s'? known: %s)", name, best, list);
    return ct_err_set(err, CT_ERR_ARG, "unknown template '%s' (known: %s)", name, list);
}

const ct_template *ct_template_detect(const char *src) {
    if (!src) return NULL;
    if (strstr(src, "<|im_start|>")) {
        /* Qwen3.5: XML tool calls, think blocks, vision placeholders (Qwen3-Coder has the XML calls
         * but no <think>; NVIDIA's Nemotron-3 ChatML templates have both but no vision tokens) */
        if (strstr(src, "<function=") && strstr(src, "<parameter=") && strstr(src, "<think>") &&
            strstr(src, "<|vision_start|>"))
            return ct_template_get("qwen3_5");
        if (strstr(src, "<think>") && strstr(src, "enable_thinking")) return ct_template_get("qwen3");
        if (strstr(src, "You are Qwen, created by Alibaba Cloud")) return ct_template_get("qwen");
        if (strstr(src, "<tool_response>")) return ct_template_get("qwen3_nothink");
        return ct_template_get("chatml");
    }
    if (strstr(src, "<|start_header_id|>")) {
        /* Llama 3.1 (Meta-Llama-3.1-Instruct): the dated system header, tools, builtin tools.
         * Llama 3.2's variant dates it with strftime_now (today) and has no builtin tools; it
         * and other dated templates are not rendered by llama3_1 nor llama3: unrecognised. */
        if (strstr(src, "Cutting Knowledge Date")) {
            if (strstr(src, "builtin_tools") && strstr(src, "tools_in_user_message") && !strstr(src, "strftime_now") &&
                !strstr(src, "<|image|>"))
                return ct_template_get("llama3_1");
            return NULL;
        }
        return ct_template_get("llama3");
    }
    if (strstr(src, "[INST]")) return ct_template_get("llama2");
    return NULL;
}

ct_status ct_template_resolve(const char *name, const char *chat_template_src, const ct_template **out, char *note,
                              size_t note_len, ct_err *err) {
    *out = NULL;
    if (note && note_len) note[0] = 0;
    if (name) {
        ct_status st = ct_template_lookup(name, out, err);
        if (st) return st;
        if (note && note_len) snprintf(note, note_len, "template %s (from config)", ct_template_name(*out));
        return CT_OK;
    }
    if (!(*out = ct_template_detect(chat_template_src))) {
        char list[256];
        known_names(list);
        return ct_err_set(err, CT_ERR_ARG,
                          "no template: %s; pass a template name (`template:` in the config, --template on the "
                          "command line; known: %s)",
                          chat_template_src ? "the tokenizer's chat_template is not one ctune recognises"
                                            : "the tokenizer has no chat_template",
                          list);
    }
    if (note && note_len)
        snprintf(note, note_len, "template %s (detected from tokenizer_config.json chat_template)", ct_template_name(*out));
    return CT_OK;
}

/* ---------------------------------------------------------------- render buffer */

void ct_render_init(ct_render *r) { memset(r, 0, sizeof *r); }
void ct_render_free(ct_render *r) {
    free(r->text);
    free(r->segs);
    memset(r, 0, sizeof *r);
}
void ct_render_reset(ct_render *r) {
    r->len = 0;
    r->n_segs = 0;
    if (r->text) r->text[0] = 0;
}

ct_render_opts ct_render_opts_default(void) {
    ct_render_opts o = {0};
    o.enable_thinking = CT_THINK_TRUE;
    return o;
}

static void tool_call_text(rctx *x, const ct_tool_call *tc, bool args_tojson, float w) {
    A(x, "<tool_call>\n{\"name\": \"", w);
    A(x, tc->name, w);
    A(x, "\", \"arguments\": ", w);
    if (tc->args_is_string && args_tojson) {
        ct_buf b = {0};
        if (ct_tojson_string(&b, tc->arguments, strlen(tc->arguments))) x->oom = true;
        else An(x, b.data, b.len, w);
        ct_buf_free(&b);
    } else {
        A(x, tc->arguments, w);
    }
    A(x, "}\n</tool_call>", w);
}

static const char TOOLS_HEAD[] =
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided "
    "with function signatures within <tools></tools> XML tags:\n<tools>";
static const char TOOLS_TAIL[] =
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    "<tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
    "<args-json-object>}\n</tool_call><|im_end|>\n";

static void tools_block(rctx *x) {
    P(x, TOOLS_HEAD);
    for (size_t i = 0; i < x->c->n_tools; i++) {
        P(x, "\n");
        P(x, x->c->tools[i]);
    }
    P(x, TOOLS_TAIL);
}

/* Tool results: consecutive ones merge into one user turn (Qwen2.5 and Qwen3 templates). */
static void tool_result(rctx *x, size_t i) {
    const ct_conv *c = x->c;
    if (i == 0 || c->msgs[i - 1].role != CT_ROLE_TOOL) P(x, "<|im_start|>user");
    P(x, "\n<tool_response>\n");
    P(x, c->msgs[i].content);
    P(x, "\n</tool_response>");
    if (i + 1 == c->n_msgs || c->msgs[i + 1].role != CT_ROLE_TOOL) P(x, "<|im_end|>\n");
}

static void plain_turn(rctx *x, const char *role, const char *content) {
    P(x, "<|im_start|>");
    P(x, role);
    P(x, "\n");
    P(x, content);
    P(x, "<|im_end|>\n");
}

/* Qwen2.5-Instruct (tests/fixtures/data/templates_qwen.jsonl). */
static void render_qwen(rctx *x, const ct_template *t) {
    const ct_conv *c = x->c;
    bool sys0 = c->msgs[0].role == CT_ROLE_SYSTEM;
    if (c->n_tools) {
        P(x, "<|im_start|>system\n");
        P(x, sys0 ? c->msgs[0].content : t->default_system);
        P(x, "\n\n");
        tools_block(x);
    } else {
        P(x, "<|im_start|>system\n");
        P(x, sys0 ? c->msgs[0].content : t->default_system);
        P(x, "<|im_end|>\n");
    }
    for (size_t i = 0; i < c->n_msgs; i++) {
        const ct_message *m = &c->msgs[i];
        if (m->role == CT_ROLE_USER || (m->role == CT_ROLE_SYSTEM && i > 0)) {
            plain_turn(x, ct_role_name(m->role), m->content);
        } else if (m->role == CT_ROLE_ASSISTANT) {
            float w = answer_w(x, i);
            P(x, "<|im_start|>assistant\n");
            A(x, m->content, w);
            for (size_t k = 0; k < m->n_tool_calls; k++) {
                if (k > 0 || m->content[0]) A(x, "\n", w);
                tool_call_text(x, &m->tool_calls[k], true, w);
            }
            E(x, "<|im_end|>\n", w);
        } else if (m->role == CT_ROLE_TOOL) {
            tool_result(x, i);
        }
    }
    if (x->o->add_generation_prompt) P(x, "<|im_start|>assistant\n");
}

static bool starts_with(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }
static bool ends_with(const char *s, const char *p) {
    size_t n = strlen(s), k = strlen(p);
    return n >= k && !strcmp(s + n - k, p);
}

/* Qwen3 (thinking) and Qwen3 no-think. */
static void render_qwen3(rctx *x, bool nothink) {
    const ct_conv *c = x->c;
    const ct_render_opts *o = x->o;
    bool sys0 = c->msgs[0].role == CT_ROLE_SYSTEM;
    if (c->n_tools) {
        P(x, "<|im_start|>system\n");
        if (sys0) {
            P(x, c->msgs[0].content);
            P(x, "\n\n");
        }
        tools_block(x);
    } else if (sys0) {
        plain_turn(x, "system", c->msgs[0].content);
    }
    /* last_query_index: the last user message that is not a wrapped tool response. */
    size_t last_query = c->n_msgs - 1;
    for (size_t k = c->n_msgs; k-- > 0;) {
        const ct_message *m = &c->msgs[k];
        if (m->role == CT_ROLE_USER &&
            !(starts_with(m->content, "<tool_response>") && ends_with(m->content, "</tool_response>"))) {
            last_query = k;
            break;
        }
    }
    bool drop_reasoning = !o->jinja && o->enable_thinking == CT_THINK_FALSE;
    /* think_per_turn: LlamaFactory's ReasoningTemplate.encode_multiturn (every turn gets a block;
     * with mask_history and not preserve_thinking, discarding_history_cot: only the last) */
    bool per_turn = o->think_per_turn && !o->jinja && !nothink;
    bool discard = per_turn && o->mask_history && !o->preserve_thinking;
    for (size_t i = 0; i < c->n_msgs; i++) {
        const ct_message *m = &c->msgs[i];
        if (m->role == CT_ROLE_USER || (m->role == CT_ROLE_SYSTEM && i > 0)) {
            plain_turn(x, ct_role_name(m->role), m->content);
        } else if (m->role == CT_ROLE_ASSISTANT) {
            float w = answer_w(x, i);
            char *split_r = NULL, *split_c = NULL;
            const char *content = m->content, *reasoning = "";
            bool last = (ssize_t)i == x->last_answer;
            /* qwen3_nothink in training is LlamaFactory's plain template: the answer as given,
             * <think> text included (the Jinja, rendered for `data render`, splits it off) */
            bool verbatim = nothink && !o->jinja;
            if (m->reasoning) reasoning = m->reasoning;
            else if (!verbatim && ct_split_think(m->content, &split_r, &split_c)) content = split_c, reasoning = split_r;
            if (drop_reasoning || nothink || (discard && !last)) reasoning = "";
            bool after = i > last_query || (!o->jinja && o->preserve_thinking && reasoning[0]);
            bool block = per_turn ? (!discard || last) : after && (i + 1 == c->n_msgs || reasoning[0]);
            P(x, "<|im_start|>assistant\n");
            if (!nothink && block) {
                /* reasoning.strip('\n') and content.lstrip('\n') */
                const char *r0 = reasoning, *r1 = reasoning + strlen(reasoning);
                while (r0 < r1 && *r0 == '\n') r0++;
                while (r1 > r0 && r1[-1] == '\n') r1--;
                /* The think block is trained when enable_thinking is true, or when it holds
                 * reasoning and enable_thinking is null (LlamaFactory ReasoningTemplate). */
                bool empty = r0 == r1;
                float tw = o->enable_thinking == CT_THINK_TRUE ? w
                           : (o->enable_thinking == CT_THINK_NULL && !empty) ? w : 0;
                uint32_t tf = tw > 0 ? CT_SEG_ANSWER : 0; /* masked think block = prompt side */
                emit(x, "<think>\n", 8, tw, tf);
                emit(x, r0, (size_t)(r1 - r0), tw, tf);
                emit(x, "\n</think>\n\n", 11, tw, tf);
                const char *cc = content;
                while (*cc == '\n') cc++;
                A(x, cc, w);
            } else {
                A(x, content, w);
            }
            for (size_t k = 0; k < m->n_tool_calls; k++) {
                if (k > 0 || content[0]) A(x, "\n", w);
                tool_call_text(x, &m->tool_calls[k], false, w);
            }
            E(x, "<|im_end|>\n", w);
            free(split_r);
            free(split_c);
        } else if (m->role == CT_ROLE_TOOL) {
            tool_result(x, i);
        }
    }
    if (o->add_generation_prompt) {
        P(x, "<|im_start|>assistant\n");
        if (!nothink && o->enable_thinking == CT_THINK_FALSE) P(x, "<think>\n\n</think>\n\n");
    }
}

/* ---------------------------------------------------------------- Qwen3.5 */

/* Index of the last user message whose stripped content is not "<tool_response>...</tool_response>"
 * (the template's ns.last_query_index); -1 when there is none (the template refuses). */
static ssize_t q35_last_query(const ct_conv *c) {
    for (size_t k = c->n_msgs; k-- > 0;) {
        if (c->msgs[k].role != CT_ROLE_USER) continue;
        const char *b;
        size_t n;
        trimmed(c->msgs[k].content, &b, &n);
        bool wrapped = n >= 15 && !strncmp(b, "<tool_response>", 15) && n >= 16 &&
                       !memcmp(b + n - 16, "</tool_response>", 16);
        if (!wrapped) return (ssize_t)k;
    }
    return -1;
}

/* A tool call's arguments as the JSON object the template iterates (`arguments|items`). String
 * arguments (OpenAI wire format) are parsed first, as vLLM does before templating; blank means
 * none. NULL with *bad set when they are not an object, NULL alone when out of memory. */
static json_t *q35_args(const ct_tool_call *tc, bool *bad) {
    *bad = false;
    const char *s = tc->arguments;
    while (*s && strchr(" \t\n\r", *s)) s++;
    if (!*s) return json_object();
    json_error_t je;
    json_t *a = json_loads(s, JSON_DECODE_ANY, &je);
    if (a && json_is_object(a)) return a;
    json_decref(a);
    *bad = true;
    return NULL;
}

/* A parameter value as the template prints it: objects and lists with tojson, everything else
 * with Python str() (strings raw, True / False / None, floats as repr). */
static int q35_param(ct_buf *b, const json_t *v) {
    char num[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT:
    case JSON_ARRAY: return ct_tojson(b, v);
    case JSON_STRING: return ct_buf_put(b, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return ct_buf_puts(b, num);
    case JSON_REAL:
        ct_pyjson_float(json_real_value(v), num, sizeof num);
        return ct_buf_puts(b, num);
    case JSON_TRUE: return ct_buf_puts(b, "True");
    case JSON_FALSE: return ct_buf_puts(b, "False");
    case JSON_NULL: return ct_buf_puts(b, "None");
    }
    return -1;
}

/* <tool_call>\n<function=NAME>\n(<parameter=KEY>\nVALUE\n</parameter>\n)*</function>\n</tool_call> */
static void q35_tool_call(rctx *x, const ct_tool_call *tc, float w) {
    A(x, tc->name, w);
    A(x, ">\n", w);
    bool bad;
    json_t *args = q35_args(tc, &bad);
    if (!args) { /* bad arguments were refused before rendering */
        x->oom = true;
        return;
    }
    const char *key;
    json_t *v;
    ct_buf b = {0};
    json_object_foreach(args, key, v) {
        b.len = 0;
        if (ct_buf_puts(&b, "<parameter=") || ct_buf_puts(&b, key) || ct_buf_puts(&b, ">\n") || q35_param(&b, v) ||
            ct_buf_puts(&b, "\n</parameter>\n")) {
            x->oom = true;
            break;
        }
        An(x, b.data, b.len, w);
    }
    ct_buf_free(&b);
    json_decref(args);
    A(x, "</function>\n</tool_call>", w);
}

static const char Q35_TOOLS_HEAD[] =
    "<|im_start|>system\n# Tools\n\nYou have access to the following functions:\n\n<tools>";
static const char Q35_TOOLS_TAIL[] =
    "\n</tools>\n\nIf you choose to call a function ONLY reply in the following format with NO suffix:\n\n"
    "<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>\nvalue_1\n</parameter>\n"
    "<parameter=example_parameter_2>\nThis is the value for the second parameter\nthat can span\nmultiple "
    "lines\n</parameter>\n</function>\n</tool_call>\n\n<IMPORTANT>\nReminder:\n- Function calls MUST follow "
    "the specified format: an inner <function=...></function> block must be nested within "
    "<tool_call></tool_call> XML tags\n- Required parameters MUST be specified\n- You may provide optional "
    "reasoning for your function call in natural language BEFORE the function call, but NOT after\n- If there "
    "is no function call available, answer the question like normal with your current knowledge and do not "
    "tell the user about function calls\n</IMPORTANT>";

/* Qwen3.5 (tests/fixtures/data/qwen3_5_chat_template.jinja). Unlike Qwen3: every content is
 * stripped (Python str.strip), the system text goes after the tools block, every assistant turn
 * after the last real user query opens with a think block (tool-call turns too, reasoning or
 * not), tool calls are XML with one <parameter=...> per argument, and the generation prompt opens
 * "<think>\n" unless enable_thinking is false. ct_template_render has checked what the template
 * would refuse (a late system message, no user query, arguments that are not an object). */
static void render_qwen3_5(rctx *x) {
    const ct_conv *c = x->c;
    const ct_render_opts *o = x->o;
    const char *b;
    size_t n;
    if (c->n_tools) {
        P(x, Q35_TOOLS_HEAD);
        for (size_t i = 0; i < c->n_tools; i++) {
            P(x, "\n");
            P(x, c->tools[i]);
        }
        P(x, Q35_TOOLS_TAIL);
        if (c->msgs[0].role == CT_ROLE_SYSTEM) {
            trimmed(c->msgs[0].content, &b, &n);
            if (n) {
                P(x, "\n\n");
                Pn(x, b, n);
            }
        }
        P(x, "<|im_end|>\n");
    } else if (c->msgs[0].role == CT_ROLE_SYSTEM) {
        trimmed(c->msgs[0].content, &b, &n);
        P(x, "<|im_start|>system\n");
        Pn(x, b, n);
        P(x, "<|im_end|>\n");
    }
    ssize_t last_query = q35_last_query(c);
    bool drop_reasoning = !o->jinja && o->enable_thinking == CT_THINK_FALSE;
    bool per_turn = o->think_per_turn && !o->jinja, discard = per_turn && o->mask_history && !o->preserve_thinking;
    for (size_t i = 0; i < c->n_msgs && !x->oom; i++) {
        const ct_message *m = &c->msgs[i];
        trimmed(m->content, &b, &n);
        if (m->role == CT_ROLE_USER) {
            P(x, "<|im_start|>user\n");
            Pn(x, b, n);
            P(x, "<|im_end|>\n");
        } else if (m->role == CT_ROLE_ASSISTANT) {
            float w = answer_w(x, i);
            char *stripped = strndup(b, n), *split_r = NULL, *split_c = NULL;
            if (!stripped) {
                x->oom = true;
                return;
            }
            const char *content = stripped, *reasoning = "";
            if (m->reasoning) reasoning = m->reasoning;
            else if (ct_split_think(stripped, &split_r, &split_c)) content = split_c, reasoning = split_r;
            const char *rb;
            size_t rn;
            trimmed(reasoning, &rb, &rn);
            bool last = (ssize_t)i == x->last_answer;
            if (drop_reasoning || (discard && !last)) rn = 0;
            bool after = (ssize_t)i > last_query || (!o->jinja && o->preserve_thinking && rn);
            if (per_turn) after = !discard || last; /* as qwen3's think_per_turn */
            P(x, "<|im_start|>assistant\n");
            if (after) {
                /* think block weight: as qwen3 (trained when enable_thinking is true, or when it
                 * holds reasoning and enable_thinking is null) */
                float tw = o->enable_thinking == CT_THINK_TRUE ? w
                           : (o->enable_thinking == CT_THINK_NULL && rn) ? w : 0;
                uint32_t tf = tw > 0 ? CT_SEG_ANSWER : 0;
                emit(x, "<think>\n", 8, tw, tf);
                emit(x, rb, rn, tw, tf);
                emit(x, "\n</think>\n\n", 11, tw, tf);
            }
            A(x, content, w);
            const char *cb;
            size_t cn;
            trimmed(content, &cb, &cn);
            for (size_t k = 0; k < m->n_tool_calls; k++) {
                const char *open = k ? "\n<tool_call>\n<function=" : cn ? "\n\n<tool_call>\n<function="
                                                                         : "<tool_call>\n<function=";
                A(x, open, w);
                q35_tool_call(x, &m->tool_calls[k], w);
            }
            E(x, "<|im_end|>\n", w);
            free(stripped);
            free(split_r);
            free(split_c);
        } else if (m->role == CT_ROLE_TOOL) {
            /* loop.previtem is undefined for the first message: no user header then */
            if (i > 0 && c->msgs[i - 1].role != CT_ROLE_TOOL) P(x, "<|im_start|>user");
            P(x, "\n<tool_response>\n");
            Pn(x, b, n);
            P(x, "\n</tool_response>");
            if (i + 1 == c->n_msgs || c->msgs[i + 1].role != CT_ROLE_TOOL) P(x, "<|im_end|>\n");
        }
    }
    if (o->add_generation_prompt) {
        P(x, "<|im_start|>assistant\n");
        P(x, o->enable_thinking == CT_THINK_FALSE ? "<think>\n\n</think>\n\n" : "<think>\n");
    }
}

/* What the Qwen3.5 template raises on (raise_exception), as errors before rendering. */
static ct_status q35_check(const ct_conv *c, ct_err *err) {
    for (size_t i = 1; i < c->n_msgs; i++)
        if (c->msgs[i].role == CT_ROLE_SYSTEM)
            return ct_err_set(err, CT_ERR_FORMAT,
                              "template qwen3_5: a system message must be the first (message %zu is system)", i);
    if (q35_last_query(c) < 0)
        return ct_err_set(err, CT_ERR_FORMAT,
                          "template qwen3_5: no user query (it needs a user message that is not a wrapped "
                          "<tool_response>)");
    for (size_t i = 0; i < c->n_msgs; i++)
        for (size_t k = 0; k < c->msgs[i].n_tool_calls; k++) {
            bool bad;
            json_t *a = q35_args(&c->msgs[i].tool_calls[k], &bad);
            if (bad)
                return ct_err_set(err, CT_ERR_FORMAT,
                                  "template qwen3_5: message %zu: tool call '%s': arguments must be a JSON object",
                                  i, c->msgs[i].tool_calls[k].name);
            if (!a) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            json_decref(a);
        }
    return CT_OK;
}

/* Llama-2-chat: <s>[INST] (<<SYS>>\n..\n<</SYS>>\n\n)user [/INST] answer </s> */
static void render_llama2(rctx *x) {
    const ct_conv *c = x->c;
    size_t start = c->msgs[0].role == CT_ROLE_SYSTEM ? 1 : 0;
    for (size_t i = start; i < c->n_msgs; i++) {
        const ct_message *m = &c->msgs[i];
        const char *b;
        size_t n;
        if (m->role == CT_ROLE_USER) {
            P(x, "<s>[INST] ");
            if (i == start && start) {
                /* ('<<SYS>>\n' + system + '\n<</SYS>>\n\n' + content).strip() */
                ct_buf t = {0};
                ct_buf_puts(&t, "<<SYS>>\n");
                ct_buf_puts(&t, c->msgs[0].content);
                ct_buf_puts(&t, "\n<</SYS>>\n\n");
                ct_buf_puts(&t, m->content);
                if (!t.data) { x->oom = true; return; }
                trimmed(t.data, &b, &n);
                Pn(x, b, n);
                ct_buf_free(&t);
            } else {
                trimmed(m->content, &b, &n);
                Pn(x, b, n);
            }
            P(x, " [/INST]");
        } else if (m->role == CT_ROLE_ASSISTANT) {
            float w = answer_w(x, i);
            trimmed(m->content, &b, &n);
            P(x, " ");
            An(x, b, n, w);
            A(x, " ", w);
            E(x, "</s>", w);
        }
    }
}

static void render_chatml(rctx *x) {
    const ct_conv *c = x->c;
    for (size_t i = 0; i < c->n_msgs; i++) {
        const ct_message *m = &c->msgs[i];
        if (m->role == CT_ROLE_ASSISTANT) {
            float w = answer_w(x, i);
            P(x, "<|im_start|>assistant\n");
            A(x, m->content, w);
            E(x, "<|im_end|>\n", w);
        } else {
            plain_turn(x, ct_role_name(m->role), m->content);
        }
    }
    if (x->o->add_generation_prompt) P(x, "<|im_start|>assistant\n");
}

/* LlamaFactory `empty`: contents concatenated, answers trained. */
static void render_empty(rctx *x) {
    const ct_conv *c = x->c;
    for (size_t i = 0; i < c->n_msgs; i++) {
        const ct_message *m = &c->msgs[i];
        if (m->role == CT_ROLE_ASSISTANT) A(x, m->content, answer_w(x, i));
        else P(x, m->content);
    }
}

static ct_status render_conv(const ct_template *t, const ct_conv *conv, const ct_render_opts *o, ct_render *out,
                             ct_err *err) {
    ct_render_reset(out);
    ct_render_opts def = ct_render_opts_default();
    if (!o) o = &def;
    if (conv->kind != CT_CONV_MESSAGES)
        return ct_err_set(err, CT_ERR_ARG, "template %s: only chat samples can be rendered", t->name);
    if (conv->n_msgs == 0) return ct_err_set(err, CT_ERR_FORMAT, "template %s: conversation has no messages", t->name);
    bool tool_ok = t->family == TF_QWEN || t->family == TF_QWEN3 || t->family == TF_QWEN3_NOTHINK ||
                   t->family == TF_QWEN3_5 || t->family == TF_LLAMA3 || t->family == TF_LLAMA3_1;
    for (size_t i = 0; i < conv->n_msgs; i++) {
        const ct_message *m = &conv->msgs[i];
        if (!tool_ok && m->n_tool_calls)
            return ct_err_set(err, CT_ERR_UNSUPPORTED,
                              "template %s cannot render tool calls (message %zu); use qwen, qwen3, qwen3_5, llama3 or llama3_1",
                              t->name, i);
        if (t->family == TF_LLAMA2) {
            size_t start = conv->msgs[0].role == CT_ROLE_SYSTEM;
            if (i >= start && (m->role == CT_ROLE_USER) != ((i - start) % 2 == 0))
                return ct_err_set(err, CT_ERR_FORMAT,
                                  "template llama2: conversation roles must alternate user/assistant (message %zu is %s)",
                                  i, ct_role_name(m->role));
        }
    }
    if (!tool_ok && conv->n_tools)
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "template %s cannot render tools; use qwen, qwen3, qwen3_5, llama3 or llama3_1", t->name);
    if (t->family == TF_QWEN3_5) {
        ct_status st = q35_check(conv, err);
        if (st) return st;
    }
    rctx x = {.r = out, .o = o, .c = conv, .last_answer = -1, .err = err};
    for (size_t i = 0; i < conv->n_msgs; i++)
        if (conv->msgs[i].role == CT_ROLE_ASSISTANT) x.last_answer = (ssize_t)i;
    switch (t->family) {
    case TF_QWEN: render_qwen(&x, t); break;
    case TF_QWEN3: render_qwen3(&x, false); break;
    case TF_QWEN3_NOTHINK: render_qwen3(&x, true); break;
    case TF_QWEN3_5: render_qwen3_5(&x); break;
    case TF_LLAMA3: ct_render_llama3(&x); break;
    case TF_LLAMA3_1: ct_render_llama3_1(&x); break;
    case TF_LLAMA2: render_llama2(&x); break;
    case TF_CHATML: render_chatml(&x); break;
    case TF_EMPTY: render_empty(&x); break;
    }
    if (x.oom) return ct_err_set(err, CT_ERR_NOMEM, "out of memory rendering a conversation");
    if (x.st) {
        ct_render_reset(out);
        return x.st;
    }
    if (!out->text) { /* nothing rendered: keep text a valid empty string */
        out->text = calloc(1, 1);
        if (!out->text) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    return CT_OK;
}

/* default_system (LlamaFactory `system or default_system`): the conversation is rendered with
 * the default in place of a missing or empty first system message (a shallow copy: the
 * message array is new, the strings are the caller's). */
ct_status ct_template_render(const ct_template *t, const ct_conv *conv, const ct_render_opts *o, ct_render *out,
                             ct_err *err) {
    const char *ds = o ? o->default_system : NULL;
    if (!ds || !*ds || conv->kind != CT_CONV_MESSAGES || conv->n_msgs == 0 ||
        (conv->msgs[0].role == CT_ROLE_SYSTEM && conv->msgs[0].content[0]))
        return render_conv(t, conv, o, out, err);
    size_t has = conv->msgs[0].role == CT_ROLE_SYSTEM, n = conv->n_msgs + 1 - has;
    ct_message *msgs = malloc(n * sizeof *msgs);
    if (!msgs) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    msgs[0] = (ct_message){.role = CT_ROLE_SYSTEM, .content = (char *)ds, .weight = 1.0f};
    memcpy(msgs + 1, conv->msgs + has, (conv->n_msgs - has) * sizeof *msgs);
    ct_conv c = *conv;
    c.msgs = msgs;
    c.n_msgs = c.cap_msgs = n;
    ct_status st = render_conv(t, &c, o, out, err);
    free(msgs);
    return st;
}
