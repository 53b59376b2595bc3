/*
 * simd/avx512_pack.h: the 16-row transpose that the AVX-512 and AMX prompt kernels repack
 * weights with (internal; include after isa.h in a file built with AVX-512 flags).
 */
#ifndef QL_SIMD_AVX512_PACK_H
#define QL_SIMD_AVX512_PACK_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#include "isa.h"

/* out[g] lane r = dword g of the 16 bytes at p[r] + off (r < 16, g < 4): the 4 bytes of
 * row r that meet activation bytes 4g .. 4g+3, for vpdpbusd (lane = row) and for AMX's B
 * tiles (row g of a tile: 16 dwords, one per weight row). */
QL_INLINE void tr16x4(const uint8_t *const p[16], size_t off, __m512i out[4]) {
    __m512i z[4];
    for (int j = 0; j < 4; j++) { /* chunk c of z[j]: row 4c + j */
        __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p[j] + off)));
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p[4 + j] + off)), 1);
        v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p[8 + j] + off)), 2);
        z[j] = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p[12 + j] + off)), 3);
    }
    __m512i a = _mm512_unpacklo_epi32(z[0], z[1]), b = _mm512_unpackhi_epi32(z[0], z[1]);
    __m512i c = _mm512_unpacklo_epi32(z[2], z[3]), d = _mm512_unpackhi_epi32(z[2], z[3]);
    out[0] = _mm512_unpacklo_epi64(a, c);
    out[1] = _mm512_unpackhi_epi64(a, c);
    out[2] = _mm512_unpacklo_epi64(b, d);
    out[3] = _mm512_unpackhi_epi64(b, d);
}

#endif /* QL_SIMD_AVX512_PACK_H */
