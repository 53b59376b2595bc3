/*
 * simd/g16.h: the grouped weight layout of ql_kernel_table.matmul_g16 (simd/kernels.h):
 * whether a matrix can use it, packing a plain (GGUF-order) matrix into it, and reading
 * one of its rows back in plain order.
 */
#ifndef QL_SIMD_G16_H
#define QL_SIMD_G16_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels.h"

/* Blocks per unit of `type`: one decode step of the kernels (4 blocks of 32 for Q8_0, Q4_0
 * and Q4_1, one super-block for Q4_K, Q5_K and Q6_K); 0 for other types. The one definition:
 * the packer, the kernels (wlay_of, simd/wlay.h) and the tests all take it from here. */
int32_t ql_g16_unit_blocks(uint32_t type);

/* Bytes of one unit of `type`; 0: table t has no grouped kernel for the type. */
size_t ql_g16_unit_bytes(const ql_kernel_table *t, uint32_t type);

/* True when t runs a matrix of `rows` rows of k elements of `type` in the grouped layout:
 * a grouped kernel exists, rows is a multiple of 16 and k of the unit, and the rows are
 * short enough for the kernels' 32-bit offsets. */
bool ql_g16_fits(const ql_kernel_table *t, uint32_t type, int64_t k, int64_t rows);

/* dst (rows * row_bytes bytes, not overlapping src) = src in the grouped layout. */
void ql_g16_pack(size_t unit_bytes, const void *src, void *dst, int64_t rows, size_t row_bytes);

/* Row r of the grouped matrix w, in plain order, to dst (row_bytes bytes). */
void ql_g16_row(size_t unit_bytes, const void *w, size_t row_bytes, int64_t r, void *dst);

#endif
