/* quant/types.c: block geometry of every GGUF tensor type, and f16/bf16 conversion. */
#include "types.h"

#include <string.h>

/* Block sizes and bytes per block as defined by the GGUF/ggml block layouts. */
static const ql_type_traits k_traits[QL_TYPE_COUNT] = {
    [QL_TYPE_F32] = {"f32", 1, 4},
    [QL_TYPE_F16] = {"f16", 1, 2},
    [QL_TYPE_Q4_0] = {"q4_0", 32, 18},
    [QL_TYPE_Q4_1] = {"q4_1", 32, 20},
    [QL_TYPE_Q5_0] = {"q5_0", 32, 22},
    [QL_TYPE_Q5_1] = {"q5_1", 32, 24},
    [QL_TYPE_Q8_0] = {"q8_0", 32, 34},
    [QL_TYPE_Q8_1] = {"q8_1", 32, 36},
    [QL_TYPE_Q2_K] = {"q2_k", 256, 84},
    [QL_TYPE_Q3_K] = {"q3_k", 256, 110},
    [QL_TYPE_Q4_K] = {"q4_k", 256, 144},
    [QL_TYPE_Q5_K] = {"q5_k", 256, 176},
    [QL_TYPE_Q6_K] = {"q6_k", 256, 210},
    [QL_TYPE_Q8_K] = {"q8_k", 256, 292},
    [QL_TYPE_IQ2_XXS] = {"iq2_xxs", 256, 66},
    [QL_TYPE_IQ2_XS] = {"iq2_xs", 256, 74},
    [QL_TYPE_IQ3_XXS] = {"iq3_xxs", 256, 98},
    [QL_TYPE_IQ1_S] = {"iq1_s", 256, 50},
    [QL_TYPE_IQ4_NL] = {"iq4_nl", 32, 18},
    [QL_TYPE_IQ3_S] = {"iq3_s", 256, 110},
    [QL_TYPE_IQ2_S] = {"iq2_s", 256, 82},
    [QL_TYPE_IQ4_XS] = {"iq4_xs", 256, 136},
    [QL_TYPE_I8] = {"i8", 1, 1},
    [QL_TYPE_I16] = {"i16", 1, 2},
    [QL_TYPE_I32] = {"i32", 1, 4},
    [QL_TYPE_I64] = {"i64", 1, 8},
    [QL_TYPE_F64] = {"f64", 1, 8},
    [QL_TYPE_IQ1_M] = {"iq1_m", 256, 56},
    [QL_TYPE_BF16] = {"bf16", 1, 2},
    [QL_TYPE_TQ1_0] = {"tq1_0", 256, 54},
    [QL_TYPE_TQ2_0] = {"tq2_0", 256, 66},
    [QL_TYPE_MXFP4] = {"mxfp4", 32, 17},
};

const ql_type_traits *ql_type_get(uint32_t type) {
    if (type >= QL_TYPE_COUNT || k_traits[type].name == NULL) return NULL;
    return &k_traits[type];
}

bool ql_type_row_bytes(uint32_t type, uint64_t n, uint64_t *bytes) {
    const ql_type_traits *t = ql_type_get(type);
    if (!t || n % (uint64_t)t->blck_size != 0) return false;
    uint64_t blocks = n / (uint64_t)t->blck_size;
    if (blocks > UINT64_MAX / (uint64_t)t->type_size) return false;
    *bytes = blocks * (uint64_t)t->type_size;
    return true;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float ql_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    if (exp == 0x1f) return bits_f32(sign | 0x7f800000u | (man << 13)); /* inf, nan */
    if (exp == 0) {
        if (man == 0) return bits_f32(sign);
        /* subnormal: man * 2^-24 is exact in float */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return bits_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

uint16_t ql_f32_to_f16(float f) {
    uint32_t u = f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t abs = u & 0x7fffffffu;
    if (abs >= 0x7f800000u) /* inf or nan (keep nan quiet) */
        return (uint16_t)(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
    if (abs >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65520: inf */
    if (abs < 0x38800000u) {
        /* result is subnormal or zero: value / 2^-24 rounded to nearest even */
        float v = bits_f32(abs) * 0x1p24f;
        uint32_t m = (uint32_t)v;
        float rem = v - (float)m;
        if (rem > 0.5f || (rem == 0.5f && (m & 1u))) m++;
        return (uint16_t)(sign | m);
    }
    uint32_t mant = abs & 0x7fffffu;
    uint32_t exp = (abs >> 23) - 112u;
    uint32_t h = (exp << 10) | (mant >> 13);
    uint32_t rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++; /* carry may bump exponent */
    return (uint16_t)(sign | h);
}

float ql_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

uint16_t ql_f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u); /* quiet nan */
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}
