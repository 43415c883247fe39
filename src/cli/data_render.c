/* Placeholder: replaced by the real `ctune data render`. */
#include <stdio.h>

#include "cli/data.h"

int ct_cli_data_render(int argc, char **argv) {
    (void)argc, (void)argv;
    fprintf(stderr, "ctune data render: not implemented yet\n");
    return 1;
}
