/* The Llama 3 family's renderers: llama3 (Meta-Llama-3-Instruct's Jinja, and LlamaFactory's
 * llama3 tool format for what that Jinja cannot express) and llama3_1 (Meta-Llama-3.1-Instruct's
 * Jinja, tools included). See docs/data.md. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "data/render.h"
#include "data/tojson.h"

/* The tool prompt of LlamaFactory's llama3 tool format (tool_utils.py LLAMA3_TOOL_PROMPT): the
 * date line, the instruction, then each tool wrapped as {"type": "function", "function": spec}
 * (unless it already is) as json.dumps(indent=4) and a blank line. */
static const char LF_L3_TOOLS[] =
    "You have access to the following functions. To call a function, please respond with JSON for a function "
    "call. Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its "
    "value}. Do not use variables.\n\n";

/* "05 Mar 2026": datetime.now().strftime("%d %b %Y") in the C locale, as LlamaFactory dates it. */
const char *ct_template_today(char buf[32]) {
    time_t now = time(NULL);
    struct tm tm;
    static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (!localtime_r(&now, &tm)) return "01 Jan 1970";
    snprintf(buf, 32, "%02d %s %04d", tm.tm_mday, mon[tm.tm_mon % 12], tm.tm_year + 1900);
    return buf;
}

static void lf_llama3_tools(rctx *x) {
    const ct_conv *c = x->c;
    char day[32];
    P(x, "Cutting Knowledge Date: December 2023\nToday Date: ");
    P(x, x->o->date_string ? x->o->date_string : ct_template_today(day));
    P(x, "\n\n");
    P(x, LF_L3_TOOLS);
    for (size_t i = 0; i < c->n_tools && !x->st; i++) {
        json_error_t je;
        json_t *v = json_loads(c->tools[i], JSON_DECODE_ANY, &je), *w = NULL;
        if (!v) {
            x->st = ct_err_set(x->err, CT_ERR_FORMAT, "template llama3: tool %zu is not valid JSON: %s", i, je.text);
            return;
        }
        const char *ty = json_is_object(v) ? json_string_value(json_object_get(v, "type")) : NULL;
        if (!(ty && !strcmp(ty, "function"))) {
            w = json_object();
            if (!w || json_object_set_new(w, "type", json_string("function")) || json_object_set(w, "function", v))
                x->oom = true;
        }
        ct_buf b = {0};
        if (x->oom || ct_tojson_indent(&b, w ? w : v, 4)) x->oom = true;
        else Pn(x, b.data, b.len);
        P(x, "\n\n");
        ct_buf_free(&b);
        json_decref(w);
        json_decref(v);
    }
}

/* LlamaFactory's llama3 function message: json.dumps({"name", "parameters"}) of the one call, or
 * a list of them for parallel calls (FunctionFormatter + Llama3ToolUtils.function_formatter). */
static void lf_llama3_calls(rctx *x, const ct_message *m, float w) {
    if (m->n_tool_calls > 1) A(x, "[", w);
    for (size_t k = 0; k < m->n_tool_calls; k++) {
        const ct_tool_call *tc = &m->tool_calls[k];
        ct_buf t = {0};
        if (k) ct_buf_puts(&t, ", ");
        ct_buf_puts(&t, "{\"name\": ");
        ct_tojson_string(&t, tc->name, strlen(tc->name));
        ct_buf_puts(&t, ", \"parameters\": ");
        if (tc->args_is_string) ct_tojson_string(&t, tc->arguments, strlen(tc->arguments));
        else ct_buf_puts(&t, tc->arguments);
        ct_buf_puts(&t, "}");
        if (t.oom) x->oom = true;
        else An(x, t.data, t.len, w);
        ct_buf_free(&t);
    }
    if (m->n_tool_calls > 1) A(x, "]", w);
}

/* llama3: Meta-Llama-3-Instruct's Jinja (bos, then per message a header, the trimmed content and
 * <|eot_id|>) for plain conversations, byte for byte; for tools, tool calls and tool results,
 * which that Jinja cannot express, LlamaFactory's llama3 template (template.py, tool_format
 * "llama3"): the tool prompt follows the system text in the system message (a system message is
 * opened for it when there is none), a tool call is the JSON LlamaFactory's function formatter
 * writes (the message's text content is not rendered, as LlamaFactory's converters drop it), a
 * tool result is an ipython message holding the result as given. Consecutive tool results are one
 * ipython message each. */
void ct_render_llama3(rctx *x) {
    const ct_conv *c = x->c;
    size_t i = 0;
    const char *b;
    size_t n;
    P(x, "<|begin_of_text|>");
    if (c->n_tools) {
        P(x, "<|start_header_id|>system<|end_header_id|>\n\n");
        if (c->msgs[0].role == CT_ROLE_SYSTEM) {
            trimmed(c->msgs[i++].content, &b, &n);
            Pn(x, b, n);
        }
        lf_llama3_tools(x);
        P(x, "<|eot_id|>");
    }
    for (; i < c->n_msgs && !x->st; i++) {
        const ct_message *m = &c->msgs[i];
        trimmed(m->content, &b, &n);
        P(x, "<|start_header_id|>");
        P(x, m->role == CT_ROLE_TOOL ? "ipython" : ct_role_name(m->role));
        P(x, "<|end_header_id|>\n\n");
        if (m->role == CT_ROLE_ASSISTANT) {
            float w = answer_w(x, i);
            if (m->n_tool_calls) lf_llama3_calls(x, m, w);
            else An(x, b, n, w);
            E(x, "<|eot_id|>", w);
        } else {
            if (m->role == CT_ROLE_TOOL) P(x, m->content);
            else Pn(x, b, n);
            P(x, "<|eot_id|>");
        }
    }
    if (x->o->add_generation_prompt) P(x, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void llama_header(rctx *x, const char *role) {
    P(x, "<|start_header_id|>");
    P(x, role);
    P(x, "<|end_header_id|>\n\n");
}

static const char L31_FORMAT[] =
    "Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its "
    "value}.Do not use variables.\n\n";
static const char L31_SYSTEM_TOOLS[] =
    "You have access to the following functions. To call a function, please respond with JSON for a function "
    "call.";
static const char L31_USER_TOOLS[] =
    "Given the following functions, please respond with a JSON for a function call with its proper arguments "
    "that best answers the given prompt.\n\n";

/* Each tool as `tojson(indent=4)` followed by a blank line. */
static void llama31_tools(rctx *x) {
    const ct_conv *c = x->c;
    for (size_t i = 0; i < c->n_tools && !x->st; i++) {
        json_error_t je;
        json_t *v = json_loads(c->tools[i], JSON_DECODE_ANY, &je);
        if (!v) {
            x->st = ct_err_set(x->err, CT_ERR_FORMAT, "template llama3_1: tool %zu is not valid JSON: %s", i, je.text);
            return;
        }
        ct_buf b = {0};
        if (ct_tojson_indent(&b, v, 4)) x->oom = true;
        else Pn(x, b.data, b.len);
        P(x, "\n\n");
        ct_buf_free(&b);
        json_decref(v);
    }
}

static bool llama31_builtin(const ct_render_opts *o, const char *name) {
    for (size_t i = 0; o->builtin_tools && o->builtin_tools[i]; i++)
        if (!strcmp(o->builtin_tools[i], name)) return true;
    return false;
}

/* A builtin tool call: <|python_tag|>name.call(k1="v1", k2="v2") with the values inserted as
 * they are; the template concatenates strings, so anything but an object of strings raises. */
static void llama31_builtin_call(rctx *x, size_t i, const ct_tool_call *tc, float w, uint32_t fl) {
    json_t *v = tc->args_is_string ? NULL : json_loads(tc->arguments, JSON_DECODE_ANY, NULL);
    if (!json_is_object(v)) {
        x->st = ct_err_set(x->err, CT_ERR_FORMAT,
                           "template llama3_1: message %zu: builtin tool call '%s' needs its arguments as an object "
                           "of strings (the template renders name.call(key=\"value\", ...))",
                           i, tc->name);
        json_decref(v);
        return;
    }
    emit_s(x, "<|python_tag|>", w, fl);
    emit(x, tc->name, strlen(tc->name), w, fl);
    emit_s(x, ".call(", w, fl);
    const char *k;
    json_t *a;
    bool first = true;
    json_object_foreach(v, k, a) {
        if (!json_is_string(a)) {
            x->st = ct_err_set(x->err, CT_ERR_FORMAT,
                               "template llama3_1: message %zu: builtin tool call '%s': argument '%s' is not a string "
                               "(the template renders name.call(key=\"value\", ...))",
                               i, tc->name, k);
            break;
        }
        if (!first) emit_s(x, ", ", w, fl);
        first = false;
        emit(x, k, strlen(k), w, fl);
        emit_s(x, "=\"", w, fl);
        emit(x, json_string_value(a), json_string_length(a), w, fl);
        emit_s(x, "\"", w, fl);
    }
    emit_s(x, ")", w, fl);
    json_decref(v);
}

/* Meta-Llama-3.1-Instruct (tests/fixtures/data/templates_llama3_1.jsonl, made by
 * tests/gen/make_llama31_template_fixtures.py with Python Jinja2): bos, a system message that
 * always carries the knowledge cutoff and date (plus "Environment: ipython" with tools, the
 * builtin tools' line, the tool specs when tools_in_system), the tool specs prefixed to the first
 * message after the system one, then header + trimmed content + <|eot_id|> per message; a tool
 * call is {"name": ..., "parameters": tojson(arguments)} (the content is not rendered), tool
 * results are ipython messages holding tojson(content). */
void ct_render_llama3_1(rctx *x) {
    const ct_conv *c = x->c;
    const ct_render_opts *o = x->o;
    bool tools = c->n_tools > 0, builtin = o->builtin_tools != NULL;
    size_t i = 0;
    const char *b = "";
    size_t n = 0;
    if (c->msgs[0].role == CT_ROLE_SYSTEM) trimmed(c->msgs[i++].content, &b, &n);
    P(x, "<|begin_of_text|>");
    llama_header(x, "system");
    if (builtin || tools) P(x, "Environment: ipython\n");
    if (builtin) {
        P(x, "Tools: ");
        bool first = true;
        for (size_t k = 0; o->builtin_tools[k]; k++) {
            if (!strcmp(o->builtin_tools[k], "code_interpreter")) continue;
            if (!first) P(x, ", ");
            first = false;
            P(x, o->builtin_tools[k]);
        }
        P(x, "\n\n");
    }
    P(x, "Cutting Knowledge Date: December 2023\nToday Date: ");
    P(x, o->date_string ? o->date_string : "26 Jul 2024");
    P(x, "\n\n");
    if (tools && o->tools_in_system) {
        P(x, L31_SYSTEM_TOOLS);
        P(x, L31_FORMAT);
        llama31_tools(x);
    }
    Pn(x, b, n);
    P(x, "<|eot_id|>");
    if (tools && !o->tools_in_system) {
        if (i == c->n_msgs) {
            x->st = ct_err_set(x->err, CT_ERR_FORMAT,
                               "template llama3_1: the tools go into the first user message (tools_in_user_message) "
                               "but the conversation has no message after the system prompt");
            return;
        }
        /* the message after the system prompt, whatever its role, holds the specs */
        trimmed(c->msgs[i++].content, &b, &n);
        llama_header(x, "user");
        P(x, L31_USER_TOOLS);
        P(x, L31_FORMAT);
        llama31_tools(x);
        Pn(x, b, n);
        P(x, "<|eot_id|>");
    }
    for (; i < c->n_msgs && !x->st; i++) {
        const ct_message *m = &c->msgs[i];
        bool ans = m->role == CT_ROLE_ASSISTANT;
        float w = ans ? answer_w(x, i) : 0;
        uint32_t fl = ans ? CT_SEG_ANSWER : 0;
        if (m->n_tool_calls) { /* tested before the role, as the template does */
            if (m->n_tool_calls != 1) {
                x->st = ct_err_set(x->err, CT_ERR_FORMAT,
                                   "template llama3_1: message %zu has %zu tool calls; the Llama 3.1 template takes "
                                   "one per message (\"This model only supports single tool-calls at once!\")",
                                   i, m->n_tool_calls);
                return;
            }
            const ct_tool_call *tc = &m->tool_calls[0];
            llama_header(x, "assistant");
            if (builtin && llama31_builtin(o, tc->name)) {
                llama31_builtin_call(x, i, tc, w, fl);
            } else {
                emit_s(x, "{\"name\": \"", w, fl);
                emit(x, tc->name, strlen(tc->name), w, fl);
                emit_s(x, "\", \"parameters\": ", w, fl);
                ct_buf t = {0};
                int bad = tc->args_is_string ? ct_tojson_string(&t, tc->arguments, strlen(tc->arguments))
                                             : ct_buf_puts(&t, tc->arguments);
                if (bad) x->oom = true;
                else emit(x, t.data, t.len, w, fl);
                ct_buf_free(&t);
                emit_s(x, "}", w, fl);
            }
            const char *end = builtin ? "<|eom_id|>" : "<|eot_id|>";
            emit(x, end, strlen(end), w, ans ? CT_SEG_END | CT_SEG_ANSWER : 0);
        } else if (m->role == CT_ROLE_TOOL) {
            llama_header(x, "ipython");
            ct_buf t = {0};
            if (ct_tojson_string(&t, m->content, strlen(m->content))) x->oom = true;
            else Pn(x, t.data, t.len);
            ct_buf_free(&t);
            P(x, "<|eot_id|>");
        } else {
            trimmed(m->content, &b, &n);
            llama_header(x, ct_role_name(m->role));
            if (ans) {
                An(x, b, n, w);
                E(x, "<|eot_id|>", w);
            } else {
                Pn(x, b, n);
                P(x, "<|eot_id|>");
            }
        }
    }
    if (o->add_generation_prompt) llama_header(x, "assistant");
}

