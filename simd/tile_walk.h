/*
 * simd/tile_walk.h: the row/token traversal of the register-tiled float matmul, shared by
 * the ISA files. Included (once, after its definitions) by a file that defines
 *   QL_INLINE, the constants PP_ROWS, PP_TOKS (prompt tile rows x tokens) and TG_ROWS
 *   (decode tile rows), and
 *   tile(w, row_bytes, k, x, x_row_bytes, y, ldy, r0, t0, R, T, type): rows r0..r0+R-1
 *   times tokens t0..t0+T-1, R <= TG_ROWS, T <= PP_TOKS, R and T compile-time constants
 *   at each call so the tile unrolls.
 * It defines matmul_f32, matmul_f16 and matmul_bf16 with the ql_matmul_fn contract: the
 * order of operations of each output element depends only on k, never on the tile it
 * falls in, so row splits and batch sizes give bit-identical results.
 */
#ifndef QL_SIMD_TILE_WALK_H
#define QL_SIMD_TILE_WALK_H

/* Rows [r, r + R) for every token: full token tiles, then one tile of the rest (each
 * remainder size is its own constant-T call once the loop is unrolled). */
QL_INLINE void rows_all_tokens(const char *w, size_t row_bytes, int64_t k, const char *x,
                               size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy,
                               int64_t r, int R, uint32_t type) {
    int64_t t = 0;
    for (; t + PP_TOKS <= n_tok; t += PP_TOKS)
        tile(w, row_bytes, k, x, x_row_bytes, y, ldy, r, t, R, PP_TOKS, type);
#pragma GCC unroll 8
    for (int rest = 1; rest < PP_TOKS; rest++)
        if (n_tok - t == rest) tile(w, row_bytes, k, x, x_row_bytes, y, ldy, r, t, R, rest, type);
}

QL_INLINE void matmul_tiled(const void *wv, size_t row_bytes, int64_t k, const void *xv,
                            size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy,
                            int64_t r0, int64_t r1, uint32_t type) {
    const char *w = wv, *x = xv;
    int64_t r = r0;
    if (n_tok == 1) {
        for (; r + TG_ROWS <= r1; r += TG_ROWS)
            tile(w, row_bytes, k, x, x_row_bytes, y, ldy, r, 0, TG_ROWS, 1, type);
        for (; r < r1; r++) tile(w, row_bytes, k, x, x_row_bytes, y, ldy, r, 0, 1, 1, type);
        return;
    }
    for (; r + PP_ROWS <= r1; r += PP_ROWS)
        rows_all_tokens(w, row_bytes, k, x, x_row_bytes, n_tok, y, ldy, r, PP_ROWS, type);
    for (; r < r1; r++) rows_all_tokens(w, row_bytes, k, x, x_row_bytes, n_tok, y, ldy, r, 1, type);
}

#define QL_TILED_MATMUL(name, type_id)                                                     \
    static void name(const void *w, size_t row_bytes, int64_t k, const void *x,            \
                     size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,  \
                     int64_t r1) {                                                          \
        matmul_tiled(w, row_bytes, k, x, x_row_bytes, n_tok, y, ldy, r0, r1, type_id);     \
    }
QL_TILED_MATMUL(matmul_f32, QL_TYPE_F32)
QL_TILED_MATMUL(matmul_f16, QL_TYPE_F16)
QL_TILED_MATMUL(matmul_bf16, QL_TYPE_BF16)
#undef QL_TILED_MATMUL

#endif
