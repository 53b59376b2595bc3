/*
 * src/runtime/bandwidth.c: a memory read-bandwidth probe, the decode roofline's input.
 *
 * Each thread sums its share of the buffer as 64-bit integers into 8 independent
 * accumulators: integer adds are associative, so the compiler vectorises the loop freely
 * and the loop is bound by loads, not by add latency (a naive float sum measures add
 * latency instead; see shared/BASELINE.md).
 */
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "qloop.h"

typedef struct probe {
    const uint64_t *buf;
    uint64_t *sums; /* one per thread, 64 bytes apart */
} probe;

static void sum_task(void *ctx, int64_t begin, int64_t end, int thread) {
    probe *p = ctx;
    uint64_t a[8] = {0};
    for (int64_t i = begin; i < end; i += 8)
        for (int j = 0; j < 8; j++) a[j] += p->buf[i + j];
    p->sums[thread * 8] = a[0] ^ a[1] ^ a[2] ^ a[3] ^ a[4] ^ a[5] ^ a[6] ^ a[7];
}

struct ql_bandwidth_probe {
    uint64_t *buf, *sums;
    size_t n; /* words */
    ql_pool *pool;
    double bytes, seconds; /* totals since the last reset */
};

void ql_bandwidth_probe_free(ql_bandwidth_probe *bp) {
    if (!bp) return;
    ql_pool_free(bp->pool);
    free(bp->buf);
    free(bp->sums);
    free(bp);
}

ql_bandwidth_probe *ql_bandwidth_probe_new(size_t bytes, int32_t n_threads) {
    if (bytes == 0) bytes = (size_t)256 << 20;
    if (n_threads <= 0) n_threads = ql_physical_cores();
    ql_bandwidth_probe *bp = calloc(1, sizeof *bp);
    if (!bp) return NULL;
    bp->n = bytes / sizeof(uint64_t) / 64 * 64;
    bp->buf = bp->n ? aligned_alloc(64, bp->n * sizeof(uint64_t)) : NULL;
    bp->sums = calloc((size_t)n_threads * 8, sizeof(uint64_t));
    if (!bp->buf || !bp->sums || ql_pool_new(n_threads, &bp->pool, NULL) != QL_OK) {
        ql_bandwidth_probe_free(bp);
        return NULL;
    }
    for (size_t i = 0; i < bp->n; i++) bp->buf[i] = i * 0x9e3779b97f4a7c15ull;
    return bp;
}

double ql_bandwidth_probe_pass(ql_bandwidth_probe *bp) {
    probe p = {bp->buf, bp->sums};
    double t0 = ql_time_seconds();
    ql_pool_for(bp->pool, (int64_t)bp->n, 8, 0, sum_task, &p);
    double dt = ql_time_seconds() - t0, bytes = (double)(bp->n * sizeof(uint64_t));
    volatile uint64_t sink = bp->sums[0];
    (void)sink;
    bp->bytes += bytes;
    bp->seconds += dt;
    return dt > 0 ? bytes / dt * 1e-9 : 0.0;
}

double ql_bandwidth_probe_mean(ql_bandwidth_probe *bp, bool reset) {
    double gbps = bp->seconds > 0 ? bp->bytes / bp->seconds * 1e-9 : 0.0;
    if (reset) bp->bytes = bp->seconds = 0;
    return gbps;
}

/* The best of 5 passes of a probe over `bytes` (default 1 GiB). */
double ql_read_bandwidth_gbps(size_t bytes, int32_t n_threads) {
    ql_bandwidth_probe *bp = ql_bandwidth_probe_new(bytes ? bytes : (size_t)1 << 30, n_threads);
    if (!bp) return -1.0;
    double best = 0.0;
    for (int pass = 0; pass < 5; pass++) {
        double gbps = ql_bandwidth_probe_pass(bp);
        if (gbps > best) best = gbps;
    }
    ql_bandwidth_probe_free(bp);
    return best;
}
