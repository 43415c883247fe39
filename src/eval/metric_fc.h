/* The `fc` evaluation task's metric (function calling), as EvalScope's general_fc computes it,
 * plus BFCL's AST checks (gorilla berkeley-function-call-leaderboard ast_checker.py).
 *
 * A sample (EvalScope general_fc JSONL): {"messages": [...], "tools": [{"type": "function",
 * "function": {"name", "description", "parameters": JSON Schema}}, ...], "should_call_tool": bool}
 * and, for the AST checks, "expected_calls" (or BFCL's "ground_truth"): a list of
 * {"function_name": {"param": [allowed values ...]}} (BFCL possible answers; "" in a list marks
 * an optional parameter). The model's output holds Qwen-style calls:
 * <tool_call>{"name": ..., "arguments": {...}}</tool_call>, after an optional <think> block.
 * Pure functions: no files, no model (docs/eval.md, "json and fc metrics"). */
#ifndef CT_EVAL_METRIC_FC_H
#define CT_EVAL_METRIC_FC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ctune/err.h"

/* The <tool_call> blocks of an output: *calls (new reference) holds {"name", "arguments"} of the
 * blocks that parse (arguments given as a JSON string are parsed); returns the number of blocks
 * seen, malformed or unterminated ones included; why gets the first block's problem ("" if none). */
size_t ct_fc_parse_calls(const char *output, json_t **calls, char *why, size_t why_len);

/* BFCL simple_function_checker: one model call {"name", "arguments"} against one expected entry
 * {"name": {"param": [values]}} and the tool's function description {"name", "parameters"}.
 * Rules: the name; required parameters present; no parameter outside the tool's properties or
 * the expected entry; types (JSON Schema or BFCL names; an integer is accepted for a number /
 * float; a value of the expected values' type passes as a "variable"); values: strings compared
 * after BFCL's standardisation (no spaces or ,./-_*^, lower case, ' as "), lists element-wise,
 * dicts key by key, others by value; an expected parameter left out must allow "". */
bool ct_fc_check_call(const json_t *func, const json_t *call, const json_t *expected, char *why, size_t why_len);

/* BFCL's AST verdict of calls against expected entries: the counts must agree, then every
 * expected entry matches a different call, in any order (parallel_function_checker_no_order; one
 * entry is the simple / multiple case). tools: the sample's tool list. */
bool ct_fc_check_calls(const json_t *tools, const json_t *calls, const json_t *expected, char *why, size_t why_len);

/* Scores one output. *verdict (new reference): {"called", "n_calls", "should_call_tool",
 * "schema_valid" (every call names a tool and its arguments are valid against the tool's
 * parameters schema), "successful_tool_call" (called and schema-valid), "ast_valid" (bool; null
 * when the sample has no expected calls and should call a tool), "passed" (EvalScope: a
 * successful call when one should be made, no call otherwise), "why", "calls"}. A sample without
 * a "tools" array is CT_ERR_FORMAT; a tool schema outside the validator's subset is
 * CT_ERR_UNSUPPORTED (named), never a silent pass or fail. */
ct_status ct_metric_fc_score(const json_t *sample, const char *output, json_t **verdict, ct_err *err);

/* EvalScope's general_fc aggregate over n verdicts: tool_call_f1 (with precision, recall: did the
 * model call a tool vs should_call_tool), schema_accuracy (schema-valid calls / samples with a
 * call), count_finish_reason_tool_call, count_successful_tool_call; plus ast_accuracy (over
 * samples with an AST verdict; null if none), irrelevance_accuracy (no call on samples that
 * should not call; null if none), pass_rate, n. */
json_t *ct_metric_fc_aggregate(json_t *const *verdicts, size_t n);

#endif
