/* See runtime.h. */
#include "train/runtime.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

bool ct_runtime_tune_env(void) {
    if (getenv("CTUNE_ENV_TUNED")) return false;
    bool changed = false;
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        changed = true;
    }
#if defined(__x86_64__) && defined(__GNUC__)
    const char *core = openblas_get_corename();
    if (!getenv("OPENBLAS_CORETYPE") && core &&
        (strcasecmp(core, "haswell") == 0 || strncasecmp(core, "zen", 3) == 0) &&
        __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl")) {
        setenv("OPENBLAS_CORETYPE", "SKYLAKEX", 1);
        changed = true;
    }
#endif
    setenv("CTUNE_ENV_TUNED", "1", 1);
    return changed;
}
