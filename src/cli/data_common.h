/* Helpers shared by `ctune data render` and `ctune data preview`. */
#ifndef CT_CLI_DATA_COMMON_H
#define CT_CLI_DATA_COMMON_H

#include <stdbool.h>

#include "ctune/data.h"

/* Template from --template NAME, else detected from TOKDIR/tokenizer_config.json's
 * chat_template (the choice is printed to stderr unless quiet). Returns 0, or the CLI exit
 * status after printing the error. */
int ct_cli_pick_template(const char *name, const char *tok_dir, const ct_template **out, bool quiet);

#endif
