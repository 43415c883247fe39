/* Trainer data loader (see trainer_data.h). */
#include "train/trainer_data.h"

#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "ctune/data.h"
#include "base/rng.h"

struct ct_loader {
    ct_dataset ds;
    ct_pack_plan plan;
    bool packed;
    int32_t pad_id;
};

ct_status ct_loader_init(ct_loader **out, const ct_train_config *cfg, const ct_tokenizer *tok,
                         const char *cache_dir, int32_t pad_id, ct_err *err) {
    *out = NULL;
    ct_loader *l = calloc(1, sizeof *l);
    if (!l) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    l->pad_id = pad_id;
    char *own_cache = NULL;
    if (!cache_dir) cache_dir = cfg->tokenized_path;
    if (!cache_dir && cfg->output_dir) cache_dir = own_cache = ct_path_join(cfg->output_dir, ".cache");
    if (cache_dir && !*cache_dir) cache_dir = NULL;
    ct_data_args args;
    ct_train_config_data_args(cfg, &args);
    ct_status st = ct_dataset_build(&args, tok, cache_dir, &l->ds, err);
    free(own_cache);
    if (st) {
        free(l);
        return st;
    }
    if (l->ds.train.n == 0 && cfg->dataset.n) { /* no dataset at all: evaluation of eval_dataset only */
        size_t short_tokens = l->ds.stats.group_dropped_tokens, bad = l->ds.stats.bad_rows.n;
        ct_loader_free(l);
        if (short_tokens)
            return ct_err_set(err, CT_ERR_ARG,
                              "the training split is empty: stage pt groups the texts into blocks of cutoff_len %lld "
                              "tokens and there are only %zu (as LlamaFactory; lower cutoff_len or add text)",
                              (long long)cfg->cutoff_len, short_tokens);
        if (bad)
            return ct_err_set(err, CT_ERR_ARG,
                              "the training split is empty: %zu malformed rows were skipped and no other row remains "
                              "(on_bad_sample: fail shows the first error)",
                              bad);
        return ct_err_set(err, CT_ERR_ARG, "the training split is empty (every sample was dropped or val_size took all)");
    }
    l->packed = ct_data_args_packed(&args);
    if (l->packed && l->ds.train.n && (st = ct_pack(&l->ds.train, (size_t)cfg->cutoff_len, &l->plan, err))) {
        ct_loader_free(l);
        return st;
    }
    *out = l;
    return CT_OK;
}

void ct_loader_free(ct_loader *l) {
    if (!l) return;
    ct_dataset_free(&l->ds);
    if (l->packed) ct_pack_plan_free(&l->plan);
    free(l);
}

void ct_loader_get_info(const ct_loader *l, ct_loader_info *info) {
    memset(info, 0, sizeof *info);
    info->packed = l->packed;
    info->n_train_rows = l->packed ? l->plan.n_seqs : l->ds.train.n;
    info->n_train_examples = l->ds.train.n;
    info->n_val_examples = l->ds.val.n;
    info->train_tokens = l->ds.train.n_tokens;
    snprintf(info->template_note, sizeof info->template_note, "%s", l->ds.stats.template_note);
    for (int i = 0; i < CT_DROP_COUNT; i++) info->n_dropped += l->ds.stats.dropped[i];
    info->n_truncated = l->ds.stats.n_truncated;
    info->n_bad = ct_dataset_stats_bad_summary(&l->ds.stats, info->bad_rows, sizeof info->bad_rows);
}

void ct_loader_epoch_order(const ct_loader *l, uint64_t seed, int64_t epoch, size_t *perm) {
    size_t n = l->packed ? l->plan.n_seqs : l->ds.train.n;
    for (size_t i = 0; i < n; i++) perm[i] = i;
    /* Fisher-Yates from the back; draw k uses counter k of stream (epoch) */
    uint64_t stream = 0x5368756666ull ^ ((uint64_t)epoch << 20);
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(ct_rng_uniform(seed, stream, i) * (double)i);
        if (j >= i) j = i - 1;
        size_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
}

ct_status ct_loader_train_batch(const ct_loader *l, const size_t *rows, size_t B, ct_batch *out,
                                ct_err *err) {
    memset(out, 0, sizeof *out);
    return ct_batch_make(&l->ds.train, l->packed ? &l->plan : NULL, rows, B, 0, l->pad_id, out, err);
}

ct_status ct_loader_val_batch(const ct_loader *l, size_t start, size_t B, ct_batch *out,
                              ct_err *err) {
    memset(out, 0, sizeof *out);
    size_t n = l->ds.val.n;
    if (start >= n) return ct_err_set(err, CT_ERR_ARG, "validation batch start %zu beyond %zu examples", start, n);
    if (B > n - start) B = n - start;
    size_t *idx = malloc(B * sizeof *idx);
    if (!idx) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < B; i++) idx[i] = start + i;
    ct_status st = ct_batch_make(&l->ds.val, NULL, idx, B, 0, l->pad_id, out, err);
    free(idx);
    return st;
}
