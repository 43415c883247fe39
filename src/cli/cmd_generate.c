/* `ctune generate`: greedy or sampled continuation of a prompt, streamed to the terminal or
 * printed as JSON {"prompt_ids", "output_ids", "text", "stop"}. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "ctune/generate.h"

static const char *usage_text =
    "usage: ctune generate --model DIR|FILE.gguf (--prompt TEXT | --prompt-ids 1,2,3) [options]\n"
    "  --adapter DIR           apply a PEFT adapter (LoRA or prompt tuning) without merging\n"
    "  --max-new-tokens N      default 256\n"
    "  --temperature T         T > 0 samples, 0 is greedy (default: generation_config.json)\n"
    "  --top-k K --top-p P     sampling filters (0 / 1 turn them off)\n"
    "  --repetition-penalty R  HF semantics, 1 = off\n"
    "  --greedy | --do-sample  force argmax / sampling\n"
    "  --seed S                sampling seed (default 0)\n"
    "  --stop STR              stop when STR appears in the output (repeatable)\n"
    "  --format text|json      text streams tokens as they come (default)\n"
    "  --threads N             compute threads (default: all cores)\n"
    CT_CLI_JSON_HELP
    CT_CLI_COMPUTE_HELP;

typedef struct stream {
    const ct_tokenizer *tok;
    ct_ids ids;
    size_t printed; /* bytes of the decoded output already written */
} stream;

/* Prints the newly decoded bytes; holds back a trailing U+FFFD (an incomplete UTF-8 character
 * that the next token may complete). */
static void stream_flush(stream *s, bool final) {
    char *text = NULL;
    size_t len = 0;
    if (ct_tokenizer_decode(s->tok, s->ids.data, s->ids.n, true, &text, &len, NULL) || !text)
        return;
    size_t upto = len;
    if (!final && len >= 3 && !memcmp(text + len - 3, "\xEF\xBF\xBD", 3)) upto = len - 3;
    if (upto > s->printed) {
        fwrite(text + s->printed, 1, upto - s->printed, stdout);
        fflush(stdout);
        s->printed = upto;
    }
    free(text);
}

static bool on_token(int32_t id, void *user) {
    stream *s = user;
    if (ct_ids_push(&s->ids, id, NULL) == CT_OK) stream_flush(s, false);
    return true;
}

static json_t *ids_json(const ct_ids *v) {
    json_t *a = json_array();
    for (size_t i = 0; i < v->n; i++) json_array_append_new(a, json_integer(v->data[i]));
    return a;
}

CT_CLI_COMMAND(generate, "generate", "generate text from a prompt (greedy or sampled)") {
    ct_args a;
    static const char *const flags[] = {"help", "greedy", "do-sample", "json-object", "json-stats", NULL};
    int rc = 1;
    if (ct_args_start(&a, argc, argv, flags, usage_text, &rc)) return rc;
    ct_err err = {0};
    ct_runtime *rt = NULL;
    ct_runtime_opts ro;
    ct_ids prompt = {0}, out = {0};
    const char **stops = calloc((size_t)a.n + 1, sizeof *stops);
    size_t nstop = 0;
    stream st = {0};
    const char *text = ct_args_get(&a, "prompt");
    const char *pids = ct_args_get(&a, "prompt-ids");
    const char *fmt = ct_args_get(&a, "format");
    bool json = fmt && !strcmp(fmt, "json");
    bool greedy = ct_args_flag(&a, "greedy"), sample = ct_args_flag(&a, "do-sample");
    ct_cli_sampling smp;
    ct_cli_json js;
    ct_json_constraint *jc = NULL;
    for (int i = 0; i < a.n; i++)
        if (a.keys[i] && !strcmp(a.keys[i], "stop")) {
            a.used[i] = true;
            if (a.vals[i]) stops[nstop++] = a.vals[i];
        }
    if (!ct_cli_sampling_parse(&a, "generate", 256, 0, &smp) || !ct_cli_runtime_opts(&a, false, &ro) ||
        !ct_cli_json_parse(&a, "generate", &js))
        goto out;
    if (!ro.model_dir) {
        rc = ct_cli_errorf("generate: --model DIR is required");
        goto out;
    }
    if (ct_args_check_unknown(&a, "generate")) goto out;
    if (!text == !pids) {
        rc = ct_cli_errorf("generate: give exactly one of --prompt TEXT or --prompt-ids 1,2,3");
        goto out;
    }
    if (fmt && !json && strcmp(fmt, "text")) {
        rc = ct_cli_errorf("generate: --format must be text or json, got '%s'", fmt);
        goto out;
    }
    if (!ct_cli_runtime_open(&ro, &rt)) goto out;
    const char *no_tok = NULL;
    const ct_tokenizer *tok = ct_runtime_tokenizer(rt, &no_tok);
    if (text) {
        if (ct_runtime_encode(rt, text, strlen(text), &prompt, &err)) {
            rc = ct_cli_error(&err);
            goto out;
        }
    } else if (!ct_cli_parse_ids(pids, &prompt)) {
        rc = ct_cli_errorf("generate: --prompt-ids: expected comma-separated token ids, got '%s'",
                           pids);
        goto out;
    }
    const ct_config *c = ct_model_config(ct_runtime_model(rt));
    for (size_t i = 0; i < prompt.n; i++)
        if (prompt.data[i] >= c->vocab_size) {
            rc = ct_cli_errorf("generate: prompt id %d is outside the vocabulary (%d)",
                               prompt.data[i], c->vocab_size);
            goto out;
        }
    if (prompt.n == 0) {
        rc = ct_cli_errorf("generate: the prompt encodes to no tokens");
        goto out;
    }
    if (nstop && !tok) {
        rc = ct_cli_errorf("generate: --stop needs the tokenizer: %s", no_tok);
        goto out;
    }
    ct_gen_params p;
    ct_runtime_gen_params(rt, false, &p, NULL);
    ct_cli_sampling_apply(&smp, &p);
    if (sample) p.do_sample = true;
    if (greedy) p.do_sample = false;
    p.stop_strings = stops;
    p.num_stop = nstop;
    if (!ct_cli_json_open(&js, "generate", rt, false, &jc)) goto out;
    p.constraint = jc;
    st.tok = tok;
    bool streaming = !json && tok;
    if (streaming) {
        p.on_token = on_token;
        p.user = &st;
    }
    ct_gen_stop why;
    double t0 = ct_cli_now();
    if (ct_runtime_generate(rt, prompt.data, prompt.n, &p, &out, &why, &err)) {
        if (streaming) putchar('\n');
        rc = ct_cli_error(&err);
        goto out;
    }
    ct_cli_json_report(&js, "generate", jc, out.n, ct_cli_now() - t0);
    if (json) {
        json_t *o = json_object();
        json_object_set_new(o, "prompt_ids", ids_json(&prompt));
        json_object_set_new(o, "output_ids", ids_json(&out));
        char *dec = NULL;
        size_t len = 0;
        if (tok && !ct_tokenizer_decode(tok, out.data, out.n, true, &dec, &len, &err) && dec)
            json_object_set_new(o, "text", json_stringn(dec, len));
        free(dec);
        json_object_set_new(o, "stop", json_string(ct_cli_stop_name(why)));
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII);
        printf("%s\n", s);
        free(s);
        json_decref(o);
    } else if (streaming) {
        stream_flush(&st, true);
        putchar('\n');
    } else { /* no tokenizer: print the ids */
        fprintf(stderr, "ctune: generate: no tokenizer (%s); printing token ids\n", no_tok);
        for (size_t i = 0; i < out.n; i++) printf("%s%d", i ? " " : "", out.data[i]);
        putchar('\n');
    }
    rc = 0;
out:
    free(stops);
    ct_ids_free(&prompt);
    ct_ids_free(&out);
    ct_ids_free(&st.ids);
    ct_json_constraint_free(jc);
    ct_runtime_free(rt);
    ct_args_free(&a);
    return rc;
}
