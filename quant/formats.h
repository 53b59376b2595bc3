/*
 * quant/formats.h: quantized block layouts, bit-compatible with GGUF (ggml's blocks), and
 * their reference quantize / dequantize.
 *
 * Every format stores a row of n elements as n / block_size blocks laid out one after the
 * other; a block's bytes are exactly the struct below (little-endian, no padding; the
 * static_asserts pin the sizes to quant/types.c). `f16` fields hold IEEE half bits.
 *
 *   type  elems  bytes  value of element i
 *   Q8_0    32     34   d * qs[i]
 *   Q4_0    32     18   d * (q[i] - 8),          q[i] in 0..15
 *   Q4_1    32     20   d * q[i] + m,            q[i] in 0..15
 *   Q4_K   256    144   d*sc[j] * q[i] - dmin*mn[j],   j = i / 32, q in 0..15, sc/mn 6 bit
 *   Q5_K   256    176   d*sc[j] * q[i] - dmin*mn[j],   j = i / 32, q in 0..31, sc/mn 6 bit
 *   Q6_K   256    210   d*sc[j] * (q[i] - 32),         j = i / 16, q in 0..63, sc int8
 *   Q8_K   256    292   d * qs[i]   (float d; activations of the k-quant dot products)
 *
 * Quantization is split in two so that a later error-minimising search can replace the
 * first step alone:
 *   choose  picks the stored scales (f16 bits, 6-bit codes, ...) from the data:
 *           ql_<fmt>_choose_*(); the reference choice here is round-to-nearest from the
 *           block's range (max-abs or min/max), made to cover the data so that no element
 *           is clipped (except Q4_0's one asymmetric level, see ql_q4_0_choose);
 *   pack    writes a block given those scales: header, packed scales, and each element
 *           rounded to the nearest level of the grid the decoder will see: ql_<fmt>_pack().
 * ql_quantize_row_<fmt>() = choose + pack over a row.
 *
 * Non-finite inputs are not supported. Finite inputs never produce a non-finite block: f16
 * scales saturate at 65504 (huge values then clip), and a block whose scale underflows the
 * stored type decodes as zeros.
 */
#ifndef QL_QUANT_FORMATS_H
#define QL_QUANT_FORMATS_H

#include <assert.h>
#include <stdint.h>

#define QL_QK 32    /* elements per block of Q8_0, Q4_0, Q4_1 */
#define QL_QK_K 256 /* elements per super-block of the k-quants */
#define QL_K_SCALE_BYTES 12 /* 8 six-bit scales + 8 six-bit mins of Q4_K / Q5_K */

typedef struct ql_block_q8_0 {
    uint16_t d;         /* f16 scale */
    int8_t qs[QL_QK];   /* element i = d * qs[i] */
} ql_block_q8_0;

typedef struct ql_block_q4_0 {
    uint16_t d;              /* f16 scale */
    uint8_t qs[QL_QK / 2];   /* element j: low nibble of qs[j]; element j+16: high nibble */
} ql_block_q4_0;

typedef struct ql_block_q4_1 {
    uint16_t d;              /* f16 scale */
    uint16_t m;              /* f16 offset (the block's minimum) */
    uint8_t qs[QL_QK / 2];   /* nibbles as in Q4_0 */
} ql_block_q4_1;

/* Q4_K: 8 sub-blocks of 32. Sub-block pair (2p, 2p+1), p = 0..3, shares qs[32p .. 32p+31]:
 * element 64p + l is the low nibble of qs[32p + l], element 64p + 32 + l the high nibble.
 * scales[12] holds sc[j], mn[j] (6 bits each): for j < 4, sc[j] = scales[j] & 63 and
 * mn[j] = scales[j+4] & 63; for j >= 4, sc[j] = (scales[j+4] & 15) | (scales[j-4] >> 6) << 4
 * and mn[j] = (scales[j+4] >> 4) | (scales[j] >> 6) << 4. */
typedef struct ql_block_q4_k {
    uint16_t d;                        /* f16 scale of the sub-block scales */
    uint16_t dmin;                     /* f16 scale of the sub-block mins */
    uint8_t scales[QL_K_SCALE_BYTES];  /* packed 6-bit sc[8], mn[8] */
    uint8_t qs[QL_QK_K / 2];           /* 4-bit quants */
} ql_block_q4_k;

/* Q5_K: as Q4_K, plus a fifth bit: element 32j + l of sub-block j has bit 4 =
 * (qh[l] >> j) & 1. */
typedef struct ql_block_q5_k {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[QL_K_SCALE_BYTES];
    uint8_t qh[QL_QK_K / 8];   /* high bits */
    uint8_t qs[QL_QK_K / 2];   /* low 4 bits, nibble order as Q4_K */
} ql_block_q5_k;

/* Q6_K: 16 sub-blocks of 16, in two halves of 128 elements. In half h (ql += 64h,
 * qh += 32h), for l < 32:
 *   element 128h + l      = ql[l]      & 15 | ((qh[l] >> 0) & 3) << 4
 *   element 128h + l + 32 = ql[l + 32] & 15 | ((qh[l] >> 2) & 3) << 4
 *   element 128h + l + 64 = ql[l]      >> 4 | ((qh[l] >> 4) & 3) << 4
 *   element 128h + l + 96 = ql[l + 32] >> 4 | ((qh[l] >> 6) & 3) << 4
 * and element i uses scales[i / 16]. */
typedef struct ql_block_q6_k {
    uint8_t ql[QL_QK_K / 2];      /* low 4 bits */
    uint8_t qh[QL_QK_K / 4];      /* high 2 bits */
    int8_t scales[QL_QK_K / 16];  /* int8 sub-block scales */
    uint16_t d;                   /* f16 super-block scale */
} ql_block_q6_k;

/* Q8_K: the activation format of the k-quant dot products. bsums[g] = sum of qs[16g ..
 * 16g+15], so the Q4_K/Q5_K min terms need no pass over the activations. */
typedef struct ql_block_q8_k {
    float d;                         /* float32 scale */
    int8_t qs[QL_QK_K];
    int16_t bsums[QL_QK_K / 16];
} ql_block_q8_k;

static_assert(sizeof(ql_block_q8_0) == 34, "Q8_0 block is 34 bytes");
static_assert(sizeof(ql_block_q4_0) == 18, "Q4_0 block is 18 bytes");
static_assert(sizeof(ql_block_q4_1) == 20, "Q4_1 block is 20 bytes");
static_assert(sizeof(ql_block_q4_k) == 144, "Q4_K block is 144 bytes");
static_assert(sizeof(ql_block_q5_k) == 176, "Q5_K block is 176 bytes");
static_assert(sizeof(ql_block_q6_k) == 210, "Q6_K block is 210 bytes");
static_assert(sizeof(ql_block_q8_k) == 292, "Q8_K block is 292 bytes");

/* ---- row conversion: n must be a multiple of the format's block size ----------------- */

void ql_quantize_row_q8_0(const float *x, void *dst, int64_t n);
void ql_quantize_row_q4_0(const float *x, void *dst, int64_t n);
void ql_quantize_row_q4_1(const float *x, void *dst, int64_t n);
void ql_quantize_row_q4_k(const float *x, void *dst, int64_t n);
void ql_quantize_row_q5_k(const float *x, void *dst, int64_t n);
void ql_quantize_row_q6_k(const float *x, void *dst, int64_t n);
void ql_quantize_row_q8_k(const float *x, void *dst, int64_t n);

void ql_dequantize_row_q8_0(const void *src, float *y, int64_t n);
void ql_dequantize_row_q4_0(const void *src, float *y, int64_t n);
void ql_dequantize_row_q4_1(const void *src, float *y, int64_t n);
void ql_dequantize_row_q4_k(const void *src, float *y, int64_t n);
void ql_dequantize_row_q5_k(const void *src, float *y, int64_t n);
void ql_dequantize_row_q6_k(const void *src, float *y, int64_t n);
void ql_dequantize_row_q8_k(const void *src, float *y, int64_t n);

/* ---- one block: choose scales, then pack ---------------------------------------------- */

/* Q8_0: d = amax / 127 rounded up to f16, so |x / d| <= 127 and every |error| <= d / 2. */
uint16_t ql_q8_0_choose(const float x[QL_QK]);
void ql_q8_0_pack(ql_block_q8_0 *b, const float x[QL_QK], uint16_t d);

/* Q4_0: d = -max / 8, where max is the element of largest magnitude (its sign kept), so
 * that element lands exactly on level -8 and the levels -8..7 cover the data except for
 * elements of the opposite sign with |x| > 7.5 |d|, which clip to level 7: every |error|
 * <= |d| / 2, and <= |d| for those. */
uint16_t ql_q4_0_choose(const float x[QL_QK]);
void ql_q4_0_pack(ql_block_q4_0 *b, const float x[QL_QK], uint16_t d);

/* Q4_1: m = min rounded down to f16, d = (max - m) / 15 rounded up: the grid m + d*q
 * covers [min, max], so every |error| <= d / 2. */
void ql_q4_1_choose(const float x[QL_QK], uint16_t *d, uint16_t *m);
void ql_q4_1_pack(ql_block_q4_1 *b, const float x[QL_QK], uint16_t d, uint16_t m);

/* The stored scales of a Q4_K / Q5_K super-block. */
typedef struct ql_k_scales {
    uint16_t d, dmin;     /* f16 */
    uint8_t sc[8], mn[8]; /* 6-bit codes, 0..63 */
} ql_k_scales;

/* Q4_K (top level L = 15) / Q5_K (L = 31), per sub-block j of 32:
 *   b_j = min(0, min_j)           (mins are non-negative codes that subtract)
 *   dmin = max_j(-b_j) / 63,      rounded up to f16;  mn[j] = ceil(-b_j / dmin)
 *   s_j = (max_j + dmin*mn[j]) / L  (the step from the stored bottom to max_j)
 *   d = max_j s_j / 63,           rounded up to f16;  sc[j] = ceil(s_j / d)
 * so the grid -dmin*mn[j] + d*sc[j]*q, q = 0..L, covers [min_j, max_j] and every
 * |error| <= d*sc[j] / 2. */
void ql_q4_k_choose(const float x[QL_QK_K], ql_k_scales *s);
void ql_q4_k_pack(ql_block_q4_k *b, const float x[QL_QK_K], const ql_k_scales *s);
void ql_q5_k_choose(const float x[QL_QK_K], ql_k_scales *s);
void ql_q5_k_pack(ql_block_q5_k *b, const float x[QL_QK_K], const ql_k_scales *s);

/* Q6_K: sub-block scale s_j = amax_j / 31 (levels -31..31 of the format's -32..31),
 * d = max s_j / 127 rounded up to f16, sc[j] = s_j / d rounded up (0..127): no element
 * clips, every |error| <= d*sc[j] / 2. */
typedef struct ql_q6_k_scales {
    uint16_t d;     /* f16 */
    int8_t sc[16];
} ql_q6_k_scales;
void ql_q6_k_choose(const float x[QL_QK_K], ql_q6_k_scales *s);
void ql_q6_k_pack(ql_block_q6_k *b, const float x[QL_QK_K], const ql_q6_k_scales *s);

/* Q8_K (activations): d = amax / 127 in float32, levels -127..127 rounded to nearest
 * (ties to even, as vector conversions do); every |error| <= d / 2. */
void ql_q8_k_pack(ql_block_q8_k *b, const float x[QL_QK_K]);

/* ---- unpacking, shared by dequantize and the dot-product kernels ----------------------- */

/* The 6-bit sub-block scales and mins of a Q4_K / Q5_K block. */
void ql_k_scales_unpack(const uint8_t packed[QL_K_SCALE_BYTES], uint8_t sc[8], uint8_t mn[8]);
/* The inverse: sc[j], mn[j] must be < 64. */
void ql_k_scales_pack(uint8_t packed[QL_K_SCALE_BYTES], const uint8_t sc[8], const uint8_t mn[8]);
/* The unsigned levels of a block's 256 elements in element order: Q4_K 0..15, Q5_K 0..31,
 * Q6_K 0..63 (the value subtracts 32). */
void ql_q4_k_levels(const ql_block_q4_k *b, uint8_t q[QL_QK_K]);
void ql_q5_k_levels(const ql_block_q5_k *b, uint8_t q[QL_QK_K]);
void ql_q6_k_levels(const ql_block_q6_k *b, uint8_t q[QL_QK_K]);

/* ---- helpers shared by the formats and the quantizer ------------------------------------ */

/* The f16 bits of the smallest f16 >= v (v >= 0), saturating at 65504; NaN is not allowed. */
uint16_t ql_f16_round_up(float v);
/* The f16 bits of the largest f16 <= v, saturating at -65504 / 65504. */
uint16_t ql_f16_round_down(float v);
/* 1 / d, or 0 when d is 0 or 1 / d is not finite (the block then quantizes to zeros). */
float ql_quant_inv(float d);
/* Nearest integer of v (ties to even) clamped to [lo, hi]; v must not be NaN. */
int ql_quant_round(float v, int lo, int hi);

#endif /* QL_QUANT_FORMATS_H */
