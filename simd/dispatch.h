/* simd/dispatch.h: kernel-table selection (internal). */
#ifndef QL_SIMD_DISPATCH_H
#define QL_SIMD_DISPATCH_H

#include "kernels.h"
#include "qloop.h"

/* QL_OK, or QL_ERR_UNSUPPORTED when QLOOP_ISA forces a level this CPU or build lacks. */
ql_status ql_kernels_check(ql_error *err);

/* Per-ISA initialisers (each in its own file, built with its own flags). */
void ql_kernels_init_avx2(ql_kernel_table *t);
void ql_kernels_init_avx512(ql_kernel_table *t);
void ql_kernels_init_neon(ql_kernel_table *t);

#endif
