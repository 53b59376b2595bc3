/*
 * simd/avx512_quant.c: AVX-512 (BW + VNNI) matmul kernels for the quantized weight formats
 * and the Q8_0 / Q8_K activation quantizers.
 *
 * Results equal simd/scalar_quant.c bit for bit. The scalar reference computes, for each
 * output y[t, r], one exact int32 per block (per super-block for the k-quants) and then a
 * fixed chain of float operations over the blocks, left to right. Here:
 *
 *  1. Integer products run 64 bytes at a time: `vpdpbusd` (unsigned x signed bytes) for
 *     Q8_0 / Q4_0 / Q4_1 against Q8_0 activations, `vpmaddubsw` + `vpdpwssd` (pairs of
 *     products times the 16-bit sub-block scale) for the k-quants against Q8_K (decode:
 *     `vpdpbusd`, then the int16-sized sums of two rows' sub-blocks packed by `vpackssdw`
 *     and scaled by one `vpdpwssd`, kd_step / kq6_step). Signed
 *     weights are made unsigned by an offset that a per-token correction removes:
 *       Q8_0:  sum w x = sum (w + 128) x - 128 sum x        (sum x: vpdpbusd with 0x80)
 *       Q4_0:  sum (q - 8) x = sum q x - 8 sum x
 *       Q6_K:  sum_j sc_j sum (q - 32) x = sum_j sc_j sum q x - 32 sum_j sc_j bsum_j
 *     The correction is computed once per token and block and reused by every row.
 *  2. A tile of 16 (row, token) pairs (16 rows x 1 token for decode, 8 x 2 and 4 x 4 for
 *     prompts) gives 16 vectors of int32 partial sums; a transposing reduction
 *     (reduce4 + reduce_halves) turns them into one vector whose lane p holds pair p's
 *     exact block sum. Integer addition is exact, so the lane equals scalar's int32.
 *  3. The float chain then runs with one (row, token) pair per lane, performing scalar's
 *     operations in scalar's order (no FMA: -ffp-contract=off and the pragma below), and
 *     the f16 scales convert exactly (vcvtph2ps). Hence every lane of every tile shape
 *     produces scalar's bits: results depend neither on the row split, nor on the
 *     batching, nor on the ISA.
 *
 * Decode (n_tok = 1) streams 16 weight rows at once and prefetches further rows as one
 * stream (simd/pf_stream.h).
 * Q8_0 / Q4_0 run 4 blocks per step and take the f16 scales from plain loads + permutes
 * (dec_step), Q4_K decodes its scales for 4 rows per vector (kd_step), Q6_K merges its
 * high bits with one vpternlogd per 64 levels (kq6_step, d still gathered); the other
 * tiles gather the 16 lanes' scales (one vpgatherdd per block, 32-bit offsets: rows or
 * activation rows longer than 2^26 bytes go to the scalar kernel instead).
 * Two tokens run 8 x 2 tiles (one weight block decoded per tile, used for both tokens).
 * Prompts of GEMM_MIN_TOK tokens or more repack 16 rows into "lane = row" int8 vectors once
 * and run 16 rows x 8 tokens per register tile with broadcast activations (q32_prompt,
 * k_prompt): exact block sums without reductions or gathers. Row and token tails run a
 * full tile whose extra lanes repeat the last valid row / token and are not stored.
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "quant/formats.h"
#include "quant_isa.h"

#include "isa.h"
#include "avx512_pack.h"
#include "pf_stream.h"
#include "wlay.h"

enum {
    PAIRS = 16,                   /* (row, token) pairs per tile: one per float lane */
    MAX_TOK = 4,                  /* tokens per tile at most */
    MAX_STRIDE = 1 << 26,         /* row strides the 32-bit gather offsets cover */
    Q8_0_BYTES = sizeof(ql_block_q8_0),
    Q8_K_BYTES = sizeof(ql_block_q8_k),
    /* prompts: tokens per register tile, blocks per packed weight segment (16 rows x KC
     * blocks: 32 KiB for Q8_0 / Q4_0, 46 KiB for 8 k-quant super-blocks), tokens per pass
     * over a segment (their activations, 128 x 64 x 34 B = 272 KiB or 256 x 8 x 292 B =
     * 584 KiB, stay in L2 while every row tile of the call passes; TC x KC prepared pairs:
     * 64 KiB of stack). Segments of half or a quarter the size measured 3-20% slower at
     * 512 tokens (more passes over y), passes of 512 tokens 6-9% slower (L2 overflows). */
    GEMM_TOK = 8,
    GEMM_KC = 64,
    GEMM_KC_K = 8,
    GEMM_TC = 128,
    GEMM_TC_K = 256,
    GEMM_MIN_TOK = 3,
};

/* ---- exact transposing reduction of 16 int32 vectors ------------------------------------ */

/* Per 128-bit chunk: [a0+a2, b0+b2, a1+a3, b1+b3]. */
QL_INLINE __m512i fold32(__m512i a, __m512i b) {
    return _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b));
}

/* Chunk c of the result: [sum of chunk c of v0, of v1, of v2, of v3]. */
QL_INLINE __m512i reduce4(__m512i v0, __m512i v1, __m512i v2, __m512i v3) {
    __m512i a = fold32(v0, v1), b = fold32(v2, v3);
    return _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b));
}

/* g[j] = reduce4(v[4j .. 4j+3]). Lane p of *lo: the sum of v_p's 128-bit chunks 0 and 1
 * (`split`: 0 and 2); of *hi: chunks 2 and 3 (`split`: 1 and 3). */
QL_INLINE void reduce_halves(const __m512i g[4], int split, __m512i *lo, __m512i *hi) {
#define EVEN _MM_SHUFFLE(2, 0, 2, 0) /* chunks 0, 2 of a, then of b (literals for -O0) */
#define ODD _MM_SHUFFLE(3, 1, 3, 1)
#define LOW _MM_SHUFFLE(1, 0, 1, 0)  /* chunks 0, 1 of a, then of b */
#define HIGH _MM_SHUFFLE(3, 2, 3, 2)
    __m512i c0, c1;
    if (split) {
        c0 = _mm512_add_epi32(_mm512_shuffle_i32x4(g[0], g[1], LOW), _mm512_shuffle_i32x4(g[0], g[1], HIGH));
        c1 = _mm512_add_epi32(_mm512_shuffle_i32x4(g[2], g[3], LOW), _mm512_shuffle_i32x4(g[2], g[3], HIGH));
    } else {
        c0 = _mm512_add_epi32(_mm512_shuffle_i32x4(g[0], g[1], EVEN), _mm512_shuffle_i32x4(g[0], g[1], ODD));
        c1 = _mm512_add_epi32(_mm512_shuffle_i32x4(g[2], g[3], EVEN), _mm512_shuffle_i32x4(g[2], g[3], ODD));
    }
    /* c: [pairs 0-3 of the low half, of the high half, pairs 4-7 low, high] */
    *lo = _mm512_shuffle_i32x4(c0, c1, EVEN);
    *hi = _mm512_shuffle_i32x4(c0, c1, ODD);
#undef EVEN
#undef ODD
#undef LOW
#undef HIGH
}

/* ---- tiles -------------------------------------------------------------------------- */

/* Where a tile's lanes read: lane p = r * T + t is row r, token t. Rows / tokens past the
 * valid ones repeat the last valid one. */
typedef struct tile {
    const uint8_t *w[PAIRS];     /* weight row r */
    const uint8_t *x[MAX_TOK];   /* activation row t */
    __m512i widx, xidx;          /* byte offset of lane p's row from w[0], x[0] */
    ql_pf_stream pf;             /* decode: rows further down (simd/pf_stream.h) */
    wlay L;                      /* block b of row r: w[r] + blk_off(&L, b) */
} tile;

QL_INLINE void tile_init(tile *tl, int R, int T, const void *w, const wlay *L,
                         int64_t n_rows, const void *x, size_t x_row_bytes, int64_t n_tok) {
    int32_t wi[PAIRS], xi[PAIRS];
    const size_t rs = row_step(L);
    tl->L = *L;
    for (int r = 0; r < R; r++)
        tl->w[r] = (const uint8_t *)w + (size_t)(r < n_rows ? r : n_rows - 1) * rs;
    for (int t = 0; t < T; t++)
        tl->x[t] = (const uint8_t *)x + (size_t)(t < n_tok ? t : n_tok - 1) * x_row_bytes;
    for (int p = 0; p < PAIRS; p++) {
        wi[p] = (int32_t)(tl->w[p / T] - tl->w[0]);
        xi[p] = (int32_t)(tl->x[p % T] - tl->x[0]);
    }
    tl->widx = _mm512_loadu_si512(wi);
    tl->xidx = _mm512_loadu_si512(xi);
    tl->pf = (ql_pf_stream){NULL, 0};
}

/* The f16 at byte `off` of each lane's weight row (off + 4 within the row), as floats;
 * `high`: the f16 at off + 2 instead. */
QL_INLINE __m512 gather_w_f16(const tile *tl, size_t off, int high) {
    __m512i g = _mm512_i32gather_epi32(tl->widx, tl->w[0] + off, 1);
    if (high) g = _mm512_srli_epi32(g, 16);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g));
}

/* The f16 (f16: 1) or float (0) at byte `off` of each lane's activation row. */
QL_INLINE __m512 gather_x_scale(const tile *tl, int T, size_t off, int f16) {
    if (T == 1) {
        if (f16) {
            uint16_t h;
            memcpy(&h, tl->x[0] + off, 2);
            return _mm512_set1_ps(_cvtsh_ss(h));
        }
        float f;
        memcpy(&f, tl->x[0] + off, 4);
        return _mm512_set1_ps(f);
    }
    if (!f16) return _mm512_i32gather_ps(tl->xidx, tl->x[0] + off, 1);
    __m512i g = _mm512_i32gather_epi32(tl->xidx, tl->x[0] + off, 1);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(g));
}

/* Stores lane r * T + t to y[t * ldy + r] for the valid rows and tokens. */
QL_INLINE void tile_store(__m512 acc, int R, int T, int64_t n_rows, int64_t n_tok, float *y,
                          int64_t ldy) {
    if (T == 1) {
        _mm512_mask_storeu_ps(y, (__mmask16)((1u << n_rows) - 1u), acc);
        return;
    }
    float out[PAIRS];
    _mm512_storeu_ps(out, acc);
    for (int r = 0; r < R && r < n_rows; r++)
        for (int t = 0; t < T && t < n_tok; t++) y[t * ldy + r] = out[r * T + t];
}

/* ---- Q8_0, Q4_0, Q4_1 weights x Q8_0 activations: blocks of 32, two per vector --------- */

QL_INLINE size_t q32_bytes(int kind) {
    return kind == Q8_0 ? sizeof(ql_block_q8_0)
                        : kind == Q4_0 ? sizeof(ql_block_q4_0) : sizeof(ql_block_q4_1);
}

/* The 64 levels of blocks b, b+1 (`one`: block b only, zeros above), as vpdpbusd's
 * unsigned operand. Q8_0: levels + 128, in element order [b, b+1]. Nibbles: the low
 * nibbles of both blocks, then the high ones, i.e. 16-element chunks [b 0-15, b+1 0-15,
 * b 16-31, b+1 16-31] (split order: one load and one shift, no shuffles). */
QL_INLINE __m512i q32_weights(int kind, const uint8_t *blk, int one) {
    size_t bs = q32_bytes(kind);
    if (kind == Q8_0) {
        __m256i lo = _mm256_loadu_si256((const __m256i *)(blk + 2));
        __m512i v = _mm512_castsi256_si512(lo);
        v = one ? _mm512_zextsi256_si512(lo)
                : _mm512_inserti64x4(v, _mm256_loadu_si256((const __m256i *)(blk + bs + 2)), 1);
        return _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
    }
    size_t off = kind == Q4_0 ? 2 : 4;
    __m128i q0 = _mm_loadu_si128((const __m128i *)(blk + off));
    __m128i q1 = one ? _mm_setzero_si128() : _mm_loadu_si128((const __m128i *)(blk + bs + off));
    __m256i q = _mm256_set_m128i(q1, q0);
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(q), _mm256_srli_epi16(q, 4), 1);
    return _mm512_and_si512(v, _mm512_set1_epi8(15));
}

/* The 64 activations of Q8_0 blocks b, b+1 (`one`: b only) in element order. */
QL_INLINE __m512i q32_acts(const uint8_t *blk, int one) {
    __m256i lo = _mm256_loadu_si256((const __m256i *)(blk + 2));
    if (one) return _mm512_zextsi256_si512(lo);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo),
                              _mm256_loadu_si256((const __m256i *)(blk + Q8_0_BYTES + 2)), 1);
}

/* Sum of the int32 lanes of a 256-bit vector. */
QL_INLINE int32_t hsum256(__m256i v) {
    __m128i a = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    a = _mm_add_epi32(a, _mm_shuffle_epi32(a, _MM_SHUFFLE(1, 0, 3, 2)));
    a = _mm_add_epi32(a, _mm_shuffle_epi32(a, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(a);
}

/* One step of blocks b, b+1 (`one`: b only) for all 16 pairs of the tile. */
QL_INLINE __m512 q32_step(int kind, int R, int T, const tile *tl, int64_t b, int one,
                          __m512 acc) {
    const __m512i zero = _mm512_setzero_si512();
    __m512i xv[MAX_TOK], corr[MAX_TOK];
    float xsum[2][PAIRS];
    for (int t = 0; t < T; t++) {
        __m512i raw = q32_acts(tl->x[t] + (size_t)b * Q8_0_BYTES, one);
        /* the nibble kernels' chunk order: [b 0-15, b+1 0-15, b 16-31, b+1 16-31] */
        xv[t] = kind == Q8_0 ? raw : _mm512_shuffle_i64x2(raw, raw, _MM_SHUFFLE(3, 1, 2, 0));
        if (kind == Q4_1) {
            __m512i s = _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(1), raw);
            float s0 = (float)hsum256(_mm512_castsi512_si256(s));
            float s1 = (float)hsum256(_mm512_extracti64x4_epi64(s, 1));
            for (int p = t; p < PAIRS; p += T) xsum[0][p] = s0, xsum[1][p] = s1;
            corr[t] = zero;
        } else {
            char off = kind == Q8_0 ? (char)0x80 : 8;
            corr[t] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(off), xv[t]));
        }
    }
    __m512i v[PAIRS], g[4];
    for (int r = 0; r < R; r++) {
        __m512i wv = q32_weights(kind, tl->w[r] + blk_off(&tl->L, b), one);
        for (int t = 0; t < T; t++) v[r * T + t] = _mm512_dpbusd_epi32(corr[t], wv, xv[t]);
        if ((r + 1) * T % 4 == 0) {
            int j = (r + 1) * T / 4 - 1;
            g[j] = reduce4(v[4 * j], v[4 * j + 1], v[4 * j + 2], v[4 * j + 3]);
        }
    }
    __m512i s[2];
    reduce_halves(g, kind != Q8_0, &s[0], &s[1]);
    for (int h = 0; h < 2 - one; h++) {
        size_t wo = blk_off(&tl->L, b + h), xo = (size_t)(b + h) * Q8_0_BYTES;
        __m512 dw = gather_w_f16(tl, wo, 0), dx = gather_x_scale(tl, T, xo, 1);
        __m512 term = _mm512_mul_ps(_mm512_mul_ps(dw, dx), _mm512_cvtepi32_ps(s[h]));
        if (kind == Q4_1) {
            __m512 m = gather_w_f16(tl, wo, 1);
            term = _mm512_add_ps(term, _mm512_mul_ps(_mm512_mul_ps(m, dx), _mm512_loadu_ps(xsum[h])));
        }
        acc = _mm512_add_ps(acc, term);
    }
    return acc;
}

/* ---- decode (one token), Q8_0 / Q4_0: 16 rows x 4 blocks per step, no gathers ----------
 *
 * Each row's four blocks give one int32 vector whose 128-bit chunk c holds 4 partial sums of
 * block b + c; reduce4 over rows 4j..4j+3 gives g[j] with lane 4c + l = exact sum of
 * (row 4j + l, block b + c): "layout L". The f16 row scales are permuted into the same
 * layout from plain loads, the terms (dw * dx) * isum are formed there, and a 4x4 chunk
 * transpose turns them into one vector per block (lane = row), added in block order. */

/* Q4_0, words of a row at block b (a: bytes 0..63, c: bytes 8..71): qs of blocks b..b+3,
 * block j in chunk j. Q4_0 block j: d = word 9j, qs = words 9j+1 .. 9j+8. */
static const int16_t dec_q4_0_qs[32] = {1,  2,  3,  4,  5,  6,  7,  8,  10, 11, 12,
                                        13, 14, 15, 16, 17, 19, 20, 21, 22, 23, 24,
                                        25, 26, 28, 29, 30, 31, 60, 61, 62, 63};

/* f16 scales of rows l0 = first source, l1 = second, placed at word 4c + l (layout L).
 * Q4_0: word 9c of a; Q8_0 (a: bytes 0..63, b: bytes 64..127): block c's d at byte 34c,
 * i.e. a words 0, 17 and b words 2, 19. */
static const int16_t dec_d_idx[2][2][16] = {
    {{0, 32, 0, 0, 9, 41, 0, 0, 18, 50, 0, 0, 27, 59, 0, 0},
     {0, 0, 0, 32, 0, 0, 9, 41, 0, 0, 18, 50, 0, 0, 27, 59}},
    {{0, 32, 0, 0, 17, 49, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0},
     {0, 0, 0, 32, 0, 0, 17, 49, 0, 0, 0, 32, 0, 0, 0, 0}},
};

/* Q8_0 blocks 2, 3 of rows (l0, l1) from the second loads (words 2, 19). */
static const int16_t dec_q8_d_hi[2][16] = {
    {0, 0, 0, 0, 0, 0, 0, 0, 2, 34, 0, 0, 19, 51, 0, 0},
    {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 34, 0, 0, 19, 51},
};

/* Lane-L vector: chunk c = [v(c), v(c), v(c), v(c)] of the 4 floats of v. */
QL_INLINE __m512 dec_bcast4(__m128 v) {
    return _mm512_permutexvar_ps(_mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0),
                                 _mm512_castps128_ps512(v));
}

/* Scales of rows 4j .. 4j+3 in layout L, as floats. */
QL_INLINE __m512 dec_scales(int kind, const uint8_t *const p[4], size_t off) {
    __m512i m[2];
    for (int h = 0; h < 2; h++) {
        const uint8_t *p0 = p[2 * h] + off, *p1 = p[2 * h + 1] + off;
        __m512i a0 = _mm512_loadu_si512(p0), a1 = _mm512_loadu_si512(p1);
        m[h] = _mm512_permutex2var_epi16(a0, _mm512_zextsi256_si512(_mm256_loadu_si256(
                                                 (const __m256i *)dec_d_idx[kind == Q8_0][h])),
                                         a1);
        if (kind == Q8_0) {
            __m512i b0 = _mm512_loadu_si512(p0 + 64), b1 = _mm512_loadu_si512(p1 + 64);
            __m512i hi = _mm512_permutex2var_epi16(
                b0, _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)dec_q8_d_hi[h])), b1);
            m[h] = _mm512_mask_blend_epi16(0xFF00, m[h], hi);
        }
    }
    __m512i d = _mm512_mask_blend_epi16(0xCCCC, m[0], m[1]);
    return _mm512_cvtph_ps(_mm512_castsi512_si256(d));
}

/* Row r's 64 partial sums of blocks b..b+3, 4 lanes per block (chunk c = block b + c). */
QL_INLINE __m512i dec_row(int kind, const uint8_t *p, const __m512i xv[2], const __m512i corr[2]) {
    if (kind == Q4_0) {
        __m512i q = _mm512_permutex2var_epi16(_mm512_loadu_si512(p),
                                              _mm512_loadu_si512(dec_q4_0_qs),
                                              _mm512_loadu_si512(p + 8));
        const __m512i m4 = _mm512_set1_epi8(15);
        __m512i v = _mm512_dpbusd_epi32(corr[0], _mm512_and_si512(q, m4), xv[0]);
        return _mm512_dpbusd_epi32(v, _mm512_and_si512(_mm512_srli_epi16(q, 4), m4), xv[1]);
    }
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512i w[2];
    for (int h = 0; h < 2; h++) {
        const uint8_t *q = p + 2 * h * Q8_0_BYTES + 2;
        __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)q)),
                                       _mm256_loadu_si256((const __m256i *)(q + Q8_0_BYTES)), 1);
        w[h] = _mm512_dpbusd_epi32(corr[h], _mm512_xor_si512(v, flip), xv[h]);
    }
    /* chunks [b, b, b+1, b+1] and [b+2, b+2, b+3, b+3] -> [b, b+1, b+2, b+3] */
    return _mm512_add_epi32(_mm512_shuffle_i32x4(w[0], w[1], _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i32x4(w[0], w[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

QL_INLINE __m512 dec_step(int kind, const tile *tl, int64_t b, __m512 acc) {
    const size_t off = blk_off(&tl->L, b);
    const uint8_t *xb = tl->x[0] + (size_t)b * Q8_0_BYTES;
    const __m512i zero = _mm512_setzero_si512();
    /* activations: Q8_0 [b | b+1], [b+2 | b+3]; Q4_0 elements 0-15 of the 4 blocks, then
     * 16-31 (the nibble order) */
    __m512i xa = q32_acts(xb, 0), xc = q32_acts(xb + 2 * Q8_0_BYTES, 0), xv[2], corr[2];
    if (kind == Q4_0) {
        xv[0] = _mm512_shuffle_i32x4(xa, xc, _MM_SHUFFLE(2, 0, 2, 0));
        xv[1] = _mm512_shuffle_i32x4(xa, xc, _MM_SHUFFLE(3, 1, 3, 1));
        __m512i e = _mm512_set1_epi8(8);
        corr[0] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(zero, e, xv[0]), e, xv[1]));
        corr[1] = zero;
    } else {
        xv[0] = xa, xv[1] = xc;
        __m512i e = _mm512_set1_epi8((char)0x80);
        corr[0] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, e, xa));
        corr[1] = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, e, xc));
    }
    uint16_t dxh[4];
    for (int c = 0; c < 4; c++) memcpy(&dxh[c], xb + c * Q8_0_BYTES, 2);
    __m512 dx = dec_bcast4(_mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)dxh)));
    __m512 t[4];
    for (int j = 0; j < 4; j++) {
        ql_pf_step(&tl->pf, b, 4, j, 4);
        __m512i v[4];
        for (int l = 0; l < 4; l++) {
            const uint8_t *p = tl->w[4 * j + l] + off;
            v[l] = dec_row(kind, p, xv, corr);
        }
        __m512i g = reduce4(v[0], v[1], v[2], v[3]);
        const uint8_t *rows[4] = {tl->w[4 * j] + off, tl->w[4 * j + 1] + off, tl->w[4 * j + 2] + off,
                                  tl->w[4 * j + 3] + off};
        t[j] = _mm512_mul_ps(_mm512_mul_ps(dec_scales(kind, rows, 0), dx), _mm512_cvtepi32_ps(g));
    }
    /* 4x4 transpose of 128-bit chunks: block c = [chunk c of t0, t1, t2, t3] */
    __m512 u0 = _mm512_shuffle_f32x4(t[0], t[1], _MM_SHUFFLE(1, 0, 1, 0));
    __m512 u1 = _mm512_shuffle_f32x4(t[2], t[3], _MM_SHUFFLE(1, 0, 1, 0));
    __m512 u2 = _mm512_shuffle_f32x4(t[0], t[1], _MM_SHUFFLE(3, 2, 3, 2));
    __m512 u3 = _mm512_shuffle_f32x4(t[2], t[3], _MM_SHUFFLE(3, 2, 3, 2));
    acc = _mm512_add_ps(acc, _mm512_shuffle_f32x4(u0, u1, _MM_SHUFFLE(2, 0, 2, 0)));
    acc = _mm512_add_ps(acc, _mm512_shuffle_f32x4(u0, u1, _MM_SHUFFLE(3, 1, 3, 1)));
    acc = _mm512_add_ps(acc, _mm512_shuffle_f32x4(u2, u3, _MM_SHUFFLE(2, 0, 2, 0)));
    return _mm512_add_ps(acc, _mm512_shuffle_f32x4(u2, u3, _MM_SHUFFLE(3, 1, 3, 1)));
}

QL_INLINE void q32_tile(int kind, int R, int T, const void *w, const wlay *L,
                        int64_t n_rows, const void *x, size_t x_row_bytes, int64_t n_tok,
                        int64_t nb, float *y, int64_t ldy, int64_t pf_skip, int64_t pf_rows) {
    tile tl;
    tile_init(&tl, R, T, w, L, n_rows, x, x_row_bytes, n_tok);
    if (T == 1) tl.pf = ql_pf_rows(w, L->row_bytes, pf_skip, pf_rows, q32_bytes(kind));
    __m512 acc = _mm512_setzero_ps();
    int64_t b = 0;
    if (T == 1 && R == PAIRS && kind != Q4_1)
        for (; b + 4 <= nb; b += 4) acc = dec_step(kind, &tl, b, acc);
    for (; b + 2 <= nb; b += 2) acc = q32_step(kind, R, T, &tl, b, 0, acc);
    if (b < nb) acc = q32_step(kind, R, T, &tl, b, 1, acc);
    tile_store(acc, R, T, n_rows, n_tok, y, ldy);
}

/* ---- prompts (n_tok >= GEMM_MIN_TOK): 16 rows x 8 tokens, weights repacked per tile -----
 *
 * The tile's 16 weight rows are transposed, KC blocks at a time, into a stack buffer where
 * vector g of block b holds in lane r the 4 levels of row r that meet activation bytes
 * 4g .. 4g+3 (unsigned, vpdpbusd's first operand). One vpdpbusd with those 4 activation
 * bytes broadcast from memory then adds 4 products to each of the 16 rows, so 8 vpdpbusd
 * leave every lane holding its row's exact block sum: no horizontal reduction, and each
 * unpacked weight vector serves every token of the pass. Loops, outer to inner: passes of
 * TC tokens, segments of KC blocks, row tiles, groups of 8 tokens; so a segment's
 * activations are read from L2 by every row tile (rows outer streamed all of a pass's
 * activations from L3 for each tile: -20% at k = 8192, 512 tokens), and the weights are
 * packed once per pass. The per-(token, block) correction of the unsigned offset and the
 * f16 activation scale are computed once per pass and segment and only loaded in the
 * inner loop. Per block and token the float chain is scalar's: acc + (dw * dx) * (float)isum,
 * one lane per row, carried in y between segments (a float stored and reloaded is exact). */

/* corr[t * nb + b] = -offset * sum of token t's block b, dx[t * nb + b] its scale. */
static void q32_prep(int kind, const uint8_t *x, size_t x_row_bytes, int64_t n_tok, int64_t nb,
                     int32_t *corr, float *dx) {
    const int32_t off = kind == Q8_0 ? 128 : 8;
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *blk = x + (size_t)t * x_row_bytes + (size_t)b * Q8_0_BYTES;
            /* sum (x + 128) by psadbw, minus 32 * 128 */
            __m256i s = _mm256_sad_epu8(_mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 2)), flip),
                                        _mm256_setzero_si256());
            __m128i h = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            h = _mm_add_epi64(h, _mm_unpackhi_epi64(h, h));
            corr[t * nb + b] = -off * (_mm_cvtsi128_si32(h) - 32 * 128);
        }
    q32_x_scales(x, x_row_bytes, n_tok, nb, dx);
}

/* T tokens (x[t]: token t's row at block b0) x 16 rows over nbs packed blocks. */
QL_INLINE void q32_gemm(int T, const __m512i *wb, const float *dw, int64_t nbs,
                        const uint8_t *const x[GEMM_TOK], const int32_t *corr, const float *dx,
                        int64_t pstride, float *y, int64_t ldy, __mmask16 m, int first) {
    __m512 acc[GEMM_TOK];
    for (int t = 0; t < T; t++)
        acc[t] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m, y + t * ldy);
    for (int64_t b = 0; b < nbs; b++) {
        __m512i s[GEMM_TOK];
        for (int t = 0; t < T; t++) s[t] = _mm512_set1_epi32(corr[t * pstride + b]);
        for (int g = 0; g < 8; g++) {
            __m512i w = wb[8 * b + g];
            for (int t = 0; t < T; t++)
                s[t] = _mm512_dpbusd_epi32(s[t], w, _mm512_set1_epi32(load_i32(x[t] + b * Q8_0_BYTES + 2 + 4 * g)));
        }
        __m512 d = _mm512_loadu_ps(dw + 16 * b);
        for (int t = 0; t < T; t++) {
            __m512 term = _mm512_mul_ps(_mm512_mul_ps(d, _mm512_set1_ps(dx[t * pstride + b])),
                                        _mm512_cvtepi32_ps(s[t]));
            acc[t] = _mm512_add_ps(acc[t], term);
        }
    }
    for (int t = 0; t < T; t++) _mm512_mask_storeu_ps(y + t * ldy, m, acc[t]);
}

QL_INLINE void q32_prompt(int kind, const void *w, const wlay *L, int64_t nb, const void *x,
                          size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,
                          int64_t r1) {
    __m512i wb[8 * GEMM_KC];
    float dw[16 * GEMM_KC];
    int32_t corr[GEMM_TC * GEMM_KC];
    float dx[GEMM_TC * GEMM_KC];
    for (int64_t t0 = 0; t0 < n_tok; t0 += GEMM_TC) {
        const int64_t nt = n_tok - t0 < GEMM_TC ? n_tok - t0 : GEMM_TC;
        for (int64_t b0 = 0; b0 < nb; b0 += GEMM_KC) {
            const int64_t nbs = nb - b0 < GEMM_KC ? nb - b0 : GEMM_KC;
            const uint8_t *xs = (const uint8_t *)x + (size_t)t0 * x_row_bytes + (size_t)b0 * Q8_0_BYTES;
            q32_prep(kind, xs, x_row_bytes, nt, nbs, corr, dx);
            for (int64_t r = r0, nr; r < r1; r += nr) {
                nr = tile_rows(L, r, r1, PAIRS);
                const uint8_t *rows[PAIRS];
                tile_row_ptrs(w, L, r, nr, rows);
                const __mmask16 m = (__mmask16)((1u << nr) - 1u);
                q32_pack(kind, 0, rows, L, b0, nbs, wb, dw);
                for (int64_t t = 0; t < nt; t += GEMM_TOK) {
                    const uint8_t *xp[GEMM_TOK];
                    const int T = nt - t < GEMM_TOK ? (int)(nt - t) : GEMM_TOK;
                    for (int i = 0; i < T; i++) xp[i] = xs + (size_t)(t + i) * x_row_bytes;
                    const int32_t *c = corr + t * nbs;
                    const float *d = dx + t * nbs;
                    float *yt = y + (t0 + t) * ldy + r;
                    switch (T) {
#define QL_GEMM_CASE(n) case n: q32_gemm(n, wb, dw, nbs, xp, c, d, nbs, yt, ldy, m, b0 == 0); break;
                    QL_GEMM_CASE(1) QL_GEMM_CASE(2) QL_GEMM_CASE(3) QL_GEMM_CASE(4)
                    QL_GEMM_CASE(5) QL_GEMM_CASE(6) QL_GEMM_CASE(7) default: QL_GEMM_CASE(8)
#undef QL_GEMM_CASE
                    }
                }
            }
        }
    }
}

/* ---- Q4_K, Q5_K, Q6_K weights x Q8_K activations: super-blocks of 256 ------------------ */


QL_INLINE size_t k_bytes(int kind) {
    return kind == Q4_K ? sizeof(ql_block_q4_k)
                        : kind == Q5_K ? sizeof(ql_block_q5_k) : sizeof(ql_block_q6_k);
}

/* i / 8 for int16 lane i. */
static const int16_t k_q6_lane_sub[32] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                          2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3};

/* A weight super-block's per-row state: 16-bit scales and the min / bias weights. */
typedef struct k_row {
    __m512i sc16;  /* int16 lanes 0..7 (Q4_K/Q5_K: sc[j]) or 0..15 (Q6_K: scales[j]) */
    __m256i mw;    /* Q4_K/Q5_K: mn[j] as int32 lanes; Q6_K: scales[j] as int16 lanes */
    __m512i qh;    /* Q5_K: qh[32] in both halves */
} k_row;

QL_INLINE k_row k_row_load(int kind, const uint8_t *blk) {
    k_row s;
    if (kind == Q6_K) {
        __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + 192)));
        s.sc16 = _mm512_castsi256_si512(sc);
        s.mw = sc;
        s.qh = _mm512_setzero_si512();
        return s;
    }
    /* 6-bit codes (quant/formats.h): sc[0..3] = p[0..3] & 63, mn[0..3] = p[4..7] & 63,
     * sc[4..7] = p[8..11] & 15 | (p[0..3] >> 6) << 4, mn[4..7] = p[8..11] >> 4 |
     * (p[4..7] >> 6) << 4; bytewise in 32-bit words. */
    uint32_t a[3];
    memcpy(a, blk + 4, sizeof a);
    uint32_t sc_hi = (a[2] & 0x0f0f0f0fu) | ((a[0] >> 6) & 0x03030303u) << 4;
    uint32_t mn_hi = ((a[2] >> 4) & 0x0f0f0f0fu) | ((a[1] >> 6) & 0x03030303u) << 4;
    uint64_t sc = (a[0] & 0x3f3f3f3fu) | (uint64_t)sc_hi << 32;
    uint64_t mn = (a[1] & 0x3f3f3f3fu) | (uint64_t)mn_hi << 32;
    s.sc16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
    s.mw = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mn));
    s.qh = kind == Q5_K ? _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk + 16)))
                        : _mm512_setzero_si512();
    return s;
}

/* Levels 64c .. 64c+63 of a super-block (unsigned) and their sub-block scales as int16
 * per byte pair. */
QL_INLINE __m512i k_weights(int kind, const uint8_t *blk, const k_row *s, int c, __m512i *scale) {
    const __m512i m4 = _mm512_set1_epi8(15);
    if (kind == Q6_K) {
        /* chunk c = 2h + u: half h (ql + 64h, qh + 32h); u = 0: low nibbles and qh bits
         * 0-1 / 2-3, u = 1: high nibbles and bits 4-5 / 6-7 (quant/formats.h). */
        int h = c >> 1, u = c & 1;
        __m512i a = _mm512_loadu_si512(blk + 64 * h);
        __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h)));
        __m512i lo_hi = _mm512_inserti64x4(_mm512_set1_epi16(u ? 0 : 4), _mm256_set1_epi16(2), 1);
        __m512i hb = u ? _mm512_srlv_epi16(q, lo_hi) : _mm512_sllv_epi16(q, lo_hi);
        __m512i lv = u ? _mm512_srli_epi16(a, 4) : a;
        /* int16 lane i (elements 2i, 2i+1 of the chunk) uses scale 4c + i / 8 */
        *scale = _mm512_permutexvar_epi16(
            _mm512_add_epi16(_mm512_set1_epi16((short)(4 * c)), _mm512_loadu_si512(k_q6_lane_sub)),
            s->sc16);
        return _mm512_or_si512(_mm512_and_si512(lv, m4),
                               _mm512_and_si512(hb, _mm512_set1_epi8(0x30)));
    }
    size_t qs = kind == Q4_K ? 16 : 48;
    __m512i q = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk + qs + 32 * c)));
    q = _mm512_and_si512(_mm512_mask_blend_epi64(0xF0, q, _mm512_srli_epi16(q, 4)), m4);
    if (kind == Q5_K) {
        __m512i sel = _mm512_inserti64x4(_mm512_set1_epi8((char)(1 << (2 * c))),
                                         _mm256_set1_epi8((char)(1 << (2 * c + 1))), 1);
        q = _mm512_mask_add_epi8(q, _mm512_test_epi8_mask(s->qh, sel), q, _mm512_set1_epi8(16));
    }
    *scale = _mm512_permutexvar_epi16(
        _mm512_inserti64x4(_mm512_set1_epi16((short)(2 * c)), _mm256_set1_epi16((short)(2 * c + 1)), 1),
        s->sc16);
    return q;
}

/* One super-block for all 16 pairs of the tile. */
QL_INLINE __m512 k_step(int kind, int R, int T, const tile *tl, int64_t b, __m512 acc) {
    const size_t xo = (size_t)b * Q8_K_BYTES;
    __m256i bsum[MAX_TOK];
    for (int t = 0; t < T; t++) {
        __m256i bs16 = _mm256_loadu_si256((const __m256i *)(tl->x[t] + xo + offsetof(ql_block_q8_k, bsums)));
        /* Q4_K/Q5_K: sums of the 8 sub-blocks of 32 as int32; Q6_K: the 16 sums of 16 */
        bsum[t] = kind == Q6_K ? bs16 : _mm256_madd_epi16(bs16, _mm256_set1_epi16(1));
    }
    __m512i v[PAIRS], g[4];
    for (int r = 0; r < R; r++) {
        const uint8_t *blk = tl->w[r] + blk_off(&tl->L, b);
        if (T == 1) ql_pf_step(&tl->pf, b, 1, r, R);
        k_row s = k_row_load(kind, blk);
        __m512i ai[MAX_TOK];
        for (int t = 0; t < T; t++) ai[t] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) {
            __m512i scale, wv = k_weights(kind, blk, &s, c, &scale);
            for (int t = 0; t < T; t++) {
                __m512i xq = _mm512_loadu_si512(tl->x[t] + xo + 4 + 64 * c);
                ai[t] = _mm512_dpwssd_epi32(ai[t], _mm512_maddubs_epi16(wv, xq), scale);
            }
        }
        for (int t = 0; t < T; t++) {
            /* [scaled level products folded to 8 lanes | min or bias products] */
            __m256i f = _mm256_add_epi32(_mm512_castsi512_si256(ai[t]), _mm512_extracti64x4_epi64(ai[t], 1));
            __m256i m = _mm256_madd_epi16(s.mw, bsum[t]);
            v[r * T + t] = _mm512_inserti64x4(_mm512_castsi256_si512(f), m, 1);
        }
        if ((r + 1) * T % 4 == 0) {
            int j = (r + 1) * T / 4 - 1;
            g[j] = reduce4(v[4 * j], v[4 * j + 1], v[4 * j + 2], v[4 * j + 3]);
        }
    }
    __m512i isum, msum;
    reduce_halves(g, 0, &isum, &msum);
    __m512 dx = gather_x_scale(tl, T, xo, 0);
    if (kind == Q6_K) {
        __m512 d = gather_w_f16(tl, blk_off(&tl->L, b) + 206, 1); /* d at 208: 4 bytes from 206 */
        __m512i total = _mm512_sub_epi32(isum, _mm512_slli_epi32(msum, 5));
        return _mm512_add_ps(acc, _mm512_mul_ps(_mm512_mul_ps(dx, d), _mm512_cvtepi32_ps(total)));
    }
    __m512 d = gather_w_f16(tl, blk_off(&tl->L, b), 0), dmin = gather_w_f16(tl, blk_off(&tl->L, b), 1);
    __m512 inner = _mm512_sub_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(isum)),
                                 _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(msum)));
    return _mm512_add_ps(acc, _mm512_mul_ps(dx, inner));
}

/* ---- decode (one token), Q4_K: 16 rows x one super-block per step, no gathers ---------
 *
 * Each row's 256 levels come from two 64-byte loads of qs as 4 vectors of 64 nibbles
 * (AND, shift + AND: sub-blocks [0 | 2], [1 | 3], [4 | 6], [5 | 7]), multiplied by the
 * activations (rearranged once per step, shared by all rows) with one vpdpbusd each: 8 int32
 * partial sums per sub-block, |.| <= 4 * 15 * 128, so int16. Rows go in pairs (A, B):
 * vpackssdw packs A's and B's sums of the same sub-blocks (chunk k: 4 words of A, 4 of B;
 * first the [0 | 2] vectors, then [1 | 3]) and one vpdpwssd multiplies them by their scales
 * (one vpermw of the 4 rows' scale words), so one int32 vector per pair holds chunk k =
 * [2 sums of A, 2 of B]. kd_pair_fold (2 vshufps + 1 add) turns the two pairs of rows
 * 4j .. 4j+3 into chunk k = [row 4j, 4j+1, 4j+2, 4j+3] (reduce4's layout at a third of its
 * cost) and reduce_halves gives every row's exact isum, lane = row. The 16-byte
 * headers (d, dmin, 12 packed scale bytes) of rows 4j .. 4j+3 are loaded as one vector
 * (chunk c = row 4j + c); the 6-bit scales and mins are decoded there straight to int16
 * words (kd_q4k_scales: one vpshufb, shifts and one vpternlogd each), msum comes from
 * vpmaddwd + reduce4, and d / dmin reach lane = row by masked shuffles and one permute. The
 * float chain is k_step's (scalar's). */

/* The 16 bytes at p[0] + off, p[1] + off, p[2] + off, p[3] + off as chunks 0..3. */
QL_INLINE __m512i kd_load4(const uint8_t *const p[4], size_t off) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(p[0] + off)));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p[1] + off)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p[2] + off)), 2);
    return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(p[3] + off)), 3);
}

/* Lane 4c + j -> lane 4j + c. */
QL_INLINE __m512i kd_transpose(__m512i t) {
    return _mm512_permutexvar_epi32(_mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0), t);
}

/* h[j] chunk c: row 4j + c. Lane 4j + c of the result: dword 0 of that chunk. */
QL_INLINE __m512i kd_lane_rows(const __m512i h[4]) {
    __m512i t = _mm512_mask_shuffle_epi32(h[0], 0x2222, h[1], _MM_PERM_AAAA);
    t = _mm512_mask_shuffle_epi32(t, 0x4444, h[2], _MM_PERM_AAAA);
    t = _mm512_mask_shuffle_epi32(t, 0x8888, h[3], _MM_PERM_AAAA);
    return kd_transpose(t);
}

/* Q4_K header chunk [d, dmin, p0..p11] -> sc0..sc7 (*sc) and mn0..mn7 (*mn) as int16 words
 * (ql_k_scales_unpack). Word j of y1 is p[j] (j < 4) or p[j + 4] | p[j - 4] << 8, so sc[j]
 * is y1 & 63 or y1 & 15 | (y1 >> 10) & 0x30; word j of y2 is p[j + 4] (j < 4) or
 * p[j + 4] | p[j] << 8, so mn[j] is y2 & 63 or (y2 >> 4) & 15 | (y2 >> 10) & 0x30. One
 * vpternlogd selects per bit (mask M: 63 or 15 per word) from the two shifted copies, whose
 * other bits are zero where they are taken. */
QL_INLINE void kd_q4k_scales(__m512i h, __m512i *sc, __m512i *mn) {
    const __m512i c1 = _mm512_broadcast_i32x4(_mm_setr_epi8(4, -128, 5, -128, 6, -128, 7, -128, 12, 4, 13, 5, 14, 6, 15, 7));
    const __m512i c2 = _mm512_broadcast_i32x4(_mm_setr_epi8(8, -128, 9, -128, 10, -128, 11, -128, 12, 8, 13, 9, 14, 10, 15, 11));
    const __m512i m = _mm512_broadcast_i32x4(_mm_setr_epi16(63, 63, 63, 63, 15, 15, 15, 15));
    const __m512i s1 = _mm512_broadcast_i32x4(_mm_setr_epi16(0, 0, 0, 0, 4, 4, 4, 4));
    const __m512i s2 = _mm512_broadcast_i32x4(_mm_setr_epi16(16, 16, 16, 16, 10, 10, 10, 10));
    const __m512i y1 = _mm512_shuffle_epi8(h, c1), y2 = _mm512_shuffle_epi8(h, c2);
    /* 0xE4: c ? a : b per bit */
    *sc = _mm512_ternarylogic_epi32(y1, _mm512_srli_epi16(y1, 10), m, 0xE4);
    *mn = _mm512_ternarylogic_epi32(_mm512_srlv_epi16(y2, s1), _mm512_srlv_epi16(y2, s2), m, 0xE4);
}

/* vpermw index for rows (c, c + 1) of sc16, half h, u = 0 (lo) / 1 (up): int16 words 0-3
 * of chunk k = sc[4h + u + 2(k >= 2)] of row c (word 8c + ...), words 4-7 = the same of
 * row c + 1 (the vpackssdw order of a (row c, row c + 1) pair). */
QL_INLINE __m512i kd_sc_idx(int c, int h, int u) {
    const short a = (short)(8 * c + 4 * h + u), b = (short)(a + 2);
    return _mm512_set_epi16(b + 8, b + 8, b + 8, b + 8, b, b, b, b, b + 8, b + 8, b + 8, b + 8, b, b, b, b,
                            a + 8, a + 8, a + 8, a + 8, a, a, a, a, a + 8, a + 8, a + 8, a + 8, a, a, a, a);
}

/* v0 chunk k: [A, A, B, B], v1: [C, C, D, D] (int32 partial sums of rows A..D) ->
 * chunk k: [A0 + A1, B0 + B1, C0 + C1, D0 + D1]. */
QL_INLINE __m512i kd_pair_fold(__m512i v0, __m512i v1) {
    const __m512 a = _mm512_castsi512_ps(v0), b = _mm512_castsi512_ps(v1);
    return _mm512_add_epi32(_mm512_castps_si512(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))),
                            _mm512_castps_si512(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))));
}

/* Lane r: row r's sum, from the 4 vectors of kd_pair_fold (rows 4j .. 4j+3 in g[j]). */
QL_INLINE __m512i kd_row_sums(const __m512i g[4]) {
    __m512i lo, hi;
    reduce_halves(g, 0, &lo, &hi);
    return _mm512_add_epi32(lo, hi);
}

/* The float scale d at the start of a Q8_K activation block. */
QL_INLINE float kd_x_scale(const uint8_t *xb) {
    float d;
    memcpy(&d, xb, 4);
    return d;
}

QL_INLINE __m512 kd_step(const tile *tl, int64_t b, __m512 acc) {
    const size_t off = blk_off(&tl->L, b);
    const uint8_t *xb = tl->x[0] + (size_t)b * Q8_K_BYTES;
    const __m512i zero = _mm512_setzero_si512(), m4 = _mm512_set1_epi8(15);
    const __m256i bs16 = _mm256_loadu_si256((const __m256i *)(xb + offsetof(ql_block_q8_k, bsums)));
    __m512i xv[4], g[4], hv[4], mv[4];
    /* sub-blocks [0 | 2], [1 | 3], [4 | 6], [5 | 7] (the nibble order) */
    for (int h = 0; h < 2; h++) {
        __m512i a = _mm512_loadu_si512(xb + 4 + 128 * h), c = _mm512_loadu_si512(xb + 68 + 128 * h);
        xv[2 * h] = _mm512_shuffle_i64x2(a, c, _MM_SHUFFLE(1, 0, 1, 0));
        xv[2 * h + 1] = _mm512_shuffle_i64x2(a, c, _MM_SHUFFLE(3, 2, 3, 2));
    }
    /* sums of the bsums pairs (those of the 8 sub-blocks, |.| <= 4064) as int16, per chunk */
    const __m512i bsx = _mm512_broadcast_i32x4(_mm256_cvtepi32_epi16(_mm256_madd_epi16(bs16, _mm256_set1_epi16(1))));
    for (int j = 0; j < 4; j++) {
        const uint8_t *p[4];
        for (int c = 0; c < 4; c++) p[c] = tl->w[4 * j + c] + off;
        ql_pf_step(&tl->pf, b, 1, j, 4);
        __m512i v[2];
        hv[j] = kd_load4(p, 0);
        /* chunk c: row 4j + c's sc[0..7] and mn[0..7] as int16 */
        __m512i sc16, mn16;
        kd_q4k_scales(hv[j], &sc16, &mn16);
        mv[j] = _mm512_madd_epi16(mn16, bsx); /* mn words x pairs */
        /* rows (2i, 2i + 1) of the 4 packed together: chunk k of v[i] = [2 sums of row 2i,
         * 2 of row 2i + 1] */
        for (int i = 0; i < 2; i++) {
            __m512i ai = zero;
            for (int h = 0; h < 2; h++) {
                __m512i lo[2], up[2];
                for (int e = 0; e < 2; e++) {
                    __m512i a = _mm512_loadu_si512(p[2 * i + e] + 16 + 64 * h);
                    /* 8 partial sums per sub-block, |.| <= 4 * 15 * 128: int16 */
                    lo[e] = _mm512_dpbusd_epi32(zero, _mm512_and_si512(a, m4), xv[2 * h]);
                    up[e] = _mm512_dpbusd_epi32(zero, _mm512_and_si512(_mm512_srli_epi16(a, 4), m4), xv[2 * h + 1]);
                }
                /* chunk k: [4 sums of row 2i, 4 of row 2i + 1] as int16, scaled by their
                 * sc[4h + u + 2(k >= 2)] */
                ai = _mm512_dpwssd_epi32(ai, _mm512_packs_epi32(lo[0], lo[1]),
                                         _mm512_permutexvar_epi16(kd_sc_idx(2 * i, h, 0), sc16));
                ai = _mm512_dpwssd_epi32(ai, _mm512_packs_epi32(up[0], up[1]),
                                         _mm512_permutexvar_epi16(kd_sc_idx(2 * i, h, 1), sc16));
            }
            v[i] = ai;
        }
        g[j] = kd_pair_fold(v[0], v[1]);
    }
    const __m512i isum = kd_row_sums(g);
    const float dxs = kd_x_scale(xb);
    const __m512 dx = _mm512_set1_ps(dxs);
    const __m512i dd = kd_lane_rows(hv);
    const __m512i msum = kd_transpose(reduce4(mv[0], mv[1], mv[2], mv[3]));
    const __m512 d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(dd));
    const __m512 dmin = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(dd, 16)));
    __m512 inner = _mm512_sub_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(isum)),
                                 _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(msum)));
    return _mm512_add_ps(acc, _mm512_mul_ps(dx, inner));
}

/* ---- decode (one token), Q6_K: 16 rows x one super-block per step ---------------------
 *
 * A row's 256 levels from 4 loads: ql bytes 0-63 and 64-127 (A_h) and qh half h broadcast
 * to both 256-bit halves (H_h). Byte i of A_h holds the low nibbles of elements 128h + i
 * and the high nibbles of 128h + 64 + i; their 2 high bits are bits 0-1 (i < 32) or 2-3
 * (i >= 32) of H_h byte i, and bits 4-5 or 6-7. Masking H_h first (0x03 | 0x0C, 0x30 |
 * 0xC0) makes the word shifts that move those bits to 4-5 leak nothing across bytes, so
 * one vpternlogd merges them with the nibbles:
 *   L_h = (A_h & 15) | ((H_h & M1) << [4 | 2]),  elements 128h + i
 *   U_h = (A_h >> 4 & 15) | ((H_h & M2) >> [0 | 2]),  elements 128h + 64 + i
 * 128-bit chunk k of L_h is sub-block 8h + k, of U_h 8h + 4 + k. One vpdpbusd each with the
 * activations, starting from -32 * (the sum of each activation dword, once per step), gives
 * 4 int32 sums of (q - 32) x per sub-block, |.| <= 4 * 32 * 128: int16. Rows go in pairs
 * (A, B) as in kd_step: vpackssdw packs A's and B's L_h sums (chunk k: 4 words of sub-block
 * 8h + k of A, 4 of B), then their U_h sums (sub-block 8h + 4 + k), and one vpdpwssd each with
 * the scales (one vpermt2w of A's and B's scale words) adds sc_j * (q - 32) . x to one int32
 * vector per pair (chunk k: [2 sums of A, 2 of B]). Then kd_pair_fold + reduce_halves give
 * each row's exact total, lane = row, and the float chain is k_step's (scalar's):
 * acc + (dx * d) * total. */
/* k + 32 * (i / 4 % 2) for int16 word i of chunk k: scales[k] of row A (words 0-15 of the
 * first vpermt2w source) for words 0-3, of row B (the second source) for words 4-7. */
static const int16_t kq6_pair_sub[32] = {0, 0, 0, 0, 32, 32, 32, 32, 1, 1, 1, 1, 33, 33, 33, 33,
                                         2, 2, 2, 2, 34, 34, 34, 34, 3, 3, 3, 3, 35, 35, 35, 35};

QL_INLINE __m512 kq6_step(const tile *tl, int64_t b, __m512 acc) {
    const size_t off = blk_off(&tl->L, b);
    const uint8_t *xb = tl->x[0] + (size_t)b * Q8_K_BYTES;
    const __m512i m4 = _mm512_set1_epi8(15);
    const __m512i m1 = _mm512_inserti64x4(_mm512_set1_epi8(0x03), _mm256_set1_epi8(0x0C), 1);
    const __m512i m2 = _mm512_inserti64x4(_mm512_set1_epi8(0x30), _mm256_set1_epi8((char)0xC0), 1);
    const __m512i s1 = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
    const __m512i s2 = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    /* vpackssdw of rows (A, B), half h, L (u = 0) or U (u = 1): int16 words 0-3 of chunk k
     * scale by row A's scales[8h + 4u + k], words 4-7 by row B's */
    __m512i sidx[4];
    for (int i = 0; i < 4; i++)
        sidx[i] = _mm512_add_epi16(_mm512_set1_epi16((short)(4 * i)), _mm512_loadu_si512(kq6_pair_sub));
    __m512i xv[4];
    for (int c = 0; c < 4; c++) xv[c] = _mm512_loadu_si512(xb + 4 + 64 * c);
    /* -32 * (sum of each activation dword's 4 bytes): the accumulator vpdpbusd starts from,
     * so that its lanes hold sums of (q - 32) x */
    __m512i x32[4];
    for (int c = 0; c < 4; c++)
        x32[c] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                  _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(32), xv[c]));
    __m512i g[4];
    for (int j = 0; j < 4; j++) {
        ql_pf_step(&tl->pf, b, 1, j, 4);
        /* rows (4j + 2i, 4j + 2i + 1) packed together: chunk k of v[i] = [2 sums of the
         * first row, 2 of the second] */
        __m512i v[2];
        for (int i = 0; i < 2; i++) {
            const uint8_t *blk[2] = {tl->w[4 * j + 2 * i] + off, tl->w[4 * j + 2 * i + 1] + off};
            __m512i sc[2];
            for (int e = 0; e < 2; e++)
                sc[e] = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk[e] + 192))));
            __m512i ai = _mm512_setzero_si512();
            for (int h = 0; h < 2; h++) {
                __m512i pl[2], pu[2];
                for (int e = 0; e < 2; e++) {
                    const __m512i a = _mm512_loadu_si512(blk[e] + 64 * h);
                    const __m512i hq = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(blk[e] + 128 + 32 * h)));
                    /* 0xEC: (a & c) | b */
                    __m512i lo = _mm512_ternarylogic_epi32(a, _mm512_sllv_epi16(_mm512_and_si512(hq, m1), s1), m4, 0xEC);
                    __m512i up = _mm512_ternarylogic_epi32(_mm512_srli_epi16(a, 4), _mm512_srlv_epi16(_mm512_and_si512(hq, m2), s2), m4, 0xEC);
                    /* 4 partial sums of (q - 32) x per sub-block of 16, |.| <= 4 * 32 * 128:
                     * int16 */
                    pl[e] = _mm512_dpbusd_epi32(x32[2 * h], lo, xv[2 * h]);
                    pu[e] = _mm512_dpbusd_epi32(x32[2 * h + 1], up, xv[2 * h + 1]);
                }
                ai = _mm512_dpwssd_epi32(ai, _mm512_packs_epi32(pl[0], pl[1]),
                                         _mm512_permutex2var_epi16(sc[0], sidx[2 * h], sc[1]));
                ai = _mm512_dpwssd_epi32(ai, _mm512_packs_epi32(pu[0], pu[1]),
                                         _mm512_permutex2var_epi16(sc[0], sidx[2 * h + 1], sc[1]));
            }
            v[i] = ai;
        }
        g[j] = kd_pair_fold(v[0], v[1]);
    }
    const __m512i total = kd_row_sums(g);
    const float dxs = kd_x_scale(xb);
    const __m512 d = gather_w_f16(tl, off + 206, 1); /* d at 208: 4 bytes from 206 */
    return _mm512_add_ps(acc, _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(dxs), d), _mm512_cvtepi32_ps(total)));
}

QL_INLINE void k_tile(int kind, int R, int T, const void *w, const wlay *L, int64_t n_rows,
                      const void *x, size_t x_row_bytes, int64_t n_tok, int64_t nb, float *y,
                      int64_t ldy, int64_t pf_skip, int64_t pf_rows) {
    tile tl;
    tile_init(&tl, R, T, w, L, n_rows, x, x_row_bytes, n_tok);
    if (T == 1) tl.pf = ql_pf_rows(w, L->row_bytes, pf_skip, pf_rows, k_bytes(kind));
    __m512 acc = _mm512_setzero_ps();
    if (T == 1 && R == PAIRS && kind == Q4_K)
        for (int64_t b = 0; b < nb; b++) acc = kd_step(&tl, b, acc);
    else if (T == 1 && R == PAIRS && kind == Q6_K)
        for (int64_t b = 0; b < nb; b++) acc = kq6_step(&tl, b, acc);
    else
        for (int64_t b = 0; b < nb; b++) acc = k_step(kind, R, T, &tl, b, acc);
    tile_store(acc, R, T, n_rows, n_tok, y, ldy);
}

/* ---- prompts, k-quants: as q32_prompt, super-blocks of 256, weights packed by k_pack_block
 * (simd/avx512_pack.h) ---------------------------------------------------------------- */

/* T tokens (x[t]: token t's row at super-block b0; bp[t * nbs * 4]: its k_prep pairs) x H
 * tiles of 16 rows (kps[h]: nbs packed super-blocks; lanes m[h] of yh[h] + t * ldy) over
 * nbs super-blocks; the float accumulators are loaded from y (unless `first`) and stored
 * back. H = 2 and T = 4 use 24 of the 32 vector registers for the sums. */
QL_INLINE void k_gemm(int kind, int H, int T, const k_pack *const kps[2], int64_t nbs,
                      const uint8_t *const x[GEMM_TOK], const int32_t *bp, float *const yh[2],
                      int64_t ldy, const __mmask16 m[2], int first) {
    __m512 acc[2][GEMM_TOK];
    for (int h = 0; h < H; h++)
        for (int t = 0; t < T; t++)
            acc[h][t] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m[h], yh[h] + t * ldy);
    for (int64_t b = 0; b < nbs; b++) {
        const size_t xo = (size_t)b * Q8_K_BYTES;
        const k_pack *kp[2] = {kps[0] + b, kps[H - 1] + b};
        __m512i is[2][GEMM_TOK], s[2][GEMM_TOK];
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) is[h][t] = _mm512_setzero_si512();
        for (int j = 0; j < 8; j++)
            for (int q = 0; q < (kind == Q6_K ? 2 : 1); q++) {
                const int g0 = kind == Q6_K ? 4 * q : 0, g1 = kind == Q6_K ? 4 * q + 4 : 8;
                for (int h = 0; h < H; h++)
                    for (int t = 0; t < T; t++) s[h][t] = _mm512_setzero_si512();
                for (int g = g0; g < g1; g++) {
                    __m512i w[2];
                    for (int h = 0; h < H; h++) w[h] = kp[h]->w[8 * j + g];
                    for (int t = 0; t < T; t++) {
                        const __m512i xb = _mm512_set1_epi32(load_i32(x[t] + xo + 4 + 32 * j + 4 * g));
                        for (int h = 0; h < H; h++) s[h][t] = _mm512_dpbusd_epi32(s[h][t], w[h], xb);
                    }
                }
                for (int h = 0; h < H; h++) {
                    __m512i sc = kp[h]->sc[kind == Q6_K ? 2 * j + q : j];
                    for (int t = 0; t < T; t++) is[h][t] = _mm512_add_epi32(is[h][t], _mm512_mullo_epi32(s[h][t], sc));
                }
            }
        /* Q6_K: the -32 offset joins isum; Q4_K/Q5_K: msum apart */
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) s[h][t] = kind == Q6_K ? is[h][t] : _mm512_setzero_si512();
        for (int i = 0; i < (kind == Q6_K ? 8 : 4); i++)
            for (int t = 0; t < T; t++) {
                const __m512i xp = _mm512_set1_epi32(kind == Q6_K
                    ? load_i32(x[t] + xo + offsetof(ql_block_q8_k, bsums) + 4 * i) : bp[4 * (t * nbs + b) + i]);
                for (int h = 0; h < H; h++) s[h][t] = _mm512_dpwssd_epi32(s[h][t], kp[h]->bias[i], xp);
            }
        for (int t = 0; t < T; t++) {
            float dxs;
            memcpy(&dxs, x[t] + xo, 4);
            const __m512 dx = _mm512_set1_ps(dxs);
            for (int h = 0; h < H; h++) {
                __m512 term;
                if (kind == Q6_K)
                    term = _mm512_mul_ps(_mm512_mul_ps(dx, kp[h]->d), _mm512_cvtepi32_ps(s[h][t]));
                else
                    term = _mm512_mul_ps(dx, _mm512_sub_ps(_mm512_mul_ps(kp[h]->d, _mm512_cvtepi32_ps(is[h][t])),
                                                           _mm512_mul_ps(kp[h]->dmin, _mm512_cvtepi32_ps(s[h][t]))));
                acc[h][t] = _mm512_add_ps(acc[h][t], term);
            }
        }
    }
    for (int h = 0; h < H; h++)
        for (int t = 0; t < T; t++) _mm512_mask_storeu_ps(yh[h] + t * ldy, m[h], acc[h][t]);
}

/* Loops as q32_prompt's: passes of TC_K tokens, segments of KC_K super-blocks, pairs of
 * 16-row tiles (a lone tile at the end of the range), groups of 4 tokens (8 for a lone
 * tile). A pair shares each activation broadcast between two vpdpbusd: one broadcast per
 * two instead of one per one, which measured +5-15% on the k-quant GEMMs (Q4_K and Q6_K,
 * 1 thread, docs/PERFORMANCE.md, session 5). */
QL_INLINE void k_prompt(int kind, const void *w, const wlay *L, int64_t nb, const void *x,
                        size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,
                        int64_t r1) {
    k_pack kp[2][GEMM_KC_K];
    int32_t bp[GEMM_TC_K * GEMM_KC_K * 4]; /* k_prep's pairs, 32 KiB */
    for (int64_t t0 = 0; t0 < n_tok; t0 += GEMM_TC_K) {
        const int64_t nt = n_tok - t0 < GEMM_TC_K ? n_tok - t0 : GEMM_TC_K;
        for (int64_t b0 = 0; b0 < nb; b0 += GEMM_KC_K) {
            const int64_t nbs = nb - b0 < GEMM_KC_K ? nb - b0 : GEMM_KC_K;
            const uint8_t *xs = (const uint8_t *)x + (size_t)t0 * x_row_bytes + (size_t)b0 * Q8_K_BYTES;
            if (kind != Q6_K) k_prep(xs, x_row_bytes, nt, nbs, bp);
            for (int64_t r = r0, nr; r < r1; r += nr) {
                int64_t n[2], ro[2];
                nr = tile_pair(L, r, r1, n, ro);
                const int H = n[1] ? 2 : 1;
                __mmask16 m[2];
                const k_pack *kps[2] = {kp[0], kp[H - 1]};
                for (int h = 0; h < H; h++) {
                    const uint8_t *rows[PAIRS];
                    tile_row_ptrs(w, L, ro[h], n[h], rows);
                    m[h] = (__mmask16)((1u << n[h]) - 1u);
                    for (int64_t b = 0; b < nbs; b++) k_pack_block(kind, rows, blk_off(L, b0 + b), &kp[h][b]);
                }
                const int TT = H == 2 ? GEMM_TOK / 2 : GEMM_TOK; /* tokens per register tile */
                for (int64_t t = 0; t < nt; t += TT) {
                    const uint8_t *xp[GEMM_TOK];
                    const int T = nt - t < TT ? (int)(nt - t) : TT;
                    for (int i = 0; i < T; i++) xp[i] = xs + (size_t)(t + i) * x_row_bytes;
                    float *yh[2] = {y + (t0 + t) * ldy + ro[0], y + (t0 + t) * ldy + ro[H - 1]};
                    const int32_t *bt = bp + 4 * t * nbs;
                    if (H == 2) {
                        switch (T) {
#define QL_GEMM_CASE(n) case n: k_gemm(kind, 2, n, kps, nbs, xp, bt, yh, ldy, m, b0 == 0); break;
                        QL_GEMM_CASE(1) QL_GEMM_CASE(2) QL_GEMM_CASE(3) default: QL_GEMM_CASE(4)
#undef QL_GEMM_CASE
                        }
                    } else {
                        switch (T) {
#define QL_GEMM_CASE(n) case n: k_gemm(kind, 1, n, kps, nbs, xp, bt, yh, ldy, m, b0 == 0); break;
                        QL_GEMM_CASE(1) QL_GEMM_CASE(2) QL_GEMM_CASE(3) QL_GEMM_CASE(4)
                        QL_GEMM_CASE(5) QL_GEMM_CASE(6) QL_GEMM_CASE(7) default: QL_GEMM_CASE(8)
#undef QL_GEMM_CASE
                        }
                    }
                }
            }
        }
    }
}

/* ---- matmul entries: tiles over rows and tokens ------------------------------------------ */

/* Decode prefetch distance in tiles at most (simd/pf_stream.h). Memory-resident, 2 threads,
 * kernel GB/s over the read probe's (docs/PERFORMANCE.md, "Decode, session 3"): at
 * k = 2048 (tiles of 18-35 KB) one tile ahead gave 79-80% for Q4_K / Q6_K / Q8_0, two or
 * three 83-87%; at k = 8192 (tiles of 73-139 KB) one tile is as good as more. */
enum { PF_LEAD_TILES = 4 };

typedef void (*tile_fn)(const void *w, const wlay *L, int64_t n_rows, const void *x,
                        size_t x_row_bytes, int64_t n_tok, int64_t nb, float *y, int64_t ldy,
                        int64_t pf_skip, int64_t pf_rows);

typedef void (*prompt_fn)(const void *w, const wlay *L, int64_t nb, const void *x,
                          size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,
                          int64_t r1);

typedef struct tiles {
    uint32_t type;
    int block;                       /* elements per block */
    tile_fn t16x1, t8x2, t4x4;       /* rows x tokens */
    prompt_fn prompt;                /* n_tok >= GEMM_MIN_TOK; NULL: 4x4 tiles */
} tiles;

/* Decode: 16 rows per tile. Prompts: rows outer (a tile's weight rows stay in cache while
 * every token group passes), tokens inner. `grouped`: w is in the grouped layout
 * (kernels.h). */
static void run_tiles(const tiles *ts, int grouped, const void *w, size_t row_bytes, int64_t k,
                      const void *x, size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy,
                      int64_t r0, int64_t r1) {
    if ((!grouped && row_bytes > MAX_STRIDE) || x_row_bytes > MAX_STRIDE) {
        /* the gathers' 32-bit offsets do not reach; ql_g16_fits keeps such matrices plain */
        ql_kernels_scalar()->matmul[ts->type](w, row_bytes, k, x, x_row_bytes, n_tok, y, ldy, r0, r1);
        return;
    }
    const wlay L = wlay_of(ts->type, row_bytes, grouped);
    int64_t nb = k / ts->block;
    const char *wc = w, *xc = x;
    if (n_tok >= GEMM_MIN_TOK && ts->prompt) {
        ts->prompt(w, &L, nb, x, x_row_bytes, n_tok, y, ldy, r0, r1);
        return;
    }
    if (n_tok == 1 || n_tok == 2) {
        int64_t R = n_tok == 1 ? 16 : 8;
        tile_fn fn = n_tok == 1 ? ts->t16x1 : ts->t8x2;
        int64_t lead = ql_pf_lead(R * (int64_t)row_bytes, PF_LEAD_TILES);
        for (int64_t r = r0, n; r < r1; r += n) {
            int64_t skip, rows;
            n = tile_rows(&L, r, r1, R);
            /* grouped weights: the hardware prefetchers follow one stream, no software one */
            if (grouped) skip = rows = 0;
            else ql_pf_plan(r, r0, r1, R, lead, &skip, &rows);
            fn(wc + row_off(&L, r), &L, n, x, x_row_bytes, n_tok, nb, y + r, ldy, skip, rows);
        }
        return;
    }
    for (int64_t r = r0, n; r < r1; r += n) {
        n = tile_rows(&L, r, r1, 4);
        for (int64_t t = 0; t < n_tok; t += 4)
            ts->t4x4(wc + row_off(&L, r), &L, n,
                     xc + (size_t)t * x_row_bytes, x_row_bytes, n_tok - t < 4 ? n_tok - t : 4,
                     nb, y + t * ldy + r, ldy, 0, 0);
    }
}

#define QL_TILE(name, impl, kind, R, T)                                                    \
    static void name(const void *w, const wlay *L, int64_t n_rows, const void *x,          \
                     size_t x_row_bytes, int64_t n_tok, int64_t nb, float *y, int64_t ldy,  \
                     int64_t pf_skip, int64_t pf_rows) {                                    \
        impl(kind, R, T, w, L, n_rows, x, x_row_bytes, n_tok, nb, y, ldy, pf_skip, pf_rows); \
    }

#define QL_PROMPT(name, impl, kind)                                                         \
    static void name(const void *w, const wlay *L, int64_t nb, const void *x,               \
                     size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,  \
                     int64_t r1) {                                                          \
        impl(kind, w, L, nb, x, x_row_bytes, n_tok, y, ldy, r0, r1);                        \
    }

/* matmul_FMT over the plain layout, matmul_FMT_g16 over the grouped one (simd/wlay.h) */
#define QL_MATMUL(fmt, impl, kind, type, block, prompt)                                    \
    QL_TILE(fmt##_16x1, impl, kind, 16, 1)                                                 \
    QL_TILE(fmt##_8x2, impl, kind, 8, 2)                                                   \
    QL_TILE(fmt##_4x4, impl, kind, 4, 4)                                                   \
    static const tiles fmt##_tiles = {type, block, fmt##_16x1, fmt##_8x2, fmt##_4x4, prompt}; \
    QL_MATMUL_ENTRIES(fmt)

QL_PROMPT(q8_0_prompt, q32_prompt, Q8_0)
QL_PROMPT(q4_0_prompt, q32_prompt, Q4_0)
QL_PROMPT(q4_k_prompt, k_prompt, Q4_K)
QL_PROMPT(q5_k_prompt, k_prompt, Q5_K)
QL_PROMPT(q6_k_prompt, k_prompt, Q6_K)

QL_MATMUL(q8_0, q32_tile, Q8_0, QL_TYPE_Q8_0, QL_QK, q8_0_prompt)
QL_MATMUL(q4_0, q32_tile, Q4_0, QL_TYPE_Q4_0, QL_QK, q4_0_prompt)
QL_MATMUL(q4_1, q32_tile, Q4_1, QL_TYPE_Q4_1, QL_QK, NULL)
QL_MATMUL(q4_k, k_tile, Q4_K, QL_TYPE_Q4_K, QL_QK_K, q4_k_prompt)
QL_MATMUL(q5_k, k_tile, Q5_K, QL_TYPE_Q5_K, QL_QK_K, q5_k_prompt)
QL_MATMUL(q6_k, k_tile, Q6_K, QL_TYPE_Q6_K, QL_QK_K, q6_k_prompt)

/* ---- activation quantizers: the bytes of quant/q8_0.c and quant/k_quants.c ------------- */

/* Levels of 16 values: round-to-nearest-even of clamp(v * id, -127, 127), as scalar's
 * ql_quant_round (clamp, then lrintf in the default rounding mode). */
QL_INLINE __m512i levels16(__m512 v, float id) {
    __m512 s = _mm512_mul_ps(v, _mm512_set1_ps(id));
    s = _mm512_min_ps(_mm512_max_ps(s, _mm512_set1_ps(-127.0f)), _mm512_set1_ps(127.0f));
    return _mm512_cvtps_epi32(s);
}

static void quantize_row_q8_0(const float *x, void *dst, int64_t n) {
    ql_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QL_QK; i++, x += QL_QK) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        uint16_t d = ql_f16_round_up(amax / 127.0f);
        float id = ql_quant_inv(ql_f16_to_f32(d));
        b[i].d = d;
        _mm_storeu_si128((__m128i *)b[i].qs, _mm512_cvtepi32_epi8(levels16(v0, id)));
        _mm_storeu_si128((__m128i *)(b[i].qs + 16), _mm512_cvtepi32_epi8(levels16(v1, id)));
    }
}

static void quantize_row_q8_k(const float *x, void *dst, int64_t n) {
    ql_block_q8_k *b = dst;
    for (int64_t i = 0; i < n / QL_QK_K; i++, x += QL_QK_K) {
        __m512 m = _mm512_setzero_ps();
        for (int g = 0; g < 16; g++) m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + 16 * g)));
        float amax = _mm512_reduce_max_ps(m);
        float d = amax / 127.0f;
        if (!isfinite(d * 127.0f)) d = nextafterf(d, 0.0f); /* amax near FLT_MAX */
        float id = ql_quant_inv(d);
        if (id == 0.0f) d = 0.0f; /* scale underflowed: the block is zeros */
        b[i].d = d;
        for (int g = 0; g < 16; g++) {
            __m512i q = levels16(_mm512_loadu_ps(x + 16 * g), id);
            _mm_storeu_si128((__m128i *)(b[i].qs + 16 * g), _mm512_cvtepi32_epi8(q));
            b[i].bsums[g] = (int16_t)_mm512_reduce_add_epi32(q);
        }
    }
}

void ql_kernels_init_avx512_quant(ql_kernel_table *t) {
    t->from_float[QL_TYPE_Q8_0] = quantize_row_q8_0;
    t->from_float[QL_TYPE_Q8_K] = quantize_row_q8_k;
    QL_SET_QUANT_MATMULS(t);
}

ql_matmul_fn ql_avx512_quant_matmul(uint32_t type, int grouped) {
    switch (type) {
    case QL_TYPE_Q8_0: return grouped ? matmul_q8_0_g16 : matmul_q8_0;
    case QL_TYPE_Q4_0: return grouped ? matmul_q4_0_g16 : matmul_q4_0;
    case QL_TYPE_Q4_K: return grouped ? matmul_q4_k_g16 : matmul_q4_k;
    case QL_TYPE_Q5_K: return grouped ? matmul_q5_k_g16 : matmul_q5_k;
    case QL_TYPE_Q6_K: return grouped ? matmul_q6_k_g16 : matmul_q6_k;
    default: return NULL;
    }
}
