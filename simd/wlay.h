/*
 * simd/wlay.h: where a weight matrix's blocks lie, for the quantized kernel files of the
 * x86 levels (internal).
 *
 * Plain (GGUF's order): row r at r * row_bytes, block b of a row at b * bs. Grouped
 * (kernels.h, matmul_g16; simd/g16.c packs it): rows in groups of 16 whose rows are
 * interleaved in units of 2^ul blocks, so that the bytes a 16-row decode tile reads per
 * step are one run: row r at (r / 16) * 16 * row_bytes + (r % 16) * unit, block b at
 * (b >> ul) * 16 * unit + (b % 2^ul) * bs (unit = bs << ul). A tile's or a pack's rows lie
 * in one group (tile_rows), so row r + i is at + i * row_step.
 */
#ifndef QL_SIMD_WLAY_H
#define QL_SIMD_WLAY_H

#include <stddef.h>
#include <stdint.h>

#include "g16.h"
#include "isa.h"
#include "quant/types.h"

typedef struct wlay {
    size_t row_bytes, bs;
    int grouped, ul;
} wlay;

/* The layout of a matrix of `type` with rows of row_bytes bytes: plain, or grouped in the
 * units of simd/g16.h (ql_g16_unit_blocks, the one definition of the unit). */
QL_INLINE wlay wlay_of(uint32_t type, size_t row_bytes, int grouped) {
    const ql_type_traits *tt = ql_type_get(type);
    wlay L = {row_bytes, tt ? (size_t)tt->type_size : 0, grouped, 0};
    if (grouped) L.ul = __builtin_ctz((unsigned)ql_g16_unit_blocks(type));
    return L;
}

QL_INLINE size_t row_step(const wlay *L) { return L->grouped ? L->bs << L->ul : L->row_bytes; }

QL_INLINE size_t row_off(const wlay *L, int64_t r) {
    if (!L->grouped) return (size_t)r * L->row_bytes;
    return (size_t)(r >> 4) * 16 * L->row_bytes + (size_t)(r & 15) * (L->bs << L->ul);
}

QL_INLINE size_t blk_off(const wlay *L, int64_t b) {
    if (!L->grouped) return (size_t)b * L->bs;
    return (size_t)(b >> L->ul) * (16 * (L->bs << L->ul)) + (size_t)(b & ((1 << L->ul) - 1)) * L->bs;
}

/* Rows of the tile of at most R rows at row r of a range ending at r1: grouped tiles also
 * end with their group (ranges that start at multiples of 16, as the forward pass's do,
 * never need it; any other range stays correct). */
QL_INLINE int64_t tile_rows(const wlay *L, int64_t r, int64_t r1, int64_t R) {
    int64_t n = r1 - r < R ? r1 - r : R;
    return L->grouped && n > 16 - (r & 15) ? 16 - (r & 15) : n;
}

/* matmul_FMT (plain layout) and matmul_FMT_g16 (grouped) over the tile set FMT_tiles, both
 * through the including file's run_tiles(tiles, grouped, w, row_bytes, k, x, x_row_bytes,
 * n_tok, y, ldy, r0, r1). */
#define QL_MATMUL_ENTRIES(fmt)                                                             \
    static void matmul_##fmt(const void *w, size_t row_bytes, int64_t k, const void *x,    \
                             size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy,     \
                             int64_t r0, int64_t r1) {                                     \
        run_tiles(&fmt##_tiles, 0, w, row_bytes, k, x, x_row_bytes, n_tok, y, ldy, r0, r1); \
    }                                                                                      \
    static void matmul_##fmt##_g16(const void *w, size_t row_bytes, int64_t k, const void *x, \
                                   size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, \
                                   int64_t r0, int64_t r1) {                               \
        run_tiles(&fmt##_tiles, 1, w, row_bytes, k, x, x_row_bytes, n_tok, y, ldy, r0, r1); \
    }

/* Sets both layouts' entries of the six quantized formats whose functions the including
 * file made with QL_MATMUL_ENTRIES (q8_0, q4_0, q4_1, q4_k, q5_k, q6_k). */
#define QL_SET_QUANT_MATMULS(t)                                                            \
    do {                                                                                   \
        (t)->matmul[QL_TYPE_Q8_0] = matmul_q8_0;                                           \
        (t)->matmul[QL_TYPE_Q4_0] = matmul_q4_0;                                           \
        (t)->matmul[QL_TYPE_Q4_1] = matmul_q4_1;                                           \
        (t)->matmul[QL_TYPE_Q4_K] = matmul_q4_k;                                           \
        (t)->matmul[QL_TYPE_Q5_K] = matmul_q5_k;                                           \
        (t)->matmul[QL_TYPE_Q6_K] = matmul_q6_k;                                           \
        (t)->matmul_g16[QL_TYPE_Q8_0] = matmul_q8_0_g16;                                   \
        (t)->matmul_g16[QL_TYPE_Q4_0] = matmul_q4_0_g16;                                   \
        (t)->matmul_g16[QL_TYPE_Q4_1] = matmul_q4_1_g16;                                   \
        (t)->matmul_g16[QL_TYPE_Q4_K] = matmul_q4_k_g16;                                   \
        (t)->matmul_g16[QL_TYPE_Q5_K] = matmul_q5_k_g16;                                   \
        (t)->matmul_g16[QL_TYPE_Q6_K] = matmul_q6_k_g16;                                   \
    } while (0)

#endif /* QL_SIMD_WLAY_H */
