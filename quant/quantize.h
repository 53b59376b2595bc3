/*
 * quant/quantize.h: the weight quantizer: float rows -> any stored type, with an
 * error-minimising choice of block scales.
 *
 * Round-to-nearest (formats.h's reference choice) takes each block's scale from its range
 * so that nothing clips. The search here instead minimises the weighted squared error
 *
 *     E = sum_i w_i (x_i - dequant(quant(x))_i)^2,   w_i = imatrix[column of i]  (or 1)
 *
 * over candidate scales (and mins) per block: several range-derived starting scales, each
 * refined by a least-squares refit of the scale (and min) to the levels it produced, with
 * every candidate evaluated on the exact grid the decoder sees (f16-rounded scales, 6-bit
 * or int8 sub-block codes). The RTN choice is always one of the candidates, so no block is
 * ever worse than round-to-nearest under E.
 *
 * w_i = imatrix[j] is the mean squared activation that meets column j: with independent
 * activations, E is then the expected squared error of the matmul output for that row,
 * which is the quantity quantization should keep small.
 */
#ifndef QL_QUANT_QUANTIZE_H
#define QL_QUANT_QUANTIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when `type` is one the quantizer writes (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K,
 * Q5_K, Q6_K) and a row of k elements is a whole number of its blocks. */
bool ql_quant_can_write(uint32_t type, int64_t k);

/* True when ql_dequantize_rows reads `type`: the types above. */
bool ql_quant_can_read(uint32_t type);

/* How ql_quantize_rows chooses the block scales. */
typedef enum ql_quant_method {
    QL_QUANT_RTN = 0,      /* formats.h's reference: round-to-nearest from the block's range */
    QL_QUANT_SEARCH = 1,   /* the error-minimising search above (imatrix-weighted) */
    QL_QUANT_LLAMACPP = 2, /* llama.cpp's reference quantizer (llamacpp_ref.c), for
                              comparisons; ignores the imatrix */
} ql_quant_method;

/* Quantizes nrows rows of k floats (row-major) to `type` into dst (nrows * row_bytes).
 * `imatrix`: k non-negative importance weights, or NULL for 1 (QL_QUANT_SEARCH only).
 * Returns false (writing nothing) when !ql_quant_can_write(type, k). Float types ignore
 * imatrix and method. */
bool ql_quantize_rows(uint32_t type, const float *x, void *dst, int64_t nrows, int64_t k,
                      const float *imatrix, ql_quant_method method);

/* One row of k floats with llama.cpp's reference quantizer (quant/llamacpp_ref.c): Q8_0,
 * Q4_0, Q4_1, Q4_K, Q5_K, Q6_K; k a whole number of blocks. */
void ql_quantize_row_llamacpp(uint32_t type, const float *x, void *dst, int64_t k);

/* Converts nrows rows of k elements of `type` to float (reference decoders). */
bool ql_dequantize_rows(uint32_t type, const void *src, float *y, int64_t nrows, int64_t k);

#endif /* QL_QUANT_QUANTIZE_H */
