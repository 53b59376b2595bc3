/* simd/g16.c: the grouped weight layout (simd/g16.h, simd/kernels.h). */
#include "g16.h"

#include <string.h>

#include "quant/types.h"

enum { GROUP = 16, MAX_ROW_BYTES = 1 << 26 };

int32_t ql_g16_unit_blocks(uint32_t type) {
    switch (type) {
    case QL_TYPE_Q8_0: case QL_TYPE_Q4_0: case QL_TYPE_Q4_1: return 4;
    case QL_TYPE_Q4_K: case QL_TYPE_Q5_K: case QL_TYPE_Q6_K: return 1;
    default: return 0;
    }
}

size_t ql_g16_unit_bytes(const ql_kernel_table *t, uint32_t type) {
    const ql_type_traits *tt = ql_type_get(type);
    if (type >= QL_TYPE_COUNT || !tt || !t->matmul_g16[type] || !ql_g16_unit_blocks(type)) return 0;
    return (size_t)ql_g16_unit_blocks(type) * (size_t)tt->type_size;
}

bool ql_g16_fits(const ql_kernel_table *t, uint32_t type, int64_t k, int64_t rows) {
    size_t unit = ql_g16_unit_bytes(t, type);
    uint64_t row_bytes = 0;
    if (!unit || rows <= 0 || rows % GROUP || k <= 0 || !ql_type_row_bytes(type, (uint64_t)k, &row_bytes))
        return false;
    /* the Q8_0 / Q8_K activation row of k elements is at most 1.15 k bytes */
    return row_bytes % unit == 0 && row_bytes <= MAX_ROW_BYTES && (uint64_t)k <= MAX_ROW_BYTES / 2;
}

void ql_g16_pack(size_t unit_bytes, const void *src, void *dst, int64_t rows, size_t row_bytes) {
    const uint8_t *s = src;
    uint8_t *d = dst;
    size_t units = row_bytes / unit_bytes, group = GROUP * row_bytes;
    for (int64_t g = 0; g < rows / GROUP; g++)
        for (size_t u = 0; u < units; u++)
            for (int i = 0; i < GROUP; i++)
                memcpy(d + (size_t)g * group + (u * GROUP + (size_t)i) * unit_bytes,
                       s + (size_t)g * group + (size_t)i * row_bytes + u * unit_bytes, unit_bytes);
}

void ql_g16_row(size_t unit_bytes, const void *w, size_t row_bytes, int64_t r, void *dst) {
    const uint8_t *g = (const uint8_t *)w + (size_t)(r / GROUP) * GROUP * row_bytes;
    size_t i = (size_t)(r % GROUP), units = row_bytes / unit_bytes;
    for (size_t u = 0; u < units; u++)
        memcpy((uint8_t *)dst + u * unit_bytes, g + (u * GROUP + i) * unit_bytes, unit_bytes);
}
