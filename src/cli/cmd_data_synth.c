/* `ctune data synth risk`: writes the bundled supply-chain-finance risk-assistant dataset
 * (include/ctune/risk.h, docs/risk-dataset.md). `ctune data synth risk-schema` prints the answer's
 * JSON Schema (the text of examples/risk/answer.schema.json). */
#include <stdio.h>
#include <string.h>

#include "base/file.h"
#include "cli/cli.h"
#include "cli/cmd_data.h"
#include "ctune/risk.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ctune data synth risk --n N --seed S [--format openai|sharegpt|alpaca]\n"
            "                             [--think-ratio R] [--english-ratio R] [--sensitive-ratio R]\n"
            "                             [--tools-ratio R] [--multi-turn-ratio R] [--no-meta] [--out FILE]\n"
            "       ctune data synth risk-schema [--out FILE]\n"
            "Writes JSONL (stdout without --out). Same seed and options give the same bytes.\n"
            "Defaults: --format openai --think-ratio 0.5 --english-ratio 0.15 --sensitive-ratio 0.1\n"
            "          --tools-ratio 0.28 (of non-sensitive samples) --multi-turn-ratio 0.15.\n"
            "alpaca cannot express tool calls: tool samples are written with all facts in the prompt.\n");
}

static bool ratio_opt(ct_args *a, const char *key, uint32_t *ppm) {
    if (!ct_args_get(a, key)) return true;
    double r;
    if (!ct_args_double(a, key, &r)) return false;
    ct_err err = {0};
    if (ct_risk_ratio_ppm(r, ppm, &err)) {
        fprintf(stderr, "ctune data synth: --%s: %s\n", key, err.msg);
        return false;
    }
    return true;
}

int ct_cli_data_synth(int argc, char **argv) {
    static const char *const flags[] = {"no-meta", "help", NULL};
    ct_args a;
    if (ct_args_parse(&a, argc, argv, flags)) {
        ct_args_free(&a);
        return 2;
    }
    int rc = 2;
    const char *what = ct_args_positional(&a, 0);
    if (ct_args_flag(&a, "help") || !what) {
        usage(what || ct_args_flag(&a, "help") ? stdout : stderr);
        rc = what || ct_args_flag(&a, "help") ? 0 : 2;
        goto done;
    }
    const char *out = ct_args_get(&a, "out");
    ct_err err = {0};
    if (!strcmp(what, "risk-schema")) {
        if (ct_args_check_unknown(&a, "data synth")) goto done;
        const char *s = ct_risk_answer_schema_json();
        if (out) rc = ct_write_file_atomic(out, s, strlen(s), &err) ? ct_cli_error(&err) : 0;
        else rc = fputs(s, stdout) < 0 ? 1 : 0;
        goto done;
    }
    if (strcmp(what, "risk") != 0) {
        fprintf(stderr, "ctune data synth: unknown dataset '%s' (known: risk, risk-schema)\n", what);
        goto done;
    }
    ct_risk_synth_opts o;
    ct_risk_synth_opts_init(&o);
    long long n = -1, seed = 0;
    if (!ct_args_get(&a, "n") || !ct_args_get(&a, "seed")) {
        fprintf(stderr, "ctune data synth risk: --n and --seed are required\n");
        goto done;
    }
    if (!ct_args_int(&a, "n", &n) || !ct_args_int(&a, "seed", &seed)) goto done;
    if (n < 0 || seed < 0) {
        fprintf(stderr, "ctune data synth risk: --n and --seed must be >= 0\n");
        goto done;
    }
    o.seed = (uint64_t)seed;
    const char *fmt = ct_args_get(&a, "format");
    if (fmt) {
        int f = ct_risk_format_from_name(fmt);
        if (f < 0) {
            fprintf(stderr, "ctune data synth risk: --format: unknown format '%s' (openai, sharegpt, alpaca)\n", fmt);
            goto done;
        }
        o.format = (ct_risk_format)f;
    }
    if (!ratio_opt(&a, "think-ratio", &o.think_ppm) || !ratio_opt(&a, "english-ratio", &o.english_ppm) ||
        !ratio_opt(&a, "sensitive-ratio", &o.sensitive_ppm) || !ratio_opt(&a, "tools-ratio", &o.tools_ppm) ||
        !ratio_opt(&a, "multi-turn-ratio", &o.multi_turn_ppm))
        goto done;
    o.meta = !ct_args_flag(&a, "no-meta");
    if (ct_args_check_unknown(&a, "data synth")) goto done;
    ct_status st = out && strcmp(out, "-") ? ct_risk_synth_write(&o, (uint64_t)n, out, &err)
                                           : ct_risk_synth_fwrite(&o, (uint64_t)n, stdout, &err);
    rc = st ? ct_cli_error(&err) : 0;
    if (!st && fflush(stdout)) rc = 1;
done:
    ct_args_free(&a);
    return rc;
}
