/* OpenAI request bodies → srv_req: the conversation rendered with the chat template and encoded
 * (chat), or the prompt encoded as HF tokenizer(text) does (completions); sampling keys over the
 * server's defaults; keys that would change the answer without being implemented are refused
 * with a 400 naming them (never accepted and ignored). Unknown keys that do not change the
 * answer (user, metadata, store, ...) are ignored, as OpenAI-compatible servers do. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/serve.h"

bool srv_fail(srv_error *e, int http, const char *type, const char *code, const char *param, const char *fmt, ...) {
    e->http = http;
    e->type = type;
    e->code = code;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return false;
}

#define BAD(e, param, ...) srv_fail(e, 400, "invalid_request_error", NULL, param, __VA_ARGS__)
#define UNSUPPORTED(e, param, ...) srv_fail(e, 400, "invalid_request_error", "unsupported", param, __VA_ARGS__)

int srv_models_find(const srv_models *m, const char *name) {
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->v[i].name, name)) return (int)i;
    return -1;
}

void srv_req_free(srv_req *r) {
    srv_schema_release(r->schema);
    ct_ids_free(&r->prompt);
    for (size_t i = 0; i < r->n_stop; i++) free(r->stops[i]);
    free(r->stops);
    memset(r, 0, sizeof *r);
}

/* A number key in [lo, hi] (NaN-free); absent: false with *have false. */
static bool get_num(const json_t *o, const char *key, double lo, double hi, double *out, bool *have,
                    srv_error *e) {
    const json_t *v = json_object_get(o, key);
    *have = false;
    if (!v || json_is_null(v)) return true;
    if (!json_is_number(v)) return BAD(e, key, "'%s' must be a number", key);
    double d = json_number_value(v);
    if (!(d >= lo && d <= hi)) return BAD(e, key, "'%s' must be between %g and %g, got %g", key, lo, hi, d);
    *out = d;
    *have = true;
    return true;
}

static bool get_int(const json_t *o, const char *key, long long lo, long long hi, long long *out, bool *have,
                    srv_error *e) {
    const json_t *v = json_object_get(o, key);
    *have = false;
    if (!v || json_is_null(v)) return true;
    if (!json_is_integer(v)) return BAD(e, key, "'%s' must be an integer", key);
    long long d = json_integer_value(v);
    if (d < lo || d > hi) return BAD(e, key, "'%s' must be between %lld and %lld, got %lld", key, lo, hi, d);
    *out = d;
    *have = true;
    return true;
}

static bool get_bool(const json_t *o, const char *key, bool *out, srv_error *e) {
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return true;
    if (!json_is_boolean(v)) return BAD(e, key, "'%s' must be a boolean", key);
    *out = json_is_true(v);
    return true;
}

/* Keys with an effect ctune does not implement: refused unless they hold their no-op value. */
static bool refuse_unimplemented(const json_t *o, srv_kind kind, srv_error *e) {
    const json_t *v;
    if ((v = json_object_get(o, "n")) && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 1))
        return UNSUPPORTED(e, "n", "'n' other than 1 is not supported (one choice per request)");
    if ((v = json_object_get(o, "best_of")) && !json_is_null(v) && !(json_is_integer(v) && json_integer_value(v) == 1))
        return UNSUPPORTED(e, "best_of", "'best_of' other than 1 is not supported");
    if ((v = json_object_get(o, "logprobs")) && !json_is_null(v) && !json_is_false(v))
        return UNSUPPORTED(e, "logprobs", "'logprobs' is not supported");
    if ((v = json_object_get(o, "top_logprobs")) && !json_is_null(v))
        return UNSUPPORTED(e, "top_logprobs", "'top_logprobs' is not supported");
    static const char *const penalties[] = {"presence_penalty", "frequency_penalty"};
    for (int i = 0; i < 2; i++)
        if ((v = json_object_get(o, penalties[i])) && !json_is_null(v) &&
            !(json_is_number(v) && json_number_value(v) == 0))
            return UNSUPPORTED(e, penalties[i], "'%s' is not supported (use repetition_penalty)", penalties[i]);
    if ((v = json_object_get(o, "logit_bias")) && !json_is_null(v) && !(json_is_object(v) && json_object_size(v) == 0))
        return UNSUPPORTED(e, "logit_bias", "'logit_bias' is not supported");
    if (kind == SRV_COMPLETION) {
        if ((v = json_object_get(o, "echo")) && json_is_true(v))
            return UNSUPPORTED(e, "echo", "'echo' is not supported");
        if ((v = json_object_get(o, "suffix")) && !json_is_null(v))
            return UNSUPPORTED(e, "suffix", "'suffix' is not supported");
    }
    return true;
}

/* response_format: "text", {"type": "json_object"} or {"type": "json_schema", "json_schema":
 * {"name", "schema", "strict"}}; the schema is compiled (or found in the cache) here, so one that
 * cannot be compiled is a 400 before anything is queued. Every schema is enforced, whatever
 * "strict" says. */
static bool parse_response_format(const srv_ctx *c, const json_t *o, srv_req *r, srv_error *e) {
    const json_t *v = json_object_get(o, "response_format");
    if ((!v || json_is_null(v)) && c->o->json_schema && !r->parse_tools) { /* the server's --json-schema */
        bool think = r->think_open || (r->kind == SRV_CHAT && !r->think_off);
        return srv_schemas_get(c->schemas, c->o->json_schema, think, &r->schema, e);
    }
    if (!v || json_is_null(v)) return true;
    const char *t = json_is_object(v) ? json_string_value(json_object_get(v, "type")) : NULL;
    if (!t) return BAD(e, "response_format", "'response_format' must be an object with a 'type'");
    if (!strcmp(t, "text")) return true;
    const json_t *schema = NULL;
    if (!strcmp(t, "json_schema")) {
        const json_t *js = json_object_get(v, "json_schema");
        if (!json_is_object(js))
            return BAD(e, "response_format", "response_format json_schema needs a 'json_schema' object");
        const json_t *name = json_object_get(js, "name"), *strict = json_object_get(js, "strict");
        if (name && !json_is_string(name))
            return BAD(e, "response_format", "response_format.json_schema.name must be a string");
        if (strict && !json_is_null(strict) && !json_is_boolean(strict))
            return BAD(e, "response_format", "response_format.json_schema.strict must be a boolean");
        schema = json_object_get(js, "schema");
        if (!json_is_object(schema))
            return BAD(e, "response_format", "response_format.json_schema.schema is required and must be an object");
    } else if (strcmp(t, "json_object")) {
        return BAD(e, "response_format", "response_format type '%s' is not one of text, json_object, json_schema", t);
    }
    if (r->parse_tools)
        return UNSUPPORTED(e, "response_format", "response_format together with tools is not supported "
                           "(give tool_choice \"none\" or no tools)");
    char *text = schema ? json_dumps(schema, JSON_COMPACT) : NULL;
    if (schema && !text) return srv_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    /* a think block may come first unless the template's thinking is off for this chat */
    bool think = r->think_open || (r->kind == SRV_CHAT && !r->think_off);
    bool ok = srv_schemas_get(c->schemas, text, think, &r->schema, e);
    free(text);
    return ok;
}

static bool parse_stops(const json_t *o, srv_req *r, srv_error *e) {
    const json_t *v = json_object_get(o, "stop");
    if (!v || json_is_null(v)) return true;
    size_t n = json_is_string(v) ? 1 : json_is_array(v) ? json_array_size(v) : 0;
    if (!json_is_string(v) && !json_is_array(v)) return BAD(e, "stop", "'stop' must be a string or a list of strings");
    if (n > 16) return BAD(e, "stop", "'stop' holds %zu strings, at most 16 are allowed", n);
    r->stops = calloc(n ? n : 1, sizeof *r->stops);
    if (!r->stops) return srv_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_is_string(v) ? v : json_array_get(v, i);
        if (!json_is_string(s) || !json_string_length(s)) return BAD(e, "stop", "'stop' entries must be non-empty strings");
        if (!(r->stops[r->n_stop++] = strdup(json_string_value(s))))
            return srv_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    }
    return true;
}

static bool parse_sampling(const json_t *o, srv_req *r, srv_error *e) {
    double d;
    long long k;
    bool have;
    if (!get_num(o, "temperature", 0, 2, &d, &have, e)) return false;
    if (have) {
        r->gen.do_sample = d > 0;
        if (d > 0) r->gen.temperature = (float)d;
    }
    if (!get_num(o, "top_p", 0, 1, &d, &have, e)) return false;
    if (have) {
        if (d <= 0) return BAD(e, "top_p", "'top_p' must be in (0, 1]");
        r->gen.top_p = (float)d;
    }
    if (!get_int(o, "top_k", -1, 1 << 30, &k, &have, e)) return false;
    if (have) r->gen.top_k = k < 0 ? 0 : (int32_t)k; /* -1 (vLLM) and 0: off */
    if (!get_num(o, "repetition_penalty", 1e-6, 100, &d, &have, e)) return false;
    if (have) r->gen.repetition_penalty = (float)d;
    if (!get_int(o, "seed", INT64_MIN, INT64_MAX, &k, &have, e)) return false;
    if (have) {
        r->gen.seed = (uint64_t)k;
    } else {
        static unsigned counter;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        r->gen.seed = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull ^ (uint64_t)ts.tv_sec ^
                      (uint64_t)__atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) << 32;
    }
    return parse_stops(o, r, e);
}

/* The conversation of a chat request, encoded. */
static bool chat_prompt(const srv_ctx *c, const json_t *o, srv_req *r, srv_error *e) {
    const json_t *msgs = json_object_get(o, "messages");
    if (!json_is_array(msgs)) return BAD(e, "messages", "'messages' is required and must be a list");
    if (!json_array_size(msgs)) return BAD(e, "messages", "'messages' must not be empty");
    const json_t *tools = json_object_get(o, "tools");
    if (tools && !json_is_null(tools) && !json_is_array(tools)) return BAD(e, "tools", "'tools' must be a list");
    bool with_tools = tools && json_is_array(tools) && json_array_size(tools);
    const json_t *choice = json_object_get(o, "tool_choice");
    if (choice && !json_is_null(choice)) {
        const char *s = json_string_value(choice);
        if (!s) return UNSUPPORTED(e, "tool_choice", "a named tool_choice is not supported (use \"auto\" or \"none\")");
        if (!strcmp(s, "none")) with_tools = false;
        else if (!strcmp(s, "required"))
            return UNSUPPORTED(e, "tool_choice", "tool_choice \"required\" is not supported (use \"auto\" or \"none\")");
        else if (strcmp(s, "auto")) return BAD(e, "tool_choice", "'tool_choice' must be \"auto\", \"none\" or \"required\"");
    }
    ct_think think = c->o->enable_thinking;
    const json_t *kw = json_object_get(o, "chat_template_kwargs");
    if (kw && !json_is_null(kw)) {
        if (!json_is_object(kw)) return BAD(e, "chat_template_kwargs", "'chat_template_kwargs' must be an object");
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)kw, key, v) {
            if (strcmp(key, "enable_thinking"))
                return UNSUPPORTED(e, "chat_template_kwargs", "chat_template_kwargs '%s' is not supported "
                                   "(only enable_thinking)", key);
            if (!json_is_boolean(v)) return BAD(e, "chat_template_kwargs", "enable_thinking must be a boolean");
            think = json_is_true(v) ? CT_THINK_TRUE : CT_THINK_FALSE;
        }
    }
    json_t *row = json_object(), *copy = NULL;
    if (!row) return srv_fail(e, 500, "server_error", NULL, NULL, "out of memory");
    /* OpenAI's "developer" role is the system message of newer models */
    size_t i;
    const json_t *m;
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role || strcmp(role, "developer")) continue;
        if (!copy && !(copy = json_deep_copy(msgs))) break;
        json_object_set_new(json_array_get(copy, i), "role", json_string("system"));
    }
    json_object_set(row, "messages", copy ? copy : (json_t *)msgs);
    json_decref(copy);
    if (with_tools) json_object_set(row, "tools", (json_t *)tools);
    ct_conv conv;
    ct_conv_init(&conv);
    ct_err err = {0};
    ct_status st = ct_conv_from_json(row, CT_FORMAT_OPENAI, NULL, "messages", &conv, &err);
    json_decref(row);
    bool ok = true;
    if (!st && conv.kind != CT_CONV_MESSAGES) st = ct_err_set(&err, CT_ERR_FORMAT, "not a chat conversation");
    if (st) {
        ok = BAD(e, "messages", "%s", err.msg);
    } else {
        ct_render_opts ro = ct_render_opts_default();
        ro.add_generation_prompt = true;
        ro.enable_thinking = think;
        ro.jinja = true;
        ro.default_system = c->o->default_system;
        if (ct_runtime_encode_chat(c->rt, &conv, &ro, &r->prompt, &err)) ok = BAD(e, "messages", "%s", err.msg);
    }
    ct_conv_free(&conv);
    if (!ok) return false;
    const ct_template *t = NULL;
    if (ct_runtime_template(c->rt, &t, &err)) return srv_fail(e, 500, "server_error", NULL, NULL, "%s", err.msg);
    r->parse_tools = with_tools;
    r->think_off = think == CT_THINK_FALSE;
    r->llama_tools = with_tools && !strncmp(ct_template_name(t), "llama3", 6);
    /* templates whose generation prompt opens the think block (Qwen3.5, Qwen3 thinking variants) */
    const ct_tokenizer *tok = ct_runtime_tokenizer(c->rt, NULL);
    size_t tail = r->prompt.n < 4 ? r->prompt.n : 4;
    char *s = NULL;
    size_t n = 0;
    if (tail && !ct_tokenizer_decode(tok, r->prompt.data + r->prompt.n - tail, tail, false, &s, &n, NULL) && s) {
        while (n && (s[n - 1] == '\n' || s[n - 1] == ' ')) n--;
        r->think_open = n >= 7 && !memcmp(s + n - 7, "<think>", 7);
    }
    free(s);
    return true;
}

static bool completion_prompt(const srv_ctx *c, const json_t *o, srv_req *r, srv_error *e) {
    const json_t *p = json_object_get(o, "prompt");
    if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0))) p = json_array_get(p, 0);
    ct_err err = {0};
    if (json_is_string(p)) {
        if (ct_runtime_encode(c->rt, json_string_value(p), json_string_length(p), &r->prompt, &err))
            return BAD(e, "prompt", "%s", err.msg);
    } else if (json_is_array(p) && json_array_size(p) && json_is_integer(json_array_get(p, 0))) {
        int64_t V = ct_model_config(ct_runtime_model(c->rt))->vocab_size;
        size_t i;
        const json_t *v;
        json_array_foreach(p, i, v) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= V)
                return BAD(e, "prompt", "prompt token %zu must be an id in [0, %lld)", i, (long long)V);
            if (ct_ids_push(&r->prompt, (int32_t)json_integer_value(v), NULL))
                return srv_fail(e, 500, "server_error", NULL, NULL, "out of memory");
        }
    } else if (json_is_array(p) && json_array_size(p) > 1) {
        return UNSUPPORTED(e, "prompt", "a list of several prompts is not supported (one per request)");
    } else {
        return BAD(e, "prompt", "'prompt' is required: a string, a list of one string or a list of token ids");
    }
    return true;
}

bool srv_req_parse(const srv_ctx *c, srv_kind kind, const char *body, size_t len, srv_req *r, srv_error *e) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    json_error_t je;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!o) return BAD(e, NULL, "invalid JSON body: %s (line %d, column %d)", je.text, je.line, je.column);
    bool ok = false;
    if (!json_is_object(o)) {
        BAD(e, NULL, "the request body must be a JSON object");
        goto out;
    }
    const json_t *m = json_object_get(o, "model");
    if (m && !json_is_null(m)) {
        if (!json_is_string(m)) {
            BAD(e, "model", "'model' must be a string");
            goto out;
        }
        r->model = srv_models_find(c->models, json_string_value(m));
        if (r->model < 0) {
            srv_fail(e, 404, "not_found_error", "model_not_found", "model",
                     "The model '%s' does not exist (GET /v1/models lists them)", json_string_value(m));
            goto out;
        }
    }
    if (!get_bool(o, "stream", &r->stream, e)) goto out;
    const json_t *so = json_object_get(o, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) {
            BAD(e, "stream_options", "'stream_options' must be an object");
            goto out;
        }
        if (!get_bool(so, "include_usage", &r->include_usage, e)) goto out;
    }
    if (!refuse_unimplemented(o, kind, e)) goto out;
    r->gen = kind == SRV_CHAT ? c->gen_chat : c->gen_plain;
    if (!parse_sampling(o, r, e)) goto out;
    long long max_tokens = 0, mt;
    bool have;
    const char *mkey = "max_tokens";
    if (!get_int(o, "max_completion_tokens", 1, INT64_MAX, &mt, &have, e)) goto out;
    if (have) max_tokens = mt, mkey = "max_completion_tokens";
    if (!get_int(o, "max_tokens", 1, INT64_MAX, &mt, &have, e)) goto out;
    if (have) max_tokens = mt, mkey = "max_tokens";
    if (!(kind == SRV_CHAT ? chat_prompt(c, o, r, e) : completion_prompt(c, o, r, e))) goto out;
    if (!parse_response_format(c, o, r, e)) goto out;
    long long ctx_len = (long long)c->max_model_len, np = (long long)r->prompt.n;
    if (np == 0) {
        BAD(e, kind == SRV_CHAT ? "messages" : "prompt", "the prompt encodes to no tokens");
        goto out;
    }
    if (np >= ctx_len) {
        srv_fail(e, 400, "invalid_request_error", "context_length_exceeded", kind == SRV_CHAT ? "messages" : "prompt",
                 "This model's maximum context length is %lld tokens; the prompt has %lld", ctx_len, np);
        goto out;
    }
    if (max_tokens && np + max_tokens > ctx_len) {
        srv_fail(e, 400, "invalid_request_error", "context_length_exceeded", mkey,
                 "This model's maximum context length is %lld tokens; the prompt has %lld and %s asks for %lld",
                 ctx_len, np, mkey, max_tokens);
        goto out;
    }
    if (!max_tokens) {
        max_tokens = kind == SRV_CHAT ? c->o->default_max_tokens : 16;
        if (np + max_tokens > ctx_len) max_tokens = ctx_len - np;
    }
    r->gen.max_new_tokens = (int32_t)(max_tokens > INT32_MAX ? INT32_MAX : max_tokens);
    if (r->schema) { /* a budget the shortest value cannot fit in would end with cut JSON */
        long long need = (long long)ct_json_constraint_min_tokens(srv_schema_constraint(r->schema),
                                                                  r->think_open ? "<think>" : NULL, r->think_open ? 7 : 0);
        if (need > max_tokens) {
            BAD(e, mkey, "%s is %lld but the shortest JSON value the response format allows takes up to %lld tokens; "
                "raise %s", mkey, max_tokens, need, mkey);
            goto out;
        }
    }
    r->gen.stop_strings = NULL; /* the engine checks the stop strings on the decoded text */
    r->gen.num_stop = 0;
    r->gen.on_token = NULL;
    ok = true;
out:
    json_decref(o);
    if (!ok) srv_req_free(r);
    return ok;
}
