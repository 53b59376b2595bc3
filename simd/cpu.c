/*
 * simd/cpu.c: CPU feature detection.
 *
 * x86: cpuid leaf 1 (OSXSAVE, AVX, FMA, F16C) and leaf 7 (AVX2, AVX-512 subsets, AMX),
 * and xgetbv(XCR0) for the register state the OS enables: bits 1-2 (SSE/AVX) for AVX2,
 * bits 5-7 (opmask, ZMM) for AVX-512, bits 17-18 (TILECFG, TILEDATA) for AMX.
 * aarch64: HWCAP_ASIMD, HWCAP_ASIMDDP, HWCAP2_I8MM.
 */
#include "cpu.h"

#include <string.h>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>

static unsigned long long read_xcr0(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

void ql_cpu_detect(ql_cpu_features *f) {
    memset(f, 0, sizeof *f);
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    bool osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    bool fma = (c >> 12) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return;
    unsigned long long xcr0 = read_xcr0();
    bool ymm_state = (xcr0 & 0x6) == 0x6;
    bool zmm_state = ymm_state && (xcr0 & 0xe0) == 0xe0;
    bool tile_state = (xcr0 & (3ull << 17)) == (3ull << 17);
    if (!ymm_state) return;
    unsigned int max_leaf = __get_cpuid_max(0, NULL);
    if (max_leaf < 7) return;
    __cpuid_count(7, 0, a, b, c, d);
    f->fma = fma;
    f->f16c = f16c;
    f->avx2 = (b >> 5) & 1;
    if (zmm_state) {
        f->avx512f = (b >> 16) & 1;
        f->avx512dq = (b >> 17) & 1;
        f->avx512bw = (b >> 30) & 1;
        f->avx512vl = (b >> 31) & 1;
        f->avx512vnni = (c >> 11) & 1;
    }
    if (tile_state) {
        f->amx_bf16 = (d >> 22) & 1;
        f->amx_tile = (d >> 24) & 1;
        f->amx_int8 = (d >> 25) & 1;
    }
    unsigned int a1, b1, c1, d1;
    __cpuid_count(7, 1, a1, b1, c1, d1);
    (void)b1;
    (void)c1;
    (void)d1;
    if (zmm_state) f->avx512bf16 = (a1 >> 5) & 1;
}

#elif defined(__aarch64__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif

void ql_cpu_detect(ql_cpu_features *f) {
    memset(f, 0, sizeof *f);
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    f->neon = (hw & HWCAP_ASIMD) != 0;
    f->dotprod = (hw & HWCAP_ASIMDDP) != 0;
    f->i8mm = (hw2 & HWCAP2_I8MM) != 0;
}

#else
void ql_cpu_detect(ql_cpu_features *f) { memset(f, 0, sizeof *f); }
#endif

#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>

enum { ARCH_GET_XCOMP_PERM = 0x1022, ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };

bool ql_cpu_request_amx(void) {
    unsigned long perm = 0;
    if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &perm) == 0 && (perm >> XFEATURE_XTILEDATA & 1))
        return true;
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return false;
    return syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &perm) == 0 && (perm >> XFEATURE_XTILEDATA & 1);
}
#else
bool ql_cpu_request_amx(void) { return false; }
#endif
