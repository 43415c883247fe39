/* `ctune serve`: the OpenAI-compatible server (ctune/serve.h; docs/serve.md), from flags or from
 * LlamaFactory's inference YAML (`llamafactory-cli api infer.yaml` keys, ctune/infer_config.h).
 * Runs until SIGTERM or SIGINT, then stops gracefully. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "cli/cli.h"
#include "cli/options.h"
#include "ctune/infer_config.h"
#include "ctune/serve.h"

static const char *usage_text =
    "usage: ctune serve --model DIR|FILE.gguf [--adapter NAME=DIR ...] [options]\n"
    "       ctune serve INFER.yaml [options] [overrides]   LlamaFactory's inference YAML (model_name_or_path,\n"
    "                           adapter_name_or_path, template, infer_dtype, default_system, enable_thinking,\n"
    "                           sampling keys ...; docs/inference.md); overrides: --key value, key=value\n"
    "server options:\n"
    "  --host ADDR              listen address (default 127.0.0.1; 0.0.0.0 = every interface)\n"
    "  --port N                 default 8000; 0 = an ephemeral port (see --port-file)\n"
    "  --port-file FILE         write the bound port there once listening\n"
    "  --api-key KEY            require \"Authorization: Bearer KEY\" on /v1/* and /api/*\n"
    "  --served-model-name NAME the `model` name of the base (default: the model directory's name)\n"
    "  --adapter NAME=DIR       one more PEFT adapter on the same base, requested as model NAME (repeat)\n"
    "  --parallel N             requests decoded together (default 4)\n"
    "  --queue N                requests waiting beyond those (default 64; more get 503)\n"
    "  --timeout S              per request (default 600)\n"
    "  --read-timeout S         drop clients idle this long while sending a request (default 10)\n"
    "  --max-body BYTES         request body limit (default 4194304)\n"
    "  --max-connections N      default 256\n"
    "  --max-model-len N        prompt + completion tokens (default: max_position_embeddings)\n"
    "  --shutdown-timeout S     on SIGTERM, let running requests finish this long (default 30)\n"
    "  --runs DIR               training-runs view of the output directories under DIR\n"
    "  --log-requests           one line per request on stderr\n"
    "  --json-schema FILE       constrain every request without a response_format of its own (and\n"
    "                           without tools) to JSON valid against FILE (docs/serve.md)\n"
    "model options (flag form):\n"
    "  --template NAME --system TEXT --enable-thinking true|false --threads N\n"
    "  --max-new-tokens N       completion tokens when a chat request gives no max_tokens (default 1024)\n"
    "  --temperature T --top-k K --top-p P --repetition-penalty R   sampling defaults (requests override)\n"
    CT_CLI_COMPUTE_HELP;

static const char *const SERVE_KEYS[] = {"host", "port", "port-file", "api-key", "served-model-name", "adapter",
                                         "parallel", "queue", "timeout", "read-timeout", "max-body",
                                         "max-connections", "max-model-len", "shutdown-timeout", "runs", "json-schema",
                                         "batch-precision", NULL};
static const char *const SERVE_FLAGS[] = {"help", "log-requests", NULL};

typedef struct serve_setup {
    ct_runtime_opts ro;
    ct_serve_opts so;
    ct_serve_adapter *ads;
    const char *port_file;
    char *json_schema; /* --json-schema FILE's text */
    double shutdown_s;
    ct_batch_precision batch_precision; /* --batch-precision (both forms) */
    const ct_cli_sampling *smp; /* flag form */
    const ct_infer_config *ic;  /* YAML form */
} serve_setup;

static const char *base_name(const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    const char *s = dir + n;
    while (s > dir && s[-1] != '/') s--;
    return s;
}

/* The server options (both forms). false after printing an error. */
static bool parse_serve(ct_args *a, serve_setup *ss) {
    ct_serve_opts *o = &ss->so;
    ct_serve_opts_default(o);
    long long v;
    double d;
    if (ct_args_get(a, "host")) o->host = ct_args_get(a, "host");
    o->api_key = ct_args_get(a, "api-key");
    o->model_name = ct_args_get(a, "served-model-name");
    o->runs_dir = ct_args_get(a, "runs");
    o->log_requests = ct_args_flag(a, "log-requests");
    ss->port_file = ct_args_get(a, "port-file");
    if (!ct_cli_batch_precision(a, "serve", &ss->batch_precision)) return false;
    ss->shutdown_s = 30;
    struct { const char *key; long long lo, hi; } ints[] = {
        {"port", 0, 65535}, {"parallel", 1, 256}, {"queue", 0, 1 << 20}, {"max-body", 1024, 1LL << 32},
        {"max-connections", 1, 1 << 16}, {"max-model-len", 1, 1LL << 24}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        v = -1;
        if (!ct_args_int(a, ints[i].key, &v)) return false;
        if (v == -1 && !ct_args_get(a, ints[i].key)) continue;
        if (v < ints[i].lo || v > ints[i].hi)
            return ct_cli_errorf("serve: --%s must be in [%lld, %lld], got %lld", ints[i].key, ints[i].lo, ints[i].hi, v), false;
        if (i == 0) o->port = (int)v;
        else if (i == 1) o->parallel = (int)v;
        else if (i == 2) o->queue = (int)v;
        else if (i == 3) o->max_body = (size_t)v;
        else if (i == 4) o->max_connections = (int)v;
        else o->max_model_len = v;
    }
    const char *dkeys[] = {"timeout", "read-timeout", "shutdown-timeout"};
    double *dst[] = {&o->timeout_s, &o->read_timeout_s, &ss->shutdown_s};
    for (int i = 0; i < 3; i++) {
        if (!ct_args_get(a, dkeys[i])) continue;
        if (!ct_args_double(a, dkeys[i], &d)) return false;
        if (!(d > 0 && d <= 1e7)) return ct_cli_errorf("serve: --%s must be > 0 seconds", dkeys[i]), false;
        *dst[i] = d;
    }
    size_t n = 0;
    for (int i = 0; i < a->n; i++) n += a->keys[i] && !strcmp(a->keys[i], "adapter");
    ss->ads = calloc(n + 1, sizeof *ss->ads);
    if (!ss->ads) return ct_cli_errorf("serve: out of memory"), false;
    for (int i = 0; i < a->n; i++) {
        if (!a->keys[i] || strcmp(a->keys[i], "adapter")) continue;
        a->used[i] = true;
        char *val = a->vals[i], *eq = val ? strchr(val, '=') : NULL;
        if (!val || !*val) return ct_cli_errorf("serve: --adapter needs NAME=DIR"), false;
        ct_serve_adapter *ad = &ss->ads[o->n_adapters++];
        if (eq) *eq = 0, ad->name = val, ad->dir = eq + 1;
        else ad->name = base_name(val), ad->dir = val;
        if (!*ad->name || !*ad->dir) return ct_cli_errorf("serve: --adapter '%s': expected NAME=DIR", a->vals[i]), false;
    }
    o->adapters = ss->ads;
    if ((o->json_schema_name = ct_args_get(a, "json-schema"))) {
        ct_err err = {0};
        if (ct_read_file(o->json_schema_name, &ss->json_schema, NULL, &err))
            return ct_cli_errorf("serve: --json-schema: %s", err.msg), false;
        o->json_schema = ss->json_schema;
    }
    return true;
}

static int run_server(serve_setup *ss) {
    ct_err err = {0};
    ct_runtime *rt = NULL;
    ct_server *srv = NULL;
    int rc = 1;
    ss->ro.batch_precision = ss->batch_precision;
    if (!ct_cli_runtime_open(&ss->ro, &rt)) return 1;
    if (ct_runtime_gen_params(rt, false, &ss->so.gen, &err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    if (ss->ic) {
        ct_infer_config_gen_params(ss->ic, &ss->so.gen);
        ss->so.default_max_tokens = ss->so.gen.max_new_tokens;
    }
    if (ss->smp) {
        ct_cli_sampling_apply(ss->smp, &ss->so.gen);
        ss->so.default_max_tokens = ss->smp->max_new;
    }
    if (!ss->so.model_name) ss->so.model_name = base_name(ss->ro.adapter_dir ? ss->ro.adapter_dir : ss->ro.model_dir);
    /* the signals are taken by sigwait below, in this thread only (the server's threads inherit the mask) */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (ct_server_start(rt, &ss->so, &srv, &err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    fprintf(stderr, "ctune serve: http://%s:%d/ (models: %s", ss->so.host, ct_server_port(srv), ss->so.model_name);
    for (size_t i = 0; i < ss->so.n_adapters; i++) fprintf(stderr, ", %s", ss->so.adapters[i].name);
    fprintf(stderr, "; %d in parallel%s)\n", ss->so.parallel, ss->so.api_key ? "; API key required" : "");
    if (ss->port_file) {
        char buf[16];
        int n = snprintf(buf, sizeof buf, "%d\n", ct_server_port(srv));
        if (ct_write_file_atomic(ss->port_file, buf, (size_t)n, &err)) {
            rc = ct_cli_error(&err);
            goto out;
        }
    }
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "ctune serve: %s: finishing running requests (up to %.0f s), then stopping\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", ss->shutdown_s);
    ct_server_stop(srv, ss->shutdown_s);
    rc = 0;
out:
    ct_server_free(srv);
    ct_runtime_free(rt);
    return rc;
}

static bool is_serve_key(const char *arg, bool *takes_value) {
    if (strncmp(arg, "--", 2)) return false;
    const char *k = arg + 2;
    size_t n = strcspn(k, "=");
    for (int i = 0; SERVE_KEYS[i]; i++)
        if (strlen(SERVE_KEYS[i]) == n && !strncmp(k, SERVE_KEYS[i], n)) return *takes_value = !k[n], true;
    for (int i = 0; SERVE_FLAGS[i]; i++)
        if (!strcmp(k, SERVE_FLAGS[i])) return *takes_value = false, true;
    return false;
}

/* `ctune serve infer.yaml [server options] [overrides]`. */
static int serve_yaml(int argc, char **argv) {
    ct_infer_config c;
    ct_infer_config_init(&c);
    int rc = 1, nrest = 0, nserve = 1;
    serve_setup ss = {.ic = &c};
    ct_args a = {0};
    char **rest = calloc((size_t)argc + 1, sizeof *rest), **sargv = calloc((size_t)argc + 1, sizeof *sargv);
    if (!rest || !sargv) goto out;
    sargv[0] = argv[0];
    for (int i = 2; i < argc; i++) {
        bool val;
        if (is_serve_key(argv[i], &val)) {
            sargv[nserve++] = argv[i];
            if (val && i + 1 < argc) sargv[nserve++] = argv[++i];
        } else {
            rest[nrest++] = argv[i];
        }
    }
    if (ct_args_start(&a, nserve, sargv, SERVE_FLAGS, usage_text, &rc)) goto out;
    rc = 1;
    if (!parse_serve(&a, &ss) || ct_args_check_unknown(&a, "serve")) goto out;
    if (!ct_cli_infer_yaml(&c, argv[1], nrest, rest, CT_INFER_CHAT, "serve")) {
        rc = 1;
        goto out;
    }
    ct_infer_config_runtime_opts(&c, &ss.ro);
    ss.so.default_system = c.default_system;
    ss.so.enable_thinking = (ct_think)c.enable_thinking;
    rc = run_server(&ss);
out:
    ct_args_free(&a);
    ct_infer_config_free(&c);
    free(ss.ads);
    free(ss.json_schema);
    free(rest);
    free(sargv);
    return rc;
}

CT_CLI_COMMAND(serve, "serve", "OpenAI-compatible HTTP server (chat, completions, adapters, web page)") {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_text, stdout);
            return 0;
        }
    if (argc > 1 && argv[1][0] != '-' && !ct_cli_is_override(argv[1])) return serve_yaml(argc, argv);
    ct_args a;
    static const char *const flags[] = {"help", "log-requests", NULL};
    int rc = 1;
    if (ct_args_start(&a, argc, argv, flags, usage_text, &rc)) return rc;
    serve_setup ss = {0};
    ct_cli_sampling smp;
    ss.smp = &smp;
    if (!parse_serve(&a, &ss) || !ct_cli_sampling_parse(&a, "serve", 1024, 1, &smp) ||
        !ct_cli_runtime_opts(&a, true, &ss.ro))
        goto out;
    ss.ro.adapter_dir = NULL; /* --adapter NAME=DIR are the served adapters (parse_serve) */
    ss.so.default_system = ct_args_get(&a, "system");
    const char *think = ct_args_get(&a, "enable-thinking");
    if (!ss.ro.model_dir) {
        rc = ct_cli_errorf("serve: --model DIR is required (or give an inference YAML: ctune serve infer.yaml)");
        goto out;
    }
    if (ct_args_check_unknown(&a, "serve")) goto out;
    ss.so.enable_thinking = CT_THINK_NULL;
    if (think && !strcmp(think, "true")) ss.so.enable_thinking = CT_THINK_TRUE;
    else if (think && !strcmp(think, "false")) ss.so.enable_thinking = CT_THINK_FALSE;
    else if (think) {
        rc = ct_cli_errorf("serve: --enable-thinking must be true or false, got '%s'", think);
        goto out;
    }
    rc = run_server(&ss);
out:
    free(ss.ads);
    free(ss.json_schema);
    ct_args_free(&a);
    return rc;
}
