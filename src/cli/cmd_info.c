/* `ctune info --model DIR [--format json] [--context N]`: architecture, sizes, parameter count,
 * dtype and the memory inference needs. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/options.h"
#include "ctune/data.h"
#include "ctune/model.h"
#include "ctune/tokenizer.h"

static void human(double v, const char *const *units, double step, char *buf, size_t n) {
    int u = 0;
    while (v >= step && units[u + 1]) v /= step, u++;
    snprintf(buf, n, u ? "%.2f %s" : "%.0f%s", v, units[u]);
}

CT_CLI_COMMAND(info, "info", "show a model's architecture, parameters, dtype and memory") {
    ct_args a;
    static const char *const flags[] = {"help", NULL};
    if (ct_args_parse(&a, argc, argv, flags)) return 1;
    if (ct_args_flag(&a, "help")) {
        printf("usage: ctune info --model DIR|FILE.gguf [--format text|json] [--context N] [--threads N]\n"
               "  --context N  tokens of context for the memory estimate (default: "
               "min(max_position_embeddings, 4096))\n");
        ct_args_free(&a);
        return 0;
    }
    const char *dir = ct_args_get(&a, "model");
    const char *fmt = ct_args_get(&a, "format");
    long long ctx = -1;
    int rc = 1;
    ct_model *m = NULL;
    int threads = 0;
    if (!ct_args_int(&a, "context", &ctx) || !ct_cli_threads(&a, &threads)) goto out;
    if (ct_args_get(&a, "context") && ctx <= 0) {
        rc = ct_cli_errorf("info: --context must be a positive number of tokens, got %lld", ctx);
        goto out;
    }
    if (ct_args_check_unknown(&a, "info")) goto out;
    if (!dir) {
        rc = ct_cli_errorf("info: --model DIR is required");
        goto out;
    }
    if (fmt && strcmp(fmt, "json") && strcmp(fmt, "text")) {
        rc = ct_cli_errorf("info: --format must be text or json, got '%s'", fmt);
        goto out;
    }
    ct_err err = {0};
    if (ct_model_load(dir, &m, &err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    const ct_config *c = ct_model_config(m);
    if (ctx < 0) ctx = c->max_position_embeddings < 4096 ? c->max_position_embeddings : 4096;
    /* the chat template the tokenizer's chat_template is recognised as (what train / chat /
     * generate-batch use without a template name), or none */
    char *src = NULL;
    ct_err terr = {0};
    const ct_template *tmpl = ct_tokenizer_read_chat_template(dir, &src, &terr) ? NULL : ct_template_detect(src);
    const char *tmpl_name = tmpl ? ct_template_name(tmpl) : NULL;
    const char *tmpl_why = tmpl ? "recognised from the tokenizer's chat_template"
                           : src ? "the tokenizer's chat_template is not recognised: name one with --template"
                                 : "the tokenizer has no chat_template: name one with --template";
    free(src);
    int64_t np = ct_model_param_count(m);
    size_t wb = ct_model_weight_bytes(m), mem = ct_model_memory_estimate(m, (size_t)ctx);
    if (fmt && !strcmp(fmt, "json")) {
        json_t *o = json_object();
        json_object_set_new(o, "architecture", json_string(ct_arch_name(c->arch)));
        json_object_set_new(o, "num_layers", json_integer(c->num_layers));
        json_object_set_new(o, "hidden_size", json_integer(c->hidden_size));
        json_object_set_new(o, "intermediate_size", json_integer(c->intermediate_size));
        json_object_set_new(o, "num_heads", json_integer(c->num_heads));
        json_object_set_new(o, "num_kv_heads", json_integer(c->num_kv_heads));
        json_object_set_new(o, "head_dim", json_integer(c->head_dim));
        json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
        json_object_set_new(o, "max_position_embeddings", json_integer(c->max_position_embeddings));
        json_object_set_new(o, "rope_theta", json_real(c->rope_theta));
        json_object_set_new(o, "rms_norm_eps", json_real(c->rms_norm_eps));
        json_object_set_new(o, "tie_word_embeddings", json_boolean(c->tie_word_embeddings));
        json_object_set_new(o, "attention_bias", json_boolean(c->attention_bias));
        json_object_set_new(o, "qk_norm", json_boolean(c->qk_norm));
        json_object_set_new(o, "dtype", json_string(ct_dtype_name(c->dtype)));
        json_object_set_new(o, "linear_dtype", json_string(ct_dtype_name(ct_model_linear_dtype(m))));
        json_object_set_new(o, "parameters", json_integer(np));
        json_object_set_new(o, "weight_bytes", json_integer((json_int_t)wb));
        json_object_set_new(o, "context", json_integer(ctx));
        json_object_set_new(o, "memory_bytes", json_integer((json_int_t)mem));
        json_object_set_new(o, "layer_types_deltanet", json_integer(c->n_deltanet));
        json_object_set_new(o, "chat_template", tmpl_name ? json_string(tmpl_name) : json_null());
        char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        static const char *const cnt[] = {"", "K", "M", "B", NULL};
        static const char *const by[] = {" B", "KiB", "MiB", "GiB", "TiB", NULL};
        char p[32], w[32], mm[32];
        human((double)np, cnt, 1000, p, sizeof p);
        human((double)wb, by, 1024, w, sizeof w);
        human((double)mem, by, 1024, mm, sizeof mm);
        printf("model         %s\n", dir);
        printf("architecture  %s\n", ct_arch_name(c->arch));
        printf("layers        %d, hidden %d, intermediate %d", c->num_layers, c->hidden_size, c->intermediate_size);
        if (c->n_deltanet)
            printf(" (%d Gated DeltaNet, %d attention)", c->n_deltanet, c->num_layers - c->n_deltanet);
        printf("\n");
        printf("attention     %d heads, %d kv heads, head_dim %d%s%s\n", c->num_heads,
               c->num_kv_heads, c->head_dim, c->attention_bias ? ", qkv bias" : "",
               c->qk_norm ? ", q/k norm" : "");
        printf("vocab         %d (%s head)\n", c->vocab_size,
               c->tie_word_embeddings ? "tied" : "separate");
        printf("rope_theta    %g, max positions %d\n", c->rope_theta, c->max_position_embeddings);
        printf("parameters    %lld (%s)\n", (long long)np, p);
        printf("dtype         %s", ct_dtype_name(c->dtype));
        if (ct_model_linear_dtype(m) != c->dtype) printf(" (linear layers %s)", ct_dtype_name(ct_model_linear_dtype(m)));
        printf("\n");
        printf("weights       %s\n", w);
        printf("memory        %s for %lld tokens of context (weights + f32 KV cache + "
               "activations)\n", mm, ctx);
        printf("template      %s (%s)\n", tmpl_name ? tmpl_name : "none", tmpl_why);
    }
    rc = 0;
out:
    ct_model_free(m);
    ct_args_free(&a);
    return rc;
}
