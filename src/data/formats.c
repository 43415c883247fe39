/* Dataset rows → ct_conv. Semantics follow LlamaFactory's converters (data/converter.py):
 *  alpaca:   history [[q, a], ...] becomes user/assistant turns; the user turn is
 *            "\n".join([instruction, input]) of the non-empty ones; output is the answer.
 *  sharegpt: roles by tags (human/gpt/observation/function_call/system); a leading system-tag
 *            message is the system prompt; turns must alternate (user|observation) then
 *            (assistant|function_call) and end with an answer. function_call values are JSON
 *            {"name", "arguments"} (or a list of them) and become tool calls. Bare function specs
 *            in `tools` are wrapped as {"type": "function", "function": spec} (LlamaFactory's qwen
 *            tool formatter does the same).
 *  openai:   messages with role system/user/assistant/tool (ipython, Llama 3.1's name for a tool
 *            result, and observation are read as tool), content, reasoning_content,
 *            tool_calls [{type, function: {name, arguments}}]; tools as given.
 *  tokens:   input_ids [+ labels];  text: text. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "ctune/data.h"
#include "data/tojson.h"

#define DEF(x, d) ((x) ? (x) : (d))

static ct_status oom(ct_err *err) { return ct_err_set(err, CT_ERR_NOMEM, "out of memory"); }

/* Content: string, null, or a list of {"type": "text", "text": ...} parts (joined). */
static ct_status get_content(const json_t *v, const char *where, const char *what, ct_buf *b,
                             ct_err *err) {
    b->len = 0;
    if (ct_buf_put(b, "", 0)) return oom(err);
    if (!v || json_is_null(v)) return CT_OK;
    if (json_is_string(v)) {
        if (ct_buf_put(b, json_string_value(v), json_string_length(v))) return oom(err);
        return CT_OK;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *p;
        json_array_foreach(v, i, p) {
            const char *t = json_is_string(p) ? json_string_value(p) : ct_json_get_str(p, "text");
            if (!t) return ct_err_set(err, CT_ERR_FORMAT, "%s: %s part %zu has no text", where, what, i);
            if (ct_buf_puts(b, t)) return oom(err);
        }
        return CT_OK;
    }
    return ct_err_set(err, CT_ERR_FORMAT, "%s: %s must be a string", where, what);
}

/* tools column: JSON array, a JSON string holding one, or a single object. */
static ct_status read_tools(const json_t *v, bool wrap, const char *where, ct_conv *c, ct_err *err) {
    if (!v || json_is_null(v)) return CT_OK;
    json_t *parsed = NULL;
    if (json_is_string(v)) {
        if (json_string_length(v) == 0) return CT_OK;
        json_error_t je;
        parsed = json_loadb(json_string_value(v), json_string_length(v), JSON_DECODE_ANY, &je);
        if (!parsed)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: tools is not valid JSON: %s", where, je.text);
        v = parsed;
    }
    ct_status st = CT_OK;
    json_t *one = NULL;
    if (json_is_object(v)) {
        one = json_array();
        json_array_append(one, (json_t *)v);
        v = one;
    }
    if (!json_is_array(v)) {
        st = ct_err_set(err, CT_ERR_FORMAT, "%s: tools must be a list of function specs", where);
        goto done;
    }
    size_t i;
    json_t *t;
    json_array_foreach(v, i, t) {
        if (!json_is_object(t)) {
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: tools[%zu] is not an object", where, i);
            goto done;
        }
        json_t *w = NULL;
        const char *ty = ct_json_get_str(t, "type");
        if (wrap && !(ty && !strcmp(ty, "function"))) {
            w = json_object();
            json_object_set_new(w, "type", json_string("function"));
            json_object_set(w, "function", t);
        }
        char *s = ct_tojson_dup(w ? w : t);
        json_decref(w);
        if (!s) {
            st = oom(err);
            goto done;
        }
        st = ct_conv_add_tool(c, s, err);
        free(s);
        if (st) goto done;
    }
done:
    json_decref(parsed);
    json_decref(one);
    return st;
}

static ct_status add_call(ct_message *m, const json_t *call, const char *where, size_t mi,
                          ct_err *err) {
    const json_t *f = json_object_get(call, "function");
    if (!f || !json_is_object(f)) f = call;
    const char *name = ct_json_get_str(f, "name");
    if (!name)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: message %zu: tool call without a name", where, mi);
    const json_t *a = json_object_get(f, "arguments");
    if (!a) a = json_object_get(f, "parameters");
    if (a && json_is_string(a)) return ct_message_add_tool_call(m, name, json_string_value(a), true, err);
    json_t *empty = NULL;
    if (!a || json_is_null(a)) a = empty = json_object();
    char *s = ct_tojson_dup(a);
    json_decref(empty);
    if (!s) return oom(err);
    ct_status st = ct_message_add_tool_call(m, name, s, false, err);
    free(s);
    return st;
}

/* Optional per-message fields shared by sharegpt and openai rows. */
static ct_status read_extras(const json_t *msg, ct_message *m, const char *where, size_t mi,
                             ct_err *err) {
    const json_t *r = json_object_get(msg, "reasoning_content");
    if (r && json_is_string(r) && !(m->reasoning = strdup(json_string_value(r)))) return oom(err);
    const json_t *loss = json_object_get(msg, "loss");
    if (loss) {
        if (!json_is_boolean(loss))
            return ct_err_set(err, CT_ERR_FORMAT, "%s: message %zu: \"loss\" must be true or false", where, mi);
        if (json_is_false(loss)) m->weight = 0;
    }
    const json_t *w = json_object_get(msg, "weight");
    if (w && !json_is_null(w)) {
        if (!json_is_number(w) || json_number_value(w) < 0)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: message %zu: \"weight\" must be a number >= 0", where, mi);
        m->weight = (float)json_number_value(w);
    }
    const json_t *tc = json_object_get(msg, "tool_calls");
    if (tc && !json_is_null(tc)) {
        if (!json_is_array(tc))
            return ct_err_set(err, CT_ERR_FORMAT, "%s: message %zu: tool_calls must be a list", where, mi);
        size_t i;
        json_t *call;
        json_array_foreach(tc, i, call) {
            ct_status st = add_call(m, call, where, mi, err);
            if (st) return st;
        }
    }
    return CT_OK;
}

static ct_status read_openai(const json_t *row, const ct_columns *cols, const char *where,
                             ct_conv *c, ct_err *err) {
    const char *key = DEF(cols ? cols->messages : NULL, "messages");
    const json_t *msgs = json_object_get(row, key);
    if (!msgs) return ct_err_set(err, CT_ERR_FORMAT, "%s: missing column '%s'", where, key);
    if (!json_is_array(msgs)) return ct_err_set(err, CT_ERR_FORMAT, "%s: '%s' must be a list", where, key);
    ct_buf b = {0};
    ct_status st = CT_OK;
    size_t i;
    json_t *msg;
    json_array_foreach(msgs, i, msg) {
        const char *role = ct_json_get_str(msg, "role");
        if (!role) {
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: message %zu has no \"role\"", where, i);
            break;
        }
        ct_role r;
        if (!strcmp(role, "system")) r = CT_ROLE_SYSTEM;
        else if (!strcmp(role, "user")) r = CT_ROLE_USER;
        else if (!strcmp(role, "assistant")) r = CT_ROLE_ASSISTANT;
        else if (!strcmp(role, "tool") || !strcmp(role, "observation") || !strcmp(role, "ipython")) r = CT_ROLE_TOOL;
        else {
            st = ct_err_set(err, CT_ERR_FORMAT,
                            "%s: message %zu: unknown role '%s' (system, user, assistant, tool)", where, i, role);
            break;
        }
        if ((st = get_content(json_object_get(msg, "content"), where, "content", &b, err))) break;
        ct_message *m = ct_conv_add(c, r, b.data, err);
        if (!m) {
            st = CT_ERR_NOMEM;
            break;
        }
        if ((st = read_extras(msg, m, where, i, err))) break;
    }
    ct_buf_free(&b);
    if (st) return st;
    return read_tools(json_object_get(row, DEF(cols ? cols->tools : NULL, "tools")), false, where, c, err);
}

static ct_status read_sharegpt(const json_t *row, const ct_columns *cols, const char *where,
                               ct_conv *c, ct_err *err) {
    ct_columns z = {0};
    if (!cols) cols = &z;
    const char *key = DEF(cols->messages, "conversations");
    const char *role_tag = DEF(cols->role_tag, "from"), *content_tag = DEF(cols->content_tag, "value");
    const char *user = DEF(cols->user_tag, "human"), *asst = DEF(cols->assistant_tag, "gpt");
    const char *obs = DEF(cols->observation_tag, "observation"), *fn = DEF(cols->function_tag, "function_call");
    const char *sys = DEF(cols->system_tag, "system");
    const json_t *msgs = json_object_get(row, key);
    if (!msgs) return ct_err_set(err, CT_ERR_FORMAT, "%s: missing column '%s'", where, key);
    if (!json_is_array(msgs)) return ct_err_set(err, CT_ERR_FORMAT, "%s: '%s' must be a list", where, key);
    ct_buf b = {0};
    ct_status st = CT_OK;
    size_t start = 0, n = json_array_size(msgs);
    const json_t *m0 = json_array_get(msgs, 0);
    const char *r0 = m0 ? ct_json_get_str(m0, role_tag) : NULL;
    if (r0 && !strcmp(r0, sys)) {
        if ((st = get_content(json_object_get(m0, content_tag), where, content_tag, &b, err))) goto done;
        if (!ct_conv_add(c, CT_ROLE_SYSTEM, b.data, err)) { st = CT_ERR_NOMEM; goto done; }
        start = 1;
    } else if (json_is_string(json_object_get(row, DEF(cols->system, "system")))) {
        const char *s = json_string_value(json_object_get(row, DEF(cols->system, "system")));
        if (s[0] && !ct_conv_add(c, CT_ROLE_SYSTEM, s, err)) { st = CT_ERR_NOMEM; goto done; }
    }
    if (n - start == 0) {
        st = ct_err_set(err, CT_ERR_FORMAT, "%s: '%s' has no turns", where, key);
        goto done;
    }
    for (size_t i = start; i < n; i++) {
        const json_t *msg = json_array_get(msgs, i);
        const char *role = ct_json_get_str(msg, role_tag);
        if (!role) {
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: turn %zu has no \"%s\"", where, i, role_tag);
            goto done;
        }
        bool odd = (i - start) % 2 == 0; /* user side */
        ct_role r;
        bool is_fn = false;
        if (!strcmp(role, user)) r = CT_ROLE_USER;
        else if (!strcmp(role, obs)) r = CT_ROLE_TOOL;
        else if (!strcmp(role, asst)) r = CT_ROLE_ASSISTANT;
        else if (!strcmp(role, fn)) r = CT_ROLE_ASSISTANT, is_fn = true;
        else {
            st = ct_err_set(err, CT_ERR_FORMAT, "%s: turn %zu: unknown role '%s' (expected %s, %s, %s, %s, %s)",
                            where, i, role, user, asst, obs, fn, sys);
            goto done;
        }
        bool user_side = r == CT_ROLE_USER || r == CT_ROLE_TOOL;
        if (user_side != odd) {
            st = ct_err_set(err, CT_ERR_FORMAT,
                            "%s: turn %zu: non-alternating turns: '%s' where a %s turn was expected",
                            where, i, role, odd ? "user/observation" : "assistant/function_call");
            goto done;
        }
        if ((st = get_content(json_object_get(msg, content_tag), where, content_tag, &b, err))) goto done;
        ct_message *m = ct_conv_add(c, r, is_fn ? "" : b.data, err);
        if (!m) { st = CT_ERR_NOMEM; goto done; }
        if ((st = read_extras(msg, m, where, i, err))) goto done;
        if (is_fn) {
            json_error_t je;
            json_t *calls = json_loadb(b.data, b.len, 0, &je);
            if (!calls || !(json_is_object(calls) || json_is_array(calls))) {
                json_decref(calls);
                st = ct_err_set(err, CT_ERR_FORMAT,
                                "%s: turn %zu: function_call value must be JSON {\"name\", \"arguments\"}", where, i);
                goto done;
            }
            if (json_is_object(calls)) st = add_call(m, calls, where, i, err);
            else {
                size_t k;
                json_t *call;
                json_array_foreach(calls, k, call) if (!st) st = add_call(m, call, where, i, err);
            }
            json_decref(calls);
            if (st) goto done;
        }
    }
    if ((n - start) % 2 != 0) {
        st = ct_err_set(err, CT_ERR_FORMAT, "%s: odd number of turns (%zu): the last turn must be an answer",
                        where, n - start);
        goto done;
    }
    st = read_tools(json_object_get(row, DEF(cols->tools, "tools")), true, where, c, err);
done:
    ct_buf_free(&b);
    return st;
}

static ct_status read_alpaca(const json_t *row, const ct_columns *cols, const char *where,
                             ct_conv *c, ct_err *err) {
    ct_columns z = {0};
    if (!cols) cols = &z;
    const char *pk = DEF(cols->prompt, "instruction"), *qk = DEF(cols->query, "input");
    const char *rk = DEF(cols->response, "output"), *hk = DEF(cols->history, "history");
    const char *sk = DEF(cols->system, "system");
    /* a column named "" is none (dataset_info.json `columns` that leave it out): no answer
     * without a response column, which is pre-training text (LlamaFactory's "unsupervised") */
    const json_t *p = pk[0] ? json_object_get(row, pk) : NULL, *q = qk[0] ? json_object_get(row, qk) : NULL;
    const json_t *r = rk[0] ? json_object_get(row, rk) : NULL, *h = hk[0] ? json_object_get(row, hk) : NULL;
    if (!p && !q && (pk[0] || qk[0])) return ct_err_set(err, CT_ERR_FORMAT, "%s: missing column '%s'", where, pk[0] ? pk : qk);
    if (!r && rk[0]) return ct_err_set(err, CT_ERR_FORMAT, "%s: missing column '%s'", where, rk);
    if (r && !json_is_string(r)) return ct_err_set(err, CT_ERR_FORMAT, "%s: '%s' must be a string", where, rk);
    const json_t *s = json_object_get(row, sk);
    if (s && json_is_string(s) && json_string_length(s) && !ct_conv_add(c, CT_ROLE_SYSTEM, json_string_value(s), err))
        return CT_ERR_NOMEM;
    if (h && !json_is_null(h)) {
        if (!json_is_array(h)) return ct_err_set(err, CT_ERR_FORMAT, "%s: '%s' must be a list of [query, answer]", where, hk);
        size_t i;
        json_t *pair;
        json_array_foreach(h, i, pair) {
            if (!json_is_array(pair) || json_array_size(pair) != 2 || !json_is_string(json_array_get(pair, 0)) ||
                !json_is_string(json_array_get(pair, 1)))
                return ct_err_set(err, CT_ERR_FORMAT, "%s: %s[%zu] must be [query, answer] strings", where, hk, i);
            if (!ct_conv_add(c, CT_ROLE_USER, json_string_value(json_array_get(pair, 0)), err) ||
                !ct_conv_add(c, CT_ROLE_ASSISTANT, json_string_value(json_array_get(pair, 1)), err))
                return CT_ERR_NOMEM;
        }
    }
    ct_buf b = {0};
    if (p && json_is_string(p) && json_string_length(p)) ct_buf_puts(&b, json_string_value(p));
    if (q && json_is_string(q) && json_string_length(q)) {
        if (b.len) ct_buf_put(&b, "\n", 1);
        ct_buf_puts(&b, json_string_value(q));
    }
    ct_message *um = ct_conv_add(c, CT_ROLE_USER, b.data ? b.data : "", err);
    ct_buf_free(&b);
    if (!um || (r && !ct_conv_add(c, CT_ROLE_ASSISTANT, json_string_value(r), err))) return CT_ERR_NOMEM;
    return read_tools(json_object_get(row, DEF(cols->tools, "tools")), true, where, c, err);
}

static ct_status read_tokens(const json_t *row, const char *where, ct_conv *c, ct_err *err) {
    const json_t *ids = json_object_get(row, "input_ids"), *lab = json_object_get(row, "labels");
    if (!json_is_array(ids)) return ct_err_set(err, CT_ERR_FORMAT, "%s: input_ids must be a list of ints", where);
    size_t n = json_array_size(ids);
    if (lab && !json_is_null(lab) && (!json_is_array(lab) || json_array_size(lab) != n))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: labels must be a list as long as input_ids (%zu)", where, n);
    c->ids = malloc((n ? n : 1) * sizeof(int32_t));
    c->labels = lab && !json_is_null(lab) ? malloc((n ? n : 1) * sizeof(int32_t)) : NULL;
    if (!c->ids || (lab && !json_is_null(lab) && !c->labels)) return oom(err);
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(ids, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: input_ids[%zu] is not a token id", where, i);
        c->ids[i] = (int32_t)json_integer_value(v);
        if (c->labels) {
            const json_t *l = json_array_get(lab, i);
            /* -100 (masked) or a token id; anything else would be truncated to int32 or
             * silently treated as masked */
            if (!json_is_integer(l) ||
                (json_integer_value(l) != CT_IGNORE_INDEX &&
                 (json_integer_value(l) < 0 || json_integer_value(l) > INT32_MAX)))
                return ct_err_set(err, CT_ERR_FORMAT, "%s: labels[%zu] is not a token id or -100", where, i);
            c->labels[i] = (int32_t)json_integer_value(l);
        }
    }
    c->n_ids = n;
    c->kind = CT_CONV_TOKENS;
    return CT_OK;
}

ct_status ct_conv_from_json(const void *rowp, ct_format fmt, const ct_columns *cols,
                            const char *where, ct_conv *out, ct_err *err) {
    const json_t *row = rowp;
    ct_conv_init(out);
    if (!json_is_object(row)) return ct_err_set(err, CT_ERR_FORMAT, "%s: a row must be a JSON object", where);
    if (fmt == CT_FORMAT_AUTO) {
        /* what a registry entry would refuse by its columns, refused per row for plain files */
        static const char *const unsup[][2] = {{"images", "multimodal data"}, {"videos", "multimodal data"},
                                               {"audios", "multimodal data"}, {"chosen", "preference data"},
                                               {"rejected", "preference data"}};
        for (size_t i = 0; i < sizeof unsup / sizeof unsup[0]; i++) {
            const json_t *v = json_object_get(row, unsup[i][0]);
            if (v && !json_is_null(v) && !(json_is_array(v) && json_array_size(v) == 0))
                return ct_err_set(err, CT_ERR_FORMAT, "%s: not supported: %s (column '%s')", where, unsup[i][1],
                                  unsup[i][0]);
        }
        if (json_object_get(row, "messages")) fmt = CT_FORMAT_OPENAI;
        else if (json_object_get(row, "conversations")) fmt = CT_FORMAT_SHAREGPT;
        else if (json_object_get(row, "instruction")) fmt = CT_FORMAT_ALPACA;
        else if (json_object_get(row, "input_ids")) fmt = CT_FORMAT_TOKENS;
        else if (json_object_get(row, "text")) fmt = CT_FORMAT_TEXT;
        else
            return ct_err_set(err, CT_ERR_FORMAT,
                              "%s: cannot tell the format: expected one of the columns messages, "
                              "conversations, instruction, input_ids, text", where);
    }
    ct_status st;
    switch (fmt) {
    case CT_FORMAT_ALPACA: st = read_alpaca(row, cols, where, out, err); break;
    case CT_FORMAT_SHAREGPT: st = read_sharegpt(row, cols, where, out, err); break;
    case CT_FORMAT_OPENAI: st = read_openai(row, cols, where, out, err); break;
    case CT_FORMAT_TOKENS: st = read_tokens(row, where, out, err); break;
    case CT_FORMAT_TEXT: {
        const json_t *t = json_object_get(row, "text");
        if (!json_is_string(t)) st = ct_err_set(err, CT_ERR_FORMAT, "%s: missing string column 'text'", where);
        else if (!(out->text = strdup(json_string_value(t)))) st = oom(err);
        else out->kind = CT_CONV_TEXT, st = CT_OK;
        break;
    }
    default: st = ct_err_set(err, CT_ERR_ARG, "%s: unknown format %d", where, (int)fmt);
    }
    if (st) ct_conv_free(out);
    return st;
}

ct_status ct_conv_from_text(const char *text, size_t len, ct_format fmt, const ct_columns *cols,
                            const char *where, ct_conv *out, ct_err *err) {
    json_t *row = NULL;
    ct_conv_init(out);
    ct_status st = ct_json_load_buf(text, len, where, &row, err);
    if (st) return st;
    st = ct_conv_from_json(row, fmt, cols, where, out, err);
    json_decref(row);
    return st;
}

/* LlamaFactory's converters (data/converter.py) check positions only: after the system prompt,
 * turn k is user or observation when k is even, assistant or function_call when odd; the openai
 * converter first merges consecutive tool results into one observation. So a tool result may
 * follow any answer (glaive_toolcall_zh_demo has observations after plain assistant turns) or
 * open the conversation, and tool calls need no tools column. That the conversation ends with an
 * answer is checked by the dataset build for stage sft (pre-training reads the first message). */
ct_status ct_conv_check(const ct_conv *c, const char *where, ct_err *err) {
    if (c->kind != CT_CONV_MESSAGES) return CT_OK;
    if (c->n_msgs == 0) return ct_err_set(err, CT_ERR_FORMAT, "%s: conversation has no messages", where);
    size_t turn = 0; /* position among the user-side and answer turns */
    for (size_t i = 0; i < c->n_msgs; i++) {
        const ct_message *m = &c->msgs[i];
        char bad[96] = "";
        if (m->role == CT_ROLE_SYSTEM) {
            if (i) snprintf(bad, sizeof bad, "a system message must come first");
        } else if (m->role == CT_ROLE_TOOL && i && c->msgs[i - 1].role == CT_ROLE_TOOL) {
            continue; /* consecutive tool results are one observation */
        } else {
            bool user_side = m->role == CT_ROLE_USER || m->role == CT_ROLE_TOOL;
            if (user_side != (turn % 2 == 0)) {
                if (user_side)
                    snprintf(bad, sizeof bad, "%s follows %s without an answer between", ct_role_name(m->role),
                             ct_role_name(c->msgs[i - 1].role));
                else
                    snprintf(bad, sizeof bad, "%s", turn == 0 ? "assistant before any user message"
                                                              : "assistant follows assistant");
            }
            turn++;
        }
        if (bad[0])
            return ct_err_set(err, CT_ERR_FORMAT, "%s: message %zu (%s): non-alternating turns: %s", where, i,
                              ct_role_name(m->role), bad);
    }
    return CT_OK;
}
