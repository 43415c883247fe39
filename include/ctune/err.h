/* ctune — errors as values.
 * Every fallible library function returns a ct_status (CT_OK == 0, else a negative code) and
 * fills a caller-owned ct_err with one human-readable line naming the file, line, key or tensor.
 * The library never prints or exits; the CLI prints err.msg and exits non-zero. */
#ifndef CTUNE_ERR_H
#define CTUNE_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum ct_status {
    CT_OK = 0,
    CT_ERR_IO = -1,          /* open/read/write/rename failed, disk full */
    CT_ERR_FORMAT = -2,      /* malformed file: JSON, YAML, safetensors, tokenizer.json */
    CT_ERR_NOMEM = -3,
    CT_ERR_ARG = -4,         /* bad argument or option value */
    CT_ERR_UNSUPPORTED = -5, /* valid input we do not implement (rope_scaling type, dtype) */
    CT_ERR_SHAPE = -6,       /* tensor shape disagrees with config */
    CT_ERR_NUMERIC = -7,     /* NaN/Inf loss or gradient */
    CT_ERR_INTERRUPTED = -8, /* stopped by a signal (Ctrl-C) */
    CT_ERR_BUSY = -9,        /* in use by another process (an output_dir locked by another run) */
} ct_status;

#define CT_ERR_MSG_MAX 8192 /* room for a message naming two long paths */

typedef struct ct_err {
    ct_status code;
    char msg[CT_ERR_MSG_MAX];
} ct_err;

/* Sets *err (if non-NULL) and returns code, so callers write `return ct_err_set(err, ...)`. */
ct_status ct_err_set(ct_err *err, ct_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes an existing message: "context: old message". Returns err->code. */
ct_status ct_err_prefix(ct_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *ct_status_name(ct_status code);

#ifdef __cplusplus
}
#endif
#endif
