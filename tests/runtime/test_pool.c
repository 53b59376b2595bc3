/* tests/runtime/test_pool.c: the thread pool covers every index exactly once. */
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "runtime/pool.h"
#include "test.h"

typedef struct cover {
    _Atomic int *hits;
    int64_t align, n;
    _Atomic int bad_align;
    _Atomic int max_thread;
} cover;

static void cover_task(void *ctx, int64_t begin, int64_t end, int thread) {
    cover *c = ctx;
    if (begin % c->align != 0 || (end % c->align != 0 && end != c->n)) atomic_store(&c->bad_align, 1);
    for (int64_t i = begin; i < end; i++) atomic_fetch_add(&c->hits[i], 1);
    int m = atomic_load(&c->max_thread);
    while (thread > m && !atomic_compare_exchange_weak(&c->max_thread, &m, thread)) {}
}

/* One repetition of a coverage test: `jobs` jobs over [0, n) with alignment / chunk
 * `param`, each adding 1 to every index it covers. */
typedef void (*cover_rep)(ql_pool *p, int64_t n, int64_t param, cover *c);

/* For 1..4 threads, sizes around the tile sizes and each param: 50 repetitions of `rep`
 * (exercising the spin/sleep hand-over between jobs) leave every index hit 50 * jobs
 * times, every range aligned and no thread id out of range. */
static void check_cover(const int64_t *params, size_t n_params, int jobs, cover_rep rep) {
    for (int threads = 1; threads <= 4; threads++) {
        ql_pool *p = NULL;
        ql_error e = {0};
        CHECK(ql_pool_new(threads, &p, &e) == QL_OK);
        if (!p) return;
        static const int64_t sizes[] = {1, 2, 3, 7, 31, 32, 33, 255, 4113};
        for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
            for (size_t pi = 0; pi < n_params; pi++) {
                int64_t n = sizes[si];
                cover c = {calloc((size_t)n, sizeof(_Atomic int)), params[pi], n, 0, -1};
                for (int r = 0; r < 50; r++) rep(p, n, params[pi], &c);
                for (int64_t i = 0; i < n; i++) CHECK_EQ_INT(atomic_load(&c.hits[i]), 50 * jobs);
                CHECK(atomic_load(&c.bad_align) == 0);
                CHECK(atomic_load(&c.max_thread) < threads);
                free((void *)c.hits);
            }
        }
        ql_pool_free(p);
    }
}

static const int64_t k_aligns[] = {1, 4, 16};

static void rep_static(ql_pool *p, int64_t n, int64_t align, cover *c) {
    ql_pool_for(p, n, align, 0, cover_task, c);
}

static void rep_chunks(ql_pool *p, int64_t n, int64_t chunk, cover *c) {
    ql_pool_for_chunks(p, n, chunk, cover_task, c);
    ql_pool_for(p, n, chunk, 0, cover_task, c); /* static jobs in between */
}

static void rep_balanced(ql_pool *p, int64_t n, int64_t align, cover *c) {
    ql_pool_for_balanced(p, n, align, 0, cover_task, c);
    ql_pool_for_chunks(p, n, align, cover_task, c); /* other jobs between */
}

static void test_parallel_for_covers_each_index_once(void) {
    check_cover(k_aligns, 3, 1, rep_static);
}

static void test_chunks_cover_each_index_once(void) {
    static const int64_t chunks[] = {1, 4, 16, 5000};
    check_cover(chunks, 4, 2, rep_chunks);
}

static void test_balanced_covers_each_index_once(void) {
    check_cover(k_aligns, 3, 2, rep_balanced);
}

/* Thread 1 takes 4x as long per index as thread 0: after some jobs it holds clearly fewer
 * indices than thread 0 (an equal split would give each 512). */
typedef struct skewed {
    _Atomic int64_t count[2];
} skewed;

static void skewed_task(void *ctx, int64_t begin, int64_t end, int thread) {
    skewed *s = ctx;
    struct timespec ts = {0, (long)(end - begin) * (thread == 1 ? 4000 : 1000)};
    nanosleep(&ts, NULL);
    atomic_store(&s->count[thread], end - begin);
}

static void test_balanced_gives_a_slow_thread_less(void) {
    ql_pool *p = NULL;
    ql_error e = {0};
    CHECK(ql_pool_new(2, &p, &e) == QL_OK);
    if (!p) return;
    skewed s = {{0, 0}};
    for (int rep = 0; rep < 60; rep++) ql_pool_for_balanced(p, 1024, 16, 0, skewed_task, &s);
    int64_t c0 = atomic_load(&s.count[0]), c1 = atomic_load(&s.count[1]);
    CHECK_EQ_INT(c0 + c1, 1024);
    /* the ideal is 819 / 205; sleeps overshoot, so only ask for a clear move */
    CHECK(c0 >= 640);
    CHECK(c1 >= 1024 / 8); /* never starved below a quarter of the equal share */
    ql_pool_free(p);
}

static void test_small_jobs_run_on_the_caller(void) {
    ql_pool *p = NULL;
    ql_error e = {0};
    CHECK(ql_pool_new(2, &p, &e) == QL_OK);
    if (!p) return;
    cover c = {calloc(10, sizeof(_Atomic int)), 1, 10, 0, -1};
    ql_pool_for(p, 10, 1, 10, cover_task, &c);
    CHECK_EQ_INT(atomic_load(&c.max_thread), 0);
    free((void *)c.hits);
    ql_pool_free(p);
}

static void test_pool_survives_idle_sleep(void) {
    ql_pool *p = NULL;
    ql_error e = {0};
    CHECK(ql_pool_new(3, &p, &e) == QL_OK);
    if (!p) return;
    cover c = {calloc(64, sizeof(_Atomic int)), 1, 64, 0, -1};
    for (int rep = 0; rep < 3; rep++) {
        ql_pool_for(p, 64, 1, 0, cover_task, &c);
        struct timespec ts = {0, 20 * 1000 * 1000}; /* workers go to sleep */
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < 64; i++) CHECK_EQ_INT(atomic_load(&c.hits[i]), 3);
    free((void *)c.hits);
    ql_pool_free(p);
}

static void test_bad_thread_count_is_an_error(void) {
    ql_pool *p = (ql_pool *)1;
    ql_error e = {0};
    CHECK(ql_pool_new(0, &p, &e) == QL_ERR_ARG);
    CHECK(p == NULL);
}

int main(void) {
    RUN(test_parallel_for_covers_each_index_once);
    RUN(test_chunks_cover_each_index_once);
    RUN(test_balanced_covers_each_index_once);
    RUN(test_balanced_gives_a_slow_thread_less);
    RUN(test_small_jobs_run_on_the_caller);
    RUN(test_pool_survives_idle_sleep);
    RUN(test_bad_thread_count_is_an_error);
    return TEST_REPORT();
}
