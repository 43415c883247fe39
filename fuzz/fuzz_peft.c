/* PEFT adapter directory: adapter_config.json, a NUL byte, adapter_model.safetensors.
 * ct_peft_load must accept or refuse cleanly; an accepted LoRA adapter's A/B matrices are read
 * in full with the shapes it reports. */
#include "fuzz_util.h"
#include "peft/peft_io.h"

static volatile float sink;

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) {
    const uint8_t *nul = memchr(d, 0, n);
    size_t nc = nul ? (size_t)(nul - d) : n;
    fz_write(fz_path(0, "adapter_config.json"), d, nc);
    if (nul)
        fz_write(fz_path(1, "adapter_model.safetensors"), nul + 1, n - nc - 1);
    else
        unlink(fz_path(1, "adapter_model.safetensors"));
    ct_peft_adapter a;
    ct_err err = {0};
    ct_status st = ct_peft_load(fz_dir(), &a, &err);
    fz_check_err(st, &err);
    if (st) return 0;
    float x = 0;
    for (size_t i = 0; i < a.n_lora; i++) {
        const ct_peft_lora_tensors *t = &a.lora[i];
        size_t na = (size_t)t->r * (size_t)t->in, nb = (size_t)t->out * (size_t)t->r;
        for (size_t k = 0; k < na; k++) x += t->A[k];
        for (size_t k = 0; k < nb; k++) x += t->B[k];
        if (ct_peft_find_lora(&a, t->layer, t->module) == NULL) abort();
    }
    for (int64_t k = 0; a.prompt_embeddings && k < a.num_virtual_tokens * a.token_dim; k++) x += a.prompt_embeddings[k];
    sink = x + (float)ct_peft_lora_scaling(&a);
    ct_peft_free(&a);
    return 0;
}
