/* Checkpoint directory output/checkpoint-7: ctune_checkpoint.json (manifest), a NUL byte,
 * trainer_state.json. The directory also holds a fixed 5-byte file "a.bin". Verify, restore
 * (state only), list and find-latest must accept or refuse cleanly. The state is then read as
 * the trainer reads it on resume (ct_trainer_state_parse, against the layout of the memo set at
 * batch 2 x 2 accumulation, 40 steps), once as a LoRA run and once as a full use_badam run (8
 * blocks, ascending, a switch every 2 steps): an accepted state must be in range, and writing it
 * back and reading it again must give the same state bit for bit. */
#include <math.h>
#include <stdbool.h>

#include "fuzz_util.h"
#include "train/checkpoint.h"
#include "train/trainer_state.h"

static void check_against(const json_t *j, const ct_trainer_layout *lp) {
    const ct_trainer_layout L = *lp;
    ct_err err = {0};
    ct_trainer_state s, back;
    ct_status st = ct_trainer_state_parse(j, "trainer_state.json", &L, &s, &err);
    fz_check_err(st, &err);
    if (st) return;
    bool opt_ok = L.badam ? s.has_badam && s.optimizer_step >= 0 && s.optimizer_step <= s.global_step &&
                                s.badam.step == s.global_step && s.badam.active >= 0 && s.badam.active < L.badam->n_blocks
                          : !s.has_badam && s.optimizer_step == s.global_step;
    bool in_range = s.global_step >= 0 && s.global_step <= L.total_steps && s.data_epoch >= 0 &&
                    s.data_micro_pos >= 0 && (size_t)s.data_micro_pos <= L.n_micro && opt_ok &&
                    isfinite(s.log_loss_sum) && s.log_loss_sum >= 0 && s.log_count >= 0 &&
                    s.log_count <= s.global_step && (isnan(s.last_grad_norm) ? s.global_step == 0 : s.last_grad_norm >= 0) &&
                    s.num_input_tokens_seen >= 0 && s.num_input_tokens_seen <= s.global_step * L.max_tokens_per_step;
    if (!in_range) {
        fprintf(stderr, "fuzz: trainer state accepted out of range (step %lld)\n", (long long)s.global_step);
        abort();
    }
    json_t *w = ct_trainer_state_json(&s);
    if (!w) abort();
    st = ct_trainer_state_parse(w, "rewritten", &L, &back, &err);
    json_decref(w);
    if (st || memcmp(&s, &back, sizeof s)) {
        fprintf(stderr, "fuzz: trainer state does not survive a write and read: %s\n", st ? err.msg : "differs");
        abort();
    }
}

static void check_trainer_state(const uint8_t *d, size_t n) {
    static const ct_trainer_layout L = {.total_steps = 40, .steps_per_epoch = 2, .n_micro = 3, .GA = 2, .rows = 6,
                                        .seed = 42, .finetuning_type = "lora", .trainable_params = 46240,
                                        .max_tokens_per_step = 256};
    static ct_badam b0;
    static ct_trainer_layout Lb;
    if (!Lb.badam) {
        if (ct_badam_init(&b0, 8, CT_BADAM_ASCENDING, 2, -1, 42, NULL)) abort();
        Lb = L;
        Lb.finetuning_type = "full";
        Lb.badam = &b0;
    }
    json_error_t je;
    json_t *j = json_loadb((const char *)d, n, JSON_DECODE_ANY, &je);
    if (!j) return;
    check_against(j, &L);
    check_against(j, &Lb);
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    static char out[600], ck[700];
    if (!out[0]) {
        snprintf(out, sizeof out, "%s/output", fz_dir());
        snprintf(ck, sizeof ck, "%s/checkpoint-7", out);
        mkdir(out, 0755);
        mkdir(ck, 0755);
        char p[800];
        snprintf(p, sizeof p, "%s/a.bin", ck);
        fz_write(p, "hello", 5);
    }
    const uint8_t *nul = memchr(d, 0, n);
    size_t nm = nul ? (size_t)(nul - d) : n;
    char p[800];
    snprintf(p, sizeof p, "%s/%s", ck, CT_CKPT_MANIFEST);
    fz_write(p, d, nm);
    snprintf(p, sizeof p, "%s/%s", ck, CT_CKPT_STATE);
    if (nul)
        fz_write(p, nul + 1, n - nm - 1);
    else
        unlink(p);
    ct_err err = {0};
    ct_status st = ct_ckpt_verify(ck, &err);
    fz_check_err(st, &err);
    json_t *state = NULL;
    st = ct_ckpt_restore(ck, NULL, 0, &state, &err);
    fz_check_err(st, &err);
    json_decref(state);
    int64_t *steps = NULL;
    size_t ns = 0;
    st = ct_ckpt_list(out, &steps, &ns, &err);
    fz_check_err(st, &err);
    free(steps);
    char *latest = NULL;
    int64_t step = -1;
    st = ct_ckpt_find_latest(out, &latest, &step, &err);
    fz_check_err(st, &err);
    free(latest);
    if (nul) check_trainer_state(nul + 1, n - nm - 1);
    return 0;
}
