/* quant/q4_0.c: Q4_0 blocks (32 elements, f16 scale, 4-bit levels):
 * element i = d * (q[i] - 8); q[j] and q[j+16] share byte j (low, high nibble). */
#include <math.h>

#include "formats.h"
#include "types.h"

uint16_t ql_q4_0_choose(const float x[QL_QK]) {
    float max = 0.0f; /* the element of largest magnitude, with its sign */
    for (int i = 0; i < QL_QK; i++)
        if (fabsf(x[i]) > fabsf(max)) max = x[i];
    /* d = -max / 8 puts max on level -8 (q = 0); |d| rounded up keeps it in range */
    uint16_t h = ql_f16_round_up(fabsf(max) / 8.0f);
    return max > 0.0f ? (uint16_t)(h | 0x8000u) : h;
}

void ql_q4_0_pack(ql_block_q4_0 *b, const float x[QL_QK], uint16_t d) {
    float id = ql_quant_inv(ql_f16_to_f32(d));
    b->d = d;
    for (int j = 0; j < QL_QK / 2; j++) {
        int lo = ql_quant_round(x[j] * id, -8, 7) + 8;
        int hi = ql_quant_round(x[j + QL_QK / 2] * id, -8, 7) + 8;
        b->qs[j] = (uint8_t)(lo | hi << 4);
    }
}

void ql_quantize_row_q4_0(const float *x, void *dst, int64_t n) {
    ql_block_q4_0 *b = dst;
    for (int64_t i = 0; i < n / QL_QK; i++, x += QL_QK) ql_q4_0_pack(&b[i], x, ql_q4_0_choose(x));
}

void ql_dequantize_row_q4_0(const void *src, float *y, int64_t n) {
    const ql_block_q4_0 *b = src;
    for (int64_t i = 0; i < n / QL_QK; i++, y += QL_QK) {
        float d = ql_f16_to_f32(b[i].d);
        for (int j = 0; j < QL_QK / 2; j++) {
            y[j] = d * (float)((b[i].qs[j] & 15) - 8);
            y[j + QL_QK / 2] = d * (float)((b[i].qs[j] >> 4) - 8);
        }
    }
}
