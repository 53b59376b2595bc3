/*
 * simd/quant_isa.h: the quantized-format entries of each x86 level (internal).
 *
 * ql_kernels_init_<isa> (simd/<isa>.c) calls its level's function last; it overrides the
 * matmul entries of Q8_0, Q4_0, Q4_1, Q4_K, Q5_K, Q6_K and the activation quantizers
 * from_float[Q8_0], from_float[Q8_K] of the scalar table. The results equal the scalar
 * reference (simd/scalar_quant.c) bit for bit: see simd/avx512_quant.c.
 */
#ifndef QL_SIMD_QUANT_ISA_H
#define QL_SIMD_QUANT_ISA_H

#include "kernels.h"

void ql_kernels_init_avx2_quant(ql_kernel_table *t);   /* simd/avx2_quant.c */
void ql_kernels_init_avx512_quant(ql_kernel_table *t); /* simd/avx512_quant.c */

/* The AVX-512 matmul entry of Q8_0, Q4_0, Q4_K, Q5_K or Q6_K weights (plain layout, or
 * grouped), which the AMX level (simd/amx.c) keeps for decode and small batches; NULL for
 * other types. */
ql_matmul_fn ql_avx512_quant_matmul(uint32_t type, int grouped);

#endif
