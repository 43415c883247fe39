/* Example sets, mixing order, packing plans and batches (include/ctune/data.h). */
#include <stdlib.h>
#include <string.h>

#include "base/rng.h"
#include "ctune/data.h"

uint64_t ct_hash_bytes(uint64_t h, const void *data, size_t n) {
    if (!h) h = 1469598103934665603ull;
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
    return h;
}

void ct_example_set_free(ct_example_set *s) {
    free(s->ids);
    free(s->labels);
    free(s->weights);
    free(s->offsets);
    free(s->source);
    memset(s, 0, sizeof *s);
}

ct_status ct_example_set_push(ct_example_set *s, const ct_example *e, ct_err *err) {
    if (s->n_tokens + e->n > s->cap_tokens) {
        size_t cap = s->cap_tokens ? s->cap_tokens : 4096;
        while (cap < s->n_tokens + e->n) cap *= 2;
        int32_t *a = realloc(s->ids, cap * sizeof *a);
        if (a) s->ids = a;
        int32_t *b = realloc(s->labels, cap * sizeof *b);
        if (b) s->labels = b;
        float *c = realloc(s->weights, cap * sizeof *c);
        if (c) s->weights = c;
        if (!a || !b || !c) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        s->cap_tokens = cap;
    }
    if (s->n + 2 > s->cap || !s->offsets) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        size_t *o = realloc(s->offsets, (cap + 1) * sizeof *o);
        if (o) s->offsets = o;
        int32_t *src = realloc(s->source, cap * sizeof *src);
        if (src) s->source = src;
        if (!o || !src) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        if (s->cap == 0) s->offsets[0] = 0;
        s->cap = cap;
    }
    memcpy(s->ids + s->n_tokens, e->input_ids, e->n * sizeof(int32_t));
    memcpy(s->labels + s->n_tokens, e->labels, e->n * sizeof(int32_t));
    memcpy(s->weights + s->n_tokens, e->weights, e->n * sizeof(float));
    s->n_tokens += e->n;
    s->source[s->n] = e->source;
    s->n++;
    s->offsets[s->n] = s->n_tokens;
    return CT_OK;
}

ct_example ct_example_set_get(const ct_example_set *s, size_t i) {
    ct_example e = {0};
    size_t a = s->offsets[i], b = s->offsets[i + 1];
    e.input_ids = s->ids + a;
    e.labels = s->labels + a;
    e.weights = s->weights + a;
    e.n = b - a;
    e.source = s->source[i];
    return e;
}

/* HF datasets interleave_datasets: without probabilities round-robin; with them a seeded draw
 * per step. first_exhausted (interleave_under) stops when a drawn dataset has no example left;
 * all_exhausted (interleave_over) restarts exhausted datasets until every one was used up once. */
ct_status ct_mix_order(const size_t *counts, size_t n_sets, ct_mix mix, const double *probs, uint64_t seed,
                       int32_t **out_src, size_t **out_idx, size_t *n_out, ct_err *err) {
    size_t total = 0, maxc = 0;
    for (size_t i = 0; i < n_sets; i++) {
        total += counts[i];
        if (counts[i] > maxc) maxc = counts[i];
    }
    size_t cap = mix == CT_MIX_INTERLEAVE_OVER ? (n_sets * maxc * 4 + 16) : total + 1;
    int32_t *src = malloc(cap * sizeof *src);
    size_t *idx = malloc(cap * sizeof *idx);
    size_t *pos = calloc(n_sets ? n_sets : 1, sizeof *pos);
    bool *done = calloc(n_sets ? n_sets : 1, sizeof *done);
    size_t n = 0;
    ct_status st = CT_OK;
    if (!src || !idx || !pos || !done) {
        st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (mix == CT_MIX_CONCAT || n_sets <= 1) {
        for (size_t d = 0; d < n_sets; d++)
            for (size_t i = 0; i < counts[d]; i++) src[n] = (int32_t)d, idx[n++] = i;
        goto out;
    }
    for (size_t d = 0; d < n_sets; d++)
        if (!counts[d]) {
            if (mix == CT_MIX_INTERLEAVE_UNDER) goto out; /* an empty dataset exhausts at once */
            done[d] = true;
        }
    uint64_t rs = seed;
    double psum = 0;
    if (probs)
        for (size_t d = 0; d < n_sets; d++) psum += probs[d];
    size_t n_done = 0;
    for (size_t d = 0; d < n_sets; d++) n_done += done[d];
    for (size_t step = 0; n < cap; step++) {
        size_t d;
        if (probs && psum > 0) {
            double u = ct_rng_unit(ct_splitmix64(&rs)) * psum, acc = 0;
            for (d = 0; d < n_sets - 1; d++) {
                acc += probs[d];
                if (u < acc) break;
            }
        } else {
            d = step % n_sets;
        }
        if (!counts[d]) continue;
        if (pos[d] >= counts[d]) {
            if (mix == CT_MIX_INTERLEAVE_UNDER) break;
            pos[d] = 0; /* oversample: restart */
        }
        src[n] = (int32_t)d;
        idx[n++] = pos[d]++;
        if (pos[d] == counts[d] && !done[d]) {
            done[d] = true;
            n_done++;
        }
        if (mix == CT_MIX_INTERLEAVE_UNDER && pos[d] == counts[d]) break;
        if (mix == CT_MIX_INTERLEAVE_OVER && n_done == n_sets) break;
    }
out:
    free(pos);
    free(done);
    if (st) {
        free(src);
        free(idx);
        return st;
    }
    *out_src = src;
    *out_idx = idx;
    *n_out = n;
    return CT_OK;
}

void ct_pack_plan_free(ct_pack_plan *p) {
    free(p->seq_off);
    free(p->members);
    memset(p, 0, sizeof *p);
}

typedef struct len_idx {
    size_t len, idx;
} len_idx;

static int cmp_len_desc(const void *a, const void *b) {
    const len_idx *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? 1 : -1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* First-fit decreasing over a window of the 64 most recent open bins (O(n) for large sets). */
ct_status ct_pack(const ct_example_set *s, size_t cutoff, ct_pack_plan *out, ct_err *err) {
    memset(out, 0, sizeof *out);
    size_t n = s->n;
    len_idx *li = malloc((n ? n : 1) * sizeof *li);
    size_t *bin_of = malloc((n ? n : 1) * sizeof *bin_of), *room = malloc((n ? n : 1) * sizeof *room);
    size_t *count = calloc(n + 1, sizeof *count);
    out->seq_off = calloc(n + 1, sizeof *out->seq_off);
    out->members = malloc((n ? n : 1) * sizeof *out->members);
    ct_status st = CT_OK;
    if (!li || !bin_of || !room || !count || !out->seq_off || !out->members) {
        st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) li[i] = (len_idx){s->offsets[i + 1] - s->offsets[i], i};
    qsort(li, n, sizeof *li, cmp_len_desc);
    size_t nb = 0;
    for (size_t k = 0; k < n; k++) {
        size_t len = li[k].len, b = nb;
        if (len > cutoff) {
            st = ct_err_set(err, CT_ERR_ARG, "packing: example %zu has %zu tokens > cutoff_len %zu", li[k].idx, len, cutoff);
            goto done;
        }
        size_t lo = nb > 64 ? nb - 64 : 0;
        for (size_t j = lo; j < nb; j++)
            if (room[j] >= len) {
                b = j;
                break;
            }
        if (b == nb) room[nb++] = cutoff;
        room[b] -= len;
        bin_of[li[k].idx] = b;
        count[b]++;
    }
    out->n_seqs = nb;
    for (size_t b = 0; b < nb; b++) out->seq_off[b + 1] = out->seq_off[b] + count[b];
    memset(count, 0, (n + 1) * sizeof *count);
    /* members of a bin in example order (deterministic) */
    for (size_t i = 0; i < n; i++) {
        size_t b = bin_of[i];
        out->members[out->seq_off[b] + count[b]++] = i;
    }
done:
    free(li);
    free(bin_of);
    free(room);
    free(count);
    if (st) ct_pack_plan_free(out);
    return st;
}

void ct_batch_free(ct_batch *b) {
    free(b->input_ids);
    free(b->labels);
    free(b->position_ids);
    free(b->segment_ids);
    free(b->weights);
    memset(b, 0, sizeof *b);
}

ct_status ct_batch_make(const ct_example_set *s, const ct_pack_plan *plan, const size_t *idx, size_t B, size_t T,
                        int32_t pad_id, ct_batch *out, ct_err *err) {
    memset(out, 0, sizeof *out);
    if (T == 0) {
        for (size_t r = 0; r < B; r++) {
            size_t len = 0;
            if (plan) {
                for (size_t m = plan->seq_off[idx[r]]; m < plan->seq_off[idx[r] + 1]; m++) {
                    size_t e = plan->members[m];
                    len += s->offsets[e + 1] - s->offsets[e];
                }
            } else {
                len = s->offsets[idx[r] + 1] - s->offsets[idx[r]];
            }
            if (len > T) T = len;
        }
        if (T == 0) T = 1;
    }
    size_t N = B * T;
    out->B = B;
    out->T = T;
    out->input_ids = malloc(N * sizeof(int32_t));
    out->labels = malloc(N * sizeof(int32_t));
    out->position_ids = calloc(N, sizeof(int32_t));
    out->segment_ids = calloc(N, sizeof(int32_t));
    out->weights = calloc(N, sizeof(float));
    if (!out->input_ids || !out->labels || !out->position_ids || !out->segment_ids || !out->weights) {
        ct_batch_free(out);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < N; i++) out->input_ids[i] = pad_id, out->labels[i] = CT_IGNORE_INDEX;
    for (size_t r = 0; r < B; r++) {
        size_t m0 = plan ? plan->seq_off[idx[r]] : 0, m1 = plan ? plan->seq_off[idx[r] + 1] : 1;
        size_t t = 0;
        int32_t seg = 0;
        for (size_t m = m0; m < m1; m++) {
            size_t e = plan ? plan->members[m] : idx[r];
            size_t a = s->offsets[e], b = s->offsets[e + 1];
            seg++;
            for (size_t k = a; k < b; k++, t++) {
                if (t >= T) {
                    ct_batch_free(out);
                    return ct_err_set(err, CT_ERR_ARG, "batch row %zu is longer than T=%zu", r, T);
                }
                size_t o = r * T + t;
                out->input_ids[o] = s->ids[k];
                out->position_ids[o] = (int32_t)(k - a);
                out->segment_ids[o] = seg;
                /* the first token of a sample has nothing before it in its sample: never a target
                 * (also keeps packed samples from predicting across boundaries) */
                bool first = k == a;
                out->labels[o] = first ? CT_IGNORE_INDEX : s->labels[k];
                out->weights[o] = first || s->labels[k] == CT_IGNORE_INDEX ? 0.0f : s->weights[k];
                if (out->labels[o] != CT_IGNORE_INDEX) out->n_trained++;
            }
        }
    }
    return CT_OK;
}

/* LlamaFactory's pretrain processor with packing (its group_texts): the texts of every batch of
 * batch_rows consecutive examples (datasets.map(batched=True), preprocessing_batch_size) are
 * concatenated and cut into blocks of exactly `block` tokens; the batch's last partial block is
 * dropped. With bos >= 0 (add_bos_token tokenizers) the first token of every block becomes bos,
 * as LlamaFactory overwrites it. A block's source is the source of its first token. */
ct_status ct_group_texts(const ct_example_set *in, size_t block, size_t batch_rows, int32_t bos,
                         ct_example_set *out, size_t *dropped_tokens, ct_err *err) {
    memset(out, 0, sizeof *out);
    if (dropped_tokens) *dropped_tokens = 0;
    if (!block) return ct_err_set(err, CT_ERR_ARG, "grouping texts needs a block size (cutoff_len) > 0");
    if (!batch_rows) batch_rows = in->n ? in->n : 1;
    ct_example e = {0};
    if (!(e.input_ids = malloc(block * sizeof *e.input_ids)) || !(e.labels = malloc(block * sizeof *e.labels)) ||
        !(e.weights = malloc(block * sizeof *e.weights))) {
        ct_example_free(&e);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    e.n = block;
    ct_status st = CT_OK;
    for (size_t b0 = 0; b0 < in->n && !st; b0 += batch_rows) {
        size_t b1 = b0 + batch_rows < in->n ? b0 + batch_rows : in->n;
        size_t t0 = in->offsets[b0], t1 = in->offsets[b1], k = b0;
        size_t full = (t1 - t0) / block * block;
        for (size_t t = t0; t + block <= t0 + full && !st; t += block) {
            while (in->offsets[k + 1] <= t) k++; /* example holding token t */
            memcpy(e.input_ids, in->ids + t, block * sizeof *e.input_ids);
            memcpy(e.labels, in->labels + t, block * sizeof *e.labels);
            memcpy(e.weights, in->weights + t, block * sizeof *e.weights);
            if (bos >= 0) e.input_ids[0] = e.labels[0] = bos;
            e.source = in->source[k];
            st = ct_example_set_push(out, &e, err);
        }
        if (dropped_tokens) *dropped_tokens += t1 - t0 - full;
    }
    ct_example_free(&e);
    if (st) ct_example_set_free(out);
    return st;
}
