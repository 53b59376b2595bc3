/*
 * quant/llamacpp_ref.c: llama.cpp's reference quantizer, for comparisons (quantize.h).
 *
 * llama.cpp writes a tensor without an importance matrix with its "reference" row
 * quantizers. To show how qloop's error search compares with what users get from
 * llama.cpp on the same tensors, this file implements the same algorithm, from the
 * published description of those routines (ggml's quantize_row_*_ref):
 *
 *   Q8_0  d = amax / 127; levels round(x / d), ties away from zero.
 *   Q4_0  d = -m / 8 with m the element of largest magnitude (sign kept), so m sits on
 *         level -8; levels trunc(x / d + 8.5) capped at 15.
 *   Q4_1  d = (max - min) / 15, m = min; levels trunc((x - min) / d + 0.5) capped at 15.
 *   Q4_K / Q5_K  per sub-block of 32, weights w = rms(sub-block) + |x|: a least-squares
 *         fit of (scale, min) to the levels of 21 (Q4_K: steps L - 1 + 0.1 s, s = 0..20) or
 *         16 (Q5_K: L - 0.5 + 0.1 s) candidate grids spanning [min(0, x_min), x_max], the
 *         fit of least weighted squared error kept; then scale and min codes
 *         round(63 * v / max v) against d = max scale / 63, dmin = max min / 63, and every
 *         element re-rounded to the coded grid.
 *   Q6_K  per sub-block of 16, weights x^2: the step of least weighted error among the
 *         grids putting the largest-magnitude element on level -32 + 0.1 s, s = -9..9
 *         (least-squares scale for each), then codes round(-128 * s_j / s_max) (capped at
 *         127) against d = -s_max / 128, elements re-rounded.
 * Stored f16 scales round to nearest. Rounding to integers is to nearest, ties to even,
 * where ggml uses its nearest_int. Results can differ from llama.cpp's bytes in rare ties
 * where its build contracts a multiply-add; the error statistics do not.
 */
#include <math.h>
#include <string.h>

#include "formats.h"
#include "quantize.h"
#include "types.h"

static int nearest(float v) { return (int)lrintf(v); }
static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

static void row_q8_0(const float *x, ql_block_q8_0 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QL_QK) {
        float amax = 0.0f;
        for (int j = 0; j < QL_QK; j++) amax = fmaxf(amax, fabsf(x[j]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = ql_f32_to_f16(d);
        for (int j = 0; j < QL_QK; j++) b[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

static void row_q4_0(const float *x, ql_block_q4_0 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QL_QK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < QL_QK; j++)
            if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
        float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = ql_f32_to_f16(d);
        for (int j = 0; j < QL_QK / 2; j++) {
            int lo = (int)(int8_t)(x[j] * id + 8.5f), hi = (int)(int8_t)(x[j + QL_QK / 2] * id + 8.5f);
            b[i].qs[j] = (uint8_t)((lo < 15 ? lo : 15) | (hi < 15 ? hi : 15) << 4);
        }
    }
}

static void row_q4_1(const float *x, ql_block_q4_1 *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QL_QK) {
        float min = x[0], max = x[0];
        for (int j = 1; j < QL_QK; j++) min = fminf(min, x[j]), max = fmaxf(max, x[j]);
        float d = (max - min) / 15.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = ql_f32_to_f16(d);
        b[i].m = ql_f32_to_f16(min);
        for (int j = 0; j < QL_QK / 2; j++) {
            int lo = (int)(int8_t)((x[j] - min) * id + 0.5f);
            int hi = (int)(int8_t)((x[j + QL_QK / 2] - min) * id + 0.5f);
            b[i].qs[j] = (uint8_t)((lo < 15 ? lo : 15) | (hi < 15 ? hi : 15) << 4);
        }
    }
}

/* Scale and min (returned as -min >= 0 in *neg_min) of one sub-block on levels 0..nmax:
 * the weighted least-squares fit over nstep + 1 candidate grids (see the header). */
static float fit_affine(const float *x, const float *w, int n, int nmax, float rmin,
                        float rdelta, int nstep, uint8_t *L, float *neg_min) {
    float min = x[0], max = x[0], sum_w = w[0], sum_x = w[0] * x[0];
    for (int i = 1; i < n; i++) {
        min = fminf(min, x[i]);
        max = fmaxf(max, x[i]);
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if (min > 0.0f) min = 0.0f;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *neg_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min), scale = 1.0f / iscale, best = 0.0f;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(nearest(iscale * (x[i] - min)), 0, nmax);
        float e = scale * L[i] + min - x[i];
        best += w[i] * e * e;
    }
    uint8_t aux[32];
    for (int s = 0; s <= nstep; s++) {
        iscale = (rmin + rdelta * (float)s + (float)nmax) / (max - min);
        float sl = 0.0f, sl2 = 0.0f, sxl = 0.0f;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest(iscale * (x[i] - min)), 0, nmax);
            aux[i] = (uint8_t)l;
            sl += w[i] * (float)l;
            sl2 += w[i] * (float)(l * l);
            sxl += w[i] * (float)l * x[i];
        }
        float det = sum_w * sl2 - sl * sl;
        if (det <= 0.0f) continue;
        float this_scale = (sum_w * sxl - sum_x * sl) / det;
        float this_min = (sl2 * sum_x - sl * sxl) / det;
        if (this_min > 0.0f) {
            this_min = 0.0f;
            this_scale = sxl / sl2;
        }
        float err = 0.0f;
        for (int i = 0; i < n; i++) {
            float e = this_scale * aux[i] + this_min - x[i];
            err += w[i] * e * e;
        }
        if (err < best) {
            memcpy(L, aux, (size_t)n);
            best = err;
            scale = this_scale;
            min = this_min;
        }
    }
    *neg_min = -min;
    return scale;
}

/* Q4_K (nmax 15) / Q5_K (31): codes and per-element levels of one super-block. */
static void k_super_block(const float *x, int nmax, ql_k_scales *s, uint8_t L[QL_QK_K]) {
    float scales[8], mins[8], w[32], max_scale = 0.0f, max_min = 0.0f;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        float sum2 = 0.0f;
        for (int l = 0; l < 32; l++) sum2 += xs[l] * xs[l];
        float av = sqrtf(sum2 / 32.0f);
        for (int l = 0; l < 32; l++) w[l] = av + fabsf(xs[l]);
        scales[j] = nmax == 15 ? fit_affine(xs, w, 32, 15, -1.0f, 0.1f, 20, L + 32 * j, &mins[j])
                               : fit_affine(xs, w, 32, 31, -0.5f, 0.1f, 15, L + 32 * j, &mins[j]);
        max_scale = fmaxf(max_scale, scales[j]);
        max_min = fmaxf(max_min, mins[j]);
    }
    float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
    float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
    for (int j = 0; j < 8; j++) {
        s->sc[j] = (uint8_t)clampi(nearest(inv_scale * scales[j]), 0, 63);
        s->mn[j] = (uint8_t)clampi(nearest(inv_min * mins[j]), 0, 63);
    }
    s->d = ql_f32_to_f16(max_scale / 63.0f);
    s->dmin = ql_f32_to_f16(max_min / 63.0f);
    for (int j = 0; j < 8; j++) {
        float d = ql_f16_to_f32(s->d) * s->sc[j];
        if (d == 0.0f) continue; /* the fitted levels stay */
        float dm = ql_f16_to_f32(s->dmin) * s->mn[j];
        for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)clampi(nearest((x[32 * j + l] + dm) / d), 0, nmax);
    }
}

/* Q4_K / Q5_K: fits one super-block (levels 0..nmax into L) and writes its header. */
static void k_header(const float *x, int nmax, uint16_t *d, uint16_t *dmin, uint8_t *scales,
                     uint8_t *L) {
    ql_k_scales s;
    k_super_block(x, nmax, &s, L);
    *d = s.d;
    *dmin = s.dmin;
    ql_k_scales_pack(scales, s.sc, s.mn);
}

static void row_q4_k(const float *x, ql_block_q4_k *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QL_QK_K) {
        uint8_t L[QL_QK_K];
        k_header(x, 15, &b[i].d, &b[i].dmin, b[i].scales, L);
        for (int p = 0; p < 4; p++)
            for (int l = 0; l < 32; l++)
                b[i].qs[32 * p + l] = (uint8_t)(L[64 * p + l] | L[64 * p + 32 + l] << 4);
    }
}

static void row_q5_k(const float *x, ql_block_q5_k *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QL_QK_K) {
        uint8_t L[QL_QK_K];
        k_header(x, 31, &b[i].d, &b[i].dmin, b[i].scales, L);
        memset(b[i].qh, 0, sizeof b[i].qh);
        for (int p = 0; p < 4; p++)
            for (int l = 0; l < 32; l++) {
                int lo = L[64 * p + l], hi = L[64 * p + 32 + l];
                b[i].qs[32 * p + l] = (uint8_t)((lo & 15) | (hi & 15) << 4);
                b[i].qh[l] |= (uint8_t)((lo >> 4) << (2 * p) | (hi >> 4) << (2 * p + 1));
            }
    }
}

/* Step of one Q6_K sub-block of 16 on levels -32..31 (L gets level + 32), weights x^2. */
static float fit_q6(const float *x, int8_t L[16]) {
    const int nmax = 32;
    float amax = 0.0f, max = 0.0f;
    for (int i = 0; i < 16; i++)
        if (fabsf(x[i]) > amax) amax = fabsf(x[i]), max = x[i];
    if (amax < 1e-15f) {
        memset(L, 0, 16);
        return 0.0f;
    }
    float iscale = -(float)nmax / max, sumlx = 0.0f, suml2 = 0.0f;
    for (int i = 0; i < 16; i++) {
        int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * (float)l;
        suml2 += w * (float)(l * l);
    }
    float scale = suml2 != 0.0f ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int s = -9; s <= 9; s++) {
        if (s == 0) continue;
        iscale = -((float)nmax + 0.1f * (float)s) / max;
        sumlx = suml2 = 0.0f;
        for (int i = 0; i < 16; i++) {
            int l = clampi(nearest(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * (float)l;
            suml2 += w * (float)(l * l);
        }
        if (suml2 > 0.0f && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < 16; i++) L[i] = (int8_t)(clampi(nearest(iscale * x[i]), -nmax, nmax - 1) + nmax);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

static void row_q6_k(const float *x, ql_block_q6_k *b, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += QL_QK_K) {
        int8_t L[QL_QK_K];
        float scales[16], max_scale = 0.0f, max_abs = 0.0f;
        for (int j = 0; j < 16; j++) {
            scales[j] = fit_q6(x + 16 * j, L + 16 * j);
            if (fabsf(scales[j]) > max_abs) max_abs = fabsf(scales[j]), max_scale = scales[j];
        }
        memset(&b[i], 0, sizeof b[i]);
        if (max_abs < 1e-15f) continue; /* an all-zero block */
        float iscale = -128.0f / max_scale;
        b[i].d = ql_f32_to_f16(1.0f / iscale);
        for (int j = 0; j < 16; j++) {
            int c = nearest(iscale * scales[j]);
            b[i].scales[j] = (int8_t)(c < 127 ? c : 127);
        }
        for (int j = 0; j < 16; j++) {
            float d = ql_f16_to_f32(b[i].d) * b[i].scales[j];
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; l++) L[16 * j + l] = (int8_t)(clampi(nearest(x[16 * j + l] / d), -32, 31) + 32);
        }
        for (int h = 0; h < 2; h++) {
            const int8_t *q = L + 128 * h;
            uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((q[l] & 15) | (q[l + 64] & 15) << 4);
                ql[l + 32] = (uint8_t)((q[l + 32] & 15) | (q[l + 96] & 15) << 4);
                qh[l] = (uint8_t)((q[l] >> 4) | (q[l + 32] >> 4) << 2 | (q[l + 64] >> 4) << 4 | (q[l + 96] >> 4) << 6);
            }
        }
    }
}

void ql_quantize_row_llamacpp(uint32_t type, const float *x, void *dst, int64_t k) {
    switch (type) {
    case QL_TYPE_Q8_0: row_q8_0(x, dst, k / QL_QK); break;
    case QL_TYPE_Q4_0: row_q4_0(x, dst, k / QL_QK); break;
    case QL_TYPE_Q4_1: row_q4_1(x, dst, k / QL_QK); break;
    case QL_TYPE_Q4_K: row_q4_k(x, dst, k / QL_QK_K); break;
    case QL_TYPE_Q5_K: row_q5_k(x, dst, k / QL_QK_K); break;
    case QL_TYPE_Q6_K: row_q6_k(x, dst, k / QL_QK_K); break;
    default: break;
    }
}
