/* A minimal F16 GGUF writer for the decode benchmark only (bench/decode.sh): turns the random
 * Qwen2.5-0.5B-shaped bench model (a qwen2 HF directory: config.json + model.safetensors, bf16)
 * into OUT.gguf for llama.cpp, matrices as F16 and 1-D tensors (norms, biases) as F32, with a
 * synthetic vocabulary (token i is the string "<i>"; nothing is tokenized: both sides are fed
 * token ids). Only what the bench model has: qwen2, tied head. ctune's own GGUF export lives in
 * src/io (another module); this file is not part of the library.
 * The same values also go to an F16 safetensors copy (OUT_DIR, via ct_st_write) so ctune and
 * llama.cpp decode the very same f16 weights.
 * Usage: gguf_f16 MODEL_DIR OUT.gguf OUT_F16_DIR */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "ctune/model.h"
#include "io/safetensors.h"
#include "io/st_writer.h"

static FILE *g_f;
static void put(const void *p, size_t n) { fwrite(p, 1, n, g_f); }
static void u32(uint32_t v) { put(&v, 4); }
static void u64(uint64_t v) { put(&v, 8); }
static void str(const char *s) {
    u64(strlen(s));
    put(s, strlen(s));
}
static void kv_u32(const char *k, uint32_t v) { str(k), u32(4), u32(v); }
static void kv_f32(const char *k, float v) { str(k), u32(6), put(&v, 4); }
static void kv_str(const char *k, const char *v) { str(k), u32(8), str(v); }

/* HF name -> GGUF name of the qwen2 bench model (NULL: unknown). */
static const char *gguf_name(const char *hf, char *out, size_t cap) {
    static const char *map[][2] = {
        {"input_layernorm.weight", "attn_norm.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
        {"self_attn.q_proj.weight", "attn_q.weight"},   {"self_attn.q_proj.bias", "attn_q.bias"},
        {"self_attn.k_proj.weight", "attn_k.weight"},   {"self_attn.k_proj.bias", "attn_k.bias"},
        {"self_attn.v_proj.weight", "attn_v.weight"},   {"self_attn.v_proj.bias", "attn_v.bias"},
        {"self_attn.o_proj.weight", "attn_output.weight"}, {"mlp.gate_proj.weight", "ffn_gate.weight"},
        {"mlp.up_proj.weight", "ffn_up.weight"},        {"mlp.down_proj.weight", "ffn_down.weight"},
    };
    if (!strcmp(hf, "model.embed_tokens.weight")) return "token_embd.weight";
    if (!strcmp(hf, "model.norm.weight")) return "output_norm.weight";
    int l, n = 0;
    if (sscanf(hf, "model.layers.%d.%n", &l, &n) != 1 || !n) return NULL;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(hf + n, map[i][0])) {
            snprintf(out, cap, "blk.%d.%s", l, map[i][1]);
            return out;
        }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL_DIR OUT.gguf OUT_F16_DIR\n", argv[0]);
        return 2;
    }
    ct_err err = {0};
    ct_model *m = NULL;
    ct_st *st = NULL;
    if (ct_model_load(argv[1], &m, &err) || ct_st_open_dir(argv[1], &st, &err)) {
        fprintf(stderr, "gguf_f16: %s\n", err.msg);
        return 1;
    }
    const ct_config *c = ct_model_config(m);
    size_t nt = ct_st_count(st);
    /* f32 copies of every tensor, the matrices rounded through f16 */
    ct_tensor *ts = calloc(nt, sizeof *ts);
    const char **names = calloc(nt, sizeof *names);
    char (*gn)[96] = calloc(nt, sizeof *gn);
    for (size_t i = 0; i < nt; i++) {
        names[i] = ct_st_name(st, i);
        const ct_tensor *t = ct_st_get(st, names[i]);
        char tmp[96];
        const char *g = gguf_name(names[i], tmp, sizeof tmp);
        if (!g) {
            fprintf(stderr, "gguf_f16: %s: not a tensor of the qwen2 bench model\n", names[i]);
            return 1;
        }
        snprintf(gn[i], sizeof gn[i], "%s", g);
        size_t n = (size_t)ct_tensor_numel(t);
        ts[i] = *t;
        ts[i].dtype = t->ndim == 2 ? CT_DTYPE_F16 : CT_DTYPE_F32;
        float *f = malloc(n * sizeof(float));
        ct_tensor_to_f32(t, 0, n, f);
        ts[i].data = malloc(n * ct_dtype_size(ts[i].dtype));
        ct_f32_to_dtype(f, n, ts[i].dtype, ts[i].data);
        free(f);
    }
    /* the F16 safetensors copy for ctune */
    ct_mkdir_p(argv[3], &err);
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", argv[3]);
    ct_st_item *items = calloc(nt, sizeof *items);
    for (size_t i = 0; i < nt; i++) items[i] = (ct_st_item){.name = names[i], .src = ts[i], .dtype = ts[i].dtype};
    if (ct_st_write(path, items, nt, NULL, &err)) {
        fprintf(stderr, "gguf_f16: %s\n", err.msg);
        return 1;
    }
    char src[1024], *cfg = NULL;
    size_t cl = 0;
    snprintf(src, sizeof src, "%s/config.json", argv[1]);
    snprintf(path, sizeof path, "%s/config.json", argv[3]);
    if (ct_read_file(src, &cfg, &cl, &err) || ct_write_file_atomic(path, cfg, cl, &err)) {
        fprintf(stderr, "gguf_f16: %s\n", err.msg);
        return 1;
    }
    free(cfg);
    /* the GGUF */
    g_f = fopen(argv[2], "wb");
    if (!g_f) {
        fprintf(stderr, "gguf_f16: cannot write %s\n", argv[2]);
        return 1;
    }
    size_t V = (size_t)c->vocab_size;
    u32(0x46554747u), u32(3), u64(nt), u64(14);
    kv_str("general.architecture", "qwen2");
    kv_str("general.name", "ctune-bench-qwen2.5-0.5b-random");
    kv_u32("qwen2.block_count", (uint32_t)c->num_layers);
    kv_u32("qwen2.context_length", 32768);
    kv_u32("qwen2.embedding_length", (uint32_t)c->hidden_size);
    kv_u32("qwen2.feed_forward_length", (uint32_t)c->intermediate_size);
    kv_u32("qwen2.attention.head_count", (uint32_t)c->num_heads);
    kv_u32("qwen2.attention.head_count_kv", (uint32_t)c->num_kv_heads);
    kv_f32("qwen2.rope.freq_base", (float)c->rope_theta);
    kv_f32("qwen2.attention.layer_norm_rms_epsilon", (float)c->rms_norm_eps);
    kv_str("tokenizer.ggml.model", "gpt2");
    kv_str("tokenizer.ggml.pre", "qwen2");
    str("tokenizer.ggml.tokens"), u32(9), u32(8), u64(V);
    for (size_t i = 0; i < V; i++) {
        char tk[32];
        snprintf(tk, sizeof tk, "<%zu>", i);
        str(tk);
    }
    str("tokenizer.ggml.merges"), u32(9), u32(8), u64(1), str("< 0");
    uint64_t off = 0;
    for (size_t i = 0; i < nt; i++) {
        str(gn[i]);
        u32((uint32_t)ts[i].ndim);
        for (int d = ts[i].ndim - 1; d >= 0; d--) u64((uint64_t)ts[i].shape[d]);
        u32(ts[i].dtype == CT_DTYPE_F16 ? 1 : 0);
        u64(off);
        off += ((size_t)ct_tensor_numel(&ts[i]) * ct_dtype_size(ts[i].dtype) + 31) / 32 * 32;
    }
    static const char zero[32];
    long pos = ftell(g_f);
    put(zero, (size_t)((32 - pos % 32) % 32));
    for (size_t i = 0; i < nt; i++) {
        size_t b = (size_t)ct_tensor_numel(&ts[i]) * ct_dtype_size(ts[i].dtype);
        put(ts[i].data, b);
        put(zero, (32 - b % 32) % 32);
        free(ts[i].data);
    }
    if (fclose(g_f)) {
        fprintf(stderr, "gguf_f16: write error on %s\n", argv[2]);
        return 1;
    }
    printf("wrote %s and %s (%zu tensors, F16 matrices)\n", argv[2], argv[3], nt);
    free(ts), free(names), free(gn), free(items);
    ct_st_close(st);
    ct_model_free(m);
    return 0;
}
