/* simd/scalar_quant.c: scalar reference kernels for the quantized weight formats. */
#include "kernels.h"

void ql_kernels_init_scalar_quant(ql_kernel_table *t) { (void)t; }
