/* `ctune eval-loss --model DIR --data FILE.jsonl`: mean next-token NLL over every predicted token
 * of every line ({"input_ids": [..]} or {"text": ".."}), printed as {"loss","tokens","ppl"};
 * --decode scores token by token through the decode path (ct_runtime_nll_decode). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/json.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "eval/loss.h"
#include "ctune/model.h"

CT_CLI_COMMAND(eval_loss, "eval-loss", "mean next-token loss and perplexity over a JSONL file") {
    ct_args a;
    static const char *const flags[] = {"help", "decode", NULL};
    if (ct_args_parse(&a, argc, argv, flags)) return 1;
    if (ct_args_flag(&a, "help")) {
        printf("usage: ctune eval-loss --model DIR|FILE.gguf --data FILE.jsonl [--adapter DIR] [--decode] [--threads N]\n"
               CT_CLI_COMPUTE_HELP
               "  --adapter DIR: apply a PEFT adapter (LoRA, or prompt tuning: the virtual tokens\n"
               "  precede every line and also predict its first token, as PEFT's loss does)\n"
               "  --decode: score token by token through the KV-cache decode path (what generation\n"
               "  runs; with --quant, the integer GEMV with 8-bit activations as llama.cpp) instead\n"
               "  of one forward over the line (with --quant: dequantized blocks, f32 activations)\n"
               "  each line: {\"input_ids\": [..]} or {\"text\": \"..\"} (text needs the "
               "tokenizer; BOS added as tokenizer_config.json says)\n"
               "  prints {\"loss\": mean NLL over all predicted tokens, \"tokens\": N, "
               "\"ppl\": exp(loss)}\n");
        ct_args_free(&a);
        return 0;
    }
    int rc = 1;
    ct_err err = {0};
    ct_runtime *rt = NULL;
    ct_runtime_opts ro;
    char *buf = NULL, *what = NULL;
    ct_ids ids = {0};
    const char *data = ct_args_get(&a, "data");
    bool decode = ct_args_flag(&a, "decode");
    if (!ct_cli_runtime_opts(&a, false, &ro) || ct_args_check_unknown(&a, "eval-loss")) goto out;
    if (!ro.model_dir || !data) {
        rc = ct_cli_errorf("eval-loss: --model DIR and --data FILE.jsonl are required");
        goto out;
    }
    size_t len = 0;
    if (ct_read_file(data, &buf, &len, &err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    size_t wn = strlen(data) + 24;
    if (!(what = malloc(wn))) {
        rc = ct_cli_errorf("eval-loss: out of memory");
        goto out;
    }
    if (!ct_cli_runtime_open(&ro, &rt)) goto out;
    double total = 0.0;
    size_t count = 0, lineno = 0;
    for (char *line = buf; line && line < buf + len;) {
        char *nl = memchr(line, '\n', (size_t)(buf + len - line));
        size_t n = nl ? (size_t)(nl - line) : (size_t)(buf + len - line);
        lineno++;
        char *cur = line;
        line = nl ? nl + 1 : NULL;
        size_t k = 0;
        while (k < n && (cur[k] == ' ' || cur[k] == '\t' || cur[k] == '\r')) k++;
        if (k == n) continue;
        snprintf(what, wn, "%s:%zu", data, lineno);
        json_t *o = NULL;
        if (ct_json_load_buf(cur, n, what, &o, &err)) {
            rc = ct_cli_error(&err);
            goto out;
        }
        double nll = 0.0;
        size_t np = 0;
        ct_status lst = ct_eval_loss_line(rt, o, what, decode, &ids, &nll, &np, &err);
        json_decref(o);
        if (lst) {
            rc = ct_cli_error(&err);
            goto out;
        }
        total += nll;
        count += np;
    }
    if (count == 0) {
        rc = ct_cli_errorf("%s: no line has two or more tokens, nothing to predict", data);
        goto out;
    }
    double loss = total / (double)count;
    printf("{\"loss\": %.8f, \"tokens\": %zu, \"ppl\": %.8f}\n", loss, count, exp(loss));
    rc = 0;
out:
    free(buf);
    free(what);
    ct_ids_free(&ids);
    ct_runtime_free(rt);
    ct_args_free(&a);
    return rc;
}
