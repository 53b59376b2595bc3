// bench/bench_kernels.cpp: every kernel of the table, for the scalar reference and the
// level selected on this CPU, at cache-resident and memory-resident sizes.
// Reports bytes/s (weights + activations read) and items/s (multiply-adds).
//   build/bench/qloop-bench --benchmark_filter=matmul
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

extern "C" {
#include "quant/types.h"
#include "simd/kernels.h"
}

namespace {

std::vector<float> random_floats(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (auto &x : v) x = d(rng);
    return v;
}

const ql_kernel_table *table(int which) { return which ? ql_kernels() : ql_kernels_scalar(); }

// args: {which table (0 scalar, 1 selected), type, rows, k, n_tok}
void BM_matmul(benchmark::State &state) {
    const ql_kernel_table *kt = table((int)state.range(0));
    uint32_t type = (uint32_t)state.range(1);
    int64_t rows = state.range(2), k = state.range(3), n_tok = state.range(4);
    size_t elt = type == QL_TYPE_F32 ? 4 : 2;
    std::vector<float> wf = random_floats((size_t)(rows * k), 1);
    std::vector<unsigned char> w((size_t)(rows * k) * elt);
    for (size_t i = 0; i < wf.size(); i++) {
        if (type == QL_TYPE_F32) {
            std::memcpy(&w[4 * i], &wf[i], 4);
        } else {
            uint16_t h = type == QL_TYPE_F16 ? ql_f32_to_f16(wf[i]) : ql_f32_to_bf16(wf[i]);
            std::memcpy(&w[2 * i], &h, 2);
        }
    }
    std::vector<float> x = random_floats((size_t)(n_tok * k), 2), y((size_t)(n_tok * rows));
    state.SetLabel(std::string(kt->isa) + " " + ql_type_get(type)->name);
    for (auto _ : state) {
        kt->matmul[type](w.data(), (size_t)k * elt, k, x.data(), (size_t)k * 4, n_tok, y.data(), rows, 0,
                         rows);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * (int64_t)(w.size() + x.size() * 4));
    state.SetItemsProcessed(state.iterations() * rows * k * n_tok);
}

void BM_rmsnorm(benchmark::State &state) {
    const ql_kernel_table *kt = table((int)state.range(0));
    int64_t n = state.range(1);
    std::vector<float> x = random_floats((size_t)n, 3), w = random_floats((size_t)n, 4), y((size_t)n);
    state.SetLabel(kt->isa);
    for (auto _ : state) {
        kt->rmsnorm(y.data(), x.data(), w.data(), n, 1e-5f);
        benchmark::DoNotOptimize(y.data());
    }
    state.SetBytesProcessed(state.iterations() * n * 12);
}

void BM_softmax(benchmark::State &state) {
    const ql_kernel_table *kt = table((int)state.range(0));
    int64_t n = state.range(1);
    std::vector<float> x0 = random_floats((size_t)n, 5), x((size_t)n);
    state.SetLabel(kt->isa);
    for (auto _ : state) {
        std::memcpy(x.data(), x0.data(), (size_t)n * 4);
        kt->softmax(x.data(), n);
        benchmark::DoNotOptimize(x.data());
    }
    state.SetItemsProcessed(state.iterations() * n);
}

void BM_swiglu(benchmark::State &state) {
    const ql_kernel_table *kt = table((int)state.range(0));
    int64_t n = state.range(1);
    std::vector<float> g = random_floats((size_t)n, 6), u = random_floats((size_t)n, 7), y((size_t)n);
    state.SetLabel(kt->isa);
    for (auto _ : state) {
        kt->swiglu(y.data(), g.data(), u.data(), n);
        benchmark::DoNotOptimize(y.data());
    }
    state.SetItemsProcessed(state.iterations() * n);
}

void matmul_args(benchmark::internal::Benchmark *b) {
    for (int which = 0; which <= 1; which++)
        for (int type : {QL_TYPE_F32, QL_TYPE_F16, QL_TYPE_BF16}) {
            b->Args({which, type, 256, 256, 1});    // cache-resident GEMV
            b->Args({which, type, 4096, 2048, 1});  // memory-resident GEMV (16-32 MiB)
            b->Args({which, type, 256, 256, 16});   // small batched GEMM
        }
}

}  // namespace

BENCHMARK(BM_matmul)->Apply(matmul_args);
BENCHMARK(BM_rmsnorm)->ArgsProduct({{0, 1}, {64, 4096}});
BENCHMARK(BM_softmax)->ArgsProduct({{0, 1}, {64, 4096}});
BENCHMARK(BM_swiglu)->ArgsProduct({{0, 1}, {172, 8192}});
BENCHMARK_MAIN();
