/*
 * simd/dispatch.c: fills the kernel table once.
 *
 * The best level the CPU supports and this build contains is chosen, unless QLOOP_ISA
 * names a level (scalar|avx2|avx512|amx|neon), which must then be supported: a forced
 * level the CPU lacks is an error reported by ql_kernels_check(), and the table falls back
 * to scalar so nothing runs an illegal instruction.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu.h"
#include "dispatch.h"
#include "runtime/error.h"

/* The one global mutable state of the library: written once under pthread_once. */
static ql_kernel_table g_table;
static ql_kernel_table g_scalar;
static char g_error[256];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

typedef struct isa_level {
    const char *name;
    bool (*supported)(const ql_cpu_features *f);
    void (*init)(ql_kernel_table *t); /* NULL: not compiled into this build */
} isa_level;

static bool has_scalar(const ql_cpu_features *f) { (void)f; return true; }
static bool has_avx2(const ql_cpu_features *f) { return f->avx2 && f->fma && f->f16c; }
static bool has_avx512(const ql_cpu_features *f) {
    return f->avx512f && f->avx512bw && f->avx512dq && f->avx512vl && f->avx512vnni &&
           has_avx2(f);
}
static bool has_neon(const ql_cpu_features *f) { return f->neon; }

/* Best first. */
static const isa_level k_levels[] = {
#ifdef QL_HAVE_AVX512
    {"avx512", has_avx512, ql_kernels_init_avx512},
#else
    {"avx512", has_avx512, NULL},
#endif
#ifdef QL_HAVE_AVX2
    {"avx2", has_avx2, ql_kernels_init_avx2},
#else
    {"avx2", has_avx2, NULL},
#endif
#ifdef QL_HAVE_NEON
    {"neon", has_neon, ql_kernels_init_neon},
#else
    {"neon", has_neon, NULL},
#endif
    {"scalar", has_scalar, ql_kernels_init_scalar},
};

/* Part of the global state above: the table of each level of k_levels this build and CPU
 * have (isa NULL otherwise), for ql_kernels_for(). */
static ql_kernel_table g_levels[sizeof k_levels / sizeof k_levels[0]];

static void select_table(void) {
    ql_kernels_init_scalar(&g_scalar);
    ql_cpu_features f;
    ql_cpu_detect(&f);
    const char *forced = getenv("QLOOP_ISA");
    size_t n = sizeof k_levels / sizeof k_levels[0];
    for (size_t i = 0; i < n; i++)
        if (k_levels[i].init && k_levels[i].supported(&f)) k_levels[i].init(&g_levels[i]);
    if (forced && *forced) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(forced, k_levels[i].name) != 0) continue;
            if (!k_levels[i].init)
                snprintf(g_error, sizeof g_error, "QLOOP_ISA=%s: not built into this binary",
                         forced);
            else if (!k_levels[i].supported(&f))
                snprintf(g_error, sizeof g_error, "QLOOP_ISA=%s: this CPU does not support it",
                         forced);
            else
                k_levels[i].init(&g_table);
            if (g_error[0]) ql_kernels_init_scalar(&g_table);
            return;
        }
        snprintf(g_error, sizeof g_error,
                 "QLOOP_ISA=%s: unknown level (scalar, avx2, avx512, amx, neon)", forced);
        ql_kernels_init_scalar(&g_table);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (k_levels[i].init && k_levels[i].supported(&f)) {
            k_levels[i].init(&g_table);
            return;
        }
    }
}

const ql_kernel_table *ql_kernels(void) {
    pthread_once(&g_once, select_table);
    return &g_table;
}

const ql_kernel_table *ql_kernels_scalar(void) {
    pthread_once(&g_once, select_table);
    return &g_scalar;
}

const ql_kernel_table *ql_kernels_for(const char *isa) {
    pthread_once(&g_once, select_table);
    if (!isa) return NULL;
    for (size_t i = 0; i < sizeof k_levels / sizeof k_levels[0]; i++)
        if (g_levels[i].isa && strcmp(isa, k_levels[i].name) == 0) return &g_levels[i];
    return NULL;
}

ql_status ql_kernels_check(ql_error *err) {
    pthread_once(&g_once, select_table);
    if (g_error[0]) return ql_fail(err, QL_ERR_UNSUPPORTED, "%s", g_error);
    return QL_OK;
}

const char *ql_isa_name(void) { return ql_kernels()->isa; }
