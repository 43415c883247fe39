/* Options shared by the model subcommands (info, generate, generate-batch, chat, eval-loss,
 * export): the runtime options, token-id lists and sampling options. Parsing and printing only;
 * what they mean is decided in the library (ctune/runtime.h). */
#ifndef CT_CLI_OPTIONS_H
#define CT_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "cli/cli.h"
#include "ctune/generate.h"
#include "ctune/infer_config.h"
#include "ctune/runtime.h"

/* --threads N (absent: all cores) into *threads. Returns false after printing an error. */
bool ct_cli_threads(ct_args *a, int *threads);
/* --model DIR, --adapter DIR, --template NAME (when `with_template`), --threads N,
 * --precision, --quantization-bit/-type, --double-quantization, --quant (CT_CLI_COMPUTE_HELP) into *o
 * (absent: NULL / the defaults; the command says which it requires). Returns false after
 * printing an error. */
bool ct_cli_runtime_opts(ct_args *a, bool with_template, ct_runtime_opts *o);
#define CT_CLI_COMPUTE_HELP                                                                             \
    "  --precision f32|bf16    f32: exact (default); bf16: torch.autocast(bfloat16) linear layers\n"      \
    "  --quantization-bit 4|8  quantize the base's linear layers on load (bitsandbytes; QLoRA bases)\n"   \
    "  --quantization-type nf4|fp4  --double-quantization true|false   4-bit options (nf4, true)\n"        \
    "  --quant q8_0|q4_0       quantize the weights on load to ggml's blocks for fast decode (inference)\n"
/* --batch-precision exact|bf16 of the commands that decode sequences together (generate-batch,
 * serve, eval) into *p (absent: exact). bf16 on a CPU without AVX512-BF16: a one-line note on
 * stderr and exact. Returns false after printing "<cmd>: ..." for another value. */
bool ct_cli_batch_precision(ct_args *a, const char *cmd, ct_batch_precision *p);
#define CT_CLI_BATCH_HELP                                                                               \
    "  --batch-precision exact|bf16  batched decode steps: exact (default) or, bf16 weights on\n"       \
    "                          AVX512-BF16 CPUs, activations rounded to bf16 + vdpbf16ps (faster)\n"
/* ct_runtime_open; prints the error and returns false on failure. */
bool ct_cli_runtime_open(const ct_runtime_opts *o, ct_runtime **rt);
/* A LlamaFactory inference / merge YAML at path with key=value overrides (rest[0..n)) into *c,
 * validated for `use`; its notes printed as "ctune CMD: note: ...". Returns false after printing
 * the error. */
bool ct_cli_infer_yaml(ct_infer_config *c, const char *path, int n, char **rest, ct_infer_use use, const char *cmd);
/* Parses "1,2,3" (spaces allowed) into ids; false on a malformed list. */
bool ct_cli_parse_ids(const char *s, ct_ids *out);

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
/* Overrides p (from ct_runtime_gen_params) with the options given: temperature 0 = greedy,
 * > 0 = sampling at that temperature. */
void ct_cli_sampling_apply(const ct_cli_sampling *s, ct_gen_params *p);
/* Why generation stopped, as printed: "eos", "stop_string", "callback" or "length". */
const char *ct_cli_stop_name(ct_gen_stop s);

/* Monotonic seconds. */
double ct_cli_now(void);

/* Constrained decoding options of generate, generate-batch and chat: --json-schema FILE,
 * --json-object (any JSON object), --json-ws N (longest whitespace run, default 16),
 * --json-stats (mask time per token on stderr). The commands list "json-object" and "json-stats"
 * among their flags. */
typedef struct ct_cli_json {
    const char *schema_file;
    bool object, stats;
    long long ws;
} ct_cli_json;
#define CT_CLI_JSON_HELP                                                                                \
    "  --json-schema FILE      constrain the output to JSON valid against FILE (JSON Schema subset)\n"    \
    "  --json-object           constrain the output to any JSON object\n"                                 \
    "  --json-ws N             longest whitespace run inside the JSON (default 16; 0: compact)\n"         \
    "  --json-stats            print the mask time per token on stderr\n"
bool ct_cli_json_parse(ct_args *a, const char *cmd, ct_cli_json *j);
/* The constraint (NULL when neither option is given); think: an optional <think> block may come
 * first. Prints the error and returns false on failure. */
bool ct_cli_json_open(const ct_cli_json *j, const char *cmd, ct_runtime *rt, bool think, ct_json_constraint **out);
/* With --json-stats: masks, cache hits, mask ms/token against the generation's ms/token. */
void ct_cli_json_report(const ct_cli_json *j, const char *cmd, const ct_json_constraint *c, size_t tokens,
                        double seconds);

#endif
