/* ctune — training data: dataset formats → unified conversation → chat template (segments with
 * trained flags) → token ids + labels → mixing / splitting / packing → batches.
 *
 * Pipeline, each stage usable on its own:
 *   ct_conv            one sample in memory (system, tools, messages; or plain text; or ids)
 *   ct_reader_*        alpaca / sharegpt / OpenAI messages / pre-tokenized / text rows → ct_conv
 *   ct_template        qwen, qwen3, qwen3_nothink, qwen3_5, llama3, llama3_1, llama2, chatml, empty:
 *                      renders a ct_conv to text byte-identical to the model's HF Jinja
 *                      chat_template, split into segments that say which bytes are trained
 *                      (ct_render)
 *   ct_encode          segments → input_ids + labels (-100 = masked) + loss weights, cutoff_len
 *   ct_dataset         every configured dataset encoded, mixed, split (train/val), packed
 *   ct_batch           what the trainer consumes: B sequences of T tokens
 * See docs/data.md for the exact rules (label masks, truncation, think handling, packing). */
#ifndef CTUNE_DATA_H
#define CTUNE_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"
#include "ctune/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CT_IGNORE_INDEX (-100)

/* ---------------------------------------------------------------- conversation */

typedef enum ct_role {
    CT_ROLE_SYSTEM = 0,
    CT_ROLE_USER,
    CT_ROLE_ASSISTANT,
    CT_ROLE_TOOL, /* a tool result (sharegpt "observation", OpenAI "tool") */
} ct_role;

const char *ct_role_name(ct_role r); /* "system", "user", "assistant", "tool" */

typedef struct ct_tool_call {
    char *name;
    /* The arguments as given: when args_is_string the raw JSON string value (rendered verbatim
     * by qwen3, JSON-quoted by qwen's tojson); otherwise the object serialised with Jinja tojson
     * semantics (key order kept, ", " and ": " separators, non-ASCII kept). */
    char *arguments;
    bool args_is_string;
} ct_tool_call;

typedef struct ct_message {
    ct_role role;
    char *content;        /* never NULL ("" when absent or null) */
    char *reasoning;      /* reasoning_content; NULL when not given (then <think> in content counts) */
    ct_tool_call *tool_calls;
    size_t n_tool_calls;
    float weight;         /* loss weight of this message when trained: 1 default, 0 = "loss": false */
} ct_message;

typedef enum ct_conv_kind {
    CT_CONV_MESSAGES = 0, /* chat: messages (+ tools) */
    CT_CONV_TEXT,         /* plain text (continued pre-training): text */
    CT_CONV_TOKENS,       /* pre-tokenized: ids (+ labels) */
} ct_conv_kind;

typedef struct ct_conv {
    ct_conv_kind kind;
    ct_message *msgs;     /* a system message, when present, is msgs[0] */
    size_t n_msgs, cap_msgs;
    char **tools;         /* each tool serialised with tojson semantics (rendered one per line) */
    size_t n_tools;
    char *text;           /* CT_CONV_TEXT */
    int32_t *ids;         /* CT_CONV_TOKENS: input_ids */
    int32_t *labels;      /* CT_CONV_TOKENS: labels or NULL (= train every token) */
    size_t n_ids;
} ct_conv;

void ct_conv_init(ct_conv *c);
void ct_conv_free(ct_conv *c);
/* Appends a message (strings copied; content NULL → ""). Returns the new message or NULL (OOM). */
ct_message *ct_conv_add(ct_conv *c, ct_role role, const char *content, ct_err *err);
ct_status ct_message_add_tool_call(ct_message *m, const char *name, const char *arguments,
                                   bool args_is_string, ct_err *err);
ct_status ct_conv_add_tool(ct_conv *c, const char *tool_json, ct_err *err);

/* Splits "<think>R</think>C" as Qwen3's template does: reasoning = text before the last
 * "</think>" after its last "<think>", newlines trimmed; content = text after "</think>" with
 * leading newlines removed. Returns false (outputs untouched) when content has no "</think>".
 * Outputs are malloc'd. */
bool ct_split_think(const char *content, char **reasoning, char **rest);

/* ---------------------------------------------------------------- readers */

typedef enum ct_format {
    CT_FORMAT_AUTO = 0, /* from the row's keys: messages | conversations | instruction | input_ids | text */
    CT_FORMAT_ALPACA,
    CT_FORMAT_SHAREGPT, /* also OpenAI messages through tags (role/content/user/assistant/...) */
    CT_FORMAT_OPENAI,
    CT_FORMAT_TOKENS,
    CT_FORMAT_TEXT,
} ct_format;

/* Column and tag names, LlamaFactory dataset_info.json semantics. NULL = the format's default. */
typedef struct ct_columns {
    const char *prompt, *query, *response, *history;        /* alpaca */
    const char *messages, *system, *tools;                   /* sharegpt / openai */
    const char *role_tag, *content_tag, *user_tag, *assistant_tag, *observation_tag,
        *function_tag, *system_tag;
} ct_columns;

/* Converts one parsed JSON row (a jansson json_t*, passed as void* to keep jansson out of this
 * header) to a conversation. `where` names the row in errors ("file.jsonl:12"). */
ct_status ct_conv_from_json(const void *row, ct_format fmt, const ct_columns *cols,
                            const char *where, ct_conv *out, ct_err *err);
/* Same from a JSON text (one JSONL line). */
ct_status ct_conv_from_text(const char *json, size_t len, ct_format fmt, const ct_columns *cols,
                            const char *where, ct_conv *out, ct_err *err);

/* Structural checks for training data, as LlamaFactory's converters check them: a system
 * message only first; after it, user-side turns (user, or a tool result; consecutive tool results
 * count as one) and assistant turns alternate, starting with the user side. A tool result may
 * follow any assistant message; tool calls need no tools list. Whether the conversation ends with
 * an answer is the dataset build's check (stage sft only). */
ct_status ct_conv_check(const ct_conv *c, const char *where, ct_err *err);

/* Malformed rows that were skipped: how many, and the messages of the first CT_BAD_ROWS_KEEP
 * ("data.json: row 12 (line 240): message 3: unknown role 'bot' ..."). */
#define CT_BAD_ROWS_KEEP 3
typedef struct ct_bad_rows {
    size_t n;
    char first[CT_BAD_ROWS_KEEP][320];
} ct_bad_rows;
void ct_bad_rows_add(ct_bad_rows *b, const char *msg); /* b may be NULL */

/* How ct_read_dataset_file reads. */
typedef struct ct_read_opts {
    ct_format format;        /* CT_FORMAT_AUTO: from each row's keys */
    const ct_columns *cols;  /* NULL: the format's default names */
    bool skip_bad;           /* skip malformed rows (recorded in *bad) instead of failing */
    int64_t max_rows;        /* stop after this many rows, malformed ones included; -1 = all */
    ct_bad_rows *bad;        /* may be NULL */
} ct_read_opts;
ct_read_opts ct_read_opts_default(void); /* auto format, fail on bad rows, all rows */

/* Streams the rows of a dataset file: .json (an array of rows, one object, or JSON Lines), .jsonl
 * (one row per line), .txt (one {"text": line} row per line, empty lines included), or every such
 * file in a directory (sorted by name); .csv / .parquet / .arrow are refused. The callback gets
 * each converted row and its place, `where`: "file: row N" counted from 1 in every kind of file
 * (a .jsonl / .txt row is its line number; a .json row adds "(line L)", the line it starts on).
 * Return non-CT_OK from it to stop. Lines are read one at a time (memory stays bounded by the
 * longest line). Malformed rows (CT_ERR_FORMAT: invalid JSON line, unconvertible row, failed
 * ct_conv_check): with skip_bad they are recorded and skipped, else the read stops with the row's
 * error. Always errors, whatever skip_bad says: a file that is not valid JSON as a whole (naming its
 * line and column), a read error (never taken for the end of the file: "file:line: read error"),
 * a line over CT_DATA_MAX_ROW, and a data file that is not a regular file (a FIFO, a device). */
typedef ct_status (*ct_conv_fn)(void *user, ct_conv *conv, const char *where, ct_err *err);
/* The size limit of one row: a JSONL / .txt line longer than this, or a row whose text (contents,
 * reasoning, tool calls, tools, plain text) is longer, is an error naming file:line rather than
 * minutes of tokenization and gigabytes for one sample (docs/robustness.md); it is not a
 * malformed row that on_bad_sample skips. 16 MiB is about 4 M tokens, far beyond any cutoff_len. */
#define CT_DATA_MAX_ROW ((size_t)16 << 20)
ct_status ct_read_dataset_file(const char *path, const ct_read_opts *o, ct_conv_fn fn, void *user,
                               ct_err *err);

/* LlamaFactory dataset_info.json entry for a local file. */
typedef struct ct_dataset_info {
    char *name;
    char *path;        /* dataset_dir/file_name */
    ct_format format;  /* alpaca (default) | sharegpt; a sharegpt entry whose tags say role/content is openai-like */
    ct_columns cols;   /* strings owned by the entry */
    int64_t num_samples; /* -1 = all */
} ct_dataset_info;

/* Looks `name` up in DIR/dataset_info.json. If the file has no such entry but DIR/name (or name
 * itself) is a .json/.jsonl file or a directory, returns an auto-format entry for it. */
ct_status ct_dataset_info_find(const char *dataset_dir, const char *name, ct_dataset_info *out,
                               ct_err *err);
void ct_dataset_info_free(ct_dataset_info *d);

/* ---------------------------------------------------------------- templates */

typedef struct ct_template ct_template;

/* Names: qwen, qwen3, qwen3_nothink, qwen3_5, llama3, llama3_1, llama2, chatml, empty (aliases qwen2,
 * qwen2.5, qwen3.5, llama3.1). NULL if unknown. */
const ct_template *ct_template_get(const char *name);
const char *ct_template_name(const ct_template *t);
/* Error message for an unknown name lists the known ones and suggests the closest. */
ct_status ct_template_lookup(const char *name, const ct_template **out, ct_err *err);
/* Recognises a Jinja chat_template source (tokenizer_config.json). NULL if unrecognised. */
const ct_template *ct_template_detect(const char *jinja_source);
/* The template to use: `name` when given (ct_template_lookup: an unknown name is an error that
 * suggests the closest), else the one ct_template_detect recognises in chat_template_src (the
 * tokenizer's chat_template, ct_tokenizer_chat_template; ignored when name is given). NULL or
 * unrecognised source: CT_ERR_ARG asking for a template name and listing the known ones.
 * note (optional, note_len bytes) receives "template qwen3 (from config)" or "template qwen3
 * (detected from tokenizer_config.json chat_template)"; "" on error. */
ct_status ct_template_resolve(const char *name, const char *chat_template_src,
                              const ct_template **out, char *note, size_t note_len, ct_err *err);
/* The system prompt the template writes when a conversation has none (qwen: "You are Qwen, ...");
 * NULL when it writes none. */
const char *ct_template_default_system(const ct_template *t);
/* The template's end-of-turn string ("<|im_end|>", "<|eot_id|>", "</s>", "" for empty). */
const char *ct_template_eos(const ct_template *t);
/* LlamaFactory's name of the tool format the template renders ("qwen" for qwen / qwen3 /
 * qwen3_nothink, "qwen3_5", "llama3"), NULL for templates without LlamaFactory's tool syntax. */
const char *ct_template_tool_format(const ct_template *t);
/* Every tool format some template renders, once each in template order, into out[0..max);
 * returns how many there are. `tool_format` names one of these or is refused. */
size_t ct_tool_formats(const char **out, size_t max);
/* The date the template renders into training text today ("05 Mar 2026": llama3 with tools dates
 * its tool prompt with the current day, as LlamaFactory's does), "" for templates whose text does
 * not depend on the day. Part of the tokenized cache key. */
const char *ct_template_render_date(const ct_template *t, char buf[32]);
/* NULL-terminated list of the template's control strings (added tokens such as <|im_start|>). */
const char *const *ct_template_controls(const ct_template *t);

/* A segment is a byte range of the rendered text with its loss weight (0 = not trained). */
enum {
    CT_SEG_END = 1,    /* the answer's end token(s): kept by truncation */
    CT_SEG_ANSWER = 2, /* part of an answer (target side of a turn), trained or not */
};
typedef struct ct_segment {
    size_t off, len;
    float weight;
    uint32_t flags;
    int32_t turn;   /* index of the (prompt, answer) pair it belongs to, from 0 */
} ct_segment;

typedef struct ct_render {
    char *text;     /* NUL-terminated */
    size_t len, cap;
    ct_segment *segs; /* cover text[0..len) in order */
    size_t n_segs, cap_segs;
} ct_render;

void ct_render_init(ct_render *r);
void ct_render_free(ct_render *r);
void ct_render_reset(ct_render *r);

typedef enum ct_think { CT_THINK_NULL = -1, CT_THINK_FALSE = 0, CT_THINK_TRUE = 1 } ct_think;

typedef struct ct_render_opts {
    bool add_generation_prompt;
    /* Jinja `enable_thinking`: FALSE drops reasoning from answers (training) and appends an empty
     * think block to the generation prompt; TRUE trains the (possibly empty) think block; NULL
     * (undefined) renders as the Jinja does with enable_thinking undefined, training reasoning
     * where the data has it and masking the empty think block where it does not. */
    ct_think enable_thinking;
    bool preserve_thinking; /* keep reasoning of answers before the last user query (training) */
    /* LlamaFactory's ReasoningTemplate (qwen3, qwen3_5; training only): every assistant turn opens
     * with a think block, empty when the message has no reasoning, and earlier turns keep their
     * reasoning (with mask_history and not preserve_thinking, only the last turn's). The default
     * renders the think blocks as the model's Jinja does. */
    bool think_per_turn;
    bool train_on_prompt;   /* train every segment (system, user, tool text too) */
    bool mask_history;      /* train only the last answer */
    /* LlamaFactory's `default_system`: a conversation without a system message, or with an
     * empty one, is rendered as if its first message were this system message (LlamaFactory:
     * `system or default_system`, replacing the template's own default). NULL: as given. */
    const char *default_system;
    /* Render exactly what the Jinja template renders for these messages: enable_thinking only
     * changes the generation prompt and preserve_thinking is ignored (`ctune data render`).
     * When false (training), enable_thinking FALSE also removes reasoning from the answers, as
     * LlamaFactory's ReasoningTemplate does. */
    bool jinja;
    /* Keyword arguments of the Llama 3.1 template (llama3_1; the other templates ignore them):
     * tools_in_system: tools_in_user_message=false, the tool specs go into the system message
     *   instead of the first user message (the template's default);
     * date_string: the "Today Date:" text (NULL: the template's "26 Jul 2024");
     * builtin_tools: NULL-terminated names (brave_search, wolfram_alpha, code_interpreter), NULL
     *   when not given. Given, even empty: "Environment: ipython" and a "Tools:" line in the
     *   system message, calls of those names as <|python_tag|>name.call(k="v", ...), and every
     *   tool call ends with <|eom_id|>. */
    bool tools_in_system;
    const char *date_string;
    const char *const *builtin_tools;
} ct_render_opts;

/* Default options: no generation prompt, enable_thinking TRUE (LlamaFactory default), rest off. */
ct_render_opts ct_render_opts_default(void);

/* Renders a CT_CONV_MESSAGES conversation. With default flags and enable_thinking NULL (render
 * mode) the text equals HF apply_chat_template(messages, tools=tools, add_generation_prompt)
 * byte for byte. Errors: tool calls without tools (only when the template needs them), a
 * template that cannot express a role, empty conversation. */
ct_status ct_template_render(const ct_template *t, const ct_conv *conv, const ct_render_opts *o,
                             ct_render *out, ct_err *err);

/* ---------------------------------------------------------------- encoding */

/* One encoded sample. labels[i] is the target for position i (already aligned with input ids:
 * labels[i] = input_ids[i] when trained, else CT_IGNORE_INDEX; the trainer shifts by one as HF
 * does). weights[i] is the loss weight of token i (0 where masked). */
typedef struct ct_example {
    int32_t *input_ids;
    int32_t *labels;
    float *weights;
    size_t n;
    int32_t source;  /* dataset index */
    bool truncated;  /* cutoff_len cut something */
} ct_example;

void ct_example_free(ct_example *e);

typedef struct ct_encode_opts {
    ct_render_opts render;
    size_t cutoff_len;   /* 0 = no limit */
    /* stage pt (LlamaFactory's pretrain processor): the row's text (a text row's `text`, else the
     * first message after the system prompt) + eos, every token trained; bos first when the
     * tokenizer has add_bos_token. */
    bool pretrain;
    bool group_texts;       /* pt with packing: no cutoff and no bos here (ct_dataset_build cuts
                               the concatenated texts into cutoff_len blocks) */
    const char *eos_token;  /* pt: the eos appended (NULL or unknown: the tokenizer's eos) */
} ct_encode_opts;

typedef enum ct_drop_reason {
    CT_DROP_NONE = 0,
    CT_DROP_ALL_MASKED,   /* no trained token left (after truncation) */
    CT_DROP_EMPTY,        /* nothing to encode */
    CT_DROP_BAD,          /* malformed row skipped (--on-bad-sample skip) */
    CT_DROP_COUNT
} ct_drop_reason;
const char *ct_drop_reason_name(ct_drop_reason r);

/* Renders + tokenizes + labels one conversation. Sets *dropped (and returns CT_OK) when the
 * sample has no trained token; then *out is empty. Token ids equal ct_tokenizer_encode of the
 * whole rendered text (segments are tokenized in runs that start and end at the template's
 * control tokens; see docs/data.md "Segment boundaries"). */
ct_status ct_encode(const ct_tokenizer *tok, const ct_template *t, const ct_conv *conv,
                    const ct_encode_opts *o, ct_example *out, ct_drop_reason *dropped,
                    ct_err *err);

/* LlamaFactory infer_seqlen: budget for a (source, target) pair under cutoff. */
void ct_infer_seqlen(size_t source_len, size_t target_len, size_t cutoff_len,
                     size_t *new_source, size_t *new_target);

/* ---------------------------------------------------------------- datasets */

typedef enum ct_mix { CT_MIX_CONCAT = 0, CT_MIX_INTERLEAVE_UNDER, CT_MIX_INTERLEAVE_OVER } ct_mix;

/* What ct_dataset_build reads: the data keys of a training config (LlamaFactory's DataArguments,
 * plus `stage`, `seed` and the tokenizer directory, which change the encoded result too). Every
 * field is also part of the tokenized cache key, except dataset / dataset_dir (each dataset's
 * dataset_info.json entry as resolved is hashed instead: file, formatting, columns, tags,
 * num_samples, and the data files' names and contents), template_name (the resolved template is),
 * neat_packing, packing_set, threads and overwrite_cache. Strings and lists are borrowed: ct_dataset_build neither copies nor frees them.
 * ct_train_config_data_args (include/ctune/config.h) fills one from a training config; the
 * defaults in [brackets] are that config's. */
typedef struct ct_data_args {
    const char *const *dataset;      /* `dataset`: dataset_info.json names, or .json/.jsonl files or
                                        directories; the training datasets, mixed (>= 1 required) */
    size_t n_dataset;
    const char *const *eval_dataset; /* `eval_dataset`: validation datasets, replace the val_size split */
    size_t n_eval_dataset;
    const char *dataset_dir;         /* `dataset_dir` ["data"]: holds dataset_info.json; relative files */
    const char *template_name;       /* `template` [NULL = detected from the tokenizer's chat_template,
                                        see ct_template_resolve] */
    const char *stage;               /* `stage` ["sft"]: "pt" = plain text + eos, every token trained */
    int64_t cutoff_len;              /* `cutoff_len` [2048]: max tokens of an example (and of a packed
                                        sequence) */
    int64_t max_samples;             /* `max_samples` [-1 = all]: first N rows of every dataset */
    double val_size;                 /* `val_size` [0]: < 1 a fraction (ceil(f * n)), >= 1 a count */
    bool train_on_prompt;            /* `train_on_prompt` [false]: train system, user and tool text too */
    bool mask_history;               /* `mask_history` [false]: train only the last answer */
    ct_think enable_thinking;        /* `enable_thinking` [CT_THINK_TRUE]: see ct_render_opts */
    bool preserve_thinking;          /* `preserve_thinking` [false]: see ct_render_opts */
    /* Packing: the training split counts as packed when packing or neat_packing, or stage is "pt"
     * and packing_set is false (packing not given); then stats.n_packed_seqs and
     * packing_efficiency are filled. The build itself does not pack (ct_pack does). */
    bool packing;                    /* `packing` [false] */
    bool packing_set;                /* `packing` was given explicitly */
    bool neat_packing;               /* `neat_packing` [false]: no attention across packed samples */
    const char *mix_strategy;        /* `mix_strategy` ["concat"]: concat | interleave_under |
                                        interleave_over (ct_mix) */
    const char *const *interleave_probs; /* `interleave_probs`: one number per dataset, as text
                                            (parsed by ct_data_args_probs); none, or a
                                            count other than n_dataset: uniform */
    size_t n_interleave_probs;
    const char *on_bad_sample;       /* `on_bad_sample` ["skip"]: malformed rows are skipped,
                                        counted as dropped (CT_DROP_BAD) and the first ones named
                                        in stats.bad_rows, as LlamaFactory skips them; "fail"
                                        stops at the first one with its error */
    bool think_per_turn;             /* `think_per_turn` [false]: see ct_render_opts */
    const char *tool_format;         /* `tool_format` [NULL]: LlamaFactory's override of the
                                        template's tool format; only the template's own
                                        (ct_template_tool_format) is accepted, others are refused */
    int64_t preprocessing_batch_size; /* `preprocessing_batch_size` [1000]: stage pt packing groups
                                        the texts of this many consecutive rows (ct_group_texts) */
    const char *default_system;      /* `default_system` [NULL]: the system prompt of conversations
                                        that have none (see ct_render_opts) */
    int64_t seed;                    /* `seed` [42]: interleave draws and the val_size split */
    bool overwrite_cache;            /* `overwrite_cache` [false]: re-encode even on a cache hit */
    const char *tokenizer_dir;       /* `model_name_or_path`: its tokenizer.json and
                                        tokenizer_config.json (contents) enter the cache key */
    int threads;                     /* `threads` [0 = all cores]: encoding threads (the result
                                        does not depend on it) */
} ct_data_args;

/* Whether the training split is packed: packing or neat_packing, or stage "pt" with packing
 * not given. */
bool ct_data_args_packed(const ct_data_args *a);

/* interleave_probs as doubles (malloc'd, *n entries; NULL when none). Error: a value that is not
 * a number >= 0. */
ct_status ct_data_args_probs(const ct_data_args *a, double **out, size_t *n, ct_err *err);

/* Encoded examples (one flat id array + offsets) of one split. */
typedef struct ct_example_set {
    int32_t *ids, *labels;
    float *weights;
    size_t n_tokens, cap_tokens;
    size_t *offsets;   /* example i = [offsets[i], offsets[i+1]) */
    int32_t *source;   /* dataset index per example */
    size_t n, cap;
} ct_example_set;

void ct_example_set_free(ct_example_set *s);
ct_status ct_example_set_push(ct_example_set *s, const ct_example *e, ct_err *err);
/* View of example i (pointers into the set; do not free). */
ct_example ct_example_set_get(const ct_example_set *s, size_t i);

typedef struct ct_dataset_stats {
    size_t n_sources;
    char **source_names;
    size_t *read;           /* rows read per dataset */
    size_t *kept;           /* examples kept per dataset (after mixing) */
    size_t dropped[CT_DROP_COUNT];
    size_t n_truncated;
    size_t n_train, n_val;
    size_t train_tokens, trained_tokens;
    size_t *bad;            /* malformed rows skipped per dataset (on_bad_sample: skip) */
    ct_bad_rows bad_rows;   /* every dataset's skipped rows: total and the first messages */
    size_t group_dropped_tokens; /* stage pt packing: tokens of the partial last blocks dropped */
    size_t n_packed_seqs;   /* 0 when packing is off */
    double packing_efficiency; /* real tokens / (n_packed_seqs * cutoff_len) */
    bool from_cache;
    const char *template_name;
    char template_note[256]; /* e.g. "detected qwen3 from tokenizer_config.json" */
} ct_dataset_stats;

typedef struct ct_dataset {
    ct_example_set train, val;
    ct_dataset_stats stats;
} ct_dataset;

/* The skipped rows as one line for a warning: "skipped 2 malformed rows (on_bad_sample: fail
 * stops at the first instead): data.json: row 198 (line 2345): ...; ...". Returns the count
 * (0: nothing written but ""). */
size_t ct_dataset_stats_bad_summary(const ct_dataset_stats *s, char *buf, size_t n);

/* Resolves the template (args->template_name, else detected from tok's chat_template; tok may
 * be NULL only when a template is named and every dataset is pre-tokenized), loads every
 * dataset of args->dataset (and eval_dataset), encodes, mixes, splits by val_size (seeded), and
 * uses / writes the tokenized cache in cache_dir (NULL = no cache). */
ct_status ct_dataset_build(const ct_data_args *args, const ct_tokenizer *tok,
                           const char *cache_dir, ct_dataset *out, ct_err *err);
void ct_dataset_free(ct_dataset *d);

/* Deterministic mixing of per-dataset example lists (LlamaFactory merge_dataset semantics):
 * concat appends; interleave_under stops when the first dataset is exhausted; interleave_over
 * restarts exhausted datasets until all have been seen once. probs may be NULL (uniform).
 * Writes the chosen (dataset, index) order to out_src/out_idx (malloc'd, *n_out entries). */
ct_status ct_mix_order(const size_t *counts, size_t n_sets, ct_mix mix, const double *probs,
                       uint64_t seed, int32_t **out_src, size_t **out_idx, size_t *n_out,
                       ct_err *err);

/* ---------------------------------------------------------------- batches */

/* What the trainer consumes: B rows of T tokens, padded with pad_id (labels -100, weight 0,
 * segment id 0 for padding). Row r, position t at [r*T + t]. position_ids restart at 0 for every
 * packed sample; segment_ids number the samples of a row from 1 (0 = padding); attention must
 * not cross segment ids when neat_packing (ct_attention_forward's seg_q/seg_k).
 * labels are NOT shifted (HF convention): the logits at position t-1 predict labels[t]. The
 * first token of every sample has label -100, so shifting never predicts across samples and a
 * packed row has exactly the targets of its samples unpacked. Normalise the loss by n_trained
 * (sum over the whole accumulated batch), weighting each target by weights[t]. */
typedef struct ct_batch {
    size_t B, T;
    int32_t *input_ids;     /* [B*T] */
    int32_t *labels;        /* [B*T]; CT_IGNORE_INDEX where not trained (not shifted) */
    int32_t *position_ids;  /* [B*T] */
    int32_t *segment_ids;   /* [B*T] */
    float *weights;         /* [B*T] loss weight per label position */
    size_t n_trained;       /* count of labels != CT_IGNORE_INDEX */
} ct_batch;

void ct_batch_free(ct_batch *b);

/* Packing plan: which examples share a row. Greedy first-fit-decreasing over lengths (stable
 * for equal lengths), each sequence <= cutoff_len tokens. */
typedef struct ct_pack_plan {
    size_t n_seqs;
    size_t *seq_off;    /* sequence s = members[seq_off[s] .. seq_off[s+1]) */
    size_t *members;    /* example indices */
} ct_pack_plan;

ct_status ct_pack(const ct_example_set *s, size_t cutoff_len, ct_pack_plan *out, ct_err *err);

/* Stage pt with packing, as LlamaFactory's pretrain processor groups texts: the tokens of every
 * batch of batch_rows consecutive examples are concatenated and cut into blocks of exactly
 * `block` tokens (the batch's last partial block is dropped, counted in *dropped_tokens); with
 * bos >= 0 each block's first token is replaced by bos. Blocks are the examples of *out. */
ct_status ct_group_texts(const ct_example_set *in, size_t block, size_t batch_rows, int32_t bos,
                         ct_example_set *out, size_t *dropped_tokens, ct_err *err);
void ct_pack_plan_free(ct_pack_plan *p);

/* Builds a batch. Unpacked: rows are examples idx[0..B) (T = longest, or `T` when non-zero).
 * Packed: rows are packed sequences plan->seq[idx[r]]. */
ct_status ct_batch_make(const ct_example_set *s, const ct_pack_plan *plan, const size_t *idx,
                        size_t B, size_t T, int32_t pad_id, ct_batch *out, ct_err *err);

/* ---------------------------------------------------------------- tokenized cache */

/* File: "CTDC" magic, u32 version, u64 key hash, payload, u64 FNV-1a checksum. The key hashes
 * the ct_data_args fields that affect encoding, the template (and the date it renders, for
 * llama3 with tools), the tokenizer files' contents and each dataset's resolved dataset_info.json
 * entry with its files' names and contents. No cache is written when reading or encoding failed.
 * Version 2: the stats carry the skipped rows (count per dataset and the first messages) and the
 * tokens stage pt grouping dropped. */
#define CT_CACHE_VERSION 2u
ct_status ct_cache_write(const char *path, uint64_t key, const ct_dataset *d, ct_err *err);
/* CT_OK and *hit=true when the file exists and matches key, version and checksum. A corrupt
 * file is an error naming it; a key mismatch is a miss. */
ct_status ct_cache_read(const char *path, uint64_t key, ct_dataset *d, bool *hit, ct_err *err);

uint64_t ct_hash_bytes(uint64_t h, const void *data, size_t n); /* FNV-1a 64, h=0 to start */

#ifdef __cplusplus
}
#endif
#endif
