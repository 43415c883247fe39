#include "ctune/err.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Messages are one line: control characters that came from user data (a role name with a
 * newline, a key with a tab) are written as \n, \t, \r or \xHH, truncated to fit. */
static void one_line(char *msg) {
    char buf[CT_ERR_MSG_MAX];
    size_t o = 0;
    bool changed = false;
    for (const unsigned char *p = (const unsigned char *)msg; *p && o + 1 < sizeof buf; p++) {
        if (*p >= 0x20 && *p != 0x7f) {
            buf[o++] = (char)*p;
            continue;
        }
        char esc[5];
        int k = *p == '\n' ? snprintf(esc, sizeof esc, "\\n") : *p == '\t' ? snprintf(esc, sizeof esc, "\\t")
              : *p == '\r' ? snprintf(esc, sizeof esc, "\\r") : snprintf(esc, sizeof esc, "\\x%02x", *p);
        if (o + (size_t)k + 1 > sizeof buf) break;
        memcpy(buf + o, esc, (size_t)k);
        o += (size_t)k;
        changed = true;
    }
    if (!changed) return;
    buf[o] = 0;
    memcpy(msg, buf, o + 1);
}

ct_status ct_err_set(ct_err *err, ct_status code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        one_line(err->msg);
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
    one_line(err->msg);
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
    case CT_ERR_BUSY: return "busy";
    }
    return "unknown error";
}
