/*
 * simd/avx2.c: AVX2 + FMA + F16C versions of the float kernels.
 *
 * Built with its own -mavx2 -mfma -mf16c flags; ql_kernels_init_avx2 runs only on a CPU
 * that has them (simd/dispatch.c). Quantized types are in avx2_quant.c.
 *
 * Matmul (F32, F16, BF16 weights x F32 activations). Every output element y[t, r] is one
 * 8-lane accumulator, acc = fma(w[r, i:i+8], x[t, i:i+8], acc) for i = 0, 8, ... (the
 * last chunk zero-padded), then the fixed lane reduction of hsum(). That sequence depends
 * on k only, so every tile shape below gives the same bits: results do not depend on the
 * row split between threads nor on how tokens are batched (kernels.h). With 16 vector
 * registers a prompt tile is 4 rows x 3 tokens (12 accumulators, 3 activation vectors and
 * one weight vector: 7 loads per 12 FMAs); a decode tile is 8 rows x 1 token (8
 * independent FMA chains over 8 weight streams). Tile sizes were picked by
 * bench/bench_kernels.cpp (4x3 beat 4x2, 3x3 and 2x4 on the reference VM).
 * F16 (vcvtph2ps) and BF16 (<< 16) convert exactly, so products equal the scalar ones;
 * only the summation order differs.
 *
 * Elementwise kernels (axpy, add, rope, the final scaling of rmsnorm) use the scalar
 * file's operations without FMA contraction (switched off below) and so match it bit for
 * bit; dot, rmsnorm's sum of squares and softmax's sum differ in summation order; exp is
 * SLEEF's 1-ulp Sleef_expf8_u10avx2 instead of libm's expf.
 */
#include <immintrin.h>
#include <math.h>
#include <sleef.h>

#include "dispatch.h"
#include "kernels.h"
#include "quant_isa.h"

#include "isa.h"

enum {
    W = 8,        /* floats per vector */
    PP_ROWS = 4,  /* prompt tile: weight rows ... */
    PP_TOKS = 3,  /* ... x tokens (tile_walk.h covers the remainders) */
    TG_ROWS = 8,  /* decode tile (n_tok = 1): weight rows */
};

/* Mask of lanes [0, n), 0 <= n < 8, for maskload/maskstore (inactive lanes read as zero
 * and are never touched), so tails run the vector code, not a scalar loop. */
QL_INLINE __m256i lanes(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* Fixed-order sum of the 8 lanes: halves folded 8 -> 4 -> 2 -> 1. */
QL_INLINE float hsum(__m256 v) {
    __m128 b = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    b = _mm_add_ps(b, _mm_movehl_ps(b, b));
    b = _mm_add_ss(b, _mm_movehdup_ps(b));
    return _mm_cvtss_f32(b);
}

QL_INLINE __m256 cvt_w16(__m128i h, uint32_t type) {
    if (type == QL_TYPE_F16) return _mm256_cvtph_ps(h);
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); /* BF16 */
}

/* 8 weights of a row of `type` from element i, as floats (exact conversion). */
QL_INLINE __m256 load_w(const void *row, int64_t i, uint32_t type) {
    if (type == QL_TYPE_F32) return _mm256_loadu_ps((const float *)row + i);
    return cvt_w16(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + i)), type);
}

/* The first n < 8 of them; the other lanes are zero and read nothing. 16-bit weights are
 * widened one by one (AVX2 has no 16-bit masked load); the loop is not a memcpy, so it
 * stays inline and the accumulators stay in registers. */
QL_INLINE __m256 load_w_part(const void *row, int64_t i, int64_t n, uint32_t type) {
    if (type == QL_TYPE_F32) return _mm256_maskload_ps((const float *)row + i, lanes(n));
    const uint16_t *h = (const uint16_t *)row + i;
    uint32_t wide[8] = {0};
    for (int64_t q = 0; q < n; q++) wide[q] = h[q];
    __m256i v = _mm256_loadu_si256((const __m256i *)wide);
    return cvt_w16(_mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)), type);
}

/* y[t0 + j, r0 + i] for i < R, j < T (R, T constants after inlining). */
QL_INLINE void tile(const char *w, size_t row_bytes, int64_t k, const char *x,
                    size_t x_row_bytes, float *y, int64_t ldy, int64_t r0, int64_t t0, int R,
                    int T, uint32_t type) {
    const void *wr[TG_ROWS];
    const float *xt[PP_TOKS];
    __m256 acc[TG_ROWS][PP_TOKS];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) wr[i] = w + (size_t)(r0 + i) * row_bytes;
#pragma GCC unroll 8
    for (int j = 0; j < T; j++) xt[j] = (const float *)(x + (size_t)(t0 + j) * x_row_bytes);
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int j = 0; j < T; j++) acc[i][j] = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + W <= k; p += W) {
        __m256 xv[PP_TOKS];
#pragma GCC unroll 8
        for (int j = 0; j < T; j++) xv[j] = _mm256_loadu_ps(xt[j] + p);
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            __m256 wv = load_w(wr[i], p, type);
#pragma GCC unroll 8
            for (int j = 0; j < T; j++) acc[i][j] = _mm256_fmadd_ps(wv, xv[j], acc[i][j]);
        }
    }
    if (p < k) {
        __m256 xv[PP_TOKS];
#pragma GCC unroll 8
        for (int j = 0; j < T; j++) xv[j] = _mm256_maskload_ps(xt[j] + p, lanes(k - p));
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            __m256 wv = load_w_part(wr[i], p, k - p, type);
#pragma GCC unroll 8
            for (int j = 0; j < T; j++) acc[i][j] = _mm256_fmadd_ps(wv, xv[j], acc[i][j]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int j = 0; j < T; j++) y[(t0 + j) * ldy + r0 + i] = hsum(acc[i][j]);
}

#include "tile_walk.h" /* rows_all_tokens, matmul_tiled, matmul_f32/f16/bf16 */

/* Four accumulators over 32-float steps, then 8-float steps, then a masked tail. */
static float dot(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + W), _mm256_loadu_ps(b + i + W), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 2 * W), _mm256_loadu_ps(b + i + 2 * W), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 3 * W), _mm256_loadu_ps(b + i + 3 * W), s3);
    }
    for (; i + W <= n; i += W) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    if (i < n) {
        __m256i m = lanes(n - i);
        s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s1);
    }
    return hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

/* y += a * x as a rounded product then a rounded sum, like scalar.c (no FMA). */
static void axpy(float *y, float a, const float *x, int64_t n) {
    __m256 av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + W <= n; i += W)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_mul_ps(av, _mm256_loadu_ps(x + i))));
    if (i < n) {
        __m256i m = lanes(n - i);
        __m256 v = _mm256_add_ps(_mm256_maskload_ps(y + i, m), _mm256_mul_ps(av, _mm256_maskload_ps(x + i, m)));
        _mm256_maskstore_ps(y + i, m, v);
    }
}

QL_ROWS_FROM_DOT_AXPY(dot, axpy)

static void add(float *y, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + W <= n; i += W)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_loadu_ps(x + i)));
    if (i < n) {
        __m256i m = lanes(n - i);
        _mm256_maskstore_ps(y + i, m, _mm256_add_ps(_mm256_maskload_ps(y + i, m), _mm256_maskload_ps(x + i, m)));
    }
}

static void rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + W);
        s0 = _mm256_fmadd_ps(a, a, s0);
        s1 = _mm256_fmadd_ps(b, b, s1);
    }
    for (; i + W <= n; i += W) {
        __m256 a = _mm256_loadu_ps(x + i);
        s0 = _mm256_fmadd_ps(a, a, s0);
    }
    if (i < n) {
        __m256 a = _mm256_maskload_ps(x + i, lanes(n - i));
        s1 = _mm256_fmadd_ps(a, a, s1);
    }
    float ss = hsum(_mm256_add_ps(s0, s1));
    __m256 scale = _mm256_set1_ps(1.0f / sqrtf(ss / (float)n + eps));
    for (i = 0; i + W <= n; i += W)
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), scale), _mm256_loadu_ps(w + i)));
    if (i < n) {
        __m256i m = lanes(n - i);
        __m256 v = _mm256_mul_ps(_mm256_mul_ps(_mm256_maskload_ps(x + i, m), scale), _mm256_maskload_ps(w + i, m));
        _mm256_maskstore_ps(out + i, m, v);
    }
}

static void softmax(float *x, int64_t n) {
    __m256 mx = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + W <= n; i += W) mx = _mm256_max_ps(mx, _mm256_loadu_ps(x + i));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    float max = _mm_cvtss_f32(_mm_max_ss(m4, _mm_movehdup_ps(m4)));
    for (int64_t j = i; j < n; j++) max = x[j] > max ? x[j] : max;
    __m256 maxv = _mm256_set1_ps(max), sum = _mm256_setzero_ps();
    for (i = 0; i + W <= n; i += W) {
        __m256 e = Sleef_expf8_u10avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), maxv));
        _mm256_storeu_ps(x + i, e);
        sum = _mm256_add_ps(sum, e);
    }
    if (i < n) { /* exp of the tail too, so every element gets the same exp */
        __m256i m = lanes(n - i);
        __m256 e = Sleef_expf8_u10avx2(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), maxv));
        e = _mm256_and_ps(e, _mm256_castsi256_ps(m));
        _mm256_maskstore_ps(x + i, m, e);
        sum = _mm256_add_ps(sum, e);
    }
    __m256 inv = _mm256_set1_ps(1.0f / hsum(sum));
    for (i = 0; i + W <= n; i += W) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    if (i < n) {
        __m256i m = lanes(n - i);
        _mm256_maskstore_ps(x + i, m, _mm256_mul_ps(_mm256_maskload_ps(x + i, m), inv));
    }
}

/* silu(g) * u = g / (1 + exp(-g)) * u, in scalar.c's order. */
QL_INLINE __m256 swiglu8(__m256 g, __m256 u) {
    __m256 e = Sleef_expf8_u10avx2(_mm256_xor_ps(g, _mm256_set1_ps(-0.0f)));
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

static void swiglu(float *out, const float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + W <= n; i += W)
        _mm256_storeu_ps(out + i, swiglu8(_mm256_loadu_ps(gate + i), _mm256_loadu_ps(up + i)));
    if (i < n) {
        __m256i m = lanes(n - i);
        _mm256_maskstore_ps(out + i, m, swiglu8(_mm256_maskload_ps(gate + i, m), _mm256_maskload_ps(up + i, m)));
    }
}

/* Interleaved pairs (v[2i], v[2i+1]) with cs = (c, s) pairs in the same lanes:
 * addsub gives even lanes x0*c - x1*s, odd lanes x1*c + x0*s, as scalar.c rounds them. */
QL_INLINE __m256 rope_pairs8(__m256 x, __m256 cs) {
    __m256 p = _mm256_mul_ps(x, _mm256_moveldup_ps(cs));
    __m256 q = _mm256_mul_ps(_mm256_permute_ps(x, 0xb1), _mm256_movehdup_ps(cs));
    return _mm256_addsub_ps(p, q);
}

static void rope_interleaved(float *v, int64_t n_rot, const float *cs) {
    int64_t i = 0;
    for (; i + W <= n_rot; i += W)
        _mm256_storeu_ps(v + i, rope_pairs8(_mm256_loadu_ps(v + i), _mm256_loadu_ps(cs + i)));
    if (i < n_rot) {
        __m256i m = lanes(n_rot - i);
        _mm256_maskstore_ps(v + i, m, rope_pairs8(_mm256_maskload_ps(v + i, m), _mm256_maskload_ps(cs + i, m)));
    }
}

/* Rotate-half on 8 pairs: a = v[i..], b = v[i + half..]; lo, hi hold 8 (cos, sin) pairs,
 * de-interleaved here (shuffle_ps per 128-bit lane gives c0 c1 c4 c5 | c2 c3 c6 c7; the
 * 0xd8 permute restores the order). */
QL_INLINE void neox8(__m256 *a, __m256 *b, __m256 lo, __m256 hi) {
    __m256 c = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xd8));
    __m256 s = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0xdd)), 0xd8));
    __m256 x0 = *a, x1 = *b;
    *a = _mm256_sub_ps(_mm256_mul_ps(x0, c), _mm256_mul_ps(x1, s));
    *b = _mm256_add_ps(_mm256_mul_ps(x0, s), _mm256_mul_ps(x1, c));
}

/* Masked loads/stores only in the tail: vmaskmovps stores are slow on some CPUs (AMD). */
static void rope_neox(float *v, int64_t half, const float *cs) {
    int64_t i = 0;
    for (; i + W <= half; i += W) {
        __m256 a = _mm256_loadu_ps(v + i), b = _mm256_loadu_ps(v + i + half);
        neox8(&a, &b, _mm256_loadu_ps(cs + 2 * i), _mm256_loadu_ps(cs + 2 * i + W));
        _mm256_storeu_ps(v + i, a);
        _mm256_storeu_ps(v + i + half, b);
    }
    if (i < half) {
        int64_t left = half - i; /* 1..7 pairs: 2..14 cs floats */
        __m256i m = lanes(left);
        __m256i m_lo = left >= W / 2 ? _mm256_set1_epi32(-1) : lanes(2 * left);
        __m256i m_hi = lanes(left > W / 2 ? 2 * left - W : 0);
        __m256 a = _mm256_maskload_ps(v + i, m), b = _mm256_maskload_ps(v + i + half, m);
        neox8(&a, &b, _mm256_maskload_ps(cs + 2 * i, m_lo), _mm256_maskload_ps(cs + 2 * i + W, m_hi));
        _mm256_maskstore_ps(v + i, m, a);
        _mm256_maskstore_ps(v + i + half, m, b);
    }
}

static void rope(float *x, int64_t n_head, int64_t head_dim, int64_t n_rot, const float *cs,
                 int neox) {
    for (int64_t h = 0; h < n_head; h++) {
        if (neox) rope_neox(x + h * head_dim, n_rot / 2, cs);
        else rope_interleaved(x + h * head_dim, n_rot / 2 * 2, cs);
    }
}

void ql_kernels_init_avx2(ql_kernel_table *t) {
    ql_kernels_init_scalar(t);
    t->isa = "avx2";
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
    ql_kernels_init_avx2_quant(t); /* simd/avx2_quant.c */
}
