/*
 * simd/avx512.c: AVX-512 (F/BW/DQ/VL) versions of the float kernels.
 *
 * Built with its own -mavx512* flags; ql_kernels_init_avx512 runs only on a CPU that has
 * them (simd/dispatch.c). Quantized types are in avx512_quant.c.
 *
 * Matmul (F32, F16, BF16 weights x F32 activations). Every output element y[t, r] is one
 * 16-lane accumulator, acc = fma(w[r, i:i+16], x[t, i:i+16], acc) for i = 0, 16, ...
 * (the last chunk masked, zeros in the unused lanes), then the fixed lane reduction of
 * hsum(). That sequence depends on k only, so every tile shape below gives the same bits:
 * results do not depend on the row split between threads nor on how tokens are batched
 * (kernels.h). Tiles share loaded vectors: a prompt tile of 4 rows x 4 tokens loads 8
 * vectors for 16 FMAs; a decode tile of 8 rows x 1 token keeps 8 independent FMA chains
 * in flight while streaming 8 weight rows (bench/bench_kernels.cpp on the reference VM:
 * 4x6, 6x4, 8x3 prompt tiles were no faster; 4 or 16 decode rows were slower). F16 (vcvtph2ps) and BF16 (<< 16) convert
 * exactly, so products equal the scalar ones; only the summation order differs.
 *
 * Elementwise kernels (axpy, add, rope, the final scaling of rmsnorm) use the scalar
 * file's operations without FMA contraction (switched off below) and so match it bit for
 * bit; dot, rmsnorm's sum of squares and softmax's sum differ in summation order; exp is
 * SLEEF's 1-ulp Sleef_expf16_u10avx512f instead of libm's expf.
 */
#include <immintrin.h>
#include <math.h>
#include <sleef.h>

#include "dispatch.h"
#include "kernels.h"
#include "quant_isa.h"

#include "isa.h"

enum {
    W = 16,       /* floats per vector */
    PP_ROWS = 4,  /* prompt tile: weight rows ... */
    PP_TOKS = 4,  /* ... x tokens */
    TG_ROWS = 8,  /* decode tile (n_tok = 1): weight rows */
};

/* Lanes [0, n) of a vector, n < 16. */
QL_INLINE __mmask16 lanes(int64_t n) { return (__mmask16)((1u << n) - 1u); }

/* Fixed-order sum of the 16 lanes: halves folded 16 -> 8 -> 4 -> 2 -> 1. */
QL_INLINE float hsum(__m512 v) {
    __m256 a = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
}

/* 16 weights of a row of `type` from element i, as floats (exact conversion). */
QL_INLINE __m512 load_w(const void *row, int64_t i, uint32_t type) {
    const uint16_t *h = (const uint16_t *)row + i;
    switch (type) {
    case QL_TYPE_F16:
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)h));
    case QL_TYPE_BF16:
        return _mm512_castsi512_ps(
            _mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)h)), 16));
    default:
        return _mm512_loadu_ps((const float *)row + i);
    }
}

/* The same for the lanes of m only; other lanes are zero and read nothing. */
QL_INLINE __m512 load_w_mask(const void *row, int64_t i, __mmask16 m, uint32_t type) {
    const uint16_t *h = (const uint16_t *)row + i;
    switch (type) {
    case QL_TYPE_F16:
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, h));
    case QL_TYPE_BF16:
        return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, h)), 16));
    default:
        return _mm512_maskz_loadu_ps(m, (const float *)row + i);
    }
}

/* y[t0 + j, r0 + i] for i < R, j < T (R, T constants after inlining). */
QL_INLINE void tile(const char *w, size_t row_bytes, int64_t k, const char *x,
                    size_t x_row_bytes, float *y, int64_t ldy, int64_t r0, int64_t t0, int R,
                    int T, uint32_t type) {
    const void *wr[TG_ROWS];
    const float *xt[PP_TOKS];
    __m512 acc[TG_ROWS][PP_TOKS];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) wr[i] = w + (size_t)(r0 + i) * row_bytes;
#pragma GCC unroll 8
    for (int j = 0; j < T; j++) xt[j] = (const float *)(x + (size_t)(t0 + j) * x_row_bytes);
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int j = 0; j < T; j++) acc[i][j] = _mm512_setzero_ps();
    int64_t p = 0;
    for (; p + W <= k; p += W) {
        __m512 xv[PP_TOKS];
#pragma GCC unroll 8
        for (int j = 0; j < T; j++) xv[j] = _mm512_loadu_ps(xt[j] + p);
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            __m512 wv = load_w(wr[i], p, type);
#pragma GCC unroll 8
            for (int j = 0; j < T; j++) acc[i][j] = _mm512_fmadd_ps(wv, xv[j], acc[i][j]);
        }
    }
    if (p < k) {
        __mmask16 m = lanes(k - p);
        __m512 xv[PP_TOKS];
#pragma GCC unroll 8
        for (int j = 0; j < T; j++) xv[j] = _mm512_maskz_loadu_ps(m, xt[j] + p);
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            __m512 wv = load_w_mask(wr[i], p, m, type);
#pragma GCC unroll 8
            for (int j = 0; j < T; j++) acc[i][j] = _mm512_fmadd_ps(wv, xv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int j = 0; j < T; j++) y[(t0 + j) * ldy + r0 + i] = hsum(acc[i][j]);
}

#include "tile_walk.h" /* rows_all_tokens, matmul_tiled, matmul_f32/f16/bf16 */

/* Four accumulators over 64-float steps, then 16-float steps, then a masked tail; dot()
 * sums the lanes of the result with hsum(). */
QL_INLINE __m512 dot_lanes(const float *a, const float *b, int64_t n) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + W), _mm512_loadu_ps(b + i + W), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 2 * W), _mm512_loadu_ps(b + i + 2 * W), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 3 * W), _mm512_loadu_ps(b + i + 3 * W), s3);
    }
    for (; i + W <= n; i += W) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = lanes(n - i);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3));
}

static float dot(const float *a, const float *b, int64_t n) { return hsum(dot_lanes(a, b, n)); }

/* hsum of 16 vectors at once, lane p = hsum(v[p]): hsum's tree (lanes l + l+8, then + l+4,
 * + l+2, + l+1), each level done for several vectors by one add of two shuffles, so the
 * sums are hsum's bits (float addition commutes). 30 shuffles and 15 adds for 16 sums
 * instead of 16 x (4 shuffles + 4 adds). */
QL_INLINE __m512 hsum16(const __m512 v[W]) {
    __m512 r[8], s[4], t[2];
#pragma GCC unroll 8
    for (int j = 0; j < 8; j++) /* chunks [v2j lanes 0-3, 4-7, v2j+1 lanes 0-3, 4-7] */
        r[j] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * j], v[2 * j + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_f32x4(v[2 * j], v[2 * j + 1], _MM_SHUFFLE(3, 2, 3, 2)));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) /* chunk c: vector 4i + c */
        s[i] = _mm512_add_ps(_mm512_shuffle_f32x4(r[2 * i], r[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(r[2 * i], r[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++) /* chunk c: [2 of vector 8i + c, 2 of vector 8i + 4 + c] */
        t[i] = _mm512_add_ps(_mm512_shuffle_ps(s[2 * i], s[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(s[2 * i], s[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    /* lane 4c + m: vector 4m + c */
    __m512 u = _mm512_add_ps(_mm512_shuffle_ps(t[0], t[1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_ps(t[0], t[1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15), u);
}

/* dot_lanes(q, b, 64) with q's four vectors in registers. */
QL_INLINE __m512 dot64_lanes(const __m512 q[4], const float *b) {
    const __m512 z = _mm512_setzero_ps();
    __m512 s0 = _mm512_fmadd_ps(q[0], _mm512_loadu_ps(b), z), s1 = _mm512_fmadd_ps(q[1], _mm512_loadu_ps(b + W), z);
    __m512 s2 = _mm512_fmadd_ps(q[2], _mm512_loadu_ps(b + 2 * W), z), s3 = _mm512_fmadd_ps(q[3], _mm512_loadu_ps(b + 3 * W), z);
    return _mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3));
}

/* 16 keys per step: dot()'s lanes for each, then one hsum16. The step's key rows stay in
 * L1 while every query of the call passes, so the heads of a GQA group read them from L2
 * once. Head size 64 (most small models) keeps the query in registers. */
static void dot_rows(float *out, int64_t ldo, const float *q, int64_t ldq, int64_t nq,
                     const float *k, int64_t ldk, int64_t n_rows, int64_t n, float scale) {
    const __m512 sc = _mm512_set1_ps(scale);
    for (int64_t p = 0; p < n_rows; p += W) {
        const int m = n_rows - p < W ? (int)(n_rows - p) : W;
        const float *kp = k + p * ldk;
        for (int64_t j = 0; j < nq; j++) {
            const float *qj = q + j * ldq;
            __m512 v[W];
            if (n == 64) {
                const __m512 qv[4] = {_mm512_loadu_ps(qj), _mm512_loadu_ps(qj + W), _mm512_loadu_ps(qj + 2 * W),
                                      _mm512_loadu_ps(qj + 3 * W)};
                for (int i = 0; i < m; i++) v[i] = dot64_lanes(qv, kp + i * ldk);
            } else {
                for (int i = 0; i < m; i++) v[i] = dot_lanes(qj, kp + i * ldk, n);
            }
            for (int i = m; i < W; i++) v[i] = v[0]; /* lanes not stored */
            _mm512_mask_storeu_ps(out + j * ldo + p, (__mmask16)((1u << m) - 1u), _mm512_mul_ps(hsum16(v), sc));
        }
    }
}

/* y += a * x as a rounded product then a rounded sum, like scalar.c (no FMA). */
static void axpy(float *y, float a, const float *x, int64_t n) {
    __m512 av = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + W <= n; i += W)
        _mm512_storeu_ps(y + i, _mm512_add_ps(_mm512_loadu_ps(y + i), _mm512_mul_ps(av, _mm512_loadu_ps(x + i))));
    if (i < n) {
        __mmask16 m = lanes(n - i);
        __m512 v = _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), _mm512_mul_ps(av, _mm512_maskz_loadu_ps(m, x + i)));
        _mm512_mask_storeu_ps(y + i, m, v);
    }
}

/* axpy_rows for J queries (J <= 4) and C vectors of floats from y, x (C <= 4; lanes m of
 * the last): the J x C accumulators stay in registers over all rows, and each value row's
 * vectors are loaded once for the J queries. Per element: axpy's rounded product and
 * rounded sum, rows in order. */
QL_INLINE void axpy_strip(int J, int C, float *y, int64_t ldy, const float *a, int64_t lda,
                          const float *x, int64_t ldx, int64_t n_rows, __mmask16 m) {
    __m512 acc[4][4];
    for (int j = 0; j < J; j++)
        for (int c = 0; c < C; c++) acc[j][c] = _mm512_maskz_loadu_ps(c == C - 1 ? m : 0xffff, y + j * ldy + c * W);
    for (int64_t p = 0; p < n_rows; p++) {
        __m512 xv[4];
        for (int c = 0; c < C; c++) xv[c] = _mm512_maskz_loadu_ps(c == C - 1 ? m : 0xffff, x + p * ldx + c * W);
        for (int j = 0; j < J; j++) {
            const __m512 av = _mm512_set1_ps(a[j * lda + p]);
            for (int c = 0; c < C; c++) acc[j][c] = _mm512_add_ps(acc[j][c], _mm512_mul_ps(av, xv[c]));
        }
    }
    for (int j = 0; j < J; j++)
        for (int c = 0; c < C; c++) _mm512_mask_storeu_ps(y + j * ldy + c * W, c == C - 1 ? m : 0xffff, acc[j][c]);
}

static void axpy_rows(float *y, int64_t ldy, const float *a, int64_t lda, int64_t nq,
                      const float *x, int64_t ldx, int64_t n_rows, int64_t n) {
    for (int64_t i = 0; i < n; i += 4 * W) {
        const int64_t left = n - i;
        for (int64_t j = 0; j < nq; j += 4) {
            float *yj = y + j * ldy + i;
            const float *aj = a + j * lda, *xi = x + i;
            const int J = nq - j < 4 ? (int)(nq - j) : 4;
            if (left >= 4 * W) {
                switch (J) {
                case 1: axpy_strip(1, 4, yj, ldy, aj, lda, xi, ldx, n_rows, 0xffff); break;
                case 2: axpy_strip(2, 4, yj, ldy, aj, lda, xi, ldx, n_rows, 0xffff); break;
                case 3: axpy_strip(3, 4, yj, ldy, aj, lda, xi, ldx, n_rows, 0xffff); break;
                default: axpy_strip(4, 4, yj, ldy, aj, lda, xi, ldx, n_rows, 0xffff); break;
                }
                continue;
            }
            /* the last < 64 floats: one vector at a time, the last one masked */
            for (int64_t c = 0; c < left; c += W) {
                const __mmask16 m = left - c < W ? lanes(left - c) : (__mmask16)0xffff;
                switch (J) {
                case 1: axpy_strip(1, 1, yj + c, ldy, aj, lda, xi + c, ldx, n_rows, m); break;
                case 2: axpy_strip(2, 1, yj + c, ldy, aj, lda, xi + c, ldx, n_rows, m); break;
                case 3: axpy_strip(3, 1, yj + c, ldy, aj, lda, xi + c, ldx, n_rows, m); break;
                default: axpy_strip(4, 1, yj + c, ldy, aj, lda, xi + c, ldx, n_rows, m); break;
                }
            }
        }
    }
}

static void add(float *y, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + W <= n; i += W)
        _mm512_storeu_ps(y + i, _mm512_add_ps(_mm512_loadu_ps(y + i), _mm512_loadu_ps(x + i)));
    if (i < n) {
        __mmask16 m = lanes(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), _mm512_maskz_loadu_ps(m, x + i)));
    }
}

static void rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        __m512 a = _mm512_loadu_ps(x + i), b = _mm512_loadu_ps(x + i + W);
        s0 = _mm512_fmadd_ps(a, a, s0);
        s1 = _mm512_fmadd_ps(b, b, s1);
    }
    for (; i + W <= n; i += W) {
        __m512 a = _mm512_loadu_ps(x + i);
        s0 = _mm512_fmadd_ps(a, a, s0);
    }
    if (i < n) {
        __m512 a = _mm512_maskz_loadu_ps(lanes(n - i), x + i);
        s1 = _mm512_fmadd_ps(a, a, s1);
    }
    float ss = hsum(_mm512_add_ps(s0, s1));
    __m512 scale = _mm512_set1_ps(1.0f / sqrtf(ss / (float)n + eps));
    for (i = 0; i + W <= n; i += W) {
        __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), scale), _mm512_loadu_ps(w + i));
        _mm512_storeu_ps(out + i, v);
    }
    if (i < n) {
        __mmask16 m = lanes(n - i);
        __m512 v = _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), scale),
                                 _mm512_maskz_loadu_ps(m, w + i));
        _mm512_mask_storeu_ps(out + i, m, v);
    }
}

static void softmax(float *x, int64_t n) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + W <= n; i += W) mx = _mm512_max_ps(mx, _mm512_loadu_ps(x + i));
    if (i < n) {
        __mmask16 m = lanes(n - i);
        mx = _mm512_mask_max_ps(mx, m, mx, _mm512_maskz_loadu_ps(m, x + i));
    }
    __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(mx)); /* max is exact in any order */
    __m512 sum = _mm512_setzero_ps();
    for (i = 0; i + W <= n; i += W) {
        __m512 e = Sleef_expf16_u10avx512f(_mm512_sub_ps(_mm512_loadu_ps(x + i), max));
        _mm512_storeu_ps(x + i, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (i < n) {
        __mmask16 m = lanes(n - i);
        __m512 e = Sleef_expf16_u10avx512f(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), max));
        _mm512_mask_storeu_ps(x + i, m, e);
        sum = _mm512_mask_add_ps(sum, m, sum, e);
    }
    __m512 inv = _mm512_set1_ps(1.0f / hsum(sum));
    for (i = 0; i + W <= n; i += W) _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), inv));
    if (i < n) {
        __mmask16 m = lanes(n - i);
        _mm512_mask_storeu_ps(x + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv));
    }
}

/* silu(g) * u = g / (1 + exp(-g)) * u, in scalar.c's order. */
QL_INLINE __m512 swiglu16(__m512 g, __m512 u) {
    __m512 e = Sleef_expf16_u10avx512f(_mm512_xor_ps(g, _mm512_set1_ps(-0.0f)));
    return _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e)), u);
}

static void swiglu(float *out, const float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + W <= n; i += W)
        _mm512_storeu_ps(out + i, swiglu16(_mm512_loadu_ps(gate + i), _mm512_loadu_ps(up + i)));
    if (i < n) {
        __mmask16 m = lanes(n - i);
        _mm512_mask_storeu_ps(out + i, m, swiglu16(_mm512_maskz_loadu_ps(m, gate + i), _mm512_maskz_loadu_ps(m, up + i)));
    }
}

/* Interleaved pairs (v[2i], v[2i+1]) with cs = (c, s) pairs in the same lanes:
 * even lanes x0*c - x1*s, odd lanes x1*c + x0*s: two rounded products and one rounded
 * sum per lane, as in scalar.c. (AVX-512 has no addsub; the blend keeps compilers from
 * fusing the products into an fmaddsub, which clang does to fmaddsub(p, 1, q).) */
QL_INLINE __m512 rope_pairs16(__m512 v, __m512 cs) {
    __m512 p = _mm512_mul_ps(v, _mm512_moveldup_ps(cs));
    __m512 q = _mm512_mul_ps(_mm512_permute_ps(v, 0xb1), _mm512_movehdup_ps(cs));
    return _mm512_mask_blend_ps((__mmask16)0xaaaa, _mm512_sub_ps(p, q), _mm512_add_ps(p, q));
}

static void rope_interleaved(float *v, int64_t n_rot, const float *cs) {
    int64_t i = 0;
    for (; i + W <= n_rot; i += W)
        _mm512_storeu_ps(v + i, rope_pairs16(_mm512_loadu_ps(v + i), _mm512_loadu_ps(cs + i)));
    if (i < n_rot) {
        __mmask16 m = lanes(n_rot - i);
        _mm512_mask_storeu_ps(v + i, m, rope_pairs16(_mm512_maskz_loadu_ps(m, v + i), _mm512_maskz_loadu_ps(m, cs + i)));
    }
}

/* Rotate-half: a = v[i..], b = v[i + half..]; cos/sin de-interleaved from 16 cs pairs. */
static void rope_neox(float *v, int64_t half, const float *cs) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    for (int64_t i = 0; i < half; i += W) {
        int64_t left = half - i;
        __mmask16 m = left >= W ? (__mmask16)0xffff : lanes(left);
        __mmask16 m_lo = left >= W / 2 ? (__mmask16)0xffff : lanes(2 * left);
        __mmask16 m_hi = left >= W ? (__mmask16)0xffff : left > W / 2 ? lanes(2 * left - W) : 0;
        __m512 cs_lo = _mm512_maskz_loadu_ps(m_lo, cs + 2 * i), cs_hi = _mm512_maskz_loadu_ps(m_hi, cs + 2 * i + W);
        __m512 c = _mm512_permutex2var_ps(cs_lo, even, cs_hi), s = _mm512_permutex2var_ps(cs_lo, odd, cs_hi);
        __m512 a = _mm512_maskz_loadu_ps(m, v + i), b = _mm512_maskz_loadu_ps(m, v + i + half);
        _mm512_mask_storeu_ps(v + i, m, _mm512_sub_ps(_mm512_mul_ps(a, c), _mm512_mul_ps(b, s)));
        _mm512_mask_storeu_ps(v + i + half, m, _mm512_add_ps(_mm512_mul_ps(a, s), _mm512_mul_ps(b, c)));
    }
}

static void rope(float *x, int64_t n_head, int64_t head_dim, int64_t n_rot, const float *cs,
                 int neox) {
    for (int64_t h = 0; h < n_head; h++) {
        if (neox) rope_neox(x + h * head_dim, n_rot / 2, cs);
        else rope_interleaved(x + h * head_dim, n_rot / 2 * 2, cs);
    }
}

void ql_kernels_init_avx512(ql_kernel_table *t) {
    ql_kernels_init_scalar(t);
    t->isa = "avx512";
    t->matmul[QL_TYPE_F32] = matmul_f32;
    t->matmul[QL_TYPE_F16] = matmul_f16;
    t->matmul[QL_TYPE_BF16] = matmul_bf16;
    t->rmsnorm = rmsnorm;
    t->softmax = softmax;
    t->swiglu = swiglu;
    t->dot = dot;
    t->axpy = axpy;
    t->add = add;
    t->rope = rope;
    t->dot_rows = dot_rows;
    t->axpy_rows = axpy_rows;
    ql_kernels_init_avx512_quant(t); /* simd/avx512_quant.c */
}
