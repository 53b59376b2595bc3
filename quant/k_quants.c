/*
 * quant/k_quants.c: the k-quant super-blocks (256 elements): Q4_K, Q5_K, Q6_K weights and
 * Q8_K, the 8-bit activation format their dot products read. Layouts: quant/formats.h.
 */
#include <math.h>
#include <string.h>

#include "formats.h"
#include "types.h"

enum { N_SUB_K = 8, SUB_K = 32, N_SUB_Q6 = 16, SUB_Q6 = 16 };

/* Smallest integer >= v, clamped to [0, hi]; v >= 0 and finite. */
static int ceil_code(float v, int hi) {
    float c = ceilf(v);
    return c > (float)hi ? hi : (int)c;
}

/* ---- Q4_K / Q5_K: shared scale packing and scale choice ------------------------------ */

void ql_k_scales_unpack(const uint8_t p[QL_K_SCALE_BYTES], uint8_t sc[8], uint8_t mn[8]) {
    for (int j = 0; j < 4; j++) {
        sc[j] = p[j] & 63;
        mn[j] = p[j + 4] & 63;
    }
    for (int j = 4; j < 8; j++) {
        sc[j] = (uint8_t)((p[j + 4] & 15) | (p[j - 4] >> 6) << 4);
        mn[j] = (uint8_t)((p[j + 4] >> 4) | (p[j] >> 6) << 4);
    }
}

void ql_k_scales_pack(uint8_t p[QL_K_SCALE_BYTES], const uint8_t sc[8], const uint8_t mn[8]) {
    /* bytes 0..3: sc[0..3] | top 2 bits of sc[4..7]; bytes 4..7: mn[0..3] | top 2 bits of
     * mn[4..7]; bytes 8..11: low 4 bits of sc[4..7] | low 4 bits of mn[4..7] << 4 */
    for (int j = 0; j < 4; j++) {
        p[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        p[j + 4] = (uint8_t)(mn[j] | (mn[j + 4] >> 4) << 6);
        p[j + 8] = (uint8_t)((sc[j + 4] & 15) | (mn[j + 4] & 15) << 4);
    }
}

/* Range-covering scales for `levels` + 1 levels per sub-block (see formats.h). */
static void k_choose(const float x[QL_QK_K], int levels, ql_k_scales *s) {
    float lo[N_SUB_K], hi[N_SUB_K], mn_max = 0.0f;
    for (int j = 0; j < N_SUB_K; j++) {
        const float *v = x + j * SUB_K;
        lo[j] = 0.0f; /* the bottom is min(0, min): mins are stored as non-negative codes */
        hi[j] = v[0];
        for (int l = 0; l < SUB_K; l++) {
            lo[j] = fminf(lo[j], v[l]);
            hi[j] = fmaxf(hi[j], v[l]);
        }
        mn_max = fmaxf(mn_max, -lo[j]);
    }
    s->dmin = ql_f16_round_up(mn_max / 63.0f);
    float dmin = ql_f16_to_f32(s->dmin), idmin = ql_quant_inv(dmin), step_max = 0.0f;
    float step[N_SUB_K];
    for (int j = 0; j < N_SUB_K; j++) {
        s->mn[j] = (uint8_t)ceil_code(-lo[j] * idmin, 63);
        float bottom = -dmin * (float)s->mn[j]; /* <= lo[j] */
        step[j] = (hi[j] / 2.0f - bottom / 2.0f) / ((float)levels / 2.0f);
        step_max = fmaxf(step_max, step[j]);
    }
    s->d = ql_f16_round_up(step_max / 63.0f);
    float id = ql_quant_inv(ql_f16_to_f32(s->d));
    for (int j = 0; j < N_SUB_K; j++) s->sc[j] = (uint8_t)ceil_code(step[j] * id, 63);
}

/* Level of each element on its sub-block's grid -dmin*mn + d*sc*q, q in 0..levels. */
static void k_levels_for(const float x[QL_QK_K], const ql_k_scales *s, int levels,
                         uint8_t q[QL_QK_K]) {
    float d = ql_f16_to_f32(s->d), dmin = ql_f16_to_f32(s->dmin);
    for (int j = 0; j < N_SUB_K; j++) {
        float step = d * (float)s->sc[j], bottom = dmin * (float)s->mn[j];
        float inv = ql_quant_inv(step);
        for (int l = 0; l < SUB_K; l++)
            q[j * SUB_K + l] = (uint8_t)ql_quant_round((x[j * SUB_K + l] + bottom) * inv, 0, levels);
    }
}

/* y = d*sc[j]*q - dmin*mn[j] over the 8 sub-blocks. */
static void k_dequantize(uint16_t d16, uint16_t dmin16, const uint8_t packed[QL_K_SCALE_BYTES],
                         const uint8_t q[QL_QK_K], float *y) {
    uint8_t sc[N_SUB_K], mn[N_SUB_K];
    ql_k_scales_unpack(packed, sc, mn);
    float d = ql_f16_to_f32(d16), dmin = ql_f16_to_f32(dmin16);
    for (int j = 0; j < N_SUB_K; j++) {
        float step = d * (float)sc[j], bottom = dmin * (float)mn[j];
        for (int l = 0; l < SUB_K; l++) y[j * SUB_K + l] = step * (float)q[j * SUB_K + l] - bottom;
    }
}

/* ---- Q4_K ----------------------------------------------------------------------------- */

void ql_q4_k_choose(const float x[QL_QK_K], ql_k_scales *s) { k_choose(x, 15, s); }

void ql_q4_k_pack(ql_block_q4_k *b, const float x[QL_QK_K], const ql_k_scales *s) {
    uint8_t q[QL_QK_K];
    k_levels_for(x, s, 15, q);
    b->d = s->d;
    b->dmin = s->dmin;
    ql_k_scales_pack(b->scales, s->sc, s->mn);
    /* 64-element chunk p: sub-block 2p in the low nibbles of qs[32p..], 2p+1 in the high */
    for (int p = 0; p < 4; p++)
        for (int l = 0; l < 32; l++)
            b->qs[32 * p + l] = (uint8_t)(q[64 * p + l] | q[64 * p + 32 + l] << 4);
}

void ql_q4_k_levels(const ql_block_q4_k *b, uint8_t q[QL_QK_K]) {
    for (int p = 0; p < 4; p++)
        for (int l = 0; l < 32; l++) {
            q[64 * p + l] = b->qs[32 * p + l] & 15;
            q[64 * p + 32 + l] = b->qs[32 * p + l] >> 4;
        }
}

void ql_quantize_row_q4_k(const float *x, void *dst, int64_t n) {
    ql_block_q4_k *b = dst;
    for (int64_t i = 0; i < n / QL_QK_K; i++, x += QL_QK_K) {
        ql_k_scales s;
        ql_q4_k_choose(x, &s);
        ql_q4_k_pack(&b[i], x, &s);
    }
}

void ql_dequantize_row_q4_k(const void *src, float *y, int64_t n) {
    const ql_block_q4_k *b = src;
    uint8_t q[QL_QK_K];
    for (int64_t i = 0; i < n / QL_QK_K; i++, y += QL_QK_K) {
        ql_q4_k_levels(&b[i], q);
        k_dequantize(b[i].d, b[i].dmin, b[i].scales, q, y);
    }
}

/* ---- Q5_K ----------------------------------------------------------------------------- */

void ql_q5_k_choose(const float x[QL_QK_K], ql_k_scales *s) { k_choose(x, 31, s); }

void ql_q5_k_pack(ql_block_q5_k *b, const float x[QL_QK_K], const ql_k_scales *s) {
    uint8_t q[QL_QK_K];
    k_levels_for(x, s, 31, q);
    b->d = s->d;
    b->dmin = s->dmin;
    ql_k_scales_pack(b->scales, s->sc, s->mn);
    memset(b->qh, 0, sizeof b->qh);
    for (int p = 0; p < 4; p++)
        for (int l = 0; l < 32; l++)
            b->qs[32 * p + l] = (uint8_t)((q[64 * p + l] & 15) | (q[64 * p + 32 + l] & 15) << 4);
    /* bit 4 of element 32j + l is bit j of qh[l] */
    for (int j = 0; j < N_SUB_K; j++)
        for (int l = 0; l < 32; l++) b->qh[l] |= (uint8_t)((q[32 * j + l] >> 4) << j);
}

void ql_q5_k_levels(const ql_block_q5_k *b, uint8_t q[QL_QK_K]) {
    for (int p = 0; p < 4; p++)
        for (int l = 0; l < 32; l++) {
            q[64 * p + l] = b->qs[32 * p + l] & 15;
            q[64 * p + 32 + l] = b->qs[32 * p + l] >> 4;
        }
    for (int j = 0; j < N_SUB_K; j++)
        for (int l = 0; l < 32; l++) q[32 * j + l] |= (uint8_t)(((b->qh[l] >> j) & 1) << 4);
}

void ql_quantize_row_q5_k(const float *x, void *dst, int64_t n) {
    ql_block_q5_k *b = dst;
    for (int64_t i = 0; i < n / QL_QK_K; i++, x += QL_QK_K) {
        ql_k_scales s;
        ql_q5_k_choose(x, &s);
        ql_q5_k_pack(&b[i], x, &s);
    }
}

void ql_dequantize_row_q5_k(const void *src, float *y, int64_t n) {
    const ql_block_q5_k *b = src;
    uint8_t q[QL_QK_K];
    for (int64_t i = 0; i < n / QL_QK_K; i++, y += QL_QK_K) {
        ql_q5_k_levels(&b[i], q);
        k_dequantize(b[i].d, b[i].dmin, b[i].scales, q, y);
    }
}

/* ---- Q6_K ----------------------------------------------------------------------------- */

void ql_q6_k_choose(const float x[QL_QK_K], ql_q6_k_scales *s) {
    float step[N_SUB_Q6], step_max = 0.0f;
    for (int j = 0; j < N_SUB_Q6; j++) {
        float amax = 0.0f;
        for (int l = 0; l < SUB_Q6; l++) amax = fmaxf(amax, fabsf(x[j * SUB_Q6 + l]));
        step[j] = amax / 31.0f;
        step_max = fmaxf(step_max, step[j]);
    }
    s->d = ql_f16_round_up(step_max / 127.0f);
    float id = ql_quant_inv(ql_f16_to_f32(s->d));
    for (int j = 0; j < N_SUB_Q6; j++) s->sc[j] = (int8_t)ceil_code(step[j] * id, 127);
}

void ql_q6_k_pack(ql_block_q6_k *b, const float x[QL_QK_K], const ql_q6_k_scales *s) {
    uint8_t q[QL_QK_K];
    float d = ql_f16_to_f32(s->d);
    for (int j = 0; j < N_SUB_Q6; j++) {
        float inv = ql_quant_inv(d * (float)s->sc[j]);
        for (int l = 0; l < SUB_Q6; l++)
            q[j * SUB_Q6 + l] = (uint8_t)(ql_quant_round(x[j * SUB_Q6 + l] * inv, -32, 31) + 32);
    }
    b->d = s->d;
    memcpy(b->scales, s->sc, sizeof b->scales);
    /* half h: elements 128h + 32c + l, c = 0..3: low nibbles in ql[64h + l] (c = 0, 2: low /
     * high nibble) and ql[64h + 32 + l] (c = 1, 3); high 2 bits at bits 2c of qh[32h + l] */
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t *v = q + 128 * h + l;
            b->ql[64 * h + l] = (uint8_t)((v[0] & 15) | (v[64] & 15) << 4);
            b->ql[64 * h + 32 + l] = (uint8_t)((v[32] & 15) | (v[96] & 15) << 4);
            b->qh[32 * h + l] = (uint8_t)(v[0] >> 4 | (v[32] >> 4) << 2 | (v[64] >> 4) << 4 |
                                          (v[96] >> 4) << 6);
        }
}

void ql_q6_k_levels(const ql_block_q6_k *b, uint8_t q[QL_QK_K]) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const uint8_t lo = b->ql[64 * h + l], lo2 = b->ql[64 * h + 32 + l];
            const uint8_t hi = b->qh[32 * h + l];
            uint8_t *v = q + 128 * h + l;
            v[0] = (uint8_t)((lo & 15) | (hi & 3) << 4);
            v[32] = (uint8_t)((lo2 & 15) | ((hi >> 2) & 3) << 4);
            v[64] = (uint8_t)((lo >> 4) | ((hi >> 4) & 3) << 4);
            v[96] = (uint8_t)((lo2 >> 4) | ((hi >> 6) & 3) << 4);
        }
}

void ql_quantize_row_q6_k(const float *x, void *dst, int64_t n) {
    ql_block_q6_k *b = dst;
    for (int64_t i = 0; i < n / QL_QK_K; i++, x += QL_QK_K) {
        ql_q6_k_scales s;
        ql_q6_k_choose(x, &s);
        ql_q6_k_pack(&b[i], x, &s);
    }
}

void ql_dequantize_row_q6_k(const void *src, float *y, int64_t n) {
    const ql_block_q6_k *b = src;
    uint8_t q[QL_QK_K];
    for (int64_t i = 0; i < n / QL_QK_K; i++, y += QL_QK_K) {
        ql_q6_k_levels(&b[i], q);
        float d = ql_f16_to_f32(b[i].d);
        for (int j = 0; j < N_SUB_Q6; j++) {
            float step = d * (float)b[i].scales[j];
            for (int l = 0; l < SUB_Q6; l++)
                y[j * SUB_Q6 + l] = step * (float)(q[j * SUB_Q6 + l] - 32);
        }
    }
}

/* ---- Q8_K ----------------------------------------------------------------------------- */

void ql_q8_k_pack(ql_block_q8_k *b, const float x[QL_QK_K]) {
    float amax = 0.0f;
    for (int i = 0; i < QL_QK_K; i++) amax = fmaxf(amax, fabsf(x[i]));
    b->d = amax / 127.0f;
    if (!isfinite(b->d * 127.0f)) b->d = nextafterf(b->d, 0.0f); /* amax near FLT_MAX */
    float id = ql_quant_inv(b->d);
    if (id == 0.0f) b->d = 0.0f; /* scale underflowed: the block is zeros */
    for (int i = 0; i < QL_QK_K; i++) b->qs[i] = (int8_t)ql_quant_round(x[i] * id, -127, 127);
    for (int g = 0; g < QL_QK_K / 16; g++) {
        int sum = 0;
        for (int l = 0; l < 16; l++) sum += b->qs[16 * g + l];
        b->bsums[g] = (int16_t)sum;
    }
}

void ql_quantize_row_q8_k(const float *x, void *dst, int64_t n) {
    ql_block_q8_k *b = dst;
    for (int64_t i = 0; i < n / QL_QK_K; i++, x += QL_QK_K) ql_q8_k_pack(&b[i], x);
}

void ql_dequantize_row_q8_k(const void *src, float *y, int64_t n) {
    const ql_block_q8_k *b = src;
    for (int64_t i = 0; i < n / QL_QK_K; i++, y += QL_QK_K)
        for (int j = 0; j < QL_QK_K; j++) y[j] = b[i].d * (float)b[i].qs[j];
}
