#include "train/trainer_state.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *const state_keys[] = {
    "format", "version", "global_step", "max_steps", "epoch", "steps_per_epoch", "data_epoch",
    "data_micro_pos", "data_rows", "seed", "optimizer_step", "dropout_rng_step", "log_loss_sum",
    "log_count", "last_grad_norm", "num_input_tokens_seen", "finetuning_type", "trainable_params",
    "learning_rate", "lr_scheduler_type", "eval_loss", "badam", NULL,
};

static const char *const badam_keys[] = {
    "switch_mode", "blocks", "active", "next", "step", "permutations", "permutation_left", "visited", NULL,
};

static bool in_keys(const char *const *keys, const char *key) {
    for (size_t i = 0; keys[i]; i++)
        if (!strcmp(key, keys[i])) return true;
    return false;
}

static void hex64(char *buf, size_t n, uint64_t u) { snprintf(buf, n, "%016" PRIx64, u); }

static json_t *badam_json(const ct_badam *b) {
    json_t *o = json_object(), *perm = json_array(), *visited = json_array();
    int bad = !o || !perm || !visited;
    for (int i = 0; !bad && i < b->n_left; i++) bad |= json_array_append_new(perm, json_integer(b->perm[i]));
    for (int i = 0; !bad && i < b->n_blocks; i++)
        if (b->visited[i]) bad |= json_array_append_new(visited, json_integer(i));
    if (bad) {
        json_decref(o);
        json_decref(perm);
        json_decref(visited);
        return NULL;
    }
    bad |= json_object_set_new(o, "switch_mode", json_string(ct_badam_order_name(b->order)));
    bad |= json_object_set_new(o, "blocks", json_integer(b->n_blocks));
    bad |= json_object_set_new(o, "active", json_integer(b->active));
    bad |= json_object_set_new(o, "next", json_integer(b->next));
    bad |= json_object_set_new(o, "step", json_integer(b->step));
    bad |= json_object_set_new(o, "permutations", json_integer(b->n_perms));
    bad |= json_object_set_new(o, "permutation_left", perm);
    bad |= json_object_set_new(o, "visited", visited);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *ct_trainer_state_json(const ct_trainer_state *s) {
    json_t *j = json_object();
    if (!j) return NULL;
    char hx[32];
    uint64_t u;
    int bad = 0;
    bad |= json_object_set_new(j, "format", json_string(CT_TRAINER_STATE_FORMAT));
    bad |= json_object_set_new(j, "version", json_integer(CT_TRAINER_STATE_VERSION));
    bad |= json_object_set_new(j, "global_step", json_integer(s->global_step));
    bad |= json_object_set_new(j, "max_steps", json_integer(s->max_steps));
    bad |= json_object_set_new(j, "epoch", json_real(s->epoch));
    bad |= json_object_set_new(j, "steps_per_epoch", json_integer(s->steps_per_epoch));
    bad |= json_object_set_new(j, "data_epoch", json_integer(s->data_epoch));
    bad |= json_object_set_new(j, "data_micro_pos", json_integer(s->data_micro_pos));
    bad |= json_object_set_new(j, "data_rows", json_integer(s->data_rows));
    bad |= json_object_set_new(j, "seed", json_integer(s->seed));
    bad |= json_object_set_new(j, "optimizer_step", json_integer(s->optimizer_step));
    hex64(hx, sizeof hx, s->dropout_rng_step);
    bad |= json_object_set_new(j, "dropout_rng_step", json_string(hx));
    memcpy(&u, &s->log_loss_sum, sizeof u);
    hex64(hx, sizeof hx, u);
    bad |= json_object_set_new(j, "log_loss_sum", json_string(hx));
    bad |= json_object_set_new(j, "log_count", json_integer(s->log_count));
    memcpy(&u, &s->last_grad_norm, sizeof u);
    hex64(hx, sizeof hx, u);
    bad |= json_object_set_new(j, "last_grad_norm", json_string(hx));
    bad |= json_object_set_new(j, "num_input_tokens_seen", json_integer(s->num_input_tokens_seen));
    bad |= json_object_set_new(j, "finetuning_type", json_string(s->finetuning_type));
    bad |= json_object_set_new(j, "trainable_params", json_integer(s->trainable_params));
    bad |= json_object_set_new(j, "learning_rate", json_real(s->learning_rate));
    bad |= json_object_set_new(j, "lr_scheduler_type", json_string(s->lr_scheduler_type));
    if (isfinite(s->eval_loss)) bad |= json_object_set_new(j, "eval_loss", json_real(s->eval_loss));
    if (s->has_badam) bad |= json_object_set_new(j, "badam", badam_json(&s->badam));
    if (bad) {
        json_decref(j);
        return NULL;
    }
    return j;
}

/* ---- reading: every key present with its type ---- */

typedef struct reader {
    const json_t *j;
    const char *path;
    ct_err *err;
    ct_status st;
    const char *prefix; /* of the key in messages: "badam." inside that object */
} reader;

static bool fail(reader *r, const char *key, const char *what) {
    if (!r->st) r->st = ct_err_set(r->err, CT_ERR_FORMAT, "%s: %s%s %s", r->path, r->prefix, key, what);
    return false;
}

/* An integer, or a real with an integral value in int64_t range (checked before the cast). */
static bool int_value(const json_t *v, int64_t *out) {
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return true;
    }
    double d = json_is_real(v) ? json_real_value(v) : 0.5;
    if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0) || d != (double)(int64_t)d) return false;
    *out = (int64_t)d;
    return true;
}

static bool get_int(reader *r, const char *key, int64_t *out) {
    json_t *v = json_object_get(r->j, key);
    if (r->st) return false;
    if (!v) return fail(r, key, "is missing");
    if (!int_value(v, out)) return fail(r, key, "is not an integer");
    return true;
}

static bool get_num(reader *r, const char *key, double *out) {
    json_t *v = json_object_get(r->j, key);
    if (r->st) return false;
    if (!v) return fail(r, key, "is missing");
    if (!json_is_number(v)) return fail(r, key, "is not a number");
    *out = json_number_value(v);
    return true;
}

static const char *get_str(reader *r, const char *key) {
    json_t *v = json_object_get(r->j, key);
    if (r->st) return NULL;
    if (!v) return fail(r, key, "is missing"), NULL;
    if (!json_is_string(v)) return fail(r, key, "is not a string"), NULL;
    return json_string_value(v);
}

/* Exactly 16 hex digits (what the writer produces; strtoull would take "-1" or " 0x1"). */
static bool get_hex64(reader *r, const char *key, uint64_t *out) {
    const char *s = get_str(r, key);
    if (!s) return false;
    uint64_t u = 0;
    size_t i = 0;
    for (; s[i]; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0 || i >= 16) break;
        u = u << 4 | (uint64_t)d;
    }
    if (i != 16 || s[i]) return fail(r, key, "is not 16 hex digits");
    *out = u;
    return true;
}

static bool get_hex_double(reader *r, const char *key, double *out) {
    uint64_t u;
    if (!get_hex64(r, key, &u)) return false;
    memcpy(out, &u, sizeof u);
    return true;
}

/* The data position after k optimizer steps: step j (1-based) of an epoch takes micro-batches
 * [(j-1)*GA, min(j*GA, n_micro)), the epoch index moves on at the first step of the next epoch
 * (the trainer's train_one_step), and the dropout counter advances once per micro-batch.
 * false when the numbers do not fit in 64 bits. */
static bool position_at(const ct_trainer_layout *L, int64_t k, int64_t *dep, int64_t *dpos, uint64_t *rng) {
    *dep = *dpos = 0;
    *rng = 0;
    if (k == 0) return true;
    int64_t spe = L->steps_per_epoch;
    if (spe <= 0) return false;
    int64_t j = (k - 1) % spe + 1;
    uint64_t pos;
    *dep = (k - 1) / spe;
    if (__builtin_mul_overflow((uint64_t)j, (uint64_t)L->GA, &pos)) return false;
    if (pos > L->n_micro) pos = L->n_micro;
    *dpos = (int64_t)pos;
    uint64_t full;
    return !__builtin_mul_overflow((uint64_t)*dep, (uint64_t)L->n_micro, &full) &&
           !__builtin_add_overflow(full, pos, rng);
}

/* A list of block indices in [0, blocks): at most `max` of them, strictly ascending if `sorted`. */
static bool get_blocks(reader *r, const char *key, int blocks, int max, bool sorted, int *out, int *n) {
    json_t *a = json_object_get(r->j, key), *x;
    if (r->st) return false;
    if (!a) return fail(r, key, "is missing");
    if (!json_is_array(a) || json_array_size(a) > (size_t)max) return fail(r, key, "is not a list of block indices");
    size_t i;
    *n = 0;
    json_array_foreach(a, i, x) {
        int64_t v;
        if (!int_value(x, &v) || v < 0 || v >= blocks || (sorted && *n && v <= out[*n - 1]))
            return fail(r, key, sorted ? "is not an ascending list of block indices" : "is not a list of block indices");
        out[(*n)++] = (int)v;
    }
    return true;
}

/* The "badam" object against the run's schedule replayed to global_step k; *opt_steps: the
 * optimizer steps since the last switch. */
static ct_status parse_badam(const json_t *j, const char *path, const ct_trainer_layout *L, int64_t k,
                             ct_trainer_state *s, int64_t *opt_steps, ct_err *err) {
    const json_t *o = json_object_get(j, "badam");
    if (!L->badam) {
        if (o) return ct_err_set(err, CT_ERR_ARG, "%s: the checkpoint was trained with use_badam, the config has not", path);
        return CT_OK;
    }
    const ct_badam *b0 = L->badam;
    if (!o)
        return ct_err_set(err, CT_ERR_ARG, "%s: badam is missing: the config has use_badam, the checkpoint was not "
                          "trained with it", path);
    if (!json_is_object(o)) return ct_err_set(err, CT_ERR_FORMAT, "%s: badam is not an object", path);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        if (!in_keys(badam_keys, key)) return ct_err_set(err, CT_ERR_FORMAT, "%s: unknown key 'badam.%s'", path, key);
    }
    reader r = {o, path, err, CT_OK, "badam."};
    int64_t blocks = 0, active = 0, next = 0, step = 0, perms = 0;
    int perm[CT_BADAM_MAX_BLOCKS], visited[CT_BADAM_MAX_BLOCKS], n_left = 0, n_visited = 0;
    const char *mode = get_str(&r, "switch_mode");
    get_int(&r, "blocks", &blocks);
    get_int(&r, "active", &active);
    get_int(&r, "next", &next);
    get_int(&r, "step", &step);
    get_int(&r, "permutations", &perms);
    if (r.st) return r.st;
    if (strcmp(mode, ct_badam_order_name(b0->order)))
        return ct_err_set(err, CT_ERR_ARG, "%s: badam.switch_mode: the checkpoint used badam_switch_mode %s, the config "
                          "says %s", path, mode, ct_badam_order_name(b0->order));
    if (blocks != b0->n_blocks)
        return ct_err_set(err, CT_ERR_ARG, "%s: badam.blocks %" PRId64 " then, %d now (a different model?)", path, blocks,
                          b0->n_blocks);
    get_blocks(&r, "permutation_left", b0->n_blocks, b0->n_blocks, false, perm, &n_left);
    get_blocks(&r, "visited", b0->n_blocks, b0->n_blocks, true, visited, &n_visited);
    if (r.st) return r.st;

    ct_badam b = *b0;
    int64_t last;
    ct_badam_advance(&b, k - b.step, &last);
    bool seen[CT_BADAM_MAX_BLOCKS] = {false};
    for (int i = 0; i < n_visited; i++) seen[visited[i]] = true;
    const char *bad = step != b.step ? "step" : active != b.active ? "active" : next != b.next ? "next"
                    : perms != b.n_perms ? "permutations"
                    : n_left != b.n_left || memcmp(perm, b.perm, (size_t)n_left * sizeof *perm) ? "permutation_left"
                    : memcmp(seen, b.visited, (size_t)b.n_blocks * sizeof *seen) ? "visited" : NULL;
    if (bad)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: badam.%s disagrees with the block schedule at global_step %" PRId64
                          " (%s from block %d, switching every %" PRId64 " steps, seed %" PRIu64
                          "; a changed badam_start_block, badam_switch_interval or seed cannot resume)",
                          path, bad, k, ct_badam_order_name(b0->order), b0->active, b0->switch_every, b0->seed);
    s->has_badam = true;
    s->badam = b;
    *opt_steps = k - last;
    return CT_OK;
}

ct_status ct_trainer_state_parse(const json_t *j, const char *path, const ct_trainer_layout *L,
                                 ct_trainer_state *s, ct_err *err) {
    reader r = {j, path, err, CT_OK, ""};
    memset(s, 0, sizeof *s);
    s->eval_loss = NAN;
    if (!json_is_object(j)) return ct_err_set(err, CT_ERR_FORMAT, "%s: not a JSON object", path);
    const char *fmt = get_str(&r, "format");
    if (fmt && strcmp(fmt, CT_TRAINER_STATE_FORMAT))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: format '%s' is not a ctune trainer state", path, fmt);
    int64_t ver = 0;
    if (get_int(&r, "version", &ver) && ver != CT_TRAINER_STATE_VERSION)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: trainer state version %" PRId64 ", this ctune reads version %d", path,
                          ver, CT_TRAINER_STATE_VERSION);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)j, key, v) {
        if (!in_keys(state_keys, key)) return ct_err_set(err, CT_ERR_FORMAT, "%s: unknown key '%s'", path, key);
    }
    get_int(&r, "global_step", &s->global_step);
    get_int(&r, "max_steps", &s->max_steps);
    get_num(&r, "epoch", &s->epoch);
    get_int(&r, "steps_per_epoch", &s->steps_per_epoch);
    get_int(&r, "data_epoch", &s->data_epoch);
    get_int(&r, "data_micro_pos", &s->data_micro_pos);
    get_int(&r, "data_rows", &s->data_rows);
    get_int(&r, "seed", &s->seed);
    get_int(&r, "optimizer_step", &s->optimizer_step);
    get_hex64(&r, "dropout_rng_step", &s->dropout_rng_step);
    get_hex_double(&r, "log_loss_sum", &s->log_loss_sum);
    get_int(&r, "log_count", &s->log_count);
    get_hex_double(&r, "last_grad_norm", &s->last_grad_norm);
    get_int(&r, "num_input_tokens_seen", &s->num_input_tokens_seen);
    get_int(&r, "trainable_params", &s->trainable_params);
    get_num(&r, "learning_rate", &s->learning_rate);
    const char *ft = get_str(&r, "finetuning_type"), *sched = get_str(&r, "lr_scheduler_type");
    if (!r.st && json_object_get(j, "eval_loss")) get_num(&r, "eval_loss", &s->eval_loss);
    if (r.st) return r.st;
    snprintf(s->finetuning_type, sizeof s->finetuning_type, "%s", ft);
    snprintf(s->lr_scheduler_type, sizeof s->lr_scheduler_type, "%s", sched);

    /* the resuming run: same method, data layout, seed and trainable set */
    if (L->finetuning_type && strcmp(ft, L->finetuning_type))
        return ct_err_set(err, CT_ERR_ARG, "%s: checkpoint was trained with finetuning_type %s, config says %s", path, ft,
                          L->finetuning_type);
    if (s->data_rows < 0 || (uint64_t)s->data_rows != L->rows || s->steps_per_epoch != L->steps_per_epoch)
        return ct_err_set(err, CT_ERR_ARG,
                          "%s: the data layout changed since the checkpoint (%" PRId64 " rows / %" PRId64
                          " steps per epoch then, %zu / %" PRId64 " now): same dataset, cutoff_len, packing, "
                          "batch size and gradient_accumulation_steps are needed to resume",
                          path, s->data_rows, s->steps_per_epoch, L->rows, L->steps_per_epoch);
    if (s->seed != L->seed)
        return ct_err_set(err, CT_ERR_ARG, "%s: seed %" PRId64 " then, %" PRId64 " now: the epoch order and dropout "
                          "depend on it, resume with the same seed", path, s->seed, L->seed);
    if (!L->trainable_params_later && (s->trainable_params < 0 || (uint64_t)s->trainable_params != L->trainable_params))
        return ct_err_set(err, CT_ERR_ARG, "%s: trainable_params %" PRId64 " then, %zu now (different lora_rank, "
                          "lora_target or freeze settings?)", path, s->trainable_params, L->trainable_params);

    /* the step and everything that follows from it */
    int64_t k = s->global_step;
    if (k < 0) return ct_err_set(err, CT_ERR_FORMAT, "%s: global_step %" PRId64 " is negative", path, k);
    if (k > L->total_steps)
        return ct_err_set(err, CT_ERR_ARG, "%s: global_step %" PRId64 " is beyond the planned %" PRId64 " steps", path, k,
                          L->total_steps);
    if (s->max_steps < 1 || s->max_steps < k)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: max_steps %" PRId64 " is out of range (global_step %" PRId64 ")", path,
                          s->max_steps, k);
    double ep = L->steps_per_epoch > 0 ? (double)k / (double)L->steps_per_epoch : 0.0;
    if (!isfinite(s->epoch) || fabs(s->epoch - ep) > 1e-9 * (1.0 + ep))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: epoch %g disagrees with global_step %" PRId64 " (%g)", path, s->epoch,
                          k, ep);
    int64_t dep, dpos;
    uint64_t rng;
    if (!position_at(L, k, &dep, &dpos, &rng))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: global_step %" PRId64 " is out of range", path, k);
    if (s->data_epoch != dep || s->data_micro_pos != dpos)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: data_epoch %" PRId64 " / data_micro_pos %" PRId64 " are out of range: "
                          "global_step %" PRId64 " puts the data at epoch %" PRId64 ", micro-batch %" PRId64,
                          path, s->data_epoch, s->data_micro_pos, k, dep, dpos);
    int64_t opt_steps = k; /* BAdam: the steps since the last switch */
    ct_status st = parse_badam(j, path, L, k, s, &opt_steps, err);
    if (st) return st;
    if (s->optimizer_step != opt_steps)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: optimizer_step %" PRId64 " is not %s %" PRId64, path,
                          s->optimizer_step, s->has_badam ? "the steps since BAdam's last block switch," : "global_step",
                          opt_steps);
    if (s->dropout_rng_step != rng)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: dropout_rng_step %" PRIu64 " is not the %" PRIu64
                          " micro-batches of global_step %" PRId64, path, s->dropout_rng_step, rng, k);

    /* accumulators */
    if (s->log_count < 0 || s->log_count > k)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: log_count %" PRId64 " is out of range [0, %" PRId64 "]", path,
                          s->log_count, k);
    if (!isfinite(s->log_loss_sum) || s->log_loss_sum < 0 || (s->log_count == 0 && s->log_loss_sum != 0))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: log_loss_sum %g is out of range (a sum of %" PRId64 " losses)", path,
                          s->log_loss_sum, s->log_count);
    bool gn_ok = isfinite(s->last_grad_norm) ? s->last_grad_norm >= 0 : k == 0 && isnan(s->last_grad_norm);
    if (!gn_ok)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: last_grad_norm %g is out of range (finite, >= 0)", path, s->last_grad_norm);
    int64_t most = 0;
    bool bounded = L->max_tokens_per_step > 0 && !__builtin_mul_overflow(k, L->max_tokens_per_step, &most);
    if (s->num_input_tokens_seen < 0 || (k == 0 && s->num_input_tokens_seen) || (bounded && s->num_input_tokens_seen > most))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: num_input_tokens_seen %" PRId64 " is out of range for %" PRId64 " steps",
                          path, s->num_input_tokens_seen, k);
    if (!isfinite(s->learning_rate) || s->learning_rate < 0)
        return ct_err_set(err, CT_ERR_FORMAT, "%s: learning_rate %g is out of range", path, s->learning_rate);
    if (json_object_get(j, "eval_loss") && (!isfinite(s->eval_loss) || s->eval_loss < 0))
        return ct_err_set(err, CT_ERR_FORMAT, "%s: eval_loss %g is out of range", path, s->eval_loss);
    return CT_OK;
}
