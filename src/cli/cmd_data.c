/* `ctune data <render|preview|synth>`: dispatches to src/cli/data_<sub>.c. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cmd_data.h"

CT_CLI_COMMAND(data, "data", "data tools: render (chat template), preview (config), synth (datasets)") {
    if (argc < 2 || !strcmp(argv[1], "--help")) {
        printf("usage: ctune data render --template NAME [--tokenizer DIR] < conversations.jsonl\n"
               "       ctune data preview CONFIG.yaml [-n 3]\n"
               "       ctune data synth risk --n N --seed S --format alpaca|sharegpt|openai\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "render")) return ct_cli_data_render(argc - 1, argv + 1);
    if (!strcmp(argv[1], "preview")) return ct_cli_data_preview(argc - 1, argv + 1);
    if (!strcmp(argv[1], "synth")) return ct_cli_data_synth(argc - 1, argv + 1);
    fprintf(stderr, "ctune data: unknown subcommand '%s' (render, preview, synth)\n", argv[1]);
    return 2;
}
