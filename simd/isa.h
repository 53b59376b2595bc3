/*
 * simd/isa.h: what every per-level kernel file (simd/<isa>.c, simd/<isa>_*.c) starts with.
 *
 * - QL_INLINE: the tile helpers must inline into their callers, where the tile sizes become
 *   constants.
 * - No implicit FMA contraction (gcc's default is -ffp-contract=fast even in C11 mode): a
 *   multiply then an add written in a kernel stay two roundings, as in scalar.c, and the
 *   only FMAs are the explicit ones, so results do not depend on the compiler's choices.
 *   Included before any kernel code, the pragma covers the whole file.
 * - QL_ROWS_FROM_DOT_AXPY: kernels.h's dot_rows / axpy_rows as loops over a level's own dot
 *   and axpy, for the levels without a dedicated attention kernel; the same bits as calling
 *   dot / axpy one row at a time, which is the entries' contract.
 */
#ifndef QL_SIMD_ISA_H
#define QL_SIMD_ISA_H

#include <stdint.h>

#define QL_INLINE static inline __attribute__((always_inline))

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#define QL_ROWS_FROM_DOT_AXPY(dot_fn, axpy_fn)                                                   \
    static void dot_rows(float *out, int64_t ldo, const float *q, int64_t ldq, int64_t nq,      \
                         const float *k, int64_t ldk, int64_t n_rows, int64_t n, float scale) { \
        for (int64_t j = 0; j < nq; j++)                                                        \
            for (int64_t p = 0; p < n_rows; p++)                                                \
                out[j * ldo + p] = dot_fn(q + j * ldq, k + p * ldk, n) * scale;                 \
    }                                                                                           \
    static void axpy_rows(float *y, int64_t ldy, const float *a, int64_t lda, int64_t nq,       \
                          const float *x, int64_t ldx, int64_t n_rows, int64_t n) {             \
        for (int64_t j = 0; j < nq; j++)                                                        \
            for (int64_t p = 0; p < n_rows; p++)                                                \
                axpy_fn(y + j * ldy, a[j * lda + p], x + p * ldx, n);                           \
    }

#endif /* QL_SIMD_ISA_H */
