/* The unified conversation (ct_conv): construction, freeing, <think> splitting. */
#include <stdlib.h>
#include <string.h>

#include "ctune/data.h"

const char *ct_role_name(ct_role r) {
    switch (r) {
    case CT_ROLE_SYSTEM: return "system";
    case CT_ROLE_USER: return "user";
    case CT_ROLE_ASSISTANT: return "assistant";
    case CT_ROLE_TOOL: return "tool";
    }
    return "?";
}

void ct_conv_init(ct_conv *c) { memset(c, 0, sizeof *c); }

void ct_conv_free(ct_conv *c) {
    for (size_t i = 0; i < c->n_msgs; i++) {
        ct_message *m = &c->msgs[i];
        free(m->content);
        free(m->reasoning);
        for (size_t j = 0; j < m->n_tool_calls; j++) {
            free(m->tool_calls[j].name);
            free(m->tool_calls[j].arguments);
        }
        free(m->tool_calls);
    }
    free(c->msgs);
    for (size_t i = 0; i < c->n_tools; i++) free(c->tools[i]);
    free(c->tools);
    free(c->text);
    free(c->ids);
    free(c->labels);
    memset(c, 0, sizeof *c);
}

ct_message *ct_conv_add(ct_conv *c, ct_role role, const char *content, ct_err *err) {
    if (c->n_msgs == c->cap_msgs) {
        size_t cap = c->cap_msgs ? c->cap_msgs * 2 : 8;
        ct_message *m = realloc(c->msgs, cap * sizeof *m);
        if (!m) {
            ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            return NULL;
        }
        c->msgs = m;
        c->cap_msgs = cap;
    }
    ct_message *m = &c->msgs[c->n_msgs];
    memset(m, 0, sizeof *m);
    m->role = role;
    m->weight = 1.0f;
    m->content = strdup(content ? content : "");
    if (!m->content) {
        ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        return NULL;
    }
    c->n_msgs++;
    return m;
}

ct_status ct_message_add_tool_call(ct_message *m, const char *name, const char *arguments,
                                   bool args_is_string, ct_err *err) {
    ct_tool_call *t = realloc(m->tool_calls, (m->n_tool_calls + 1) * sizeof *t);
    if (!t) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    m->tool_calls = t;
    ct_tool_call *tc = &t[m->n_tool_calls];
    tc->name = strdup(name ? name : "");
    tc->arguments = strdup(arguments ? arguments : "{}");
    tc->args_is_string = args_is_string;
    if (!tc->name || !tc->arguments) {
        free(tc->name);
        free(tc->arguments);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    m->n_tool_calls++;
    return CT_OK;
}

ct_status ct_conv_add_tool(ct_conv *c, const char *tool_json, ct_err *err) {
    char **t = realloc(c->tools, (c->n_tools + 1) * sizeof *t);
    if (!t) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    c->tools = t;
    if (!(t[c->n_tools] = strdup(tool_json))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    c->n_tools++;
    return CT_OK;
}

static const char *find_last(const char *s, const char *end, const char *pat) {
    size_t pl = strlen(pat);
    const char *last = NULL;
    for (const char *p = s; p + pl <= end; p++)
        if (!memcmp(p, pat, pl)) last = p;
    return last;
}

/* Mirrors Qwen3's chat template:
 *   content   = content.split('</think>')[-1].lstrip('\n')
 *   reasoning = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') */
bool ct_split_think(const char *content, char **reasoning, char **rest) {
    const char *first = strstr(content, "</think>");
    if (!first) return false;
    const char *last = find_last(content, content + strlen(content), "</think>");
    const char *c = last + 8;
    while (*c == '\n') c++;
    const char *r0 = content, *r1 = first;
    while (r1 > r0 && r1[-1] == '\n') r1--;
    const char *open = find_last(r0, r1, "<think>");
    if (open) r0 = open + 7;
    while (r0 < r1 && *r0 == '\n') r0++;
    *reasoning = strndup(r0, (size_t)(r1 - r0));
    *rest = strdup(c);
    return true;
}
