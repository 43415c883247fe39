/* Training YAML (LlamaFactory keys) through ct_train_config_load, then validate, the
 * interleave probabilities and overrides in every command-line style; the same file as an
 * inference / export YAML (ct_infer_config). Errors name the file. */
#include "ctune/config.h"
#include "ctune/infer_config.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    const char *path = fz_path(0, "train.yaml");
    fz_write(path, d, n);
    ct_train_config c;
    ct_train_config_init(&c);
    ct_err err = {0};
    ct_status st = ct_train_config_load(&c, path, &err);
    fz_check_err(st, &err);
    if (st && !strstr(err.msg, "train.yaml")) {
        fprintf(stderr, "error does not name the file: %s\n", err.msg);
        abort();
    }
    if (st == CT_OK) {
        st = ct_train_config_validate(&c, &err);
        fz_check_err(st, &err);
        double *p = NULL;
        size_t np = 0;
        st = ct_train_config_probs(&c, &p, &np, &err);
        fz_check_err(st, &err);
        free(p);
        char *argv[] = {"--learning_rate", "1e-4", "--dataset", "a,b", "--plot_loss", "max_steps=3", "--do_train"};
        st = ct_train_config_apply_args(&c, 7, argv, &err);
        fz_check_err(st, &err);
        free(ct_train_config_ignored_line(&c));
    }
    ct_train_config_free(&c);
    ct_infer_config ic;
    ct_infer_config_init(&ic);
    st = ct_infer_config_load(&ic, path, &err);
    fz_check_err(st, &err);
    if (st && !strstr(err.msg, "train.yaml")) {
        fprintf(stderr, "error does not name the file: %s\n", err.msg);
        abort();
    }
    if (st == CT_OK) {
        for (int use = 0; use < 2; use++) {
            fz_check_err(ct_infer_config_validate(&ic, (ct_infer_use)use, &err), &err);
            free(ct_infer_config_notes(&ic, (ct_infer_use)use));
        }
    }
    ct_infer_config_free(&ic);
    return 0;
}
