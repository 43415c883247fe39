/* `ctune bench-serve`: load on an OpenAI-compatible server (ctune/bench_serve.h; docs/serve.md,
 * "Load generator"), a table on stdout and optionally the JSON report (atomic write). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "cli/cli.h"
#include "ctune/bench_serve.h"

static const char *usage_text =
    "usage: ctune bench-serve [--url http://127.0.0.1:8000] [options]\n"
    "  streaming chat completions from N concurrent clients; reports TTFT, TPOT, ITL, latency\n"
    "  (mean / p50 / p90 / p99) and throughput (requests/s, output tokens/s)\n"
    "  --url URL            the server (http://HOST:PORT[/PREFIX]; a trailing /v1 is the API root)\n"
    "  --model NAME         the request's model (default: not sent, the server's own)\n"
    "  --api-key KEY        sent as \"Authorization: Bearer KEY\"\n"
    "  --concurrency N      clients sending at once (default 4)\n"
    "  --requests M         requests in total (default 32)\n"
    "  --prompts FILE       one prompt per line (a line that is a JSON object: its \"prompt\"); default: built-in\n"
    "  --max-tokens N       max_tokens of each request (default 128)\n"
    "  --temperature T      default 0\n"
    "  --timeout S          per request (default 600)\n"
    "  --output FILE        write the report as JSON (atomic)\n";

typedef struct prompts {
    char **v;
    size_t n;
} prompts;

static void prompts_free(prompts *p) {
    for (size_t i = 0; i < p->n; i++) free(p->v[i]);
    free(p->v);
}

/* Non-empty lines; a line starting with '{' must be a JSON object with a string "prompt". */
static bool read_prompts(const char *path, prompts *p) {
    ct_err err = {0};
    char *text = NULL;
    if (ct_read_file(path, &text, NULL, &err)) return ct_cli_error(&err), false;
    size_t lineno = 0;
    bool ok = true;
    for (char *line = text, *next; ok && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        lineno++;
        size_t n = strlen(line);
        if (n && line[n - 1] == '\r') line[--n] = 0;
        if (!n) continue;
        char *prompt = NULL;
        if (line[0] == '{') {
            json_error_t je;
            json_t *j = json_loads(line, 0, &je);
            const char *s = json_string_value(json_object_get(j, "prompt"));
            if (!s || !*s) {
                ct_cli_errorf("bench-serve: %s:%zu: %s", path, lineno,
                              j ? "a JSON line needs a non-empty string \"prompt\"" : je.text);
                ok = false;
            } else {
                prompt = strdup(s);
            }
            json_decref(j);
        } else {
            prompt = strdup(line);
        }
        if (!ok) break;
        char **v = prompt ? realloc(p->v, (p->n + 1) * sizeof *v) : NULL;
        if (!v) {
            free(prompt);
            ct_cli_errorf("bench-serve: out of memory");
            ok = false;
            break;
        }
        p->v = v;
        p->v[p->n++] = prompt;
    }
    free(text);
    if (ok && !p->n) ok = (ct_cli_errorf("bench-serve: %s: no prompts (every line is empty)", path), false);
    return ok;
}

CT_CLI_COMMAND(bench_serve, "bench-serve", "load generator for OpenAI-compatible servers (TTFT, TPOT, ITL, throughput)") {
    ct_args a;
    static const char *const flags[] = {"help", NULL};
    int rc = 1;
    if (ct_args_start(&a, argc, argv, flags, usage_text, &rc)) return rc;
    ct_bench_serve_opts o = ct_bench_serve_opts_default();
    prompts pr = {0};
    long long v;
    double d;
    if (ct_args_get(&a, "url")) o.url = ct_args_get(&a, "url");
    o.model = ct_args_get(&a, "model");
    o.api_key = ct_args_get(&a, "api-key");
    const char *out = ct_args_get(&a, "output"), *pfile = ct_args_get(&a, "prompts");
    struct { const char *key; long long lo, hi; int *dst; } ints[] = {
        {"concurrency", 1, 4096, &o.concurrency}, {"requests", 1, 10000000, &o.requests}, {"max-tokens", 1, 1 << 24, &o.max_tokens}};
    for (size_t i = 0; i < 3; i++) {
        if (!ct_args_get(&a, ints[i].key)) continue;
        if (!ct_args_int(&a, ints[i].key, &v)) goto out;
        if (v < ints[i].lo || v > ints[i].hi) {
            ct_cli_errorf("bench-serve: --%s must be in [%lld, %lld], got %lld", ints[i].key, ints[i].lo, ints[i].hi, v);
            goto out;
        }
        *ints[i].dst = (int)v;
    }
    if (ct_args_get(&a, "temperature")) {
        if (!ct_args_double(&a, "temperature", &d)) goto out;
        if (!(d >= 0 && d <= 2)) {
            ct_cli_errorf("bench-serve: --temperature must be in [0, 2], got %g", d);
            goto out;
        }
        o.temperature = d;
    }
    if (ct_args_get(&a, "timeout")) {
        if (!ct_args_double(&a, "timeout", &d)) goto out;
        if (!(d > 0 && d <= 1e7)) {
            ct_cli_errorf("bench-serve: --timeout must be > 0 seconds");
            goto out;
        }
        o.timeout_s = d;
    }
    if (ct_args_check_unknown(&a, "bench-serve")) goto out;
    if (pfile) {
        if (!read_prompts(pfile, &pr)) goto out;
        o.prompts = (const char *const *)pr.v;
        o.n_prompts = pr.n;
    }
    ct_err err = {0};
    ct_bench_serve_result r;
    if (ct_bench_serve_run(&o, &r, &err)) {
        rc = ct_cli_error(&err);
        goto out;
    }
    ct_bench_serve_print(&r, stdout);
    if (out) {
        char *json = ct_bench_serve_json(&o, &r);
        if (!json) {
            rc = ct_cli_errorf("bench-serve: out of memory");
            goto out;
        }
        size_t n = strlen(json);
        ct_status st = ct_write_file_atomic(out, json, n, &err);
        free(json);
        if (st) {
            rc = ct_cli_error(&err);
            goto out;
        }
    }
    if (!r.succeeded) {
        rc = ct_cli_errorf("bench-serve: every request failed (%s)", r.first_error);
        goto out;
    }
    rc = 0;
out:
    prompts_free(&pr);
    ct_args_free(&a);
    return rc;
}
