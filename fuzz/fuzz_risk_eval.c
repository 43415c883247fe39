/* Risk evaluator. Byte 0 even: an eval record (one JSONL line, any of the three formats with
 * "meta"), then optionally a NUL byte and the model output to score (without one, the
 * record's reference answer is scored); the record also goes through ct_risk_eval_prompt and
 * ct_risk_eval_reference_pred. Byte 0 odd: a report JSON for ct_risk_eval_report_parse (an
 * accepted report is serialised, parsed back and must be equal). */
#include "ctune/risk.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    if (n < 1) return 0;
    bool report = d[0] & 1;
    char *s = fz_str(d + 1, n - 1);
    ct_err err = {0};
    ct_risk_eval_report r;
    ct_risk_eval_report_init(&r);
    if (report) {
        ct_status st = ct_risk_eval_report_parse(s, &r, &err);
        fz_check_err(st, &err);
        if (st == CT_OK) {
            char *j = ct_risk_eval_report_json(&r);
            ct_risk_eval_report r2;
            ct_risk_eval_report_init(&r2);
            if (!j || ct_risk_eval_report_parse(j, &r2, &err) || memcmp(&r, &r2, sizeof r)) abort();
            ct_risk_eval_metrics m;
            ct_risk_eval_metrics_compute(&r, &m);
            const ct_risk_eval_report *rs[2] = {&r, &r2};
            const char *names[2] = {"a", "b"};
            free(ct_risk_eval_report_html(rs, names, 2));
            free(j);
        }
        free(s);
        return 0;
    }
    size_t nr = strlen(s); /* the record ends at the first NUL */
    const char *output = nr < n - 1 ? s + nr + 1 : NULL;
    char *ref = NULL;
    ct_status st = ct_risk_eval_reference(s, &ref, &err);
    fz_check_err(st, &err);
    st = ct_risk_eval_add(&r, s, output ? output : ref, &err);
    fz_check_err(st, &err);
    if (st == CT_OK && r.n != 1) abort();
    char *prompt = NULL, *line = NULL;
    st = ct_risk_eval_prompt(s, &prompt, &err);
    fz_check_err(st, &err);
    st = ct_risk_eval_reference_pred(s, &line, &err);
    fz_check_err(st, &err);
    ct_risk_eval_metrics m;
    ct_risk_eval_metrics_compute(&r, &m);
    free(prompt), free(line), free(ref), free(s);
    return 0;
}
