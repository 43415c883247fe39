#include "base/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

FILE *(*ct_test_stream_hook)(FILE *real, const char *path);

const char *ct_file_kind(unsigned mode) {
    if (S_ISREG(mode)) return NULL;
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

/* Opens a regular file read-only. O_NONBLOCK keeps open() of a FIFO from waiting for a writer;
 * the file type is then checked on the descriptor (no race with a rename in between). */
static ct_status open_regular(const char *path, int *out, size_t *size, ct_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return ct_err_set(err, CT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        ct_status s = ct_err_set(err, CT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return s;
    }
    const char *kind = ct_file_kind(st.st_mode);
    if (kind) {
        close(fd);
        return ct_err_set(err, CT_ERR_IO, "%s: is %s, not a regular file", path, kind);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    *out = fd;
    if (size) *size = (size_t)st.st_size;
    return CT_OK;
}

ct_status ct_open_read(const char *path, FILE **out, ct_err *err) {
    *out = NULL;
    int fd;
    ct_status s = open_regular(path, &fd, NULL, err);
    if (s) return s;
    FILE *f = fdopen(fd, "rb");
    if (!f) {
        s = ct_err_set(err, CT_ERR_NOMEM, "%s: cannot open: %s", path, strerror(errno));
        close(fd);
        return s;
    }
    if (ct_test_stream_hook) {
        FILE *w = ct_test_stream_hook(f, path);
        if (w) f = w; /* the wrapper owns and closes the real stream */
    }
    *out = f;
    return CT_OK;
}

ct_status ct_check_data_path(const char *path, ct_err *err) {
    struct stat st;
    if (stat(path, &st) != 0) return ct_err_set(err, CT_ERR_IO, "%s: %s", path, strerror(errno));
    const char *kind = ct_file_kind(st.st_mode);
    if (kind && !S_ISDIR(st.st_mode))
        return ct_err_set(err, CT_ERR_IO, "%s: is %s, not a regular file or a directory", path, kind);
    return CT_OK;
}

ct_status ct_mmap_open(ct_mmap *m, const char *path, ct_err *err) {
    m->data = NULL;
    m->size = 0;
    int fd;
    size_t size;
    ct_status s = open_regular(path, &fd, &size, err);
    if (s) return s;
    if (size > 0) {
        void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            s = ct_err_set(err, CT_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
            close(fd);
            return s;
        }
        m->data = p;
        m->size = size;
    }
    close(fd);
    return CT_OK;
}

void ct_mmap_close(ct_mmap *m) {
    if (m->data) munmap(m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

ct_status ct_read_stream(FILE *f, const char *name, char **out, size_t *len, ct_err *err) {
    *out = NULL;
    errno = 0;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) return ct_err_set(err, CT_ERR_NOMEM, "%s: out of memory", name);
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break; /* end of file or an error: ferror tells */
        char *nb = cap <= SIZE_MAX / 4 ? realloc(buf, cap * 2 + 1) : NULL;
        if (!nb) {
            free(buf);
            return ct_err_set(err, CT_ERR_NOMEM, "%s: out of memory after %zu bytes", name, n);
        }
        buf = nb;
        cap *= 2;
    }
    if (ferror(f)) {
        int e = errno ? errno : EIO;
        ct_status s = ct_err_set(err, e == ENOMEM ? CT_ERR_NOMEM : CT_ERR_IO, "%s: read error after %zu bytes: %s",
                                 name, n, strerror(e));
        free(buf);
        return s;
    }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return CT_OK;
}

ct_status ct_read_file(const char *path, char **out, size_t *len, ct_err *err) {
    *out = NULL;
    FILE *f;
    ct_status s = ct_open_read(path, &f, err);
    if (s) return s;
    s = ct_read_stream(f, path, out, len, err);
    fclose(f);
    return s;
}

/* ---- line reader ---- */

static ct_status lines_init(ct_lines *r, FILE *f, const char *name, size_t max_len, bool own, ct_err *err) {
    memset(r, 0, sizeof *r);
    r->f = f;
    r->own = own;
    r->max_len = max_len;
    r->name = strdup(name);
    if (!r->name) {
        if (own) fclose(f);
        memset(r, 0, sizeof *r);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    return CT_OK;
}

ct_status ct_lines_open(ct_lines *r, const char *path, size_t max_len, ct_err *err) {
    memset(r, 0, sizeof *r);
    FILE *f;
    ct_status s = ct_open_read(path, &f, err);
    return s ? s : lines_init(r, f, path, max_len, true, err);
}

ct_status ct_lines_from(ct_lines *r, FILE *f, const char *name, size_t max_len, ct_err *err) {
    return lines_init(r, f, name, max_len, false, err);
}

static bool lines_grow(ct_lines *r) {
    size_t cap = r->cap ? r->cap * 2 : 256;
    if (cap < r->cap) return false;
    char *l = realloc(r->line, cap);
    if (!l) return false;
    r->line = l;
    r->cap = cap;
    return true;
}

ct_status ct_lines_next(ct_lines *r, bool *got, ct_err *err) {
    *got = false;
    r->len = 0;
    size_t at = r->lineno + 1;
    int c = EOF;
    errno = 0;
    for (;;) {
        c = getc_unlocked(r->f);
        if (c == EOF || c == '\n') break;
        if (r->max_len && r->len >= r->max_len) {
            if (r->max_len % (1u << 20) == 0)
                return ct_err_set(err, CT_ERR_FORMAT, "%s:%zu: line longer than %zu MiB (the limit for one line)",
                                  r->name, at, r->max_len >> 20);
            return ct_err_set(err, CT_ERR_FORMAT, "%s:%zu: line longer than %zu bytes (the limit for one line)",
                              r->name, at, r->max_len);
        }
        if (r->len + 1 >= r->cap && !lines_grow(r))
            return ct_err_set(err, CT_ERR_NOMEM, "%s:%zu: out of memory for a line of %zu bytes", r->name, at,
                              r->len);
        r->line[r->len++] = (char)c;
    }
    if (c == EOF && ferror(r->f)) {
        int e = errno ? errno : EIO;
        return ct_err_set(err, e == ENOMEM ? CT_ERR_NOMEM : CT_ERR_IO, "%s:%zu: read error: %s", r->name, at,
                          strerror(e));
    }
    if (c == EOF && r->len == 0) return CT_OK; /* end of file */
    if (!r->line && !lines_grow(r)) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (r->len && r->line[r->len - 1] == '\r') r->len--;
    r->line[r->len] = 0;
    r->lineno = at;
    *got = true;
    return CT_OK;
}

void ct_lines_close(ct_lines *r) {
    if (r->f && r->own) fclose(r->f);
    free(r->line);
    free(r->name);
    memset(r, 0, sizeof *r);
}

bool ct_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

bool ct_dir_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

ct_status ct_mkdir_p(const char *path, ct_err *err) {
    char *p = strdup(path);
    if (!p) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (char *s = p + 1;; s++) {
        if (*s == '/' || *s == 0) {
            char c = *s;
            *s = 0;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                ct_status st = ct_err_set(err, CT_ERR_IO, "%s: cannot create directory: %s", p,
                                          strerror(errno));
                free(p);
                return st;
            }
            *s = c;
            if (!c) break;
        }
    }
    free(p);
    return CT_OK;
}

char *ct_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *s = malloc(a + b + 2);
    if (!s) return NULL;
    memcpy(s, dir, a);
    size_t n = a;
    if (a && dir[a - 1] != '/') s[n++] = '/';
    memcpy(s + n, name, b + 1);
    return s;
}

ct_status ct_atomic_open(ct_atomic_file *af, const char *path, ct_err *err) {
    memset(af, 0, sizeof *af);
    size_t n = strlen(path) + 32;
    af->path = strdup(path);
    af->tmp_path = malloc(n);
    if (!af->path || !af->tmp_path) {
        ct_atomic_abort(af);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    snprintf(af->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
    /* An existing non-regular target (/dev/stdout, /dev/null, a FIFO) is written in place:
     * renaming a temp file over it would replace the device node (as root) or fail. */
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode) && !S_ISDIR(sb.st_mode)) {
        free(af->tmp_path);
        af->tmp_path = NULL;
        af->fp = fopen(path, "wb");
        if (!af->fp) {
            ct_status st = ct_err_set(err, CT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
            ct_atomic_abort(af);
            return st;
        }
        return CT_OK;
    }
    af->fp = fopen(af->tmp_path, "wb");
    if (!af->fp) {
        ct_status st = ct_err_set(err, CT_ERR_IO, "%s: cannot create: %s", af->tmp_path,
                                  strerror(errno));
        free(af->path);
        free(af->tmp_path);
        memset(af, 0, sizeof *af);
        return st;
    }
    return CT_OK;
}

ct_status ct_atomic_write(ct_atomic_file *af, const void *data, size_t n, ct_err *err) {
    if (n && fwrite(data, 1, n, af->fp) != n)
        return ct_err_set(err, CT_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
    return CT_OK;
}

void ct_fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

static void fsync_parent_dir(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    ct_fsync_dir(dirname(copy));
    free(copy);
}

ct_status ct_atomic_commit(ct_atomic_file *af, ct_err *err) {
    ct_status st = CT_OK;
    if (!af->tmp_path) { /* in place (device or FIFO): flush and close, nothing to rename */
        if (fflush(af->fp) != 0) st = ct_err_set(err, CT_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
        if (fclose(af->fp) != 0 && st == CT_OK)
            st = ct_err_set(err, CT_ERR_IO, "%s: close failed: %s", af->path, strerror(errno));
        free(af->path);
        memset(af, 0, sizeof *af);
        return st;
    }
    if (fflush(af->fp) != 0 || fsync(fileno(af->fp)) != 0)
        st = ct_err_set(err, CT_ERR_IO, "%s: write failed: %s", af->path, strerror(errno));
    if (fclose(af->fp) != 0 && st == CT_OK)
        st = ct_err_set(err, CT_ERR_IO, "%s: close failed: %s", af->path, strerror(errno));
    af->fp = NULL;
    if (st == CT_OK && rename(af->tmp_path, af->path) != 0)
        st = ct_err_set(err, CT_ERR_IO, "%s: rename failed: %s", af->path, strerror(errno));
    if (st != CT_OK) unlink(af->tmp_path);
    else fsync_parent_dir(af->path);
    free(af->path);
    free(af->tmp_path);
    af->path = af->tmp_path = NULL;
    return st;
}

void ct_atomic_abort(ct_atomic_file *af) {
    if (af->fp) fclose(af->fp);
    if (af->tmp_path) unlink(af->tmp_path);
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
}

ct_status ct_write_file_atomic(const char *path, const void *data, size_t n, ct_err *err) {
    ct_atomic_file af;
    ct_status st = ct_atomic_open(&af, path, err);
    if (st) return st;
    if ((st = ct_atomic_write(&af, data, n, err))) {
        ct_atomic_abort(&af);
        return st;
    }
    return ct_atomic_commit(&af, err);
}

ct_status ct_rm_rf(const char *path, ct_err *err) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? CT_OK : ct_err_set(err, CT_ERR_IO, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return ct_err_set(err, CT_ERR_IO, "%s: cannot open directory: %s", path, strerror(errno));
        struct dirent *de;
        ct_status s = CT_OK;
        while (!s && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
            char *p = ct_path_join(path, de->d_name);
            s = p ? ct_rm_rf(p, err) : ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            free(p);
        }
        closedir(d);
        if (s) return s;
        if (rmdir(path) != 0) return ct_err_set(err, CT_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
        return CT_OK;
    }
    if (unlink(path) != 0) return ct_err_set(err, CT_ERR_IO, "%s: cannot remove: %s", path, strerror(errno));
    return CT_OK;
}

ct_status ct_dir_fresh(const char *tmp, ct_err *err) {
    ct_status st = ct_rm_rf(tmp, err);
    return st ? st : ct_mkdir_p(tmp, err);
}

ct_status ct_dir_publish(const char *tmp, const char *path, ct_err *err) {
    ct_fsync_dir(tmp);
    bool had = ct_dir_exists(path);
    char *old = NULL;
    ct_status st = CT_OK;
    if (had) {
        size_t n = strlen(path) + 5;
        if (!(old = malloc(n))) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        snprintf(old, n, "%s.old", path);
        st = ct_rm_rf(old, err);
        if (!st && rename(path, old) != 0)
            st = ct_err_set(err, CT_ERR_IO, "%s: rename failed: %s", path, strerror(errno));
    }
    if (!st && rename(tmp, path) != 0) {
        st = ct_err_set(err, CT_ERR_IO, "%s: rename failed: %s", path, strerror(errno));
        if (had) rename(old, path); /* put the previous directory back */
    }
    if (!st) {
        fsync_parent_dir(path);
        if (had) st = ct_rm_rf(old, err);
    }
    free(old);
    return st;
}

ct_status ct_copy_if_exists(const char *src_dir, const char *dst_dir, const char *name, ct_err *err) {
    char *s = ct_path_join(src_dir, name), *d = ct_path_join(dst_dir, name);
    char *buf = NULL;
    size_t n = 0;
    ct_status st = (!s || !d) ? ct_err_set(err, CT_ERR_NOMEM, "out of memory") : CT_OK;
    if (!st && ct_file_exists(s)) {
        st = ct_read_file(s, &buf, &n, err);
        if (!st) st = ct_write_file_atomic(d, buf, n, err);
    }
    free(buf);
    free(s);
    free(d);
    return st;
}
