/*
 * simd/pf_stream.h: the decode kernels' weight prefetch stream (internal), shared by the
 * quantized kernel files of the x86 levels.
 *
 * A decode matmul reads each thread's range of weight rows once. While a tile of R rows
 * runs, rows further down the range are prefetched into L2 as one sequential stream (rows
 * are contiguous, so they are one range of bytes), a piece per step of the tile, in
 * address order. One stream per thread instead of R short row streams: per-row prefetch
 * along the rows reached 13-20 GB/s memory-resident with AVX-512 and never reached the
 * next tile's rows with AVX2 when rows are short (docs/PERFORMANCE.md, "Decode kernels,
 * session 2" and "Decode, session 3"). The stream runs at least QL_PF_LEAD bytes ahead,
 * in whole tiles: one tile ahead (18-35 KB at k = 2048) was too close.
 */
#ifndef QL_SIMD_PF_STREAM_H
#define QL_SIMD_PF_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <xmmintrin.h>

#include "isa.h"

enum { QL_PF_LEAD = 48 << 10 };

typedef struct ql_pf_stream {
    const uint8_t *p; /* first byte of the rows to prefetch; NULL: none */
    size_t per_blk;   /* bytes of those rows that go with one block */
} ql_pf_stream;

/* Rows skip .. skip + rows - 1 of the matrix at w (row_bytes each, bs bytes per block and
 * row); none when rows <= 0. */
QL_INLINE ql_pf_stream ql_pf_rows(const void *w, size_t row_bytes, int64_t skip, int64_t rows,
                                  size_t bs) {
    ql_pf_stream s = {NULL, 0};
    if (rows > 0) {
        s.p = (const uint8_t *)w + (size_t)skip * row_bytes;
        s.per_blk = (size_t)rows * bs;
    }
    return s;
}

/* Prefetches into L2 piece `part` of `parts` of the stream's bytes that go with blocks
 * b .. b + nblk - 1. */
QL_INLINE void ql_pf_step(const ql_pf_stream *s, int64_t b, int nblk, int part, int parts) {
    if (!s->p) return;
    size_t len = s->per_blk * (size_t)nblk;
    uintptr_t a = (uintptr_t)(s->p + (size_t)b * s->per_blk);
    uintptr_t e = a + len * (size_t)(part + 1) / (size_t)parts;
    for (a = (a + len * (size_t)part / (size_t)parts) & ~(uintptr_t)63; a < e; a += 64)
        _mm_prefetch((const char *)a, _MM_HINT_T1);
}

/* How many tiles of tile_bytes ahead the stream runs: at least QL_PF_LEAD bytes, 1 ..
 * max_tiles tiles. */
QL_INLINE int64_t ql_pf_lead(int64_t tile_bytes, int64_t max_tiles) {
    int64_t lead = (QL_PF_LEAD + tile_bytes - 1) / tile_bytes;
    return lead < 1 ? 1 : lead > max_tiles ? max_tiles : lead;
}

/* What the tile at row r of the range r0 .. r1 - 1 (tiles of R rows) prefetches: *rows rows
 * from *skip rows past r (none when *rows <= 0). Each tile takes the tile `lead` tiles
 * after it; the first tile also the tiles before that, which no tile would take. */
QL_INLINE void ql_pf_plan(int64_t r, int64_t r0, int64_t r1, int64_t R, int64_t lead,
                          int64_t *skip, int64_t *rows) {
    int64_t end = r + lead * R + R;
    *skip = r == r0 ? R : lead * R;
    *rows = (end < r1 ? end : r1) - r - *skip;
}

#endif /* QL_SIMD_PF_STREAM_H */
