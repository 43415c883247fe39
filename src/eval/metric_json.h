/* The `json` evaluation task's metric: answers that must be JSON. Per sample: parse (after an
 * optional <think> block and a ``` / ```json fence), JSON-Schema validity (ct_json_schema, the
 * validator constrained decoding compiles from), and per-field accuracy against a reference
 * object (fields: the reference's leaves through nested objects, paths like "a.b"; arrays and
 * scalars compared whole, numbers by value). Aggregation over verdicts gives the task's metrics.
 * Pure functions: no files, no model (docs/eval.md, "json and fc metrics"). */
#ifndef CT_EVAL_METRIC_JSON_H
#define CT_EVAL_METRIC_JSON_H

#include <jansson.h>

#include "ctune/err.h"
#include "eval/json_schema.h"

/* Scores one answer. schema and reference are optional (NULL). *verdict (new reference):
 *   {"parsed": bool, "schema_valid": bool | null, "fields_total": n, "fields_correct": k,
 *    "field_accuracy": k/n | null, "fields": {"path": bool, ...}, "passed": bool, "why": "..."}
 * passed: parsed, schema-valid (when a schema is given) and every reference field equal. */
ct_status ct_metric_json_score(const char *output, const ct_json_schema *schema, const json_t *reference,
                               json_t **verdict, ct_err *err);

/* Aggregates n verdicts: {"n", "parse_rate", "schema_valid_rate" (over samples with a schema;
 * null without any), "field_accuracy" (micro: correct fields / fields), "field_accuracy_macro"
 * (mean per sample with fields), "exact_match" (samples with every field right / samples with a
 * reference), "pass_rate", "per_field": {"path": accuracy}}. */
json_t *ct_metric_json_aggregate(json_t *const *verdicts, size_t n);

#endif
