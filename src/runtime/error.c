/* src/runtime/error.c: status strings and error filling. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

const char *ql_status_str(ql_status status) {
    switch (status) {
    case QL_OK: return "ok";
    case QL_ERR_IO: return "I/O error";
    case QL_ERR_CORRUPT: return "corrupt input";
    case QL_ERR_UNSUPPORTED: return "unsupported";
    case QL_ERR_NOMEM: return "out of memory";
    case QL_ERR_ARG: return "invalid argument";
    case QL_ERR_RANGE: return "out of range";
    case QL_ERR_NOT_FOUND: return "not found";
    }
    return "unknown status";
}

const char *ql_version(void) { return "0.1.0"; }

ql_status ql_fail(ql_error *err, ql_status status, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

ql_status ql_ok(ql_error *err) {
    if (err) {
        err->status = QL_OK;
        err->message[0] = '\0';
    }
    return QL_OK;
}
