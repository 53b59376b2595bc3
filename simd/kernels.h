/*
 * simd/kernels.h: the kernel table.
 *
 * Every hot loop of the forward pass is an entry of `ql_kernels`. simd/scalar.c holds the
 * reference implementation of each entry; the per-ISA files (avx2.c, avx512.c, neon.c)
 * override entries with vectorised versions and are checked against scalar.c by
 * tests/kernels. The table is filled once (simd/dispatch.c) from the CPU's features or
 * from QLOOP_ISA, and is the only global mutable state of the library.
 *
 * Shapes: a weight matrix W stored in a GGUF tensor has rows of `k` elements (ne[0]) and
 * `rows` rows (ne[1]); row r starts at (char *)W + r * row_bytes. Activations are float32
 * row-major [n_tok, k].
 */
#ifndef QL_SIMD_KERNELS_H
#define QL_SIMD_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "quant/types.h"

/* Y[t, r] = sum_i W[r, i] * X[t, i] for tokens t < n_tok and rows r0 <= r < r1.
 * X holds the activations already converted to the weight type's activation format
 * (ql_kernel_table.act_type[type]: F32 for float weights, 8-bit blocks for quantized
 * ones), one row of x_row_bytes per token. Y has row stride ldy (floats). Each Y element
 * is computed by the same sequence of operations whatever r0, r1 and n_tok are, so
 * results do not depend on how rows are split between threads nor on how tokens are
 * batched. */
typedef void (*ql_matmul_fn)(const void *w, size_t row_bytes, int64_t k, const void *x,
                             size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy,
                             int64_t r0, int64_t r1);

/* Converts a row of n float32 activations to an activation format (e.g. Q8_0 blocks). */
typedef void (*ql_from_float_fn)(const float *src, void *dst, int64_t n);

/* Converts one row of n elements of a weight type to float32. */
typedef void (*ql_to_float_fn)(const void *src, float *dst, int64_t n);

typedef struct ql_kernel_table {
    const char *isa; /* "scalar", "avx2", "avx512", "neon" */

    ql_matmul_fn matmul[QL_TYPE_COUNT];         /* by weight type; NULL: not supported */
    /* The same products over the grouped layout, where a level has it (NULL elsewhere):
     * rows in groups of 16; within a group, unit u of row i (ql_g16_unit_blocks(type)
     * blocks, simd/g16.h) at (u * 16 + i) * unit bytes; group g at g * 16 * row_bytes. The bytes of a 16-row
     * decode tile's step then follow each other, one stream that the hardware prefetchers
     * follow, instead of 16 (simd/g16.c packs and reads it; docs/PERFORMANCE.md, "Grouped
     * layout"). rows is a multiple of 16 and k of the unit; r0, r1 may be any rows
     * (multiples of 16 run whole groups); results equal matmul[type]'s on the plain
     * layout bit for bit. */
    ql_matmul_fn matmul_g16[QL_TYPE_COUNT];
    uint32_t act_type[QL_TYPE_COUNT];           /* activation format matmul[type] reads */
    ql_to_float_fn to_float[QL_TYPE_COUNT];     /* by type; NULL: not supported */
    ql_from_float_fn from_float[QL_TYPE_COUNT]; /* by activation type; NULL for F32 */

    /* out[i] = x[i] / sqrt(mean(x^2) + eps) * w[i]; out may alias x. */
    void (*rmsnorm)(float *out, const float *x, const float *w, int64_t n, float eps);
    /* x[i] = exp(x[i] - max) / sum, in place. */
    void (*softmax)(float *x, int64_t n);
    /* out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)); out may alias gate. */
    void (*swiglu)(float *out, const float *gate, const float *up, int64_t n);
    /* sum_i a[i] * b[i] */
    float (*dot)(const float *a, const float *b, int64_t n);
    /* y[i] += a * x[i] */
    void (*axpy)(float *y, float a, const float *x, int64_t n);
    /* y[i] += x[i] */
    void (*add)(float *y, const float *x, int64_t n);
    /* Rotates n_head heads of head_dim floats in place by the angles of one position.
     * cs holds (cos, sin) pairs for the n_rot / 2 rotated frequency pairs. `neox`: pair i
     * is (x[i], x[i + n_rot/2]) (rotate-half); otherwise (x[2i], x[2i+1]) (interleaved,
     * GGUF's llama layout). Dimensions from n_rot to head_dim are left unchanged. */
    void (*rope)(float *x, int64_t n_head, int64_t head_dim, int64_t n_rot, const float *cs,
                 int neox);
    /* Attention of nq queries (rows q + j * ldq, j < nq) over n_rows keys / values:
     *   dot_rows:  out[j * ldo + p] = dot(q_j, k + p * ldk, n) * scale      for p < n_rows
     *   axpy_rows: y[j * ldy + i] += a[j * lda + p] * x[p * ldx + i]   for p = 0, 1, .. in order
     * Each result has the bits of the same table's dot / axpy calls, so a query gets the same
     * scores and output in a prompt as alone (decode). The queries of one call share the
     * key and value rows (heads of one GQA group), which the kernels read once for all. */
    void (*dot_rows)(float *out, int64_t ldo, const float *q, int64_t ldq, int64_t nq,
                     const float *k, int64_t ldk, int64_t n_rows, int64_t n, float scale);
    void (*axpy_rows)(float *y, int64_t ldy, const float *a, int64_t lda, int64_t nq,
                      const float *x, int64_t ldx, int64_t n_rows, int64_t n);
} ql_kernel_table;

/* The table in use: filled on first call (thread-safe), never NULL. */
const ql_kernel_table *ql_kernels(void);

/* The scalar reference table (always available; tests compare against it). */
const ql_kernel_table *ql_kernels_scalar(void);

/* Fills `t` with the scalar reference entries. Per-ISA init functions call this first
 * and override what they vectorise. */
void ql_kernels_init_scalar(ql_kernel_table *t);

/* Adds the quantized formats' scalar entries (simd/scalar_quant.c). */
void ql_kernels_init_scalar_quant(ql_kernel_table *t);

#endif
