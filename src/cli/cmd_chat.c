/* `ctune chat`: interactive multi-turn chat over stdin (one user message per line; works with a
 * pipe), streaming answers; <think> reasoning dimmed on a terminal; tool calls printed as JSON.
 * Options as flags, or LlamaFactory's inference YAML (ctune/infer_config.h). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/file.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "ctune/chat.h"
#include "ctune/infer_config.h"

static const char *usage_text =
    "usage: ctune chat --model DIR|FILE.gguf [options]   (then type; one message per line)\n"
    "       ctune chat INFER.yaml [--stats] [overrides]   LlamaFactory's inference YAML (model_name_or_path,\n"
    "                           adapter_name_or_path, template, default_system, enable_thinking, do_sample,\n"
    "                           temperature, top_p, top_k, max_new_tokens, repetition_penalty, ...) with its\n"
    "                           defaults (temperature 0.95, top_p 0.7, top_k 50, max_new_tokens 1024);\n"
    "                           overrides: --key value, --flag, key=value (docs/inference.md)\n"
    "  --adapter DIR            apply a PEFT adapter (LoRA or prompt tuning)\n"
    "  --template NAME          qwen, qwen3, qwen3_nothink, qwen3_5, llama3, llama3_1, llama2, chatml,\n"
    "                           empty\n"
    "                           (default: recognised from tokenizer_config.json's chat_template)\n"
    "  --system TEXT            system message\n"
    "  --enable-thinking true|false   Qwen3 / Qwen3.5 thinking switch (default: the template's default)\n"
    "  --max-new-tokens N       per answer (default 512)\n"
    "  --temperature T          0 = greedy (default: generation_config.json)\n"
    "  --top-k K --top-p P --repetition-penalty R --seed S\n"
    "  --stats                  per-turn token counts and speed on stderr\n"
    "  --no-cache-reuse         re-run the whole conversation each turn (debugging)\n"
    "  --threads N              compute threads (default: all cores)\n"
    CT_CLI_JSON_HELP
    CT_CLI_COMPUTE_HELP
    "commands: /reset (new conversation), /exit\n";

typedef struct display {
    const ct_tokenizer *tok;
    ct_ids ids;
    ct_chat_splitter sp;
    bool color;
    int last; /* span kind last printed, -1 none */
} display;

static void close_span(display *d) {
    if (d->last == CT_CHAT_SPAN_THINK) fputs(d->color ? "\033[0m" : "</think>", stdout);
    d->last = -1;
}

static void emit(ct_chat_span kind, const char *text, size_t len, void *user) {
    display *d = user;
    if ((int)kind != d->last) {
        close_span(d);
        if (kind == CT_CHAT_SPAN_THINK) fputs(d->color ? "\033[2m" : "<think>", stdout);
        d->last = (int)kind;
    }
    if (kind == CT_CHAT_SPAN_TOOL_CALL) {
        json_error_t je;
        json_t *j = json_loadb(text, len, 0, &je);
        char *s = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (s) printf("%s[tool_call] %s%s\n", d->color ? "\033[36m" : "", s, d->color ? "\033[0m" : "");
        else printf("[tool_call, not JSON] %.*s\n", (int)len, text);
        free(s);
        json_decref(j);
        d->last = -1;
    } else {
        fwrite(text, 1, len, stdout);
    }
    fflush(stdout);
}

static void display_flush(display *d, bool final) {
    char *text = NULL;
    size_t len = 0;
    if (ct_tokenizer_decode(d->tok, d->ids.data, d->ids.n, true, &text, &len, NULL) || !text) return;
    /* hold back an incomplete UTF-8 character (decoded as U+FFFD) until the next token */
    if (!final && len >= 3 && !memcmp(text + len - 3, "\xEF\xBF\xBD", 3)) len -= 3;
    if (len >= d->sp.pos) ct_chat_splitter_feed(&d->sp, text, len, final, emit, d);
    if (final) close_span(d);
    free(text);
}

static bool on_token(int32_t id, void *user) {
    display *d = user;
    if (ct_ids_push(&d->ids, id, NULL) == CT_OK) display_flush(d, false);
    return true;
}

/* What a chat session starts from: the flag form fills smp, the YAML form ic. */
typedef struct chat_setup {
    ct_runtime_opts ro;
    const char *system;
    ct_think think;
    bool stats, no_reuse;
    const ct_cli_sampling *smp;   /* flags: over generation_config.json */
    const ct_infer_config *ic;    /* YAML: LlamaFactory's generation keys and defaults */
    ct_cli_json json;             /* every answer constrained to JSON (flags form) */
} chat_setup;

static int run_chat(const chat_setup *cs) {
    ct_err err = {0};
    ct_runtime *rt = NULL;
    ct_chat *chat = NULL;
    ct_lines in = {0};
    display d = {0};
    ct_json_constraint *jc = NULL;
    int rc = 1;
    if (!ct_cli_runtime_open(&cs->ro, &rt)) goto out;
    const char *no_tok = NULL;
    if (!ct_runtime_tokenizer(rt, &no_tok)) {
        rc = ct_cli_errorf("chat: needs the tokenizer: %s", no_tok);
        goto out;
    }
    const ct_template *tmpl = NULL;
    ct_chat_opts o = {.system = cs->system, .enable_thinking = cs->think, .no_cache_reuse = cs->no_reuse};
    if (ct_runtime_template(rt, &tmpl, &err) || ct_runtime_gen_params(rt, false, &o.gen, &err)) {
        rc = ct_cli_errorf("chat: %s", err.msg);
        goto out;
    }
    if (cs->ic) ct_infer_config_gen_params(cs->ic, &o.gen);
    if (cs->smp) ct_cli_sampling_apply(cs->smp, &o.gen);
    if (!ct_cli_json_open(&cs->json, "chat", rt, cs->think != CT_THINK_FALSE, &jc)) goto out;
    o.gen.constraint = jc;
    o.gen.on_token = on_token;
    o.gen.user = &d;
    d.tok = ct_runtime_tokenizer(rt, NULL);
    d.color = isatty(STDOUT_FILENO);
    bool interactive = isatty(STDIN_FILENO);
    if (ct_chat_init(&chat, rt, &o, &err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    if (interactive)
        fprintf(stderr, "ctune chat (%s template%s) - /reset starts over, /exit or Ctrl-D quits\n",
                ct_template_name(tmpl), cs->ro.adapter_dir ? ", adapter applied" : "");
    int turn = 0;
    if (ct_lines_from(&in, stdin, "stdin", 0, &err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    for (;;) {
        if (interactive) {
            fputs(d.color ? "\033[1m> \033[0m" : "> ", stdout);
            fflush(stdout);
        }
        bool got;
        if (ct_lines_next(&in, &got, &err)) { /* a read error is not the end of the conversation */
            rc = ct_cli_error(&err);
            goto out;
        }
        if (!got) break;
        char *line = in.line;
        if (in.len == 0) continue;
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) break;
        if (!strcmp(line, "/reset")) {
            ct_chat_reset(chat);
            if (interactive) fputs("(new conversation)\n", stderr);
            continue;
        }
        if (line[0] == '/' && line[1] != '/') {
            fprintf(stderr, "ctune chat: unknown command '%s' (/reset, /exit; start with // to "
                            "send a message beginning with /)\n", line);
            continue;
        }
        const char *msg = line[0] == '/' ? line + 1 : line;
        d.ids.n = 0;
        ct_chat_splitter_init(&d.sp);
        d.last = -1;
        char *answer = NULL;
        ct_chat_stats st;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ct_status s = ct_chat_send(chat, msg, &answer, &st, &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        display_flush(&d, true);
        fputs("\n", stdout);
        fflush(stdout);
        free(answer);
        if (s) {
            rc = ct_cli_error(&err);
            goto out;
        }
        turn++;
        if (cs->stats) {
            double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
            fprintf(stderr,
                    "[chat] turn %d: prompt %zu tokens (%zu reused from the cache), generated "
                    "%zu (stop: %s), %.1f tokens/s\n",
                    turn, st.prompt_tokens, st.reused_tokens, st.new_tokens, ct_cli_stop_name(st.stop),
                    sec > 0 ? (double)st.new_tokens / sec : 0.0);
        }
    }
    rc = 0;
out:
    ct_cli_json_report(&cs->json, "chat", jc, 0, 0);
    ct_lines_close(&in);
    ct_ids_free(&d.ids);
    ct_chat_free(chat);
    ct_json_constraint_free(jc);
    ct_runtime_free(rt);
    return rc;
}

/* `ctune chat infer.yaml [overrides]`: LlamaFactory's inference YAML (llamafactory-cli chat). */
static int chat_yaml(int argc, char **argv) {
    ct_infer_config c;
    ct_infer_config_init(&c);
    int rc = 1, nrest = 0;
    chat_setup cs = {.ic = &c};
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    if (!rest) goto out;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--stats")) cs.stats = true;
        else if (!strcmp(argv[i], "--no-cache-reuse")) cs.no_reuse = true;
        else rest[nrest++] = argv[i];
    }
    if (!ct_cli_infer_yaml(&c, argv[1], nrest, rest, CT_INFER_CHAT, "chat")) {
        rc = 1;
        goto out;
    }
    ct_infer_config_runtime_opts(&c, &cs.ro);
    cs.system = c.default_system;
    cs.think = (ct_think)c.enable_thinking;
    rc = run_chat(&cs);
out:
    ct_infer_config_free(&c);
    free(rest);
    return rc;
}

CT_CLI_COMMAND(chat, "chat", "interactive multi-turn chat with a chat template") {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        }
    if (argc > 1 && argv[1][0] != '-' && !ct_cli_is_override(argv[1])) return chat_yaml(argc, argv);
    ct_args a;
    static const char *const flags[] = {"help", "stats", "no-cache-reuse", "json-object", "json-stats", NULL};
    int rc = 1;
    if (ct_args_start(&a, argc, argv, flags, usage_text, &rc)) return rc;
    chat_setup cs = {0};
    ct_cli_sampling smp;
    cs.system = ct_args_get(&a, "system");
    const char *think = ct_args_get(&a, "enable-thinking");
    cs.stats = ct_args_flag(&a, "stats");
    cs.no_reuse = ct_args_flag(&a, "no-cache-reuse");
    cs.smp = &smp;
    if (!ct_cli_sampling_parse(&a, "chat", 512, 1, &smp) || !ct_cli_runtime_opts(&a, true, &cs.ro) ||
        !ct_cli_json_parse(&a, "chat", &cs.json))
        goto out;
    if (!cs.ro.model_dir) {
        rc = ct_cli_errorf("chat: --model DIR is required (or give an inference YAML: ctune chat infer.yaml)");
        goto out;
    }
    if (ct_args_check_unknown(&a, "chat")) goto out;
    cs.think = CT_THINK_NULL;
    if (think && !strcmp(think, "true")) cs.think = CT_THINK_TRUE;
    else if (think && !strcmp(think, "false")) cs.think = CT_THINK_FALSE;
    else if (think) {
        rc = ct_cli_errorf("chat: --enable-thinking must be true or false, got '%s'", think);
        goto out;
    }
    rc = run_chat(&cs);
out:
    ct_args_free(&a);
    return rc;
}
