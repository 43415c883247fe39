/* `ctune generate-batch`: one greedy (or sampled) answer per JSONL line, for evaluation.
 *   input lines:  {"id", "messages" | "conversations" | "instruction", "tools"?}  chat, rendered
 *                 with the template and a generation prompt (a trailing assistant message is
 *                 dropped, so evaluation data can be fed as is), or {"id"?, "prompt": "raw text"}
 *   output lines: {"id": ..., "output": "decoded answer"} ("index": i when the line has no id),
 *                 what `ctune eval-risk score --pred` reads.
 * --adapter DIR applies a PEFT adapter as ctune/adapter.h does (LoRA unmerged, or prompt tuning
 * virtual tokens). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "base/file.h"
#include "cli/options.h"
#include "ctune/data.h"
#include "ctune/generate.h"
#include "io/pyjson.h"

static const char *usage_text =
    "usage: ctune generate-batch --model DIR|FILE.gguf --input IN.jsonl --output OUT.jsonl [options]\n"
    "  --adapter DIR           PEFT adapter to apply (LoRA or prompt tuning)\n"
    "  --template NAME         chat template (default: detected from tokenizer_config.json)\n"
    "  --enable-thinking B     true | false (Qwen3 templates; default true)\n"
    "  --default-system TEXT   system prompt of chat lines without one (LlamaFactory default_system)\n"
    "  --max-new-tokens N      default 256\n"
    "  --temperature T         0 = greedy (default)\n"
    "  --seed S                sampling seed\n"
    "  --limit N               only the first N lines\n"
    "  --threads N             compute threads\n"
    CT_CLI_JSON_HELP
    CT_CLI_COMPUTE_HELP
    CT_CLI_BATCH_HELP;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Prompt ids of one input line. */
static ct_status line_prompt(ct_runtime *rt, const char *line, size_t len, const char *where, ct_think think,
                             const char *default_system, ct_ids *ids, ct_err *err) {
    json_error_t je;
    json_t *o = json_loadb(line, len, 0, &je);
    if (!o) return ct_err_set(err, CT_ERR_FORMAT, "%s: invalid JSON: %s", where, je.text);
    ct_status st;
    const char *raw = json_string_value(json_object_get(o, "prompt"));
    if (raw) {
        st = ct_runtime_encode(rt, raw, strlen(raw), ids, err);
        json_decref(o);
        return st;
    }
    ct_conv conv;
    ct_conv_init(&conv);
    st = ct_conv_from_json(o, CT_FORMAT_AUTO, NULL, where, &conv, err);
    json_decref(o);
    if (!st && conv.kind != CT_CONV_MESSAGES)
        st = ct_err_set(err, CT_ERR_FORMAT, "%s: expected a chat sample (messages / instruction) or \"prompt\"", where);
    if (!st && conv.n_msgs && conv.msgs[conv.n_msgs - 1].role == CT_ROLE_ASSISTANT) {
        conv.n_msgs--; /* drop the reference answer */
        ct_message *m = &conv.msgs[conv.n_msgs];
        free(m->content);
        free(m->reasoning);
        for (size_t i = 0; i < m->n_tool_calls; i++) free(m->tool_calls[i].name), free(m->tool_calls[i].arguments);
        free(m->tool_calls);
    }
    if (!st) {
        ct_render_opts ro = ct_render_opts_default();
        ro.add_generation_prompt = true;
        ro.enable_thinking = think;
        ro.default_system = default_system;
        st = ct_runtime_encode_chat(rt, &conv, &ro, ids, err);
    }
    ct_conv_free(&conv);
    return st;
}

CT_CLI_COMMAND(generate_batch, "generate-batch", "answer every line of a JSONL file (evaluation predictions)") {
    ct_args a;
    static const char *const flags[] = {"help", "json-object", "json-stats", NULL};
    int rc = 1;
    if (ct_args_start(&a, argc, argv, flags, usage_text, &rc)) return rc;
    ct_err err = {0};
    ct_runtime *rt = NULL;
    ct_runtime_opts ro;
    FILE *outf = NULL;
    ct_lines in = {0};
    char *where = NULL;
    const char *inp = ct_args_get(&a, "input"), *outp = ct_args_get(&a, "output");
    const char *think_s = ct_args_get(&a, "enable-thinking");
    const char *default_system = ct_args_get(&a, "default-system");
    long long max_new = 256, seed = 0, limit = -1;
    double temp = 0;
    ct_cli_json js;
    ct_json_constraint *jc = NULL;
    if (!ct_cli_runtime_opts(&a, true, &ro) || !ct_cli_batch_precision(&a, "generate-batch", &ro.batch_precision) ||
        !ct_cli_json_parse(&a, "generate-batch", &js) || !ct_args_int(&a, "max-new-tokens", &max_new) ||
        !ct_args_int(&a, "seed", &seed) || !ct_args_int(&a, "limit", &limit) ||
        !ct_args_double(&a, "temperature", &temp))
        goto out;
    if (ct_args_check_unknown(&a, "generate-batch")) goto out;
    if (!ro.model_dir || !inp || !outp) {
        rc = ct_cli_errorf("generate-batch: --model, --input and --output are required");
        goto out;
    }
    ct_think think = CT_THINK_TRUE;
    if (think_s && (!strcmp(think_s, "false") || !strcmp(think_s, "False"))) think = CT_THINK_FALSE;
    if (!ct_cli_runtime_open(&ro, &rt)) goto out;
    const char *no_tok = NULL;
    const ct_tokenizer *tok = ct_runtime_tokenizer(rt, &no_tok);
    if (!tok) {
        rc = ct_cli_errorf("generate-batch: needs the tokenizer: %s", no_tok);
        goto out;
    }
    ct_gen_params p;
    if (ct_runtime_gen_params(rt, true, &p, &err)) {
        rc = ct_cli_errorf("generate-batch: %s", err.msg);
        goto out;
    }
    p.max_new_tokens = (int32_t)max_new;
    p.do_sample = temp > 0;
    if (temp > 0) p.temperature = (float)temp;
    p.seed = (uint64_t)seed;
    if (!ct_cli_json_open(&js, "generate-batch", rt, think != CT_THINK_FALSE, &jc)) goto out;
    p.constraint = jc;
    /* ct_lines: a regular file only, and a read error is an error naming the line, not the end */
    if (ct_lines_open(&in, inp, 0, &err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    size_t wn = strlen(inp) + 24;
    if (!(where = malloc(wn))) {
        rc = ct_cli_errorf("generate-batch: out of memory");
        goto out;
    }
    if (!(outf = fopen(outp, "w"))) {
        rc = ct_cli_errorf("generate-batch: cannot write %s", outp);
        goto out;
    }
    double t0 = now_s();
    bool tty = isatty(2);
    size_t n_gen = 0, n_lines = 0, ng = 0;
    /* up to CT_GEN_BATCH lines are answered together (one decode step reads the weights once for
     * all of them); the answers are those of one line at a time, written in input order */
    ct_ids ids[CT_GEN_BATCH], outi[CT_GEN_BATCH];
    json_t *srcs[CT_GEN_BATCH];
    memset(ids, 0, sizeof ids), memset(outi, 0, sizeof outi), memset(srcs, 0, sizeof srcs);
    bool got = true;
    while (got) {
        if (ct_lines_next(&in, &got, &err)) {
            rc = ct_cli_error(&err);
            goto batch_out;
        }
        bool stop_now = !got || (limit >= 0 && (long long)(n_lines + ng) >= limit);
        if (got && !stop_now && in.len) {
            snprintf(where, wn, "%s:%zu", inp, in.lineno);
            if (line_prompt(rt, in.line, in.len, where, think, default_system, &ids[ng], &err)) {
                rc = ct_cli_error(&err);
                goto batch_out;
            }
            srcs[ng++] = json_loadb(in.line, in.len, 0, NULL);
        }
        if (stop_now) got = false;
        if (ng < CT_GEN_BATCH && got) continue;
        const int32_t *pp[CT_GEN_BATCH];
        size_t pn[CT_GEN_BATCH];
        for (size_t i = 0; i < ng; i++) pp[i] = ids[i].data, pn[i] = ids[i].n;
        if (ng && ct_runtime_generate_batch(rt, pp, pn, ng, &p, outi, NULL, &err)) {
            rc = ct_cli_error(&err);
            goto batch_out;
        }
        for (size_t i = 0; i < ng; i++) {
            char *text = NULL;
            size_t tl = 0;
            ct_tokenizer_decode(tok, outi[i].data, outi[i].n, true, &text, &tl, &err);
            json_t *o = json_object();
            json_t *id = srcs[i] ? json_object_get(srcs[i], "id") : NULL;
            if (id) json_object_set(o, "id", id);
            else json_object_set_new(o, "index", json_integer((json_int_t)n_lines));
            json_object_set_new(o, "output", json_stringn(text ? text : "", text ? tl : 0));
            char *s = json_dumps(o, JSON_PRESERVE_ORDER);
            fprintf(outf, "%s\n", s ? s : "{}");
            free(s);
            json_decref(o);
            free(text);
            n_gen += outi[i].n;
            n_lines++;
        }
        for (size_t i = 0; i < ng; i++) {
            ct_ids_free(&ids[i]), ct_ids_free(&outi[i]);
            json_decref(srcs[i]), srcs[i] = NULL;
        }
        ng = 0;
        if (tty)
            fprintf(stderr, "\rgenerate-batch: %zu answers, %zu tokens, %.1f tokens/s", n_lines, n_gen,
                    (double)n_gen / (now_s() - t0 + 1e-9));
    }
    ct_cli_json_report(&js, "generate-batch", jc, n_gen, now_s() - t0);
    fprintf(stderr, "%sgenerate-batch: %zu answers, %zu tokens in %.1f s (%.1f tokens/s, prompt prefill included)\n",
            tty ? "\r" : "", n_lines, n_gen, now_s() - t0, (double)n_gen / (now_s() - t0 + 1e-9));
    rc = 0;
batch_out:
    for (size_t i = 0; i < CT_GEN_BATCH; i++) {
        ct_ids_free(&ids[i]), ct_ids_free(&outi[i]);
        json_decref(srcs[i]);
    }
out:
    free(where);
    ct_lines_close(&in);
    ct_json_constraint_free(jc);
    if (outf && (ferror(outf) | fclose(outf)) && !rc) rc = ct_cli_errorf("generate-batch: write to %s failed", outp);
    ct_runtime_free(rt);
    ct_args_free(&a);
    return rc;
}
