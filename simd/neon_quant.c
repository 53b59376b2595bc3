/*
 * simd/neon_quant.c: NEON matmuls of the 32-element block formats (Q8_0, Q4_0, Q4_1 weights
 * x Q8_0 activations) and the Q8_0 activation quantizer.
 *
 * Each kernel exists twice: with sdot (vdotq_s32, ARMv8.2 dotprod: 16 int8 products summed
 * into 4 int32 lanes per instruction) and, for CPUs without it (Cortex-A53/A72), with
 * smull + sadalp (int8 x int8 -> int16 products, pairs added into int32 lanes).
 * ql_kernels_init_neon_quant picks one set from HWCAP_ASIMDDP; the sdot instructions exist
 * only in the sdot set (the `dp` argument is a constant after inlining).
 *
 * Results equal scalar_quant.c's bit for bit, whichever set runs. A block's integer sum is
 * exact in both, and the float part keeps scalar.c's operations and order per output:
 *   sum += (dw * dx) * (float)isum                  (Q8_0, Q4_0)
 *   sum += (dw * dx) * (float)isum + (m * dx) * (float)xsum        (Q4_1)
 * over blocks left to right, with the four rows of a tile in the four lanes of one vector
 * (lanes never mix). So results do not depend on row splits or token batches either.
 *
 * Tile: 4 weight rows x up to 3 tokens. Per block a row's 32 levels are two int8x16
 * vectors (8 registers for 4 rows), each token's 32 activations two more, and the 4 x 3
 * int32x4 partial sums 12: 26 of the 32 registers. The row remainder (r1 - r0 not a
 * multiple of 4) runs the same tile with the missing lanes reading row r0 again, and
 * stores only its own lanes.
 */
#include <arm_neon.h>
#include <stdbool.h>

#include "kernels.h"
#include "quant/formats.h"

#define QL_INLINE static inline __attribute__((always_inline))

#pragma GCC optimize("fp-contract=off")

void ql_kernels_init_neon_quant(ql_kernel_table *t, bool dotprod);

enum {
    QR = 4,      /* rows per tile: the lanes of one float32x4 */
    QT = 3,      /* tokens per tile */
};

/* 4 f16 scales as floats (fcvtl is exact, as ql_f16_to_f32). */
QL_INLINE float32x4_t f16x4(uint16_t a, uint16_t b, uint16_t c, uint16_t d) {
    uint16_t h[4] = {a, b, c, d};
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(h)));
}

QL_INLINE float32x4_t f16_dup(uint16_t h) {
    return vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h)));
}

/* sum over 32 int8 products a[i] * b[i], spread over 4 int32 lanes (exact). */
QL_INLINE int32x4_t dot32(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1, int dp) {
    if (dp) return vdotq_s32(vdotq_s32(vdupq_n_s32(0), a0, b0), a1, b1);
    int32x4_t s = vpaddlq_s16(vmull_s8(vget_low_s8(a0), vget_low_s8(b0)));
    s = vpadalq_s16(s, vmull_high_s8(a0, b0));
    s = vpadalq_s16(s, vmull_s8(vget_low_s8(a1), vget_low_s8(b1)));
    return vpadalq_s16(s, vmull_high_s8(a1, b1));
}

/* Block b of a weight row: its 32 levels as two int8x16 (elements 0..15, 16..31), its scale
 * d and (Q4_1) its offset m. */
QL_INLINE void w_block(const char *row, int64_t b, uint32_t type, int8x16_t *lo, int8x16_t *hi,
                       uint16_t *d, uint16_t *m) {
    if (type == QL_TYPE_Q8_0) {
        const ql_block_q8_0 *blk = (const ql_block_q8_0 *)row + b;
        *lo = vld1q_s8(blk->qs);
        *hi = vld1q_s8(blk->qs + 16);
        *d = blk->d;
        return;
    }
    const uint8_t *qs;
    if (type == QL_TYPE_Q4_0) {
        const ql_block_q4_0 *blk = (const ql_block_q4_0 *)row + b;
        qs = blk->qs;
        *d = blk->d;
    } else {
        const ql_block_q4_1 *blk = (const ql_block_q4_1 *)row + b;
        qs = blk->qs;
        *d = blk->d;
        *m = blk->m;
    }
    uint8x16_t q = vld1q_u8(qs);
    int8x16_t l = vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(15)));
    int8x16_t h = vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
    if (type == QL_TYPE_Q4_0) { /* levels 0..15 stand for -8..7 */
        l = vsubq_s8(l, vdupq_n_s8(8));
        h = vsubq_s8(h, vdupq_n_s8(8));
    }
    *lo = l;
    *hi = h;
}

/* y[t0 + j, r0 + i] for i < R (runtime, <= 4), j < T (constant after inlining). */
QL_INLINE void qtile(const char *w, size_t row_bytes, int64_t nb, const char *x,
                     size_t x_row_bytes, float *y, int64_t ldy, int64_t r0, int R, int64_t t0,
                     int T, uint32_t type, int dp) {
    const char *wr[QR];
    const ql_block_q8_0 *xb[QT];
    float32x4_t acc[QT];
#pragma GCC unroll 4
    for (int i = 0; i < QR; i++) wr[i] = w + (size_t)(r0 + (i < R ? i : 0)) * row_bytes;
#pragma GCC unroll 4
    for (int j = 0; j < T; j++) {
        xb[j] = (const ql_block_q8_0 *)(x + (size_t)(t0 + j) * x_row_bytes);
        acc[j] = vdupq_n_f32(0.0f);
    }
    for (int64_t b = 0; b < nb; b++) {
        int8x16_t lo[QR], hi[QR];
        uint16_t d[QR], m[QR] = {0};
#pragma GCC unroll 4
        for (int i = 0; i < QR; i++) w_block(wr[i], b, type, &lo[i], &hi[i], &d[i], &m[i]);
        float32x4_t dw = f16x4(d[0], d[1], d[2], d[3]);
        float32x4_t mw = type == QL_TYPE_Q4_1 ? f16x4(m[0], m[1], m[2], m[3]) : dw;
#pragma GCC unroll 4
        for (int j = 0; j < T; j++) {
            int8x16_t x0 = vld1q_s8(xb[j][b].qs), x1 = vld1q_s8(xb[j][b].qs + 16);
            int32x4_t p[QR];
#pragma GCC unroll 4
            for (int i = 0; i < QR; i++) p[i] = dot32(lo[i], hi[i], x0, x1, dp);
            /* lane i: row i's block sum */
            int32x4_t isum = vpaddq_s32(vpaddq_s32(p[0], p[1]), vpaddq_s32(p[2], p[3]));
            float32x4_t dx = f16_dup(xb[j][b].d);
            float32x4_t s = vmulq_f32(vmulq_f32(dw, dx), vcvtq_f32_s32(isum));
            if (type == QL_TYPE_Q4_1) {
                float xsum = (float)(vaddlvq_s8(x0) + vaddlvq_s8(x1));
                s = vaddq_f32(s, vmulq_f32(vmulq_f32(mw, dx), vdupq_n_f32(xsum)));
            }
            acc[j] = vaddq_f32(acc[j], s);
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < T; j++) {
        float out[QR];
        vst1q_f32(out, acc[j]);
        for (int i = 0; i < R; i++) y[(t0 + j) * ldy + r0 + i] = out[i];
    }
}

QL_INLINE void qmatmul(const void *wv, size_t row_bytes, int64_t k, const void *xv,
                       size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,
                       int64_t r1, uint32_t type, int dp) {
    const char *w = wv, *x = xv;
    int64_t nb = k / QL_QK;
    for (int64_t r = r0; r < r1; r += QR) {
        int R = r1 - r < QR ? (int)(r1 - r) : QR;
        int64_t t = 0;
        for (; t + QT <= n_tok; t += QT)
            qtile(w, row_bytes, nb, x, x_row_bytes, y, ldy, r, R, t, QT, type, dp);
        switch (n_tok - t) {
        case 2: qtile(w, row_bytes, nb, x, x_row_bytes, y, ldy, r, R, t, 2, type, dp); break;
        case 1: qtile(w, row_bytes, nb, x, x_row_bytes, y, ldy, r, R, t, 1, type, dp); break;
        default: break;
        }
    }
}

#define QL_DEFINE_QMATMUL(name, type, dp)                                                  \
    static void name(const void *w, size_t row_bytes, int64_t k, const void *x,             \
                     size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,  \
                     int64_t r1) {                                                          \
        qmatmul(w, row_bytes, k, x, x_row_bytes, n_tok, y, ldy, r0, r1, type, dp);          \
    }

QL_DEFINE_QMATMUL(matmul_q8_0_sdot, QL_TYPE_Q8_0, 1)
QL_DEFINE_QMATMUL(matmul_q4_0_sdot, QL_TYPE_Q4_0, 1)
QL_DEFINE_QMATMUL(matmul_q4_1_sdot, QL_TYPE_Q4_1, 1)
QL_DEFINE_QMATMUL(matmul_q8_0_smull, QL_TYPE_Q8_0, 0)
QL_DEFINE_QMATMUL(matmul_q4_0_smull, QL_TYPE_Q4_0, 0)
QL_DEFINE_QMATMUL(matmul_q4_1_smull, QL_TYPE_Q4_1, 0)

/* Q8_0 activations, byte for byte as ql_quantize_row_q8_0: amax with fmaxf's NaN rule
 * (fmaxnm), the f16 scale rounded up by the shared helper, then each x * (1/d) clamped to
 * [-127, 127] and rounded to nearest even (fcvtns, as lrintf in the default mode). */
static void quantize_row_q8_0(const float *x, void *dst, int64_t n) {
    ql_block_q8_0 *out = dst;
    for (int64_t b = 0; b < n / QL_QK; b++, x += QL_QK) {
        float32x4_t v[8], amax = vdupq_n_f32(0.0f);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            v[i] = vld1q_f32(x + 4 * i);
            amax = vmaxnmq_f32(amax, vabsq_f32(v[i]));
        }
        uint16_t d = ql_f16_round_up(vmaxnmvq_f32(amax) / 127.0f);
        float32x4_t id = vdupq_n_f32(ql_quant_inv(ql_f16_to_f32(d)));
        float32x4_t lo = vdupq_n_f32(-127.0f), hi = vdupq_n_f32(127.0f);
        int16x8_t q16[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) {
            int32x4_t a = vcvtnq_s32_f32(vminq_f32(vmaxq_f32(vmulq_f32(v[2 * i], id), lo), hi));
            int32x4_t c = vcvtnq_s32_f32(vminq_f32(vmaxq_f32(vmulq_f32(v[2 * i + 1], id), lo), hi));
            q16[i] = vcombine_s16(vmovn_s32(a), vmovn_s32(c));
        }
        out[b].d = d;
        vst1q_s8(out[b].qs, vcombine_s8(vmovn_s16(q16[0]), vmovn_s16(q16[1])));
        vst1q_s8(out[b].qs + 16, vcombine_s8(vmovn_s16(q16[2]), vmovn_s16(q16[3])));
    }
}

void ql_kernels_init_neon_quant(ql_kernel_table *t, bool dotprod) {
    t->from_float[QL_TYPE_Q8_0] = quantize_row_q8_0;
    t->matmul[QL_TYPE_Q8_0] = dotprod ? matmul_q8_0_sdot : matmul_q8_0_smull;
    t->matmul[QL_TYPE_Q4_0] = dotprod ? matmul_q4_0_sdot : matmul_q4_0_smull;
    t->matmul[QL_TYPE_Q4_1] = dotprod ? matmul_q4_1_sdot : matmul_q4_1_smull;
}
