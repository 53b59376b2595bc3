/* tests/quantize/test_quantize_search.c: the error-minimising quantizer beats
 * round-to-nearest (weighted RMSE) for every 4/5/6/8-bit type on normal and heavy-tailed
 * data, with and without an importance vector, and its blocks decode with the reference
 * dequantizers of formats.h. Prints the measured RMSE of both. */
#include <stdint.h>

#include "quant/formats.h"
#include "quant/quantize.h"
#include "quant/types.h"
#include "test.h"

#define ROWS 16
#define K 1024

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static double uniform01(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return ((double)(g_rng >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(void) {
    return sqrt(-2.0 * log(uniform01())) * cos(6.283185307179586 * uniform01());
}

/* Student-t with 3 degrees of freedom: normal / sqrt(chi2_3 / 3). */
static double heavy(void) {
    double c = 0;
    for (int i = 0; i < 3; i++) {
        double z = normal();
        c += z * z;
    }
    return normal() / sqrt(c / 3.0);
}

/* sqrt(sum w e^2 / sum w) over all rows, decoding with the reference dequantizer. */
static double wrmse(uint32_t type, const float *x, const void *q, const float *imat) {
    static float y[ROWS * K];
    void (*deq)(const void *, float *, int64_t) = NULL;
    switch (type) {
    case QL_TYPE_Q8_0: deq = ql_dequantize_row_q8_0; break;
    case QL_TYPE_Q4_0: deq = ql_dequantize_row_q4_0; break;
    case QL_TYPE_Q4_1: deq = ql_dequantize_row_q4_1; break;
    case QL_TYPE_Q4_K: deq = ql_dequantize_row_q4_k; break;
    case QL_TYPE_Q5_K: deq = ql_dequantize_row_q5_k; break;
    case QL_TYPE_Q6_K: deq = ql_dequantize_row_q6_k; break;
    default: return -1;
    }
    uint64_t rb;
    ql_type_row_bytes(type, K, &rb);
    for (int r = 0; r < ROWS; r++) deq((const char *)q + r * rb, y + r * K, K);
    double se = 0, sw = 0;
    for (int r = 0; r < ROWS; r++)
        for (int i = 0; i < K; i++) {
            double w = imat ? imat[i] : 1.0, e = (double)x[r * K + i] - y[r * K + i];
            se += w * e * e;
            sw += w;
        }
    return sqrt(se / sw);
}

static void check_types(bool heavy_tail, bool use_imatrix) {
    static const uint32_t types[] = {QL_TYPE_Q8_0, QL_TYPE_Q4_0, QL_TYPE_Q4_1,
                                     QL_TYPE_Q4_K, QL_TYPE_Q5_K, QL_TYPE_Q6_K};
    static float x[ROWS * K], imat[K];
    static uint8_t q_ref[ROWS * K * 2], q_srch[ROWS * K * 2];
    for (int i = 0; i < ROWS * K; i++) x[i] = (float)(0.02 * (heavy_tail ? heavy() : normal()));
    for (int i = 0; i < K; i++) imat[i] = (float)(exp(2.0 * normal())); /* spread weights */
    const float *im = use_imatrix ? imat : NULL;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        uint32_t type = types[t];
        CHECK(ql_quantize_rows(type, x, q_ref, ROWS, K, im, QL_QUANT_RTN));
        CHECK(ql_quantize_rows(type, x, q_srch, ROWS, K, im, QL_QUANT_SEARCH));
        double e_ref = wrmse(type, x, q_ref, im), e_srch = wrmse(type, x, q_srch, im);
        printf("  %-5s %-6s %-9s RTN %.4e  search %.4e  (%.1f%% lower)\n",
               ql_type_get(type)->name, heavy_tail ? "t3" : "normal",
               use_imatrix ? "imatrix" : "unweighted", e_ref, e_srch,
               100.0 * (1.0 - e_srch / e_ref));
        CHECK_MSG(e_srch < e_ref, "%s: search %.6g vs RTN %.6g", ql_type_get(type)->name,
                  e_srch, e_ref);
        /* both decode to finite values through the reference path */
        CHECK(isfinite(e_srch) && e_srch > 0);
    }
}

static void test_search_beats_rtn_normal(void) { check_types(false, false); }
static void test_search_beats_rtn_heavy_tailed(void) { check_types(true, false); }
static void test_search_beats_rtn_normal_imatrix(void) { check_types(false, true); }
static void test_search_beats_rtn_heavy_imatrix(void) { check_types(true, true); }

static void test_float_types_and_fit(void) {
    float x[64], y[64];
    uint16_t h[64];
    for (int i = 0; i < 64; i++) x[i] = (float)normal();
    CHECK(ql_quantize_rows(QL_TYPE_F16, x, h, 2, 32, NULL, QL_QUANT_SEARCH));
    CHECK(ql_dequantize_rows(QL_TYPE_F16, h, y, 2, 32));
    for (int i = 0; i < 64; i++) CHECK(fabsf(x[i] - y[i]) <= fabsf(x[i]) * 1e-3f);
    CHECK(ql_quantize_rows(QL_TYPE_BF16, x, h, 1, 64, NULL, QL_QUANT_SEARCH));
    CHECK(ql_dequantize_rows(QL_TYPE_BF16, h, y, 1, 64));
    for (int i = 0; i < 64; i++) CHECK(fabsf(x[i] - y[i]) <= fabsf(x[i]) * 8e-3f);
    CHECK(!ql_quant_can_write(QL_TYPE_Q8_0, 33));
    CHECK(!ql_quant_can_write(QL_TYPE_Q4_K, 64));
    CHECK(ql_quant_can_write(QL_TYPE_Q4_K, 512));
    CHECK(!ql_quantize_rows(QL_TYPE_Q6_K, x, h, 1, 64, NULL, QL_QUANT_SEARCH));
}

/* Constant and all-zero blocks stay exact (or within one f16 ulp of the constant). */
static void test_degenerate_blocks(void) {
    static float x[256], y[256];
    static uint8_t q[256 * 2];
    static const uint32_t types[] = {QL_TYPE_Q8_0, QL_TYPE_Q4_0, QL_TYPE_Q4_1,
                                     QL_TYPE_Q4_K, QL_TYPE_Q5_K, QL_TYPE_Q6_K};
    for (int c = 0; c < 2; c++) {
        for (int i = 0; i < 256; i++) x[i] = c ? 0.5f : 0.0f;
        for (size_t t = 0; t < 6; t++) {
            CHECK(ql_quantize_rows(types[t], x, q, 1, 256, NULL, QL_QUANT_SEARCH));
            CHECK(ql_dequantize_rows(types[t], q, y, 1, 256));
            for (int i = 0; i < 256; i++) CHECK_NEAR(y[i], x[i], 1e-3);
        }
    }
}

int main(void) {
    RUN(test_search_beats_rtn_normal);
    RUN(test_search_beats_rtn_heavy_tailed);
    RUN(test_search_beats_rtn_normal_imatrix);
    RUN(test_search_beats_rtn_heavy_imatrix);
    RUN(test_float_types_and_fit);
    RUN(test_degenerate_blocks);
    return TEST_REPORT();
}
