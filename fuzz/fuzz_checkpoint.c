/* Checkpoint directory output/checkpoint-7: ctune_checkpoint.json (manifest), a NUL byte,
 * trainer_state.json. The directory also holds a fixed 5-byte file "a.bin". Verify, restore
 * (state only), list and find-latest must accept or refuse cleanly. */
#include "fuzz_util.h"
#include "train/checkpoint.h"

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
    return 0;
}
