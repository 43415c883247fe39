/* Process environment the CPU training kernels need. libgomp and OpenBLAS read their settings
 * when they are loaded, before main(), so a program applies these by re-executing itself:
 *     if (ct_runtime_tune_env()) execv("/proc/self/exe", argv);
 * - OMP_WAIT_POLICY=PASSIVE (unless set): libgomp's default spin-wait after each parallel
 *   region starves OpenBLAS's own pthreads; a LoRA step measured 20x slower without it.
 * - OPENBLAS_CORETYPE=SKYLAKEX (unless set) when OpenBLAS picked an AVX2 kernel (Haswell/Zen)
 *   on a CPU with AVX-512 F/BW/DQ/VL: OpenBLAS 0.3.21 does not know AMD Zen 4 and runs its
 *   Haswell sgemm (measured 260 vs 474 GFLOP/s on 2 cores).
 * CTUNE_ENV_TUNED=1 is set as well so the re-executed process does not loop. */
#ifndef CT_TRAIN_RUNTIME_H
#define CT_TRAIN_RUNTIME_H

#include <stdbool.h>

/* Returns true when it changed the environment (the caller should re-exec). */
bool ct_runtime_tune_env(void);

#endif
