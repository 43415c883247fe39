/* Helpers shared by the model subcommands (info, generate, eval-loss). */
#ifndef CT_CLI_MODEL_COMMON_H
#define CT_CLI_MODEL_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "cli/cli.h"
#include "ctune/tokenizer.h"

/* --threads N (absent: all cores). Returns false after printing an error. */
bool ct_cli_threads(ct_args *a);
/* Parses "1,2,3" (spaces allowed) into ids; false on a malformed list. */
bool ct_cli_parse_ids(const char *s, ct_ids *out);
/* Encodes text as HF `tokenizer(text)` does (post-processor specials), then prepends BOS when
 * tokenizer_config.json says add_bos_token and the encoding did not already start with it. */
ct_status ct_cli_encode(const ct_tokenizer *tok, const char *text, size_t len, ct_ids *out,
                        ct_err *err);

#endif
