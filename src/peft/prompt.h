/* Prompt tuning (PEFT PROMPT_TUNING): num_virtual_tokens trainable embeddings [P, C] prepended to
 * every sample's input embeddings; labels are -100 there and position ids are 0..P+T-1 (PEFT
 * drops user position_ids for prompt learning, so the real tokens continue after them). */
#ifndef CT_PEFT_PROMPT_H
#define CT_PEFT_PROMPT_H

#include <stddef.h>
#include <stdint.h>

#include "ctune/err.h"
#include "model/model.h"

/* Fills P[n_virtual, C]:
 *  RANDOM: N(0, 1) (torch.nn.Embedding default init), our seeded RNG;
 *  VOCAB:  rows of the embedding at uniformly drawn token ids in [0, V) (SAMPLE_VOCAB);
 *  TEXT:   rows at `ids` repeated to cover n_virtual then truncated (PEFT TEXT init). */
ct_status ct_prompt_init_embeddings(float *P, int n_virtual, const ct_model *m, int init,
                                    const int32_t *ids, size_t n_ids, uint64_t seed, ct_err *err);

#endif
