/* src/runtime/pool.c: persistent workers, one job at a time, spin-then-sleep waiting. */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "error.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ volatile("yield")
#else
#define cpu_relax() ((void)0)
#endif

#define JOIN_CLOSED (1ull << 31)
#define JOIN_COUNT ((1ull << 31) - 1)

/* Spin iterations before a waiting worker sleeps (about 50-100 us). */
enum { SPIN_LIMIT = 1 << 14 };
/* Spinning threads yield the core this often, so that an oversubscribed machine (more
 * runnable threads than cores) still makes progress. */
enum { YIELD_EVERY = 1 << 10 };

typedef struct worker {
    struct ql_pool *pool;
    int index;
    pthread_t thread;
} worker;

struct ql_pool {
    int n_threads;
    worker *workers; /* n_threads - 1 */
    /* the current job */
    ql_task_fn fn;
    void *ctx;
    int64_t n, chunk;     /* static: indices per thread; chunks: per chunk */
    int mode;             /* JOB_STATIC, JOB_CHUNKS (taken from `next`), JOB_BALANCED
                           * (ranges from `bounds`, timed) */
    int64_t *bounds;      /* n_threads + 1 range boundaries of a balanced job */
    double *share;        /* balanced jobs: each thread's learned share of the indices */
    double *finish;       /* balanced jobs: seconds from the start of the job to each
                           * thread's end of its range, 8 doubles (a cache line) apart */
    double started;       /* balanced jobs: when the caller published the job */
    _Atomic int64_t next;
    /* job generation: workers start a job when it changes; stop ends the workers */
    _Atomic uint64_t generation;
    /* Workers join a job before reading it: join = (low 32 bits of its generation) << 32 |
     * CLOSED | number joined. A chunked job is closed when the caller has run out of chunks,
     * so a worker that was not on a core meanwhile skips it instead of holding up the
     * caller (static jobs wait for every worker). The caller then waits until `finished`
     * equals the number joined, and only then rewrites the job. */
    _Atomic uint64_t join;
    _Atomic int finished;
    _Atomic int stop;
    _Atomic int sleepers;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
};

enum { JOB_STATIC, JOB_CHUNKS, JOB_BALANCED };

static void run_range(ql_pool *p, int thread) {
    if (p->mode == JOB_BALANCED) {
        int64_t begin = p->bounds[thread], end = p->bounds[thread + 1];
        if (begin < end) p->fn(p->ctx, begin, end, thread);
        p->finish[8 * thread] = ql_time_seconds() - p->started;
        return;
    }
    if (p->mode == JOB_CHUNKS) {
        for (;;) {
            int64_t begin = atomic_fetch_add_explicit(&p->next, p->chunk, memory_order_relaxed);
            if (begin >= p->n) return;
            p->fn(p->ctx, begin, begin + p->chunk < p->n ? begin + p->chunk : p->n, thread);
        }
    }
    int64_t begin = (int64_t)thread * p->chunk;
    int64_t end = begin + p->chunk;
    if (thread == p->n_threads - 1 || end > p->n) end = p->n;
    if (begin < end) p->fn(p->ctx, begin, end, thread);
}

static void *worker_main(void *arg) {
    worker *w = arg;
    ql_pool *p = w->pool;
    uint64_t seen = 0;
    for (;;) {
        uint64_t gen;
        int spins = 0;
        while ((gen = atomic_load_explicit(&p->generation, memory_order_acquire)) == seen) {
            if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
            if (++spins < SPIN_LIMIT) {
                cpu_relax();
                if (spins % YIELD_EVERY == 0) sched_yield();
                continue;
            }
            pthread_mutex_lock(&p->mutex);
            atomic_fetch_add(&p->sleepers, 1);
            while (atomic_load(&p->generation) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->wake, &p->mutex);
            atomic_fetch_sub(&p->sleepers, 1);
            pthread_mutex_unlock(&p->mutex);
            spins = 0;
        }
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) return NULL;
        seen = gen;
        uint64_t j = atomic_load_explicit(&p->join, memory_order_acquire);
        bool joined = false;
        while (!joined && (uint32_t)(j >> 32) == (uint32_t)gen && !(j & JOIN_CLOSED))
            joined = atomic_compare_exchange_weak_explicit(&p->join, &j, j + 1, memory_order_acq_rel,
                                                           memory_order_acquire);
        if (!joined) continue; /* a later job, or this one closed: nothing to do */
        run_range(p, w->index);
        atomic_fetch_add_explicit(&p->finished, 1, memory_order_release);
    }
}

ql_status ql_pool_new(int n_threads, ql_pool **out, ql_error *err) {
    *out = NULL;
    if (n_threads < 1 || n_threads > 1024)
        return ql_fail(err, QL_ERR_ARG, "thread count %d: must be 1..1024", n_threads);
    ql_pool *p = calloc(1, sizeof *p);
    if (!p) return ql_fail(err, QL_ERR_NOMEM, "thread pool: out of memory");
    p->n_threads = n_threads;
    p->bounds = calloc((size_t)n_threads + 1, sizeof *p->bounds);
    p->share = calloc((size_t)n_threads, sizeof *p->share);
    p->finish = calloc((size_t)n_threads * 8, sizeof *p->finish);
    pthread_mutex_init(&p->mutex, NULL);
    pthread_cond_init(&p->wake, NULL);
    if (!p->bounds || !p->share || !p->finish) {
        ql_pool_free(p);
        return ql_fail(err, QL_ERR_NOMEM, "thread pool: out of memory");
    }
    for (int i = 0; i < n_threads; i++) p->share[i] = 1.0 / n_threads;
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->workers) {
            ql_pool_free(p);
            return ql_fail(err, QL_ERR_NOMEM, "thread pool: out of memory");
        }
        for (int i = 0; i < n_threads - 1; i++) {
            p->workers[i].pool = p;
            p->workers[i].index = i + 1;
            if (pthread_create(&p->workers[i].thread, NULL, worker_main, &p->workers[i])) {
                p->n_threads = i + 1; /* free joins only the started ones */
                ql_pool_free(p);
                return ql_fail(err, QL_ERR_NOMEM, "thread pool: cannot start thread %d", i + 1);
            }
        }
    }
    *out = p;
    return QL_OK;
}

void ql_pool_free(ql_pool *p) {
    if (!p) return;
    if (p->workers) {
        pthread_mutex_lock(&p->mutex);
        atomic_store(&p->stop, 1);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mutex);
        for (int i = 0; i < p->n_threads - 1; i++) pthread_join(p->workers[i].thread, NULL);
        free(p->workers);
    }
    pthread_mutex_destroy(&p->mutex);
    pthread_cond_destroy(&p->wake);
    free(p->bounds);
    free(p->share);
    free(p->finish);
    free(p);
}

int ql_pool_n_threads(const ql_pool *p) { return p->n_threads; }

/* Starts the job set in p on the workers, runs the caller's share, waits for the rest. */
static void run_job(ql_pool *p) {
    uint64_t gen = atomic_load_explicit(&p->generation, memory_order_relaxed) + 1;
    atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
    atomic_store_explicit(&p->join, (uint64_t)(uint32_t)gen << 32, memory_order_relaxed);
    atomic_fetch_add(&p->generation, 1); /* seq_cst: publishes the job; before the sleepers load */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->mutex);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->mutex);
    }
    run_range(p, 0);
    /* wait for the workers (static jobs: all of them to join; chunked jobs: those that
     * joined before the close); yield the core now and then in case a worker is waiting
     * for it (more runnable threads than cores) */
    uint64_t joined = p->mode == JOB_CHUNKS ? atomic_fetch_or(&p->join, JOIN_CLOSED) & JOIN_COUNT
                                 : (uint64_t)(p->n_threads - 1);
    for (unsigned spins = 1; (uint64_t)atomic_load_explicit(&p->finished, memory_order_acquire) < joined; spins++) {
        cpu_relax();
        if (spins % YIELD_EVERY == 0) sched_yield();
    }
}

/* Sets the job and runs it (see run_job). */
static void start_job(ql_pool *p, int mode, ql_task_fn fn, void *ctx, int64_t n, int64_t chunk) {
    p->fn = fn;
    p->ctx = ctx;
    p->n = n;
    p->chunk = chunk;
    p->mode = mode;
    atomic_store_explicit(&p->next, 0, memory_order_relaxed); /* published by run_job */
    run_job(p);
}

/* True when the job is run here, on the caller alone: nothing to do, one thread, or too
 * little work to wake the others. */
static bool run_alone(const ql_pool *p, int64_t n, int64_t min_per_thread, ql_task_fn fn,
                      void *ctx) {
    if (n <= 0) return true;
    if (p->n_threads > 1 && n > min_per_thread) return false;
    fn(ctx, 0, n, 0);
    return true;
}

void ql_pool_for(ql_pool *p, int64_t n, int64_t align, int64_t min_per_thread, ql_task_fn fn,
                 void *ctx) {
    if (run_alone(p, n, min_per_thread, fn, ctx)) return;
    if (align < 1) align = 1;
    int64_t per = (n + p->n_threads - 1) / p->n_threads;
    start_job(p, JOB_STATIC, fn, ctx, n, (per + align - 1) / align * align);
}

/* Learning rate of the shares: a thread's share moves 1/8 of the way to its ideal per job
 * (a token's decode has ~100 matmuls), so one descheduled job moves it little. */
#define SHARE_RATE 0.125

void ql_pool_for_balanced(ql_pool *p, int64_t n, int64_t align, int64_t min_per_thread,
                          ql_task_fn fn, void *ctx) {
    if (run_alone(p, n, min_per_thread, fn, ctx)) return;
    if (align < 1) align = 1;
    int nt = p->n_threads;
    double cum = 0.0;
    p->bounds[0] = 0;
    for (int t = 1; t < nt; t++) {
        cum += p->share[t - 1];
        int64_t b = (int64_t)(cum * (double)n / (double)align + 0.5) * align;
        p->bounds[t] = b < p->bounds[t - 1] ? p->bounds[t - 1] : b > n ? n : b;
    }
    p->bounds[nt] = n;
    p->started = ql_time_seconds();
    start_job(p, JOB_BALANCED, fn, ctx, n, 0);
    /* A thread that ended its range at time f after the start ran n_t / f indices per
     * second, its start-up delay included; giving each thread a share proportional to
     * that rate makes them end together. Skipped when a range was empty or too short to
     * time. */
    double total = 0.0;
    for (int t = 0; t < nt; t++) {
        double f = p->finish[8 * t];
        int64_t rows = p->bounds[t + 1] - p->bounds[t];
        if (rows <= 0 || !(f > 1e-6)) return;
        total += (double)rows / f;
    }
    double sum = 0.0;
    for (int t = 0; t < nt; t++) {
        double rate = (double)(p->bounds[t + 1] - p->bounds[t]) / p->finish[8 * t];
        double s = (1.0 - SHARE_RATE) * p->share[t] + SHARE_RATE * rate / total;
        double lo = 0.25 / nt, hi = 4.0 / nt; /* never starve nor overload a thread */
        p->share[t] = s < lo ? lo : s > hi ? hi : s;
        sum += p->share[t];
    }
    for (int t = 0; t < nt; t++) p->share[t] /= sum;
}

void ql_pool_for_chunks(ql_pool *p, int64_t n, int64_t chunk, ql_task_fn fn, void *ctx) {
    if (chunk < 1) chunk = 1;
    if (run_alone(p, n, chunk, fn, ctx)) return;
    start_job(p, JOB_CHUNKS, fn, ctx, n, chunk);
}
