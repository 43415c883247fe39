/* The answer as OpenAI returns it: reasoning (<think> blocks, vLLM's reasoning_content), tool
 * calls (Qwen's <tool_call>{"name", "arguments"}</tool_call>; Llama 3.1's bare
 * {"name", "parameters"} JSON) and the rest as content; plus the JSON pieces shared by the
 * responses, the stream chunks and the errors. */
#include <stdlib.h>
#include <string.h>

#include "serve/serve.h"

json_t *srv_json_text(const char *s, size_t n) {
    json_t *j = json_stringn(s, n);
    if (j) return j;
    /* not valid UTF-8 (a model can emit any bytes): each bad byte becomes U+FFFD */
    ct_buf b = {0};
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        bool ok = k && i + k <= n;
        for (size_t t = 1; ok && t < k; t++) ok = ((unsigned char)s[i + t] >> 6) == 2;
        if (ok && k > 1) { /* overlong forms and surrogates are invalid too */
            json_t *t = json_stringn(s + i, k);
            ok = t != NULL;
            json_decref(t);
        }
        if (ok) ct_buf_put(&b, s + i, k), i += k;
        else ct_buf_puts(&b, "\xEF\xBF\xBD"), i++;
    }
    j = b.oom ? NULL : json_stringn(b.data ? b.data : "", b.len);
    ct_buf_free(&b);
    return j;
}

char *srv_error_json(const srv_error *e) {
    json_t *o = json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "message", e->msg, "type", e->type,
                          "param", e->param[0] ? json_string(e->param) : json_null(),
                          "code", e->code ? json_string(e->code) : json_null());
    if (!o) { /* a message that is not UTF-8 */
        o = json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message", "(unprintable error)", "type",
                      e->type ? e->type : "server_error", "param", "code");
    }
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    return s;
}

bool srv_tool_call_parse(const char *body, size_t len, srv_tool_call *call) {
    memset(call, 0, sizeof *call);
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *name = json_is_object(j) ? json_string_value(json_object_get(j, "name")) : NULL;
    json_t *args = name ? json_object_get(j, "arguments") : NULL;
    if (name && !args) args = json_object_get(j, "parameters");
    bool ok = false;
    if (name && (!args || json_is_object(args) || json_is_string(args))) {
        call->name = strdup(name);
        /* OpenAI's function.arguments is a JSON text; a string value is taken as that text */
        call->arguments = !args ? strdup("{}") : json_is_string(args) ? strdup(json_string_value(args))
                                                                       : json_dumps(args, JSON_COMPACT | JSON_PRESERVE_ORDER);
        ok = call->name && call->arguments;
        if (!ok) free(call->name), free(call->arguments), memset(call, 0, sizeof *call);
    }
    json_decref(j);
    return ok;
}

typedef struct split_ctx {
    srv_answer *a;
    bool parse_tools;
} split_ctx;

static void on_span(ct_chat_span kind, const char *text, size_t len, void *user) {
    split_ctx *c = user;
    srv_answer *a = c->a;
    if (kind == CT_CHAT_SPAN_THINK) {
        ct_buf_put(&a->reasoning, text, len);
        return;
    }
    if (kind == CT_CHAT_SPAN_TOOL_CALL && c->parse_tools) {
        srv_tool_call call;
        if (srv_tool_call_parse(text, len, &call)) {
            srv_tool_call *v = realloc(a->calls, (a->n_calls + 1) * sizeof *v);
            if (v) {
                a->calls = v;
                a->calls[a->n_calls++] = call;
                return;
            }
            free(call.name), free(call.arguments);
        }
    }
    if (kind == CT_CHAT_SPAN_TOOL_CALL) { /* not a call: the text as the model wrote it */
        ct_buf_puts(&a->content, "<tool_call>\n");
        ct_buf_put(&a->content, text, len);
        ct_buf_puts(&a->content, "\n</tool_call>");
    } else {
        ct_buf_put(&a->content, text, len);
    }
    a->has_content = true;
}

static const char *skip_ws(const char *s, const char *end) {
    while (s < end && (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t')) s++;
    return s;
}

void srv_answer_parse(const char *text, size_t len, bool think_open, bool parse_tools, bool llama_tools,
                      srv_answer *a) {
    memset(a, 0, sizeof *a);
    ct_chat_splitter sp;
    ct_chat_splitter_init(&sp);
    if (think_open) sp.state = CT_CHAT_SPAN_THINK;
    split_ctx c = {a, parse_tools};
    ct_chat_splitter_feed(&sp, text, len, true, on_span, &c);
    /* Qwen3's template strips the newlines around reasoning; the content after </think> too */
    const char *s = a->content.data ? a->content.data : "", *end = s + a->content.len;
    const char *t = skip_ws(s, end);
    if (a->reasoning.len && t > s) {
        memmove(a->content.data, t, (size_t)(end - t) + 1);
        a->content.len = (size_t)(end - t);
    }
    while (a->reasoning.len && strchr("\n ", a->reasoning.data[a->reasoning.len - 1]))
        a->reasoning.data[--a->reasoning.len] = 0;
    size_t lead = 0;
    while (lead < a->reasoning.len && a->reasoning.data[lead] == '\n') lead++;
    if (lead) memmove(a->reasoning.data, a->reasoning.data + lead, a->reasoning.len - lead + 1), a->reasoning.len -= lead;
    if (llama_tools && !a->n_calls && a->content.len) {
        const char *b = skip_ws(a->content.data, a->content.data + a->content.len);
        size_t n = (size_t)(a->content.data + a->content.len - b);
        while (n && strchr(" \n\r\t", b[n - 1])) n--;
        srv_tool_call call;
        if (n && *b == '{' && srv_tool_call_parse(b, n, &call)) {
            a->calls = malloc(sizeof *a->calls);
            if (a->calls) {
                a->calls[0] = call;
                a->n_calls = 1;
                a->content.len = 0;
                a->content.data[0] = 0;
                a->has_content = false;
            } else {
                free(call.name), free(call.arguments);
            }
        }
    }
    if (a->n_calls) { /* content that is only whitespace around the calls is no content */
        const char *d = a->content.data ? a->content.data : "";
        if (skip_ws(d, d + a->content.len) == d + a->content.len) a->has_content = false;
    }
}

void srv_answer_free(srv_answer *a) {
    ct_buf_free(&a->content);
    ct_buf_free(&a->reasoning);
    for (size_t i = 0; i < a->n_calls; i++) free(a->calls[i].name), free(a->calls[i].arguments);
    free(a->calls);
    memset(a, 0, sizeof *a);
}

json_t *srv_tool_calls_json(const srv_tool_call *calls, size_t n, const char *id_prefix, bool with_index) {
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        char id[96];
        snprintf(id, sizeof id, "call_%s_%zu", id_prefix, i);
        json_t *c = json_pack("{s:s, s:s, s:{s:o, s:o}}", "id", id, "type", "function", "function", "name",
                              srv_json_text(calls[i].name, strlen(calls[i].name)), "arguments",
                              srv_json_text(calls[i].arguments, strlen(calls[i].arguments)));
        if (c && with_index) json_object_set_new(c, "index", json_integer((json_int_t)i));
        if (!c || json_array_append_new(arr, c)) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}
