/* ct_dataset_build: every configured dataset → encoded examples → mixed → split → cached.
 * Rows are read streaming and encoded in chunks of CHUNK conversations (OpenMP over a chunk,
 * results appended in row order), so memory is bounded by the encoded result. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "base/rng.h"
#include "ctune/data.h"
#include "data/reader.h"

#define CHUNK 512

typedef struct build_ctx {
    const ct_tokenizer *tok;
    const ct_template *tmpl;
    ct_encode_opts opts;
    ct_conv convs[CHUNK];
    char *where[CHUNK];  /* each conv's place ("file: row N"), for errors and skipped rows */
    char *msgs[CHUNK];   /* the error of a conv that failed to encode (malloc'd), else NULL; not a
                            ct_err per conv: CHUNK of them would be megabytes for a few messages */
    size_t n;
    ct_example_set *dst;
    int32_t source;
    size_t read;
    size_t *dropped;    /* [CT_DROP_COUNT] */
    size_t *truncated;
    bool skip;          /* on_bad_sample: skip */
    bool sft;           /* a conversation must end with an answer */
    ct_bad_rows *bad;   /* every dataset's skipped rows */
    size_t n_bad;       /* this dataset's rows skipped after reading (encode-time) */
    int threads;
} build_ctx;

/* A row that cannot be trained: skipped and recorded (on_bad_sample: skip), else its error
 * naming the row. err->msg holds the reason; `where` is prefixed when it does not name it. */
static ct_status row_error(build_ctx *b, ct_status st, const char *where, ct_err *err) {
    if (where && !strstr(err->msg, where)) ct_err_prefix(err, "%s", where);
    if (!(b->skip && st == CT_ERR_FORMAT)) return st;
    ct_bad_rows_add(b->bad, err->msg);
    b->n_bad++;
    err->code = CT_OK;
    err->msg[0] = 0;
    return CT_OK;
}

static ct_status flush_chunk(build_ctx *b, ct_err *err) {
    ct_example ex[CHUNK];
    ct_drop_reason why[CHUNK];
    ct_status sts[CHUNK];
    int n = (int)b->n;
#pragma omp parallel for schedule(dynamic, 8) num_threads(b->threads > 0 ? b->threads : omp_get_num_procs())
    for (int i = 0; i < n; i++) {
        ct_err e = {0};
        sts[i] = ct_encode(b->tok, b->tmpl, &b->convs[i], &b->opts, &ex[i], &why[i], &e);
        b->msgs[i] = sts[i] ? strdup(e.msg) : NULL;
    }
    ct_status st = CT_OK;
    for (int i = 0; i < n; i++) {
        if (!st && sts[i]) {
            ct_err e = {.code = sts[i]};
            snprintf(e.msg, sizeof e.msg, "%s", b->msgs[i] ? b->msgs[i] : "out of memory");
            if ((st = row_error(b, sts[i], b->where[i], &e)) && err) *err = e;
        }
        free(b->msgs[i]);
        b->msgs[i] = NULL;
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
        free(b->where[i]);
        b->where[i] = NULL;
    }
    b->n = 0;
    return st;
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
    /* a row of tens of MB costs seconds and GBs to tokenize, for a sample cut to cutoff_len: an
     * error whatever on_bad_sample says (as a JSONL line over the limit, which the reader refuses) */
    size_t bytes = conv_text_bytes(conv);
    if (bytes > CT_DATA_MAX_ROW)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: the row holds %.1f MiB of text; one row may hold at most %zu MiB",
                          where, (double)bytes / (1 << 20), CT_DATA_MAX_ROW >> 20);
    b->read++;
    if (b->sft && conv->kind == CT_CONV_MESSAGES && conv->msgs[conv->n_msgs - 1].role != CT_ROLE_ASSISTANT) {
        /* LlamaFactory's converters and supervised processor drop it ("Invalid message count",
         * "Dropped invalid example"); a prompt-only row is pre-training data (stage pt) */
        ct_status st = ct_err_set(err, CT_ERR_FORMAT, "%s: the conversation must end with an answer (it ends with a %s message)",
                                  where, ct_role_name(conv->msgs[conv->n_msgs - 1].role));
        return row_error(b, st, NULL, err);
    }
    if (!(b->where[b->n] = strdup(where))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
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

/* A dataset path: a file, or a directory's data files in the order ct_read_dataset_file reads
 * them (names and contents). */
static uint64_t h_data_path(uint64_t h, const char *path) {
    h = h_str(h, path);
    if (!ct_dir_exists(path)) return h_file(h, path);
    char **names;
    size_t n;
    if (ct_data_dir_files(path, &names, &n, NULL)) return h_u64(h, UINT64_MAX);
    h = h_u64(h, n);
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
                     (uint64_t)a->packing << 3 | (uint64_t)ct_data_args_packed(a) << 4 | (uint64_t)a->think_per_turn << 5;
    h = h_u64(h, flags);
    h = h_u64(h, (uint64_t)(int64_t)a->enable_thinking);
    h = h_str(h, a->mix_strategy);
    h = h_str(h, a->on_bad_sample);
    h = h_u64(h, (uint64_t)a->seed);
    h = h_u64(h, (uint64_t)a->preprocessing_batch_size);
    char day[32]; /* llama3 with tools dates its text with today */
    h = h_str(h, ct_template_render_date(t, day));
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
    free(d->stats.bad);
    memset(d, 0, sizeof *d);
}

static ct_status load_sources(const ct_data_args *a, const ct_tokenizer *tok, const ct_template *t,
                              const char *const *names, size_t n_names, size_t src0, ct_dataset_info *infos,
                              ct_example_set *sets, ct_dataset_stats *stats, ct_err *err) {
    ct_status st = CT_OK;
    bool pt = a->stage && !strcmp(a->stage, "pt");
    build_ctx *b = calloc(1, sizeof *b);
    if (!b) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n_names && !st; i++) {
        size_t s = src0 + i;
        b->tok = tok;
        b->tmpl = t;
        b->opts.render = ct_render_opts_default();
        b->opts.render.enable_thinking = a->enable_thinking;
        b->opts.render.preserve_thinking = a->preserve_thinking;
        b->opts.render.think_per_turn = a->think_per_turn;
        b->opts.render.train_on_prompt = a->train_on_prompt;
        b->threads = a->threads;
        b->opts.render.mask_history = a->mask_history;
        b->opts.render.default_system = a->default_system;
        b->opts.cutoff_len = (size_t)a->cutoff_len;
        b->opts.pretrain = pt;
        b->opts.group_texts = pt && ct_data_args_packed(a);
        /* LlamaFactory's pretrain processor ends llama3 texts with <|end_of_text|> */
        b->opts.eos_token = pt && !strcmp(ct_template_name(t), "llama3") ? "<|end_of_text|>" : NULL;
        b->skip = !(a->on_bad_sample && !strcmp(a->on_bad_sample, "fail"));
        b->sft = !pt;
        b->bad = &stats->bad_rows;
        b->n_bad = 0;
        b->dst = &sets[s];
        b->source = (int32_t)s;
        b->read = 0;
        b->n = 0;
        b->dropped = stats->dropped;
        b->truncated = &stats->n_truncated;
        ct_read_opts ro = ct_read_opts_default();
        ro.format = infos[s].format;
        ro.cols = &infos[s].cols;
        ro.skip_bad = b->skip;
        ro.max_rows = a->max_samples >= 0 ? a->max_samples : infos[s].num_samples;
        ro.bad = &stats->bad_rows;
        size_t bad0 = stats->bad_rows.n;
        st = ct_read_dataset_file(infos[s].path, &ro, on_conv, b, err);
        if (!st && b->n) st = flush_chunk(b, err);
        for (size_t k = 0; k < b->n; k++) {
            ct_conv_free(&b->convs[k]);
            free(b->where[k]);
            b->where[k] = NULL;
        }
        b->n = 0;
        size_t n_bad = stats->bad_rows.n - bad0; /* reader and build together */
        stats->bad[s] = n_bad;
        stats->dropped[CT_DROP_BAD] += n_bad;
        stats->read[s] = b->read + (n_bad - b->n_bad);
        if (st) ct_err_prefix(err, "dataset '%s'", names[i]);
    }
    free(b);
    return st;
}

size_t ct_dataset_stats_bad_summary(const ct_dataset_stats *s, char *buf, size_t n) {
    if (!n) return 0;
    buf[0] = 0;
    size_t k = s->bad_rows.n;
    if (!k) return 0;
    int len = snprintf(buf, n, "skipped %zu malformed row%s (on_bad_sample: fail stops at the first instead)", k,
                       k == 1 ? "" : "s");
    for (size_t i = 0; i < k && i < CT_BAD_ROWS_KEEP && len >= 0 && (size_t)len < n; i++)
        len += snprintf(buf + len, n - (size_t)len, "%s%s", i ? "; " : ": ", s->bad_rows.first[i]);
    if (len >= 0 && (size_t)len < n && k > CT_BAD_ROWS_KEEP) snprintf(buf + len, n - (size_t)len, "; ...");
    return k;
}

bool ct_data_args_packed(const ct_data_args *a) {
    return a->packing || a->neat_packing || (!a->packing_set && a->stage && !strcmp(a->stage, "pt"));
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
    bool pt = args->stage && !strcmp(args->stage, "pt");
    ct_status st =
        ct_template_resolve(args->template_name, src, &t, stats->template_note, sizeof stats->template_note, err);
    if (st && pt && !args->template_name) { /* pre-training renders no template */
        t = ct_template_get("empty");
        if (err) err->code = CT_OK, err->msg[0] = 0;
        st = CT_OK;
    }
    if (st) return st;
    stats->template_name = ct_template_name(t);
    if (pt) /* the template only picks LlamaFactory's llama3 eos */
        snprintf(stats->template_note, sizeof stats->template_note, "stage pt: plain text + %s, no chat template",
                 strcmp(ct_template_name(t), "llama3") ? "eos" : "<|end_of_text|> (template llama3, as LlamaFactory)");
    const char *tf = ct_template_tool_format(t);
    if (args->tool_format && !(tf && !strcmp(args->tool_format, tf)))
        return ct_err_set(err, CT_ERR_UNSUPPORTED,
                          "tool_format: '%s' is not supported with template %s (ctune renders the template's own tool "
                          "format%s%s%s; leave tool_format unset)",
                          args->tool_format, ct_template_name(t), tf ? ", '" : ": none", tf ? tf : "", tf ? "'" : "");
    if (args->think_per_turn && strcmp(ct_template_name(t), "qwen3") && strcmp(ct_template_name(t), "qwen3_5"))
        return ct_err_set(err, CT_ERR_ARG, "think_per_turn: template %s has no think blocks (it applies to qwen3 and qwen3_5)",
                          ct_template_name(t));
    size_t nd = args->n_dataset, ne = args->n_eval_dataset, ns = nd + ne;
    if (!nd && !ne) return ct_err_set(err, CT_ERR_ARG, "no dataset: set `dataset:` (names from dataset_info.json or files)");
    ct_dataset_info *infos = calloc(ns, sizeof *infos);
    ct_example_set *sets = calloc(ns, sizeof *sets);
    stats->n_sources = ns;
    stats->source_names = calloc(ns, sizeof(char *));
    stats->read = calloc(ns, sizeof(size_t));
    stats->kept = calloc(ns, sizeof(size_t));
    stats->bad = calloc(ns, sizeof(size_t));
    if (!infos || !sets || !stats->source_names || !stats->read || !stats->kept || !stats->bad) {
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
                stats->bad_rows = cached.stats.bad_rows;
                stats->group_dropped_tokens = cached.stats.group_dropped_tokens;
                for (size_t i = 0; i < ns && i < cached.stats.n_sources; i++) {
                    stats->read[i] = cached.stats.read[i];
                    stats->kept[i] = cached.stats.kept[i];
                    stats->bad[i] = cached.stats.bad[i];
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
        /* stage pt with packing: texts grouped into cutoff_len blocks (LlamaFactory's pretrain
         * processor runs on the merged datasets, before the split) */
        bool group = pt && ct_data_args_packed(args);
        int32_t bos = group && ct_tokenizer_add_bos(tok) ? ct_tokenizer_bos_id(tok) : -1;
        size_t rows = args->preprocessing_batch_size > 0 ? (size_t)args->preprocessing_batch_size : 1000;
        if (!st && group) {
            ct_example_set blocks;
            size_t lost = 0;
            st = ct_group_texts(&mixed, (size_t)args->cutoff_len, rows, bos, &blocks, &lost, err);
            ct_example_set_free(&mixed);
            mixed = blocks;
            stats->group_dropped_tokens += lost;
        }
        /* split: eval_dataset, or val_size (fraction → ceil(f * n) as HF train_test_split, or count) */
        size_t n = mixed.n, n_val = 0;
        if (!st && ne) {
            ct_example_set ev = {0};
            for (size_t i = nd; i < ns && !st; i++)
                for (size_t k = 0; k < sets[i].n && !st; k++) {
                    ct_example e = ct_example_set_get(&sets[i], k);
                    st = ct_example_set_push(&ev, &e, err);
                }
            size_t lost = 0;
            if (!st && group) st = ct_group_texts(&ev, (size_t)args->cutoff_len, rows, bos, &out->val, &lost, err);
            else out->val = ev, ev = (ct_example_set){0};
            ct_example_set_free(&ev);
            stats->group_dropped_tokens += lost;
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
    if (ct_data_args_packed(args)) {
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
