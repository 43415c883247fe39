/* Generation: stories260k greedy parity with llama2.c run.c (../shared/models/stories260k/
 * reference.json), logits parity, the sampler's logits processors on hand-made logits, and
 * stopping on every id of an eos_token_id list (Llama 3.1's). */
#include <stdlib.h>

#include "base/file.h"
#include "base/json.h"
#include "ctune/generate.h"
#include "harness.h"
#include "io/st_writer.h"

TEST(model_stories260k_greedy_reference) {
    const char *dir = ct_test_shared("models/stories260k");
    if (!dir) {
        ct_test_skip("../shared/models/stories260k not found (set CTUNE_SHARED)");
        return;
    }
    char mdir[1024], path[1100];
    snprintf(mdir, sizeof mdir, "%s", dir);
    snprintf(path, sizeof path, "%s/reference.json", mdir);
    ct_err err = {0};
    json_t *ref = NULL;
    CHECK_OK(ct_json_load_file(path, &ref, &err), &err);
    ct_model *m = NULL;
    CHECK_OK(ct_model_load(mdir, &m, &err), &err);
    if (!ref || !m) {
        json_decref(ref);
        ct_model_free(m);
        return;
    }
    const ct_config *c = ct_model_config(m);
    CHECK(c->tie_word_embeddings && c->num_kv_heads == 4 && c->num_heads == 8);
    size_t i;
    json_t *cs;
    size_t total = 0;
    json_array_foreach(json_object_get(ref, "cases"), i, cs) {
        json_t *pj = json_object_get(cs, "prompt_ids"), *gj = json_object_get(cs, "generated_ids");
        size_t np = json_array_size(pj), ng = json_array_size(gj);
        int32_t *prompt = malloc(np * sizeof *prompt);
        for (size_t k = 0; k < np; k++) prompt[k] = (int32_t)json_integer_value(json_array_get(pj, k));
        ct_gen_params p;
        ct_gen_params_init(&p, c);
        p.do_sample = false;
        p.max_new_tokens = (int32_t)ng;
        p.eos_ids[0] = 1; /* the model ends a story with BOS */
        p.num_eos = 1;
        ct_ids out = {0};
        ct_gen_stop why;
        CHECK_OK(ct_generate(ct_test_ctx(), m, NULL, prompt, np, &p, &out, &why, &err), &err);
        /* run.c does not print the stopping BOS; we keep it as the last id */
        size_t n = out.n;
        if (why == CT_GEN_STOP_EOS) n--;
        CHECK_MSG(n == ng, "case %zu: %zu ids, reference %zu", i, n, ng);
        size_t same = 0;
        while (same < n && same < ng &&
               out.data[same] == (int32_t)json_integer_value(json_array_get(gj, same)))
            same++;
        CHECK_MSG(same == ng, "case %zu ('%s'): first difference at generated token %zu", i,
                  json_string_value(json_object_get(cs, "prompt")), same);
        total += same;
        ct_ids_free(&out);
        free(prompt);
    }
    fprintf(stderr, "    stories260k: %zu generated tokens identical to run.c\n", total);
    /* Logits of the last position of "Once upon a time" vs run.c's float32 logits. */
    json_t *lc = json_object_get(ref, "logits_check");
    json_t *ids = json_object_get(lc, "input_ids"), *ll = json_object_get(lc, "last_position_logits");
    size_t T = json_array_size(ids), V = (size_t)c->vocab_size;
    int32_t in[64];
    for (size_t k = 0; k < T && k < 64; k++) in[k] = (int32_t)json_integer_value(json_array_get(ids, k));
    float *last = malloc(V * sizeof(float));
    CHECK_OK(ct_model_forward(ct_test_ctx(), m, NULL, NULL, in, T, NULL, NULL, last, &err), &err);
    double maxd = 0;
    for (size_t j = 0; j < V && j < json_array_size(ll); j++) {
        double d = fabs(last[j] - json_number_value(json_array_get(ll, j)));
        if (d > maxd) maxd = d;
    }
    CHECK_EQ_INT(json_array_size(ll), V);
    CHECK_MSG(maxd < 1e-4, "stories260k last-position logits differ from run.c by %.3g", maxd);
    free(last);
    json_decref(ref);
    ct_model_free(m);
}

static ct_gen_params params(void) {
    ct_gen_params p;
    ct_config c = {0};
    c.gen_temperature = 1, c.gen_top_p = 1, c.gen_repetition_penalty = 1, c.gen_top_k = 0;
    ct_gen_params_init(&p, &c);
    return p;
}

TEST(model_sample_repetition_penalty_hf_semantics) {
    ct_gen_params p = params();
    p.repetition_penalty = 2.0f;
    float l[4] = {4.0f, -1.0f, 3.0f, 0.5f};
    int32_t hist[] = {0, 1, 1};
    /* greedy after penalty: 4/2 = 2 < 3, so id 2 wins; -1 becomes -2 */
    CHECK_EQ_INT(ct_gen_sample(l, 4, &p, hist, 3, NULL), 2);
    CHECK_NEAR(l[0], 2.0, 1e-7);
    CHECK_NEAR(l[1], -2.0, 1e-7); /* applied once despite the repeated id */
    CHECK_NEAR(l[2], 3.0, 1e-7);
}

TEST(model_sample_topk_topp_and_seed) {
    /* logits ln(p) for p = .5 .3 .15 .05: top_p 0.7 keeps {0,1} (ascending cum .05,.2 <= .3 drop) */
    float base[4] = {logf(0.5f), logf(0.3f), logf(0.15f), logf(0.05f)};
    ct_gen_params p = params();
    p.do_sample = true;
    p.top_p = 0.7f;
    int counts[4] = {0};
    ct_rng rng;
    ct_rng_seed(&rng, 42);
    for (int i = 0; i < 4000; i++) {
        float l[4];
        memcpy(l, base, sizeof l);
        counts[ct_gen_sample(l, 4, &p, NULL, 0, &rng)]++;
    }
    CHECK(counts[2] == 0 && counts[3] == 0);
    CHECK_NEAR(counts[0] / 4000.0, 0.625, 0.03); /* .5/.8 after renormalisation */
    /* top_k 1 == greedy */
    p.top_p = 1.0f;
    p.top_k = 1;
    for (int i = 0; i < 50; i++) {
        float l[4];
        memcpy(l, base, sizeof l);
        CHECK_EQ_INT(ct_gen_sample(l, 4, &p, NULL, 0, &rng), 0);
    }
    /* low temperature sharpens: T=0.05 makes id 0 win essentially always */
    p.top_k = 0;
    p.temperature = 0.05f;
    int zero = 0;
    for (int i = 0; i < 200; i++) {
        float l[4];
        memcpy(l, base, sizeof l);
        zero += ct_gen_sample(l, 4, &p, NULL, 0, &rng) == 0;
    }
    CHECK(zero >= 199);
    /* same seed, same draws */
    ct_rng a, b;
    ct_rng_seed(&a, 7);
    ct_rng_seed(&b, 7);
    for (int i = 0; i < 10; i++) CHECK(ct_rng_u64(&a) == ct_rng_u64(&b));
}

static int n_cb;
static bool stop_after_3(int32_t id, void *u) {
    (void)id, (void)u;
    return ++n_cb < 3;
}

TEST(model_generate_sampled_deterministic_and_callback) {
    ct_err err = {0};
    ct_model *m = NULL;
    CHECK_OK(ct_model_load("tests/fixtures/tiny-qwen2", &m, &err), &err);
    if (!m) return;
    int32_t prompt[] = {5, 6, 7};
    ct_gen_params p;
    ct_gen_params_init(&p, ct_model_config(m));
    p.do_sample = true;
    p.temperature = 0.8f;
    p.top_p = 0.9f;
    p.top_k = 40;
    p.seed = 1234;
    p.max_new_tokens = 12;
    p.num_eos = 0;
    ct_ids a = {0}, b = {0};
    CHECK_OK(ct_generate(ct_test_ctx(), m, NULL, prompt, 3, &p, &a, NULL, &err), &err);
    CHECK_OK(ct_generate(ct_test_ctx(), m, NULL, prompt, 3, &p, &b, NULL, &err), &err);
    CHECK_EQ_INT(a.n, 12);
    CHECK(a.n == b.n && memcmp(a.data, b.data, a.n * sizeof(int32_t)) == 0);
    /* the first id is an eos id: generation stops right after it */
    p.eos_ids[0] = a.data[0];
    p.num_eos = 1;
    ct_ids c = {0};
    ct_gen_stop why;
    CHECK_OK(ct_generate(ct_test_ctx(), m, NULL, prompt, 3, &p, &c, &why, &err), &err);
    CHECK(c.n == 1 && why == CT_GEN_STOP_EOS);
    p.num_eos = 0;
    p.on_token = stop_after_3;
    ct_ids d = {0};
    CHECK_OK(ct_generate(ct_test_ctx(), m, NULL, prompt, 3, &p, &d, &why, &err), &err);
    CHECK(d.n == 3 && why == CT_GEN_STOP_CALLBACK);
    /* stop strings without a tokenizer are refused */
    const char *stops[] = {"x"};
    p.stop_strings = stops;
    p.num_stop = 1;
    CHECK(ct_generate(ct_test_ctx(), m, NULL, prompt, 3, &p, &d, &why, &err) == CT_ERR_ARG);
    CHECK(ct_generate(ct_test_ctx(), m, NULL, prompt, 0, &p, &d, &why, &err) == CT_ERR_ARG);
    ct_ids_free(&a), ct_ids_free(&b), ct_ids_free(&c), ct_ids_free(&d);
    ct_model_free(m);
}

/* A Llama with Llama 3's vocabulary (128,256 ids) whose greedy choice is always `next`: every
 * embedding is all ones, the layer's projections are zero (the residual stream stays ones) and
 * lm_head's only non-zero row is `next`. */
static void write_constant_llama(const char *dir, int32_t next, const char *config, const char *gen_config) {
    enum { V = 128256, H = 4 };
    ct_err err = {0};
    CHECK_OK(ct_mkdir_p(dir, &err), &err);
    char path[1200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK_OK(ct_write_file_atomic(path, config, strlen(config), &err), &err);
    snprintf(path, sizeof path, "%s/generation_config.json", dir);
    remove(path);
    if (gen_config) CHECK_OK(ct_write_file_atomic(path, gen_config, strlen(gen_config), &err), &err);
    float *emb = malloc((size_t)V * H * sizeof(float)), *head = calloc((size_t)V * H, sizeof(float));
    float ones[H] = {1, 1, 1, 1}, zeros[H * H] = {0};
    for (size_t i = 0; i < (size_t)V * H; i++) emb[i] = 1.0f;
    for (int j = 0; j < H; j++) head[(size_t)next * H + j] = 1.0f;
    const char *square[] = {"model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.weight",
                            "model.layers.0.self_attn.v_proj.weight", "model.layers.0.self_attn.o_proj.weight",
                            "model.layers.0.mlp.gate_proj.weight",    "model.layers.0.mlp.up_proj.weight",
                            "model.layers.0.mlp.down_proj.weight"};
    const char *norms[] = {"model.layers.0.input_layernorm.weight", "model.layers.0.post_attention_layernorm.weight",
                           "model.norm.weight"};
    ct_st_item items[12];
    size_t n = 0;
    items[n++] = ct_st_item_of("model.embed_tokens.weight", (ct_tensor){CT_DTYPE_F32, 2, {V, H}, emb, NULL});
    items[n++] = ct_st_item_of("lm_head.weight", (ct_tensor){CT_DTYPE_F32, 2, {V, H}, head, NULL});
    for (int i = 0; i < 7; i++) items[n++] = ct_st_item_of(square[i], (ct_tensor){CT_DTYPE_F32, 2, {H, H}, zeros, NULL});
    for (int i = 0; i < 3; i++) items[n++] = ct_st_item_of(norms[i], (ct_tensor){CT_DTYPE_F32, 1, {H}, ones, NULL});
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK_OK(ct_st_write(path, items, n, CT_ST_META_PT, &err), &err);
    free(emb);
    free(head);
}

#define LLAMA31_CONFIG(EOS)                                                                                   \
    "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", \"vocab_size\": 128256, "         \
    "\"hidden_size\": 4, \"intermediate_size\": 4, \"num_hidden_layers\": 1, \"num_attention_heads\": 1, "   \
    "\"num_key_value_heads\": 1, \"max_position_embeddings\": 64, \"rms_norm_eps\": 1e-05, "                 \
    "\"rope_theta\": 500000.0, \"tie_word_embeddings\": false, \"bos_token_id\": 128000, "                  \
    "\"eos_token_id\": " EOS ", \"torch_dtype\": \"float32\"}"

/* Llama 3.1 ships eos_token_id [128001, 128008, 128009] (<|end_of_text|>, <|eom_id|>, <|eot_id|>)
 * in config.json and generation_config.json: generation stops on each of them, the stopping id
 * kept as the last one (HF keeps it too); another id (128000) runs to max_new_tokens. */
TEST(model_generate_stops_on_each_eos_of_a_list) {
    const char *list = "[128001, 128008, 128009]";
    const char *gen_list = "{\"eos_token_id\": [128001, 128008, 128009], \"do_sample\": false}";
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/llama31-eos", ct_test_tmpdir());
    const int32_t nexts[] = {128001, 128008, 128009, 128000};
    for (int variant = 0; variant < 2; variant++) { /* the list in config.json; in generation_config.json */
        for (int k = 0; k < 4; k++) {
            if (variant == 0) write_constant_llama(dir, nexts[k], LLAMA31_CONFIG("[128001, 128008, 128009]"), NULL);
            else write_constant_llama(dir, nexts[k], LLAMA31_CONFIG("128001"), gen_list);
            ct_err err = {0};
            ct_model *m = NULL;
            CHECK_OK(ct_model_load(dir, &m, &err), &err);
            if (!m) return;
            const ct_config *c = ct_model_config(m);
            CHECK_MSG(c->num_eos == 3 && c->eos_token_ids[0] == 128001 && c->eos_token_ids[1] == 128008 &&
                          c->eos_token_ids[2] == 128009,
                      "variant %d: eos ids %d of %s", variant, c->num_eos, list);
            ct_gen_params p;
            ct_gen_params_init(&p, c);
            p.do_sample = false;
            p.max_new_tokens = 5;
            int32_t prompt[] = {128000, 9906};
            ct_ids out = {0};
            ct_gen_stop why;
            CHECK_OK(ct_generate(ct_test_ctx(), m, NULL, prompt, 2, &p, &out, &why, &err), &err);
            if (k < 3) {
                CHECK_MSG(out.n == 1 && out.data[0] == nexts[k] && why == CT_GEN_STOP_EOS,
                          "variant %d, next %d: %zu ids, stop %d", variant, nexts[k], out.n, (int)why);
            } else {
                CHECK_MSG(out.n == 5 && out.data[4] == 128000 && why == CT_GEN_STOP_LENGTH,
                          "variant %d, next %d: %zu ids, stop %d", variant, nexts[k], out.n, (int)why);
            }
            ct_ids_free(&out);
            ct_model_free(m);
        }
    }
}
