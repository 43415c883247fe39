/* Internal model definition shared by inference (src/model) and training (src/train, src/peft). */
#ifndef CT_MODEL_MODEL_H
#define CT_MODEL_MODEL_H

#include "ctune/model.h"

struct ct_model {
    ct_config cfg;
    ct_weights w;
    char *dir;        /* model directory (NULL for in-memory models) */
    void *storage;    /* loader-owned: mmaps of safetensors files, or malloc'd weights */
};

#endif
