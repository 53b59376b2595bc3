/*
 * quant/types.h: tensor element types and their block geometry.
 *
 * The ids are GGUF's (ggml_type) so a tensor's type field in a file maps directly to
 * this enum. Ids only grow; gaps are ids that GGUF retired and must not be reused.
 */
#ifndef QL_QUANT_TYPES_H
#define QL_QUANT_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum ql_type {
    QL_TYPE_F32 = 0,
    QL_TYPE_F16 = 1,
    QL_TYPE_Q4_0 = 2,
    QL_TYPE_Q4_1 = 3,
    QL_TYPE_Q5_0 = 6,
    QL_TYPE_Q5_1 = 7,
    QL_TYPE_Q8_0 = 8,
    QL_TYPE_Q8_1 = 9,
    QL_TYPE_Q2_K = 10,
    QL_TYPE_Q3_K = 11,
    QL_TYPE_Q4_K = 12,
    QL_TYPE_Q5_K = 13,
    QL_TYPE_Q6_K = 14,
    QL_TYPE_Q8_K = 15,
    QL_TYPE_IQ2_XXS = 16,
    QL_TYPE_IQ2_XS = 17,
    QL_TYPE_IQ3_XXS = 18,
    QL_TYPE_IQ1_S = 19,
    QL_TYPE_IQ4_NL = 20,
    QL_TYPE_IQ3_S = 21,
    QL_TYPE_IQ2_S = 22,
    QL_TYPE_IQ4_XS = 23,
    QL_TYPE_I8 = 24,
    QL_TYPE_I16 = 25,
    QL_TYPE_I32 = 26,
    QL_TYPE_I64 = 27,
    QL_TYPE_F64 = 28,
    QL_TYPE_IQ1_M = 29,
    QL_TYPE_BF16 = 30,
    QL_TYPE_TQ1_0 = 34,
    QL_TYPE_TQ2_0 = 35,
    QL_TYPE_MXFP4 = 39,
    QL_TYPE_COUNT = 40, /* one past the largest id */
} ql_type;

/* Per-type facts, one row per id; `name` is NULL for ids that are not types. */
typedef struct ql_type_traits {
    const char *name;  /* "q4_0" */
    int32_t blck_size; /* elements per block */
    int32_t type_size; /* bytes per block */
} ql_type_traits;

/* NULL when `type` is not a known type id. */
const ql_type_traits *ql_type_get(uint32_t type);

/* Bytes of a row of `n` elements; false when n is not a multiple of the block size or the
 * type is unknown. Overflow-safe for any n < 2^62. */
bool ql_type_row_bytes(uint32_t type, uint64_t n, uint64_t *bytes);

/* IEEE half and bfloat16 conversions (round to nearest even on the way down). */
float ql_f16_to_f32(uint16_t h);
uint16_t ql_f32_to_f16(float f);
float ql_bf16_to_f32(uint16_t h);
uint16_t ql_f32_to_bf16(float f);

#endif /* QL_QUANT_TYPES_H */
