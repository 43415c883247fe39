/* Memory and time bombs in the inputs, and YAML features a config does not support. Bounds are
 * loose on purpose (tens of times above what the code needs, under ASan too): they catch a
 * quadratic or per-byte-kilobyte regression, not a slow machine. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/file.h"
#include "base/json.h"
#include "base/str.h"
#include "ctune/config.h"
#include "ctune/data.h"
#include "harness.h"
#include "tok/tok_internal.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static char *tmp_file(const char *name, const char *text, size_t len) {
    char *p = ct_path_join(ct_test_tmpdir(), name);
    FILE *f = fopen(p, "wb");
    fwrite(text, 1, len, f);
    fclose(f);
    return p;
}

static ct_status load_yaml(const char *name, const char *text, ct_train_config *c, ct_err *err) {
    char *p = tmp_file(name, text, strlen(text));
    ct_train_config_init(c);
    ct_status st = ct_train_config_load(c, p, err);
    free(p);
    return st;
}

/* A YAML list of 1 M items was joined with a realloc per item (quadratic wherever realloc copies,
 * e.g. under ASan: > 30 s). Block and flow lists of 1 M items now load in linear time. */
TEST(robust_bombs_yaml_million_item_list) {
    const size_t n = 1000000;
    for (int flow = 0; flow < 2; flow++) {
        char *text = malloc(n * 16 + 64), *p = text;
        p += sprintf(p, "lora_target:%s", flow ? " [" : "\n");
        for (size_t i = 0; i < n; i++) {
            if (flow) p += sprintf(p, "%sm%zu", i ? ", " : "", i);
            else p += sprintf(p, "  - m%zu\n", i);
        }
        if (flow) sprintf(p, "]\n");
        ct_train_config c;
        ct_err err = {0};
        double t0 = now_s();
        ct_status st = load_yaml("big.yaml", text, &c, &err);
        double dt = now_s() - t0;
        CHECK_MSG(st == CT_OK, "%s", err.msg);
        CHECK_EQ_INT(c.lora_target.n, n);
        if (c.lora_target.n == n) CHECK_STREQ(c.lora_target.v[n - 1], "m999999");
        CHECK_MSG(dt < 60, "%s list of 1 M items took %.1f s", flow ? "flow" : "block", dt);
        printf("    %s list of 1 M items: %.2f s\n", flow ? "flow" : "block", dt);
        ct_train_config_free(&c);
        free(text);
    }
}

/* Aliases and merge keys were half-handled (an alias value was "expected a value", a merge key
 * an unknown key); a second document was silently ignored. Each now says what is not supported. */
TEST(robust_bombs_yaml_aliases_merge_keys_documents) {
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"learning_rate: &lr 1.0e-4\nwarmup_ratio: *lr\n", "a.yaml:2: YAML aliases (*lr) are not supported"},
        {"lora_target: &t [q_proj]\nadditional_target: *t\n", "a.yaml:2: YAML aliases (*t) are not supported"},
        {"dataset:\n  - &d x\n  - *d\n", "a.yaml:3: YAML aliases (*d) are not supported"},
        {"learning_rate: 1.0e-4\n<<: {cutoff_len: 8}\n", "a.yaml:2: YAML merge keys (<<) are not supported"},
        {"learning_rate: 1.0e-4\n---\nlearning_rate: 2.0e-4\n", "a.yaml:2: a second YAML document"},
        {"learning_rate: 1.0e-4\n...\n---\n", "a.yaml:3: a second YAML document"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ct_train_config c;
        ct_err err = {0};
        CHECK_MSG(load_yaml("a.yaml", cases[i].text, &c, &err) != CT_OK, "case %zu accepted", i);
        CHECK_MSG(strstr(err.msg, cases[i].want), "case %zu: '%s' lacks '%s'", i, err.msg, cases[i].want);
        ct_train_config_free(&c);
    }
    /* still fine: an anchor nobody refers to, an explicit document start and end */
    ct_train_config c;
    ct_err err = {0};
    CHECK_OK(load_yaml("a.yaml", "---\nlearning_rate: &lr 2.0e-4\n...\n", &c, &err), &err);
    CHECK_NEAR(c.learning_rate, 2e-4, 1e-12);
    ct_train_config_free(&c);
    CHECK_OK(load_yaml("a.yaml", "", &c, &err), &err);
    ct_train_config_free(&c);
    /* a FIFO as the config: refused at once (was: open() blocked) */
    char *fifo = ct_path_join(ct_test_tmpdir(), "cfg.fifo");
    REQUIRE(mkfifo(fifo, 0600) == 0);
    alarm(60);
    ct_train_config_init(&c);
    CHECK_EQ_INT(ct_train_config_load(&c, fifo, &err), CT_ERR_IO);
    alarm(0);
    CHECK_MSG(strstr(err.msg, "is a FIFO"), "%s", err.msg);
    ct_train_config_free(&c);
    free(fifo);
}

/* tokenizer.json of the synthetic Qwen3.5 tokenizer with one more added token of `len` bytes. */
static char *tokenizer_with_added(const char *name, size_t len, int32_t *id) {
    ct_err err = {0};
    json_t *j = NULL;
    if (ct_json_load_file(ct_test_path("tests/fixtures/tok/qwen3_5-synth/tokenizer.json"), &j, &err)) return NULL;
    json_t *added = json_object_get(j, "added_tokens");
    char *content = malloc(len + 1);
    for (size_t i = 0; i < len; i++) content[i] = (char)('a' + (i * 7 + i / 26) % 26);
    content[0] = '<';
    content[len] = 0;
    *id = 260000;
    json_array_append_new(added, json_pack("{s:i, s:s, s:b, s:b, s:b, s:b, s:b}", "id", (int)*id, "content", content,
                                           "single_word", 0, "lstrip", 0, "rstrip", 0, "normalized", 0, "special", 1));
    free(content);
    char *dir = ct_path_join(ct_test_tmpdir(), name);
    mkdir(dir, 0755);
    char *p = ct_path_join(dir, "tokenizer.json");
    json_dump_file(j, p, 0);
    json_decref(j);
    free(p);
    char *buf = NULL;
    size_t n = 0;
    if (!ct_read_file(ct_test_path("tests/fixtures/tok/qwen3_5-synth/tokenizer_config.json"), &buf, &n, &err)) {
        p = ct_path_join(dir, "tokenizer_config.json");
        ct_write_file_atomic(p, buf, n, &err);
        free(p);
        free(buf);
    }
    return dir;
}

/* An added token of 4 MB cost 4.2 GB: the added-token trie had a 1 KiB node per byte. The trie
 * is now 16 bytes a node, and an added token is at most CT_ADDED_MAX_BYTES (clear error). */
TEST(robust_bombs_added_token_trie) {
    int32_t id;
    char *big = tokenizer_with_added("tok_big", (size_t)4 << 20, &id);
    REQUIRE(big);
    ct_tokenizer *tok = NULL;
    ct_err err = {0};
    CHECK_EQ_INT(ct_tokenizer_load(big, &tok, &err), CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "added_tokens[26] (id 260000): content is 4194304 bytes") &&
                  strstr(err.msg, "at most 65536 bytes"),
              "%s", err.msg);
    /* at the limit: loads, the trie holds ~one 16-byte node per byte, and the token is matched */
    size_t len = CT_ADDED_MAX_BYTES;
    char *max = tokenizer_with_added("tok_max", len, &id);
    REQUIRE(max);
    REQUIRE(ct_tokenizer_load(max, &tok, &err) == CT_OK);
    size_t trie_bytes = tok->trie_raw.cap * sizeof(ct_trie_node) + tok->trie_norm.cap * sizeof(ct_trie_node);
    CHECK_MSG(trie_bytes < 64 * len, "trie of %zu bytes for a %zu-byte token", trie_bytes, len);
    const char *content = tok->id_to_token[id];
    size_t tl = 3 * len + 1; /* content, space, content, content less its last byte, "x" */
    char *text = malloc(tl);
    memcpy(text, content, len);
    text[len] = ' ';
    memcpy(text + len + 1, content, len);
    memcpy(text + 2 * len + 1, content, len - 1); /* the last copy is one byte short: no match */
    text[tl - 1] = 'x';
    ct_ids ids = {0};
    CHECK_OK(ct_tokenizer_encode(tok, text, tl, false, &ids, &err), &err);
    size_t hits = 0;
    for (size_t i = 0; i < ids.n; i++) hits += ids.data[i] == id;
    CHECK_EQ_INT(hits, 2);
    ct_ids_free(&ids);
    free(text);
    ct_tokenizer_free(tok);
    free(big);
    free(max);
}

static ct_status count_row(void *user, ct_conv *conv, const char *where, ct_err *err) {
    (void)conv, (void)where, (void)err;
    (*(size_t *)user)++;
    return CT_OK;
}

/* A 50 MB dataset line took 31 s and 1.5 GB (tokenizing a text cut to cutoff_len anyway). One
 * row is now at most CT_DATA_MAX_ROW: a longer JSONL line is refused while reading it, a longer
 * row of a .json file before it is encoded; both name the file and row, at once. */
TEST(robust_bombs_huge_rows) {
    size_t big = CT_DATA_MAX_ROW + 1024;
    char *text = malloc(big + 64);
    size_t n = (size_t)sprintf(text, "{\"input_ids\": [1, 2]}\n{\"text\": \"");
    memset(text + n, 'a', big);
    n += big;
    n += (size_t)sprintf(text + n, "\"}\n");
    char *jl = tmp_file("huge.jsonl", text, n);
    ct_err err = {0};
    size_t rows = 0;
    double t0 = now_s();
    CHECK_EQ_INT(ct_read_dataset_file(jl, NULL, count_row, &rows, &err), CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "huge.jsonl:2: line longer than 16 MiB"), "%s", err.msg);
    CHECK_EQ_INT(rows, 1);
    /* the same row in a .json array: read (the file is memory anyway), refused before encoding */
    n = (size_t)sprintf(text, "[{\"input_ids\": [1, 2]}, {\"text\": \"");
    memset(text + n, 'a', big);
    n += big;
    n += (size_t)sprintf(text + n, "\"}]");
    char *js = tmp_file("huge.json", text, n);
    const char *names[] = {js};
    ct_data_args a = {.dataset = names, .n_dataset = 1, .dataset_dir = ct_test_tmpdir(), .template_name = "qwen",
                      .stage = "sft", .cutoff_len = 64, .max_samples = -1, .enable_thinking = CT_THINK_TRUE,
                      .mix_strategy = "concat", .on_bad_sample = "fail", .seed = 42};
    ct_dataset d;
    CHECK(ct_dataset_build(&a, NULL, NULL, &d, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "huge.json: row 2 (line 1): the row holds 16.0 MiB of text; one row may hold at most 16 MiB"), "%s",
              err.msg);
    /* not a malformed row that on_bad_sample: skip passes over: still an error */
    a.on_bad_sample = "skip";
    CHECK(ct_dataset_build(&a, NULL, NULL, &d, &err) == CT_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "huge.json: row 2 (line 1): the row holds"), "%s", err.msg);
    double dt = now_s() - t0;
    CHECK_MSG(dt < 60, "refusing two 16 MiB rows took %.1f s", dt);
    free(text);
    free(jl);
    free(js);
}

/* The full Levenshtein table, the reference for the banded ct_str_distance. */
static int naive_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    int *t = malloc((n + 1) * (m + 1) * sizeof *t);
    for (size_t i = 0; i <= n; i++)
        for (size_t j = 0; j <= m; j++) {
            int v;
            if (!i || !j) v = (int)(i + j);
            else {
                v = t[(i - 1) * (m + 1) + j - 1] + (a[i - 1] != b[j - 1]);
                if (t[(i - 1) * (m + 1) + j] + 1 < v) v = t[(i - 1) * (m + 1) + j] + 1;
                if (t[i * (m + 1) + j - 1] + 1 < v) v = t[i * (m + 1) + j - 1] + 1;
            }
            t[i * (m + 1) + j] = v;
        }
    int d = t[n * (m + 1) + m];
    free(t);
    return d;
}

/* "Did you mean" suggestions computed the whole table: an unknown 64 KiB option or dataset name
 * against every key cost n * m each. The band keeps it linear and exact where it matters. */
TEST(robust_bombs_suggestion_distance_banded) {
    uint64_t s = 12345;
    char a[200], b[200];
    for (int round = 0; round < 2000; round++) {
        size_t n = (s = s * 6364136223846793005ull + 1442695040888963407ull) >> 57, m = (s >> 33) % 140;
        for (size_t i = 0; i < n; i++) a[i] = (char)('a' + ((s = s * 6364136223846793005ull + 1) >> 61));
        for (size_t i = 0; i < m; i++) b[i] = i < n && ((s >> 40) & 3) ? a[i] : (char)('a' + ((s = s * 6364136223846793005ull + 1) >> 61));
        a[n] = b[m] = 0;
        int want = naive_distance(a, b), got = ct_str_distance(a, b);
        if (want <= CT_STR_DISTANCE_MAX) CHECK_MSG(got == want, "'%s' vs '%s': %d, want %d", a, b, got, want);
        else CHECK_MSG(got > CT_STR_DISTANCE_MAX, "'%s' vs '%s': %d, want > %d", a, b, got, CT_STR_DISTANCE_MAX);
    }
    size_t big = (size_t)1 << 20;
    char *x = malloc(big + 1), *y = malloc(big + 1);
    memset(x, 'q', big);
    memset(y, 'q', big);
    x[big] = y[big] = 0;
    y[big / 2] = 'r';
    double t0 = now_s();
    CHECK_EQ_INT(ct_str_distance(x, y), 1);
    CHECK(ct_str_distance(x, "learning_rate") > CT_STR_DISTANCE_MAX);
    CHECK_MSG(now_s() - t0 < 30, "1 MiB names took %.1f s", now_s() - t0);
    free(x);
    free(y);
}
