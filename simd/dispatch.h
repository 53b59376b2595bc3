/* simd/dispatch.h: kernel-table selection (internal). */
#ifndef QL_SIMD_DISPATCH_H
#define QL_SIMD_DISPATCH_H

#include "kernels.h"
#include "qloop.h"

/* QL_OK, or QL_ERR_UNSUPPORTED when QLOOP_ISA forces a level this CPU or build lacks. */
ql_status ql_kernels_check(ql_error *err);

/* The table of level `isa` ("scalar", "avx2", "avx512", "amx", "neon"), whatever QLOOP_ISA
 * says, for tests and benchmarks that compare levels; NULL when this build or this CPU
 * lacks the level, or `isa` is NULL or unknown. The opt-in level amx only when QLOOP_ISA
 * names it (simd/dispatch.c). */
const ql_kernel_table *ql_kernels_for(const char *isa);

/* Per-ISA initialisers (each in its own file, built with its own flags). */
void ql_kernels_init_avx2(ql_kernel_table *t);
void ql_kernels_init_avx512(ql_kernel_table *t);
void ql_kernels_init_neon(ql_kernel_table *t);
void ql_kernels_init_amx(ql_kernel_table *t); /* simd/amx.c: AVX-512's, quantized prompts on AMX */

#endif
