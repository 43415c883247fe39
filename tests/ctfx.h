/* The CTFX golden files of tests/gen/make_*_fixtures.py (named float64 arrays) and the tiny
 * F32 models and batches built from them: shared by the golden gradient tests
 * (test_grad_golden.c, test_peft_golden.c). */
#ifndef CT_TESTS_CTFX_H
#define CT_TESTS_CTFX_H

#include <stddef.h>
#include <stdint.h>

#include "model/decoder.h"
#include "model/model.h"
#include "peft/method.h"

typedef struct fx_array {
    char name[200];
    int ndim;
    uint64_t dims[4];
    size_t n;
    const double *data; /* into the file buffer (8-byte aligned copy) */
} fx_array;

typedef struct fixture {
    char *buf;
    double *aligned;
    fx_array *a;
    size_t n;
} fixture;

typedef struct fx_batch {
    int32_t *ids, *lab, *pos, *seg;
    ct_lm_batch b;
} fx_batch;

/* Loads path ("CTFX", u32 version 1, u32 count, then named arrays); 0 on success. */
int fx_load(fixture *fx, const char *path);
void fx_free(fixture *fx);
/* The array named name, or NULL. */
const fx_array *fx_get(const fixture *fx, const char *name);
/* An F32 tensor (malloc'd data) from the array "w.<hf>" (data NULL when absent). */
ct_tensor fx_tensor(const fixture *fx, const char *hf);
/* An F32 model from the fixture's "config" and "w.*" arrays (free with fx_model_free). */
void fx_model(const fixture *fx, ct_model *m);
void fx_model_free(ct_model *m);
/* The array as int32 (malloc'd). */
int32_t *fx_ints(const fixture *fx, const char *name);
/* The fixture's batch ("batch.*"). */
void fx_batch_init(const fixture *fx, fx_batch *fb);
void fx_batch_free(fx_batch *fb);
/* Copies "lora_init.<name>" into every registered parameter (failing the test when absent). */
void fx_set_lora(const fixture *fx, ct_train_model *tm);
/* Compares every registered gradient with "<prefix><name>" (relative to the largest reference
 * value); returns the worst relative error. */
double fx_compare_grads(const fixture *fx, ct_train_model *tm, const char *prefix, double tol);

#endif
