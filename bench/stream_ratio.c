/*
 * bench/stream_ratio.c: how close each decode kernel comes to the memory read bandwidth.
 *
 * A decode matmul (one token) reads its weight matrix once, so at the bandwidth limit it
 * runs as fast as a plain read of the same bytes. For each weight type and row length k,
 * this builds a matrix of about 384 MiB (valid blocks: 16 rows quantized from random
 * normal values, repeated down the matrix) and, in each of R rounds, measures in turn:
 *   - the read probe of `qloop bench` (best of 5 passes over 1 GiB, N threads),
 *   - one plain read of the matrix (64-bit sums, 8 accumulators, N threads, even split),
 *   - one pass of the kernel over all rows (one token, N threads, split as decode does),
 *   - and, where the level has it, one pass of the grouped-layout kernel (matmul_g16) over
 *     a copy of the matrix in that layout (what a loaded model runs, simd/g16.h).
 * It prints the medians over rounds of kernel / probe, plain / probe and kernel / plain,
 * and the grouped kernel's GB/s and its ratio to the plain-layout kernel.
 * The three are taken seconds apart in every round, so the ratios hold up when the host's
 * bandwidth drifts between rounds (on the shared VM of docs/PERFORMANCE.md it moves
 * between 27 and 58 GB/s); absolute GB/s are printed too but are only that moment's.
 *
 *   build/bench/qloop-stream [-t THREADS] [-r ROUNDS] [--isa avx512|avx2|scalar|neon]
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qloop.h"
#include "quant/quantize.h"
#include "quant/types.h"
#include "runtime/pool.h"
#include "simd/dispatch.h"
#include "simd/g16.h"

enum { MATRIX_BYTES = 384 << 20, MAX_ROUNDS = 64 };

typedef struct job {
    ql_matmul_fn mm; /* matmul[type] or matmul_g16[type] */
    const uint8_t *w;
    size_t row_bytes;
    int64_t k;
    const void *x;
    float *y;
    uint64_t *sums; /* plain read: one per thread, 8 apart */
} job;

static void kernel_task(void *ctx, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const job *j = ctx;
    j->mm(j->w, j->row_bytes, j->k, j->x, 0, 1, j->y, 0, r0, r1);
}

/* Rows r0..r1 read as 64-bit words into 8 independent sums (the probe's loop). */
static void read_task(void *ctx, int64_t r0, int64_t r1, int thread) {
    const job *j = ctx;
    const uint64_t *p = (const uint64_t *)(j->w + (size_t)r0 * j->row_bytes);
    size_t n = (size_t)(r1 - r0) * j->row_bytes / 8 / 8 * 8;
    uint64_t a[8] = {0};
    for (size_t i = 0; i < n; i += 8)
        for (int l = 0; l < 8; l++) a[l] += p[i + l];
    j->sums[8 * thread] = a[0] ^ a[1] ^ a[2] ^ a[3] ^ a[4] ^ a[5] ^ a[6] ^ a[7];
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Standard normal values from a xorshift generator (Box-Muller). */
static float normal(uint64_t *s) {
    double u[2];
    for (int i = 0; i < 2; i++) {
        *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
        u[i] = ((double)(*s >> 11) + 0.5) / 9007199254740992.0;
    }
    return (float)(sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]));
}

static int run(const ql_kernel_table *kern, ql_pool *pool, int threads, int rounds, uint32_t type,
               int64_t k) {
    uint64_t rb = 0, xrb = 0;
    uint32_t act = kern->act_type[type];
    if (!kern->matmul[type] || !ql_type_row_bytes(type, (uint64_t)k, &rb) ||
        (act != QL_TYPE_F32 && !ql_type_row_bytes(act, (uint64_t)k, &xrb)))
        return 0;
    int64_t rows = (int64_t)(MATRIX_BYTES / rb) / 16 * 16;
    uint8_t *w = aligned_alloc(64, ((size_t)rows * rb + 63) / 64 * 64);
    float *src = malloc((size_t)(16 * k) * sizeof *src), *xf = malloc((size_t)k * sizeof *xf);
    void *xq = malloc(xrb ? xrb : (size_t)k * sizeof(float));
    float *y = malloc((size_t)rows * sizeof *y);
    uint64_t *sums = calloc((size_t)threads * 8, sizeof *sums);
    int ok = w && src && xf && xq && y && sums;
    uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uint64_t)type;
    if (ok) {
        for (int64_t i = 0; i < 16 * k; i++) src[i] = 0.02f * normal(&seed);
        for (int64_t i = 0; i < k; i++) xf[i] = normal(&seed);
        ok = ql_quantize_rows(type, src, w, 16, k, NULL, QL_QUANT_RTN);
    }
    if (!ok) {
        fprintf(stderr, "qloop-stream: cannot set up %s k=%lld\n", ql_type_get(type)->name, (long long)k);
        free(w), free(src), free(xf), free(xq), free(y), free(sums);
        return 1;
    }
    for (int64_t r = 16; r < rows; r += 16) memcpy(w + (size_t)r * rb, w, 16 * rb); /* touches every page */
    size_t unit = ql_g16_unit_bytes(kern, type);
    uint8_t *wg = unit && ql_g16_fits(kern, type, k, rows) ? aligned_alloc(64, ((size_t)rows * rb + 63) / 64 * 64) : NULL;
    if (wg) ql_g16_pack(unit, w, wg, rows, (size_t)rb);
    if (act == QL_TYPE_F32) memcpy(xq, xf, (size_t)k * sizeof(float));
    else kern->from_float[act](xf, xq, k);
    job j = {kern->matmul[type], w, (size_t)rb, k, xq, y, sums};
    job jg = {kern->matmul_g16[type], wg, (size_t)rb, k, xq, y, sums};
    double probe[MAX_ROUNDS], kr[MAX_ROUNDS], pr[MAX_ROUNDS], kp[MAX_ROUNDS], gk[MAX_ROUNDS];
    double gg[MAX_ROUNDS], ggk[MAX_ROUNDS], ggp[MAX_ROUNDS];
    double bytes = (double)rows * (double)rb;
    ql_pool_for_balanced(pool, rows, 16, 0, kernel_task, &j); /* warm-up, and the shares */
    for (int r = 0; r < rounds; r++) {
        probe[r] = ql_read_bandwidth_gbps(0, threads);
        double t0 = ql_time_seconds();
        ql_pool_for(pool, rows, 16, 0, read_task, &j);
        double plain = bytes / (ql_time_seconds() - t0) * 1e-9;
        t0 = ql_time_seconds();
        ql_pool_for_balanced(pool, rows, 16, 0, kernel_task, &j);
        gk[r] = bytes / (ql_time_seconds() - t0) * 1e-9;
        if (wg) {
            t0 = ql_time_seconds();
            ql_pool_for_balanced(pool, rows, 16, 0, kernel_task, &jg);
            gg[r] = bytes / (ql_time_seconds() - t0) * 1e-9;
            ggk[r] = gg[r] / gk[r];
            ggp[r] = gg[r] / probe[r];
        }
        kr[r] = gk[r] / probe[r];
        pr[r] = plain / probe[r];
        kp[r] = gk[r] / plain;
    }
    printf("%-6s k=%-5lld %8.1f MiB  kernel %5.1f GB/s  probe %5.1f GB/s  kernel/probe %5.1f%%  "
           "plain/probe %5.1f%%  kernel/plain %5.1f%%\n",
           ql_type_get(type)->name, (long long)k, bytes / 1048576.0, median(gk, rounds),
           median(probe, rounds), 100 * median(kr, rounds), 100 * median(pr, rounds),
           100 * median(kp, rounds));
    if (wg)
        printf("%-6s k=%-5lld grouped layout: kernel %5.1f GB/s  kernel/probe  %5.1f%%  "
               "grouped/plain-layout kernel %5.1f%%\n",
               ql_type_get(type)->name, (long long)k, median(gg, rounds), 100 * median(ggp, rounds),
               100 * median(ggk, rounds));
    fflush(stdout);
    free(wg);
    free(w), free(src), free(xf), free(xq), free(y), free(sums);
    return 0;
}

int main(int argc, char **argv) {
    int threads = 2, rounds = 7;
    const char *isa = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--isa") && i + 1 < argc) isa = argv[++i];
        else {
            fprintf(stderr, "usage: qloop-stream [-t THREADS] [-r ROUNDS] [--isa LEVEL]\n");
            return 2;
        }
    }
    if (threads < 1 || threads > 256 || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "qloop-stream: -t 1..256, -r 1..%d\n", MAX_ROUNDS);
        return 2;
    }
    const ql_kernel_table *kern = isa ? ql_kernels_for(isa) : ql_kernels();
    if (!kern) {
        fprintf(stderr, "qloop-stream: level '%s' is not available here\n", isa);
        return 2;
    }
    ql_pool *pool = NULL;
    ql_error e = {0};
    if (ql_pool_new(threads, &pool, &e) != QL_OK) {
        fprintf(stderr, "qloop-stream: %s\n", e.message);
        return 1;
    }
    printf("decode kernels against the read probe: %d threads, %d rounds, medians\n", threads, rounds);
    static const uint32_t types[] = {QL_TYPE_Q8_0, QL_TYPE_Q4_0, QL_TYPE_Q4_K, QL_TYPE_Q6_K};
    static const int64_t ks[] = {2048, 8192};
    int rc = 0;
    for (size_t t = 0; t < sizeof types / sizeof *types; t++)
        for (size_t i = 0; i < sizeof ks / sizeof *ks; i++)
            rc |= run(kern, pool, threads, rounds, types[t], ks[i]);
    ql_pool_free(pool);
    return rc;
}
