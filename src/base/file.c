#include "base/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fault.h"

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
        /* Transparent huge pages for the page cache behind large maps (weights): a fault reads
         * the file in 2 MiB folios mapped by one TLB entry each, which lets a decode stream the
         * weights at the memory's read bandwidth (1.4x the decode speed of 4 KiB pages on the
         * bench machine, docs/perf.md). Only a hint: without THP support, or with the file
         * already cached in small pages, it changes nothing, and results never depend on it. */
        if (size >= ((size_t)2 << 20)) (void)madvise(p, size, MADV_HUGEPAGE);
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

static char *with_suffix(const char *path, const char *suffix) {
    size_t a = strlen(path), b = strlen(suffix);
    char *s = malloc(a + b + 1);
    if (!s) return NULL;
    memcpy(s, path, a);
    memcpy(s + a, suffix, b + 1);
    return s;
}

ct_status ct_dir_publish(const char *tmp, const char *path, ct_err *err) {
    ct_fsync_dir(tmp);
    bool had = ct_dir_exists(path);
    if (had) {
        /* One atomic step where the filesystem can: tmp and path swap names, so `path` holds the
         * old directory or the new one at every instant; tmp (now the old one) is then removed. */
        if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_EXCHANGE) == 0) {
            fsync_parent_dir(path);
            return ct_rm_rf(tmp, err);
        }
        if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
            return ct_err_set(err, CT_ERR_IO, "%s: rename failed: %s", path, strerror(errno));
    }
    /* No exchange: path -> "<path>.old", tmp -> path. Between the two renames only "<path>.old"
     * exists; ct_dir_publish_recover puts it back. */
    char *old = had ? with_suffix(path, ".old") : NULL;
    ct_status st = CT_OK;
    if (had && !old) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    if (had) {
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

ct_status ct_dir_publish_recover(const char *path, ct_err *err) {
    char *old = with_suffix(path, ".old");
    if (!old) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = CT_OK;
    if (ct_dir_exists(old)) {
        if (!ct_dir_exists(path) && rename(old, path) == 0) fsync_parent_dir(path);
        else st = ct_rm_rf(old, err);
    }
    free(old);
    return st;
}

ct_status ct_dir_remove(const char *path, ct_err *err) {
    char *trash = with_suffix(path, ".trash");
    if (!trash) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    ct_status st = ct_rm_rf(trash, err);
    if (!st && rename(path, trash) != 0 && errno != ENOENT)
        st = ct_err_set(err, CT_ERR_IO, "%s: cannot rename to %s: %s", path, trash, strerror(errno));
    if (!st) {
        fsync_parent_dir(path);
        ct_fault_point("dir.remove.renamed");
        st = ct_rm_rf(trash, err);
    }
    free(trash);
    return st;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Rank of a name in `last` (its position + 1), 0 when absent. */
static size_t last_rank(const char *name, const char *const *last) {
    for (size_t i = 0; last && last[i]; i++)
        if (!strcmp(name, last[i])) return i + 1;
    return 0;
}

ct_status ct_dir_move_into(const char *tmp, const char *dst, const char *const *last, ct_err *err) {
    DIR *d = opendir(tmp);
    if (!d) return ct_err_set(err, CT_ERR_IO, "%s: cannot open directory: %s", tmp, strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    ct_status st = CT_OK;
    while (!st && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(de->d_name))) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
        else n++;
    }
    closedir(d);
    if (n > 1) qsort(names, n, sizeof *names, cmp_str);
    /* two passes: everything not in `last`, then `last` in its order */
    size_t nl = 0;
    while (last && last[nl]) nl++;
    for (size_t pass = 0; pass <= nl && !st; pass++) {
        for (size_t i = 0; i < n && !st; i++) {
            if (last_rank(names[i], last) != pass) continue;
            char *s = ct_path_join(tmp, names[i]), *t = ct_path_join(dst, names[i]);
            if (!s || !t) st = ct_err_set(err, CT_ERR_NOMEM, "out of memory");
            else if (rename(s, t) != 0) st = ct_err_set(err, CT_ERR_IO, "%s: rename failed: %s", t, strerror(errno));
            free(s);
            free(t);
        }
    }
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    if (!st) {
        ct_fsync_dir(dst);
        if (rmdir(tmp) != 0) st = ct_err_set(err, CT_ERR_IO, "%s: cannot remove: %s", tmp, strerror(errno));
    }
    return st;
}

/* ---- exclusive directory lock ---- */

/* The pid recorded in a lock file, or 0 when unreadable. The holder writes its pid right after
 * flock succeeds, so a refused run that looks in between finds the file empty: it looks again for
 * up to ~2 s (a loaded machine) before giving up on naming the holder. */
static long lock_holder(const char *path) {
    for (int attempt = 0; attempt < 100; attempt++) {
        char buf[32] = {0};
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) return 0;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        long pid = n > 0 ? strtol(buf, NULL, 10) : 0;
        if (pid > 0) return pid;
        nanosleep(&(struct timespec){.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000}, NULL);
    }
    return 0;
}

ct_status ct_dir_lock_take(ct_dir_lock *lk, const char *dir, const char *name, ct_err *err) {
    lk->fd = -1;
    lk->holder = 0;
    lk->path = ct_path_join(dir, name);
    if (!lk->path) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(lk->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0) {
            ct_status st = ct_err_set(err, CT_ERR_IO, "%s: cannot open lock file: %s", lk->path, strerror(errno));
            ct_dir_lock_release(lk);
            return st;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            int e = errno;
            close(fd);
            ct_status st;
            if (e == EWOULDBLOCK) {
                long pid = lock_holder(lk->path);
                lk->holder = pid;
                if (pid > 0) st = ct_err_set(err, CT_ERR_BUSY, "%s: held by another process (pid %ld)", lk->path, pid);
                else st = ct_err_set(err, CT_ERR_BUSY, "%s: held by another process", lk->path);
            } else if (e == ENOLCK || e == EOPNOTSUPP || e == ENOSYS) {
                st = ct_err_set(err, CT_ERR_UNSUPPORTED, "%s: this filesystem has no file locks (%s)", lk->path, strerror(e));
            } else {
                st = ct_err_set(err, CT_ERR_IO, "%s: cannot lock: %s", lk->path, strerror(e));
            }
            ct_dir_lock_release(lk);
            return st;
        }
        /* The holder unlinks the file when it releases: a lock on an unlinked (or replaced) file
         * protects nothing, so take it again on whatever file is at the path now. */
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(lk->path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            char pid[32];
            int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            bool wrote = ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)len, 0) == len;
            (void)wrote; /* the pid is informational (named in the refusal of a second run) */
            lk->fd = fd;
            return CT_OK;
        }
        close(fd);
    }
    ct_status st = ct_err_set(err, CT_ERR_BUSY, "%s: the lock file keeps being replaced", lk->path);
    ct_dir_lock_release(lk);
    return st;
}

void ct_dir_lock_release(ct_dir_lock *lk) {
    if (lk->fd >= 0) {
        unlink(lk->path); /* while still holding it: see ct_dir_lock_take */
        close(lk->fd);
    }
    free(lk->path);
    lk->path = NULL;
    lk->fd = -1;
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
