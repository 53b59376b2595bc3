/* src/runtime/error.h: filling a caller's ql_error. */
#ifndef QL_RUNTIME_ERROR_H
#define QL_RUNTIME_ERROR_H

#include "qloop.h"

#if defined(__GNUC__)
#define QL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define QL_PRINTF(a, b)
#endif

/* Formats the message into `err` (when not NULL) and returns `status`, so a failure
 * path reads `return ql_fail(err, QL_ERR_CORRUPT, "%s: ...", path);`. */
ql_status ql_fail(ql_error *err, ql_status status, const char *fmt, ...) QL_PRINTF(3, 4);

/* Clears `err` to QL_OK with an empty message; returns QL_OK. */
ql_status ql_ok(ql_error *err);

#endif
