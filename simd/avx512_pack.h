/*
 * simd/avx512_pack.h: how the AVX-512 and AMX prompt kernels repack 16 weight rows: the
 * 16-row transpose, the row tiles of a range, the Q8_0 / Q4_0 block pack and the k-quant
 * super-block pack (internal; include after isa.h in a file built with AVX-512 flags).
 */
#ifndef QL_SIMD_AVX512_PACK_H
#define QL_SIMD_AVX512_PACK_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "isa.h"
#include "quant/formats.h"
#include "wlay.h"

enum k_kind { Q4_K, Q5_K, Q6_K };

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

enum q32_kind { Q8_0, Q4_0, Q4_1 };

static inline int32_t load_i32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* The rows of one 16-row tile starting at r (n valid ones, the rest repeating the last). */
QL_INLINE void tile_row_ptrs(const void *w, const wlay *L, int64_t r, int64_t n, const uint8_t *rows[16]) {
    for (int i = 0; i < 16; i++) rows[i] = (const uint8_t *)w + row_off(L, r + (i < n ? i : n - 1));
}

/* The pair of 16-row tiles at r of a range ending at r1: n[0] rows from ro[0] = r, then
 * n[1] (0: none) from ro[1]. Returns n[0] + n[1]. */
QL_INLINE int64_t tile_pair(const wlay *L, int64_t r, int64_t r1, int64_t n[2], int64_t ro[2]) {
    n[0] = tile_rows(L, r, r1, 16);
    ro[0] = r;
    ro[1] = r + n[0];
    n[1] = ro[1] < r1 ? tile_rows(L, ro[1], r1, 16) : 0;
    return n[0] + n[1];
}

/* dx[t * nb + b] = the f16 scale of token t's Q8_0 activation block b, as a float. */
static inline void q32_x_scales(const uint8_t *x, size_t x_row_bytes, int64_t n_tok, int64_t nb, float *dx) {
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t b = 0; b < nb; b++) {
            uint16_t d;
            memcpy(&d, x + (size_t)t * x_row_bytes + (size_t)b * sizeof(ql_block_q8_0), 2);
            dx[t * nb + b] = _cvtsh_ss(d);
        }
}

/* Q8_0 / Q4_0 blocks b0 .. b0+nbs-1 of 16 rows: wb[8 b + g] lane r = the 4 levels of row r
 * that meet activation bytes 4g .. 4g+3, and dw[16 b + r] the row scales. `is_signed` 0:
 * vpdpbusd's unsigned operand (Q8_0 levels + 128, Q4_0 nibbles); 1: signed bytes for AMX's
 * TDPBSSD (Q8_0 levels as they are, Q4_0 nibbles - 8). */
QL_INLINE void q32_pack(int kind, int is_signed, const uint8_t *const rows[16], const wlay *L,
                        int64_t b0, int64_t nbs, __m512i *wb, float *dw) {
    for (int64_t b = 0; b < nbs; b++) {
        const size_t off = blk_off(L, b0 + b);
        __m512i q[4], *w = wb + 8 * b;
        tr16x4(rows, off + 2, q);
        if (kind == Q8_0) {
            const __m512i flip = _mm512_set1_epi8(is_signed ? 0 : (char)0x80);
            for (int g = 0; g < 4; g++) w[g] = _mm512_xor_si512(q[g], flip);
            tr16x4(rows, off + 18, q);
            for (int g = 0; g < 4; g++) w[4 + g] = _mm512_xor_si512(q[g], flip);
        } else { /* Q4_0: low nibbles are elements 0-15, high nibbles 16-31 */
            const __m512i m4 = _mm512_set1_epi8(15), bias = _mm512_set1_epi8(is_signed ? 8 : 0);
            for (int g = 0; g < 4; g++) {
                w[g] = _mm512_sub_epi8(_mm512_and_si512(q[g], m4), bias);
                w[4 + g] = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(q[g], 4), m4), bias);
            }
        }
        uint16_t hs[16];
        for (int r = 0; r < 16; r++) memcpy(&hs[r], rows[r] + off, 2);
        _mm512_storeu_ps(dw + 16 * b, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)hs)));
    }
}

/* ---- k-quant weights packed for the prompt kernels (simd/avx512_quant.c's k_prompt, simd/amx.c)
 *
 * Packed per super-block of 16 rows: 64 level vectors (sub-block of 32 j, dword g: wb[8j + g]), the
 * sub-block scales as int32 lanes (Q4_K/Q5_K: sc[j], 8 vectors; Q6_K: scales[j], 16), and
 * for the bias term int16 pairs that vpdpwssd multiplies with int16 pairs of activation
 * sums: Q4_K/Q5_K (mn[2i], mn[2i+1]) with (B[2i], B[2i+1]), B[j] = bsums[2j] + bsums[2j+1]
 * (|B| <= 32 * 127 fits int16; k_prep makes the pairs once per pass and segment, so msum =
 * sum_j mn[j] * B[j] takes 4 vpdpwssd per token, not 8); Q6_K (-32 scales[2i], -32
 * scales[2i+1]) with (bsums[2i], bsums[2i+1]) for the -32 offset of the levels.
 * Each sub-block sum is exact in int32 and multiplied by its scale (vpmulld), so isum and
 * msum equal scalar's integers. */

typedef struct k_pack {
    __m512i w[64];    /* levels */
    __m512i sc[16];   /* int32 scales: 8 (Q4_K/Q5_K) or 16 (Q6_K) */
    __m512i bias[8];  /* int16 pairs (see above) */
    __m512 d, dmin;   /* row scales as floats (dmin: Q4_K/Q5_K) */
} k_pack;

/* Lane i: the int16 pair (a_i, b_i), from int32 lanes whose values fit int16. */
QL_INLINE __m512i pair16(__m512i a, __m512i b) {
    return _mm512_or_si512(_mm512_and_si512(a, _mm512_set1_epi32(0xFFFF)), _mm512_slli_epi32(b, 16));
}

QL_INLINE void k_pack_block(int kind, const uint8_t *const rows[16], size_t off, k_pack *kp) {
    const __m512i m4 = _mm512_set1_epi8(15);
    __m512i q[8];
    int32_t sc[16][16], mn[8][16];
    uint16_t d[16], dmin[16];
    if (kind == Q6_K) {
        for (int h = 0; h < 2; h++) {
            __m512i l0[8], l1[8], hb[8];
            tr16x4(rows, off + 64 * h, l0);
            tr16x4(rows, off + 64 * h + 16, l0 + 4);
            tr16x4(rows, off + 64 * h + 32, l1);
            tr16x4(rows, off + 64 * h + 48, l1 + 4);
            tr16x4(rows, off + 128 + 32 * h, hb);
            tr16x4(rows, off + 128 + 32 * h + 16, hb + 4);
            const __m512i m30 = _mm512_set1_epi8(0x30);
            for (int g = 0; g < 8; g++) {
                __m512i *w = kp->w + 8 * 4 * h + g;
                w[0] = _mm512_or_si512(_mm512_and_si512(l0[g], m4), _mm512_and_si512(_mm512_slli_epi16(hb[g], 4), m30));
                w[8] = _mm512_or_si512(_mm512_and_si512(l1[g], m4), _mm512_and_si512(_mm512_slli_epi16(hb[g], 2), m30));
                w[16] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l0[g], 4), m4), _mm512_and_si512(hb[g], m30));
                w[24] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l1[g], 4), m4),
                                        _mm512_and_si512(_mm512_srli_epi16(hb[g], 2), m30));
            }
        }
        for (int r = 0; r < 16; r++) {
            const int8_t *s = (const int8_t *)(rows[r] + off + 192);
            for (int j = 0; j < 16; j++) sc[j][r] = s[j];
            memcpy(&d[r], rows[r] + off + 208, 2);
        }
        for (int j = 0; j < 16; j++) kp->sc[j] = _mm512_loadu_si512(sc[j]);
        const __m512i m32 = _mm512_set1_epi32(-32);
        for (int i = 0; i < 8; i++)
            kp->bias[i] = pair16(_mm512_mullo_epi32(kp->sc[2 * i], m32), _mm512_mullo_epi32(kp->sc[2 * i + 1], m32));
        kp->d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)d));
        return;
    }
    const size_t qs = kind == Q4_K ? 16 : 48;
    __m512i hb[8];
    if (kind == Q5_K) {
        tr16x4(rows, off + 16, hb);
        tr16x4(rows, off + 32, hb + 4);
    }
    for (int c = 0; c < 4; c++) {
        tr16x4(rows, off + qs + 32 * c, q);
        tr16x4(rows, off + qs + 32 * c + 16, q + 4);
        for (int g = 0; g < 8; g++) {
            __m512i lo = _mm512_and_si512(q[g], m4), hi = _mm512_and_si512(_mm512_srli_epi16(q[g], 4), m4);
            if (kind == Q5_K) { /* bit 4 of sub-block j's level: bit j of qh */
                const __m512i b4 = _mm512_set1_epi8(0x10);
                int j = 2 * c;
                __m512i h0 = j <= 4 ? _mm512_slli_epi16(hb[g], 4 - j) : _mm512_srli_epi16(hb[g], j - 4);
                __m512i h1 = j + 1 <= 4 ? _mm512_slli_epi16(hb[g], 3 - j) : _mm512_srli_epi16(hb[g], j - 3);
                lo = _mm512_or_si512(lo, _mm512_and_si512(h0, b4));
                hi = _mm512_or_si512(hi, _mm512_and_si512(h1, b4));
            }
            kp->w[8 * (2 * c) + g] = lo;
            kp->w[8 * (2 * c + 1) + g] = hi;
        }
    }
    for (int r = 0; r < 16; r++) {
        const uint8_t *blk = rows[r] + off;
        uint8_t s8[8], m8[8];
        memcpy(&d[r], blk, 2);
        memcpy(&dmin[r], blk + 2, 2);
        ql_k_scales_unpack(blk + 4, s8, m8);
        for (int j = 0; j < 8; j++) sc[j][r] = s8[j], mn[j][r] = m8[j];
    }
    for (int j = 0; j < 8; j++) kp->sc[j] = _mm512_loadu_si512(sc[j]);
    for (int i = 0; i < 4; i++) kp->bias[i] = pair16(_mm512_loadu_si512(mn[2 * i]), _mm512_loadu_si512(mn[2 * i + 1]));
    kp->d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)d));
    kp->dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)dmin));
}

/* Q4_K/Q5_K: bp[4 * (t * nb + b) + i] = the int16 pair (B[2i], B[2i+1]) of token t's
 * super-block b (see above), for t < n_tok, b < nb. */
static inline void k_prep(const uint8_t *x, size_t x_row_bytes, int64_t n_tok, int64_t nb, int32_t *bp) {
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *bs = x + (size_t)t * x_row_bytes + (size_t)b * sizeof(ql_block_q8_k) + offsetof(ql_block_q8_k, bsums);
            __m256i sum = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)bs), _mm256_set1_epi16(1));
            _mm_storeu_si128((__m128i *)(bp + 4 * (t * nb + b)), _mm256_cvtepi32_epi16(sum));
        }
}

#endif /* QL_SIMD_AVX512_PACK_H */
