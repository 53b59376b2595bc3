/*
 * src/model/gguf_write.h: GGUF v3 writer (internal).
 *
 * Metadata and the tensor table are built in memory first; then the header is written and
 * tensor data is streamed in table order, each tensor padded to `general.alignment`
 * (default 32; set it as a u32 key before adding tensors to change it). Layout as in
 * src/model/gguf.h.
 *
 * The file goes to "<path>.tmp"; ql_gguf_writer_finish() fsyncs it and renames it to
 * `path` (then fsyncs the folder), so `path` either holds a complete file or is untouched.
 * Freeing a writer that was not finished removes the temporary file.
 *
 * Values whose size is fixed (u64 checksums, ...) may be changed after the header was
 * written (ql_gguf_writer_patch_u64): a writer can reserve them up front and fill them in
 * once the data they describe has been streamed.
 *
 * Usage:
 *   ql_gguf_writer *w; ql_gguf_writer_new(&w, err);
 *   ql_gguf_set_str(w, "general.architecture", "llama", err); ...
 *   ql_gguf_add_tensor(w, "token_embd.weight", QL_TYPE_Q8_0, 2, ne, err); ...
 *   ql_gguf_writer_begin(w, "out.gguf", err);
 *   ql_gguf_write_data(w, bytes, n, err);   (any chunking; tensors in table order)
 *   ql_gguf_writer_finish(w, err); ql_gguf_writer_free(w);
 */
#ifndef QL_MODEL_GGUF_WRITE_H
#define QL_MODEL_GGUF_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/gguf.h"
#include "qloop.h"

typedef struct ql_gguf_writer ql_gguf_writer;

ql_status ql_gguf_writer_new(ql_gguf_writer **out, ql_error *err);
/* Removes the temporary file unless finished. NULL is a no-op. */
void ql_gguf_writer_free(ql_gguf_writer *w);

/* ---- encoded values: a growable little-endian byte buffer ---------------------------- */

/* One value in its file encoding (without the leading u32 type, which is `type`).
 * Build nested arrays with ql_gguf_buf_arr() followed by the elements: an array of
 * arrays is arr(ARRAY, n) then, per element, arr(elem, m) and its m values. */
typedef struct ql_gguf_buf {
    uint8_t *p;
    size_t len, cap;
    bool oom; /* an append failed: the buffer is unusable */
} ql_gguf_buf;

void ql_gguf_buf_free(ql_gguf_buf *b);
void ql_gguf_buf_bytes(ql_gguf_buf *b, const void *p, size_t n);
void ql_gguf_buf_u32(ql_gguf_buf *b, uint32_t v);
void ql_gguf_buf_u64(ql_gguf_buf *b, uint64_t v);
void ql_gguf_buf_str(ql_gguf_buf *b, const char *s, uint64_t len); /* u64 len + bytes */
void ql_gguf_buf_arr(ql_gguf_buf *b, ql_gguf_type elem_type, uint64_t n);
/* Appends a parsed value (any type, nested arrays included) in its file encoding. */
void ql_gguf_buf_value(ql_gguf_buf *b, const ql_gguf_value *v);

/* ---- metadata: setting an existing key replaces its value in place -------------------- */

/* `enc` is the value's encoding (ql_gguf_buf) of `type`. QL_ERR_ARG for an empty key,
 * a key longer than 65535 bytes or a call after begin; QL_ERR_NOMEM. */
ql_status ql_gguf_set_encoded(ql_gguf_writer *w, const char *key, ql_gguf_type type,
                              const void *enc, size_t len, ql_error *err);
ql_status ql_gguf_set_u8(ql_gguf_writer *w, const char *key, uint8_t v, ql_error *err);
ql_status ql_gguf_set_i8(ql_gguf_writer *w, const char *key, int8_t v, ql_error *err);
ql_status ql_gguf_set_u16(ql_gguf_writer *w, const char *key, uint16_t v, ql_error *err);
ql_status ql_gguf_set_i16(ql_gguf_writer *w, const char *key, int16_t v, ql_error *err);
ql_status ql_gguf_set_u32(ql_gguf_writer *w, const char *key, uint32_t v, ql_error *err);
ql_status ql_gguf_set_i32(ql_gguf_writer *w, const char *key, int32_t v, ql_error *err);
ql_status ql_gguf_set_u64(ql_gguf_writer *w, const char *key, uint64_t v, ql_error *err);
ql_status ql_gguf_set_i64(ql_gguf_writer *w, const char *key, int64_t v, ql_error *err);
ql_status ql_gguf_set_f32(ql_gguf_writer *w, const char *key, float v, ql_error *err);
ql_status ql_gguf_set_f64(ql_gguf_writer *w, const char *key, double v, ql_error *err);
ql_status ql_gguf_set_bool(ql_gguf_writer *w, const char *key, bool v, ql_error *err);
ql_status ql_gguf_set_str(ql_gguf_writer *w, const char *key, const char *v, ql_error *err);
/* Array of n fixed-size elements (`data` packed little-endian, elem_type not STRING or
 * ARRAY). */
ql_status ql_gguf_set_arr(ql_gguf_writer *w, const char *key, ql_gguf_type elem_type,
                          const void *data, uint64_t n, ql_error *err);
ql_status ql_gguf_set_arr_str(ql_gguf_writer *w, const char *key, const char *const *v,
                              uint64_t n, ql_error *err);
/* A copy of a value read by the GGUF reader (any type). `key` has explicit length. */
ql_status ql_gguf_set_value(ql_gguf_writer *w, ql_str key, const ql_gguf_value *v,
                            ql_error *err);
/* Removes a key; no-op when absent (before begin only). */
void ql_gguf_remove(ql_gguf_writer *w, const char *key);
uint64_t ql_gguf_writer_n_kv(const ql_gguf_writer *w);

/* ---- tensors ------------------------------------------------------------------------- */

/* Appends a tensor to the table; its data offset is the next aligned position.
 * QL_ERR_ARG: duplicate or empty name, n_dims not 1..4, a dim < 1, a row length that is
 * not a multiple of the type's block size, unknown type, call after begin. */
ql_status ql_gguf_add_tensor(ql_gguf_writer *w, const char *name, uint32_t type,
                             uint32_t n_dims, const int64_t *ne, ql_error *err);
uint64_t ql_gguf_writer_n_tensors(const ql_gguf_writer *w);
/* Bytes of tensor i's data. */
uint64_t ql_gguf_writer_tensor_bytes(const ql_gguf_writer *w, uint64_t i);

/* ---- writing ------------------------------------------------------------------------- */

/* Creates "<path>.tmp" and writes the header, metadata, tensor table and padding.
 * QL_ERR_ARG: general.alignment present but not a non-zero power-of-two u32; QL_ERR_IO. */
ql_status ql_gguf_writer_begin(ql_gguf_writer *w, const char *path, ql_error *err);
/* Streams the next n bytes of tensor data (tensors in table order, any chunking; padding
 * is inserted automatically). QL_ERR_ARG when more bytes than the table holds. */
ql_status ql_gguf_write_data(ql_gguf_writer *w, const void *data, size_t n, ql_error *err);
/* Overwrites the value of an existing UINT64 key, before or after begin. */
ql_status ql_gguf_writer_patch_u64(ql_gguf_writer *w, const char *key, uint64_t v,
                                   ql_error *err);
/* Checks all tensor data was written, flushes, fsyncs, renames into place.
 * QL_ERR_ARG when data is missing; QL_ERR_IO. On failure the temporary file is removed. */
ql_status ql_gguf_writer_finish(ql_gguf_writer *w, ql_error *err);

#endif /* QL_MODEL_GGUF_WRITE_H */
