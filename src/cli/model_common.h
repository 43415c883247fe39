/* Helpers shared by the model subcommands (info, generate, generate-batch, chat, eval-loss,
 * export): model + adapter + tokenizer loading, sampling options, template choice. */
#ifndef CT_CLI_MODEL_COMMON_H
#define CT_CLI_MODEL_COMMON_H

#include <stdbool.h>
#include <stdint.h>

#include "cli/cli.h"
#include "ctune/adapter.h"
#include "ctune/data.h"
#include "ctune/generate.h"
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

/* Sampling options of generate and chat: --max-new-tokens N --top-k K --top-p P --temperature T
 * --repetition-penalty R --seed S. Absent values (-1) keep generation_config.json's. */
typedef struct ct_cli_sampling {
    long long max_new, top_k, seed;
    double temp, top_p, rep;
} ct_cli_sampling;

/* Parses them (max_new defaults to max_new_default) and checks the ranges (max-new-tokens
 * >= min_new); prints "<cmd>: ..." and returns false on a bad value. */
bool ct_cli_sampling_parse(ct_args *a, const char *cmd, long long max_new_default, long long min_new,
                           ct_cli_sampling *s);
/* Overrides p (from ct_gen_params_init) with the options given: temperature 0 = greedy,
 * > 0 = sampling at that temperature. */
void ct_cli_sampling_apply(const ct_cli_sampling *s, ct_gen_params *p);

/* The chat template: --template NAME, else detected from the tokenizer's chat_template.
 * Prints "<cmd>: ..." and returns NULL when neither works. */
const ct_template *ct_cli_template(const ct_tokenizer *tok, const char *name, const char *cmd);

#endif
