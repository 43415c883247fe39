/* The Ollama Modelfile of `ctune export --format gguf` (src/model/modelfile.c): its TEMPLATE is
 * the verified fixture (tests/fixtures/ollama/NAME.gotmpl, checked against the model's Jinja by
 * tests/gen/make_ollama_template_fixtures.py with Go), and the file parses under Ollama's
 * Modelfile rules (parser/parser.go: FROM present, one command per line, "..." and """...""" values). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/file.h"
#include "ctune/config.h"
#include "harness.h"
#include "model/gguf_export.h"

typedef struct mf_cmd {
    char name[16];
    char *value;
} mf_cmd;

/* Ollama's Modelfile grammar as its parser applies it; returns the number of commands, -1 with
 * *why on a parse error. */
static int mf_parse(const char *s, mf_cmd *cmds, int max, const char **why) {
    int n = 0;
    while (*s) {
        if (*s == '\n' || *s == ' ' || *s == '\t' || *s == '\r') {
            s++;
            continue;
        }
        if (*s == '#') {
            while (*s && *s != '\n') s++;
            continue;
        }
        if (n == max) return *why = "too many commands", -1;
        size_t k = 0;
        while ((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z'))
            if (k + 1 < sizeof cmds[n].name) cmds[n].name[k++] = *s++;
            else return *why = "command name too long", -1;
        cmds[n].name[k] = 0;
        if (!k || (*s != ' ' && *s != '\t')) return *why = "invalid command", -1;
        while (*s == ' ' || *s == '\t') s++;
        if (!strcmp(cmds[n].name, "PARAMETER")) { /* PARAMETER name value */
            while (*s && *s != ' ') s++;
            while (*s == ' ') s++;
        }
        const char *v = s, *e;
        if (!strncmp(s, "\"\"\"", 3)) {
            v = s + 3;
            if (!(e = strstr(v, "\"\"\""))) return *why = "unterminated \"\"\"", -1;
            s = e + 3;
        } else if (*s == '"') {
            v = s + 1;
            if (!(e = strchr(v, '"')) || memchr(v, '\n', (size_t)(e - v))) return *why = "unterminated \"", -1;
            s = e + 1;
        } else {
            e = s + strcspn(s, "\n");
            s = e;
        }
        if (*s && *s != '\n' && *s != ' ' && *s != '\r') return *why = "text after a quoted value", -1;
        cmds[n].value = strndup(v, (size_t)(e - v));
        n++;
    }
    if (n == 0 || strcmp(cmds[0].name, "FROM")) return *why = "FROM is not the first command", -1;
    return n;
}

static const char *mf_get(mf_cmd *c, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(c[i].name, name)) return c[i].value;
    return NULL;
}

/* A tokenizer dir in tmp/name: the synthetic Qwen3.5 tokenizer, chat_template.jinja = jinja
 * (none when NULL), add_bos_token as given (bos <|endoftext|>). */
static char *make_tok(const char *name, const char *jinja, bool add_bos) {
    static char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", ct_test_tmpdir(), name);
    ct_err err = {0};
    if (ct_mkdir_p(dir, &err)) return NULL;
    char *src = NULL, *cfg = NULL;
    size_t n = 0;
    char path[600];
    if (ct_read_file(ct_test_path("tests/fixtures/tok/qwen3_5-synth/tokenizer.json"), &src, &n, &err)) return NULL;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    bool ok = !ct_write_file_atomic(path, src, n, &err);
    free(src);
    if (!ok || ct_read_file(ct_test_path("tests/fixtures/tok/qwen3_5-synth/tokenizer_config.json"), &cfg, &n, &err))
        return NULL;
    if (add_bos) { /* "add_bos_token": false, "bos_token": null → true, "<|endoftext|>" */
        char *a = strstr(cfg, "\"add_bos_token\": false"), *b = strstr(cfg, "\"bos_token\": null");
        if (!a || !b) return free(cfg), NULL;
        memcpy(a, "\"add_bos_token\": true,", 22);
        a[22] = ' ';
        ct_buf t = {0};
        ct_buf_put(&t, cfg, (size_t)(b - cfg));
        ct_buf_puts(&t, "\"bos_token\": \"<|endoftext|>\"");
        ct_buf_puts(&t, b + strlen("\"bos_token\": null"));
        free(cfg);
        cfg = t.data;
        n = t.len;
    }
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    ok = !ct_write_file_atomic(path, cfg, n, &err);
    free(cfg);
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    if (ok && jinja) ok = !ct_write_file_atomic(path, jinja, strlen(jinja), &err);
    return ok ? dir : NULL;
}

static char *slurp(const char *path) {
    char *s = NULL;
    size_t n;
    ct_err err = {0};
    return ct_read_file(path, &s, &n, &err) ? NULL : s;
}

/* The Modelfile for a tokenizer with chat template `jinja`; its commands in c (n returned). */
static int export_modelfile(const char *tag, const char *jinja, bool add_bos, mf_cmd *c, int max, char **text) {
    const char *dir = make_tok(tag, jinja, add_bos);
    if (!dir) return -1;
    char out[600];
    snprintf(out, sizeof out, "%s-out", dir);
    ct_err err = {0};
    ct_config cfg = {0};
    if (ct_mkdir_p(out, &err) || ct_gguf_write_modelfile(&cfg, dir, out, "model.gguf", NULL, &err)) {
        ct_test_fail(__FILE__, __LINE__, "%s: %s", tag, err.msg);
        return -1;
    }
    char path[700];
    snprintf(path, sizeof path, "%s/Modelfile", out);
    *text = slurp(path);
    const char *why = "";
    int n = *text ? mf_parse(*text, c, max, &why) : -1;
    if (n < 0) ct_test_fail(__FILE__, __LINE__, "%s: Modelfile does not parse: %s", tag, why);
    return n;
}

static void free_cmds(mf_cmd *c, int n) {
    for (int i = 0; i < n; i++) free(c[i].value);
}

TEST(modelfile_template_fixtures) {
    static const struct {
        const char *name, *jinja, *bos;
    } cases[] = {
        {"qwen", "{{ '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}", ""},
        {"qwen3", "<|im_start|> <think> {% if enable_thinking %}{% endif %}", ""},
        {"qwen3_5", NULL, ""},
        {"llama3", "{{ '<|start_header_id|>' }}", "<|begin_of_text|>"},
        {"llama2", "{{ '[INST]' }}", "<s>"},
        {"chatml", "{{ '<|im_start|>' }}", ""},
        {"llama3_1", "<|start_header_id|> Cutting Knowledge Date builtin_tools tools_in_user_message", "<|begin_of_text|>"},
    };
    char *q35 = slurp(ct_test_path("tests/fixtures/data/qwen3_5_chat_template.jinja"));
    REQUIRE(q35);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "tests/fixtures/ollama/%s.gotmpl", cases[i].name);
        char *want = slurp(ct_test_path(path));
        REQUIRE(want);
        const char *bos = NULL;
        CHECK_STREQ(ct_ollama_template(cases[i].name, &bos), want);
        CHECK_STREQ(bos, cases[i].bos);
        for (int add_bos = 0; add_bos < 2; add_bos++) {
            mf_cmd c[16];
            char *text = NULL, tag[64];
            snprintf(tag, sizeof tag, "%s-%d", cases[i].name, add_bos);
            int n = export_modelfile(tag, cases[i].jinja ? cases[i].jinja : q35, add_bos, c, 16, &text);
            if (n < 0) {
                free(text);
                continue;
            }
            /* the BOS text goes in front only when the tokenizer does not add it */
            const char *tmpl = mf_get(c, n, "TEMPLATE");
            size_t bl = add_bos ? 0 : strlen(cases[i].bos);
            CHECK_MSG(tmpl && !strncmp(tmpl, cases[i].bos, bl) && !strcmp(tmpl + bl, want),
                      "%s: TEMPLATE differs from tests/fixtures/ollama/%s.gotmpl", tag, cases[i].name);
            CHECK_STREQ(mf_get(c, n, "FROM"), "./model.gguf");
            const char *sys = mf_get(c, n, "SYSTEM");
            if (!strcmp(cases[i].name, "qwen")) CHECK_STREQ(sys, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.");
            else CHECK(!sys);
            /* the template's end of turn is a stop (<|im_end|> is a control token of this vocab) */
            if (cases[i].name[0] != 'l') CHECK(strstr(text, "\nPARAMETER stop \"<|im_end|>\"\n"));
            free_cmds(c, n);
            free(text);
        }
        free(want);
    }
    free(q35);
}

TEST(modelfile_no_template) {
    static const struct {
        const char *tag, *jinja, *comment;
    } cases[] = {
        {"qwen3_nothink", "<|im_start|> <tool_response>", "# No TEMPLATE: chat template qwen3_nothink has no"},
        {"unknown", "{{ messages }}", "# No TEMPLATE: the chat template is not one ctune recognises"},
        {"none", NULL, "# No TEMPLATE: the tokenizer has no chat_template"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mf_cmd c[16];
        char *text = NULL;
        int n = export_modelfile(cases[i].tag, cases[i].jinja, false, c, 16, &text);
        if (n < 0) {
            free(text);
            continue;
        }
        CHECK_MSG(!mf_get(c, n, "TEMPLATE"), "%s: unexpected TEMPLATE", cases[i].tag);
        CHECK_MSG(strstr(text, cases[i].comment), "%s: no comment \"%s\" in:\n%s", cases[i].tag, cases[i].comment, text);
        free_cmds(c, n);
        free(text);
    }
}

TEST(modelfile_parser_rules) {
    mf_cmd c[8];
    const char *why = "";
    CHECK(mf_parse("# c\nFROM ./m.gguf\nTEMPLATE \"\"\"a\n\"b\" c\"\"\"\nPARAMETER stop \"x\"\n", c, 8, &why) == 3);
    CHECK_STREQ(c[1].value, "a\n\"b\" c");
    free_cmds(c, 3);
    CHECK(mf_parse("TEMPLATE x\nFROM y\n", c, 8, &why) < 0); /* FROM first */
    free_cmds(c, 2);
    CHECK(mf_parse("FROM y\nTEMPLATE \"\"\"open\n", c, 8, &why) < 0);
    free_cmds(c, 1);
}
