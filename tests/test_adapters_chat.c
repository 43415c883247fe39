/* Chat sessions (ct_chat) and the answer display splitter. The session tests use the Qwen3
 * tokenizer from ../shared/tokenizers/qwen3 with a tiny random Qwen3-shaped model of the same
 * vocabulary built in memory (skipped when ../shared is absent). */
#include <stdlib.h>

#include "base/file.h"
#include "base/json.h"
#include "ctune/chat.h"
#include "harness.h"
#include "peft/peft_io.h"
#include "model/model.h"

/* ---- splitter ---- */

typedef struct spans {
    char buf[1024];
    size_t n;
} spans;

static void record(ct_chat_span kind, const char *text, size_t len, void *user) {
    spans *s = user;
    static const char *tag[] = {"T", "R", "C"};
    s->n += (size_t)snprintf(s->buf + s->n, sizeof s->buf - s->n, "%s[%.*s]", tag[kind], (int)len, text);
}

/* Feeds `full` in growing prefixes of `step` bytes, then once more as final. */
static void split(const char *full, size_t step, spans *out) {
    ct_chat_splitter sp;
    ct_chat_splitter_init(&sp);
    out->n = 0;
    out->buf[0] = 0;
    size_t n = strlen(full);
    for (size_t k = step; k < n; k += step) ct_chat_splitter_feed(&sp, full, k, false, record, out);
    ct_chat_splitter_feed(&sp, full, n, true, record, out);
}

/* Concatenates consecutive spans of one kind so chunking does not matter. */
static void merged(const char *full, size_t step, char *dst, size_t cap) {
    spans s;
    split(full, step, &s);
    size_t o = 0;
    char last = 0;
    for (size_t i = 0; i < s.n;) {
        char kind = s.buf[i];
        size_t j = i + 2, depth = 1;
        while (j < s.n && depth) { /* find the matching ']' (bodies here have no brackets) */
            if (s.buf[j] == ']') depth--;
            if (depth) j++;
        }
        if (kind != last || kind == 'C') {
            if (last) o += (size_t)snprintf(dst + o, cap - o, "]");
            o += (size_t)snprintf(dst + o, cap - o, "%c[", kind);
        }
        o += (size_t)snprintf(dst + o, cap - o, "%.*s", (int)(j - i - 2), s.buf + i + 2);
        last = kind;
        i = j + 1;
    }
    if (last) snprintf(dst + o, cap - o, "]");
}

TEST(adapters_chat_splitter_think_and_tool_calls) {
    const char *ans = "<think>\nplan it\n</think>\n\nHello <b>x</b> "
                      "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call> done";
    const char *want = "R[\nplan it\n]T[\n\nHello <b>x</b> ]C[{\"name\": \"f\", \"arguments\": "
                       "{\"a\": 1}}]T[ done]";
    char got[1024];
    for (size_t step = 1; step <= 9; step++) { /* every chunking gives the same spans */
        merged(ans, step, got, sizeof got);
        CHECK_MSG(!strcmp(got, want), "step %zu: %s", step, got);
    }
    /* an unclosed think block is flushed at the end; a lone '<' is text */
    merged("a < b <thi", 3, got, sizeof got);
    CHECK_STREQ(got, "T[a < b <thi]");
    merged("<think>still thinking", 4, got, sizeof got);
    CHECK_STREQ(got, "R[still thinking]");
    merged("<tool_call>{\"name\": \"g\"}", 5, got, sizeof got);
    CHECK_STREQ(got, "C[{\"name\": \"g\"}]");
}

/* ---- sessions ---- */

static float frand(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(*s >> 11) / 9007199254740992.0) * 2.0f - 1.0f;
}

static ct_tensor rand_tensor(int64_t d0, int64_t d1, float scale, float offset, uint64_t *seed) {
    size_t n = (size_t)(d0 * (d1 ? d1 : 1));
    float *f = malloc(n * sizeof *f);
    for (size_t i = 0; i < n; i++) f[i] = offset + scale * frand(seed);
    ct_tensor t = {.dtype = CT_DTYPE_F32, .ndim = d1 ? 2 : 1, .shape = {d0, d1}, .data = f};
    return t;
}

/* A random Qwen3-shaped model in memory: V from the tokenizer, C 16, 2 layers, GQA 2/1, tied. */
static ct_model *tiny_qwen3(int32_t V) {
    ct_model *m = calloc(1, sizeof *m);
    ct_config *c = &m->cfg;
    c->arch = CT_ARCH_QWEN3;
    snprintf(c->model_type, sizeof c->model_type, "qwen3");
    c->hidden_size = 16, c->intermediate_size = 32, c->num_layers = 2, c->num_heads = 2;
    c->num_kv_heads = 1, c->head_dim = 8, c->vocab_size = V, c->max_position_embeddings = 4096;
    c->rms_norm_eps = 1e-6, c->rope_theta = 1e6, c->tie_word_embeddings = true, c->qk_norm = true;
    c->dtype = CT_DTYPE_F32, c->bos_token_id = -1, c->pad_token_id = -1, c->num_eos = 0;
    c->gen_temperature = 1, c->gen_top_k = 50, c->gen_top_p = 1, c->gen_repetition_penalty = 1;
    uint64_t s = 99;
    int64_t C = 16, I = 32, Q = 16, KV = 8;
    m->w.g[CT_GT_EMBED] = rand_tensor(V, C, 1.0f, 0, &s);
    m->w.g[CT_GT_FINAL_NORM] = rand_tensor(C, 0, 0.1f, 1, &s);
    m->w.g[CT_GT_LM_HEAD] = m->w.g[CT_GT_EMBED];
    m->w.layers = calloc(2, sizeof *m->w.layers);
    m->w.n_layers = 2;
    for (int l = 0; l < 2; l++) {
        ct_tensor *w = m->w.layers[l].t;
        w[CT_LT_ATTN_NORM] = rand_tensor(C, 0, 0.1f, 1, &s);
        w[CT_LT_MLP_NORM] = rand_tensor(C, 0, 0.1f, 1, &s);
        w[CT_LT_Q_NORM] = rand_tensor(8, 0, 0.1f, 1, &s);
        w[CT_LT_K_NORM] = rand_tensor(8, 0, 0.1f, 1, &s);
        w[CT_LT_WQ] = rand_tensor(Q, C, 0.4f, 0, &s);
        w[CT_LT_WK] = rand_tensor(KV, C, 0.4f, 0, &s);
        w[CT_LT_WV] = rand_tensor(KV, C, 0.4f, 0, &s);
        w[CT_LT_WO] = rand_tensor(C, Q, 0.4f, 0, &s);
        w[CT_LT_GATE] = rand_tensor(I, C, 0.4f, 0, &s);
        w[CT_LT_UP] = rand_tensor(I, C, 0.4f, 0, &s);
        w[CT_LT_DOWN] = rand_tensor(C, I, 0.4f, 0, &s);
    }
    return m;
}

static void tiny_free(ct_model *m) {
    if (!m) return;
    free(m->w.g[CT_GT_EMBED].data);
    free(m->w.g[CT_GT_FINAL_NORM].data);
    for (int l = 0; l < 2; l++)
        for (int i = 0; i < CT_LT_COUNT; i++) free(m->w.layers[l].t[i].data);
    ct_model_free(m); /* storage NULL: frees layers and m only */
}

static ct_chat_opts greedy_opts(const ct_model *m, bool no_reuse) {
    ct_chat_opts o = {.system = "You are terse.", .enable_thinking = CT_THINK_FALSE, .no_cache_reuse = no_reuse};
    ct_gen_params_init(&o.gen, ct_model_config(m));
    o.gen.do_sample = false;
    o.gen.max_new_tokens = 8;
    return o;
}

static const char *const TURNS[] = {"Hello there!", "What is 2+2?", "Thanks, and 3+3?"};

TEST(adapters_chat_reuses_cache_and_matches_fresh_generation) {
    const char *tdir = ct_test_shared("tokenizers/qwen3");
    if (!tdir) {
        ct_test_skip("../shared/tokenizers/qwen3 not found");
        return;
    }
    ct_err err = {0};
    ct_tokenizer *tok = NULL;
    CHECK_OK(ct_tokenizer_load(tdir, &tok, &err), &err);
    REQUIRE(tok);
    ct_model *m = tiny_qwen3(ct_tokenizer_vocab_size(tok));
    ct_chat_opts o1 = greedy_opts(m, false), o2 = greedy_opts(m, true);
    ct_runtime_opts ro = ct_runtime_opts_default();
    ro.template_name = "qwen3";
    ct_runtime *rt = NULL;
    CHECK_OK(ct_runtime_borrow(m, NULL, tok, &ro, &rt, &err), &err);
    REQUIRE(rt);
    ct_chat *a = NULL, *b = NULL;
    CHECK_OK(ct_chat_init(&a, rt, &o1, &err), &err);
    CHECK_OK(ct_chat_init(&b, rt, &o2, &err), &err);
    REQUIRE(a && b);
    size_t prev_prompt = 0;
    for (int t = 0; t < 3; t++) {
        char *ra = NULL, *rb = NULL;
        ct_chat_stats sa, sb;
        CHECK_OK(ct_chat_send(a, TURNS[t], &ra, &sa, &err), &err);
        CHECK_OK(ct_chat_send(b, TURNS[t], &rb, &sb, &err), &err);
        REQUIRE(ra && rb);
        CHECK_MSG(!strcmp(ra, rb), "turn %d: with reuse '%s' vs without '%s'", t, ra, rb);
        CHECK_EQ_INT(sa.prompt_tokens, sb.prompt_tokens);
        CHECK_EQ_INT(sb.reused_tokens, 0);
        if (t == 0) {
            CHECK_EQ_INT(sa.reused_tokens, 0);
            /* turn 1 equals plain generation from the rendered prompt */
            ct_conv cv;
            ct_conv_init(&cv);
            ct_conv_add(&cv, CT_ROLE_SYSTEM, "You are terse.", NULL);
            ct_conv_add(&cv, CT_ROLE_USER, TURNS[0], NULL);
            ct_render r;
            ct_render_init(&r);
            ct_render_opts ro = ct_render_opts_default();
            ro.add_generation_prompt = true;
            ro.enable_thinking = CT_THINK_FALSE;
            ro.jinja = true;
            CHECK_OK(ct_template_render(ct_template_get("qwen3"), &cv, &ro, &r, &err), &err);
            CHECK(strstr(r.text, "<|im_start|>assistant\n<think>\n\n</think>\n\n") != NULL);
            ct_ids ids = {0}, out = {0};
            CHECK_OK(ct_tokenizer_encode(tok, r.text, r.len, false, &ids, &err), &err);
            CHECK_EQ_INT(ids.n, sa.prompt_tokens);
            ct_gen_params p = o1.gen;
            p.eos_ids[p.num_eos++] = ct_tokenizer_token_to_id(tok, "<|im_end|>");
            CHECK_OK(ct_generate(ct_test_ctx(), m, NULL, ids.data, ids.n, &p, &out, NULL, &err), &err);
            CHECK_EQ_INT(out.n, sa.new_tokens);
            char *txt = NULL;
            size_t len = 0;
            size_t nt = out.n && out.data[out.n - 1] == p.eos_ids[p.num_eos - 1] ? out.n - 1 : out.n;
            CHECK_OK(ct_tokenizer_decode(tok, out.data, nt, true, &txt, &len, &err), &err);
            CHECK_MSG(txt && !strcmp(txt, ra), "turn 1 '%s' vs generate '%s'", ra, txt ? txt : "");
            free(txt);
            ct_ids_free(&ids);
            ct_ids_free(&out);
            ct_render_free(&r);
            ct_conv_free(&cv);
        } else {
            /* the previous prompt is reused up to its generation prompt: Qwen3 renders earlier
             * answers without the empty <think></think> block the generation prompt had */
            CHECK_MSG(sa.reused_tokens + 8 >= prev_prompt && sa.reused_tokens < sa.prompt_tokens,
                      "turn %d reused %zu of %zu tokens (previous prompt %zu)", t,
                      sa.reused_tokens, sa.prompt_tokens, prev_prompt);
            printf("    turn %d: reused %zu of %zu prompt tokens\n", t, sa.reused_tokens, sa.prompt_tokens);
        }
        prev_prompt = sa.prompt_tokens;
        free(ra);
        free(rb);
    }
    CHECK_EQ_INT(ct_chat_num_messages(a), 7); /* system + 3 x (user, assistant) */
    ct_chat_reset(a);
    CHECK_EQ_INT(ct_chat_num_messages(a), 1);
    char *r1 = NULL;
    ct_chat_stats s1;
    CHECK_OK(ct_chat_send(a, TURNS[0], &r1, &s1, &err), &err);
    CHECK_EQ_INT(s1.reused_tokens, 0);
    free(r1);
    ct_chat_free(a);
    ct_chat_free(b);
    ct_runtime_free(rt);
    tiny_free(m);
    ct_tokenizer_free(tok);
}

/* A LoRA adapter (written with ct_peft_save_lora, layers_to_transform [1]) changes the chat. */
TEST(adapters_chat_with_lora_adapter) {
    const char *tdir = ct_test_shared("tokenizers/qwen3");
    if (!tdir) {
        ct_test_skip("../shared/tokenizers/qwen3 not found");
        return;
    }
    ct_err err = {0};
    ct_tokenizer *tok = NULL;
    CHECK_OK(ct_tokenizer_load(tdir, &tok, &err), &err);
    REQUIRE(tok);
    ct_model *m = tiny_qwen3(ct_tokenizer_vocab_size(tok));
    /* r=2 LoRA on layer 1 o_proj [16, 16] */
    float A[2 * 16], B[16 * 2];
    uint64_t s = 5;
    for (int i = 0; i < 32; i++) A[i] = frand(&s), B[i] = frand(&s);
    ct_lora_pair pr = {1, "o_proj", {.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {2, 16}, .data = A},
                       {.dtype = CT_DTYPE_F32, .ndim = 2, .shape = {16, 2}, .data = B}};
    const char *tm[] = {"o_proj"};
    ct_lora_config lc = {.r = 2, .lora_alpha = 8, .target_modules = tm, .n_target_modules = 1};
    char *dir = ct_path_join(ct_test_tmpdir(), "lora");
    CHECK_OK(ct_peft_save_lora(dir, &lc, &pr, 1, CT_DTYPE_F32, &err), &err);
    /* only layer 1 has tensors: restrict the config with layers_to_transform */
    char *cp = ct_path_join(dir, "adapter_config.json");
    json_t *cfg = NULL;
    CHECK_OK(ct_json_load_file(cp, &cfg, &err), &err);
    REQUIRE(cfg);
    json_object_set_new(cfg, "layers_to_transform", json_pack("[i]", 1));
    char *txt = json_dumps(cfg, 0);
    CHECK_OK(ct_write_file_atomic(cp, txt, strlen(txt), &err), &err);
    free(txt);
    json_decref(cfg);
    free(cp);
    ct_adapter *ad = NULL;
    CHECK_OK(ct_adapter_load(dir, m, &ad, &err), &err);
    free(dir);
    REQUIRE(ad);
    CHECK_EQ_INT(ct_adapter_num_replaced(ad), 1);
    ct_chat_opts o = greedy_opts(m, false);
    ct_runtime_opts ro = ct_runtime_opts_default();
    ro.template_name = "qwen3";
    ct_runtime *rta = NULL, *rtp = NULL;
    CHECK_OK(ct_runtime_borrow(m, ad, tok, &ro, &rta, &err), &err);
    CHECK_OK(ct_runtime_borrow(m, NULL, tok, &ro, &rtp, &err), &err);
    REQUIRE(rta && rtp);
    ct_chat *c = NULL, *plain = NULL;
    CHECK_OK(ct_chat_init(&c, rta, &o, &err), &err);
    CHECK_OK(ct_chat_init(&plain, rtp, &o, &err), &err);
    REQUIRE(c && plain);
    char *ra = NULL, *rp = NULL;
    ct_chat_stats st;
    CHECK_OK(ct_chat_send(c, TURNS[1], &ra, &st, &err), &err);
    CHECK_OK(ct_chat_send(plain, TURNS[1], &rp, NULL, &err), &err);
    REQUIRE(ra && rp);
    CHECK_MSG(strcmp(ra, rp) != 0, "the adapter changed nothing: '%s'", ra);
    free(ra);
    free(rp);
    ct_chat_free(c);
    ct_chat_free(plain);
    ct_runtime_free(rta);
    ct_runtime_free(rtp);
    ct_adapter_free(ad);
    tiny_free(m);
    ct_tokenizer_free(tok);
}
