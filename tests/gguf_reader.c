/* Test-side GGUF reader (see gguf_reader.h). */
#include "gguf_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cur {
    const uint8_t *p, *end;
    int bad;
} cur;

static uint64_t rd(cur *c, int n) {
    if (c->bad || c->end - c->p < n) {
        c->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)c->p[i] << (8 * i);
    c->p += n;
    return v;
}

static char *rd_str(cur *c) {
    uint64_t n = rd(c, 8);
    if (c->bad || (uint64_t)(c->end - c->p) < n) {
        c->bad = 1;
        return NULL;
    }
    char *s = malloc(n + 1);
    memcpy(s, c->p, n);
    s[n] = 0;
    c->p += n;
    return s;
}

static const int k_size[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static void skip_val(cur *c, uint32_t type) {
    if (type == 8) free(rd_str(c));
    else if (type < 13 && k_size[type]) rd(c, k_size[type]);
    else c->bad = 1;
}

int tg_open(tg_file *f, const char *path, const char **why) {
    memset(f, 0, sizeof *f);
    FILE *fp = fopen(path, "rb");
    if (!fp) return *why = "cannot open", -1;
    fseek(fp, 0, SEEK_END);
    f->size = (size_t)ftell(fp);
    fseek(fp, 0, SEEK_SET);
    f->buf = malloc(f->size ? f->size : 1);
    size_t got = fread(f->buf, 1, f->size, fp);
    fclose(fp);
    if (got != f->size) return *why = "short read", -1;
    cur c = {f->buf, f->buf + f->size, 0};
    if (f->size < 24 || memcmp(f->buf, "GGUF", 4)) return *why = "no GGUF magic", -1;
    c.p += 4;
    if (rd(&c, 4) != 3) return *why = "version is not 3", -1;
    f->n_tensors = rd(&c, 8);
    f->n_kv = rd(&c, 8);
    if (f->n_kv > 100000 || f->n_tensors > 100000) return *why = "absurd counts", -1;
    f->kv = calloc(f->n_kv + 1, sizeof *f->kv);
    f->t = calloc(f->n_tensors + 1, sizeof *f->t);
    for (uint64_t i = 0; i < f->n_kv && !c.bad; i++) {
        tg_kv *kv = &f->kv[i];
        kv->key = rd_str(&c);
        kv->type = (uint32_t)rd(&c, 4);
        kv->val = c.p;
        if (kv->type == 9) {
            kv->arr_type = (uint32_t)rd(&c, 4);
            kv->n = rd(&c, 8);
            kv->val = c.p;
            for (uint64_t j = 0; j < kv->n && !c.bad; j++) skip_val(&c, kv->arr_type);
        } else {
            skip_val(&c, kv->type);
        }
    }
    for (uint64_t i = 0; i < f->n_tensors && !c.bad; i++) {
        tg_tensor *t = &f->t[i];
        t->name = rd_str(&c);
        t->n_dims = (uint32_t)rd(&c, 4);
        if (t->n_dims < 1 || t->n_dims > 4) return *why = "tensor n_dims outside 1..4", -1;
        for (uint32_t d = 0; d < t->n_dims; d++) t->ne[d] = rd(&c, 8);
        t->type = (uint32_t)rd(&c, 4);
        t->offset = rd(&c, 8);
    }
    if (c.bad) return *why = "truncated header", -1;
    uint32_t align = tg_u32(f, "general.alignment");
    if (!align) align = 32;
    f->data_start = ((size_t)(c.p - f->buf) + align - 1) / align * align;
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        if (f->t[i].offset % align) return *why = "tensor offset not aligned", -1;
        if (f->data_start + f->t[i].offset > f->size) return *why = "tensor data outside the file", -1;
        f->t[i].data = f->buf + f->data_start + f->t[i].offset;
    }
    return 0;
}

void tg_close(tg_file *f) {
    for (uint64_t i = 0; f->kv && i < f->n_kv; i++) free(f->kv[i].key);
    for (uint64_t i = 0; f->t && i < f->n_tensors; i++) free(f->t[i].name);
    free(f->kv);
    free(f->t);
    free(f->buf);
    memset(f, 0, sizeof *f);
}

const tg_kv *tg_find(const tg_file *f, const char *key) {
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (f->kv[i].key && !strcmp(f->kv[i].key, key)) return &f->kv[i];
    return NULL;
}

const tg_tensor *tg_tensor_find(const tg_file *f, const char *name) {
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (f->t[i].name && !strcmp(f->t[i].name, name)) return &f->t[i];
    return NULL;
}

uint32_t tg_u32(const tg_file *f, const char *key) {
    const tg_kv *kv = tg_find(f, key);
    if (!kv || kv->type != 4) return 0;
    uint32_t v;
    memcpy(&v, kv->val, 4);
    return v;
}

float tg_f32(const tg_file *f, const char *key) {
    const tg_kv *kv = tg_find(f, key);
    if (!kv || kv->type != 6) return 0;
    float v;
    memcpy(&v, kv->val, 4);
    return v;
}

int tg_bool(const tg_file *f, const char *key) {
    const tg_kv *kv = tg_find(f, key);
    return kv && kv->type == 7 ? kv->val[0] != 0 : -1;
}

char *tg_str(const tg_file *f, const char *key, uint64_t i) {
    const tg_kv *kv = tg_find(f, key);
    if (!kv) return NULL;
    cur c = {kv->val, f->buf + f->size, 0};
    if (kv->type == 8 && i == 0) return rd_str(&c);
    if (kv->type != 9 || kv->arr_type != 8 || i >= kv->n) return NULL;
    for (uint64_t j = 0; j < i; j++) free(rd_str(&c));
    return rd_str(&c);
}
