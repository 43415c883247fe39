/* Internal pieces of the risk dataset shared by the generator (synth.c), the rules (rules.c)
 * and the evaluator (eval.c), all in src/risk/. Public API: include/ctune/risk.h. */
#ifndef CT_RISK_SYNTH_H
#define CT_RISK_SYNTH_H

#include <jansson.h>

#include "ctune/risk.h"
#include "risk/json_writer.h"

/* Writes factor f's profile value as a JSON number with its fixed decimals. */
void ct_risk_factor_value(ct_rjw *w, const ct_risk_profile *p, int f);
/* Same value as text ("6.2", "120", "1.35"); out size >= 32. */
char *ct_risk_factor_value_str(char *out, const ct_risk_profile *p, int f);
/* Calls emit once per `reasons` entry, in order. */
void ct_risk_reasons(const ct_risk_profile *p, const ct_risk_decision *d, bool english,
                     void (*emit)(void *ctx, const char *s), void *ctx);

/* The profile as a JSON object (the "meta.profile" of a record), and back. Parsing accepts the
 * numbers as integers or decimals and converts them to the fixed-point fields by rounding. */
void ct_risk_profile_write(ct_rjw *w, const ct_risk_profile *p);
ct_status ct_risk_profile_from_json(const json_t *obj, ct_risk_profile *p, ct_err *err);

/* Refusal texts contain one of these markers ("请联系风险团队" style hand-over). */
#define CT_RISK_REFUSAL_MARKER_ZH "风险团队"
#define CT_RISK_REFUSAL_MARKER_EN "risk team"

#endif
