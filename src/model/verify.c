/*
 * src/model/verify.c: ql_verify(): recomputes each tensor's XXH3-64 and compares it with
 * the qloop.checksum.<name> key that `qloop quantize` stored (contract: include/qloop.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "model/gguf.h"
#include "qloop.h"
#include "runtime/error.h"

#define CHECKSUM_PREFIX "qloop.checksum."

static bool has_any_checksum(const ql_gguf *g) {
    size_t n = strlen(CHECKSUM_PREFIX);
    for (uint64_t i = 0; i < ql_gguf_n_kv(g); i++) {
        ql_str k = ql_gguf_kv_at(g, i)->key;
        if (k.len > n && memcmp(k.ptr, CHECKSUM_PREFIX, n) == 0) return true;
    }
    return false;
}

ql_status ql_verify(const char *path, ql_verify_fn fn, void *user, ql_verify_result *result,
                    ql_error *err) {
    ql_verify_result res = {0, 0, 0, 0};
    if (result) *result = res;
    ql_gguf *g = NULL;
    ql_status st = ql_gguf_open(path, &g, err);
    if (st) return st;
    if (!has_any_checksum(g)) {
        ql_gguf_close(g);
        return ql_fail(err, QL_ERR_NOT_FOUND, "%s: no qloop.checksum.* keys (the file was not "
                       "written by qloop quantize)", path);
    }
    res.n_tensors = ql_gguf_n_tensors(g);
    char *key = NULL, *name = NULL;
    for (uint64_t i = 0; i < res.n_tensors; i++) {
        const ql_gguf_tensor *t = ql_gguf_tensor_at(g, i);
        size_t klen = strlen(CHECKSUM_PREFIX) + (size_t)t->name.len + 1;
        char *nk = realloc(key, klen), *nn = nk ? realloc(name, (size_t)t->name.len + 1) : NULL;
        if (nk) key = nk;
        if (nn) name = nn;
        if (!nk || !nn) {
            st = ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        memcpy(name, t->name.ptr, t->name.len);
        name[t->name.len] = '\0';
        snprintf(key, klen, CHECKSUM_PREFIX "%s", name);
        uint64_t stored = 0, actual = 0;
        ql_verify_state state;
        if (ql_gguf_get_u64(g, key, &stored, NULL) != QL_OK) {
            state = QL_VERIFY_MISSING;
            res.n_missing++;
        } else {
            actual = XXH3_64bits(t->data, (size_t)t->nbytes);
            state = actual == stored ? QL_VERIFY_OK : QL_VERIFY_MISMATCH;
            if (state == QL_VERIFY_OK) res.n_ok++;
            else res.n_mismatch++;
        }
        if (fn) fn(name, state, stored, actual, user);
    }
    free(key);
    free(name);
    ql_gguf_close(g);
    if (result) *result = res;
    return st ? st : ql_ok(err);
}
