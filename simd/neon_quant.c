/*
 * simd/neon_quant.c: NEON matmuls of the quantized weight formats (Q8_0, Q4_0, Q4_1 x Q8_0
 * activations; Q4_K, Q5_K, Q6_K x Q8_K activations) and the Q8_0 / Q8_K activation
 * quantizers.
 *
 * Each kernel exists twice: with sdot (vdotq_s32, ARMv8.2 dotprod: 16 int8 products summed
 * into 4 int32 lanes per instruction) and, for CPUs without it (Cortex-A53/A72), with
 * smull + sadalp (int8 x int8 -> int16 products, pairs added into int32 lanes; every
 * product here is at most 32 * 127 = 4064 or 127 * 128 in magnitude, inside int16).
 * ql_kernels_init_neon_quant picks one set from HWCAP_ASIMDDP; the sdot instructions exist
 * only in the sdot set (the `dp` argument is a constant after inlining).
 *
 * Results equal scalar_quant.c's bit for bit, whichever set runs. A block's integer sum is
 * exact in both (for the k-quants: each sub-block's sum times its scale, added in int32,
 * any order being exact), and the float part keeps scalar_quant.c's operations and order
 * per output:
 *   sum += (dw * dx) * (float)isum                                   (Q8_0, Q4_0)
 *   sum += (dw * dx) * (float)isum + (m * dx) * (float)xsum          (Q4_1)
 *   sum += dx * (d * (float)isum - dmin * (float)msum)               (Q4_K, Q5_K)
 *   sum += (dx * d) * (float)isum                                    (Q6_K)
 * over blocks left to right, with the four rows of a tile in the four lanes of one vector
 * (lanes never mix). So results do not depend on row splits or token batches either.
 *
 * Tile: 4 weight rows x up to 3 tokens (32-blocks) or 2 tokens (k-quants). 32-blocks: per
 * block a row's 32 levels are two int8x16 vectors (8 registers for 4 rows), each token's 32
 * activations two more, and the 4 x 3 int32x4 partial sums 12: 26 of the 32 registers.
 * k-quants: per 64-element chunk of a super-block, each token's activations are 4 vectors
 * (8), one row's unpacked levels 4, and the 4 x 2 accumulators 8. The row remainder
 * (r1 - r0 not a multiple of 4) runs the same tile with the missing lanes reading row r0
 * again, and stores only its own lanes.
 */
#include <arm_neon.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "kernels.h"
#include "quant/formats.h"

#include "isa.h"

void ql_kernels_init_neon_quant(ql_kernel_table *t, bool dotprod);

enum {
    QR = 4,      /* rows per tile: the lanes of one float32x4 */
    QT = 3,      /* tokens per tile, 32-element blocks */
    KT = 2,      /* tokens per tile, k-quant super-blocks */
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

/* sum over 16 int8 products a[i] * b[i], spread over 4 int32 lanes (exact). */
QL_INLINE int32x4_t dot16(int8x16_t a, int8x16_t b, int dp) {
    if (dp) return vdotq_s32(vdupq_n_s32(0), a, b);
    return vpadalq_s16(vpaddlq_s16(vmull_s8(vget_low_s8(a), vget_low_s8(b))), vmull_high_s8(a, b));
}

/* Lane i: the sum of the lanes of p[i]. */
QL_INLINE int32x4_t hsum4x4(const int32x4_t p[4]) {
    return vpaddq_s32(vpaddq_s32(p[0], p[1]), vpaddq_s32(p[2], p[3]));
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
            int32x4_t isum = hsum4x4(p); /* lane i: row i's block sum */
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

/* ---- Q4_K, Q5_K, Q6_K weights x Q8_K activations: super-blocks of 256 ------------------ */

QL_INLINE int is_k(uint32_t type) {
    return type == QL_TYPE_Q4_K || type == QL_TYPE_Q5_K || type == QL_TYPE_Q6_K;
}

QL_INLINE size_t k_block_bytes(uint32_t type) {
    return type == QL_TYPE_Q4_K ? sizeof(ql_block_q4_k)
                                : type == QL_TYPE_Q5_K ? sizeof(ql_block_q5_k) : sizeof(ql_block_q6_k);
}

/* A weight super-block's scales. */
typedef struct k_scales {
    int32_t sc[16];  /* Q4_K/Q5_K: sc[j] of sub-block j of 32 (8); Q6_K: scales[j] of 16 (16) */
    int16x8_t mn;    /* Q4_K/Q5_K: mn[j] */
    uint16_t d, dmin;
} k_scales;

QL_INLINE void k_scales_load(uint32_t type, const uint8_t *blk, k_scales *s) {
    if (type == QL_TYPE_Q6_K) {
        const ql_block_q6_k *b = (const ql_block_q6_k *)blk;
        for (int j = 0; j < 16; j++) s->sc[j] = b->scales[j];
        s->d = b->d;
        return;
    }
    /* 6-bit codes (quant/formats.h), bytewise in 32-bit words: sc[0..3] = p[0..3] & 63,
     * mn[0..3] = p[4..7] & 63, sc[4..7] = p[8..11] & 15 | (p[0..3] >> 6) << 4,
     * mn[4..7] = p[8..11] >> 4 | (p[4..7] >> 6) << 4. */
    const ql_block_q4_k *b = (const ql_block_q4_k *)blk; /* Q5_K starts alike */
    uint32_t a[3];
    memcpy(a, b->scales, sizeof a);
    uint32_t sc_hi = (a[2] & 0x0f0f0f0fu) | ((a[0] >> 6) & 0x03030303u) << 4;
    uint32_t mn_hi = ((a[2] >> 4) & 0x0f0f0f0fu) | ((a[1] >> 6) & 0x03030303u) << 4;
    uint64_t sc = (a[0] & 0x3f3f3f3fu) | (uint64_t)sc_hi << 32;
    uint64_t mn = (a[1] & 0x3f3f3f3fu) | (uint64_t)mn_hi << 32;
    for (int j = 0; j < 8; j++) s->sc[j] = (int32_t)(sc >> 8 * j & 0xff);
    s->mn = vreinterpretq_s16_u16(vmovl_u8(vcreate_u8(mn)));
    s->d = b->d;
    s->dmin = b->dmin;
}

/* Elements 64c .. 64c+63 of a super-block as 4 int8x16 (16 consecutive elements each):
 * the levels (Q4_K 0..15, Q5_K 0..31) or, for Q6_K, the levels minus 32 (-32..31). */
QL_INLINE void k_weights(uint32_t type, const uint8_t *blk, int c, int8x16_t w[4]) {
    const uint8x16_t m4 = vdupq_n_u8(15);
    if (type == QL_TYPE_Q6_K) {
        /* chunk c = 2h + u of half h (ql + 64h, qh + 32h): u = 0 takes the low nibbles and
         * qh bits 0-1 (elements l < 32) / 2-3 (32 <= l < 64); u = 1 the high nibbles and
         * bits 4-5 / 6-7. */
        const ql_block_q6_k *b = (const ql_block_q6_k *)blk;
        int h = c >> 1, u = c & 1;
        const uint8_t *ql = b->ql + 64 * h, *qh = b->qh + 32 * h;
        const uint8x16_t m30 = vdupq_n_u8(0x30);
        uint8x16_t hs[2];
        for (int v = 0; v < 2; v++) {
            uint8x16_t q = vld1q_u8(qh + 16 * v);
            hs[v] = u ? vshrq_n_u8(q, 4) : q;
        }
        for (int v = 0; v < 4; v++) {
            uint8x16_t l = vld1q_u8(ql + 16 * v);
            l = u ? vshrq_n_u8(l, 4) : vandq_u8(l, m4);
            uint8x16_t hb = v < 2 ? vshlq_n_u8(hs[v & 1], 4) : vshlq_n_u8(hs[v & 1], 2);
            uint8x16_t q = vorrq_u8(l, vandq_u8(hb, m30));
            w[v] = vsubq_s8(vreinterpretq_s8_u8(q), vdupq_n_s8(32));
        }
        return;
    }
    /* Q4_K / Q5_K: qs[32c .. 32c+31]: sub-block 2c in the low nibbles, 2c+1 in the high */
    const uint8_t *qs = type == QL_TYPE_Q4_K ? ((const ql_block_q4_k *)blk)->qs
                                             : ((const ql_block_q5_k *)blk)->qs;
    uint8x16_t q0 = vld1q_u8(qs + 32 * c), q1 = vld1q_u8(qs + 32 * c + 16);
    uint8x16_t l[4] = {vandq_u8(q0, m4), vandq_u8(q1, m4), vshrq_n_u8(q0, 4), vshrq_n_u8(q1, 4)};
    if (type == QL_TYPE_Q5_K) {
        /* bit 4 of element 32j + i is bit j of qh[i]: qh shifted left by 4 - j (right for
         * j > 4), masked to 16 */
        const uint8_t *qhp = ((const ql_block_q5_k *)blk)->qh;
        uint8x16_t qh[2] = {vld1q_u8(qhp), vld1q_u8(qhp + 16)};
        for (int v = 0; v < 4; v++) {
            int j = 2 * c + (v >> 1);
            uint8x16_t bit = vshlq_u8(qh[v & 1], vdupq_n_s8((int8_t)(4 - j)));
            l[v] = vorrq_u8(l[v], vandq_u8(bit, vdupq_n_u8(16)));
        }
    }
    for (int v = 0; v < 4; v++) w[v] = vreinterpretq_s8_u8(l[v]);
}

/* acc += sum over chunk c of the scaled sub-block dots of weights w and activations x. */
QL_INLINE int32x4_t k_chunk_dot(uint32_t type, int32x4_t acc, const int8x16_t w[4],
                                const int8x16_t x[4], const int32_t *sc, int c, int dp) {
    if (type == QL_TYPE_Q6_K) {
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) acc = vmlaq_n_s32(acc, dot16(w[v], x[v], dp), sc[4 * c + v]);
        return acc;
    }
    acc = vmlaq_n_s32(acc, dot32(w[0], w[1], x[0], x[1], dp), sc[2 * c]);
    return vmlaq_n_s32(acc, dot32(w[2], w[3], x[2], x[3], dp), sc[2 * c + 1]);
}

/* sum_j mn[j] * (sum of the activations of sub-block j of 32), spread over 4 lanes; bs32:
 * the 8 sub-block sums (each <= 32 * 127 in magnitude: int16). */
QL_INLINE int32x4_t k_min_dot(int16x8_t mn, int16x8_t bs32) {
    return vmlal_high_s16(vmull_s16(vget_low_s16(mn), vget_low_s16(bs32)), mn, bs32);
}

/* y[t0 + j, r0 + i] for i < R (runtime, <= 4), j < T (constant after inlining). */
QL_INLINE void ktile(const char *w, size_t row_bytes, int64_t nb, const char *x,
                     size_t x_row_bytes, float *y, int64_t ldy, int64_t r0, int R, int64_t t0,
                     int T, uint32_t type, int dp) {
    const size_t bs = k_block_bytes(type);
    const char *wr[QR];
    const ql_block_q8_k *xb[KT];
    float32x4_t acc[KT];
#pragma GCC unroll 4
    for (int i = 0; i < QR; i++) wr[i] = w + (size_t)(r0 + (i < R ? i : 0)) * row_bytes;
#pragma GCC unroll 2
    for (int j = 0; j < T; j++) {
        xb[j] = (const ql_block_q8_k *)(x + (size_t)(t0 + j) * x_row_bytes);
        acc[j] = vdupq_n_f32(0.0f);
    }
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk[QR];
        k_scales s[QR];
        int32x4_t ai[KT][QR];
#pragma GCC unroll 4
        for (int i = 0; i < QR; i++) {
            blk[i] = (const uint8_t *)wr[i] + (size_t)b * bs;
            k_scales_load(type, blk[i], &s[i]);
        }
#pragma GCC unroll 2
        for (int j = 0; j < T; j++)
#pragma GCC unroll 4
            for (int i = 0; i < QR; i++) ai[j][i] = vdupq_n_s32(0);
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            int8x16_t xv[KT][4];
#pragma GCC unroll 2
            for (int j = 0; j < T; j++)
#pragma GCC unroll 4
                for (int v = 0; v < 4; v++) xv[j][v] = vld1q_s8(xb[j][b].qs + 64 * c + 16 * v);
#pragma GCC unroll 4
            for (int i = 0; i < QR; i++) {
                int8x16_t wv[4];
                k_weights(type, blk[i], c, wv);
#pragma GCC unroll 2
                for (int j = 0; j < T; j++)
                    ai[j][i] = k_chunk_dot(type, ai[j][i], wv, xv[j], s[i].sc, c, dp);
            }
        }
        float32x4_t dw = f16x4(s[0].d, s[1].d, s[2].d, s[3].d);
        float32x4_t dmin = type == QL_TYPE_Q6_K ? dw : f16x4(s[0].dmin, s[1].dmin, s[2].dmin, s[3].dmin);
#pragma GCC unroll 2
        for (int j = 0; j < T; j++) {
            float32x4_t dx = vdupq_n_f32(xb[j][b].d);
            float32x4_t fi = vcvtq_f32_s32(hsum4x4(ai[j]));
            if (type == QL_TYPE_Q6_K) {
                acc[j] = vaddq_f32(acc[j], vmulq_f32(vmulq_f32(dx, dw), fi));
                continue;
            }
            const int16_t *bsums = xb[j][b].bsums;
            int16x8_t bs32 = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
            int32x4_t m[QR];
#pragma GCC unroll 4
            for (int i = 0; i < QR; i++) m[i] = k_min_dot(s[i].mn, bs32);
            float32x4_t fm = vcvtq_f32_s32(hsum4x4(m));
            float32x4_t inner = vsubq_f32(vmulq_f32(dw, fi), vmulq_f32(dmin, fm));
            acc[j] = vaddq_f32(acc[j], vmulq_f32(dx, inner));
        }
    }
#pragma GCC unroll 2
    for (int j = 0; j < T; j++) {
        float out[QR];
        vst1q_f32(out, acc[j]);
        for (int i = 0; i < R; i++) y[(t0 + j) * ldy + r0 + i] = out[i];
    }
}

/* ---- matmul entries: tiles of 4 rows x QT (KT) tokens, then the token remainder --------- */

QL_INLINE void qmatmul(const void *wv, size_t row_bytes, int64_t k, const void *xv,
                       size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,
                       int64_t r1, uint32_t type, int dp) {
    const char *w = wv, *x = xv;
    int64_t nb = k / (is_k(type) ? QL_QK_K : QL_QK);
    for (int64_t r = r0; r < r1; r += QR) {
        int R = r1 - r < QR ? (int)(r1 - r) : QR;
        int64_t t = 0;
        if (is_k(type)) {
            for (; t + KT <= n_tok; t += KT)
                ktile(w, row_bytes, nb, x, x_row_bytes, y, ldy, r, R, t, KT, type, dp);
            if (t < n_tok) ktile(w, row_bytes, nb, x, x_row_bytes, y, ldy, r, R, t, 1, type, dp);
            continue;
        }
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
QL_DEFINE_QMATMUL(matmul_q4_k_sdot, QL_TYPE_Q4_K, 1)
QL_DEFINE_QMATMUL(matmul_q5_k_sdot, QL_TYPE_Q5_K, 1)
QL_DEFINE_QMATMUL(matmul_q6_k_sdot, QL_TYPE_Q6_K, 1)
QL_DEFINE_QMATMUL(matmul_q4_k_smull, QL_TYPE_Q4_K, 0)
QL_DEFINE_QMATMUL(matmul_q5_k_smull, QL_TYPE_Q5_K, 0)
QL_DEFINE_QMATMUL(matmul_q6_k_smull, QL_TYPE_Q6_K, 0)

/* ---- activation quantizers: the bytes of quant/q8_0.c and quant/k_quants.c ------------- */

/* Levels of 8 floats, as ql_quant_round(v * id, -127, 127): clamped, then rounded to
 * nearest even (fcvtns, as lrintf in the default mode). */
QL_INLINE int16x8_t levels8(float32x4_t a, float32x4_t b, float32x4_t id) {
    float32x4_t lo = vdupq_n_f32(-127.0f), hi = vdupq_n_f32(127.0f);
    int32x4_t qa = vcvtnq_s32_f32(vminq_f32(vmaxq_f32(vmulq_f32(a, id), lo), hi));
    int32x4_t qb = vcvtnq_s32_f32(vminq_f32(vmaxq_f32(vmulq_f32(b, id), lo), hi));
    return vcombine_s16(vmovn_s32(qa), vmovn_s32(qb));
}

/* max |x[i]| over n (a multiple of 4) floats, with fmaxf's NaN rule (fmaxnm). */
QL_INLINE float amax_of(const float *x, int n) {
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int i = 0; i < n; i += 4) m = vmaxnmq_f32(m, vabsq_f32(vld1q_f32(x + i)));
    return vmaxnmvq_f32(m);
}

/* Q8_0 activations, byte for byte as ql_quantize_row_q8_0: amax, the f16 scale rounded up
 * by the shared helper, then the levels of x * (1/d). */
static void quantize_row_q8_0(const float *x, void *dst, int64_t n) {
    ql_block_q8_0 *out = dst;
    for (int64_t b = 0; b < n / QL_QK; b++, x += QL_QK) {
        uint16_t d = ql_f16_round_up(amax_of(x, QL_QK) / 127.0f);
        float32x4_t id = vdupq_n_f32(ql_quant_inv(ql_f16_to_f32(d)));
        int16x8_t q16[4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++) q16[i] = levels8(vld1q_f32(x + 8 * i), vld1q_f32(x + 8 * i + 4), id);
        out[b].d = d;
        vst1q_s8(out[b].qs, vcombine_s8(vmovn_s16(q16[0]), vmovn_s16(q16[1])));
        vst1q_s8(out[b].qs + 16, vcombine_s8(vmovn_s16(q16[2]), vmovn_s16(q16[3])));
    }
}

/* Q8_K activations, byte for byte as ql_q8_k_pack: d = amax / 127 in float32 (the same
 * guards for amax near FLT_MAX and an underflowing scale), levels of x * (1/d), and bsums
 * (each sum of 16 levels is at most 16 * 127: int16 lanes suffice). */
static void quantize_row_q8_k(const float *x, void *dst, int64_t n) {
    ql_block_q8_k *out = dst;
    for (int64_t b = 0; b < n / QL_QK_K; b++, x += QL_QK_K) {
        float d = amax_of(x, QL_QK_K) / 127.0f;
        if (!isfinite(d * 127.0f)) d = nextafterf(d, 0.0f);
        float inv = ql_quant_inv(d);
        if (inv == 0.0f) d = 0.0f;
        out[b].d = d;
        float32x4_t id = vdupq_n_f32(inv);
        for (int g = 0; g < QL_QK_K / 16; g++) {
            const float *v = x + 16 * g;
            int16x8_t lo = levels8(vld1q_f32(v), vld1q_f32(v + 4), id);
            int16x8_t hi = levels8(vld1q_f32(v + 8), vld1q_f32(v + 12), id);
            vst1q_s8(out[b].qs + 16 * g, vcombine_s8(vmovn_s16(lo), vmovn_s16(hi)));
            out[b].bsums[g] = vaddvq_s16(vaddq_s16(lo, hi));
        }
    }
}

void ql_kernels_init_neon_quant(ql_kernel_table *t, bool dotprod) {
    t->from_float[QL_TYPE_Q8_0] = quantize_row_q8_0;
    t->matmul[QL_TYPE_Q8_0] = dotprod ? matmul_q8_0_sdot : matmul_q8_0_smull;
    t->matmul[QL_TYPE_Q4_0] = dotprod ? matmul_q4_0_sdot : matmul_q4_0_smull;
    t->matmul[QL_TYPE_Q4_1] = dotprod ? matmul_q4_1_sdot : matmul_q4_1_smull;
    t->from_float[QL_TYPE_Q8_K] = quantize_row_q8_k;
    t->matmul[QL_TYPE_Q4_K] = dotprod ? matmul_q4_k_sdot : matmul_q4_k_smull;
    t->matmul[QL_TYPE_Q5_K] = dotprod ? matmul_q5_k_sdot : matmul_q5_k_smull;
    t->matmul[QL_TYPE_Q6_K] = dotprod ? matmul_q6_k_sdot : matmul_q6_k_smull;
}
