/* `ctune eval CONFIG.yaml`: the evaluation suite (include/ctune/eval.h, docs/eval.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "ctune/eval.h"

static const char k_usage[] =
    "usage: ctune eval CONFIG.yaml [--limit N] [--threads N] [--work-dir DIR] [--quant q8_0|q4_0]\n"
    "                  [--batch-precision exact|bf16]\n"
    "       ctune eval --compare RUN1 RUN2\n"
    "  CONFIG.yaml: EvalScope TaskConfig keys (model, datasets, dataset_args, generation_config, work_dir,\n"
    "  limit, eval_batch_size) plus adapters, models, eval_base, template, threads, quant (docs/eval.md).\n"
    "  Writes <work_dir>/<timestamp>/{predictions,reviews,reports}/<model>/<task>.* and prints a table.\n"
    "  --compare: per-metric differences RUN2 - RUN1, regressions marked; exit 3 when any.\n"
    CT_CLI_BATCH_HELP;

CT_CLI_COMMAND(eval, "eval", "EvalScope-style benchmarks (mcq, qa, loss, think) on models side by side") {
    static const char *const flags[] = {"help", "compare", NULL};
    ct_args a;
    int rc;
    if (ct_args_start(&a, argc, argv, flags, k_usage, &rc)) return rc;
    ct_err err = {0};
    rc = 2;
    if (ct_args_flag(&a, "compare")) {
        const char *r1 = ct_args_positional(&a, 0), *r2 = ct_args_positional(&a, 1);
        if (ct_args_check_unknown(&a, "eval")) goto done;
        if (!r1 || !r2 || ct_args_positional(&a, 2)) {
            fputs(k_usage, stderr);
            goto done;
        }
        int reg = 0;
        rc = ct_eval_compare(r1, r2, stdout, &reg, &err) ? ct_cli_error(&err) : reg ? 3 : 0;
        goto done;
    }
    ct_eval_opts o = ct_eval_opts_default();
    o.config_path = ct_args_positional(&a, 0);
    o.work_dir = ct_args_get(&a, "work-dir");
    o.quant = ct_args_get(&a, "quant");
    o.console = stdout;
    o.progress = stderr;
    long long v;
    if (ct_args_get(&a, "limit")) {
        if (!ct_args_int(&a, "limit", &v)) goto done;
        if (v < 0) {
            rc = ct_cli_errorf("eval: --limit must be >= 0");
            goto done;
        }
        o.limit = v;
    }
    if (ct_args_get(&a, "threads")) {
        if (!ct_args_int(&a, "threads", &v)) goto done;
        if (v < 1) {
            rc = ct_cli_errorf("eval: --threads must be >= 1");
            goto done;
        }
        o.threads = (int)v;
    }
    if (!ct_cli_batch_precision(&a, "eval", &o.batch_precision)) goto done;
    if (ct_args_check_unknown(&a, "eval")) goto done;
    if (!o.config_path || ct_args_positional(&a, 1)) {
        fputs(k_usage, stderr);
        goto done;
    }
    char *run_dir = NULL;
    if (ct_eval_run(&o, &run_dir, &err)) {
        rc = ct_cli_error(&err);
        goto done;
    }
    printf("outputs: %s\n", run_dir);
    free(run_dir);
    rc = 0;
done:
    ct_args_free(&a);
    return rc;
}
