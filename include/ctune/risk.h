/* ctune — the bundled supply-chain-finance risk-assistant dataset: company profiles, the
 * documented decision rules (docs/risk-dataset.md), a deterministic conversation generator in
 * alpaca / sharegpt / OpenAI-messages JSONL, and the evaluator that scores model outputs against
 * the rules (JSON validity against examples/risk/answer.schema.json, labels, product, approval,
 * credit limit, refusals).
 *
 * All profile numbers are integers in fixed-point units (see the field comments) so the rules and
 * the generated text are bit-for-bit identical on every machine; no floating point is used by the
 * rules or the generator's text. */
#ifndef CTUNE_RISK_H
#define CTUNE_RISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ctune/err.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Risk labels, in the fixed order they appear in answers. Label i is raised by factor i. */
typedef enum ct_risk_label {
    CT_RISK_LABEL_OVERDUE = 0,     /* 逾期: overdue rate > 5.0% */
    CT_RISK_LABEL_LONG_TERMS,      /* 账期过长: payment terms > 90 days */
    CT_RISK_LABEL_SINGLE_CUSTOMER, /* 单一客户依赖: top customer > 50% */
    CT_RISK_LABEL_REVENUE_DECLINE, /* 营收下滑: revenue trend < -10.0% */
    CT_RISK_LABEL_LOW_COLLATERAL,  /* 抵押不足: collateral coverage < 0.50 */
    CT_RISK_LABEL_YOUNG,           /* 经营年限短: years in business < 3 */
    CT_RISK_LABEL_LOW_RECEIVABLES, /* 应收覆盖不足: receivables coverage < 1.00 */
    CT_RISK_LABEL_COUNT
} ct_risk_label;

typedef enum ct_risk_product {
    CT_RISK_PRODUCT_FACTORING = 0,     /* 保理 */
    CT_RISK_PRODUCT_RECEIVABLE_PLEDGE, /* 应收账款质押融资 */
    CT_RISK_PRODUCT_ORDER,             /* 订单融资 */
    CT_RISK_PRODUCT_INVENTORY,         /* 存货质押 */
    CT_RISK_PRODUCT_NONE,              /* 不推荐 */
    CT_RISK_PRODUCT_COUNT
} ct_risk_product;

typedef struct ct_risk_profile {
    char company[128];         /* synthetic company name, in the sample's language */
    char industry[48];
    char core_enterprise[128]; /* the anchor buyer whose receivables back the financing */
    int64_t revenue_wan;       /* annual revenue, 万元 (10k yuan) */
    int32_t revenue_trend_x10; /* year-on-year revenue change in 0.1 %: -125 = -12.5 % */
    int32_t receivables_x100;  /* receivables from the core enterprise / requested amount, 0.01 */
    int32_t overdue_x10;       /* overdue rate in 0.1 % */
    int32_t payment_terms_days;
    int32_t top_customer_pct;   /* share of the largest customer in revenue, % */
    int32_t collateral_x100;    /* collateral value / requested amount, 0.01 */
    int64_t collateral_wan;     /* collateral value, 万元 = requested_wan * collateral_x100 / 100 */
    int32_t years_in_business;
    int64_t requested_wan; /* requested amount, 万元 */
} ct_risk_profile;

/* The expected answer for a profile (docs/risk-dataset.md, "Rules"). */
typedef struct ct_risk_decision {
    ct_risk_product product;
    int64_t credit_limit_yuan;   /* 0 when product is NONE */
    int32_t rate_lo_bps;         /* annual rate in 0.01 %; both 0 (JSON null) when NONE */
    int32_t rate_hi_bps;
    uint32_t labels;             /* bit i set = label i raised */
    int n_labels;
    bool needs_human_approval;
    int drivers[3];              /* factor indices (== label indices), most important first */
    bool driver_negative[3];
    int32_t severity[CT_RISK_LABEL_COUNT]; /* > 0 exactly when the label is raised */
    uint32_t evidence;           /* bit i = factor i is cited in "evidence" */
    /* Intermediate values of the limit rule (万元), kept for explanations. */
    int64_t cap_revenue_wan, cap_product_wan, base_wan, haircut_wan;
    ct_risk_product product_before_floor; /* product before the minimum-limit rule */
} ct_risk_decision;

const char *ct_risk_label_name(int label);     /* Chinese label, e.g. "逾期"; NULL if out of range */
const char *ct_risk_product_name(int product); /* e.g. "保理" */
const char *ct_risk_factor_key(int factor);    /* e.g. "overdue_rate_pct" */
int ct_risk_label_from_name(const char *name); /* -1 if unknown */
int ct_risk_product_from_name(const char *name);
int ct_risk_factor_from_key(const char *key);

/* Applies the rules. Pure integer arithmetic; deterministic. */
void ct_risk_decide(const ct_risk_profile *p, ct_risk_decision *d);

/* The answer object as compact single-line JSON (malloc'd; NULL on allocation failure).
 * `english` only changes the free-text `reasons`; keys, product and labels are fixed strings. */
char *ct_risk_answer_json(const ct_risk_profile *p, const ct_risk_decision *d, bool english);
/* JSON Schema (draft 2020-12) of the answer object; the text of examples/risk/answer.schema.json. */
const char *ct_risk_answer_schema_json(void);

/* ---- generator ---- */

typedef enum ct_risk_format {
    CT_RISK_FORMAT_OPENAI = 0, /* {"messages":[...], "tools":[...]} */
    CT_RISK_FORMAT_SHAREGPT,   /* {"conversations":[{"from","value"}], "system", "tools"} */
    CT_RISK_FORMAT_ALPACA,     /* {"instruction","input","output","system","history"} */
} ct_risk_format;

int ct_risk_format_from_name(const char *name); /* "openai" | "sharegpt" | "alpaca"; -1 if unknown */

/* Ratios are parts per million so that the sample stream never depends on float rounding. */
typedef struct ct_risk_synth_opts {
    uint64_t seed;
    ct_risk_format format;
    uint32_t think_ppm;      /* samples with reasoning; default 500000 (0.5) */
    uint32_t english_ppm;    /* default 150000 */
    uint32_t sensitive_ppm;  /* refusal / hand-over samples; default 100000 */
    uint32_t tools_ppm;      /* of non-sensitive samples; default 280000 (~25 % of all) */
    uint32_t multi_turn_ppm; /* of non-sensitive samples; default 150000 */
    bool meta;               /* add "id" and "meta" (profile, kind) keys; default true */
} ct_risk_synth_opts;

void ct_risk_synth_opts_init(ct_risk_synth_opts *o);
/* Converts a ratio in [0, 1] to ppm (rounded); CT_ERR_ARG outside [0, 1] or NaN. */
ct_status ct_risk_ratio_ppm(double ratio, uint32_t *ppm, ct_err *err);

/* Sample `index` as one JSON line with a trailing "\n" (malloc'd). Sample i depends only on
 * (seed, i, options), so the first N lines of a longer run equal a run of N. */
ct_status ct_risk_synth_sample(const ct_risk_synth_opts *o, uint64_t index, char **line,
                               ct_err *err);
/* Samples 0..n-1 to an open stream, or atomically to `path`. */
ct_status ct_risk_synth_fwrite(const ct_risk_synth_opts *o, uint64_t n, FILE *f, ct_err *err);
ct_status ct_risk_synth_write(const ct_risk_synth_opts *o, uint64_t n, const char *path,
                              ct_err *err);

/* ---- evaluator ---- */

/* Counters accumulated over samples; metrics are ratios of them (ct_risk_eval_metrics). */
typedef struct ct_risk_eval_report {
    size_t n;            /* samples scored */
    size_t n_answer;     /* samples whose target is a JSON answer */
    size_t n_refusal;    /* sensitive samples whose target is a refusal / hand-over */
    size_t n_missing;    /* samples with no prediction (scored as wrong) */
    size_t json_valid;   /* answer samples: output parses and validates against the schema */
    size_t label_exact;  /* risk_labels set equals the expected set */
    size_t product_ok, approval_ok, limit_ok, rate_ok, drivers_ok;
    size_t refusal_ok;   /* refusal samples answered with a refusal and no JSON answer */
    size_t over_refusal; /* answer samples answered with a refusal */
    size_t tp[CT_RISK_LABEL_COUNT], fp[CT_RISK_LABEL_COUNT], fn[CT_RISK_LABEL_COUNT];
} ct_risk_eval_report;

typedef struct ct_risk_eval_metrics {
    double json_valid_rate;      /* json_valid / n_answer */
    double label_exact_match;    /* label_exact / n_answer */
    double label_precision, label_recall, label_micro_f1;
    double product_accuracy, approval_accuracy;
    double credit_limit_within_10pct;
    double rate_range_accuracy;  /* both ends within 0.01 percentage points (or null == null) */
    double top_drivers_match;    /* same 3 factors in the same order */
    double refusal_accuracy;     /* refusal_ok / n_refusal */
    double over_refusal_rate;    /* over_refusal / n_answer */
} ct_risk_eval_metrics;

/* What one output got right (all false for an invalid output). */
typedef struct ct_risk_score {
    bool is_refusal_sample;
    bool json_valid, refused, label_exact, product_ok, approval_ok, limit_ok, rate_ok, drivers_ok;
    bool refusal_ok;
    uint32_t labels; /* predicted risk_labels as bits (0 for an invalid output) */
} ct_risk_score;

void ct_risk_eval_report_init(ct_risk_eval_report *r);
/* Scores one model output for a profile. `output` may start with a <think>...</think> block and
 * surrounding whitespace; nothing else is stripped (no code fences). NULL output = missing. */
void ct_risk_score_output(const ct_risk_profile *p, bool refusal_sample, const char *output,
                          ct_risk_score *s);
void ct_risk_eval_add_score(ct_risk_eval_report *r, const ct_risk_profile *p,
                            const ct_risk_score *s);
/* Scores one generated record (one JSONL line in any of the three formats, with its "meta"). */
ct_status ct_risk_eval_add(ct_risk_eval_report *r, const char *record_json, const char *output,
                           ct_err *err);
/* Whole files: eval samples JSONL + predictions JSONL of {"id": ..., "output": "..."} (or
 * {"index": i, ...}, 0-based line index). Predictions for unknown ids are an error. */
ct_status ct_risk_eval_files(const char *data_path, const char *pred_path,
                             ct_risk_eval_report *r, ct_err *err);
void ct_risk_eval_metrics_compute(const ct_risk_eval_report *r, ct_risk_eval_metrics *m);

/* Report as JSON text (counts + metrics with 4 decimals), and parsed back from that text. */
char *ct_risk_eval_report_json(const ct_risk_eval_report *r);
ct_status ct_risk_eval_report_parse(const char *json, ct_risk_eval_report *r, ct_err *err);
/* A self-contained HTML page with one metrics table: one column per report (e.g. "before",
 * "after"), plus a delta column when there are exactly two. */
char *ct_risk_eval_report_html(const ct_risk_eval_report *const *reports,
                               const char *const *names, int n_reports);

/* The prompt for one eval record (OpenAI-messages format): {"id", "messages" (everything before
 * the target assistant turn), "tools"?, "add_generation_prompt": true} — the line format of
 * `ctune data render`. The target is the first assistant message without tool_calls. */
ct_status ct_risk_eval_prompt(const char *record_json, char **prompt_json, ct_err *err);
/* The reference output (the target assistant content, <think> block included when the record has
 * reasoning) — what a perfect model would write. */
ct_status ct_risk_eval_reference(const char *record_json, char **output, ct_err *err);
/* The same as a prediction line: {"id": <record id>, "output": <reference>} (no newline). */
ct_status ct_risk_eval_reference_pred(const char *record_json, char **line, ct_err *err);

#ifdef __cplusplus
}
#endif
#endif
