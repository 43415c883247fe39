/* Prompt-tuning embedding init (see prompt.h). */
#include "peft/prompt.h"

#include "peft/method.h"
#include "base/rng.h"

ct_status ct_prompt_init_embeddings(float *P, int n_virtual, const ct_model *m, int init,
                                    const int32_t *ids, size_t n_ids, uint64_t seed, ct_err *err) {
    size_t C = (size_t)m->cfg.hidden_size, V = (size_t)m->cfg.vocab_size;
    const uint64_t stream = 0x70726f6d7074ull; /* "prompt" */
    if (init == CT_PROMPT_INIT_RANDOM) {
        for (size_t i = 0; i < (size_t)n_virtual * C; i++) P[i] = (float)ct_rng_normal(seed, stream, i);
        return CT_OK;
    }
    if (init == CT_PROMPT_INIT_TEXT && (!ids || n_ids == 0))
        return ct_err_set(err, CT_ERR_ARG, "prompt_tuning_init: text needs a non-empty prompt_tuning_init_text");
    for (int i = 0; i < n_virtual; i++) {
        int64_t id;
        if (init == CT_PROMPT_INIT_VOCAB)
            id = (int64_t)(ct_rng_uniform(seed, stream, (uint64_t)i) * (double)V);
        else
            id = ids[(size_t)i % n_ids];
        if (id < 0 || (size_t)id >= V)
            return ct_err_set(err, CT_ERR_ARG, "prompt_tuning_init_text: token id %lld outside vocab %zu",
                              (long long)id, V);
        ct_tensor_to_f32(&m->w.g[CT_GT_EMBED], (size_t)id * C, C, P + (size_t)i * C);
    }
    return CT_OK;
}
