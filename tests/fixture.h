/* CTFX golden fixtures (written by the fixture scripts in tests/gen): named float64 arrays, and the
 * tiny F32 model and token batch the training fixtures describe ("config", "w.<hf name>",
 * "batch.*"). */
#ifndef CT_TESTS_FIXTURE_H
#define CT_TESTS_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "model/decoder.h"
#include "model/model.h"

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

/* Loads a fixture file (0, or -1 when unreadable or malformed). */
int fx_load(fixture *fx, const char *path);
void fx_free(fixture *fx);
/* The array `name` (NULL if absent). */
const fx_array *fx_get(const fixture *fx, const char *name);
/* A malloc'd F32 tensor from "w.<hf>" (data NULL when absent). */
ct_tensor fx_tensor(const fixture *fx, const char *hf);
/* An F32 model from "config" and the "w.*" arrays (its data is the caller's: fx_model_free). */
void fx_model(const fixture *fx, ct_model *m);
void fx_model_free(ct_model *m);
/* A malloc'd int32 copy of an array. */
int32_t *fx_ints(const fixture *fx, const char *name);
/* The "batch.*" arrays as a ct_lm_batch (B, T from "config"[14], [15]). */
void fx_batch_init(const fixture *fx, fx_batch *fb);
void fx_batch_free(fx_batch *fb);

#endif
