/* A risk profile as JSON (the "meta.profile" object of every generated record) and back: the
 * format the generator writes and the evaluator reads (src/risk/synth.h). Numbers are written
 * from the fixed-point fields with their decimals, so they are byte-stable. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "risk/synth.h"

void ct_risk_profile_write(ct_rjw *w, const ct_risk_profile *p) {
    ct_rjw_obj(w);
    ct_rjw_key(w, "company");
    ct_rjw_str(w, p->company);
    ct_rjw_key(w, "industry");
    ct_rjw_str(w, p->industry);
    ct_rjw_key(w, "core_enterprise");
    ct_rjw_str(w, p->core_enterprise);
    ct_rjw_key(w, "annual_revenue_wan");
    ct_rjw_int(w, p->revenue_wan);
    ct_rjw_key(w, "revenue_trend_pct");
    ct_rjw_fixed(w, p->revenue_trend_x10, 1);
    ct_rjw_key(w, "receivables_coverage");
    ct_rjw_fixed(w, p->receivables_x100, 2);
    ct_rjw_key(w, "overdue_rate_pct");
    ct_rjw_fixed(w, p->overdue_x10, 1);
    ct_rjw_key(w, "payment_terms_days");
    ct_rjw_int(w, p->payment_terms_days);
    ct_rjw_key(w, "top_customer_pct");
    ct_rjw_int(w, p->top_customer_pct);
    ct_rjw_key(w, "collateral_value_wan");
    ct_rjw_int(w, p->collateral_wan);
    ct_rjw_key(w, "collateral_coverage");
    ct_rjw_fixed(w, p->collateral_x100, 2);
    ct_rjw_key(w, "years_in_business");
    ct_rjw_int(w, p->years_in_business);
    ct_rjw_key(w, "requested_amount_wan");
    ct_rjw_int(w, p->requested_wan);
    ct_rjw_end(w);
}

static ct_status get_fixed(const json_t *o, const char *key, int scale, int64_t *out, ct_err *err) {
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v)) return ct_err_set(err, CT_ERR_FORMAT, "meta.profile.%s: missing or not a number", key);
    if (json_is_integer(v)) *out = json_integer_value(v) * scale;
    else {
        double x = json_real_value(v) * scale;
        if (!(fabs(x) < 9e15)) return ct_err_set(err, CT_ERR_FORMAT, "meta.profile.%s: out of range", key);
        *out = llround(x);
    }
    return CT_OK;
}

ct_status ct_risk_profile_from_json(const json_t *o, ct_risk_profile *p, ct_err *err) {
    memset(p, 0, sizeof *p);
    if (!json_is_object(o)) return ct_err_set(err, CT_ERR_FORMAT, "meta.profile: not an object");
    const char *s;
    if ((s = json_string_value(json_object_get(o, "company")))) snprintf(p->company, sizeof p->company, "%s", s);
    if ((s = json_string_value(json_object_get(o, "industry")))) snprintf(p->industry, sizeof p->industry, "%s", s);
    if ((s = json_string_value(json_object_get(o, "core_enterprise"))))
        snprintf(p->core_enterprise, sizeof p->core_enterprise, "%s", s);
    int64_t v[11];
    static const char *const keys[11] = {
        "annual_revenue_wan", "revenue_trend_pct", "receivables_coverage", "overdue_rate_pct",
        "payment_terms_days", "top_customer_pct", "collateral_value_wan", "collateral_coverage",
        "years_in_business", "requested_amount_wan", NULL};
    static const int scales[10] = {1, 10, 100, 10, 1, 1, 1, 100, 1, 1};
    for (int i = 0; keys[i]; i++) {
        ct_status st = get_fixed(o, keys[i], scales[i], &v[i], err);
        if (st) return st;
        if ((i != 0 && i != 6 && i != 9) && (v[i] > INT32_MAX || v[i] < INT32_MIN))
            return ct_err_set(err, CT_ERR_FORMAT, "meta.profile.%s: out of range", keys[i]);
    }
    p->revenue_wan = v[0], p->revenue_trend_x10 = (int32_t)v[1], p->receivables_x100 = (int32_t)v[2];
    p->overdue_x10 = (int32_t)v[3], p->payment_terms_days = (int32_t)v[4], p->top_customer_pct = (int32_t)v[5];
    p->collateral_wan = v[6], p->collateral_x100 = (int32_t)v[7], p->years_in_business = (int32_t)v[8];
    p->requested_wan = v[9];
    return CT_OK;
}
