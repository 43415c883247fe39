/* ct_dataset_build: every configured dataset → encoded examples → mixed → split → cached.
 * Rows are read streaming and encoded in chunks of CHUNK conversations (OpenMP over a chunk,
 * results appended in row order), so memory is bounded by the encoded result. */
#include <dirent.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/rng.h"
#include "ctune/data.h"

#define CHUNK 512

typedef struct build_ctx {
    const ct_tokenizer *tok;
    const ct_template *tmpl;
    ct_encode_opts opts;
    ct_conv convs[CHUNK];
    size_t n;
    ct_example_set *dst;
    int32_t source;
    int64_t limit;      /* max rows, -1 all */
    size_t read;
    size_t *dropped;    /* [CT_DROP_COUNT] */
    size_t *truncated;
    bool stop;
    int threads;
} build_ctx;

static ct_status flush_chunk(build_ctx *b, ct_err *err) {
    ct_example ex[CHUNK];
    ct_drop_reason why[CHUNK];
    ct_status sts[CHUNK];
    ct_err errs_first = {0};
    int n = (int)b->n;
#pragma omp parallel for schedule(dynamic, 8) num_threads(b->threads > 0 ? b->threads : omp_get_num_procs())
    for (int i = 0; i < n; i++) {
        ct_err e = {0};
        sts[i] = ct_encode(b->tok, b->tmpl, &b->convs[i], &b->opts, &ex[i], &why[i], &e);
        if (sts[i]) {
#pragma omp critical
            if (!errs_first.code) errs_first = e;
        }
    }
    ct_status st = CT_OK;
    for (int i = 0; i < n; i++) {
        if (!st && sts[i]) st = sts[i];
        if (!st && !sts[i]) {
            if (why[i] != CT_DROP_NONE) b->dropped[why[i]]++;
            else {
                ex[i].source = b->source;
                if (ex[i].truncated) (*b->truncated)++;
                st = ct_example_set_push(b->dst, &ex[i], err);
            }
        }
        if (!sts[i]) ct_example_free(&ex[i]);
        ct_conv_free(&b->convs[i]);
    }
    if (errs_first.code && err) *err = errs_first;
    b->n = 0;
    return st ? st : errs_first.code;
}

/* Bytes of text a row hands to the template and the tokenizer. */
static size_t conv_text_bytes(const ct_conv *c) {
    size_t n = c->text ? strlen(c->text) : 0;
    for (size_t i = 0; i < c->n_tools; i++) n += strlen(c->tools[i]);
    for (size_t i = 0; i < c->n_msgs; i++) {
        const ct_message *m = &c->msgs[i];
        n += strlen(m->content) + (m->reasoning ? strlen(m->reasoning) : 0);
        for (size_t k = 0; k < m->n_tool_calls; k++)
            n += strlen(m->tool_calls[k].name) + strlen(m->tool_calls[k].arguments);
    }
    return n;
}

static ct_status on_conv(void *user, ct_conv *conv, const char *where, ct_err *err) {
    build_ctx *b = user;
    if (b->limit >= 0 && (int64_t)b->read >= b->limit) return CT_ERR_INTERRUPTED; /* stop reading */
    /* a row of tens of MB costs seconds and GBs to tokenize, for a sample cut to cutoff_len */
    size_t bytes = conv_text_bytes(conv);
    if (bytes > CT_DATA_MAX_ROW)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: the row holds %.1f MiB of text; one row may hold at most %zu MiB",
                          where, (double)bytes / (1 << 20), CT_DATA_MAX_ROW >> 20);
    b->read++;
    b->convs[b->n++] = *conv;
    ct_conv_init(conv); /* ownership moved */
    if (b->n == CHUNK) return flush_chunk(b, err);
    return CT_OK;
}

/* ---- the tokenized-cache key: a hash of everything that changes the encoded result ---- */

static uint64_t h_u64(uint64_t h, uint64_t v) { return ct_hash_bytes(h, &v, sizeof v); }

/* A string with its length first (no two field lists hash alike); NULL differs from "". */
static uint64_t h_str(uint64_t h, const char *s) {
    if (!s) return h_u64(h, UINT64_MAX);
    size_t n = strlen(s);
    return ct_hash_bytes(h_u64(h, n), s, n);
}

/* A file's size and contents (mtime is not enough: an edit within the same second, or a copy
 * that keeps it, would reuse the old encoding). Missing or unreadable: a marker, so the key
 * differs from any readable state; reading the data reports the error. */
static uint64_t h_file(uint64_t h, const char *path) {
    ct_mmap m = {0};
    if (ct_mmap_open(&m, path, NULL)) return h_u64(h, UINT64_MAX - 1);
    h = h_u64(h, m.size);
    h = ct_hash_bytes(h, m.data, m.size);
    ct_mmap_close(&m);
    return h;
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static bool data_file_name(const char *n) {
    size_t l = strlen(n);
    return n[0] != '.' && strcmp(n, "dataset_info.json") &&
           ((l > 5 && !strcmp(n + l - 5, ".json")) || (l > 6 && !strcmp(n + l - 6, ".jsonl")));
}

/* A dataset path: a file, or a directory's data files in the order ct_read_dataset_file reads
 * them (names and contents). */
static uint64_t h_data_path(uint64_t h, const char *path) {
    h = h_str(h, path);
    DIR *d = opendir(path);
    if (!d) return h_file(h, path);
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *e;
    bool oom = false;
    while (!oom && (e = readdir(d))) {
        if (!data_file_name(e->d_name)) continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? 2 * cap : 16) * sizeof *nn);
            if (!nn) oom = true;
            else names = nn;
        }
        if (!oom && !(names[n] = strdup(e->d_name))) oom = true;
        if (!oom) n++;
    }
    closedir(d);
    if (n) qsort(names, n, sizeof *names, cmp_name);
    h = h_u64(h, oom ? UINT64_MAX : n);
    for (size_t i = 0; i < n; i++) {
        char *full = ct_path_join(path, names[i]);
        h = h_str(h, names[i]);
        h = full ? h_file(h, full) : h_u64(h, UINT64_MAX);
        free(full);
        free(names[i]);
    }
    free(names);
    return h;
}

/* A dataset_info.json entry as resolved: its file, formatting, every column and tag name, and
 * num_samples (each changes which rows are read or how they are understood). */
static uint64_t h_info(uint64_t h, const ct_dataset_info *d) {
    const ct_columns *c = &d->cols;
    const char *cols[] = {c->prompt,       c->query,       c->response,      c->history,       c->messages,
                          c->system,       c->tools,       c->role_tag,      c->content_tag,   c->user_tag,
                          c->assistant_tag, c->observation_tag, c->function_tag, c->system_tag};
    h = h_data_path(h, d->path);
    h = h_u64(h, (uint64_t)d->format);
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) h = h_str(h, cols[i]);
    return h_u64(h, (uint64_t)d->num_samples);
}

static uint64_t cache_key(const ct_data_args *a, const ct_template *t, const ct_dataset_info *infos, size_t n) {
    uint64_t h = h_u64(0, CT_CACHE_VERSION);
    h = h_str(h, ct_template_name(t));
    h = h_str(h, a->stage);
    h = h_u64(h, (uint64_t)a->cutoff_len);
    h = h_u64(h, (uint64_t)a->max_samples);
    h = ct_hash_bytes(h, &a->val_size, sizeof a->val_size);
    uint64_t flags = (uint64_t)a->train_on_prompt | (uint64_t)a->mask_history << 1 | (uint64_t)a->preserve_thinking << 2 |
                     (uint64_t)a->packing << 3;
    h = h_u64(h, flags);
    h = h_u64(h, (uint64_t)(int64_t)a->enable_thinking);
    h = h_str(h, a->mix_strategy);
    h = h_str(h, a->on_bad_sample);
    h = h_u64(h, (uint64_t)a->seed);
    h = h_u64(h, a->n_interleave_probs);
    for (size_t i = 0; i < a->n_interleave_probs; i++) h = h_str(h, a->interleave_probs[i]);
    h = h_u64(h, a->n_dataset);
    h = h_u64(h, a->n_eval_dataset);
    for (size_t i = 0; i < a->n_eval_dataset; i++) h = h_str(h, a->eval_dataset[i]);
    h = h_str(h, a->default_system);
    h = h_str(h, a->tokenizer_dir);
    static const char *const tokfiles[] = {"tokenizer.json", "tokenizer_config.json"};
    for (size_t i = 0; i < 2 && a->tokenizer_dir; i++) {
        char *p = ct_path_join(a->tokenizer_dir, tokfiles[i]);
        h = p ? h_file(h, p) : h_u64(h, UINT64_MAX);
        free(p);
    }
    for (size_t i = 0; i < n; i++) h = h_info(h, &infos[i]);
    return h;
}

void ct_dataset_free(ct_dataset *d) {
    ct_example_set_free(&d->train);
    ct_example_set_free(&d->val);
    for (size_t i = 0; i < d->stats.n_sources; i++) free(d->stats.source_names[i]);
    free(d->stats.source_names);
    free(d->stats.read);
    free(d->stats.kept);
    memset(d, 0, sizeof *d);
}

static ct_status load_sources(const ct_data_args *a, const ct_tokenizer *tok, const ct_template *t,
                              const char *const *names, size_t n_names, size_t src0, ct_dataset_info *infos,
                              ct_example_set *sets, ct_dataset_stats *stats, ct_err *err) {
    ct_status st = CT_OK;
    bool skip = a->on_bad_sample && !strcmp(a->on_bad_sample, "skip");
    build_ctx *b = calloc(1, sizeof *b);
    if (!b) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n_names && !st; i++) {
        size_t s = src0 + i;
        b->tok = tok;
        b->tmpl = t;
        b->opts.render = ct_render_opts_default();
        b->opts.render.enable_thinking = a->enable_thinking;
        b->opts.render.preserve_thinking = a->preserve_thinking;
        b->opts.render.train_on_prompt = a->train_on_prompt;
        b->threads = a->threads;
        b->opts.render.mask_history = a->mask_history;
        b->opts.render.default_system = a->default_system;
        b->opts.cutoff_len = (size_t)a->cutoff_len;
        b->opts.pretrain = a->stage && !strcmp(a->stage, "pt");
        b->dst = &sets[s];
        b->source = (int32_t)s;
        b->limit = a->max_samples >= 0 ? a->max_samples : infos[s].num_samples;
        b->read = 0;
        b->n = 0;
        b->dropped = stats->dropped;
        b->truncated = &stats->n_truncated;
        size_t n_bad = 0;
        st = ct_read_dataset_file(infos[s].path, infos[s].format, &infos[s].cols, skip, &n_bad, on_conv, b, err);
        if (st == CT_ERR_INTERRUPTED) st = CT_OK; /* max_samples reached */
        if (!st && b->n) st = flush_chunk(b, err);
        for (size_t k = 0; k < b->n; k++) ct_conv_free(&b->convs[k]);
        b->n = 0;
        stats->dropped[CT_DROP_BAD] += n_bad;
        stats->read[s] = b->read + n_bad;
        if (st) ct_err_prefix(err, "dataset '%s'", names[i]);
    }
    free(b);
    return st;
}

ct_status ct_data_args_probs(const ct_data_args *a, double **out, size_t *n, ct_err *err) {
    *out = NULL;
    *n = 0;
    if (!a->n_interleave_probs) return CT_OK;
    double *p = malloc(a->n_interleave_probs * sizeof *p);
    if (!p) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < a->n_interleave_probs; i++) {
        char *end;
        p[i] = strtod(a->interleave_probs[i], &end);
        if (end == a->interleave_probs[i] || *end || p[i] < 0) {
            free(p);
            return ct_err_set(err, CT_ERR_ARG, "interleave_probs: '%s' is not a probability", a->interleave_probs[i]);
        }
    }
    *out = p;
    *n = a->n_interleave_probs;
    return CT_OK;
}

ct_status ct_dataset_build(const ct_data_args *args, const ct_tokenizer *tok, const char *cache_dir, ct_dataset *out,
                           ct_err *err) {
    memset(out, 0, sizeof *out);
    ct_dataset_stats *stats = &out->stats;
    const ct_template *t = NULL;
    const char *src = args->template_name ? NULL : ct_tokenizer_chat_template(tok);
    ct_status st =
        ct_template_resolve(args->template_name, src, &t, stats->template_note, sizeof stats->template_note, err);
    if (st) return st;
    stats->template_name = ct_template_name(t);
    size_t nd = args->n_dataset, ne = args->n_eval_dataset, ns = nd + ne;
    if (!nd && !ne) return ct_err_set(err, CT_ERR_ARG, "no dataset: set `dataset:` (names from dataset_info.json or files)");
    ct_dataset_info *infos = calloc(ns, sizeof *infos);
    ct_example_set *sets = calloc(ns, sizeof *sets);
    stats->n_sources = ns;
    stats->source_names = calloc(ns, sizeof(char *));
    stats->read = calloc(ns, sizeof(size_t));
    stats->kept = calloc(ns, sizeof(size_t));
    if (!infos || !sets || !stats->source_names || !stats->read || !stats->kept) {
        st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < ns && !st; i++) {
        const char *name = i < nd ? args->dataset[i] : args->eval_dataset[i - nd];
        stats->source_names[i] = strdup(name);
        st = ct_dataset_info_find(args->dataset_dir, name, &infos[i], err);
    }
    if (st) goto done;
    uint64_t key = cache_key(args, t, infos, ns);
    char *cache_path = NULL;
    if (cache_dir) {
        char name[64];
        snprintf(name, sizeof name, "dataset-%016llx.ctdc", (unsigned long long)key);
        cache_path = ct_path_join(cache_dir, name);
        bool hit = false;
        if (!args->overwrite_cache && ct_file_exists(cache_path)) {
            ct_dataset cached;
            if ((st = ct_cache_read(cache_path, key, &cached, &hit, err))) {
                free(cache_path);
                goto done;
            }
            if (hit) {
                out->train = cached.train;
                out->val = cached.val;
                memcpy(stats->dropped, cached.stats.dropped, sizeof stats->dropped);
                stats->n_truncated = cached.stats.n_truncated;
                for (size_t i = 0; i < ns && i < cached.stats.n_sources; i++) {
                    stats->read[i] = cached.stats.read[i];
                    stats->kept[i] = cached.stats.kept[i];
                }
                cached.train = (ct_example_set){0};
                cached.val = (ct_example_set){0};
                ct_dataset_free(&cached);
                stats->from_cache = true;
                free(cache_path);
                goto stats_out;
            }
        }
    }
    /* encode */
    if ((st = load_sources(args, tok, t, args->dataset, nd, 0, infos, sets, stats, err))) {
        free(cache_path);
        goto done;
    }
    if (ne && (st = load_sources(args, tok, t, args->eval_dataset, ne, nd, infos, sets, stats, err))) {
        free(cache_path);
        goto done;
    }
    {
        /* mix the training datasets */
        ct_mix mix = CT_MIX_CONCAT;
        if (args->mix_strategy && !strcmp(args->mix_strategy, "interleave_under")) mix = CT_MIX_INTERLEAVE_UNDER;
        if (args->mix_strategy && !strcmp(args->mix_strategy, "interleave_over")) mix = CT_MIX_INTERLEAVE_OVER;
        double *probs = NULL;
        size_t np = 0;
        if ((st = ct_data_args_probs(args, &probs, &np, err))) {
            free(cache_path);
            goto done;
        }
        size_t *counts = calloc(nd, sizeof *counts);
        for (size_t i = 0; i < nd; i++) counts[i] = sets[i].n;
        int32_t *osrc = NULL;
        size_t *oidx = NULL, on = 0;
        st = ct_mix_order(counts, nd, mix, np == nd ? probs : NULL, (uint64_t)args->seed, &osrc, &oidx, &on, err);
        free(counts);
        free(probs);
        ct_example_set mixed = {0};
        for (size_t k = 0; k < on && !st; k++) {
            ct_example e = ct_example_set_get(&sets[osrc[k]], oidx[k]);
            st = ct_example_set_push(&mixed, &e, err);
        }
        free(osrc);
        free(oidx);
        /* split: eval_dataset, or val_size (fraction → ceil(f * n) as HF train_test_split, or count) */
        size_t n = mixed.n, n_val = 0;
        if (!st && ne) {
            for (size_t i = nd; i < ns && !st; i++)
                for (size_t k = 0; k < sets[i].n && !st; k++) {
                    ct_example e = ct_example_set_get(&sets[i], k);
                    st = ct_example_set_push(&out->val, &e, err);
                }
        } else if (args->val_size > 0) {
            n_val = args->val_size < 1 ? (size_t)__builtin_ceil(args->val_size * (double)n) : (size_t)args->val_size;
            if (n_val >= n && n)
                st = ct_err_set(err, CT_ERR_ARG, "val_size %g leaves no training sample (%zu samples)", args->val_size, n);
        }
        bool *is_val = calloc(n ? n : 1, sizeof *is_val);
        if (!st && n_val) {
            size_t *perm = malloc(n * sizeof *perm);
            uint64_t rs = (uint64_t)args->seed ^ 0x5eed5eedull;
            for (size_t i = 0; i < n; i++) perm[i] = i;
            for (size_t i = n - 1; i > 0; i--) {
                uint64_t z = ct_splitmix64(&rs);
                size_t j = (size_t)(z % (i + 1));
                size_t tmp = perm[i];
                perm[i] = perm[j];
                perm[j] = tmp;
            }
            for (size_t i = 0; i < n_val; i++) is_val[perm[i]] = true;
            free(perm);
        }
        for (size_t k = 0; k < n && !st; k++) {
            ct_example e = ct_example_set_get(&mixed, k);
            st = ct_example_set_push(is_val[k] ? &out->val : &out->train, &e, err);
        }
        free(is_val);
        ct_example_set_free(&mixed);
    }
    if (!st) {
        for (size_t i = 0; i < out->train.n; i++) stats->kept[out->train.source[i]]++;
        for (size_t i = 0; i < out->val.n; i++) stats->kept[out->val.source[i]]++;
    }
    if (!st && cache_path) {
        ct_err werr = {0};
        if (!ct_mkdir_p(cache_dir, &werr)) ct_cache_write(cache_path, key, out, &werr); /* best effort */
    }
    free(cache_path);
    if (st) goto done;
stats_out:
    stats->n_train = out->train.n;
    stats->n_val = out->val.n;
    stats->train_tokens = out->train.n_tokens;
    for (size_t i = 0; i < out->train.n_tokens; i++) stats->trained_tokens += out->train.labels[i] != CT_IGNORE_INDEX;
    if (args->packing || args->neat_packing || (!args->packing_set && args->stage && !strcmp(args->stage, "pt"))) {
        ct_pack_plan plan;
        if (!(st = ct_pack(&out->train, (size_t)args->cutoff_len, &plan, err))) {
            stats->n_packed_seqs = plan.n_seqs;
            stats->packing_efficiency =
                plan.n_seqs ? (double)out->train.n_tokens / ((double)plan.n_seqs * (double)args->cutoff_len) : 0;
            ct_pack_plan_free(&plan);
        }
    }
done:
    for (size_t i = 0; i < ns && infos; i++) {
        ct_dataset_info_free(&infos[i]);
        if (sets) ct_example_set_free(&sets[i]);
    }
    free(infos);
    free(sets);
    if (st) {
        const char *tn = stats->template_name;
        ct_dataset_free(out);
        out->stats.template_name = tn;
    }
    return st;
}
