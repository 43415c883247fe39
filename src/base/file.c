#include "base/file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

ct_status ct_mmap_open(ct_mmap *m, const char *path, ct_err *err) {
    m->data = NULL;
    m->size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ct_err_set(err, CT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return ct_err_set(err, CT_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return ct_err_set(err, CT_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            close(fd);
            return ct_err_set(err, CT_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        }
        m->data = p;
        m->size = (size_t)st.st_size;
    }
    close(fd);
    return CT_OK;
}

void ct_mmap_close(ct_mmap *m) {
    if (m->data) munmap(m->data, m->size);
    m->data = NULL;
    m->size = 0;
}

ct_status ct_read_file(const char *path, char **out, size_t *len, ct_err *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return ct_err_set(err, CT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    if (!buf) {
        fclose(f);
        return ct_err_set(err, CT_ERR_NOMEM, "%s: out of memory", path);
    }
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (!nb) {
            free(buf);
            fclose(f);
            return ct_err_set(err, CT_ERR_NOMEM, "%s: out of memory", path);
        }
        buf = nb;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return ct_err_set(err, CT_ERR_IO, "%s: read error", path);
    }
    buf[n] = 0;
    *out = buf;
    if (len) *len = n;
    return CT_OK;
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
