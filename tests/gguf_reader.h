/* A small, independent GGUF v3 reader for the tests (not the library's writer run backwards):
 * parses the header, every key/value (scalars, strings, arrays) and the tensor infos of a file,
 * checking bounds, the alignment of the data section and of each tensor offset. */
#ifndef CT_TESTS_GGUF_READER_H
#define CT_TESTS_GGUF_READER_H

#include <stddef.h>
#include <stdint.h>

typedef struct tg_kv {
    char *key;
    uint32_t type;      /* GGUF value type; arrays: 9 */
    uint32_t arr_type;  /* item type of an array */
    uint64_t n;         /* items of an array */
    const uint8_t *val; /* the value's bytes in the file (for arrays: the first item) */
} tg_kv;

typedef struct tg_tensor {
    char *name;
    uint32_t n_dims, type;
    uint64_t ne[4]; /* innermost first, as stored */
    uint64_t offset;
    const uint8_t *data;
} tg_tensor;

typedef struct tg_file {
    uint8_t *buf;
    size_t size;
    uint64_t n_kv, n_tensors;
    tg_kv *kv;
    tg_tensor *t;
    size_t data_start;
} tg_file;

/* 0 ok; -1 with a message in why (static) on a malformed file. */
int tg_open(tg_file *f, const char *path, const char **why);
void tg_close(tg_file *f);
const tg_kv *tg_find(const tg_file *f, const char *key);
const tg_tensor *tg_tensor_find(const tg_file *f, const char *name);
/* Scalars (0 when absent or of another type). */
uint32_t tg_u32(const tg_file *f, const char *key);
float tg_f32(const tg_file *f, const char *key);
int tg_bool(const tg_file *f, const char *key); /* -1 absent */
/* A string value or string array item i, malloc'd (NULL when absent). */
char *tg_str(const tg_file *f, const char *key, uint64_t i);

#endif
