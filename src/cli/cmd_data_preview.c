/* `ctune data preview CONFIG.yaml [-n 3] [--tokenizer DIR] [--color auto|always|never] [--key value ...]`
 * Builds the dataset exactly as `ctune train` would (same config keys and overrides) and shows
 * the first samples with trained spans highlighted (ANSI colour on a terminal, «» otherwise),
 * token counts, then a summary: samples per dataset, dropped (why), truncation, token length
 * histogram and packing efficiency. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cmd_data.h"
#include "ctune/config.h"
#include "ctune/data.h"
#include "ctune/tokenizer.h"

static void usage(FILE *f) {
    fprintf(f, "usage: ctune data preview CONFIG.yaml [-n 3] [--tokenizer DIR] [--color auto|always|never] [overrides]\n"
               "  shows the first samples as they will be trained (trained spans highlighted) and a summary\n"
               "  any config key can be overridden as in ctune train: --cutoff_len 512, --template=qwen3,\n"
               "  cutoff_len=512, a bare --train_on_prompt\n");
}

static void print_span(const ct_tokenizer *tok, const int32_t *ids, size_t n, bool trained, bool color) {
    char *s = NULL;
    size_t len = 0;
    ct_err err = {0};
    if (ct_tokenizer_decode(tok, ids, n, false, &s, &len, &err)) {
        printf("[%zu tokens: %s]", n, err.msg);
        return;
    }
    if (trained) fputs(color ? "\x1b[1;32m" : "\xc2\xab", stdout);
    fwrite(s, 1, len, stdout);
    if (trained) fputs(color ? "\x1b[0m" : "\xc2\xbb", stdout);
    free(s);
}

static void show_example(const ct_tokenizer *tok, const ct_example *e, size_t i, const char *src, bool color) {
    size_t trained = 0;
    for (size_t k = 0; k < e->n; k++) trained += e->labels[k] != CT_IGNORE_INDEX;
    printf("%s── sample %zu (%s): %zu tokens, %zu trained%s%s\n", color ? "\x1b[1m" : "", i, src, e->n, trained,
           e->truncated ? ", truncated" : "", color ? "\x1b[0m" : "");
    size_t a = 0;
    while (a < e->n) {
        bool tr = e->labels[a] != CT_IGNORE_INDEX;
        size_t b = a;
        while (b < e->n && (e->labels[b] != CT_IGNORE_INDEX) == tr) b++;
        print_span(tok, e->input_ids + a, b - a, tr, color);
        a = b;
    }
    printf("\n\n");
}

int ct_cli_data_preview(int argc, char **argv) {
    const char *cfg_path = NULL, *tok_dir = NULL, *color_opt = "auto";
    long n_show = 3;
    ct_train_config cfg;
    ct_train_config_init(&cfg);
    char **over = calloc((size_t)argc + 1, sizeof *over);
    int n_over = 0, rc = 0;
    ct_tokenizer *tok = NULL;
    ct_dataset d = {0};
    bool built = false;
    int first = 1;
    if (argc > 1 && argv[1][0] != '-' && !ct_cli_is_override(argv[1])) cfg_path = argv[first++];
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            goto out;
        } else if ((!strcmp(a, "-n") || !strcmp(a, "--n")) && i + 1 < argc) {
            n_show = strtol(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--tokenizer") && i + 1 < argc) {
            tok_dir = argv[++i];
        } else if (!strcmp(a, "--color") && i + 1 < argc) {
            color_opt = argv[++i];
        } else {
            over[n_over++] = argv[i]; /* ct_train_config_apply_args pairs keys with their values */
        }
    }
    if (!cfg_path) {
        usage(stderr);
        rc = 2;
        goto out;
    }
    ct_err err = {0};
    if (ct_train_config_load(&cfg, cfg_path, &err) || ct_train_config_apply_args(&cfg, n_over, over, &err) ||
        ct_train_config_validate(&cfg, &err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    if (!tok_dir) tok_dir = cfg.model_name_or_path;
    if (!tok_dir) {
        rc = ct_cli_errorf("data preview: no tokenizer: set model_name_or_path or give --tokenizer DIR");
        goto out;
    }
    if (ct_tokenizer_load(tok_dir, &tok, &err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    ct_data_args args;
    ct_train_config_data_args(&cfg, &args);
    if (ct_dataset_build(&args, tok, cfg.tokenized_path, &d, &err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    built = true;
    bool color = !strcmp(color_opt, "always") || (!strcmp(color_opt, "auto") && isatty(1));
    const ct_dataset_stats *s = &d.stats;
    printf("%s%s\n\n", s->template_note, s->from_cache ? " — loaded from the tokenized cache" : "");
    for (size_t i = 0; i < d.train.n && (long)i < n_show; i++) {
        ct_example e = ct_example_set_get(&d.train, i);
        show_example(tok, &e, i, s->source_names[e.source], color);
    }
    printf("summary\n");
    for (size_t i = 0; i < s->n_sources; i++) {
        printf("  dataset %-24s read %zu, kept %zu", s->source_names[i], s->read[i], s->kept[i]);
        if (s->bad && s->bad[i]) printf(", skipped %zu malformed", s->bad[i]);
        printf("\n");
    }
    char bad[1200];
    if (ct_dataset_stats_bad_summary(s, bad, sizeof bad)) {
        printf("  warning: %s\n", bad);
        fprintf(stderr, "warning: %s\n", bad);
    }
    if (s->group_dropped_tokens)
        printf("  stage pt packing: texts grouped into blocks of %lld tokens, %zu tokens of partial last blocks "
               "dropped (as LlamaFactory)\n",
               (long long)cfg.cutoff_len, s->group_dropped_tokens);
    printf("  train %zu samples, val %zu samples\n", s->n_train, s->n_val);
    printf("  tokens %zu, trained %zu (%.1f%%)\n", s->train_tokens, s->trained_tokens,
           s->train_tokens ? 100.0 * (double)s->trained_tokens / (double)s->train_tokens : 0.0);
    printf("  truncated to cutoff_len %lld: %zu\n", (long long)cfg.cutoff_len, s->n_truncated);
    for (int r = 1; r < CT_DROP_COUNT; r++)
        if (s->dropped[r]) printf("  dropped %zu: %s\n", s->dropped[r], ct_drop_reason_name((ct_drop_reason)r));
    /* length histogram, power-of-two buckets */
    size_t hist[40] = {0}, maxb = 0, maxc = 0;
    for (size_t i = 0; i < d.train.n; i++) {
        size_t len = d.train.offsets[i + 1] - d.train.offsets[i], b = 0;
        while (((size_t)1 << b) < len && b < 39) b++;
        hist[b]++;
        if (b > maxb) maxb = b;
    }
    for (size_t b = 0; b <= maxb; b++)
        if (hist[b] > maxc) maxc = hist[b];
    printf("  token length histogram:\n");
    for (size_t b = 0; b <= maxb && d.train.n; b++) {
        if (!hist[b]) continue;
        int bar = maxc ? (int)(40.0 * (double)hist[b] / (double)maxc + 0.5) : 0;
        printf("    <= %-7zu %6zu %.*s\n", (size_t)1 << b, hist[b], bar, "########################################");
    }
    ct_pack_plan plan;
    if (d.train.n && !ct_pack(&d.train, (size_t)cfg.cutoff_len, &plan, &err)) {
        double eff = (double)d.train.n_tokens / ((double)plan.n_seqs * (double)cfg.cutoff_len);
        printf("  packing (%s): %zu samples -> %zu sequences of %lld, efficiency %.1f%% (unpacked rows pad to their batch)\n",
               ct_data_args_packed(&args) ? "on" : "off", d.train.n, plan.n_seqs, (long long)cfg.cutoff_len, 100.0 * eff);
        ct_pack_plan_free(&plan);
    }
    char *ign = ct_train_config_ignored_line(&cfg);
    if (ign) printf("  %s\n", ign);
    free(ign);
out:
    if (built) ct_dataset_free(&d);
    if (tok) ct_tokenizer_free(tok);
    ct_train_config_free(&cfg);
    free(over);
    return rc;
}
