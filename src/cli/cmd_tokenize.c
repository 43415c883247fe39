/* `ctune tokenize`: encode text to ids or decode ids to text with a Hugging Face tokenizer
 * directory (tokenizer.json [+ tokenizer_config.json]). Output is JSON, one value per line. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "cli/cli.h"
#include "ctune/tokenizer.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ctune tokenize --model DIR|FILE.gguf [--text STR] [--add-special-tokens]\n"
            "       ctune tokenize --model DIR --jsonl [--add-special-tokens] < lines.jsonl\n"
            "       ctune tokenize --model DIR --decode [--text \"1,2,3\"] [--skip-special-tokens]\n"
            "Encode prints the ids as a JSON array. Without --text the text is read from stdin.\n"
            "--jsonl reads one JSON string per line and prints one JSON array per line.\n"
            "--decode reads ids (a JSON array per line on stdin, or --text \"1,2,3\") and prints\n"
            "the text as a JSON string per line.\n");
}

static void print_ids(const ct_ids *ids) {
    putchar('[');
    for (size_t i = 0; i < ids->n; i++) printf(i ? ", %d" : "%d", ids->data[i]);
    puts("]");
}

static int print_json_string(const char *s, size_t len) {
    json_t *j = json_stringn(s, len);
    char *d = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
    json_decref(j);
    if (!d) return ct_cli_errorf("tokenize: cannot encode the decoded text as JSON");
    puts(d);
    free(d);
    return 0;
}

static int encode_one(const ct_tokenizer *tok, const char *s, size_t len, bool special) {
    ct_ids ids = {0};
    ct_err err = {0};
    if (ct_tokenizer_encode(tok, s, len, special, &ids, &err)) {
        ct_ids_free(&ids);
        return ct_cli_error(&err);
    }
    print_ids(&ids);
    ct_ids_free(&ids);
    return 0;
}

static int decode_one(const ct_tokenizer *tok, const ct_ids *ids, bool skip) {
    ct_err err = {0};
    char *text;
    size_t len;
    if (ct_tokenizer_decode(tok, ids->data, ids->n, skip, &text, &len, &err)) return ct_cli_error(&err);
    int rc = print_json_string(text, len);
    free(text);
    return rc;
}

/* "1,2,3" or "[1, 2, 3]" → ids. */
static int parse_ids(const char *s, ct_ids *ids, const char *what) {
    ct_err err = {0};
    const char *p = s;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',' || *p == '[' || *p == ']' || *p == '\n' ||
               *p == '\r')
            p++;
        if (!*p) break;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX)
            return ct_cli_errorf("tokenize --decode: %s: expected non-negative integer ids, got \"%.20s\"",
                                 what, p);
        if (ct_ids_push(ids, (int32_t)v, &err)) return ct_cli_error(&err);
        p = end;
    }
    return 0;
}

CT_CLI_COMMAND(tokenize, "tokenize", "encode text to token ids or decode ids (HF tokenizer.json)") {
    static const char *const flags[] = {"jsonl", "decode", "add-special-tokens",
                                        "skip-special-tokens", "help", NULL};
    ct_args a;
    if (ct_args_parse(&a, argc, argv, flags)) {
        ct_args_free(&a);
        return 2;
    }
    if (ct_args_flag(&a, "help")) {
        usage(stdout);
        ct_args_free(&a);
        return 0;
    }
    const char *model = ct_args_get(&a, "model");
    const char *text = ct_args_get(&a, "text");
    bool jsonl = ct_args_flag(&a, "jsonl"), decode = ct_args_flag(&a, "decode");
    bool special = ct_args_flag(&a, "add-special-tokens");
    bool skip = ct_args_flag(&a, "skip-special-tokens");
    if (ct_args_check_unknown(&a, "tokenize")) {
        ct_args_free(&a);
        return 2;
    }
    if (!model) {
        usage(stderr);
        ct_args_free(&a);
        return 2;
    }
    ct_err err = {0};
    ct_tokenizer *tok = NULL;
    if (ct_tokenizer_load(model, &tok, &err)) {
        ct_args_free(&a);
        return ct_cli_error(&err);
    }
    int rc = 0;
    if (decode && text) {
        ct_ids ids = {0};
        rc = parse_ids(text, &ids, "--text");
        if (!rc) rc = decode_one(tok, &ids, skip);
        ct_ids_free(&ids);
    } else if (decode || jsonl) {
        ct_lines in;
        bool got = false;
        if (ct_lines_from(&in, stdin, "stdin", 0, &err)) rc = ct_cli_error(&err);
        /* a read error ends with an error naming the line, not as if stdin had ended */
        while (!rc) {
            if (ct_lines_next(&in, &got, &err)) {
                rc = ct_cli_error(&err);
                break;
            }
            if (!got) break;
            char *line = in.line;
            size_t n = in.len;
            if (n == 0) continue;
            char what[64];
            snprintf(what, sizeof what, "stdin:%zu", in.lineno);
            if (decode) {
                ct_ids ids = {0};
                rc = parse_ids(line, &ids, what);
                if (!rc) rc = decode_one(tok, &ids, skip);
                ct_ids_free(&ids);
                continue;
            }
            json_error_t je;
            json_t *j = json_loadb(line, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
            if (!json_is_string(j)) {
                rc = ct_cli_errorf("tokenize --jsonl: %s: expected a JSON string per line", what);
            } else
                rc = encode_one(tok, json_string_value(j), json_string_length(j), special);
            json_decref(j);
        }
        ct_lines_close(&in);
    } else {
        size_t len = 0;
        char *buf = NULL;
        if (!text) {
            if (ct_read_stream(stdin, "stdin", &buf, &len, &err)) rc = ct_cli_error(&err);
            text = buf;
        } else
            len = strlen(text);
        if (!rc) rc = encode_one(tok, text, len, special);
        free(buf);
    }
    ct_tokenizer_free(tok);
    ct_args_free(&a);
    return rc;
}
