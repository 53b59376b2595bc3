/* quant/scale.c: rounding helpers shared by the block formats and the quantizer. */
#include <math.h>

#include "formats.h"
#include "types.h"

enum { F16_MAX_BITS = 0x7bff, F16_SIGN = 0x8000 }; /* 65504 */

uint16_t ql_f16_round_up(float v) {
    if (!(v > 0.0f)) return 0;
    uint16_t h = ql_f32_to_f16(v);
    if (h >= 0x7c00u) return F16_MAX_BITS;
    if (ql_f16_to_f32(h) < v) h++; /* next f16 up; from 0x7bff it would be inf */
    return h > F16_MAX_BITS ? F16_MAX_BITS : h;
}

uint16_t ql_f16_round_down(float v) {
    if (v < 0.0f) return (uint16_t)(ql_f16_round_up(-v) | F16_SIGN);
    if (v == 0.0f) return 0; /* also -0: its f16 has the sign bit set */
    uint16_t h = ql_f32_to_f16(v);
    if (h >= 0x7c00u) return F16_MAX_BITS;
    if (ql_f16_to_f32(h) > v) h--; /* h > 0 here: f16 0 is not above v >= 0 */
    return h;
}

float ql_quant_inv(float d) {
    if (d == 0.0f) return 0.0f;
    float inv = 1.0f / d;
    return isfinite(inv) ? inv : 0.0f;
}

int ql_quant_round(float v, int lo, int hi) {
    /* clamp first so lrintf never sees a value outside int range */
    if (v < (float)lo) v = (float)lo;
    if (v > (float)hi) v = (float)hi;
    return (int)lrintf(v);
}
