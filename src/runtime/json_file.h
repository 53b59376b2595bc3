/*
 * src/runtime/json_file.h: json_load_file for files that must be regular (internal).
 *
 * A model folder is untrusted input: json_load_file (fopen) on a FIFO named config.json
 * blocks forever waiting for a writer, and a character device may never end. The file
 * is opened non-blocking and checked with fstat before jansson reads it.
 */
#ifndef QL_RUNTIME_JSON_FILE_H
#define QL_RUNTIME_JSON_FILE_H

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/error.h"

/* As json_load_file; NULL with je->text "cannot open: ..." or "not a regular file" (line
 * 0) when the path cannot be read as a regular file. */
static inline json_t *ql_json_load_regular(const char *path, size_t flags, json_error_t *je) {
    json_error_t local;
    if (!je) je = &local;
    memset(je, 0, sizeof *je);
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(je->text, sizeof je->text, "cannot open: %s", strerror(errno));
        return NULL;
    }
    struct stat sb;
    FILE *f = NULL;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || !(f = fdopen(fd, "rb"))) {
        close(fd);
        snprintf(je->text, sizeof je->text, "not a regular file");
        return NULL;
    }
    json_t *root = json_loadf(f, flags, je);
    fclose(f);
    return root;
}

/* QL_ERR_CORRUPT for a failed ql_json_load_regular: the file-level reason, or where the
 * JSON went wrong. */
static inline ql_status ql_json_fail(ql_error *err, const char *path, const json_error_t *je) {
    if (je->line <= 0) return ql_fail(err, QL_ERR_CORRUPT, "%s: %s", path, je->text);
    return ql_fail(err, QL_ERR_CORRUPT, "%s: invalid JSON at line %d column %d: %s", path,
                   je->line, je->column, je->text);
}

#endif
