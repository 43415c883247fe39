/* `ctune data <render|preview|synth>`: the subcommands of src/cli/cmd_data.c, one file each,
 * plus the template choice that render and preview share. */
#ifndef CT_CLI_CMD_DATA_H
#define CT_CLI_CMD_DATA_H

#include <stdbool.h>

#include "ctune/data.h"

int ct_cli_data_render(int argc, char **argv);  /* src/cli/cmd_data_render.c */
int ct_cli_data_preview(int argc, char **argv); /* src/cli/cmd_data_preview.c */
int ct_cli_data_synth(int argc, char **argv);   /* src/cli/cmd_data_synth.c */

/* Template from --template NAME, else detected from TOKDIR/tokenizer_config.json's
 * chat_template (the choice is printed to stderr unless quiet). Returns 0, or the CLI exit
 * status after printing the error. */
int ct_cli_pick_template(const char *name, const char *tok_dir, const ct_template **out, bool quiet);

#endif
