/* A small strict safetensors loader for files this module writes and reads back itself
 * (adapters, checkpoints) and for tests: mmaps the file, validates the header the way the
 * safetensors crate does (header <= 100 MB, offsets contiguous from 0, sizes match
 * shape*dtype, buffer fully covered, no duplicates) and exposes entries in data order.
 * The model loader (src/io/safetensors.c) is the general-purpose reader. */
#ifndef CT_IO_ST_LOAD_H
#define CT_IO_ST_LOAD_H

#include <jansson.h>
#include <stddef.h>

#include "base/file.h"
#include "ctune/err.h"
#include "ctune/tensor.h"

typedef struct ct_stbuf_entry {
    char *name;
    ct_tensor t;   /* t.data points into the mapping */
    size_t nbytes;
} ct_stbuf_entry;

typedef struct ct_stbuf {
    char *path;
    ct_mmap map;
    ct_stbuf_entry *e; /* in data-offset order */
    size_t n;
    json_t *meta;      /* __metadata__ object or NULL */
} ct_stbuf;

ct_status ct_stbuf_open(ct_stbuf *sb, const char *path, ct_err *err);
ct_status ct_stbuf_parse(ct_stbuf *sb, const void *data, size_t len, const char *what, ct_err *err);
void ct_stbuf_close(ct_stbuf *sb);
const ct_stbuf_entry *ct_stbuf_find(const ct_stbuf *sb, const char *name);

#endif
