/* Training YAML (LlamaFactory keys) through ct_train_config_load, then validate, the
 * interleave probabilities, and a dotted override. Errors name the file. */
#include "ctune/config.h"
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
        char *argv[] = {"--learning_rate", "1e-4", "--dataset", "a,b"};
        st = ct_train_config_apply_args(&c, 4, argv, &err);
        fz_check_err(st, &err);
    }
    ct_train_config_free(&c);
    return 0;
}
