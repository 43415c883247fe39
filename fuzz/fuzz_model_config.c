/* config.json (+ generation_config.json) of a model directory. Input: byte 0 picks the weights
 * (tiny-llama / tiny-qwen2 / tiny-qwen3 fixture, symlinked), then config.json, then optionally
 * a NUL byte and generation_config.json. ct_config_load and ct_model_load must accept or refuse
 * cleanly; an accepted model must run a 3-token NLL (config values reaching the kernels). */
#include <omp.h>

#include "ctune/model.h"
#include "fuzz_util.h"

static const char *const kWeights[] = {"tiny-llama", "tiny-qwen2", "tiny-qwen3"};

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    static char cwd[512];
    if (!cwd[0]) {
        omp_set_num_threads(1);
        if (!getcwd(cwd, sizeof cwd)) abort();
    }
    if (n < 1) return 0;
    char dir[600];
    snprintf(dir, sizeof dir, "%s/m%u", fz_dir(), d[0] % 3u);
    char p[700], w[700];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (access(p, F_OK) != 0) {
        if (mkdir(dir, 0755) && errno != EEXIST) abort();
        snprintf(w, sizeof w, "%s/tests/fixtures/%s/model.safetensors", cwd, kWeights[d[0] % 3u]);
        if (symlink(w, p)) abort();
    }
    d++, n--;
    const uint8_t *nul = memchr(d, 0, n);
    size_t n_cfg = nul ? (size_t)(nul - d) : n;
    snprintf(p, sizeof p, "%s/config.json", dir);
    fz_write(p, d, n_cfg);
    snprintf(p, sizeof p, "%s/generation_config.json", dir);
    if (nul)
        fz_write(p, nul + 1, n - n_cfg - 1);
    else
        unlink(p);

    ct_err err = {0};
    ct_config cfg;
    ct_status st = ct_config_load(dir, &cfg, &err);
    fz_check_err(st, &err);
    if (st) return 0;
    ct_model *m = NULL;
    st = ct_model_load(dir, &m, &err);
    fz_check_err(st, &err);
    if (st) return 0;
    const ct_config *c = ct_model_config(m);
    int32_t ids[3] = {1 % c->vocab_size, 2 % c->vocab_size, 0};
    double nll = 0;
    size_t np = 0;
    static ct_ctx *ctx;
    if (!ctx) ct_ctx_new(&ctx, 1, NULL);
    st = ct_model_nll(ctx, m, NULL, ids, 3, &nll, &np, &err);
    fz_check_err(st, &err);
    ct_model_free(m);
    return 0;
}
