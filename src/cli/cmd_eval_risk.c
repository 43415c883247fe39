/* `ctune eval-risk`: scores risk-assistant outputs (include/ctune/risk.h, docs/risk-dataset.md).
 *   score     --data EVAL.jsonl --pred PRED.jsonl [--out report.json] [--html eval_report.html]
 *   compare   BEFORE.json AFTER.json [--names before,after] [--html eval_report.html]
 *   prompts   --data EVAL.jsonl [--out prompts.jsonl]     (lines for `ctune data render`)
 *   reference --data EVAL.jsonl [--out pred.jsonl]        (the reference outputs as predictions) */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/str.h"
#include "cli/cli.h"
#include "ctune/risk.h"
#include "risk/json_writer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ctune eval-risk score --data EVAL.jsonl --pred PRED.jsonl [--out report.json] [--html FILE]\n"
            "       ctune eval-risk compare BEFORE.json AFTER.json [--names before,after] [--html FILE]\n"
            "       ctune eval-risk prompts --data EVAL.jsonl [--out prompts.jsonl]\n"
            "       ctune eval-risk reference --data EVAL.jsonl [--out pred.jsonl]\n"
            "PRED.jsonl lines: {\"id\": \"risk-...\", \"output\": \"model text\"} (or \"index\": 0-based line).\n"
            "prompts writes {\"id\",\"messages\",\"tools\"?,\"add_generation_prompt\":true} lines for `ctune data render`.\n");
}

/* Writes text to `path` atomically, or to stdout when path is NULL or "-". */
static int emit(const char *path, const char *text) {
    if (!text) return ct_cli_errorf("out of memory\n");
    if (path && strcmp(path, "-")) {
        ct_err err = {0};
        return ct_write_file_atomic(path, text, strlen(text), &err) ? ct_cli_error(&err) : 0;
    }
    return fputs(text, stdout) < 0 ? 1 : 0;
}

static void print_metrics(const ct_risk_eval_report *r) {
    ct_risk_eval_metrics m;
    ct_risk_eval_metrics_compute(r, &m);
    printf("samples: %zu (answer %zu, refusal %zu, missing predictions %zu)\n", r->n, r->n_answer, r->n_refusal,
           r->n_missing);
    printf("  json_valid_rate            %.4f\n", m.json_valid_rate);
    printf("  label_exact_match          %.4f\n", m.label_exact_match);
    printf("  label_micro_f1             %.4f\n", m.label_micro_f1);
    printf("  product_accuracy           %.4f\n", m.product_accuracy);
    printf("  approval_accuracy          %.4f\n", m.approval_accuracy);
    printf("  credit_limit_within_10pct  %.4f\n", m.credit_limit_within_10pct);
    printf("  rate_range_accuracy        %.4f\n", m.rate_range_accuracy);
    printf("  top_drivers_match          %.4f\n", m.top_drivers_match);
    printf("  refusal_accuracy           %.4f\n", m.refusal_accuracy);
    printf("  over_refusal_rate          %.4f\n", m.over_refusal_rate);
}

/* map_lines: fn's result for every non-blank line, each followed by "\n". */
typedef struct map_ctx {
    const char *path;
    ct_status (*fn)(const char *, char **, ct_err *);
    ct_rjw *w;
    size_t records;
} map_ctx;

static ct_status map_one(void *ctx, char *line, size_t lineno, ct_err *err) {
    map_ctx *m = ctx;
    char *out;
    if (m->fn(line, &out, err)) return ct_err_prefix(err, "%s:%zu", m->path, lineno);
    ct_rjw_rawz(m->w, out);
    ct_rjw_raw(m->w, "\n", 1);
    free(out);
    m->records++;
    return CT_OK;
}

/* Applies fn to every non-blank line of a JSONL file, appending its result + "\n" to w. */
static int map_lines(const char *path, ct_status (*fn)(const char *, char **, ct_err *), ct_rjw *w) {
    char *buf;
    size_t n;
    ct_err err = {0};
    if (ct_read_file(path, &buf, &n, &err)) return ct_cli_error(&err);
    map_ctx m = {path, fn, w, 0};
    int rc = ct_each_line(buf, map_one, &m, &err) ? ct_cli_error(&err) : 0;
    if (!rc && m.records == 0) rc = ct_cli_errorf("%s: no eval records", path);
    free(buf);
    return rc;
}

static int load_report(const char *path, ct_risk_eval_report *r) {
    char *buf;
    size_t n;
    ct_err err = {0};
    if (ct_read_file(path, &buf, &n, &err)) return ct_cli_error(&err);
    ct_status st = ct_risk_eval_report_parse(buf, r, &err);
    free(buf);
    if (st) {
        ct_err_prefix(&err, "%s", path);
        return ct_cli_error(&err);
    }
    return 0;
}

CT_CLI_COMMAND(eval_risk, "eval-risk", "score risk-assistant outputs (JSON validity, labels, limits, refusals)") {
    static const char *const flags[] = {"help", NULL};
    ct_args a;
    if (ct_args_parse(&a, argc, argv, flags)) {
        ct_args_free(&a);
        return 2;
    }
    int rc = 2;
    const char *sub = ct_args_positional(&a, 0);
    if (!sub || ct_args_flag(&a, "help")) {
        usage(sub || ct_args_flag(&a, "help") ? stdout : stderr);
        rc = sub || ct_args_flag(&a, "help") ? 0 : 2;
        goto done;
    }
    const char *data = ct_args_get(&a, "data"), *out = ct_args_get(&a, "out"), *html = ct_args_get(&a, "html");
    ct_err err = {0};
    if (!strcmp(sub, "score")) {
        const char *pred = ct_args_get(&a, "pred");
        if (ct_args_check_unknown(&a, "eval-risk")) goto done;
        if (!data || !pred) {
            fprintf(stderr, "ctune eval-risk score: --data and --pred are required\n");
            goto done;
        }
        ct_risk_eval_report r;
        ct_risk_eval_report_init(&r);
        if (ct_risk_eval_files(data, pred, &r, &err)) {
            rc = ct_cli_error(&err);
            goto done;
        }
        print_metrics(&r);
        rc = 0;
        if (out) {
            char *j = ct_risk_eval_report_json(&r);
            rc = emit(out, j);
            free(j);
        }
        if (!rc && html) {
            const ct_risk_eval_report *rs[1] = {&r};
            const char *names[1] = {"model"};
            char *h = ct_risk_eval_report_html(rs, names, 1);
            rc = emit(html, h);
            free(h);
        }
    } else if (!strcmp(sub, "compare")) {
        const char *p1 = ct_args_positional(&a, 1), *p2 = ct_args_positional(&a, 2);
        const char *names_opt = ct_args_get(&a, "names");
        if (ct_args_check_unknown(&a, "eval-risk")) goto done;
        if (!p1 || !p2) {
            fprintf(stderr, "ctune eval-risk compare: needs BEFORE.json AFTER.json\n");
            goto done;
        }
        ct_risk_eval_report r1, r2;
        if ((rc = load_report(p1, &r1)) || (rc = load_report(p2, &r2))) goto done;
        char n1[64] = "before", n2[64] = "after";
        if (names_opt) {
            const char *comma = strchr(names_opt, ',');
            if (!comma) {
                fprintf(stderr, "ctune eval-risk compare: --names expects two names separated by a comma\n");
                rc = 2;
                goto done;
            }
            snprintf(n1, sizeof n1, "%.*s", (int)(comma - names_opt), names_opt);
            snprintf(n2, sizeof n2, "%s", comma + 1);
        }
        const ct_risk_eval_report *rs[2] = {&r1, &r2};
        const char *names[2] = {n1, n2};
        ct_risk_eval_metrics m1, m2;
        ct_risk_eval_metrics_compute(&r1, &m1);
        ct_risk_eval_metrics_compute(&r2, &m2);
        printf("%-28s %10s %10s\n", "metric", n1, n2);
        printf("%-28s %10.4f %10.4f\n", "json_valid_rate", m1.json_valid_rate, m2.json_valid_rate);
        printf("%-28s %10.4f %10.4f\n", "label_exact_match", m1.label_exact_match, m2.label_exact_match);
        printf("%-28s %10.4f %10.4f\n", "label_micro_f1", m1.label_micro_f1, m2.label_micro_f1);
        printf("%-28s %10.4f %10.4f\n", "product_accuracy", m1.product_accuracy, m2.product_accuracy);
        printf("%-28s %10.4f %10.4f\n", "approval_accuracy", m1.approval_accuracy, m2.approval_accuracy);
        printf("%-28s %10.4f %10.4f\n", "credit_limit_within_10pct", m1.credit_limit_within_10pct,
               m2.credit_limit_within_10pct);
        printf("%-28s %10.4f %10.4f\n", "refusal_accuracy", m1.refusal_accuracy, m2.refusal_accuracy);
        rc = 0;
        if (html) {
            char *h = ct_risk_eval_report_html(rs, names, 2);
            rc = emit(html, h);
            free(h);
        }
    } else if (!strcmp(sub, "prompts") || !strcmp(sub, "reference")) {
        if (ct_args_check_unknown(&a, "eval-risk")) goto done;
        if (!data) {
            fprintf(stderr, "ctune eval-risk %s: --data is required\n", sub);
            goto done;
        }
        ct_rjw w;
        ct_rjw_init(&w);
        rc = map_lines(data, !strcmp(sub, "prompts") ? ct_risk_eval_prompt : ct_risk_eval_reference_pred, &w);
        char *text = ct_rjw_take(&w);
        if (!rc) rc = emit(out, text);
        free(text);
    } else {
        fprintf(stderr, "ctune eval-risk: unknown subcommand '%s' (score, compare, prompts, reference)\n", sub);
    }
done:
    ct_args_free(&a);
    return rc;
}
