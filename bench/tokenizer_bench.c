/* Tokenizer throughput: encodes every line of a text file with ctune (1 thread, then
 * ct_tokenizer_encode_batch with N threads) and prints MB/s, the token count and a checksum of
 * all ids (compared with the JS reference by bench/tokenizer.sh).
 * Usage: tokenizer_bench MODEL_DIR CORPUS.txt [THREADS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctune/tokenizer.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR CORPUS.txt [THREADS]\n", argv[0]);
        return 2;
    }
    int threads = argc > 3 ? atoi(argv[3]) : 2;
    ct_err err = {0};
    ct_tokenizer *tok;
    double t0 = now();
    if (ct_tokenizer_load(argv[1], &tok, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double t_load = now() - t0;
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    size_t size = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc(size + 1);
    if (!buf || fread(buf, 1, size, f) != size) return 1;
    buf[size] = 0;
    fclose(f);
    size_t n = 0, cap = 1024;
    const char **lines = malloc(cap * sizeof *lines);
    size_t *lens = malloc(cap * sizeof *lens);
    for (char *p = buf; *p;) {
        char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        if (n == cap) {
            cap *= 2;
            lines = realloc(lines, cap * sizeof *lines);
            lens = realloc(lens, cap * sizeof *lens);
        }
        lines[n] = p;
        lens[n++] = l;
        p = nl ? nl + 1 : p + l;
    }
    ct_ids *outs = calloc(n, sizeof *outs);
    t0 = now();
    for (size_t i = 0; i < n; i++)
        if (ct_tokenizer_encode(tok, lines[i], lens[i], false, &outs[i], &err)) {
            fprintf(stderr, "line %zu: %s\n", i + 1, err.msg);
            return 1;
        }
    double t1 = now() - t0;
    size_t tokens = 0;
    unsigned long long sum = 0;
    for (size_t i = 0; i < n; i++) {
        tokens += outs[i].n;
        for (size_t k = 0; k < outs[i].n; k++) sum = sum * 31 + (unsigned long long)outs[i].data[k];
        ct_ids_free(&outs[i]);
    }
    t0 = now();
    if (ct_tokenizer_encode_batch(tok, lines, lens, n, false, outs, threads, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double tn = now() - t0;
    for (size_t i = 0; i < n; i++) ct_ids_free(&outs[i]);
    double mb = (double)size / 1e6;
    printf("load_s %.3f\nbytes %zu\nlines %zu\ntokens %zu\nchecksum %llu\n", t_load, size, n, tokens, sum);
    printf("ctune_1thread_MBps %.2f\nctune_%dthreads_MBps %.2f\n", mb / t1, threads, mb / tn);
    free(outs);
    free(lines);
    free(lens);
    free(buf);
    ct_tokenizer_free(tok);
    return 0;
}
