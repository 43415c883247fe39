/* Helpers shared by the model subcommands (info, generate, eval-loss). */
#ifndef CT_CLI_MODEL_COMMON_H
#define CT_CLI_MODEL_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "cli/cli.h"
#include "ctune/adapter.h"
#include "ctune/model.h"
#include "ctune/tokenizer.h"

/* A base model with an optional PEFT adapter applied (--model DIR [--adapter DIR]). */
typedef struct ct_cli_model {
    ct_model *base;
    ct_adapter *ad;    /* NULL without --adapter */
    const ct_model *m; /* what to run: the base or the adapted model */
} ct_cli_model;

/* Loads the model and the adapter (adapter may be NULL); prints the error and returns false. */
bool ct_cli_model_load(const char *model_dir, const char *adapter_dir, ct_cli_model *cm);
void ct_cli_model_free(ct_cli_model *cm);
/* The tokenizer of model_dir, else of adapter_dir (trainers copy it next to adapters). On
 * failure *tok is NULL and err holds the model dir's error. */
ct_status ct_cli_tokenizer_load(const char *model_dir, const char *adapter_dir,
                                ct_tokenizer **tok, ct_err *err);

/* --threads N (absent: all cores). Returns false after printing an error. */
bool ct_cli_threads(ct_args *a);
/* Parses "1,2,3" (spaces allowed) into ids; false on a malformed list. */
bool ct_cli_parse_ids(const char *s, ct_ids *out);
/* Encodes text as HF `tokenizer(text)` does (post-processor specials), then prepends BOS when
 * tokenizer_config.json says add_bos_token and the encoding did not already start with it. */
ct_status ct_cli_encode(const ct_tokenizer *tok, const char *text, size_t len, ct_ids *out,
                        ct_err *err);

#endif
