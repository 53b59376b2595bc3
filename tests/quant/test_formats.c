/*
 * tests/quant/test_formats.c: the GGUF block formats of quant/formats.h and their scalar
 * matmul kernels (simd/scalar_quant.c).
 *
 * - golden blocks: bytes written by hand from the GGUF format definition decode to values
 *   worked out by hand;
 * - quantize -> dequantize stays within each format's per-element bound, and its RMSE on
 *   normal data within a stated fraction of the data's RMS;
 * - matmul of every quantized type matches a double-precision dot of the dequantized
 *   weights and the dequantized activations, independently of row splits and batching;
 * - quantize is deterministic; zero, huge and tiny blocks stay finite.
 * Random inputs are seeded and never zero.
 */
#include <float.h>
#include <stdint.h>

#include "quant/formats.h"
#include "quant/types.h"
#include "simd/kernels.h"
#include "test.h"

static uint64_t g_rng = 0x2545f4914f6cdd1dull;

static double urand(void) { /* uniform in (-1, 1), never 0 */
    for (;;) {
        g_rng ^= g_rng << 13;
        g_rng ^= g_rng >> 7;
        g_rng ^= g_rng << 17;
        double u = (double)(g_rng >> 11) * 0x1p-52 - 1.0;
        if (u != 0.0 && u != -1.0) return u;
    }
}

static double nrand(void) { /* standard normal (Box-Muller) */
    double u = fabs(urand()), v = urand();
    return sqrt(-2.0 * log(u)) * cos(3.14159265358979323846 * v);
}

static void fill_normal(float *x, int64_t n, double mean, double std) {
    for (int64_t i = 0; i < n; i++) {
        x[i] = (float)(mean + std * nrand());
        if (x[i] == 0.0f) x[i] = 1e-3f;
    }
}

typedef void (*quantize_fn)(const float *, void *, int64_t);
typedef void (*dequantize_fn)(const void *, float *, int64_t);

typedef struct fmt {
    uint32_t type;
    int block, bytes;
    quantize_fn quantize;
    dequantize_fn dequantize;
    /* RMSE / RMS(x) ceiling on N(0, 1) data; see test_round_trip_rmse_is_small */
    double rel_rmse_max;
} fmt;

static const fmt k_fmts[] = {
    {QL_TYPE_Q8_0, 32, 34, ql_quantize_row_q8_0, ql_dequantize_row_q8_0, 0.0066},
    {QL_TYPE_Q4_0, 32, 18, ql_quantize_row_q4_0, ql_dequantize_row_q4_0, 0.104},
    {QL_TYPE_Q4_1, 32, 20, ql_quantize_row_q4_1, ql_dequantize_row_q4_1, 0.095},
    {QL_TYPE_Q4_K, 256, 144, ql_quantize_row_q4_k, ql_dequantize_row_q4_k, 0.097},
    {QL_TYPE_Q5_K, 256, 176, ql_quantize_row_q5_k, ql_dequantize_row_q5_k, 0.048},
    {QL_TYPE_Q6_K, 256, 210, ql_quantize_row_q6_k, ql_dequantize_row_q6_k, 0.0235},
    {QL_TYPE_Q8_K, 256, 292, ql_quantize_row_q8_k, ql_dequantize_row_q8_k, 0.0082},
};
enum { N_FMTS = sizeof k_fmts / sizeof k_fmts[0] };

static const char *type_name(uint32_t type) { return ql_type_get(type)->name; }

/* ---- layout ---------------------------------------------------------------------------- */

static void test_block_structs_match_type_table(void) {
    for (int f = 0; f < N_FMTS; f++) {
        const ql_type_traits *t = ql_type_get(k_fmts[f].type);
        CHECK_EQ_INT(t->blck_size, k_fmts[f].block);
        CHECK_EQ_INT(t->type_size, k_fmts[f].bytes);
    }
    CHECK_EQ_INT(sizeof(ql_block_q8_0), ql_type_get(QL_TYPE_Q8_0)->type_size);
    CHECK_EQ_INT(sizeof(ql_block_q4_0), ql_type_get(QL_TYPE_Q4_0)->type_size);
    CHECK_EQ_INT(sizeof(ql_block_q4_1), ql_type_get(QL_TYPE_Q4_1)->type_size);
    CHECK_EQ_INT(sizeof(ql_block_q4_k), ql_type_get(QL_TYPE_Q4_K)->type_size);
    CHECK_EQ_INT(sizeof(ql_block_q5_k), ql_type_get(QL_TYPE_Q5_K)->type_size);
    CHECK_EQ_INT(sizeof(ql_block_q6_k), ql_type_get(QL_TYPE_Q6_K)->type_size);
    CHECK_EQ_INT(sizeof(ql_block_q8_k), ql_type_get(QL_TYPE_Q8_K)->type_size);
}

/* ---- golden blocks: raw bytes, hand-decoded ------------------------------------------- */

static void test_golden_q8_0_block_decodes_exactly(void) {
    /* bytes: d = 0.25 (f16 0x3400, little-endian 00 34), qs[i] = i - 16 */
    unsigned char raw[34] = {0x00, 0x34};
    for (int i = 0; i < 32; i++) raw[2 + i] = (unsigned char)(int8_t)(i - 16);
    float y[32];
    ql_dequantize_row_q8_0(raw, y, 32);
    for (int i = 0; i < 32; i++) CHECK(y[i] == 0.25f * (float)(i - 16));
    CHECK(y[0] == -4.0f && y[31] == 3.75f);
}

static void test_golden_q4_0_block_decodes_exactly(void) {
    /* d = 0.5 (f16 0x3800); byte j = nibble j | nibble (15 - j) << 4, so element j is
     * 0.5 * (j - 8) and element j + 16 is 0.5 * (15 - j - 8) */
    unsigned char raw[18] = {0x00, 0x38};
    for (int j = 0; j < 16; j++) raw[2 + j] = (unsigned char)(j | (15 - j) << 4);
    float y[32];
    ql_dequantize_row_q4_0(raw, y, 32);
    for (int j = 0; j < 16; j++) {
        CHECK(y[j] == 0.5f * (float)(j - 8));
        CHECK(y[j + 16] == 0.5f * (float)(7 - j));
    }
    CHECK(y[0] == -4.0f && y[15] == 3.5f && y[16] == 3.5f && y[31] == -4.0f);
}

static void test_golden_q4_1_block_decodes_exactly(void) {
    /* d = 0.5 (0x3800), m = -1 (0xbc00); byte j = j | (15 - j) << 4 */
    unsigned char raw[20] = {0x00, 0x38, 0x00, 0xbc};
    for (int j = 0; j < 16; j++) raw[4 + j] = (unsigned char)(j | (15 - j) << 4);
    float y[32];
    ql_dequantize_row_q4_1(raw, y, 32);
    for (int j = 0; j < 16; j++) {
        CHECK(y[j] == 0.5f * (float)j - 1.0f);
        CHECK(y[j + 16] == 0.5f * (float)(15 - j) - 1.0f);
    }
    CHECK(y[0] == -1.0f && y[15] == 6.5f && y[16] == 6.5f);
}

/* Sub-block scales and mins of the hand-made Q4_K / Q5_K blocks, and their 12 packed bytes
 * worked out from the format: bytes 0-3 = sc[0..3] | (sc[4..7] >> 4) << 6, bytes 4-7 =
 * mn[0..3] | (mn[4..7] >> 4) << 6, bytes 8-11 = (sc[4..7] & 15) | (mn[4..7] & 15) << 4. */
static const uint8_t k_sc[8] = {1, 2, 3, 4, 33, 40, 50, 63};
static const uint8_t k_mn[8] = {0, 1, 5, 10, 17, 20, 48, 63};
static const uint8_t k_packed[12] = {1 | 2 << 6,  2 | 2 << 6,  3 | 3 << 6,  4 | 3 << 6,
                                     0 | 1 << 6,  1 | 1 << 6,  5 | 3 << 6,  10 | 3 << 6,
                                     1 | 1 << 4,  8 | 4 << 4,  2 | 0 << 4,  15 | 15 << 4};

static void test_k_scales_pack_matches_hand_encoded_bytes(void) {
    uint8_t p[12], sc[8], mn[8];
    ql_k_scales_pack(p, k_sc, k_mn);
    CHECK(memcmp(p, k_packed, 12) == 0);
    ql_k_scales_unpack(k_packed, sc, mn);
    CHECK(memcmp(sc, k_sc, 8) == 0 && memcmp(mn, k_mn, 8) == 0);
}

/* qs of the hand-made Q4_K / Q5_K blocks: byte 32p + l holds element 64p + l (low nibble,
 * sub-block 2p) = l & 15 and element 64p + 32 + l (high nibble, sub-block 2p + 1) =
 * 15 - (l & 15). */
static void k_golden_qs(uint8_t *qs) {
    for (int p = 0; p < 4; p++)
        for (int l = 0; l < 32; l++) qs[32 * p + l] = (uint8_t)((l & 15) | (15 - (l & 15)) << 4);
}

static int k_golden_low4(int i) { /* element i's 4-bit level in the blocks above */
    int j = i / 32, l = i % 32;
    return j % 2 == 0 ? (l & 15) : 15 - (l & 15);
}

static void test_golden_q4_k_block_decodes_exactly(void) {
    /* d = 0.125 (0x3000), dmin = 0.0625 (0x2c00); element i of sub-block j:
     * 0.125 * sc[j] * q - 0.0625 * mn[j] */
    unsigned char raw[144] = {0x00, 0x30, 0x00, 0x2c};
    memcpy(raw + 4, k_packed, 12);
    k_golden_qs(raw + 16);
    float y[256];
    ql_dequantize_row_q4_k(raw, y, 256);
    for (int i = 0; i < 256; i++) {
        double want = 0.125 * k_sc[i / 32] * k_golden_low4(i) - 0.0625 * k_mn[i / 32];
        CHECK_MSG(y[i] == want, "element %d: %g vs %g", i, y[i], want);
    }
    /* element 255: sub-block 7, q = 15 - 15 = 0 -> -0.0625 * 63; element 239 (l = 15 of
     * sub-block 7): q = 0 too; element 224 (l = 0): q = 15 -> 0.125 * 63 * 15 - 3.9375 */
    CHECK(y[255] == -3.9375f && y[224] == 114.1875f);
    CHECK(y[1] == 0.125f * 1 && y[33] == 0.125f * 2 * 14 - 0.0625f);
}

static void test_golden_q5_k_block_decodes_exactly(void) {
    /* as the Q4_K block, plus qh[l] = 37 l + 5 (mod 256): bit j of qh[l] adds 16 to the
     * level of element 32j + l */
    unsigned char raw[176] = {0x00, 0x30, 0x00, 0x2c};
    memcpy(raw + 4, k_packed, 12);
    for (int l = 0; l < 32; l++) raw[16 + l] = (unsigned char)(37 * l + 5);
    k_golden_qs(raw + 48);
    float y[256];
    ql_dequantize_row_q5_k(raw, y, 256);
    for (int i = 0; i < 256; i++) {
        int j = i / 32, l = i % 32;
        int q = k_golden_low4(i) + (((37 * l + 5) & 255) >> j & 1) * 16;
        double want = 0.125 * k_sc[j] * q - 0.0625 * k_mn[j];
        CHECK_MSG(y[i] == want, "element %d: %g vs %g", i, y[i], want);
    }
    /* qh[0] = 5 = 0b101: elements 0 and 64 get bit 4; element 0: q = 0 + 16 -> 0.125*16 = 2;
     * element 64 (sub-block 2, l = 0): q = 0 + 16 -> 0.125*3*16 - 0.0625*5 = 5.6875 */
    CHECK(y[0] == 2.0f && y[64] == 5.6875f && y[32] == 0.125f * 2 * 15 - 0.0625f);
}

static void test_golden_q6_k_block_decodes_exactly(void) {
    /* ql[i] = 7i + 3, qh[i] = 13i + 1 (mod 256), int8 scales below, d = 0.25 (0x3400).
     * Element 128h + 32c + l (c = 0..3, l < 32): low 4 bits = nibble (c >> 1) of
     * ql[64h + 32(c & 1) + l], high 2 bits = bits 2c..2c+1 of qh[32h + l]; value =
     * 0.25 * scales[i / 16] * (q - 32). */
    static const int8_t sc[16] = {1, -2, 3, -4, 5, 6, 7, 8, 9, 10, -11, 12, 13, 127, -128, 0};
    unsigned char raw[210];
    for (int i = 0; i < 128; i++) raw[i] = (unsigned char)(7 * i + 3);
    for (int i = 0; i < 64; i++) raw[128 + i] = (unsigned char)(13 * i + 1);
    memcpy(raw + 192, sc, 16);
    raw[208] = 0x00;
    raw[209] = 0x34;
    float y[256];
    ql_dequantize_row_q6_k(raw, y, 256);
    for (int i = 0; i < 256; i++) {
        int h = i / 128, c = (i % 128) / 32, l = i % 32;
        int low = (raw[64 * h + 32 * (c & 1) + l] >> (4 * (c >> 1))) & 15;
        int high = (raw[128 + 32 * h + l] >> (2 * c)) & 3;
        double want = 0.25 * sc[i / 16] * ((low | high << 4) - 32);
        CHECK_MSG(y[i] == want, "element %d: %g vs %g", i, y[i], want);
    }
    /* element 0: ql[0] = 3, qh[0] = 1 -> q = 3 | 1 << 4 = 19 -> 0.25 * 1 * (19 - 32);
     * element 64: high nibble of ql[0] = 0, bits 4-5 of qh[0] = 0 -> q = 0 -> 0.25*5*-32;
     * element 240 (sub-block 15, scale 0) is 0 */
    CHECK(y[0] == -3.25f && y[64] == -40.0f && y[240] == 0.0f);
}

static void test_golden_q8_k_block_decodes_exactly(void) {
    /* float d = 0.5 (bytes 00 00 00 3f), qs[i] = (i % 255) - 127 */
    unsigned char raw[292] = {0x00, 0x00, 0x00, 0x3f};
    for (int i = 0; i < 256; i++) raw[4 + i] = (unsigned char)(int8_t)(i % 255 - 127);
    float y[256];
    ql_dequantize_row_q8_k(raw, y, 256);
    for (int i = 0; i < 256; i++) CHECK(y[i] == 0.5f * (float)(i % 255 - 127));
    CHECK(y[0] == -63.5f && y[254] == 63.5f);
}

/* ---- quantize -> dequantize error bounds ------------------------------------------------ */

/* Largest |error| the format promises for element i (of x) of block `blk` (see
 * quant/formats.h for the derivations). */
static double element_bound(uint32_t type, const void *blk, int i, float x) {
    switch (type) {
    case QL_TYPE_Q8_0: return ql_f16_to_f32(((const ql_block_q8_0 *)blk)->d) / 2.0;
    case QL_TYPE_Q4_0: {
        double d = ql_f16_to_f32(((const ql_block_q4_0 *)blk)->d);
        return x / d > 7.5 ? fabs(d) : fabs(d) / 2.0; /* level 7 is the top: clip zone */
    }
    case QL_TYPE_Q4_1: return ql_f16_to_f32(((const ql_block_q4_1 *)blk)->d) / 2.0;
    case QL_TYPE_Q4_K:
    case QL_TYPE_Q5_K: {
        /* the two blocks share their first 16 bytes' layout */
        const ql_block_q4_k *b = blk;
        uint8_t sc[8], mn[8];
        ql_k_scales_unpack(b->scales, sc, mn);
        return ql_f16_to_f32(b->d) * sc[i / 32] / 2.0;
    }
    case QL_TYPE_Q6_K: {
        const ql_block_q6_k *b = blk;
        return ql_f16_to_f32(b->d) * b->scales[i / 16] / 2.0;
    }
    case QL_TYPE_Q8_K: return ((const ql_block_q8_k *)blk)->d / 2.0;
    }
    return 0.0;
}

/* Checks every element of a row of n against its bound; returns the sum of squared errors. */
static double check_row_bounds(const fmt *f, const float *x, int64_t n) {
    unsigned char *q = malloc((size_t)(n / f->block * f->bytes));
    float *y = malloc((size_t)n * sizeof(float));
    f->quantize(x, q, n);
    f->dequantize(q, y, n);
    double sse = 0.0;
    int reported = 0;
    for (int64_t i = 0; i < n; i++) {
        const void *blk = q + (size_t)(i / f->block * f->bytes);
        double err = fabs((double)y[i] - x[i]);
        /* slack: float rounding of x * inverse scale and of the decoded value */
        double bound = element_bound(f->type, blk, (int)(i % f->block), x[i]) * (1 + 1e-5) +
                       fabs(x[i]) * 1e-6;
        if (!(err <= bound) && reported++ < 3)
            CHECK_MSG(err <= bound, "%s n %lld element %lld: x %g y %g err %g bound %g",
                      type_name(f->type), (long long)n, (long long)i, x[i], y[i], err, bound);
        sse += err * err;
    }
    free(q);
    free(y);
    return sse;
}

static void test_round_trip_error_within_format_bound(void) {
    static const int64_t sizes[] = {32, 256, 4096};
    /* centred data, and shifted data whose blocks lie on one side of 0 */
    static const double means[] = {0.0, 3.0, -3.0};
    for (int f = 0; f < N_FMTS; f++)
        for (int s = 0; s < 3; s++) {
            int64_t n = sizes[s];
            if (n % k_fmts[f].block) continue;
            for (int mi = 0; mi < 3; mi++) {
                const int rows = 4; /* several rows, quantized one at a time */
                float *x = malloc((size_t)(rows * n) * sizeof(float));
                fill_normal(x, rows * n, means[mi], 1.0);
                for (int r = 0; r < rows; r++) check_row_bounds(&k_fmts[f], x + r * n, n);
                free(x);
            }
        }
}

/* RMSE relative to RMS(x) on N(0, 1) rows of 4096. Rounding to a grid of step s gives
 * RMSE ~ s / sqrt(12); each ceiling is that estimate for the format's typical step, + 20%
 * (measured values in brackets, this seed):
 *   Q8_0  s = amax(32) / 127, E amax of 32 normals ~ 2.4     -> 0.0055  (0.0053)
 *   Q8_K  s = amax(256) / 127, amax ~ 3.0                     -> 0.0068  (0.0070)
 *   Q4_0  s = amax(32) / 8 ~ 0.30, plus the clip of level +8  -> 0.087   (0.086)
 *   Q4_1  s = range(32) / 15, E range of 32 normals ~ 4.1     -> 0.079   (0.079)
 *   Q4_K  as Q4_1 (bottom min(0, min) = min here), scale codes rounded up
 *                                                             -> 0.081   (0.080)
 *   Q5_K  s = range(32) / 31                                  -> 0.040   (0.039)
 *   Q6_K  s = amax(16) / 31, amax of 16 normals ~ 2.1         -> 0.0196  (0.0197) */
static void test_round_trip_rmse_is_small(void) {
    enum { N = 4096, ROWS = 8 };
    float *x = malloc((size_t)N * ROWS * sizeof(float));
    fill_normal(x, (int64_t)N * ROWS, 0.0, 1.0);
    double ss = 0.0;
    for (int64_t i = 0; i < (int64_t)N * ROWS; i++) ss += (double)x[i] * x[i];
    for (int f = 0; f < N_FMTS; f++) {
        double sse = 0.0;
        for (int r = 0; r < ROWS; r++) sse += check_row_bounds(&k_fmts[f], x + r * N, N);
        double rel = sqrt(sse / ss);
        printf("  %-5s RMSE / RMS = %.5f (ceiling %.4f)\n", type_name(k_fmts[f].type), rel,
               k_fmts[f].rel_rmse_max);
        CHECK_MSG(rel <= k_fmts[f].rel_rmse_max, "%s: %g", type_name(k_fmts[f].type), rel);
    }
    free(x);
}

static void test_quantize_is_deterministic_and_blockwise(void) {
    enum { N = 4096 };
    float x[N];
    fill_normal(x, N, 0.5, 2.0);
    for (int f = 0; f < N_FMTS; f++) {
        size_t bytes = (size_t)(N / k_fmts[f].block * k_fmts[f].bytes);
        unsigned char *a = malloc(bytes), *b = malloc(bytes);
        memset(a, 0xAA, bytes);
        memset(b, 0x55, bytes); /* every byte must be written */
        k_fmts[f].quantize(x, a, N);
        /* the same row quantized in two calls (a block boundary) gives the same bytes */
        k_fmts[f].quantize(x, b, 256);
        k_fmts[f].quantize(x + 256, b + 256 / k_fmts[f].block * k_fmts[f].bytes, N - 256);
        CHECK_MSG(memcmp(a, b, bytes) == 0, "%s", type_name(k_fmts[f].type));
        free(a);
        free(b);
    }
}

/* All-zero, huge and tiny blocks: finite scales and values, zeros stay zeros. */
static void test_zero_huge_and_tiny_blocks_stay_finite(void) {
    static const float scales[] = {0.0f, 1e30f, FLT_MAX, 7e4f, 1e-30f, 1e-40f, 1e-45f};
    for (int f = 0; f < N_FMTS; f++)
        for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
            float x[256], y[256];
            unsigned char q[292];
            for (int i = 0; i < 256; i++)
                x[i] = scales[s] * (float)(i % 2 ? 1.0 : -1.0) * (float)(0.5 + 0.5 * fabs(urand()));
            x[7] = scales[s]; /* the block's extremes, exactly */
            x[8] = -scales[s];
            k_fmts[f].quantize(x, q, 256);
            k_fmts[f].dequantize(q, y, 256);
            int bad = 0;
            for (int i = 0; i < 256; i++) {
                if (!isfinite(y[i])) bad++;
                if (scales[s] == 0.0f && y[i] != 0.0f) bad++;
                /* never further than the data's own magnitude from it (no blow-up) */
                if (!(fabs((double)y[i] - x[i]) <= 2.0 * scales[s] + 1e-6)) bad++;
            }
            CHECK_MSG(bad == 0, "%s scale %g: %d bad elements", type_name(k_fmts[f].type),
                      scales[s], bad);
        }
}

/* ---- matmul ------------------------------------------------------------------------------ */

static const uint32_t k_weight_types[] = {QL_TYPE_Q8_0, QL_TYPE_Q4_0, QL_TYPE_Q4_1,
                                          QL_TYPE_Q4_K, QL_TYPE_Q5_K, QL_TYPE_Q6_K};

static void test_kernel_table_registers_quant_types(void) {
    const ql_kernel_table *kt = ql_kernels_scalar();
    for (size_t i = 0; i < sizeof k_weight_types / sizeof k_weight_types[0]; i++) {
        uint32_t t = k_weight_types[i], act = kt->act_type[t];
        CHECK(kt->matmul[t] && kt->to_float[t] && kt->from_float[act] && kt->to_float[act]);
        CHECK_EQ_INT(act, t <= QL_TYPE_Q8_0 ? QL_TYPE_Q8_0 : QL_TYPE_Q8_K);
    }
}

/* One table's matmul for `type` against a double dot of dequantized weights and
 * dequantized activations. The kernel's integer block sums are exact; its float error is
 * the per-block scaling (a few roundings each) and the float sum over nb blocks, so
 * |y - ref| <= (nb + 8) * 2^-24 * M, with M = sum_i |x_i| * (|w_i| + max |w| of i's
 * block): the second term covers terms that cancel inside a block (Q4_1 / K-quant
 * offsets). */
static void check_matmul(const ql_kernel_table *kt, uint32_t type, int64_t k) {
    enum { ROWS = 13, NTOK = 3 };
    const ql_type_traits *wt = ql_type_get(type), *at = ql_type_get(kt->act_type[type]);
    size_t row_bytes = (size_t)(k / wt->blck_size * wt->type_size);
    size_t x_row_bytes = (size_t)(k / at->blck_size * at->type_size);
    float *wf = malloc((size_t)(ROWS * k) * sizeof(float));
    float *xf = malloc((size_t)(NTOK * k) * sizeof(float));
    unsigned char *w = malloc(ROWS * row_bytes), *xq = malloc(NTOK * x_row_bytes);
    float *y = malloc(NTOK * ROWS * sizeof(float)), *y1 = malloc(NTOK * ROWS * sizeof(float));
    float *yall = malloc(NTOK * ROWS * sizeof(float));
    fill_normal(wf, ROWS * k, 0.1, 0.05);
    fill_normal(xf, NTOK * k, 0.0, 1.0);
    const fmt *f = NULL;
    for (int i = 0; i < N_FMTS; i++)
        if (k_fmts[i].type == type) f = &k_fmts[i];
    for (int r = 0; r < ROWS; r++) {
        f->quantize(wf + r * k, w + r * row_bytes, k);
        kt->to_float[type](w + r * row_bytes, wf + r * k, k); /* wf := dequantized */
    }
    for (int t = 0; t < NTOK; t++) {
        kt->from_float[kt->act_type[type]](xf + t * k, xq + t * x_row_bytes, k);
        kt->to_float[kt->act_type[type]](xq + t * x_row_bytes, xf + t * k, k);
    }
    /* rows split as two threads would split them; all tokens at once */
    kt->matmul[type](w, row_bytes, k, xq, x_row_bytes, NTOK, y, ROWS, 0, 5);
    kt->matmul[type](w, row_bytes, k, xq, x_row_bytes, NTOK, y, ROWS, 5, ROWS);
    kt->matmul[type](w, row_bytes, k, xq, x_row_bytes, NTOK, yall, ROWS, 0, ROWS);
    /* one token at a time, one row at a time */
    for (int t = 0; t < NTOK; t++)
        for (int r = 0; r < ROWS; r++)
            kt->matmul[type](w, row_bytes, k, xq + t * x_row_bytes, x_row_bytes, 1, y1 + t * ROWS,
                             ROWS, r, r + 1);
    int64_t nb = k / wt->blck_size;
    for (int t = 0; t < NTOK; t++)
        for (int r = 0; r < ROWS; r++) {
            double ref = 0.0, mag = 0.0;
            for (int64_t b = 0; b < nb; b++) {
                const float *wb = wf + r * k + b * wt->blck_size;
                double bmax = 0.0;
                for (int i = 0; i < wt->blck_size; i++) bmax = fmax(bmax, fabs(wb[i]));
                for (int i = 0; i < wt->blck_size; i++) {
                    double xv = xf[t * k + b * wt->blck_size + i];
                    ref += (double)wb[i] * xv;
                    mag += fabs(xv) * (fabs(wb[i]) + bmax);
                }
            }
            double tol = (double)(nb + 8) * 0x1p-24 * mag;
            float got = y[t * ROWS + r];
            CHECK_MSG(fabs(got - ref) <= tol, "%s (%s) k %lld tok %d row %d: %.9g vs %.9g (tol %g)",
                      type_name(type), kt->isa, (long long)k, t, r, got, ref, tol);
            CHECK_MSG(got == yall[t * ROWS + r] && got == y1[t * ROWS + r],
                      "%s k %lld: result depends on the row split or batch", type_name(type),
                      (long long)k);
        }
    free(wf);
    free(xf);
    free(w);
    free(xq);
    free(y);
    free(y1);
    free(yall);
}

static void test_quant_matmul_matches_double_reference(void) {
    static const int64_t sizes[] = {32, 256, 4096};
    const ql_kernel_table *tables[] = {ql_kernels_scalar(), ql_kernels()};
    for (int ti = 0; ti < 2; ti++)
        for (size_t i = 0; i < sizeof k_weight_types / sizeof k_weight_types[0]; i++)
            for (int s = 0; s < 3; s++) {
                uint32_t type = k_weight_types[i];
                if (!tables[ti]->matmul[type]) continue; /* the dispatched table may lack it */
                if (sizes[s] % ql_type_get(type)->blck_size) continue;
                check_matmul(tables[ti], type, sizes[s]);
            }
}

int main(void) {
    RUN(test_block_structs_match_type_table);
    RUN(test_golden_q8_0_block_decodes_exactly);
    RUN(test_golden_q4_0_block_decodes_exactly);
    RUN(test_golden_q4_1_block_decodes_exactly);
    RUN(test_k_scales_pack_matches_hand_encoded_bytes);
    RUN(test_golden_q4_k_block_decodes_exactly);
    RUN(test_golden_q5_k_block_decodes_exactly);
    RUN(test_golden_q6_k_block_decodes_exactly);
    RUN(test_golden_q8_k_block_decodes_exactly);
    RUN(test_round_trip_error_within_format_bound);
    RUN(test_round_trip_rmse_is_small);
    RUN(test_quantize_is_deterministic_and_blockwise);
    RUN(test_zero_huge_and_tiny_blocks_stay_finite);
    RUN(test_kernel_table_registers_quant_types);
    RUN(test_quant_matmul_matches_double_reference);
    return TEST_REPORT();
}
