/* A small byte-level BPE tokenizer (Qwen2/3 pre-tokenizer regex, ByteLevel decoder, special
 * added tokens <|im_start|> <|im_end|>, no normalizer) written to fz_dir()/bytelevel
 * and loaded; shared by the tokenizer and data harnesses. */
#ifndef CT_FUZZ_TOK_H
#define CT_FUZZ_TOK_H

#include <jansson.h>

#include "ctune/tokenizer.h"
#include "fuzz_util.h"

static const char kQwenRegex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* GPT-2 bytes_to_unicode: printable bytes map to themselves, others to U+0100.. */
static inline void byte_char(int b, char out[3]) {
    static int map[256], done;
    if (!done) {
        int n = 0;
        for (int i = 0; i < 256; i++) {
            bool keep = (i >= '!' && i <= '~') || (i >= 0xA1 && i <= 0xAC) || (i >= 0xAE);
            map[i] = keep ? i : 256 + n++;
        }
        done = 1;
    }
    int cp = map[b];
    if (cp < 0x80) {
        out[0] = (char)cp, out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6)), out[1] = (char)(0x80 | (cp & 0x3F)), out[2] = 0;
    }
}

static inline ct_tokenizer *byte_level_tokenizer(void) {
    json_t *vocab = json_object();
    char c[3];
    for (int b = 0; b < 256; b++) byte_char(b, c), json_object_set_new(vocab, c, json_integer(b));
    static const char *const merges[][2] = {{"Ġ", "t"}, {"h", "e"}, {"Ġt", "he"}, {"i", "n"},
                                            {"Ġ", "a"}, {"e", "r"}, {"Ã", "¤"}};
    json_t *jm = json_array();
    int id = 256;
    for (size_t i = 0; i < sizeof merges / sizeof *merges; i++) {
        char m[16];
        snprintf(m, sizeof m, "%s%s", merges[i][0], merges[i][1]);
        json_object_set_new(vocab, m, json_integer(id++));
        json_array_append_new(jm, json_pack("[ss]", merges[i][0], merges[i][1]));
    }
    json_t *bl = json_pack("{ss sb sb sb}", "type", "ByteLevel", "add_prefix_space", 0, "trim_offsets", 0,
                           "use_regex", 0);
    json_t *root = json_pack(
        "{s:{ss so so sn sb} s:[{si ss sb sb sb sb sb}, {si ss sb sb sb sb sb}] s:n"
        " s:{ss s:[{ss s:{ss} ss sb}, O]} s:O s:O}",
        "model", "type", "BPE", "vocab", vocab, "merges", jm, "unk_token", "byte_fallback", 0,
        "added_tokens", "id", id, "content", "<|im_start|>", "single_word", 0, "lstrip", 0, "rstrip", 0,
        "normalized", 0, "special", 1, "id", id + 1, "content", "<|im_end|>", "single_word", 0, "lstrip", 0,
        "rstrip", 0, "normalized", 0, "special", 1, "normalizer", "pre_tokenizer", "type", "Sequence",
        "pretokenizers", "type", "Split", "pattern", "Regex", kQwenRegex, "behavior", "Isolated", "invert", 0,
        bl, "decoder", bl, "post_processor", bl);
    json_decref(bl);
    if (!root) abort();
    char dir[600];
    snprintf(dir, sizeof dir, "%s/bytelevel", fz_dir());
    mkdir(dir, 0755);
    char p[700];
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    if (json_dump_file(root, p, 0)) abort();
    json_decref(root);
    ct_err err = {0};
    ct_tokenizer *tok = NULL;
    if (ct_tokenizer_load(dir, &tok, &err)) {
        fprintf(stderr, "fuzz_tok_roundtrip: %s\n", err.msg);
        abort();
    }
    return tok;
}

#endif
