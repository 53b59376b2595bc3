/* quant/q8_0.c: Q8_0 blocks (32 elements, f16 scale, int8 levels): element i = d * qs[i].
 * Used for Q8_0 weights and as the activation format of Q8_0, Q4_0 and Q4_1 weights. */
#include <math.h>

#include "formats.h"
#include "types.h"

uint16_t ql_q8_0_choose(const float x[QL_QK]) {
    float amax = 0.0f;
    for (int i = 0; i < QL_QK; i++) amax = fmaxf(amax, fabsf(x[i]));
    return ql_f16_round_up(amax / 127.0f);
}

void ql_q8_0_pack(ql_block_q8_0 *b, const float x[QL_QK], uint16_t d) {
    float id = ql_quant_inv(ql_f16_to_f32(d));
    b->d = d;
    for (int i = 0; i < QL_QK; i++) b->qs[i] = (int8_t)ql_quant_round(x[i] * id, -127, 127);
}

void ql_quantize_row_q8_0(const float *x, void *dst, int64_t n) {
    ql_block_q8_0 *b = dst;
    for (int64_t i = 0; i < n / QL_QK; i++, x += QL_QK) ql_q8_0_pack(&b[i], x, ql_q8_0_choose(x));
}

void ql_dequantize_row_q8_0(const void *src, float *y, int64_t n) {
    const ql_block_q8_0 *b = src;
    for (int64_t i = 0; i < n / QL_QK; i++, y += QL_QK) {
        float d = ql_f16_to_f32(b[i].d);
        for (int j = 0; j < QL_QK; j++) y[j] = d * (float)b[i].qs[j];
    }
}
