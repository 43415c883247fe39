/* Rendered segments → token ids, labels and loss weights (LlamaFactory supervised semantics).
 *
 * Tokenization (see docs/data.md "Segment boundaries"): the rendered text is cut at every
 * occurrence of the template's control strings that are single tokens of the tokenizer
 * (<|im_start|>, <|im_end|>, <think>, ...). HF splits added tokens out before pre-tokenizing, so
 * these cuts never change the ids. A stretch between two cuts that lies inside one segment is
 * encoded on its own; a stretch that spans segment boundaries is encoded whole (ids stay equal
 * to encoding the whole text) and each boundary is located by encoding the stretch's prefix up
 * to it: the tokens the prefix shares with the whole go to the earlier segment, the rest (a
 * token straddling the boundary included) to the later one.
 *
 * Truncation: tokens are grouped into turns (source = prompt tokens, target = answer tokens);
 * LlamaFactory's infer_seqlen splits the remaining cutoff budget between source and target, turn
 * by turn (last turn first with mask_history); once the budget is used up, later turns are
 * dropped. A truncated target keeps its end tokens (<|im_end|>\n) when they fit. */
#include <stdlib.h>
#include <string.h>

#include "ctune/data.h"

typedef struct tokv {
    int32_t *id;
    float *w;
    uint8_t *flags;
    int32_t *turn;
    size_t n, cap;
} tokv;

static int tokv_push(tokv *v, int32_t id, float w, uint8_t fl, int32_t turn) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 256;
        int32_t *a = realloc(v->id, cap * sizeof *a);
        if (a) v->id = a;
        float *b = realloc(v->w, cap * sizeof *b);
        if (b) v->w = b;
        uint8_t *c = realloc(v->flags, cap);
        if (c) v->flags = c;
        int32_t *d = realloc(v->turn, cap * sizeof *d);
        if (d) v->turn = d;
        if (!a || !b || !c || !d) return -1;
        v->cap = cap;
    }
    v->id[v->n] = id;
    v->w[v->n] = w;
    v->flags[v->n] = fl;
    v->turn[v->n] = turn;
    v->n++;
    return 0;
}

static void tokv_free(tokv *v) {
    free(v->id);
    free(v->w);
    free(v->flags);
    free(v->turn);
    memset(v, 0, sizeof *v);
}

void ct_example_free(ct_example *e) {
    free(e->input_ids);
    free(e->labels);
    free(e->weights);
    memset(e, 0, sizeof *e);
}

const char *ct_drop_reason_name(ct_drop_reason r) {
    switch (r) {
    case CT_DROP_NONE: return "kept";
    case CT_DROP_ALL_MASKED: return "no trained token (all labels masked after truncation)";
    case CT_DROP_EMPTY: return "empty sample";
    case CT_DROP_BAD: return "malformed row (skipped)";
    default: return "?";
    }
}

void ct_infer_seqlen(size_t source_len, size_t target_len, size_t cutoff_len, size_t *new_source,
                     size_t *new_target) {
    size_t max_target;
    if (target_len * 2 < cutoff_len) max_target = cutoff_len;
    else if (source_len * 2 < cutoff_len) max_target = cutoff_len - source_len;
    else max_target = (size_t)((double)cutoff_len * ((double)target_len / (double)(source_len + target_len)));
    size_t nt = target_len < max_target ? target_len : max_target;
    size_t max_source = cutoff_len > nt ? cutoff_len - nt : 0;
    *new_source = source_len < max_source ? source_len : max_source;
    *new_target = nt;
}

/* Length of the control string (a single token of tok) starting at s, else 0. */
static size_t control_at(const char *s, size_t left, const char *const *ctl, const bool *ok) {
    for (size_t i = 0; ctl[i]; i++) {
        if (!ok[i]) continue;
        size_t n = strlen(ctl[i]);
        if (n <= left && !memcmp(s, ctl[i], n)) return n;
    }
    return 0;
}

/* Segment index containing byte `off` (segments sorted, tiling the text). */
static size_t seg_at(const ct_render *r, size_t off, size_t hint) {
    size_t i = hint;
    while (i + 1 < r->n_segs && r->segs[i].off + r->segs[i].len <= off) i++;
    return i;
}

static ct_status push_range(tokv *v, const int32_t *ids, size_t a, size_t b, const ct_segment *s, ct_err *err) {
    for (size_t k = a; k < b; k++)
        if (tokv_push(v, ids[k], s->weight, (uint8_t)s->flags, s->turn))
            return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    return CT_OK;
}

/* Encodes text[a..b) (no control string inside) honouring segment boundaries. */
static ct_status encode_stretch(const ct_tokenizer *tok, const ct_render *r, size_t a, size_t b, size_t *hint,
                                tokv *v, ct_ids *tmp, ct_ids *pre, ct_err *err) {
    size_t si = seg_at(r, a, *hint);
    *hint = si;
    tmp->n = 0;
    ct_status st = ct_tokenizer_encode(tok, r->text + a, b - a, false, tmp, err);
    if (st) return st;
    const ct_segment *s = &r->segs[si];
    if (s->off + s->len >= b) return push_range(v, tmp->data, 0, tmp->n, s, err);
    size_t done = 0;
    while (si < r->n_segs && r->segs[si].off + r->segs[si].len < b) {
        size_t bnd = r->segs[si].off + r->segs[si].len; /* boundary inside the stretch */
        pre->n = 0;
        if ((st = ct_tokenizer_encode(tok, r->text + a, bnd - a, false, pre, err))) return st;
        size_t k = 0;
        while (k < pre->n && k < tmp->n && pre->data[k] == tmp->data[k]) k++;
        if (k < done) k = done;
        if ((st = push_range(v, tmp->data, done, k, &r->segs[si], err))) return st;
        done = k;
        si++;
    }
    *hint = si;
    return push_range(v, tmp->data, done, tmp->n, &r->segs[si < r->n_segs ? si : r->n_segs - 1], err);
}

static ct_status tokenize_render(const ct_tokenizer *tok, const ct_template *t, const ct_render *r, tokv *v,
                                 ct_err *err) {
    const char *const *ctl = ct_template_controls(t);
    bool ok[16] = {0};
    int32_t ctl_id[16];
    for (size_t i = 0; ctl[i] && i < 16; i++) {
        ctl_id[i] = ct_tokenizer_token_to_id(tok, ctl[i]);
        ok[i] = ctl_id[i] >= 0;
    }
    ct_ids tmp = {0}, pre = {0};
    ct_status st = CT_OK;
    size_t hint = 0, start = 0, p = 0;
    while (p < r->len && !st) {
        const char *lt = memchr(r->text + p, '<', r->len - p);
        if (!lt) break;
        p = (size_t)(lt - r->text);
        size_t cl = control_at(lt, r->len - p, ctl, ok);
        if (!cl) {
            p++;
            continue;
        }
        if (p > start) st = encode_stretch(tok, r, start, p, &hint, v, &tmp, &pre, err);
        if (st) break;
        size_t si = seg_at(r, p, hint);
        hint = si;
        int32_t id = -1;
        for (size_t i = 0; ctl[i]; i++)
            if (ok[i] && strlen(ctl[i]) == cl && !memcmp(lt, ctl[i], cl)) id = ctl_id[i];
        if (tokv_push(v, id, r->segs[si].weight, (uint8_t)r->segs[si].flags, r->segs[si].turn))
            st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        p += cl;
        start = p;
    }
    if (!st && start < r->len) st = encode_stretch(tok, r, start, r->len, &hint, v, &tmp, &pre, err);
    ct_ids_free(&tmp);
    ct_ids_free(&pre);
    return st;
}

static ct_status alloc_example(ct_example *e, size_t n, ct_err *err) {
    e->input_ids = malloc((n ? n : 1) * sizeof(int32_t));
    e->labels = malloc((n ? n : 1) * sizeof(int32_t));
    e->weights = malloc((n ? n : 1) * sizeof(float));
    e->n = 0;
    if (!e->input_ids || !e->labels || !e->weights) {
        ct_example_free(e);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    return CT_OK;
}

static void put_tok(ct_example *e, int32_t id, float w) {
    e->input_ids[e->n] = id;
    e->labels[e->n] = w > 0 ? id : CT_IGNORE_INDEX;
    e->weights[e->n] = w > 0 ? w : 0;
    e->n++;
}

typedef struct turn_span {
    size_t s0, s1, t0, t1; /* source [s0,s1), target [t0,t1) token indices */
    size_t ns, nt;         /* kept lengths */
} turn_span;

static ct_status finish_example(const tokv *v, size_t cutoff, bool mask_history, ct_example *out, ct_err *err) {
    /* group into turns: source = non-answer tokens, target = answer tokens of the same turn */
    size_t n_turns = 0;
    for (size_t i = 0; i < v->n; i++)
        if (i == 0 || v->turn[i] != v->turn[i - 1]) n_turns++;
    turn_span *ts = calloc(n_turns ? n_turns : 1, sizeof *ts);
    if (!ts) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < v->n;) {
        size_t j = i;
        while (j < v->n && v->turn[j] == v->turn[i]) j++;
        size_t m = i;
        while (m < j && !(v->flags[m] & CT_SEG_ANSWER)) m++;
        /* tokens after the first answer token that are prompt-side (rare) count as target */
        ts[k] = (turn_span){i, m, m, j, m - i, j - m};
        k++;
        i = j;
    }
    bool truncated = false;
    if (cutoff && v->n > cutoff) {
        truncated = true;
        size_t total = 0;
        for (size_t q = 0; q < n_turns; q++) {
            turn_span *t = &ts[mask_history ? n_turns - 1 - q : q];
            if (total >= cutoff) {
                t->ns = t->nt = 0;
                continue;
            }
            size_t ns, nt;
            ct_infer_seqlen(t->s1 - t->s0, t->t1 - t->t0, cutoff - total, &ns, &nt);
            t->ns = ns;
            t->nt = nt;
            total += ns + nt;
        }
    }
    ct_status st = alloc_example(out, v->n, err);
    if (st) {
        free(ts);
        return st;
    }
    for (size_t q = 0; q < n_turns; q++) {
        turn_span *t = &ts[q];
        for (size_t i = t->s0; i < t->s0 + t->ns; i++) put_tok(out, v->id[i], v->w[i]);
        size_t full = t->t1 - t->t0;
        if (t->nt < full) {
            /* keep the answer's end tokens when they fit */
            size_t e = 0;
            while (e < full && (v->flags[t->t1 - 1 - e] & CT_SEG_END)) e++;
            size_t body = t->nt > e ? t->nt - e : t->nt;
            for (size_t i = t->t0; i < t->t0 + body; i++) put_tok(out, v->id[i], v->w[i]);
            if (t->nt > e)
                for (size_t i = t->t1 - e; i < t->t1; i++) put_tok(out, v->id[i], v->w[i]);
        } else {
            for (size_t i = t->t0; i < t->t1; i++) put_tok(out, v->id[i], v->w[i]);
        }
    }
    out->truncated = truncated;
    free(ts);
    return CT_OK;
}

static bool any_trained(const ct_example *e) {
    for (size_t i = 0; i < e->n; i++)
        if (e->labels[i] != CT_IGNORE_INDEX) return true;
    return false;
}

ct_status ct_encode(const ct_tokenizer *tok, const ct_template *t, const ct_conv *conv, const ct_encode_opts *o,
                    ct_example *out, ct_drop_reason *dropped, ct_err *err) {
    memset(out, 0, sizeof *out);
    *dropped = CT_DROP_NONE;
    ct_status st = CT_OK;
    size_t cutoff = o->cutoff_len;
    if (conv->kind == CT_CONV_TOKENS) {
        size_t n = conv->n_ids, m = cutoff && n > cutoff ? cutoff : n;
        if ((st = alloc_example(out, n, err))) return st;
        for (size_t i = 0; i < m; i++) {
            int32_t l = conv->labels ? conv->labels[i] : conv->ids[i];
            out->input_ids[i] = conv->ids[i];
            out->labels[i] = l;
            out->weights[i] = l == CT_IGNORE_INDEX ? 0.0f : 1.0f;
        }
        out->n = m;
        out->truncated = m < n;
    } else if (conv->kind == CT_CONV_TEXT || o->pretrain) {
        /* LlamaFactory pretrain: the row's text (a text row, or the first message after the
         * system prompt: LlamaFactory's _prompt[0]) + eos, every token trained; bos first when
         * the tokenizer adds one (add_bos_token), except when grouping (the dataset build puts
         * bos at the start of each block then) */
        const char *text = conv->kind == CT_CONV_TEXT ? conv->text : "";
        for (size_t i = 0; conv->kind != CT_CONV_TEXT && i < conv->n_msgs; i++)
            if (conv->msgs[i].role != CT_ROLE_SYSTEM) {
                text = conv->msgs[i].content;
                break;
            }
        ct_ids ids = {0};
        int32_t bos = ct_tokenizer_bos_id(tok);
        if (!o->group_texts && ct_tokenizer_add_bos(tok) && bos >= 0) st = ct_ids_push(&ids, bos, err);
        if (!st) st = ct_tokenizer_encode(tok, text, strlen(text), false, &ids, err);
        int32_t eos = o->eos_token ? ct_tokenizer_token_to_id(tok, o->eos_token) : -1;
        if (eos < 0) eos = ct_tokenizer_eos_id(tok);
        if (!st && eos >= 0) st = ct_ids_push(&ids, eos, err);
        if (!st) st = alloc_example(out, ids.n, err);
        if (!st) {
            size_t m = cutoff && !o->group_texts && ids.n > cutoff ? cutoff : ids.n;
            for (size_t i = 0; i < m; i++) put_tok(out, ids.data[i], 1.0f);
            out->truncated = m < ids.n;
        }
        ct_ids_free(&ids);
        if (st) return st;
    } else {
        ct_render r;
        ct_render_init(&r);
        tokv v = {0};
        st = ct_template_render(t, conv, &o->render, &r, err);
        if (!st) st = tokenize_render(tok, t, &r, &v, err);
        if (!st) st = finish_example(&v, cutoff, o->render.mask_history, out, err);
        tokv_free(&v);
        ct_render_free(&r);
        if (st) return st;
    }
    if (out->n == 0 || !any_trained(out)) {
        *dropped = out->n == 0 ? CT_DROP_EMPTY : CT_DROP_ALL_MASKED;
        ct_example_free(out);
    }
    return CT_OK;
}
