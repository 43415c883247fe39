/* File helpers: whole-file reads, read-only mmaps, atomic writes (temp file + fsync + rename). */
#ifndef CT_BASE_FILE_H
#define CT_BASE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ctune/err.h"

typedef struct ct_mmap {
    void *data;
    size_t size;
} ct_mmap;

/* Maps `path` read-only. An empty file maps to {NULL, 0}. */
ct_status ct_mmap_open(ct_mmap *m, const char *path, ct_err *err);
void ct_mmap_close(ct_mmap *m);

/* Reads a whole file into a NUL-terminated malloc'd buffer. */
ct_status ct_read_file(const char *path, char **out, size_t *len, ct_err *err);
bool ct_file_exists(const char *path);
bool ct_dir_exists(const char *path);
ct_status ct_mkdir_p(const char *path, ct_err *err);
/* Joins a directory and a file name into a malloc'd string. */
char *ct_path_join(const char *dir, const char *name);

/* Atomic writer: writes go to "<path>.tmp.<pid>", ct_atomic_commit fsyncs and renames over
 * `path` (then fsyncs the directory). ct_atomic_abort removes the temp file. A crash at any
 * point leaves either the old file or the new one, never a torn one. */
typedef struct ct_atomic_file {
    FILE *fp;
    char *path;
    char *tmp_path;
} ct_atomic_file;

ct_status ct_atomic_open(ct_atomic_file *af, const char *path, ct_err *err);
ct_status ct_atomic_write(ct_atomic_file *af, const void *data, size_t n, ct_err *err);
ct_status ct_atomic_commit(ct_atomic_file *af, ct_err *err);
void ct_atomic_abort(ct_atomic_file *af);
/* One-shot: write `n` bytes to `path` atomically. */
ct_status ct_write_file_atomic(const char *path, const void *data, size_t n, ct_err *err);

#endif
