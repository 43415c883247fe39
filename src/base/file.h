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

/* Reads a whole regular file into a NUL-terminated malloc'd buffer (ct_open_read: a FIFO or a
 * device is refused; a read error is an error, never a short file). */
ct_status ct_read_file(const char *path, char **out, size_t *len, ct_err *err);

/* ---- reading streams: only regular files, EOF told apart from a read error ----
 * ct_open_read opens `path` for reading without blocking on a FIFO's open() and refuses anything
 * but a regular file, saying what it found ("is a FIFO", "is a character device", "is a
 * directory"): a FIFO in a dataset directory would block forever and /dev/zero would be read
 * until memory runs out. */
ct_status ct_open_read(const char *path, FILE **out, ct_err *err);
/* "a FIFO", "a character device", ... for a st_mode that is not a regular file; NULL for one. */
const char *ct_file_kind(unsigned mode);

/* Test seam (fault injection without LD_PRELOAD): when non-NULL, every stream ct_open_read opens
 * is handed to this hook, which returns the stream to read instead (a fopencookie wrapper that
 * fails with EIO or ENOMEM part way) or NULL to keep the real one. NULL in production. */
extern FILE *(*ct_test_stream_hook)(FILE *real, const char *path);

/* Line reader with a place in every error. ct_lines_next gives the next line in r->line
 * (r->len bytes, '\n' and a trailing '\r' removed, NUL-terminated) and sets *got; at the end of
 * the file *got is false. A read error (EIO, ENOMEM, ...) is an error naming "path:line", never
 * an early end of file; so is a line longer than max_len bytes (0 = no limit). */
typedef struct ct_lines {
    FILE *f;
    char *name;         /* the path, or what the stream is ("<stdin>"), for messages */
    char *line;
    size_t len, cap;
    size_t lineno;      /* number of the line last returned, from 1 */
    size_t max_len;
    bool own;           /* ct_lines_close closes f */
} ct_lines;

ct_status ct_lines_open(ct_lines *r, const char *path, size_t max_len, ct_err *err);
/* Reads an already open stream (stdin); `name` is used in messages. */
ct_status ct_lines_from(ct_lines *r, FILE *f, const char *name, size_t max_len, ct_err *err);
ct_status ct_lines_next(ct_lines *r, bool *got, ct_err *err);
void ct_lines_close(ct_lines *r);
/* Reads the rest of a stream into a NUL-terminated malloc'd buffer; a read error is an error
 * naming `name`. */
ct_status ct_read_stream(FILE *f, const char *name, char **out, size_t *len, ct_err *err);
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

/* Copies src_dir/name to dst_dir/name (atomic write) when it exists; nothing otherwise. */
ct_status ct_copy_if_exists(const char *src_dir, const char *dst_dir, const char *name, ct_err *err);
/* Removes a file or a directory tree (like `rm -rf`); a missing path is not an error. */
ct_status ct_rm_rf(const char *path, ct_err *err);
/* fsync of a directory (its entries), best effort. */
void ct_fsync_dir(const char *dir);

/* Atomic directory write (checkpoints, exported models), in two steps:
 *   ct_dir_fresh(tmp)            removes any leftover tmp and creates it empty;
 *   ... write every file into tmp ...
 *   ct_dir_publish(tmp, path)    fsyncs tmp and renames it to path; the parent directory is
 *                                fsynced.
 * An existing path is swapped with tmp in one renameat2(RENAME_EXCHANGE) and the old tree
 * removed; where the filesystem lacks it, path is first renamed to "<path>.old".
 * A crash at any point leaves the old directory or the new one at `path` (plus a stale tmp, or
 * only "<path>.old" in the fallback's window: ct_dir_publish_recover), never a half-written
 * one. On a failure the caller removes tmp (ct_rm_rf). */
ct_status ct_dir_fresh(const char *tmp, ct_err *err);
ct_status ct_dir_publish(const char *tmp, const char *path, ct_err *err);
/* After a crash inside ct_dir_publish's fallback (filesystems without RENAME_EXCHANGE): a
 * "<path>.old" without `path` is renamed back to `path`; one next to `path` is removed. */
ct_status ct_dir_publish_recover(const char *path, ct_err *err);
/* Removes a directory so that a crash never leaves a partial one under its name: `path` is
 * renamed to "<path>.trash" (one atomic step) and the trash is then deleted; a leftover trash
 * is the caller's to clean up. A missing path is not an error. */
ct_status ct_dir_remove(const char *path, ct_err *err);
/* Renames every file of tmp (names not starting with '.') into dst, then removes tmp: names
 * listed in `last` (NULL-terminated, may be NULL) are moved after all others, in that order,
 * so a reader never sees them without the rest (config.json after the weights). Each rename is
 * atomic, the whole move is not: a crash part-way leaves some files in dst, the rest in tmp. */
ct_status ct_dir_move_into(const char *tmp, const char *dst, const char *const *last, ct_err *err);

/* Exclusive lock on a directory (one training run per output_dir): flock(LOCK_EX) on dir/name,
 * created if missing, holding the holder's pid as text. Released by ct_dir_lock_release (which
 * unlinks the file) or by the kernel when the process dies, kill -9 included. A lock held by
 * another process is CT_ERR_BUSY: "<dir>/<name>: held by another process (pid N)"; a filesystem
 * without flock support (some network and FUSE mounts) is CT_ERR_UNSUPPORTED. */
typedef struct ct_dir_lock {
    int fd;
    char *path;
    long holder; /* after CT_ERR_BUSY: the holder's pid (0: not known yet) */
} ct_dir_lock;
ct_status ct_dir_lock_take(ct_dir_lock *lk, const char *dir, const char *name, ct_err *err);
void ct_dir_lock_release(ct_dir_lock *lk);

#endif
