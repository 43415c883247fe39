/* ct_model_pack_decode (src/model/decode_pack.c): the weights moved into one buffer in decode
 * order change no value (the same logits, bit for bit, through decode and a full forward), lie in
 * that order (each layer's mixer, then its MLP, the layers in order, then the head), keep a tied
 * head tied, leave bitsandbytes-bound weights in place; a second call changes nothing. On the tiny
 * fixtures (Llama, Qwen2 with a tied head, Qwen3, Qwen3.5 with DeltaNet layers), quantized on load
 * to Q8_0 / Q4_0 / bitsandbytes 8-bit, and the pre-quantized bnb-4bit checkpoint. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ctune/model.h"
#include "decode_util.h"
#include "harness.h"
#include "model/model.h"

enum { GEN = 8 };

static bool is_mlp(int id) {
    return id == CT_LT_MLP_NORM || id == CT_LT_GATE || id == CT_LT_UP || id == CT_LT_DOWN || id == CT_LT_B_GATE ||
           id == CT_LT_B_UP || id == CT_LT_B_DOWN;
}

/* The views of m in the order decode reads them: addresses strictly increasing from the buffer's
 * start, except bitsandbytes-bound ones, which must still be at bound[l * CT_LT_COUNT + id]. */
static void check_order(const ct_model *m, void *const *bound, const char *name) {
    const char *last = (const char *)m->packed - 1;
    const ct_weights *w = &m->w;
    for (int l = 0; l < w->n_layers; l++)
        for (int mlp = 0; mlp < 2; mlp++)
            for (int id = 0; id < CT_LT_COUNT; id++) {
                const ct_tensor *t = &w->layers[l].t[id];
                if (is_mlp(id) != (bool)mlp || !t->data) continue;
                if (t->quant) {
                    CHECK_MSG(t->data == bound[l * CT_LT_COUNT + id], "%s: a bitsandbytes-bound weight was moved",
                              name);
                    continue;
                }
                CHECK_MSG((const char *)t->data > last, "%s: layer %d tensor %d is not after the one read before it",
                          name, l, id);
                last = t->data;
            }
    const ct_tensor *head = &m->w.g[CT_GT_LM_HEAD];
    if (!head->quant) CHECK_MSG((const char *)head->data > last, "%s: the head is not after the layers", name);
}

static void check_dir(const char *dir, const ct_quant_opts *q, const char *name) {
    ct_err err = {0};
    ct_model *a = NULL, *b = NULL;
    CHECK_OK(ct_model_load(ct_test_path(dir), &a, &err), &err);
    CHECK_OK(ct_model_load(ct_test_path(dir), &b, &err), &err);
    if (!a || !b) goto out;
    if (q) {
        CHECK_OK(ct_model_quantize(a, q, &err), &err);
        CHECK_OK(ct_model_quantize(b, q, &err), &err);
    }
    bool tied = ct_weights_tied(&b->w);
    int L = b->w.n_layers;
    void **bound = calloc((size_t)L * CT_LT_COUNT + 1, sizeof *bound);
    for (int l = 0; l < L; l++)
        for (int id = 0; id < CT_LT_COUNT; id++) bound[l * CT_LT_COUNT + id] = b->w.layers[l].t[id].data;
    CHECK_OK(ct_model_pack_decode(b, &err), &err);
    REQUIRE(b->packed);
    check_order(b, bound, name);
    free(bound);
    CHECK_MSG(ct_weights_tied(&b->w) == tied, "%s: the tied head was untied", name);
    void *buf = b->packed;
    const void *q0 = b->w.layers[0].t[CT_LT_GATE].data;
    CHECK_OK(ct_model_pack_decode(b, &err), &err); /* once per model */
    CHECK(b->packed == buf && b->w.layers[0].t[CT_LT_GATE].data == q0);
    ct_ctx *c = NULL;
    CHECK_OK(ct_ctx_new(&c, 2, &err), &err);
    REQUIRE(c);
    size_t V = (size_t)ct_model_config(a)->vocab_size;
    float *la = malloc(GEN * V * sizeof(float)), *lb = malloc(GEN * V * sizeof(float));
    int32_t oa[GEN], ob[GEN], p[32];
    decode_greedy(c, a, 2, GEN, oa, la);
    decode_greedy(c, b, 2, GEN, ob, lb);
    CHECK_MSG(!memcmp(la, lb, GEN * V * sizeof(float)), "%s: decode logits changed by the packing", name);
    size_t n = decode_prompt(p, 5, V); /* a full forward: every position's logits */
    float *fa = malloc(n * V * sizeof(float)), *fb = malloc(n * V * sizeof(float));
    CHECK_OK(ct_model_forward(c, a, NULL, NULL, p, n, NULL, fa, NULL, &err), &err);
    CHECK_OK(ct_model_forward(c, b, NULL, NULL, p, n, NULL, fb, NULL, &err), &err);
    CHECK_MSG(!memcmp(fa, fb, n * V * sizeof(float)), "%s: forward logits changed by the packing", name);
    free(fa), free(fb), free(la), free(lb);
    ct_ctx_free(c);
out:
    ct_model_free(a);
    ct_model_free(b);
}

TEST(decode_pack_same_values_in_decode_order) {
    static const char *dirs[] = {"tests/fixtures/tiny-llama-bf16", "tests/fixtures/tiny-qwen2-bf16",
                                 "tests/fixtures/tiny-qwen2-f16", "tests/fixtures/tiny-qwen3-bf16",
                                 "tests/fixtures/tiny-qwen3_5"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) check_dir(dirs[i], NULL, dirs[i]);
    ct_quant_opts q8 = {.format = CT_QUANT_Q8_0}, q4 = {.format = CT_QUANT_Q4_0}, b8 = {.bits = 8};
    check_dir("tests/fixtures/tiny-qwen2-bf16", &q8, "tiny-qwen2-bf16 q8_0");
    check_dir("tests/fixtures/tiny-qwen3-bf16", &q4, "tiny-qwen3-bf16 q4_0");
    check_dir("tests/fixtures/tiny-llama-bf16", &b8, "tiny-llama-bf16 bnb 8-bit");
    check_dir("tests/fixtures/tiny-llama-bnb-4bit", NULL, "tiny-llama-bnb-4bit");
}
