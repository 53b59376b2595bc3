/*
 * simd/scalar_quant.c: scalar reference kernels for the quantized weight formats.
 *
 * Each dot product works block by block as the vector kernels do: the products of integer
 * levels are summed exactly in int32 within a block, then scaled once by the block's float
 * scales and added, left to right over the blocks, to a float accumulator:
 *
 *   vec_dot_q8_0_q8_0   sum_b dw*dx * sum_i qw[i]*qx[i]
 *   vec_dot_q4_0_q8_0   sum_b dw*dx * sum_i (qw[i]-8)*qx[i]
 *   vec_dot_q4_1_q8_0   sum_b dw*dx * sum_i qw[i]*qx[i] + m*dx * sum_i qx[i]
 *   vec_dot_q4_k_q8_k   sum_B dx * (d * sum_j sc[j] * sum_i q[i]*qx[i]
 *   vec_dot_q5_k_q8_k                - dmin * sum_j mn[j] * (bsums of sub-block j))
 *   vec_dot_q6_k_q8_k   sum_B dx * d * sum_j sc[j] * sum_i (q[i]-32)*qx[i]
 *
 * Integer bounds (|qx| <= 127): Q6_K, the largest, sums 256 terms of |sc*(q-32)*qx| <=
 * 128*32*127 = 520192, under 1.4e8: no int32 overflow.
 */
#include "kernels.h"
#include "quant/formats.h"

/* One output element: dot of a weight row (n elements, n / block blocks) with one
 * activation row in the weight type's activation format. */
typedef float (*vec_dot_fn)(int64_t n, const void *w, const void *x);

static float vec_dot_q8_0_q8_0(int64_t n, const void *wv, const void *xv) {
    const ql_block_q8_0 *w = wv, *x = xv;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK; b++) {
        int32_t isum = 0;
        for (int i = 0; i < QL_QK; i++) isum += (int32_t)w[b].qs[i] * x[b].qs[i];
        sum += ql_f16_to_f32(w[b].d) * ql_f16_to_f32(x[b].d) * (float)isum;
    }
    return sum;
}

static float vec_dot_q4_0_q8_0(int64_t n, const void *wv, const void *xv) {
    const ql_block_q4_0 *w = wv;
    const ql_block_q8_0 *x = xv;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK; b++) {
        int32_t isum = 0;
        for (int j = 0; j < QL_QK / 2; j++) {
            isum += ((w[b].qs[j] & 15) - 8) * x[b].qs[j];
            isum += ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + QL_QK / 2];
        }
        sum += ql_f16_to_f32(w[b].d) * ql_f16_to_f32(x[b].d) * (float)isum;
    }
    return sum;
}

static float vec_dot_q4_1_q8_0(int64_t n, const void *wv, const void *xv) {
    const ql_block_q4_1 *w = wv;
    const ql_block_q8_0 *x = xv;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK; b++) {
        int32_t isum = 0, xsum = 0;
        for (int j = 0; j < QL_QK / 2; j++) {
            isum += (w[b].qs[j] & 15) * x[b].qs[j] + (w[b].qs[j] >> 4) * x[b].qs[j + QL_QK / 2];
            xsum += x[b].qs[j] + x[b].qs[j + QL_QK / 2];
        }
        float dx = ql_f16_to_f32(x[b].d);
        sum += ql_f16_to_f32(w[b].d) * dx * (float)isum + ql_f16_to_f32(w[b].m) * dx * (float)xsum;
    }
    return sum;
}

/* sum_j sc[j] * (levels of sub-block j . activations), sub-blocks of 32 (Q4_K, Q5_K). */
static int32_t k_scaled_dot(const uint8_t q[QL_QK_K], const int8_t *qx, const uint8_t sc[8]) {
    int32_t total = 0;
    for (int j = 0; j < 8; j++) {
        int32_t isum = 0;
        for (int l = 0; l < 32; l++) isum += q[32 * j + l] * qx[32 * j + l];
        total += sc[j] * isum;
    }
    return total;
}

/* sum_j mn[j] * (sum of the activations of sub-block j), from the Q8_K bsums. */
static int32_t k_min_dot(const int16_t bsums[16], const uint8_t mn[8]) {
    int32_t total = 0;
    for (int j = 0; j < 8; j++) total += mn[j] * (bsums[2 * j] + bsums[2 * j + 1]);
    return total;
}

static float vec_dot_q4_k_q8_k(int64_t n, const void *wv, const void *xv) {
    const ql_block_q4_k *w = wv;
    const ql_block_q8_k *x = xv;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK_K; b++) {
        uint8_t q[QL_QK_K], sc[8], mn[8];
        ql_q4_k_levels(&w[b], q);
        ql_k_scales_unpack(w[b].scales, sc, mn);
        int32_t isum = k_scaled_dot(q, x[b].qs, sc), msum = k_min_dot(x[b].bsums, mn);
        sum += x[b].d * (ql_f16_to_f32(w[b].d) * (float)isum -
                         ql_f16_to_f32(w[b].dmin) * (float)msum);
    }
    return sum;
}

static float vec_dot_q5_k_q8_k(int64_t n, const void *wv, const void *xv) {
    const ql_block_q5_k *w = wv;
    const ql_block_q8_k *x = xv;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK_K; b++) {
        uint8_t q[QL_QK_K], sc[8], mn[8];
        ql_q5_k_levels(&w[b], q);
        ql_k_scales_unpack(w[b].scales, sc, mn);
        int32_t isum = k_scaled_dot(q, x[b].qs, sc), msum = k_min_dot(x[b].bsums, mn);
        sum += x[b].d * (ql_f16_to_f32(w[b].d) * (float)isum -
                         ql_f16_to_f32(w[b].dmin) * (float)msum);
    }
    return sum;
}

static float vec_dot_q6_k_q8_k(int64_t n, const void *wv, const void *xv) {
    const ql_block_q6_k *w = wv;
    const ql_block_q8_k *x = xv;
    float sum = 0.0f;
    for (int64_t b = 0; b < n / QL_QK_K; b++) {
        uint8_t q[QL_QK_K];
        ql_q6_k_levels(&w[b], q);
        int32_t total = 0;
        for (int j = 0; j < 16; j++) {
            int32_t isum = 0;
            for (int l = 0; l < 16; l++) isum += (q[16 * j + l] - 32) * x[b].qs[16 * j + l];
            total += w[b].scales[j] * isum;
        }
        sum += x[b].d * ql_f16_to_f32(w[b].d) * (float)total;
    }
    return sum;
}

/* The matmul contract of kernels.h: each y element is one vec_dot call, so its value does
 * not depend on r0, r1 or n_tok. */
static void matmul_rows(vec_dot_fn dot, const void *w, size_t row_bytes, int64_t k,
                        const void *x, size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy,
                        int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        const char *wr = (const char *)w + (size_t)r * row_bytes;
        for (int64_t t = 0; t < n_tok; t++)
            y[t * ldy + r] = dot(k, wr, (const char *)x + (size_t)t * x_row_bytes);
    }
}

#define QL_DEFINE_MATMUL(name, dot)                                                        \
    static void name(const void *w, size_t row_bytes, int64_t k, const void *x,             \
                     size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,  \
                     int64_t r1) {                                                          \
        matmul_rows(dot, w, row_bytes, k, x, x_row_bytes, n_tok, y, ldy, r0, r1);           \
    }

QL_DEFINE_MATMUL(matmul_q8_0, vec_dot_q8_0_q8_0)
QL_DEFINE_MATMUL(matmul_q4_0, vec_dot_q4_0_q8_0)
QL_DEFINE_MATMUL(matmul_q4_1, vec_dot_q4_1_q8_0)
QL_DEFINE_MATMUL(matmul_q4_k, vec_dot_q4_k_q8_k)
QL_DEFINE_MATMUL(matmul_q5_k, vec_dot_q5_k_q8_k)
QL_DEFINE_MATMUL(matmul_q6_k, vec_dot_q6_k_q8_k)

static void add_weight(ql_kernel_table *t, uint32_t type, ql_matmul_fn mm, uint32_t act,
                       ql_to_float_fn to_float) {
    t->matmul[type] = mm;
    t->act_type[type] = act;
    t->to_float[type] = to_float;
}

void ql_kernels_init_scalar_quant(ql_kernel_table *t) {
    t->from_float[QL_TYPE_Q8_0] = ql_quantize_row_q8_0;
    t->from_float[QL_TYPE_Q8_K] = ql_quantize_row_q8_k;
    t->to_float[QL_TYPE_Q8_K] = ql_dequantize_row_q8_k; /* activations, for tests */
    add_weight(t, QL_TYPE_Q8_0, matmul_q8_0, QL_TYPE_Q8_0, ql_dequantize_row_q8_0);
    add_weight(t, QL_TYPE_Q4_0, matmul_q4_0, QL_TYPE_Q8_0, ql_dequantize_row_q4_0);
    add_weight(t, QL_TYPE_Q4_1, matmul_q4_1, QL_TYPE_Q8_0, ql_dequantize_row_q4_1);
    add_weight(t, QL_TYPE_Q4_K, matmul_q4_k, QL_TYPE_Q8_K, ql_dequantize_row_q4_k);
    add_weight(t, QL_TYPE_Q5_K, matmul_q5_k, QL_TYPE_Q8_K, ql_dequantize_row_q5_k);
    add_weight(t, QL_TYPE_Q6_K, matmul_q6_k, QL_TYPE_Q8_K, ql_dequantize_row_q6_k);
}
