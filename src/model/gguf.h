/*
 * src/model/gguf.h: GGUF v3 reader (internal).
 *
 * A file is memory-mapped read-only and parsed once; every count, length and offset is
 * checked against the file size with overflow-safe arithmetic before it is used, so the
 * structures below only ever point inside the mapping. Strings point into the mapping
 * and are NOT NUL-terminated (use ptr/len).
 *
 * Layout (all little-endian):
 *   u32 magic "GGUF", u32 version (3; 2 is read too), u64 n_tensors, u64 n_kv,
 *   n_kv x { string key, u32 value_type, value },
 *   n_tensors x { string name, u32 n_dims (<= 4), u64 ne[n_dims], u32 type, u64 offset },
 *   padding to `general.alignment` (default 32), tensor data (offsets relative to here,
 *   each a multiple of the alignment).
 *   string = u64 len + bytes; array = u32 elem_type + u64 n + n values (nesting allowed).
 */
#ifndef QL_MODEL_GGUF_H
#define QL_MODEL_GGUF_H

#include <stdbool.h>
#include <stdint.h>

#include "qloop.h"

typedef enum ql_gguf_type {
    QL_GGUF_UINT8 = 0,
    QL_GGUF_INT8 = 1,
    QL_GGUF_UINT16 = 2,
    QL_GGUF_INT16 = 3,
    QL_GGUF_UINT32 = 4,
    QL_GGUF_INT32 = 5,
    QL_GGUF_FLOAT32 = 6,
    QL_GGUF_BOOL = 7,
    QL_GGUF_STRING = 8,
    QL_GGUF_ARRAY = 9,
    QL_GGUF_UINT64 = 10,
    QL_GGUF_INT64 = 11,
    QL_GGUF_FLOAT64 = 12,
    QL_GGUF_TYPE_COUNT = 13,
} ql_gguf_type;

/* A byte string inside the mapping (not NUL-terminated). */
typedef struct ql_str {
    const char *ptr;
    uint64_t len;
} ql_str;

typedef struct ql_gguf_value ql_gguf_value;

/* An array value. For fixed-size element types `data` points at n packed little-endian
 * elements in the file (possibly unaligned: read with memcpy or the accessors below).
 * For STRING and ARRAY elements `items` holds n parsed values. */
typedef struct ql_gguf_array {
    ql_gguf_type elem_type;
    uint64_t n;
    const uint8_t *data;        /* fixed-size elements; NULL otherwise */
    const ql_gguf_value *items; /* STRING / ARRAY elements; NULL otherwise */
} ql_gguf_array;

struct ql_gguf_value {
    ql_gguf_type type;
    uint64_t file_offset; /* where the value starts in the file, for error messages */
    union {
        uint64_t u64;  /* UINT8..UINT64 */
        int64_t i64;   /* INT8..INT64 */
        double f64;    /* FLOAT32, FLOAT64 */
        bool b;        /* BOOL */
        ql_str str;    /* STRING */
        ql_gguf_array arr; /* ARRAY */
    } v;
};

typedef struct ql_gguf_kv {
    ql_str key;
    ql_gguf_value value;
} ql_gguf_kv;

typedef struct ql_gguf_tensor {
    ql_str name;
    uint32_t n_dims;     /* 1..4 */
    int64_t ne[4];       /* ne[0] is the row length (fastest-varying); unused dims are 1 */
    uint32_t type;       /* a ql_type id known to quant/types.h */
    uint64_t offset;     /* relative to the start of the data section */
    uint64_t nbytes;     /* exact size of the tensor data */
    uint64_t n_elements;
    const void *data;    /* inside the mapping */
} ql_gguf_tensor;

typedef struct ql_gguf ql_gguf;

/* Deepest array nesting accepted: an array of arrays is depth 2. */
#define QL_GGUF_MAX_DEPTH 8
/* Most elements one tensor may have (element counts stay far inside int64). */
#define QL_GGUF_MAX_ELEMENTS ((uint64_t)1 << 62)

/* Maps and parses `path`. Errors name the file, the field and its byte offset:
 *   QL_ERR_IO, QL_ERR_CORRUPT (bad magic, truncation, lengths past the end, dims product
 *   overflow, data past end, misaligned offsets, duplicate keys or tensor names, bad bool,
 *   overlapping tensor data, general.alignment not a power of two >= 8, nesting too deep),
 *   QL_ERR_UNSUPPORTED (version other than 2/3, unknown value or tensor type), QL_ERR_NOMEM. */
ql_status ql_gguf_open(const char *path, ql_gguf **out, ql_error *err);
void ql_gguf_close(ql_gguf *g);

const char *ql_gguf_path(const ql_gguf *g);
uint32_t ql_gguf_version(const ql_gguf *g);
uint64_t ql_gguf_alignment(const ql_gguf *g);
uint64_t ql_gguf_data_offset(const ql_gguf *g); /* file offset of the data section */
uint64_t ql_gguf_file_size(const ql_gguf *g);

uint64_t ql_gguf_n_kv(const ql_gguf *g);
const ql_gguf_kv *ql_gguf_kv_at(const ql_gguf *g, uint64_t i);
/* NULL when absent. */
const ql_gguf_value *ql_gguf_get(const ql_gguf *g, const char *key);

/* Typed getters. QL_ERR_NOT_FOUND when absent (message names the key), QL_ERR_CORRUPT
 * when present with an incompatible type or out of the target's range. Integer getters
 * accept any integer type whose value fits; float getters accept FLOAT32/FLOAT64. */
ql_status ql_gguf_get_u32(const ql_gguf *g, const char *key, uint32_t *out, ql_error *err);
ql_status ql_gguf_get_i32(const ql_gguf *g, const char *key, int32_t *out, ql_error *err);
ql_status ql_gguf_get_u64(const ql_gguf *g, const char *key, uint64_t *out, ql_error *err);
ql_status ql_gguf_get_f32(const ql_gguf *g, const char *key, float *out, ql_error *err);
ql_status ql_gguf_get_bool(const ql_gguf *g, const char *key, bool *out, ql_error *err);
ql_status ql_gguf_get_str(const ql_gguf *g, const char *key, ql_str *out, ql_error *err);
/* Array of the given element type (any element type when elem_type is QL_GGUF_TYPE_COUNT). */
ql_status ql_gguf_get_arr(const ql_gguf *g, const char *key, ql_gguf_type elem_type,
                          const ql_gguf_array **out, ql_error *err);

/* Element i of a fixed-size-element array, converted. No bounds check beyond i < n. */
int64_t ql_gguf_arr_int(const ql_gguf_array *a, uint64_t i);
double ql_gguf_arr_float(const ql_gguf_array *a, uint64_t i);

/* Bytes of one element of a fixed-size type; 0 for STRING, ARRAY and unknown types. */
uint64_t ql_gguf_type_size(ql_gguf_type t);
/* Element i of any array as a scalar value: fixed-size elements are decoded (their
 * file_offset is 0), STRING/ARRAY items are copied. False when i >= a->n. */
bool ql_gguf_arr_get(const ql_gguf_array *a, uint64_t i, ql_gguf_value *out);

uint64_t ql_gguf_n_tensors(const ql_gguf *g);
const ql_gguf_tensor *ql_gguf_tensor_at(const ql_gguf *g, uint64_t i);
/* NULL when absent. */
const ql_gguf_tensor *ql_gguf_find_tensor(const ql_gguf *g, const char *name);

const char *ql_gguf_type_name(ql_gguf_type t); /* "uint8", ..., "array" */
bool ql_str_eq(ql_str s, const char *cstr);

#endif /* QL_MODEL_GGUF_H */
