/* `ctune data render --template NAME [--tokenizer DIR] [--enable-thinking true|false]`
 * stdin: JSONL lines {"messages": [...], "tools": [...]?, "add_generation_prompt": bool?,
 * "enable_thinking": bool?} (OpenAI message format; a line's flags win over the options), and for
 * llama3_1 the template's keyword arguments "tools_in_user_message": bool?, "date_string": str?,
 * "builtin_tools": [str]?, "custom_tools": [...]? (the template's other name for tools).
 * stdout: one JSON string per line, the rendered text (equal to the Jinja template's output).
 * --labels prints the text with trained spans between « and » instead (for humans). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "cli/cli.h"
#include "cli/cmd_data.h"
#include "ctune/data.h"
#include "data/tojson.h"

/* Picks the template from --template, else from DIR's chat template (chat_template.jinja, or
 * tokenizer_config.json's chat_template). */
int ct_cli_pick_template(const char *name, const char *tok_dir, const ct_template **out, bool quiet) {
    ct_err err = {0};
    if (tok_dir && !ct_dir_exists(tok_dir)) return ct_cli_errorf("--tokenizer %s: no such directory", tok_dir);
    if (!name && !tok_dir) return ct_cli_errorf("give --template NAME (or --tokenizer DIR to detect it)");
    char *src = NULL;
    if (!name && ct_tokenizer_read_chat_template(tok_dir, &src, &err)) return ct_cli_error(&err);
    const char *file = "tokenizer_config.json";
    if (!name) {
        char *side = ct_path_join(tok_dir, "chat_template.jinja");
        if (side && ct_file_exists(side)) file = "chat_template.jinja";
        free(side);
    }
    ct_status st = ct_template_resolve(name, src, out, NULL, 0, &err);
    free(src);
    if (st) {
        if (!name) ct_err_prefix(&err, "%s/%s", tok_dir, file);
        return ct_cli_error(&err);
    }
    if (!name && !quiet)
        fprintf(stderr, "ctune: template %s (detected from %s/%s)\n", ct_template_name(*out), tok_dir, file);
    return 0;
}

/* The Llama 3.1 template's keyword arguments on a line (strings stay owned by row; builtin holds
 * up to 16 names + NULL); custom_tools becomes the line's tools, as the template reads it. */
static ct_status llama31_kwargs(json_t *row, const char *where, ct_render_opts *o, const char *builtin[17],
                                ct_err *err) {
    json_t *v = json_object_get(row, "tools_in_user_message");
    if (v && !json_is_boolean(v))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: \"tools_in_user_message\" must be true or false", where);
    o->tools_in_system = json_is_false(v);
    v = json_object_get(row, "date_string");
    if (v && !json_is_string(v)) return ct_err_set(err, CT_ERR_FORMAT, "%s: \"date_string\" must be a string", where);
    o->date_string = json_string_value(v);
    v = json_object_get(row, "builtin_tools");
    if (v) {
        if (!json_is_array(v) || json_array_size(v) > 16)
            return ct_err_set(err, CT_ERR_FORMAT, "%s: \"builtin_tools\" must be a list of at most 16 names", where);
        for (size_t i = 0; i < json_array_size(v); i++)
            if (!(builtin[i] = json_string_value(json_array_get(v, i))))
                return ct_err_set(err, CT_ERR_FORMAT, "%s: builtin_tools[%zu] is not a string", where, i);
        o->builtin_tools = builtin;
    }
    v = json_object_get(row, "custom_tools");
    if (v && json_object_set(row, "tools", v)) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    return CT_OK;
}

static void print_labels(const ct_render *r) {
    for (size_t i = 0; i < r->n_segs; i++) {
        const ct_segment *s = &r->segs[i];
        if (s->weight > 0) fputs("\xc2\xab", stdout);
        fwrite(r->text + s->off, 1, s->len, stdout);
        if (s->weight > 0) fputs("\xc2\xbb", stdout);
    }
    fputs("\n", stdout);
}

int ct_cli_data_render(int argc, char **argv) {
    static const char *const flags[] = {"labels", "help", NULL};
    ct_args a;
    if (ct_args_parse(&a, argc, argv, flags)) return 2;
    if (ct_args_flag(&a, "help")) {
        printf("usage: ctune data render --template NAME [--tokenizer DIR] [--enable-thinking true|false] [--labels]\n"
               "  reads JSONL {\"messages\", \"tools\"?, \"add_generation_prompt\"?, \"enable_thinking\"?} on stdin,\n"
               "  (llama3_1 also \"tools_in_user_message\"?, \"date_string\"?, \"builtin_tools\"?, \"custom_tools\"?)\n"
               "  prints the rendered text of each line as a JSON string (--labels: raw text, trained spans in «»)\n");
        ct_args_free(&a);
        return 0;
    }
    const char *tname = ct_args_get(&a, "template"), *tok = ct_args_get(&a, "tokenizer");
    const char *et = ct_args_get(&a, "enable-thinking");
    bool labels = ct_args_flag(&a, "labels");
    int rc = 0;
    if (ct_args_check_unknown(&a, "data render")) {
        ct_args_free(&a);
        return 2;
    }
    ct_think think = CT_THINK_NULL;
    if (et) {
        if (!strcmp(et, "true")) think = CT_THINK_TRUE;
        else if (!strcmp(et, "false")) think = CT_THINK_FALSE;
        else {
            ct_args_free(&a);
            return ct_cli_errorf("--enable-thinking: expected true or false, got '%s'", et);
        }
    }
    const ct_template *t = NULL;
    if ((rc = ct_cli_pick_template(tname, tok, &t, false))) {
        ct_args_free(&a);
        return rc;
    }
    ct_render r;
    ct_render_init(&r);
    ct_buf out = {0};
    ct_lines in;
    ct_err lerr = {0};
    bool got = false;
    if (ct_lines_from(&in, stdin, "stdin", 0, &lerr)) rc = ct_cli_error(&lerr);
    /* a read error stops with an error naming the line instead of ending the output early */
    while (!rc) {
        if (ct_lines_next(&in, &got, &lerr)) {
            rc = ct_cli_error(&lerr);
            break;
        }
        if (!got) break;
        char *line = in.line;
        size_t n = in.len;
        if (!n) continue;
        char where[64];
        snprintf(where, sizeof where, "stdin:%zu", in.lineno);
        ct_err err = {0};
        json_t *row = NULL;
        if (ct_json_load_buf(line, n, where, &row, &err)) {
            rc = ct_cli_error(&err);
            break;
        }
        ct_render_opts o = ct_render_opts_default();
        o.jinja = true;
        o.enable_thinking = think;
        bool b;
        json_t *v = json_object_get(row, "add_generation_prompt");
        if (v && json_is_boolean(v)) o.add_generation_prompt = json_is_true(v);
        v = json_object_get(row, "enable_thinking");
        if (v && json_is_boolean(v)) o.enable_thinking = json_is_true(v) ? CT_THINK_TRUE : CT_THINK_FALSE;
        (void)b;
        ct_status st = CT_OK;
        const char *builtin[17] = {NULL};
        st = llama31_kwargs(row, where, &o, builtin, &err);
        ct_conv c;
        ct_conv_init(&c);
        if (!st) st = ct_conv_from_json(row, CT_FORMAT_OPENAI, NULL, where, &c, &err);
        if (!st) st = ct_template_render(t, &c, &o, &r, &err);
        ct_conv_free(&c);
        json_decref(row);
        if (st) {
            if (!err.msg[0] || !strstr(err.msg, "stdin:")) ct_err_prefix(&err, "%s", where);
            rc = ct_cli_error(&err);
            break;
        }
        if (labels) {
            print_labels(&r);
        } else {
            out.len = 0;
            ct_tojson_string(&out, r.text, r.len);
            fwrite(out.data, 1, out.len, stdout);
            fputc('\n', stdout);
        }
    }
    ct_lines_close(&in);
    ct_buf_free(&out);
    ct_render_free(&r);
    ct_args_free(&a);
    return rc;
}
