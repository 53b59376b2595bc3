/* simd/cpu.h: what the CPU and the OS support. */
#ifndef QL_SIMD_CPU_H
#define QL_SIMD_CPU_H

#include <stdbool.h>

typedef struct ql_cpu_features {
    /* x86-64; each flag means the CPU has it AND the OS saves its register state */
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512dq, avx512vl, avx512vnni, avx512bf16;
    bool amx_tile, amx_int8, amx_bf16;
    /* aarch64 */
    bool neon, dotprod, i8mm;
} ql_cpu_features;

/* Reads cpuid/xgetbv (x86) or getauxval(AT_HWCAP) (aarch64). Pure: no caching. */
void ql_cpu_detect(ql_cpu_features *f);

/* Linux x86-64: asks the kernel for this process's AMX tile data state
 * (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)), which tile instructions need;
 * true when granted (idempotent). False elsewhere. */
bool ql_cpu_request_amx(void);

#endif
