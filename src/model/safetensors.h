/*
 * src/model/safetensors.h: safetensors files, memory-mapped (internal).
 *
 * Format (huggingface/safetensors): an 8-byte little-endian u64 N, N bytes of JSON mapping
 * each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the
 * data section that follows the header), plus an ignored "__metadata__" object.
 * Every header is validated before any tensor is handed out: dtype F32/F16/BF16 only,
 * non-negative shapes whose element count does not overflow, end - begin = elements x
 * dtype size, data inside the file, no two tensors overlapping.
 */
#ifndef QL_MODEL_SAFETENSORS_H
#define QL_MODEL_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "qloop.h"

#define QL_ST_MAX_DIMS 4

typedef struct ql_st_tensor {
    const char *name;
    uint32_t type;                  /* QL_TYPE_F32, QL_TYPE_F16 or QL_TYPE_BF16 */
    uint32_t n_dims;                /* 0 (scalar) .. QL_ST_MAX_DIMS */
    int64_t shape[QL_ST_MAX_DIMS];  /* as stored: row-major, outermost first */
    const void *data;               /* aligned to the element size */
    uint64_t nbytes;
    uint64_t offset;                /* byte offset of the data in its file */
    const char *file;               /* the file it lives in, for messages */
} ql_st_tensor;

/* One model's tensors, from one file or from the shards of an index. */
typedef struct ql_safetensors ql_safetensors;

/* Opens one .safetensors file.
 * Errors: QL_ERR_IO (open/map), QL_ERR_CORRUPT (header; the message names the file, the
 * tensor and the byte offset), QL_ERR_UNSUPPORTED (dtype other than F32/F16/BF16, named
 * with its tensor), QL_ERR_NOMEM. */
ql_status ql_safetensors_open_file(const char *path, ql_safetensors **out, ql_error *err);

/* Opens the weights of a Hugging Face folder: `model.safetensors.index.json` (its
 * weight_map names the shard of every tensor) if present, else `model.safetensors`.
 * Errors as above, plus QL_ERR_NOT_FOUND when the folder has neither file or a tensor of
 * the weight map is not in its shard. */
ql_status ql_safetensors_open_dir(const char *dir, ql_safetensors **out, ql_error *err);

void ql_safetensors_close(ql_safetensors *st);

/* NULL when absent. */
const ql_st_tensor *ql_safetensors_find(const ql_safetensors *st, const char *name);
/* The index of `name` for ql_safetensors_at, or -1 when absent. */
ptrdiff_t ql_safetensors_find_index(const ql_safetensors *st, const char *name);
size_t ql_safetensors_count(const ql_safetensors *st);
const ql_st_tensor *ql_safetensors_at(const ql_safetensors *st, size_t i); /* sorted by name */

#endif
