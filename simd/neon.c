/*
 * simd/neon.c: AArch64 Advanced SIMD (NEON) versions of the float kernels, and the level's
 * init function. The quantized matmuls are in simd/neon_quant.c.
 *
 * Built with -march=armv8.2-a+dotprod+fp16 (CMakeLists.txt), but nothing here needs more
 * than ARMv8.0 NEON: the only dotprod instructions are in neon_quant.c's sdot kernels, which
 * ql_kernels_init_neon installs only when HWCAP_ASIMDDP says the CPU has them (.ci/neon.sh
 * runs the tests under qemu's cortex-a53, an ARMv8.0 core, to keep that true).
 *
 * Matmul (F32, F16, BF16 weights x F32 activations). Every output element y[t, r] is one
 * 4-lane accumulator, acc = fma(w[r, i:i+4], x[t, i:i+4], acc) for i = 0, 4, ... (the last
 * chunk zero-padded), then vaddvq_f32's fixed pairwise reduction. That sequence depends on
 * k only, so every tile shape gives the same bits: results do not depend on the row split
 * between threads nor on how tokens are batched (kernels.h). With 32 vector registers a
 * prompt tile is 4 rows x 4 tokens (16 accumulators, 4 activation and 4 weight vectors: 8
 * loads per 16 FMAs); a decode tile is 8 rows x 1 token (8 independent FMA chains, enough
 * to cover the 4-cycle FMA latency of 2 pipes). F16 (fcvtl) and BF16 (<< 16) convert
 * exactly, so the products equal scalar.c's; only the summation order differs.
 *
 * Elementwise kernels (axpy, add, rope, rmsnorm's final scaling) use scalar.c's operations
 * without FMA contraction and match it bit for bit; dot, rmsnorm's sum of squares and
 * softmax's sum differ in summation order; exp is SLEEF's 1-ulp Sleef_expf4_u10advsimd
 * instead of libm's expf.
 */
#include <arm_neon.h>
#include <math.h>
#include <sleef.h>
#include <stdbool.h>

#include "cpu.h"
#include "dispatch.h"
#include "kernels.h"

#include "isa.h"

/* simd/neon_quant.c */
void ql_kernels_init_neon_quant(ql_kernel_table *t, bool dotprod);

enum {
    W = 4,        /* floats per vector */
    PP_ROWS = 4,  /* prompt tile: weight rows ... */
    PP_TOKS = 4,  /* ... x tokens (tile_walk.h covers the remainders) */
    TG_ROWS = 8,  /* decode tile (n_tok = 1): weight rows */
};

/* The first n < 4 floats at p, the other lanes zero; nothing past p + n is read. The loop
 * is not a memcpy call, so it stays inline and the accumulators stay in registers. */
QL_INLINE float32x4_t load_part(const float *p, int64_t n) {
    float v[W] = {0};
    for (int64_t q = 0; q < n; q++) v[q] = p[q];
    return vld1q_f32(v);
}

QL_INLINE void store_part(float *p, float32x4_t v, int64_t n) {
    float t[W];
    vst1q_f32(t, v);
    for (int64_t q = 0; q < n; q++) p[q] = t[q];
}

QL_INLINE float32x4_t cvt_w16(uint16x4_t h, uint32_t type) {
    if (type == QL_TYPE_F16) return vcvt_f32_f16(vreinterpret_f16_u16(h));
    return vreinterpretq_f32_u32(vshll_n_u16(h, 16)); /* BF16: the high half of a float */
}

/* 4 weights of a row of `type` from element i, as floats (exact conversion). */
QL_INLINE float32x4_t load_w(const void *row, int64_t i, uint32_t type) {
    if (type == QL_TYPE_F32) return vld1q_f32((const float *)row + i);
    return cvt_w16(vld1_u16((const uint16_t *)row + i), type);
}

/* The first n < 4 of them; the other lanes are zero and read nothing. */
QL_INLINE float32x4_t load_w_part(const void *row, int64_t i, int64_t n, uint32_t type) {
    if (type == QL_TYPE_F32) return load_part((const float *)row + i, n);
    const uint16_t *h = (const uint16_t *)row + i;
    uint16_t v[W] = {0};
    for (int64_t q = 0; q < n; q++) v[q] = h[q];
    return cvt_w16(vld1_u16(v), type);
}

/* y[t0 + j, r0 + i] for i < R, j < T (R, T constants after inlining). */
QL_INLINE void tile(const char *w, size_t row_bytes, int64_t k, const char *x,
                    size_t x_row_bytes, float *y, int64_t ldy, int64_t r0, int64_t t0, int R,
                    int T, uint32_t type) {
    const void *wr[TG_ROWS];
    const float *xt[PP_TOKS];
    float32x4_t acc[TG_ROWS][PP_TOKS];
#pragma GCC unroll 8
    for (int i = 0; i < R; i++) wr[i] = w + (size_t)(r0 + i) * row_bytes;
#pragma GCC unroll 8
    for (int j = 0; j < T; j++) xt[j] = (const float *)(x + (size_t)(t0 + j) * x_row_bytes);
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int j = 0; j < T; j++) acc[i][j] = vdupq_n_f32(0.0f);
    int64_t p = 0;
    for (; p + W <= k; p += W) {
        float32x4_t xv[PP_TOKS];
#pragma GCC unroll 8
        for (int j = 0; j < T; j++) xv[j] = vld1q_f32(xt[j] + p);
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            float32x4_t wv = load_w(wr[i], p, type);
#pragma GCC unroll 8
            for (int j = 0; j < T; j++) acc[i][j] = vfmaq_f32(acc[i][j], wv, xv[j]);
        }
    }
    if (p < k) {
        float32x4_t xv[PP_TOKS];
#pragma GCC unroll 8
        for (int j = 0; j < T; j++) xv[j] = load_part(xt[j] + p, k - p);
#pragma GCC unroll 8
        for (int i = 0; i < R; i++) {
            float32x4_t wv = load_w_part(wr[i], p, k - p, type);
#pragma GCC unroll 8
            for (int j = 0; j < T; j++) acc[i][j] = vfmaq_f32(acc[i][j], wv, xv[j]);
        }
    }
#pragma GCC unroll 8
    for (int i = 0; i < R; i++)
#pragma GCC unroll 8
        for (int j = 0; j < T; j++) y[(t0 + j) * ldy + r0 + i] = vaddvq_f32(acc[i][j]);
}

#include "tile_walk.h" /* rows_all_tokens, matmul_tiled, matmul_f32/f16/bf16 */

/* Four accumulators over 16-float steps, then 4-float steps, then a zero-padded tail. */
static float dot(const float *a, const float *b, int64_t n) {
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 4 * W <= n; i += 4 * W) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + W), vld1q_f32(b + i + W));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 2 * W), vld1q_f32(b + i + 2 * W));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 3 * W), vld1q_f32(b + i + 3 * W));
    }
    for (; i + W <= n; i += W) s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    if (i < n) s1 = vfmaq_f32(s1, load_part(a + i, n - i), load_part(b + i, n - i));
    return vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
}

/* y += a * x as a rounded product then a rounded sum, like scalar.c (no FMA). */
static void axpy(float *y, float a, const float *x, int64_t n) {
    float32x4_t av = vdupq_n_f32(a);
    int64_t i = 0;
    for (; i + W <= n; i += W) vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vmulq_f32(av, vld1q_f32(x + i))));
    if (i < n)
        store_part(y + i, vaddq_f32(load_part(y + i, n - i), vmulq_f32(av, load_part(x + i, n - i))), n - i);
}

QL_ROWS_FROM_DOT_AXPY(dot, axpy)

static void add(float *y, const float *x, int64_t n) {
    int64_t i = 0;
    for (; i + W <= n; i += W) vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vld1q_f32(x + i)));
    if (i < n) store_part(y + i, vaddq_f32(load_part(y + i, n - i), load_part(x + i, n - i)), n - i);
}

static void rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    float32x4_t s0 = vdupq_n_f32(0.0f), s1 = s0;
    int64_t i = 0;
    for (; i + 2 * W <= n; i += 2 * W) {
        float32x4_t a = vld1q_f32(x + i), b = vld1q_f32(x + i + W);
        s0 = vfmaq_f32(s0, a, a);
        s1 = vfmaq_f32(s1, b, b);
    }
    for (; i + W <= n; i += W) {
        float32x4_t a = vld1q_f32(x + i);
        s0 = vfmaq_f32(s0, a, a);
    }
    if (i < n) {
        float32x4_t a = load_part(x + i, n - i);
        s1 = vfmaq_f32(s1, a, a);
    }
    float ss = vaddvq_f32(vaddq_f32(s0, s1));
    float32x4_t scale = vdupq_n_f32(1.0f / sqrtf(ss / (float)n + eps));
    for (i = 0; i + W <= n; i += W)
        vst1q_f32(out + i, vmulq_f32(vmulq_f32(vld1q_f32(x + i), scale), vld1q_f32(w + i)));
    if (i < n)
        store_part(out + i, vmulq_f32(vmulq_f32(load_part(x + i, n - i), scale), load_part(w + i, n - i)), n - i);
}

static void softmax(float *x, int64_t n) {
    float32x4_t mx = vdupq_n_f32(-INFINITY);
    int64_t i = 0;
    for (; i + W <= n; i += W) mx = vmaxq_f32(mx, vld1q_f32(x + i));
    float max = vmaxvq_f32(mx);
    for (int64_t j = i; j < n; j++) max = x[j] > max ? x[j] : max;
    float32x4_t maxv = vdupq_n_f32(max), sum = vdupq_n_f32(0.0f);
    for (i = 0; i + W <= n; i += W) {
        float32x4_t e = Sleef_expf4_u10advsimd(vsubq_f32(vld1q_f32(x + i), maxv));
        vst1q_f32(x + i, e);
        sum = vaddq_f32(sum, e);
    }
    if (i < n) { /* exp of the tail too, so every element gets the same exp */
        float32x4_t e = Sleef_expf4_u10advsimd(vsubq_f32(load_part(x + i, n - i), maxv));
        store_part(x + i, e, n - i);
        float t[W];
        vst1q_f32(t, e);
        for (int64_t q = n - i; q < W; q++) t[q] = 0.0f; /* exp(0 - max) of padding lanes */
        sum = vaddq_f32(sum, vld1q_f32(t));
    }
    float32x4_t inv = vdupq_n_f32(1.0f / vaddvq_f32(sum));
    for (i = 0; i + W <= n; i += W) vst1q_f32(x + i, vmulq_f32(vld1q_f32(x + i), inv));
    if (i < n) store_part(x + i, vmulq_f32(load_part(x + i, n - i), inv), n - i);
}

/* silu(g) * u = g / (1 + exp(-g)) * u, in scalar.c's order. */
QL_INLINE float32x4_t swiglu4(float32x4_t g, float32x4_t u) {
    float32x4_t e = Sleef_expf4_u10advsimd(vnegq_f32(g));
    return vmulq_f32(vdivq_f32(g, vaddq_f32(vdupq_n_f32(1.0f), e)), u);
}

static void swiglu(float *out, const float *gate, const float *up, int64_t n) {
    int64_t i = 0;
    for (; i + W <= n; i += W) vst1q_f32(out + i, swiglu4(vld1q_f32(gate + i), vld1q_f32(up + i)));
    if (i < n) store_part(out + i, swiglu4(load_part(gate + i, n - i), load_part(up + i, n - i)), n - i);
}

/* One rotation of 4 pairs (x0, x1) by (c, s): x0*c - x1*s, x0*s + x1*c, rounded as
 * scalar.c rounds them (two products, then one sum). */
QL_INLINE void rot4(float32x4_t *x0, float32x4_t *x1, float32x4_t c, float32x4_t s) {
    float32x4_t a = *x0, b = *x1;
    *x0 = vsubq_f32(vmulq_f32(a, c), vmulq_f32(b, s));
    *x1 = vaddq_f32(vmulq_f32(a, s), vmulq_f32(b, c));
}

/* Interleaved pairs (v[2i], v[2i+1]); ld2/st2 de-interleave them and the (cos, sin)
 * pairs alike. The last < 4 pairs go through the same vectors from a zero-padded copy. */
static void rope_interleaved(float *v, int64_t half, const float *cs) {
    int64_t i = 0;
    for (; i + W <= half; i += W) {
        float32x4x2_t x = vld2q_f32(v + 2 * i), c = vld2q_f32(cs + 2 * i);
        rot4(&x.val[0], &x.val[1], c.val[0], c.val[1]);
        vst2q_f32(v + 2 * i, x);
    }
    if (i < half) {
        float xb[2 * W] = {0}, cb[2 * W] = {0};
        int64_t m = 2 * (half - i);
        for (int64_t q = 0; q < m; q++) xb[q] = v[2 * i + q], cb[q] = cs[2 * i + q];
        float32x4x2_t x = vld2q_f32(xb), c = vld2q_f32(cb);
        rot4(&x.val[0], &x.val[1], c.val[0], c.val[1]);
        vst2q_f32(xb, x);
        for (int64_t q = 0; q < m; q++) v[2 * i + q] = xb[q];
    }
}

/* Rotate-half: pair i is (v[i], v[i + half]). */
static void rope_neox(float *v, int64_t half, const float *cs) {
    int64_t i = 0;
    for (; i + W <= half; i += W) {
        float32x4_t a = vld1q_f32(v + i), b = vld1q_f32(v + i + half);
        float32x4x2_t c = vld2q_f32(cs + 2 * i);
        rot4(&a, &b, c.val[0], c.val[1]);
        vst1q_f32(v + i, a);
        vst1q_f32(v + i + half, b);
    }
    if (i < half) {
        int64_t m = half - i;
        float cb[2 * W] = {0};
        for (int64_t q = 0; q < 2 * m; q++) cb[q] = cs[2 * i + q];
        float32x4_t a = load_part(v + i, m), b = load_part(v + i + half, m);
        float32x4x2_t c = vld2q_f32(cb);
        rot4(&a, &b, c.val[0], c.val[1]);
        store_part(v + i, a, m);
        store_part(v + i + half, b, m);
    }
}

static void rope(float *x, int64_t n_head, int64_t head_dim, int64_t n_rot, const float *cs,
                 int neox) {
    for (int64_t h = 0; h < n_head; h++) {
        if (neox) rope_neox(x + h * head_dim, n_rot / 2, cs);
        else rope_interleaved(x + h * head_dim, n_rot / 2, cs);
    }
}

void ql_kernels_init_neon(ql_kernel_table *t) {
    ql_kernels_init_scalar(t);
    t->isa = "neon";
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
    ql_cpu_features f;
    ql_cpu_detect(&f);
    ql_kernels_init_neon_quant(t, f.dotprod);
}
