#ifndef CT_CLI_DATA_H
#define CT_CLI_DATA_H
int ct_cli_data_render(int argc, char **argv);  /* src/cli/data_render.c */
int ct_cli_data_preview(int argc, char **argv); /* src/cli/data_preview.c */
int ct_cli_data_synth(int argc, char **argv);   /* src/cli/data_synth.c */
#endif
