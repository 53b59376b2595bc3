/*
 * simd/avx2_quant.c: AVX2 matmul kernels for the quantized weight formats and the Q8_0 /
 * Q8_K activation quantizers.
 *
 * Same scheme as simd/avx512_quant.c (read its header first), at 8 lanes:
 *  1. Integer products 32 bytes at a time with `vpmaddubsw` (unsigned x signed byte pairs
 *     into int16, exact: |pair| <= 128 * 127 * 2 < 2^15) and `vpmaddwd` (int16 pairs into
 *     int32, times 1 or the sub-block scale). Q8_0 weights are signed: |w| x sign(x, w)
 *     (exact for w = -128 too); Q4_0 subtracts 8 * (block sum of x) from the exact block
 *     sum; Q6_K's -32 bias comes from the Q8_K block sums.
 *  2. A tile of 8 (row, token) pairs (8 rows x 1 token for decode, 4 x 2 for two tokens)
 *     gives 8 vectors of int32 partial sums; reduce4 / reduce_all turn them into one vector
 *     whose lane p is pair p's exact block sum. Prompts (n_tok >= GEMM_MIN_TOK) repack 8
 *     rows into "lane = row" vectors instead and need no reduction (q32_prompt, k_prompt).
 *  3. The float chain runs one pair per lane with scalar's operations in scalar's order.
 *     The f16 weight scales of the 8 lanes come from eight 4-byte loads and a few unpacks
 *     (f16_lanes), not from gathers: vpgatherdd is slow on Zen 4 and on Intel parts with
 *     the GDS microcode fix.
 * So every lane equals simd/scalar_quant.c bit for bit, for any split or batching.
 *
 * Decode (n_tok = 1) prefetches further rows as one stream (simd/pf_stream.h), and Q8_0 / Q4_0 / Q4_1 run 8 rows x 4 blocks per step
 * (dec_step; docs/PERFORMANCE.md, "AVX2 decode kernels" and "Decode, session 3").
 * Prompts: 8 rows x 4 tokens per register tile (docs/PERFORMANCE.md, "AVX2 prompt kernels").
 */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "quant/formats.h"
#include "quant_isa.h"

#include "isa.h"
#include "pf_stream.h"
#include "wlay.h"

/* A switch over the token count of a register tile, 1 .. GEMM_TOK. */
#define QL_GEMM_CASES QL_GEMM_CASE(1) QL_GEMM_CASE(2) QL_GEMM_CASE(3) default: QL_GEMM_CASE(4)

enum {
    PAIRS = 8,   /* (row, token) pairs per tile: one per float lane */
    MAX_TOK = 2, /* tokens per tile at most */
    /* decode: prefetch distance in tiles at most (simd/pf_stream.h; the tiles are half
     * avx512's) */
    PF_LEAD_TILES = 6,
    Q8_0_BYTES = sizeof(ql_block_q8_0),
    Q8_K_BYTES = sizeof(ql_block_q8_k),
    /* prompts: tokens per register tile (QL_GEMM_CASES; 5 measured the same, 6 slower:
     * spills), blocks per packed weight segment (8 rows x KC blocks: 8 KiB for Q8_0 /
     * Q4_0), k-quant super-blocks per segment (~11 KiB), (token, block) pairs prepared per
     * pass (64 KiB) */
    GEMM_TOK = 4,
    GEMM_KC = 32,
    GEMM_KC_K = 4,
    GEMM_PREP = 8192,
    GEMM_MIN_TOK = 3,
};

/* ---- exact transposing reduction of 8 int32 vectors ------------------------------------- */

QL_INLINE __m256i fold32(__m256i a, __m256i b) {
    return _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
}

/* Chunk c of the result: [sum of chunk c of v0, of v1, of v2, of v3]. */
QL_INLINE __m256i reduce4(__m256i v0, __m256i v1, __m256i v2, __m256i v3) {
    __m256i a = fold32(v0, v1), b = fold32(v2, v3);
    return _mm256_add_epi32(_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b));
}

/* From g0 = reduce4(v0..v3), g1 = reduce4(v4..v7): lane p = sum of v_p's 8 lanes. */
QL_INLINE __m256i reduce_all(__m256i g0, __m256i g1) {
    return _mm256_add_epi32(_mm256_permute2x128_si256(g0, g1, 0x20),
                            _mm256_permute2x128_si256(g0, g1, 0x31));
}

QL_INLINE int32_t hsum256(__m256i v) {
    __m128i a = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    a = _mm_add_epi32(a, _mm_shuffle_epi32(a, _MM_SHUFFLE(1, 0, 3, 2)));
    a = _mm_add_epi32(a, _mm_shuffle_epi32(a, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(a);
}

/* ---- scales without gathers ------------------------------------------------------------- */

/* Words 0 and 1 of the 4 bytes at a[l] + oa (lane l) and at b[l] + ob (lane 4 + l), as
 * floats: *w0 and *w1 where not NULL (Q4_K's d and dmin, Q4_1's d and m). Eight 4-byte
 * loads (load ports only) and 4-6 unpacks, in place of one or two 8-lane gathers. */
QL_INLINE void f16_lanes(const uint8_t *const a[4], size_t oa, const uint8_t *const b[4],
                         size_t ob, __m256 *w0, __m256 *w1) {
    __m128i v[8];
    for (int l = 0; l < 4; l++) {
        v[l] = _mm_loadu_si32(a[l] + oa);
        v[4 + l] = _mm_loadu_si32(b[l] + ob);
    }
    __m128i s[2];
    for (int h = 0; h < 2; h++) /* [lane 0..3 word 0, lane 0..3 word 1] of each half */
        s[h] = _mm_unpacklo_epi32(_mm_unpacklo_epi16(v[4 * h], v[4 * h + 1]),
                                  _mm_unpacklo_epi16(v[4 * h + 2], v[4 * h + 3]));
    if (w0) *w0 = _mm256_cvtph_ps(_mm_unpacklo_epi64(s[0], s[1]));
    if (w1) *w1 = _mm256_cvtph_ps(_mm_unpackhi_epi64(s[0], s[1]));
}

/* ---- tiles -------------------------------------------------------------------------- */

/* Lane p = r * T + t is row r, token t; rows / tokens past the valid ones repeat the last. */
typedef struct tile {
    const uint8_t *w[PAIRS];   /* weight row r */
    const uint8_t *lw[PAIRS];  /* weight row of lane p */
    const uint8_t *x[MAX_TOK]; /* activation row t */
    ql_pf_stream pf;           /* decode: rows further down (simd/pf_stream.h) */
    wlay L;                    /* block b of row r: w[r] + blk_off(&L, b) (simd/wlay.h) */
} tile;

QL_INLINE void tile_init(tile *tl, int R, int T, const void *w, const wlay *L,
                         int64_t n_rows, const void *x, size_t x_row_bytes, int64_t n_tok) {
    const size_t rs = row_step(L);
    tl->L = *L;
    for (int r = 0; r < R; r++)
        tl->w[r] = (const uint8_t *)w + (size_t)(r < n_rows ? r : n_rows - 1) * rs;
    for (int t = 0; t < T; t++)
        tl->x[t] = (const uint8_t *)x + (size_t)(t < n_tok ? t : n_tok - 1) * x_row_bytes;
    for (int p = 0; p < PAIRS; p++) tl->lw[p] = tl->w[p / T];
    tl->pf = (ql_pf_stream){NULL, 0};
}

/* Words 0 and 1 (NULL: not wanted) of the 4 bytes at `off` of each lane's weight row. */
QL_INLINE void lane_w_f16(const tile *tl, size_t off, __m256 *w0, __m256 *w1) {
    f16_lanes(tl->lw, off, tl->lw + 4, off, w0, w1);
}

/* The f16 (f16: 1) or float (0) at byte `off` of each lane's activation row. */
QL_INLINE __m256 lane_x_scale(const tile *tl, int T, size_t off, int f16) {
    float f[MAX_TOK];
    for (int t = 0; t < T; t++) {
        if (f16) {
            uint16_t h;
            memcpy(&h, tl->x[t] + off, 2);
            f[t] = _cvtsh_ss(h);
        } else {
            memcpy(&f[t], tl->x[t] + off, 4);
        }
    }
    if (T == 1) return _mm256_set1_ps(f[0]);
    return _mm256_unpacklo_ps(_mm256_set1_ps(f[0]), _mm256_set1_ps(f[1])); /* lanes t0 t1 t0 .. */
}

QL_INLINE void tile_store(__m256 acc, int R, int T, int64_t n_rows, int64_t n_tok, float *y,
                          int64_t ldy) {
    if (T == 1 && n_rows == PAIRS) {
        _mm256_storeu_ps(y, acc);
        return;
    }
    float out[PAIRS];
    _mm256_storeu_ps(out, acc);
    for (int r = 0; r < R && r < n_rows; r++)
        for (int t = 0; t < T && t < n_tok; t++) y[t * ldy + r] = out[r * T + t];
}

/* ---- Q8_0, Q4_0, Q4_1 weights x Q8_0 activations: one block of 32 per vector ----------- */

enum q32_kind { Q8_0, Q4_0, Q4_1 };

QL_INLINE size_t q32_bytes(int kind) {
    return kind == Q8_0 ? sizeof(ql_block_q8_0)
                        : kind == Q4_0 ? sizeof(ql_block_q4_0) : sizeof(ql_block_q4_1);
}

/* The 32 levels of a block in element order: Q8_0 signed, nibbles unsigned. */
QL_INLINE __m256i q32_weights(int kind, const uint8_t *blk) {
    if (kind == Q8_0) return _mm256_loadu_si256((const __m256i *)(blk + 2));
    __m128i q = _mm_loadu_si128((const __m128i *)(blk + (kind == Q4_0 ? 2 : 4)));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(15));
}

QL_INLINE __m256 q32_step(int kind, int R, int T, const tile *tl, int64_t b, __m256 acc) {
    const size_t xo = (size_t)b * Q8_0_BYTES;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i xv[MAX_TOK], corr[MAX_TOK];
    float xsum[PAIRS];
    for (int t = 0; t < T; t++) {
        xv[t] = _mm256_loadu_si256((const __m256i *)(tl->x[t] + xo + 2));
        corr[t] = _mm256_maddubs_epi16(_mm256_set1_epi8(kind == Q4_1 ? 1 : 8), xv[t]);
        if (kind == Q4_1) {
            float s = (float)hsum256(_mm256_madd_epi16(corr[t], ones));
            for (int p = t; p < PAIRS; p += T) xsum[p] = s;
        }
    }
    __m256i v[PAIRS], g[2];
    for (int r = 0; r < R; r++) {
        __m256i wv = q32_weights(kind, tl->w[r] + blk_off(&tl->L, b));
        __m256i aw = kind == Q8_0 ? _mm256_abs_epi8(wv) : wv;
        for (int t = 0; t < T; t++) {
            __m256i p16;
            if (kind == Q8_0) p16 = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(xv[t], wv));
            else p16 = _mm256_maddubs_epi16(aw, xv[t]);
            if (kind == Q4_0) p16 = _mm256_sub_epi16(p16, corr[t]); /* (q - 8) x pairs */
            v[r * T + t] = _mm256_madd_epi16(p16, ones);
        }
        if ((r + 1) * T % 4 == 0) {
            int j = (r + 1) * T / 4 - 1;
            g[j] = reduce4(v[4 * j], v[4 * j + 1], v[4 * j + 2], v[4 * j + 3]);
        }
    }
    __m256i s = reduce_all(g[0], g[1]);
    size_t wo = blk_off(&tl->L, b);
    __m256 dw, m, dx = lane_x_scale(tl, T, xo, 1);
    lane_w_f16(tl, wo, &dw, kind == Q4_1 ? &m : NULL); /* Q4_1: d, m */
    __m256 term = _mm256_mul_ps(_mm256_mul_ps(dw, dx), _mm256_cvtepi32_ps(s));
    if (kind == Q4_1) {
        term = _mm256_add_ps(term, _mm256_mul_ps(_mm256_mul_ps(m, dx), _mm256_loadu_ps(xsum)));
    }
    return _mm256_add_ps(acc, term);
}

/* ---- decode (one token), Q8_0 / Q4_0 / Q4_1: 8 rows x 4 blocks per step, no gathers ----
 *
 * Pair p (0, 1) = blocks b + 2p, b + 2p + 1. A row's pair vector holds in 128-bit half h
 * 4 partial sums of block b + 2p + h; reduce4 over rows 4j .. 4j+3 then gives lane
 * 4h + l = the exact sum of (row 4j + l, block b + 2p + h): "layout P". The weight and
 * activation scales are put in layout P (f16_lanes, a permute of dx), the terms formed there
 * in scalar's order, and a 128-bit permute per block gives one vector per block
 * (lane = row), added to the accumulator in block order. */

/* Row r's pair vector (p: the row at block b + 2p). Q8_0: x[h] = block b + 2p + h in element
 * order. Nibbles: x[0] = elements 0-15 of both blocks, x[1] = elements 16-31 (low, high
 * nibbles of the two blocks' qs, one load + one shift: no shuffle of the weights). */
QL_INLINE __m256i dec_pair(int kind, const uint8_t *p, const __m256i x[2]) {
    const __m256i ones = _mm256_set1_epi16(1);
    if (kind == Q8_0) {
        __m256i m[2];
        for (int h = 0; h < 2; h++) {
            __m256i w = _mm256_loadu_si256((const __m256i *)(p + h * Q8_0_BYTES + 2));
            m[h] = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(x[h], w)), ones);
        }
        return _mm256_add_epi32(_mm256_permute2x128_si256(m[0], m[1], 0x20),
                                _mm256_permute2x128_si256(m[0], m[1], 0x31));
    }
    const size_t bs = q32_bytes(kind), off = kind == Q4_0 ? 2 : 4;
    const __m256i m4 = _mm256_set1_epi8(15);
    /* [qs of block 2p | of 2p + 1]: broadcast (a load) + blend, off the shuffle ports */
    __m256i q = _mm256_blend_epi32(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(p + off))),
                                   _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(p + bs + off))),
                                   0xF0);
    __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
    /* int16: |pair| <= 2 * 15 * 127, two of them still exact */
    __m256i p16 = _mm256_add_epi16(_mm256_maddubs_epi16(lo, x[0]), _mm256_maddubs_epi16(hi, x[1]));
    return _mm256_madd_epi16(p16, ones);
}

/* Q4_0: d of blocks 2p, 2p + 1 of rows r[0..3] in layout P. The 32 bytes at a pair hold
 * them at word 0 and word 9 (byte 18): unpacks in both 128-bit halves, one permute. */
QL_INLINE __m256 q4_0_pair_d(const uint8_t *const r[4], size_t po) {
    __m256i v[4];
    for (int l = 0; l < 4; l++) v[l] = _mm256_loadu_si256((const __m256i *)(r[l] + po));
    /* low half words 0..3: rows' word 0; high half words 4..7: rows' word 9 */
    __m256i u = _mm256_unpacklo_epi32(_mm256_unpacklo_epi16(v[0], v[1]), _mm256_unpacklo_epi16(v[2], v[3]));
    return _mm256_cvtph_ps(_mm256_castsi256_si128(_mm256_permute4x64_epi64(u, _MM_SHUFFLE(3, 3, 3, 0))));
}

/* Each 128-bit half's 4 int32 lanes replaced by their sum. */
QL_INLINE __m256i hsum_halves(__m256i v) {
    v = _mm256_add_epi32(v, _mm256_shuffle_epi32(v, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm256_add_epi32(v, _mm256_shuffle_epi32(v, _MM_SHUFFLE(2, 3, 0, 1)));
}

QL_INLINE __m256 dec_step(int kind, const tile *tl, int64_t b, __m256 acc) {
    const size_t bs = q32_bytes(kind), off = blk_off(&tl->L, b); /* 4 blocks: one unit */
    const uint8_t *xb = tl->x[0] + (size_t)b * Q8_0_BYTES;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i xv[2][2], xs[2]; /* xs: Q4_0 8 * block sums, Q4_1 block sums, in layout P */
    for (int p = 0; p < 2; p++) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(xb + 2 * p * Q8_0_BYTES + 2));
        __m256i c = _mm256_loadu_si256((const __m256i *)(xb + (2 * p + 1) * Q8_0_BYTES + 2));
        if (kind == Q8_0) {
            xv[p][0] = a, xv[p][1] = c;
            continue;
        }
        xv[p][0] = _mm256_permute2x128_si256(a, c, 0x20);
        xv[p][1] = _mm256_permute2x128_si256(a, c, 0x31);
        __m256i e = _mm256_set1_epi8(kind == Q4_0 ? 8 : 1);
        xs[p] = hsum_halves(_mm256_madd_epi16(
            _mm256_add_epi16(_mm256_maddubs_epi16(e, xv[p][0]), _mm256_maddubs_epi16(e, xv[p][1])), ones));
    }
    const uint8_t *xr[4] = {xb, xb + Q8_0_BYTES, xb + 2 * Q8_0_BYTES, xb + 3 * Q8_0_BYTES};
    __m256 dx4;
    f16_lanes(xr, 0, xr, 0, &dx4, NULL);
    __m256 dx[2] = {_mm256_permutevar8x32_ps(dx4, _mm256_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1)),
                    _mm256_permutevar8x32_ps(dx4, _mm256_setr_epi32(2, 2, 2, 2, 3, 3, 3, 3))};
    __m256 t[2][2]; /* [pair][row group] */
    for (int j = 0; j < 2; j++) {
        const uint8_t *rw[4];
        ql_pf_step(&tl->pf, b, 4, j, 2);
        for (int l = 0; l < 4; l++) rw[l] = tl->w[4 * j + l] + off;
        for (int p = 0; p < 2; p++) {
            const size_t po = 2 * p * bs;
            __m256i v[4];
            for (int l = 0; l < 4; l++) v[l] = dec_pair(kind, rw[l] + po, xv[p]);
            __m256i g = reduce4(v[0], v[1], v[2], v[3]);
            if (kind == Q4_0) g = _mm256_sub_epi32(g, xs[p]);
            __m256 dw, m;
            if (kind == Q4_0) dw = q4_0_pair_d(rw, po);
            else f16_lanes(rw, po, rw, po + bs, &dw, kind == Q4_1 ? &m : NULL); /* Q4_1: d, m */
            __m256 term = _mm256_mul_ps(_mm256_mul_ps(dw, dx[p]), _mm256_cvtepi32_ps(g));
            if (kind == Q4_1) {
                term = _mm256_add_ps(term, _mm256_mul_ps(_mm256_mul_ps(m, dx[p]), _mm256_cvtepi32_ps(xs[p])));
            }
            t[p][j] = term;
        }
    }
    /* block b + 2p + h, lanes = rows 0..7 */
    for (int p = 0; p < 2; p++) {
        acc = _mm256_add_ps(acc, _mm256_permute2f128_ps(t[p][0], t[p][1], 0x20));
        acc = _mm256_add_ps(acc, _mm256_permute2f128_ps(t[p][0], t[p][1], 0x31));
    }
    return acc;
}

QL_INLINE void q32_tile(int kind, int R, int T, const void *w, const wlay *L,
                        int64_t n_rows, const void *x, size_t x_row_bytes, int64_t n_tok,
                        int64_t nb, float *y, int64_t ldy, int64_t pf_skip, int64_t pf_rows) {
    tile tl;
    tile_init(&tl, R, T, w, L, n_rows, x, x_row_bytes, n_tok);
    if (T == 1) tl.pf = ql_pf_rows(w, L->row_bytes, pf_skip, pf_rows, q32_bytes(kind));
    __m256 acc = _mm256_setzero_ps();
    int64_t b = 0;
    if (T == 1)
        for (; b + 4 <= nb; b += 4) acc = dec_step(kind, &tl, b, acc);
    for (; b < nb; b++) acc = q32_step(kind, R, T, &tl, b, acc);
    tile_store(acc, R, T, n_rows, n_tok, y, ldy);
}

/* ---- Q4_K, Q5_K, Q6_K weights x Q8_K activations ---------------------------------------- */

enum k_kind { Q4_K, Q5_K, Q6_K };

QL_INLINE size_t k_bytes(int kind) {
    return kind == Q4_K ? sizeof(ql_block_q4_k)
                        : kind == Q5_K ? sizeof(ql_block_q5_k) : sizeof(ql_block_q6_k);
}

typedef struct k_row {
    __m128i sc;  /* Q4_K/Q5_K: sc[0..7] as int16; Q6_K: scales[0..15] as int8 */
    __m256i mw;  /* Q4_K/Q5_K: mn[j] as int32 lanes; Q6_K: scales[j] as int16 lanes */
} k_row;

QL_INLINE k_row k_row_load(int kind, const uint8_t *blk) {
    k_row s;
    if (kind == Q6_K) {
        s.sc = _mm_loadu_si128((const __m128i *)(blk + 192));
        s.mw = _mm256_cvtepi8_epi16(s.sc);
        return s;
    }
    /* 6-bit codes, bytewise in 32-bit words (see simd/avx512_quant.c, quant/formats.h) */
    uint32_t a[3];
    memcpy(a, blk + 4, sizeof a);
    uint32_t sc_hi = (a[2] & 0x0f0f0f0fu) | ((a[0] >> 6) & 0x03030303u) << 4;
    uint32_t mn_hi = ((a[2] >> 4) & 0x0f0f0f0fu) | ((a[1] >> 6) & 0x03030303u) << 4;
    uint64_t sc = (a[0] & 0x3f3f3f3fu) | (uint64_t)sc_hi << 32;
    uint64_t mn = (a[1] & 0x3f3f3f3fu) | (uint64_t)mn_hi << 32;
    s.sc = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc));
    s.mw = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)mn));
    return s;
}

/* Levels of elements 32c .. 32c+31 of a super-block (unsigned), and their scales as int16
 * (lane i covers elements 2i, 2i+1). */
QL_INLINE __m256i k_weights(int kind, const uint8_t *blk, const k_row *s, int c, __m256i *scale) {
    const __m256i m4 = _mm256_set1_epi8(15);
    if (kind == Q6_K) {
        /* c = 4h + u: half h; u selects ql[l] / ql[l+32] low / high nibble and qh bits
         * 2u, 2u+1 (quant/formats.h) */
        int h = c >> 2, u = c & 3;
        __m256i a = _mm256_loadu_si256((const __m256i *)(blk + 64 * h + 32 * (u & 1)));
        __m256i q = _mm256_loadu_si256((const __m256i *)(blk + 128 + 32 * h));
        __m256i lv = u >= 2 ? _mm256_srli_epi16(a, 4) : a;
        int sh = 2 * u; /* bits sh, sh+1 of qh to bits 4, 5 */
        __m256i hb = sh <= 4 ? _mm256_slli_epi16(q, 4 - sh) : _mm256_srli_epi16(q, sh - 4);
        /* sub-blocks 2c (lanes 0..7), 2c + 1 (lanes 8..15) */
        __m128i pick = _mm_setr_epi8((char)(2 * c), (char)(2 * c), (char)(2 * c), (char)(2 * c),
                                     (char)(2 * c), (char)(2 * c), (char)(2 * c), (char)(2 * c),
                                     (char)(2 * c + 1), (char)(2 * c + 1), (char)(2 * c + 1),
                                     (char)(2 * c + 1), (char)(2 * c + 1), (char)(2 * c + 1),
                                     (char)(2 * c + 1), (char)(2 * c + 1));
        *scale = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(s->sc, pick));
        return _mm256_or_si256(_mm256_and_si256(lv, m4),
                               _mm256_and_si256(hb, _mm256_set1_epi8(0x30)));
    }
    /* sub-block c: qs[32 (c/2) + l], low nibble for even c, high for odd */
    size_t qs = kind == Q4_K ? 16 : 48;
    __m256i q = _mm256_loadu_si256((const __m256i *)(blk + qs + 32 * (c >> 1)));
    if (c & 1) q = _mm256_srli_epi16(q, 4);
    q = _mm256_and_si256(q, m4);
    if (kind == Q5_K) {
        __m256i qh = _mm256_loadu_si256((const __m256i *)(blk + 16));
        /* bit c of qh[l] to bit 4 */
        __m256i hb = c <= 4 ? _mm256_slli_epi16(qh, 4 - c) : _mm256_srli_epi16(qh, c - 4);
        q = _mm256_or_si256(q, _mm256_and_si256(hb, _mm256_set1_epi8(16)));
    }
    __m256i scv = _mm256_broadcastsi128_si256(s->sc);
    *scale = _mm256_shuffle_epi8(scv, _mm256_set1_epi16((short)(2 * c | (2 * c + 1) << 8)));
    return q;
}

QL_INLINE __m256 k_step(int kind, int R, int T, const tile *tl, int64_t b, __m256 acc) {
    const size_t xo = (size_t)b * Q8_K_BYTES, wo = blk_off(&tl->L, b);
    __m256i bsum[MAX_TOK];
    for (int t = 0; t < T; t++) {
        __m256i bs16 = _mm256_loadu_si256((const __m256i *)(tl->x[t] + xo + offsetof(ql_block_q8_k, bsums)));
        bsum[t] = kind == Q6_K ? bs16 : _mm256_madd_epi16(bs16, _mm256_set1_epi16(1));
    }
    __m256i vi[PAIRS], vm[PAIRS], gi[2], gm[2];
    for (int r = 0; r < R; r++) {
        const uint8_t *blk = tl->w[r] + wo;
        if (T == 1) ql_pf_step(&tl->pf, b, 1, r, R);
        k_row s = k_row_load(kind, blk);
        __m256i ai[MAX_TOK];
        for (int t = 0; t < T; t++) ai[t] = _mm256_setzero_si256();
        for (int c = 0; c < 8; c++) {
            __m256i scale, wv = k_weights(kind, blk, &s, c, &scale);
            for (int t = 0; t < T; t++) {
                __m256i xq = _mm256_loadu_si256((const __m256i *)(tl->x[t] + xo + 4 + 32 * c));
                ai[t] = _mm256_add_epi32(ai[t], _mm256_madd_epi16(_mm256_maddubs_epi16(wv, xq), scale));
            }
        }
        for (int t = 0; t < T; t++) {
            vi[r * T + t] = ai[t];
            vm[r * T + t] = _mm256_madd_epi16(s.mw, bsum[t]);
        }
        if ((r + 1) * T % 4 == 0) {
            int j = (r + 1) * T / 4 - 1;
            gi[j] = reduce4(vi[4 * j], vi[4 * j + 1], vi[4 * j + 2], vi[4 * j + 3]);
            gm[j] = reduce4(vm[4 * j], vm[4 * j + 1], vm[4 * j + 2], vm[4 * j + 3]);
        }
    }
    __m256i isum = reduce_all(gi[0], gi[1]), msum = reduce_all(gm[0], gm[1]);
    __m256 dx = lane_x_scale(tl, T, xo, 0);
    if (kind == Q6_K) {
        __m256 d; /* word 1 of bytes 206..209: d at 208, no read past the block */
        lane_w_f16(tl, wo + offsetof(ql_block_q6_k, d) - 2, NULL, &d);
        __m256i total = _mm256_sub_epi32(isum, _mm256_slli_epi32(msum, 5));
        return _mm256_add_ps(acc, _mm256_mul_ps(_mm256_mul_ps(dx, d), _mm256_cvtepi32_ps(total)));
    }
    __m256 d, dmin;
    lane_w_f16(tl, wo, &d, &dmin);
    __m256 inner = _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(isum)),
                                 _mm256_mul_ps(dmin, _mm256_cvtepi32_ps(msum)));
    return _mm256_add_ps(acc, _mm256_mul_ps(dx, inner));
}

QL_INLINE void k_tile(int kind, int R, int T, const void *w, const wlay *L, int64_t n_rows,
                      const void *x, size_t x_row_bytes, int64_t n_tok, int64_t nb, float *y,
                      int64_t ldy, int64_t pf_skip, int64_t pf_rows) {
    tile tl;
    tile_init(&tl, R, T, w, L, n_rows, x, x_row_bytes, n_tok);
    if (T == 1) tl.pf = ql_pf_rows(w, L->row_bytes, pf_skip, pf_rows, k_bytes(kind));
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) acc = k_step(kind, R, T, &tl, b, acc);
    tile_store(acc, R, T, n_rows, n_tok, y, ldy);
}

/* Grouped decode: the 16 rows of a group as two 8-row tiles advanced together, step by step,
 * so each step reads one run of 16 units (the layout's order) instead of every other half
 * run (0.34-0.39x with 8-row tiles one after the other: no prefetcher follows that).
 * kq: `kind` is a k-quant kind (k_step), else a Q8_0 / Q4_0 / Q4_1 kind (dec_step, whose 4
 * blocks are one unit). */
QL_INLINE void group16(int kind, int kq, const void *w, const wlay *L, const void *x, int64_t nb,
                       float *y) {
    tile lo, hi;
    tile_init(&lo, PAIRS, 1, w, L, PAIRS, x, 0, 1);
    tile_init(&hi, PAIRS, 1, (const uint8_t *)w + PAIRS * row_step(L), L, PAIRS, x, 0, 1);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b += kq ? 1 : 4) {
        a0 = kq ? k_step(kind, PAIRS, 1, &lo, b, a0) : dec_step(kind, &lo, b, a0);
        a1 = kq ? k_step(kind, PAIRS, 1, &hi, b, a1) : dec_step(kind, &hi, b, a1);
    }
    _mm256_storeu_ps(y, a0);
    _mm256_storeu_ps(y + PAIRS, a1);
}

/* ---- prompts (n_tok >= GEMM_MIN_TOK): 8 rows x GEMM_TOK tokens, weights repacked ----------
 *
 * simd/avx512_quant.c's q32_prompt / k_prompt at 8 lanes, without VNNI. A tile's 8 weight
 * rows are transposed, a segment of KC blocks at a time, into a stack buffer where vector g
 * of block b holds in lane r the 4 levels of row r that meet activation bytes 4g .. 4g+3.
 * Per token those 4 bytes are broadcast (a load) and `vpmaddubsw` gives, per lane, two
 * int16 pair sums of that row; `vpmaddwd` by 1 (or by the sub-block scale, packed per lane
 * as an int16 pair) folds them into int32. Each lane ends with its row's exact block sum:
 * no horizontal reductions and no gathers, and each packed vector serves every token.
 *
 * int16 headroom (|x| <= 127, the activation quantizers clamp there): a pair of 4-bit
 * levels is <= 2 * 15 * 127 = 3810, so Q4_0 / Q4_1 / Q4_K sum 8 vpmaddubsw (30480) before
 * one vpmaddwd; Q5_K levels <= 31 sum 4 (31496); Q6_K levels <= 63 sum 2 (32004). Q8_0
 * multiplies |w| by sign(x, w) (<= 2 * 128 * 127 = 32512, w = -128 included) and widens
 * every vpmaddubsw at once: no unsigned offset, whose pairs (255 * 127 * 2) would saturate.
 *
 * The float chain is scalar's per block and token, one lane per row; accumulators stay in
 * registers over a segment and are carried in y between segments (a float stored and
 * reloaded is exact). Rows past the valid ones repeat the last row and are not stored. */

/* v, computed here: an empty asm that GCC cannot move or merge into a larger expression.
 * Without it GCC 12 (temporary expression replacement at expansion) hoists all products of
 * a tile ahead of their sums and spills them: 1.45x slower. */
QL_INLINE __m256i keep(__m256i v) {
    __asm__("" : "+x"(v));
    return v;
}

/* out[g] lane r = dword g of the 16 bytes at p[r] + off. */
QL_INLINE void tr8x4(const uint8_t *const p[PAIRS], size_t off, __m256i out[4]) {
    __m256i z[4]; /* 128-bit half h of z[j]: row 4h + j */
    for (int j = 0; j < 4; j++)
        z[j] = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)(p[j] + off))),
                                       _mm_loadu_si128((const __m128i *)(p[4 + j] + off)), 1);
    __m256i a = _mm256_unpacklo_epi32(z[0], z[1]), b = _mm256_unpackhi_epi32(z[0], z[1]);
    __m256i c = _mm256_unpacklo_epi32(z[2], z[3]), d = _mm256_unpackhi_epi32(z[2], z[3]);
    out[0] = _mm256_unpacklo_epi64(a, c);
    out[1] = _mm256_unpackhi_epi64(a, c);
    out[2] = _mm256_unpacklo_epi64(b, d);
    out[3] = _mm256_unpackhi_epi64(b, d);
}

/* The 8 f16 at byte `off` of the rows, as floats (lane = row). */
QL_INLINE __m256 rows_f16(const uint8_t *const rows[PAIRS], size_t off) {
    uint16_t h[PAIRS];
    for (int r = 0; r < PAIRS; r++) memcpy(&h[r], rows[r] + off, 2);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
}

QL_INLINE __m256i bcast32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* A tile's accumulators: y rows r .. r + nr - 1 of one token (nr < 8: through a buffer, so
 * rows of other tiles or threads are never touched). */
QL_INLINE __m256 y_load(const float *y, int nr) {
    if (nr == PAIRS) return _mm256_loadu_ps(y);
    float b[PAIRS] = {0};
    memcpy(b, y, (size_t)nr * sizeof(float));
    return _mm256_loadu_ps(b);
}

QL_INLINE void y_store(float *y, int nr, __m256 v) {
    if (nr == PAIRS) {
        _mm256_storeu_ps(y, v);
        return;
    }
    float b[PAIRS];
    _mm256_storeu_ps(b, v);
    memcpy(y, b, (size_t)nr * sizeof(float));
}

/* Blocks b0 .. b0+nbs-1 of 8 rows: wb[8b + g] (see above; Q8_0: the signed levels), the row
 * scales dw[8b + r] and, for Q4_1, the mins dm[8b + r]. */
QL_INLINE void q32_pack(int kind, const uint8_t *const rows[PAIRS], const wlay *L, int64_t b0,
                        int64_t nbs, __m256i *wb, float *dw, float *dm) {
    const __m256i m4 = _mm256_set1_epi8(15);
    for (int64_t b = 0; b < nbs; b++) {
        const size_t off = blk_off(L, b0 + b);
        __m256i q[4], *w = wb + 8 * b;
        if (kind == Q8_0) {
            tr8x4(rows, off + 2, w);
            tr8x4(rows, off + 18, w + 4);
        } else { /* low nibbles: elements 0-15, high nibbles: 16-31 */
            tr8x4(rows, off + (kind == Q4_0 ? 2 : 4), q);
            for (int g = 0; g < 4; g++) {
                w[g] = _mm256_and_si256(q[g], m4);
                w[4 + g] = _mm256_and_si256(_mm256_srli_epi16(q[g], 4), m4);
            }
        }
        _mm256_storeu_ps(dw + 8 * b, rows_f16(rows, off));
        if (kind == Q4_1) _mm256_storeu_ps(dm + 8 * b, rows_f16(rows, off + 2));
    }
}

/* Per token t and block b (index t * nb + b): the activation scale dx and xs, Q4_0: -8 * the
 * block's sum (the level offset), Q4_1: the sum (times m), Q8_0: unused. */
static void q32_prep(int kind, const uint8_t *x, size_t x_row_bytes, int64_t n_tok, int64_t nb,
                     int32_t *xs, float *dx) {
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t b = 0; b < nb; b++) {
            const uint8_t *blk = x + (size_t)t * x_row_bytes + (size_t)b * Q8_0_BYTES;
            uint16_t d;
            memcpy(&d, blk, 2);
            dx[t * nb + b] = _cvtsh_ss(d);
            if (kind == Q8_0) continue;
            /* sum (x + 128) by psadbw, minus 32 * 128 */
            __m256i s = _mm256_sad_epu8(_mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(blk + 2)), flip),
                                        _mm256_setzero_si256());
            __m128i h = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            h = _mm_add_epi64(h, _mm_unpackhi_epi64(h, h));
            int32_t sum = _mm_cvtsi128_si32(h) - 32 * 128;
            xs[t * nb + b] = kind == Q4_0 ? -8 * sum : sum;
        }
}

/* T tokens (x[t]: token t's row at block b0) x 8 rows over nbs packed blocks; prep arrays
 * at (token 0, block b0), token stride pstride. */
QL_INLINE void q32_gemm(int kind, int T, const __m256i *wb, const float *dw, const float *dm,
                        int64_t nbs, const uint8_t *const x[GEMM_TOK], const int32_t *xs,
                        const float *dx, int64_t pstride, float *y, int64_t ldy, int nr, int first) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[GEMM_TOK];
    for (int t = 0; t < T; t++) acc[t] = first ? _mm256_setzero_ps() : y_load(y + t * ldy, nr);
    for (int64_t b = 0; b < nbs; b++) {
        const size_t xo = (size_t)b * Q8_0_BYTES + 2;
        __m256i s[GEMM_TOK];
        if (kind == Q8_0) {
            for (int t = 0; t < T; t++) s[t] = _mm256_setzero_si256();
            for (int g = 0; g < 8; g++) {
                const __m256i w = wb[8 * b + g], aw = _mm256_abs_epi8(w);
                for (int t = 0; t < T; t++) {
                    __m256i p = _mm256_maddubs_epi16(aw, _mm256_sign_epi8(bcast32(x[t] + xo + 4 * g), w));
                    s[t] = keep(_mm256_add_epi32(s[t], _mm256_madd_epi16(p, ones)));
                }
            }
        } else {
            for (int g = 0; g < 8; g++) {
                const __m256i w = wb[8 * b + g];
                for (int t = 0; t < T; t++) {
                    __m256i p = _mm256_maddubs_epi16(w, bcast32(x[t] + xo + 4 * g));
                    s[t] = keep(g == 0 ? p : _mm256_add_epi16(s[t], p));
                }
            }
            for (int t = 0; t < T; t++) {
                s[t] = _mm256_madd_epi16(s[t], ones);
                if (kind == Q4_0) s[t] = _mm256_add_epi32(s[t], _mm256_set1_epi32(xs[t * pstride + b]));
            }
        }
        const __m256 d = _mm256_loadu_ps(dw + 8 * b);
        for (int t = 0; t < T; t++) {
            const __m256 dxv = _mm256_set1_ps(dx[t * pstride + b]);
            __m256 term = _mm256_mul_ps(_mm256_mul_ps(d, dxv), _mm256_cvtepi32_ps(s[t]));
            if (kind == Q4_1) {
                term = _mm256_add_ps(term, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(dm + 8 * b), dxv),
                                                         _mm256_set1_ps((float)xs[t * pstride + b])));
            }
            acc[t] = _mm256_add_ps(acc[t], term);
        }
    }
    for (int t = 0; t < T; t++) y_store(y + t * ldy, nr, acc[t]);
}

QL_INLINE void q32_prompt(int kind, const void *w, const wlay *L, int64_t nb, const void *x,
                          size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,
                          int64_t r1) {
    __m256i wb[8 * GEMM_KC];
    float dw[PAIRS * GEMM_KC], dm[PAIRS * GEMM_KC];
    int32_t xs[GEMM_PREP];
    float dx[GEMM_PREP];
    const int64_t tc = GEMM_PREP / nb;
    for (int64_t t0 = 0; t0 < n_tok; t0 += tc) {
        const int64_t nt = n_tok - t0 < tc ? n_tok - t0 : tc;
        const uint8_t *xt = (const uint8_t *)x + (size_t)t0 * x_row_bytes;
        q32_prep(kind, xt, x_row_bytes, nt, nb, xs, dx);
        for (int64_t r = r0, nr; r < r1; r += nr) {
            nr = tile_rows(L, r, r1, PAIRS);
            const uint8_t *rows[PAIRS];
            for (int i = 0; i < PAIRS; i++)
                rows[i] = (const uint8_t *)w + row_off(L, r + (i < nr ? i : nr - 1));
            for (int64_t b0 = 0; b0 < nb; b0 += GEMM_KC) {
                const int64_t nbs = nb - b0 < GEMM_KC ? nb - b0 : GEMM_KC;
                q32_pack(kind, rows, L, b0, nbs, wb, dw, dm);
                for (int64_t t = 0; t < nt; t += GEMM_TOK) {
                    const uint8_t *xp[GEMM_TOK];
                    const int T = nt - t < GEMM_TOK ? (int)(nt - t) : GEMM_TOK;
                    for (int i = 0; i < T; i++) xp[i] = xt + (size_t)(t + i) * x_row_bytes + (size_t)b0 * Q8_0_BYTES;
                    const int32_t *c = xs + t * nb + b0;
                    const float *d = dx + t * nb + b0;
                    float *yt = y + (t0 + t) * ldy + r;
                    switch (T) {
#define QL_GEMM_CASE(n) case n: q32_gemm(kind, n, wb, dw, dm, nbs, xp, c, d, nb, yt, ldy, (int)nr, b0 == 0); break;
                    QL_GEMM_CASES
#undef QL_GEMM_CASE
                    }
                }
            }
        }
    }
}

/* ---- prompts, k-quants: as q32_prompt, super-blocks of 256 ----------------------------
 *
 * Packed per super-block: 64 level vectors (sub-block of 32 j, dword g: w[8j + g]), the
 * sub-block scales as int16 pairs (s, s) that vpmaddwd multiplies with the int16 level sums
 * (Q4_K/Q5_K: sc[j], 8; Q6_K: scales[j], 16), and int16 pairs that vpmaddwd multiplies with
 * the activation's bsums pairs (bsums[2i], bsums[2i+1]): Q4_K/Q5_K (mn[i], mn[i]) for
 * msum = sum_j mn[j] * (bsums[2j] + bsums[2j+1]); Q6_K (-32 scales[2i], -32 scales[2i+1])
 * for the -32 offset of the levels. isum and msum equal scalar's integers (exact int32). */

/* vpshufb controls, per 32-bit lane: int16 0 <- byte a of the lane, int16 1 <- byte b, into
 * the low byte (zero-extended: k_pick_lo[b], a = b) or the high byte (k_pick_hi[b] with a =
 * b, k_pick_hi[4 + i] with a = 2i, b = 2i + 1). */
#define QL_PICK(a0, a1, b0, b1)                                                            \
    {a0, a1, b0, b1, a0 + 4, a1 + 4, b0 + 4, b1 + 4, a0 + 8, a1 + 8, b0 + 8, b1 + 8,        \
     a0 + 12, a1 + 12, b0 + 12, b1 + 12, a0, a1, b0, b1, a0 + 4, a1 + 4, b0 + 4, b1 + 4,   \
     a0 + 8, a1 + 8, b0 + 8, b1 + 8, a0 + 12, a1 + 12, b0 + 12, b1 + 12}
/* -128 + 4 * l (l < 4) keeps bit 7 set: vpshufb writes zero */
static const int8_t k_pick_lo[4][32] = {QL_PICK(0, -128, 0, -128), QL_PICK(1, -128, 1, -128),
                                        QL_PICK(2, -128, 2, -128), QL_PICK(3, -128, 3, -128)};
static const int8_t k_pick_hi[6][32] = {QL_PICK(-128, 0, -128, 0), QL_PICK(-128, 1, -128, 1),
                                        QL_PICK(-128, 2, -128, 2), QL_PICK(-128, 3, -128, 3),
                                        QL_PICK(-128, 0, -128, 1), QL_PICK(-128, 2, -128, 3)};
#undef QL_PICK

QL_INLINE __m256i pick(const int8_t c[32]) { return _mm256_loadu_si256((const __m256i *)c); }

typedef struct k_pack {
    __m256i w[64];   /* levels */
    __m256i sc[16];  /* int16 pairs (s, s): 8 (Q4_K/Q5_K) or 16 (Q6_K) */
    __m256i bias[8]; /* int16 pairs (see above) */
    __m256 d, dmin;  /* row scales as floats (dmin: Q4_K/Q5_K) */
} k_pack;

QL_INLINE void k_pack_block(int kind, const uint8_t *const rows[PAIRS], size_t off, k_pack *kp) {
    const __m256i m4 = _mm256_set1_epi8(15);
    if (kind == Q6_K) {
        const __m256i m30 = _mm256_set1_epi8(0x30);
        for (int h = 0; h < 2; h++) {
            __m256i l0[8], l1[8], hb[8];
            tr8x4(rows, off + 64 * h, l0);
            tr8x4(rows, off + 64 * h + 16, l0 + 4);
            tr8x4(rows, off + 64 * h + 32, l1);
            tr8x4(rows, off + 64 * h + 48, l1 + 4);
            tr8x4(rows, off + 128 + 32 * h, hb);
            tr8x4(rows, off + 128 + 32 * h + 16, hb + 4);
            for (int g = 0; g < 8; g++) { /* sub-blocks 4h .. 4h+3 (quant/formats.h) */
                __m256i *w = kp->w + 8 * 4 * h + g;
                w[0] = _mm256_or_si256(_mm256_and_si256(l0[g], m4), _mm256_and_si256(_mm256_slli_epi16(hb[g], 4), m30));
                w[8] = _mm256_or_si256(_mm256_and_si256(l1[g], m4), _mm256_and_si256(_mm256_slli_epi16(hb[g], 2), m30));
                w[16] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0[g], 4), m4), _mm256_and_si256(hb[g], m30));
                w[24] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1[g], 4), m4),
                                        _mm256_and_si256(_mm256_srli_epi16(hb[g], 2), m30));
            }
        }
        /* scales[j] in byte j % 4 of v[j / 4], lane = row; picked into the high byte of an
         * int16, an arithmetic shift gives it sign-extended (>> 8) or times 32 (>> 3) */
        __m256i v[4];
        tr8x4(rows, off + offsetof(ql_block_q6_k, scales), v);
        for (int j = 0; j < 16; j++)
            kp->sc[j] = _mm256_srai_epi16(_mm256_shuffle_epi8(v[j / 4], pick(k_pick_hi[j % 4])), 8);
        for (int i = 0; i < 8; i++) /* (-32 scales[2i], -32 scales[2i + 1]) */
            kp->bias[i] = _mm256_sub_epi16(_mm256_setzero_si256(),
                                           _mm256_srai_epi16(_mm256_shuffle_epi8(v[i / 2], pick(k_pick_hi[4 + i % 2])), 3));
        kp->d = rows_f16(rows, off + offsetof(ql_block_q6_k, d));
        return;
    }
    const size_t qs = kind == Q4_K ? 16 : 48;
    __m256i hb[8];
    if (kind == Q5_K) {
        tr8x4(rows, off + 16, hb);
        tr8x4(rows, off + 32, hb + 4);
    }
    for (int c = 0; c < 4; c++) {
        __m256i q[8];
        tr8x4(rows, off + qs + 32 * c, q);
        tr8x4(rows, off + qs + 32 * c + 16, q + 4);
        for (int g = 0; g < 8; g++) {
            __m256i lo = _mm256_and_si256(q[g], m4), hi = _mm256_and_si256(_mm256_srli_epi16(q[g], 4), m4);
            if (kind == Q5_K) { /* bit 4 of sub-block j's level: bit j of qh */
                const __m256i b4 = _mm256_set1_epi8(0x10);
                int j = 2 * c;
                __m256i h0 = j <= 4 ? _mm256_slli_epi16(hb[g], 4 - j) : _mm256_srli_epi16(hb[g], j - 4);
                __m256i h1 = j + 1 <= 4 ? _mm256_slli_epi16(hb[g], 3 - j) : _mm256_srli_epi16(hb[g], j - 3);
                lo = _mm256_or_si256(lo, _mm256_and_si256(h0, b4));
                hi = _mm256_or_si256(hi, _mm256_and_si256(h1, b4));
            }
            kp->w[8 * (2 * c) + g] = lo;
            kp->w[8 * (2 * c + 1) + g] = hi;
        }
    }
    /* the 12 scale bytes as 3 words p0, p1, p2 (lane = row), 6-bit codes decoded bytewise
     * (k_row_load): sc[0..3], sc[4..7], mn[0..3], mn[4..7] in byte j % 4 of v[0..3] */
    __m256i p[4];
    tr8x4(rows, off + 4, p);
    const __m256i m6 = _mm256_set1_epi8(0x3f), lo4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3);
    const __m256i v[4] = {
        _mm256_and_si256(p[0], m6),
        _mm256_or_si256(_mm256_and_si256(p[2], lo4), _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(p[0], 6), m2), 4)),
        _mm256_and_si256(p[1], m6),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(p[2], 4), lo4),
                        _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(p[1], 6), m2), 4)),
    };
    for (int j = 0; j < 8; j++) { /* byte j % 4 of each lane, zero-extended, in both int16 */
        kp->sc[j] = _mm256_shuffle_epi8(v[j / 4], pick(k_pick_lo[j % 4]));
        kp->bias[j] = _mm256_shuffle_epi8(v[2 + j / 4], pick(k_pick_lo[j % 4]));
    }
    kp->d = rows_f16(rows, off);
    kp->dmin = rows_f16(rows, off + 2);
}

/* T tokens (x[t]: token t's row at super-block b0) x 8 rows over nbs packed super-blocks. */
QL_INLINE void k_gemm(int kind, int T, const k_pack *kp, int64_t nbs,
                      const uint8_t *const x[GEMM_TOK], float *y, int64_t ldy, int nr, int first) {
    __m256 acc[GEMM_TOK];
    for (int t = 0; t < T; t++) acc[t] = first ? _mm256_setzero_ps() : y_load(y + t * ldy, nr);
    /* vpmaddubsw results summed in int16 before each vpmaddwd (the header's headroom) */
    const int run = kind == Q4_K ? 8 : kind == Q5_K ? 4 : 2;
    for (int64_t b = 0; b < nbs; b++, kp++) {
        const size_t xo = (size_t)b * Q8_K_BYTES;
        __m256i is[GEMM_TOK], s[GEMM_TOK];
        for (int t = 0; t < T; t++) is[t] = _mm256_setzero_si256();
        for (int j = 0; j < 8; j++)
            for (int g0 = 0; g0 < 8; g0 += run) {
                for (int g = g0; g < g0 + run; g++) {
                    const __m256i w = kp->w[8 * j + g];
                    for (int t = 0; t < T; t++) {
                        __m256i p = _mm256_maddubs_epi16(w, bcast32(x[t] + xo + 4 + 32 * j + 4 * g));
                        s[t] = keep(g == g0 ? p : _mm256_add_epi16(s[t], p));
                    }
                }
                const __m256i sc = kp->sc[kind == Q6_K ? 2 * j + g0 / 4 : j];
                for (int t = 0; t < T; t++) is[t] = keep(_mm256_add_epi32(is[t], _mm256_madd_epi16(s[t], sc)));
            }
        /* Q6_K: the -32 offset joins isum; Q4_K/Q5_K: msum apart */
        for (int t = 0; t < T; t++) s[t] = kind == Q6_K ? is[t] : _mm256_setzero_si256();
        for (int i = 0; i < 8; i++) {
            const __m256i bw = kp->bias[i];
            for (int t = 0; t < T; t++)
                s[t] = keep(_mm256_add_epi32(s[t], _mm256_madd_epi16(bw, bcast32(x[t] + xo + offsetof(ql_block_q8_k, bsums) + 4 * i))));
        }
        for (int t = 0; t < T; t++) {
            float dxs;
            memcpy(&dxs, x[t] + xo, 4);
            const __m256 dx = _mm256_set1_ps(dxs);
            __m256 term;
            if (kind == Q6_K)
                term = _mm256_mul_ps(_mm256_mul_ps(dx, kp->d), _mm256_cvtepi32_ps(s[t]));
            else
                term = _mm256_mul_ps(dx, _mm256_sub_ps(_mm256_mul_ps(kp->d, _mm256_cvtepi32_ps(is[t])),
                                                       _mm256_mul_ps(kp->dmin, _mm256_cvtepi32_ps(s[t]))));
            acc[t] = _mm256_add_ps(acc[t], term);
        }
    }
    for (int t = 0; t < T; t++) y_store(y + t * ldy, nr, acc[t]);
}

QL_INLINE void k_prompt(int kind, const void *w, const wlay *L, int64_t nb, const void *x,
                        size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,
                        int64_t r1) {
    k_pack kp[GEMM_KC_K];
    for (int64_t r = r0, nr; r < r1; r += nr) {
        nr = tile_rows(L, r, r1, PAIRS);
        const uint8_t *rows[PAIRS];
        for (int i = 0; i < PAIRS; i++)
            rows[i] = (const uint8_t *)w + row_off(L, r + (i < nr ? i : nr - 1));
        for (int64_t b0 = 0; b0 < nb; b0 += GEMM_KC_K) {
            const int64_t nbs = nb - b0 < GEMM_KC_K ? nb - b0 : GEMM_KC_K;
            for (int64_t b = 0; b < nbs; b++) k_pack_block(kind, rows, blk_off(L, b0 + b), &kp[b]);
            for (int64_t t = 0; t < n_tok; t += GEMM_TOK) {
                const uint8_t *xp[GEMM_TOK];
                const int T = n_tok - t < GEMM_TOK ? (int)(n_tok - t) : GEMM_TOK;
                for (int i = 0; i < T; i++)
                    xp[i] = (const uint8_t *)x + (size_t)(t + i) * x_row_bytes + (size_t)b0 * Q8_K_BYTES;
                float *yt = y + t * ldy + r;
                switch (T) {
#define QL_GEMM_CASE(n) case n: k_gemm(kind, n, kp, nbs, xp, yt, ldy, (int)nr, b0 == 0); break;
                QL_GEMM_CASES
#undef QL_GEMM_CASE
                }
            }
        }
    }
}

/* ---- matmul entries ------------------------------------------------------------------------ */

typedef void (*tile_fn)(const void *w, const wlay *L, int64_t n_rows, const void *x,
                        size_t x_row_bytes, int64_t n_tok, int64_t nb, float *y, int64_t ldy,
                        int64_t pf_skip, int64_t pf_rows);

typedef void (*prompt_fn)(const void *w, const wlay *L, int64_t nb, const void *x,
                          size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,
                          int64_t r1);

typedef void (*group_fn)(const void *w, const wlay *L, const void *x, int64_t nb, float *y);

typedef struct tiles {
    uint32_t type;
    int block;
    tile_fn t8x1, t4x2; /* rows x tokens */
    group_fn group;     /* grouped decode: one whole 16-row group */
    prompt_fn prompt;   /* n_tok >= GEMM_MIN_TOK */
} tiles;

/* Decode: 8 rows per tile (grouped: whole 16-row groups, group16). Two tokens:
 * 4 rows outer, the token pair inner. Prompts: the packed 8-row tiles (q32_prompt,
 * k_prompt). */
static void run_tiles(const tiles *ts, int grouped, const void *w, size_t row_bytes, int64_t k,
                      const void *x, size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy,
                      int64_t r0, int64_t r1) {
    const wlay L = wlay_of(ts->type, row_bytes, grouped);
    int64_t nb = k / ts->block;
    const char *wc = w, *xc = x;
    if (n_tok >= GEMM_MIN_TOK && nb <= GEMM_PREP) {
        ts->prompt(w, &L, nb, x, x_row_bytes, n_tok, y, ldy, r0, r1);
        return;
    }
    if (n_tok == 1) {
        int64_t lead = ql_pf_lead(8 * (int64_t)row_bytes, PF_LEAD_TILES);
        for (int64_t r = r0, n; r < r1; r += n) {
            int64_t skip, rows;
            if (grouped && (r & 15) == 0 && r1 - r >= 16) {
                ts->group(wc + row_off(&L, r), &L, x, nb, y + r);
                n = 16;
                continue;
            }
            n = tile_rows(&L, r, r1, 8);
            /* grouped weights: the hardware prefetchers follow one stream, no software one */
            if (grouped) skip = rows = 0;
            else ql_pf_plan(r, r0, r1, 8, lead, &skip, &rows);
            ts->t8x1(wc + row_off(&L, r), &L, n, x, x_row_bytes, 1, nb, y + r, ldy, skip, rows);
        }
        return;
    }
    for (int64_t r = r0, n; r < r1; r += n) {
        n = tile_rows(&L, r, r1, 4);
        for (int64_t t = 0; t < n_tok; t += 2)
            ts->t4x2(wc + row_off(&L, r), &L, n, xc + (size_t)t * x_row_bytes, x_row_bytes,
                     n_tok - t < 2 ? n_tok - t : 2, nb, y + t * ldy + r, ldy, 0, 0);
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
#define QL_MATMUL(fmt, impl, kq, prompt, kind, type, block)                                \
    QL_TILE(fmt##_8x1, impl, kind, 8, 1)                                                   \
    QL_TILE(fmt##_4x2, impl, kind, 4, 2)                                                   \
    QL_PROMPT(fmt##_prompt, prompt, kind)                                                  \
    static void fmt##_group(const void *w, const wlay *L, const void *x, int64_t nb, float *y) { \
        group16(kind, kq, w, L, x, nb, y);                                                 \
    }                                                                                      \
    static const tiles fmt##_tiles = {type, block, fmt##_8x1, fmt##_4x2, fmt##_group,      \
                                      fmt##_prompt};                                       \
    QL_MATMUL_ENTRIES(fmt)

QL_MATMUL(q8_0, q32_tile, 0, q32_prompt, Q8_0, QL_TYPE_Q8_0, QL_QK)
QL_MATMUL(q4_0, q32_tile, 0, q32_prompt, Q4_0, QL_TYPE_Q4_0, QL_QK)
QL_MATMUL(q4_1, q32_tile, 0, q32_prompt, Q4_1, QL_TYPE_Q4_1, QL_QK)
QL_MATMUL(q4_k, k_tile, 1, k_prompt, Q4_K, QL_TYPE_Q4_K, QL_QK_K)
QL_MATMUL(q5_k, k_tile, 1, k_prompt, Q5_K, QL_TYPE_Q5_K, QL_QK_K)
QL_MATMUL(q6_k, k_tile, 1, k_prompt, Q6_K, QL_TYPE_Q6_K, QL_QK_K)

/* ---- activation quantizers: the bytes of quant/q8_0.c and quant/k_quants.c ------------- */

QL_INLINE float hmax_abs(const __m256 *v, int n) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_andnot_ps(sign, v[0]);
    for (int i = 1; i < n; i++) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[i]));
    __m128 a = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    a = _mm_max_ps(a, _mm_movehl_ps(a, a));
    a = _mm_max_ss(a, _mm_movehdup_ps(a));
    return _mm_cvtss_f32(a);
}

/* round-to-nearest-even of clamp(v * id, -127, 127), as ql_quant_round */
QL_INLINE __m256i levels8(__m256 v, float id) {
    __m256 s = _mm256_mul_ps(v, _mm256_set1_ps(id));
    s = _mm256_min_ps(_mm256_max_ps(s, _mm256_set1_ps(-127.0f)), _mm256_set1_ps(127.0f));
    return _mm256_cvtps_epi32(s);
}

/* 32 int32 levels (in range) to 32 bytes in order. */
QL_INLINE void store_levels32(int8_t *dst, const __m256i q[4]) {
    __m256i b = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    b = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    _mm256_storeu_si256((__m256i *)dst, b);
}

static void quantize_row_q8_0(const float *x, void *dst, int64_t n) {
    ql_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QL_QK; i++, x += QL_QK) {
        __m256 v[4];
        for (int j = 0; j < 4; j++) v[j] = _mm256_loadu_ps(x + 8 * j);
        uint16_t d = ql_f16_round_up(hmax_abs(v, 4) / 127.0f);
        float id = ql_quant_inv(ql_f16_to_f32(d));
        b[i].d = d;
        __m256i q[4];
        for (int j = 0; j < 4; j++) q[j] = levels8(v[j], id);
        store_levels32(b[i].qs, q);
    }
}

static void quantize_row_q8_k(const float *x, void *dst, int64_t n) {
    ql_block_q8_k *b = dst;
    for (int64_t i = 0; i < n / QL_QK_K; i++, x += QL_QK_K) {
        __m256 v[32];
        for (int j = 0; j < 32; j++) v[j] = _mm256_loadu_ps(x + 8 * j);
        float amax = hmax_abs(v, 32);
        float d = amax / 127.0f;
        if (!isfinite(d * 127.0f)) d = nextafterf(d, 0.0f); /* amax near FLT_MAX */
        float id = ql_quant_inv(d);
        if (id == 0.0f) d = 0.0f; /* scale underflowed: the block is zeros */
        b[i].d = d;
        for (int g = 0; g < 8; g++) { /* 32 elements: bsums 2g, 2g+1 */
            __m256i q[4];
            for (int j = 0; j < 4; j++) q[j] = levels8(v[4 * g + j], id);
            store_levels32(b[i].qs + 32 * g, q);
            b[i].bsums[2 * g] = (int16_t)hsum256(_mm256_add_epi32(q[0], q[1]));
            b[i].bsums[2 * g + 1] = (int16_t)hsum256(_mm256_add_epi32(q[2], q[3]));
        }
    }
}

void ql_kernels_init_avx2_quant(ql_kernel_table *t) {
    t->from_float[QL_TYPE_Q8_0] = quantize_row_q8_0;
    t->from_float[QL_TYPE_Q8_K] = quantize_row_q8_k;
    QL_SET_QUANT_MATMULS(t);
}
