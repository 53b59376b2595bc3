// bench/bench_pool.cpp: the cost of one parallel step of the thread pool (wake the
// workers, run an empty range each, wait for all: the barrier between two operations of
// the forward pass), for 1..4 threads.
//   build/bench/qloop-bench --benchmark_filter=pool
#include <benchmark/benchmark.h>

#include <cstdint>

extern "C" {
#include "runtime/pool.h"
}

namespace {

void empty_task(void *, int64_t, int64_t, int) {}

void BM_pool_barrier(benchmark::State &state) {
    ql_pool *pool = nullptr;
    if (ql_pool_new((int)state.range(0), &pool, nullptr) != QL_OK) {
        state.SkipWithError("cannot create the pool");
        return;
    }
    for (auto _ : state) ql_pool_for(pool, 1024, 1, 0, empty_task, nullptr);
    state.SetLabel(std::to_string(state.range(0)) + " threads");
    ql_pool_free(pool);
}

}  // namespace

BENCHMARK(BM_pool_barrier)->DenseRange(1, 4)->UseRealTime();
