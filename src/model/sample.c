/* Logits processors and sampling in HF order (RepetitionPenaltyLogitsProcessor ->
 * TemperatureLogitsWarper -> TopKLogitsWarper -> TopPLogitsWarper -> multinomial / argmax). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctune/generate.h"
#include "ctune/rng.h"
#include "model/model.h"

typedef struct cand {
    float logit;
    int32_t id;
} cand;

static int cmp_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id; /* stable: lower id first */
}

/* k-th largest value of v[n] (1 <= k <= n) with a size-k min-heap: O(n log k). */
static float kth_largest(const float *v, size_t n, size_t k) {
    float *h = malloc(k * sizeof *h);
    if (!h) return -INFINITY;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        float x = v[i];
        if (m < k) { /* sift up */
            size_t j = m++;
            while (j && h[(j - 1) / 2] > x) h[j] = h[(j - 1) / 2], j = (j - 1) / 2;
            h[j] = x;
        } else if (x > h[0]) { /* replace root, sift down */
            size_t j = 0;
            for (;;) {
                size_t c = 2 * j + 1;
                if (c >= k) break;
                if (c + 1 < k && h[c + 1] < h[c]) c++;
                if (h[c] >= x) break;
                h[j] = h[c];
                j = c;
            }
            h[j] = x;
        }
    }
    float r = h[0];
    free(h);
    return r;
}

int32_t ct_gen_sample(float *logits, size_t V, const ct_gen_params *p, const int32_t *history,
                      size_t n_history, ct_rng *rng) {
    if (V == 0) return -1;
    if (p->repetition_penalty != 1.0f && p->repetition_penalty > 0.0f) {
        unsigned char *seen = calloc(V, 1);
        for (size_t i = 0; seen && i < n_history; i++) {
            int32_t id = history[i];
            if (id < 0 || (size_t)id >= V || seen[id]) continue;
            seen[id] = 1;
            float l = logits[id];
            logits[id] = l < 0 ? l * p->repetition_penalty : l / p->repetition_penalty;
        }
        free(seen);
    }
    if (!p->do_sample || p->temperature <= 0.0f) { /* greedy: first maximum, as torch.argmax */
        size_t best = 0;
        for (size_t j = 1; j < V; j++)
            if (logits[j] > logits[best]) best = j;
        return (int32_t)best;
    }
    if (p->temperature != 1.0f)
        for (size_t j = 0; j < V; j++) logits[j] /= p->temperature;
    float kth = -INFINITY;
    if (p->top_k > 0 && (size_t)p->top_k < V) kth = kth_largest(logits, V, (size_t)p->top_k);
    /* Candidates: top-k keeps every logit >= the k-th largest (ties kept, as HF). */
    size_t n = 0;
    cand *c = malloc(V * sizeof *c);
    if (!c) return 0;
    for (size_t j = 0; j < V; j++)
        if (logits[j] >= kth && logits[j] > -INFINITY) c[n++] = (cand){logits[j], (int32_t)j};
    if (n == 0) {
        free(c);
        return 0;
    }
    qsort(c, n, sizeof *c, cmp_desc);
    double *pr = malloc(n * sizeof *pr), sum = 0.0;
    if (!pr) {
        int32_t id = c[0].id;
        free(c);
        return id;
    }
    for (size_t i = 0; i < n; i++) sum += pr[i] = exp((double)c[i].logit - (double)c[0].logit);
    if (p->top_p < 1.0f) {
        /* HF TopP: in ascending order, drop tokens while the cumulative probability stays
         * <= 1 - top_p; the most likely token always survives. */
        double cum = 0.0, lim = 1.0 - (double)p->top_p;
        size_t keep = n;
        while (keep > 1) {
            cum += pr[keep - 1] / sum;
            if (cum > lim) break;
            keep--;
        }
        n = keep;
        sum = 0.0;
        for (size_t i = 0; i < n; i++) sum += pr[i];
    }
    double r = ct_rng_f64(rng) * sum, acc = 0.0;
    int32_t id = c[n - 1].id;
    for (size_t i = 0; i < n; i++) {
        acc += pr[i];
        if (r < acc) {
            id = c[i].id;
            break;
        }
    }
    free(pr);
    free(c);
    return id;
}

double ct_logits_logprob(const float *logits, size_t V, int32_t id, bool *is_max) {
    float mx = logits[0];
    size_t am = 0;
    for (size_t v = 1; v < V; v++)
        if (logits[v] > mx) {
            mx = logits[v];
            am = v;
        }
    double s = 0.0;
    for (size_t v = 0; v < V; v++) s += exp((double)logits[v] - (double)mx);
    if (is_max) *is_max = am == (size_t)id;
    return (double)logits[id] - (double)mx - log(s);
}
