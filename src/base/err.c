#include "ctune/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

ct_status ct_err_set(ct_err *err, ct_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

ct_status ct_err_prefix(ct_err *err, const char *fmt, ...) {
    if (!err) return CT_ERR_ARG;
    char old[CT_ERR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n + 2 < sizeof err->msg) {
        size_t rest = sizeof err->msg - (size_t)n - 2;
        memcpy(err->msg + n, ": ", 2);
        size_t len = strnlen(old, rest - 1);
        memcpy(err->msg + n + 2, old, len);
        err->msg[n + 2 + len] = 0;
    }
    return err->code;
}

const char *ct_status_name(ct_status code) {
    switch (code) {
    case CT_OK: return "ok";
    case CT_ERR_IO: return "io error";
    case CT_ERR_FORMAT: return "format error";
    case CT_ERR_NOMEM: return "out of memory";
    case CT_ERR_ARG: return "bad argument";
    case CT_ERR_UNSUPPORTED: return "unsupported";
    case CT_ERR_SHAPE: return "shape mismatch";
    case CT_ERR_NUMERIC: return "numeric error";
    case CT_ERR_INTERRUPTED: return "interrupted";
    }
    return "unknown error";
}
