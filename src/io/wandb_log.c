#include "io/wandb_log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/crc32.h"

#define DATA_LEN (CT_WANDB_LOG_BLOCK - CT_WANDB_LOG_HEADER)

enum { FULL = 1, FIRST = 2, MIDDLE = 3, LAST = 4 };

struct ct_wandb_log {
    FILE *fp;
    char *path;
    uint64_t offset;
};

void ct_wandb_log_header(uint8_t out[CT_WANDB_LOG_HEADER]) {
    memcpy(out, ":W&B", 4);
    out[4] = 0xe1; /* magic 0xBEE1, little-endian */
    out[5] = 0xbe;
    out[6] = 0;    /* version */
}

size_t ct_wandb_log_framed_size(uint64_t offset, size_t n) {
    (void)offset; /* the padding bound (7) holds at any offset */
    return n + CT_WANDB_LOG_HEADER * (n / DATA_LEN + 2) + CT_WANDB_LOG_HEADER;
}

static size_t put_chunk(uint8_t *out, int type, const uint8_t *data, size_t n) {
    uint8_t t = (uint8_t)type;
    uint32_t crc = ct_crc32_update(ct_crc32(&t, 1), data, n);
    for (int i = 0; i < 4; i++) out[i] = (uint8_t)(crc >> (8 * i));
    out[4] = (uint8_t)n;
    out[5] = (uint8_t)(n >> 8);
    out[6] = t;
    if (n) memcpy(out + CT_WANDB_LOG_HEADER, data, n);
    return CT_WANDB_LOG_HEADER + n;
}

/* The chunking of wandb's DataStore._write_data, step for step. */
size_t ct_wandb_log_frame(uint8_t *out, size_t cap, uint64_t offset, const void *data, size_t n) {
    if (cap < ct_wandb_log_framed_size(offset, n)) return 0;
    const uint8_t *d = data;
    size_t o = 0, space = CT_WANDB_LOG_BLOCK - (size_t)(offset % CT_WANDB_LOG_BLOCK);
    if (space < CT_WANDB_LOG_HEADER) {
        memset(out, 0, space);
        o = space;
        space = CT_WANDB_LOG_BLOCK;
    }
    if (n + CT_WANDB_LOG_HEADER <= space) return o + put_chunk(out + o, FULL, d, n);
    size_t room = space - CT_WANDB_LOG_HEADER, used = room, left = n - room;
    o += put_chunk(out + o, FIRST, d, room);
    while (left > DATA_LEN) {
        o += put_chunk(out + o, MIDDLE, d + used, DATA_LEN);
        used += DATA_LEN;
        left -= DATA_LEN;
    }
    return o + put_chunk(out + o, LAST, d + used, left);
}

ct_status ct_wandb_log_open(ct_wandb_log **out, const char *path, ct_err *err) {
    *out = NULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) return ct_err_set(err, CT_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    ct_wandb_log *w = calloc(1, sizeof *w);
    if (!w || !(w->path = strdup(path)) || !(w->fp = fdopen(fd, "wb"))) {
        if (w) free(w->path);
        free(w);
        close(fd);
        return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    }
    uint8_t h[CT_WANDB_LOG_HEADER];
    ct_wandb_log_header(h);
    if (fwrite(h, 1, sizeof h, w->fp) != sizeof h || fflush(w->fp)) {
        ct_status st = ct_err_set(err, CT_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        ct_wandb_log_close(w);
        return st;
    }
    w->offset = sizeof h;
    *out = w;
    return CT_OK;
}

ct_status ct_wandb_log_write(ct_wandb_log *w, const void *data, size_t n, ct_err *err) {
    size_t cap = ct_wandb_log_framed_size(w->offset, n);
    uint8_t *buf = malloc(cap);
    if (!buf) return ct_err_set(err, CT_ERR_NOMEM, "out of memory");
    size_t m = ct_wandb_log_frame(buf, cap, w->offset, data, n);
    ct_status st = CT_OK;
    if (fwrite(buf, 1, m, w->fp) != m || fflush(w->fp))
        st = ct_err_set(err, CT_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
    else w->offset += m;
    free(buf);
    return st;
}

const char *ct_wandb_log_path(const ct_wandb_log *w) { return w->path; }

void ct_wandb_log_close(ct_wandb_log *w) {
    if (!w) return;
    if (w->fp) fclose(w->fp);
    free(w->path);
    free(w);
}
