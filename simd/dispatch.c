/*
 * simd/dispatch.c: fills the kernel table once.
 *
 * The best level the CPU supports and this build contains is chosen, unless QLOOP_ISA
 * names a level (scalar|avx2|avx512|amx|neon), which must then be supported: a forced
 * level the CPU lacks is an error reported by ql_kernels_check(), and the table falls back
 * to scalar so nothing runs an illegal instruction.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
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
    bool opt_in;                      /* chosen only when QLOOP_ISA names it */
    bool (*grant)(void);              /* asks the OS for what the level needs; NULL: nothing */
} isa_level;

static bool has_scalar(const ql_cpu_features *f) { (void)f; return true; }
static bool has_avx2(const ql_cpu_features *f) { return f->avx2 && f->fma && f->f16c; }
static bool has_avx512(const ql_cpu_features *f) {
    return f->avx512f && f->avx512bw && f->avx512dq && f->avx512vl && f->avx512vnni &&
           has_avx2(f);
}
static bool has_neon(const ql_cpu_features *f) { return f->neon; }
/* AMX int8 tiles (and the OS's tile state, which ql_cpu_detect checks) next to AVX-512. The
 * level is opt-in (QLOOP_ISA=amx): its kernels are tested against scalar through an
 * emulation of the tile instructions (tests/kernels/test_amx_kernels.c) but have not run
 * on AMX hardware (simd/amx.c). Only when it is named does select_table ask the kernel for
 * the tile data state (its `grant`, ql_cpu_request_amx), which enlarges every signal frame
 * of the process: a program that merely links qloop is left as it was. */
static bool has_amx(const ql_cpu_features *f) { return f->amx_tile && f->amx_int8 && has_avx512(f); }

/* Best first. */
static const isa_level k_levels[] = {
#ifdef QL_HAVE_AMX
    {"amx", has_amx, ql_kernels_init_amx, true, ql_cpu_request_amx},
#else
    {"amx", has_amx, NULL, true, ql_cpu_request_amx},
#endif
#ifdef QL_HAVE_AVX512
    {"avx512", has_avx512, ql_kernels_init_avx512, false, NULL},
#else
    {"avx512", has_avx512, NULL, false, NULL},
#endif
#ifdef QL_HAVE_AVX2
    {"avx2", has_avx2, ql_kernels_init_avx2, false, NULL},
#else
    {"avx2", has_avx2, NULL, false, NULL},
#endif
#ifdef QL_HAVE_NEON
    {"neon", has_neon, ql_kernels_init_neon, false, NULL},
#else
    {"neon", has_neon, NULL, false, NULL},
#endif
    {"scalar", has_scalar, ql_kernels_init_scalar, false, NULL},
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
        if (k_levels[i].init && !k_levels[i].opt_in && k_levels[i].supported(&f))
            k_levels[i].init(&g_levels[i]);
    if (forced && *forced) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(forced, k_levels[i].name) != 0) continue;
            if (!k_levels[i].supported(&f))
                snprintf(g_error, sizeof g_error, "QLOOP_ISA=%s: this CPU does not support it",
                         forced);
            else if (!k_levels[i].init)
                snprintf(g_error, sizeof g_error, "QLOOP_ISA=%s: not built into this binary",
                         forced);
            else if (k_levels[i].grant && !k_levels[i].grant())
                snprintf(g_error, sizeof g_error,
                         "QLOOP_ISA=%s: the OS refused the state it needs (for amx: the tile "
                         "data, arch_prctl ARCH_REQ_XCOMP_PERM)", forced);
            else {
                k_levels[i].init(&g_table);
                if (k_levels[i].opt_in) k_levels[i].init(&g_levels[i]);
            }
            if (g_error[0]) ql_kernels_init_scalar(&g_table);
            return;
        }
        snprintf(g_error, sizeof g_error,
                 "QLOOP_ISA=%s: unknown level (scalar, avx2, avx512, amx, neon)", forced);
        ql_kernels_init_scalar(&g_table);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (k_levels[i].init && !k_levels[i].opt_in && k_levels[i].supported(&f)) {
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

/* ---- qloop info --cpu ------------------------------------------------------------- */

typedef struct report {
    char *buf;
    size_t cap, len;
} report;

static void put(report *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = r->len < r->cap ? r->cap - r->len : 0;
    int n = vsnprintf(room ? r->buf + r->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) r->len += (size_t)n;
}

/* The level whose table supplied `fn`: the best level holding the same pointer. */
static const char *owner(const void *fn, size_t offset) {
    if (!fn) return "-";
    for (size_t i = 0; i < sizeof k_levels / sizeof k_levels[0]; i++) {
        const ql_kernel_table *t = &g_levels[i];
        if (!t->isa) continue;
        const void *other;
        memcpy(&other, (const char *)t + offset, sizeof other);
        if (other == fn) {
            /* a level that inherits scalar's entry reports scalar */
            const void *sc;
            memcpy(&sc, (const char *)&g_scalar + offset, sizeof sc);
            return sc == fn ? "scalar" : t->isa;
        }
    }
    return g_table.isa;
}

#define OWNER(field) owner(*(const void *const *)&g_table.field, offsetof(ql_kernel_table, field))

size_t ql_cpu_report(char *buf, size_t cap) {
    pthread_once(&g_once, select_table);
    report r = {buf, cap, 0};
    if (cap) buf[0] = '\0';
    ql_cpu_features f;
    ql_cpu_detect(&f);
    put(&r, "cpu features:");
    const struct { const char *name; bool on; } feats[] = {
        {"avx2", f.avx2}, {"fma", f.fma}, {"f16c", f.f16c}, {"avx512f", f.avx512f},
        {"avx512bw", f.avx512bw}, {"avx512dq", f.avx512dq}, {"avx512vl", f.avx512vl},
        {"avx512vnni", f.avx512vnni}, {"avx512bf16", f.avx512bf16}, {"amx-tile", f.amx_tile},
        {"amx-int8", f.amx_int8}, {"amx-bf16", f.amx_bf16}, {"neon", f.neon},
        {"dotprod", f.dotprod}, {"i8mm", f.i8mm}};
    int any = 0;
    for (size_t i = 0; i < sizeof feats / sizeof feats[0]; i++)
        if (feats[i].on) put(&r, " %s", feats[i].name), any = 1;
    if (!any) put(&r, " (none beyond the baseline)");
    put(&r, "\nlevels:      ");
    for (size_t i = 0; i < sizeof k_levels / sizeof k_levels[0]; i++)
        put(&r, "%s%s (%s%s%s)", i ? ", " : "", k_levels[i].name,
            k_levels[i].init ? "built" : "not built", k_levels[i].opt_in ? ", opt-in" : "",
            !k_levels[i].supported(&f) ? ", not supported by this CPU" : "");
    put(&r, "\nin use:      %s%s%s\n", g_table.isa, g_error[0] ? " -- " : "", g_error);
    put(&r, "kernels:\n");
    for (uint32_t t = 0; t < QL_TYPE_COUNT; t++) {
        if (!g_table.matmul[t]) continue;
        const ql_type_traits *tt = ql_type_get(t);
        const ql_type_traits *at = ql_type_get(g_table.act_type[t]);
        put(&r, "  matmul %-6s x %-6s %s%s\n", tt ? tt->name : "?", at ? at->name : "?",
            OWNER(matmul[t]), g_table.matmul_g16[t] ? ", weights in the grouped layout" : "");
    }
    for (uint32_t t = 0; t < QL_TYPE_COUNT; t++)
        if (g_table.from_float[t]) {
            const ql_type_traits *tt = ql_type_get(t);
            put(&r, "  quantize activations to %-6s %s\n", tt ? tt->name : "?", OWNER(from_float[t]));
        }
    put(&r, "  rmsnorm %s, softmax %s, swiglu %s, dot %s, axpy %s, add %s, rope %s\n",
        OWNER(rmsnorm), OWNER(softmax), OWNER(swiglu), OWNER(dot), OWNER(axpy), OWNER(add),
        OWNER(rope));
    return r.len;
}
