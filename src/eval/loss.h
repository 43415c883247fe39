/* One line of a held-out loss file ({"input_ids": [..]} or {"text": ".."}), shared by
 * `ctune eval-loss` and the evaluation suite's loss task. */
#ifndef CT_EVAL_LOSS_H
#define CT_EVAL_LOSS_H

#include <jansson.h>
#include <stdbool.h>

#include "ctune/runtime.h"

/* Sum of the line's next-token NLLs and the number of predicted tokens; ids is scratch. decode:
 * token by token through the decode path (ct_runtime_nll_decode) instead of one forward. */
ct_status ct_eval_loss_line(ct_runtime *rt, const json_t *row, const char *where, bool decode, ct_ids *ids,
                            double *nll, size_t *n_pred, ct_err *err);

#endif
