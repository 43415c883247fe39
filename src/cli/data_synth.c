/* Placeholder: replaced by the real `ctune data synth`. */
#include <stdio.h>

#include "cli/data.h"

int ct_cli_data_synth(int argc, char **argv) {
    (void)argc, (void)argv;
    fprintf(stderr, "ctune data synth: not implemented yet\n");
    return 1;
}
