/*
 * src/runtime/pool.h: a persistent thread pool for parallel-for over index ranges.
 *
 * ql_pool_for(pool, n, fn, ctx) splits [0, n) into one contiguous range per thread
 * (the calling thread takes range 0; ql_pool_for_chunks: chunks taken on demand), runs
 * them, and returns when all are done: the return is the barrier between two operations
 * of the forward pass. Workers spin briefly
 * waiting for the next job (operations follow each other within microseconds during a
 * forward pass), then sleep on a condition variable. Nothing is allocated per job.
 */
#ifndef QL_RUNTIME_POOL_H
#define QL_RUNTIME_POOL_H

#include <stdint.h>

#include "qloop.h"

typedef struct ql_pool ql_pool;

/* fn processes indices [begin, end); `thread` is 0..n_threads-1. */
typedef void (*ql_task_fn)(void *ctx, int64_t begin, int64_t end, int thread);

ql_status ql_pool_new(int n_threads, ql_pool **out, ql_error *err);
void ql_pool_free(ql_pool *pool);
int ql_pool_n_threads(const ql_pool *pool);

/* Runs fn over [0, n) split into ranges of whole multiples of `align` (the last range
 * takes the remainder). When n <= min_per_thread the caller runs it all alone. Not
 * reentrant: fn must not call ql_pool_for on the same pool. */
void ql_pool_for(ql_pool *pool, int64_t n, int64_t align, int64_t min_per_thread, ql_task_fn fn,
                 void *ctx);

/* As ql_pool_for, with one contiguous range per thread sized by what each thread got
 * through in the jobs before: the pool times every balanced job (from the caller's start
 * to each thread's end of its range) and moves each thread's share toward its measured
 * rate, so that a thread that starts late or runs slower (a busy core, a slower path to
 * memory) gets fewer indices and all end together. For repeated jobs of similar cost per
 * index: the decode matmuls. Callers that need results independent of the split must
 * compute each index the same way whatever range holds it. */
void ql_pool_for_balanced(ql_pool *pool, int64_t n, int64_t align, int64_t min_per_thread,
                          ql_task_fn fn, void *ctx);

/* Runs fn over [0, n) in chunks of `chunk` indices (the last one shorter) that the threads
 * take in order from a shared counter until none is left: a thread that runs late (a busy
 * core) takes fewer chunks instead of holding up the others. When n <= chunk the caller runs
 * it all alone. Not reentrant. */
void ql_pool_for_chunks(ql_pool *pool, int64_t n, int64_t chunk, ql_task_fn fn, void *ctx);

#endif
