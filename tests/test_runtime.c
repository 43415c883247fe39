/* ct_runtime: the one way the CLI, chat and evaluation run a model: directories in, prompts
 * encoded as HF does, template and stop tokens resolved once, adapters attached. */
#include <stdlib.h>
#include <string.h>

#include "ctune/runtime.h"
#include "harness.h"

TEST(runtime_encode_generate_nll) {
    const char *dir = ct_test_shared("models/stories260k");
    if (!dir) {
        ct_test_skip("../shared/models/stories260k not found");
        return;
    }
    ct_err err = {0};
    ct_runtime_opts o = ct_runtime_opts_default();
    o.model_dir = dir;
    o.threads = 1;
    ct_runtime *rt = NULL;
    CHECK_OK(ct_runtime_open(&o, &rt, &err), &err);
    REQUIRE(rt);
    CHECK_EQ_INT(ct_ctx_threads(ct_runtime_ctx(rt)), 1);
    const ct_tokenizer *tok = ct_runtime_tokenizer(rt, NULL);
    REQUIRE(tok);
    /* a prompt is encoded as HF tokenizer(text): Llama-2 style, BOS first */
    ct_ids ids = {0}, ref = {0};
    CHECK_OK(ct_runtime_encode(rt, "Once upon a time", 16, &ids, &err), &err);
    CHECK_OK(ct_tokenizer_encode_text(tok, "Once upon a time", 16, &ref, &err), &err);
    REQUIRE(ids.n == ref.n && ids.n > 1);
    CHECK(memcmp(ids.data, ref.data, ids.n * sizeof(int32_t)) == 0);
    CHECK_EQ_INT(ids.data[0], ct_tokenizer_bos_id(tok));
    /* generation through the runtime equals ct_generate with its parts */
    ct_gen_params p;
    CHECK_OK(ct_runtime_gen_params(rt, false, &p, &err), &err);
    p.do_sample = false;
    p.max_new_tokens = 12;
    ct_ids a = {0}, b = {0};
    CHECK_OK(ct_runtime_generate(rt, ids.data, ids.n, &p, &a, NULL, &err), &err);
    CHECK_OK(ct_generate(ct_runtime_ctx(rt), ct_runtime_model(rt), NULL, ids.data, ids.n, &p, &b, NULL, &err), &err);
    CHECK(a.n == b.n && a.n > 0 && !memcmp(a.data, b.data, a.n * sizeof(int32_t)));
    double nll = 0;
    size_t n = 0;
    CHECK_OK(ct_runtime_nll(rt, ids.data, ids.n, &nll, &n, &err), &err);
    CHECK_EQ_INT(n, ids.n - 1);
    CHECK(nll > 0);
    /* no chat_template in this tokenizer: the chat template error says what to do */
    const ct_template *t = NULL;
    CHECK(ct_runtime_template(rt, &t, &err) != CT_OK);
    CHECK_MSG(strstr(err.msg, "template") != NULL, "message: %s", err.msg);
    CHECK(ct_runtime_gen_params(rt, true, &p, &err) != CT_OK);
    ct_ids_free(&ids);
    ct_ids_free(&ref);
    ct_ids_free(&a);
    ct_ids_free(&b);
    ct_runtime_free(rt);
    /* a named template wins */
    o.template_name = "chatml";
    CHECK_OK(ct_runtime_open(&o, &rt, &err), &err);
    REQUIRE(rt);
    CHECK_OK(ct_runtime_template(rt, &t, &err), &err);
    CHECK_STREQ(ct_template_name(t), "chatml");
    ct_conv cv;
    ct_conv_init(&cv);
    ct_conv_add(&cv, CT_ROLE_USER, "Hi", NULL);
    ct_render_opts ro = ct_render_opts_default();
    ro.add_generation_prompt = true;
    CHECK_OK(ct_runtime_encode_chat(rt, &cv, &ro, &ids, &err), &err);
    CHECK(ids.n > 3);
    ct_conv_free(&cv);
    ct_ids_free(&ids);
    ct_runtime_free(rt);
}

TEST(runtime_without_tokenizer_runs_ids) {
    ct_err err = {0};
    ct_runtime_opts o = ct_runtime_opts_default();
    o.model_dir = "tests/fixtures/tiny-llama";
    ct_runtime *rt = NULL;
    CHECK_OK(ct_runtime_open(&o, &rt, &err), &err);
    REQUIRE(rt);
    const char *why = NULL;
    CHECK(ct_runtime_tokenizer(rt, &why) == NULL);
    CHECK_MSG(why && strstr(why, "tokenizer.json"), "why: %s", why ? why : "(null)");
    ct_ids ids = {0};
    CHECK(ct_runtime_encode(rt, "x", 1, &ids, &err) != CT_OK);
    CHECK(strstr(err.msg, "tokenizer.json") != NULL);
    int32_t in[4] = {1, 5, 9, 3};
    double nll = 0;
    size_t n = 0;
    CHECK_OK(ct_runtime_nll(rt, in, 4, &nll, &n, &err), &err);
    CHECK_EQ_INT(n, 3);
    ct_runtime_free(rt);
    /* a missing model directory is an error naming it */
    o.model_dir = "tests/fixtures/no-such-model";
    CHECK(ct_runtime_open(&o, &rt, &err) != CT_OK);
    CHECK(strstr(err.msg, "no-such-model") != NULL);
    CHECK(rt == NULL);
}
