/* Internal helpers of the risk evaluator (public API: include/ctune/risk.h). */
#ifndef CT_RISK_EVAL_H
#define CT_RISK_EVAL_H

#include <stdbool.h>
#include <stddef.h>

/* Skips leading whitespace and one leading "<think>...</think>" block, trims trailing whitespace.
 * Returns the start and sets *len; returns NULL when a <think> block is never closed. */
const char *ct_risk_strip_think(const char *s, size_t *len);
/* True when the text hands the question over ("风险团队" / "risk team", any case). */
bool ct_risk_is_refusal_text(const char *s, size_t len);

#endif
