/*
 * tests/model/gguf_copy.h: copy a GGUF file with some metadata keys replaced or added, for
 * tests that need a model whose metadata differs from a shared file's.
 */
#ifndef QL_TESTS_GGUF_COPY_H
#define QL_TESTS_GGUF_COPY_H

#include "model/gguf.h"
#include "model/gguf_write.h"
#include "test.h"

typedef struct gguf_override {
    const char *key;
    enum { O_U32, O_F32, O_STR } kind;
    uint32_t u32;
    float f32;
    const char *str;
} gguf_override;

/* Writes dst: src's metadata (each gguf_override replacing or adding its key) and tensors. */
static bool gguf_copy(const char *src, const char *dst, const gguf_override *o, int n_o) {
    ql_error e = {0};
    ql_gguf *g = NULL;
    ql_gguf_writer *w = NULL;
    bool ok = ql_gguf_open(src, &g, &e) == QL_OK && ql_gguf_writer_new(&w, &e) == QL_OK;
    for (uint64_t i = 0; ok && i < ql_gguf_n_kv(g); i++) {
        const ql_gguf_kv *kv = ql_gguf_kv_at(g, i);
        ok = ql_gguf_set_value(w, kv->key, &kv->value, &e) == QL_OK;
    }
    for (int i = 0; ok && i < n_o; i++) {
        if (o[i].kind == O_U32) ok = ql_gguf_set_u32(w, o[i].key, o[i].u32, &e) == QL_OK;
        if (o[i].kind == O_F32) ok = ql_gguf_set_f32(w, o[i].key, o[i].f32, &e) == QL_OK;
        if (o[i].kind == O_STR) ok = ql_gguf_set_str(w, o[i].key, o[i].str, &e) == QL_OK;
    }
    for (uint64_t i = 0; ok && i < ql_gguf_n_tensors(g); i++) {
        const ql_gguf_tensor *t = ql_gguf_tensor_at(g, i);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        ok = ql_gguf_add_tensor(w, name, t->type, t->n_dims, t->ne, &e) == QL_OK;
    }
    ok = ok && ql_gguf_writer_begin(w, dst, &e) == QL_OK;
    for (uint64_t i = 0; ok && i < ql_gguf_n_tensors(g); i++) {
        const ql_gguf_tensor *t = ql_gguf_tensor_at(g, i);
        ok = ql_gguf_write_data(w, t->data, t->nbytes, &e) == QL_OK;
    }
    ok = ok && ql_gguf_writer_finish(w, &e) == QL_OK;
    CHECK_MSG(ok, "writing %s: %s", dst, e.message);
    ql_gguf_writer_free(w);
    ql_gguf_close(g);
    return ok;
}

#endif
