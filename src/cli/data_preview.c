/* Placeholder: replaced by the real `ctune data preview`. */
#include <stdio.h>

#include "cli/data.h"

int ct_cli_data_preview(int argc, char **argv) {
    (void)argc, (void)argv;
    fprintf(stderr, "ctune data preview: not implemented yet\n");
    return 1;
}
