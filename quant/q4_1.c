/* quant/q4_1.c: Q4_1 blocks (32 elements, f16 scale and offset, 4-bit levels):
 * element i = d * q[i] + m; nibble order as Q4_0. */
#include <math.h>

#include "formats.h"
#include "types.h"

void ql_q4_1_choose(const float x[QL_QK], uint16_t *d, uint16_t *m) {
    float min = x[0], max = x[0];
    for (int i = 1; i < QL_QK; i++) {
        min = fminf(min, x[i]);
        max = fmaxf(max, x[i]);
    }
    *m = ql_f16_round_down(min);
    /* halves first: max - m can overflow float when the two are far apart */
    *d = ql_f16_round_up((max / 2.0f - ql_f16_to_f32(*m) / 2.0f) / 7.5f);
}

void ql_q4_1_pack(ql_block_q4_1 *b, const float x[QL_QK], uint16_t d, uint16_t m) {
    float id = ql_quant_inv(ql_f16_to_f32(d)), mf = ql_f16_to_f32(m);
    b->d = d;
    b->m = m;
    for (int j = 0; j < QL_QK / 2; j++) {
        int lo = ql_quant_round((x[j] - mf) * id, 0, 15);
        int hi = ql_quant_round((x[j + QL_QK / 2] - mf) * id, 0, 15);
        b->qs[j] = (uint8_t)(lo | hi << 4);
    }
}

void ql_quantize_row_q4_1(const float *x, void *dst, int64_t n) {
    ql_block_q4_1 *b = dst;
    for (int64_t i = 0; i < n / QL_QK; i++, x += QL_QK) {
        uint16_t d, m;
        ql_q4_1_choose(x, &d, &m);
        ql_q4_1_pack(&b[i], x, d, m);
    }
}

void ql_dequantize_row_q4_1(const void *src, float *y, int64_t n) {
    const ql_block_q4_1 *b = src;
    for (int64_t i = 0; i < n / QL_QK; i++, y += QL_QK) {
        float d = ql_f16_to_f32(b[i].d), m = ql_f16_to_f32(b[i].m);
        for (int j = 0; j < QL_QK / 2; j++) {
            y[j] = d * (float)(b[i].qs[j] & 15) + m;
            y[j + QL_QK / 2] = d * (float)(b[i].qs[j] >> 4) + m;
        }
    }
}
