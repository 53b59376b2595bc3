// bench/bench_kernels.cpp: every kernel of the table, for every level this CPU and build
// have (scalar, avx2, avx512, neon: simd/dispatch.h ql_kernels_for), at cache-resident and
// memory-resident sizes.
//   matmul: bytes/s = weights + activations read per call (the decode roofline compares
//   this with the memory bandwidth); FLOP = 2 * rows * k * n_tok per call, as a rate.
//   build/bench/qloop-bench --benchmark_filter='matmul/avx512'
// Names are kernel/isa/..., so a filter selects a level or a kernel.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

extern "C" {
#include "quant/types.h"
#include "simd/dispatch.h"
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

void bench_matmul(benchmark::State &state, const ql_kernel_table *kt, uint32_t type, int64_t rows,
                  int64_t k, int64_t n_tok) {
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
    for (auto _ : state) {
        kt->matmul[type](w.data(), (size_t)k * elt, k, x.data(), (size_t)k * 4, n_tok, y.data(), rows, 0,
                         rows);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * (int64_t)(w.size() + x.size() * 4));
    state.counters["FLOP"] = benchmark::Counter(2.0 * (double)rows * (double)k * (double)n_tok,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

void bench_rmsnorm(benchmark::State &state, const ql_kernel_table *kt, int64_t n) {
    std::vector<float> x = random_floats((size_t)n, 3), w = random_floats((size_t)n, 4), y((size_t)n);
    for (auto _ : state) {
        kt->rmsnorm(y.data(), x.data(), w.data(), n, 1e-5f);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * n * 12);
}

void bench_softmax(benchmark::State &state, const ql_kernel_table *kt, int64_t n) {
    std::vector<float> x0 = random_floats((size_t)n, 5), x((size_t)n);
    for (auto _ : state) {
        std::memcpy(x.data(), x0.data(), (size_t)n * 4);
        kt->softmax(x.data(), n);
        benchmark::DoNotOptimize(x.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * n);
}

void bench_swiglu(benchmark::State &state, const ql_kernel_table *kt, int64_t n) {
    std::vector<float> g = random_floats((size_t)n, 6), u = random_floats((size_t)n, 7), y((size_t)n);
    for (auto _ : state) {
        kt->swiglu(y.data(), g.data(), u.data(), n);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * n);
}

void bench_dot(benchmark::State &state, const ql_kernel_table *kt, int64_t n) {
    std::vector<float> a = random_floats((size_t)n, 8), b = random_floats((size_t)n, 9);
    for (auto _ : state) {
        float s = kt->dot(a.data(), b.data(), n);
        benchmark::DoNotOptimize(s);
    }
    state.SetBytesProcessed(state.iterations() * n * 8);
}

void bench_axpy(benchmark::State &state, const ql_kernel_table *kt, int64_t n) {
    std::vector<float> x = random_floats((size_t)n, 10), y = random_floats((size_t)n, 11);
    for (auto _ : state) {
        kt->axpy(y.data(), 1e-3f, x.data(), n);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * n * 12);
}

// One position's RoPE over n_head heads of head_dim (all rotated), both layouts.
void bench_rope(benchmark::State &state, const ql_kernel_table *kt, int64_t n_head, int64_t head_dim,
                int neox) {
    std::vector<float> x = random_floats((size_t)(n_head * head_dim), 12), cs((size_t)head_dim);
    for (int64_t i = 0; i < head_dim / 2; i++) {
        cs[(size_t)(2 * i)] = std::cos(0.1f * (float)i);
        cs[(size_t)(2 * i + 1)] = std::sin(0.1f * (float)i);
    }
    for (auto _ : state) {
        kt->rope(x.data(), n_head, head_dim, head_dim, cs.data(), neox);
        benchmark::DoNotOptimize(x.data());
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations() * n_head * head_dim);
}

template <class F, class... A>
void reg(const std::string &name, F fn, A... args) {
    benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State &s) { fn(s, args...); });
}

std::string num(int64_t v) { return std::to_string(v); }

void register_level(const ql_kernel_table *kt) {
    const std::string isa = kt->isa;
    struct shape {
        int64_t rows, k, n_tok;
        const char *what;
    };
    // L2 is 2 MiB per core and L3 32 MiB on the reference VM: 256 x 256 stays in L1/L2,
    // 8192 x 4096 (64-128 MiB) streams from memory; 1024 x 2048 x 64 tokens is a prompt tile.
    const shape shapes[] = {
        {256, 256, 1, "gemv-cache"},
        {8192, 4096, 1, "gemv-memory"},
        {256, 256, 16, "gemm-small"},
        {1024, 2048, 64, "gemm-prompt"},
    };
    for (uint32_t type : {QL_TYPE_F32, QL_TYPE_F16, QL_TYPE_BF16})
        for (const shape &s : shapes)
            reg("matmul/" + isa + "/" + ql_type_get(type)->name + "/" + s.what + "/" + num(s.rows) + "x" +
                    num(s.k) + "/tok:" + num(s.n_tok),
                bench_matmul, kt, type, s.rows, s.k, s.n_tok);
    for (int64_t n : {64, 4096}) reg("rmsnorm/" + isa + "/" + num(n), bench_rmsnorm, kt, n);
    for (int64_t n : {64, 4096}) reg("softmax/" + isa + "/" + num(n), bench_softmax, kt, n);
    for (int64_t n : {172, 8192}) reg("swiglu/" + isa + "/" + num(n), bench_swiglu, kt, n);
    for (int64_t n : {64, 128, 4096}) reg("dot/" + isa + "/" + num(n), bench_dot, kt, n);
    for (int64_t n : {64, 4096}) reg("axpy/" + isa + "/" + num(n), bench_axpy, kt, n);
    for (int neox : {0, 1})
        reg("rope/" + isa + (neox ? "/neox" : "/interleaved") + "/32x64", bench_rope, kt, (int64_t)32,
            (int64_t)64, neox);
}

}  // namespace

int main(int argc, char **argv) {
    for (const char *isa : {"scalar", "avx2", "avx512", "amx", "neon"})
        if (const ql_kernel_table *kt = ql_kernels_for(isa)) register_level(kt);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

// ---- quantized weights (simd/<isa>_quant.c) ----------------------------------------------
// matmul/<isa>/<type>/...: weights in the type's blocks x activations already converted to
// the type's activation format (as forward.c calls it: once per matmul); bytes/s = weight +
// activation bytes read per call, FLOP as above (an int8 multiply-add counts 2 OP).
//   build/bench/qloop-bench --benchmark_filter='matmul/avx512/q4_0'
// matmul-grouped/<isa>/<type>/...: the same over the grouped layout (matmul_g16).
extern "C" {
#include "quant/formats.h"
#include "simd/g16.h"
}

namespace {

struct quant_fmt {
    uint32_t type;
    void (*quantize)(const float *x, void *dst, int64_t n);
};

const quant_fmt k_quant_fmts[] = {
    {QL_TYPE_Q8_0, ql_quantize_row_q8_0}, {QL_TYPE_Q4_0, ql_quantize_row_q4_0},
    {QL_TYPE_Q4_1, ql_quantize_row_q4_1}, {QL_TYPE_Q4_K, ql_quantize_row_q4_k},
    {QL_TYPE_Q5_K, ql_quantize_row_q5_k}, {QL_TYPE_Q6_K, ql_quantize_row_q6_k},
};

size_t type_row_bytes(uint32_t type, int64_t k) {
    uint64_t b = 0;
    ql_type_row_bytes(type, (uint64_t)k, &b);
    return (size_t)b;
}

// grouped: the weights in the grouped layout, through matmul_g16 (simd/g16.h), as a loaded
// model runs them on levels that have it
void bench_matmul_quant(benchmark::State &state, const ql_kernel_table *kt, quant_fmt f, int64_t rows,
                        int64_t k, int64_t n_tok, bool grouped) {
    size_t rb = type_row_bytes(f.type, k);
    uint32_t act = kt->act_type[f.type];
    size_t xb = type_row_bytes(act, k);
    // 64 distinct random rows, repeated: contents do not change the speed
    const int64_t distinct = rows < 64 ? rows : 64;
    std::vector<unsigned char> w(rb * (size_t)rows);
    std::vector<float> wf = random_floats((size_t)(distinct * k), 21);
    for (int64_t r = 0; r < distinct; r++) f.quantize(&wf[(size_t)(r * k)], &w[rb * (size_t)r], k);
    for (int64_t r = distinct; r < rows; r++) std::memcpy(&w[rb * (size_t)r], &w[rb * (size_t)(r % distinct)], rb);
    std::vector<float> xf = random_floats((size_t)(n_tok * k), 22), y((size_t)(n_tok * rows));
    std::vector<unsigned char> x(xb * (size_t)n_tok);
    for (int64_t t = 0; t < n_tok; t++) kt->from_float[act](&xf[(size_t)(t * k)], &x[xb * (size_t)t], k);
    ql_matmul_fn mm = kt->matmul[f.type];
    if (grouped) {
        std::vector<unsigned char> plain(w);
        ql_g16_pack(ql_g16_unit_bytes(kt, f.type), plain.data(), w.data(), rows, rb);
        mm = kt->matmul_g16[f.type];
    }
    for (auto _ : state) {
        mm(w.data(), rb, k, x.data(), xb, n_tok, y.data(), rows, 0, rows);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * (int64_t)(w.size() + x.size()));
    state.counters["OP"] = benchmark::Counter(2.0 * (double)rows * (double)k * (double)n_tok,
                                              benchmark::Counter::kIsIterationInvariantRate);
}

void bench_from_float(benchmark::State &state, const ql_kernel_table *kt, uint32_t act, int64_t n) {
    std::vector<float> x = random_floats((size_t)n, 23);
    std::vector<unsigned char> q(type_row_bytes(act, n));
    for (auto _ : state) {
        kt->from_float[act](x.data(), q.data(), n);
        benchmark::DoNotOptimize(q.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(state.iterations() * n * 4);
}

void register_quant_level(const ql_kernel_table *kt) {
    const std::string isa = kt->isa;
    struct shape {
        int64_t rows, k, n_tok;
        const char *what;
    };
    const shape shapes[] = {
        {256, 256, 1, "gemv-cache"},
        {1024, 1024, 1, "gemv-l2"},
        {8192, 4096, 1, "gemv-memory"},
        {1024, 2048, 4, "gemm-few"}, // a few tokens: where the prompt kernels start (n_tok >= 3)
        {256, 256, 16, "gemm-small"},
        {1024, 2048, 64, "gemm-prompt"},
        // a 1B model's FFN shapes at pp512: activations larger than L2
        {8192, 2048, 512, "gemm-pp512"},
        {2048, 8192, 512, "gemm-pp512"},
    };
    for (const quant_fmt &f : k_quant_fmts) {
        if (!kt->matmul[f.type]) continue;
        for (const shape &s : shapes)
            reg("matmul/" + isa + "/" + ql_type_get(f.type)->name + "/" + s.what + "/" + num(s.rows) + "x" +
                    num(s.k) + "/tok:" + num(s.n_tok),
                bench_matmul_quant, kt, f, s.rows, s.k, s.n_tok, false);
        for (const shape &s : shapes)
            if (ql_g16_fits(kt, f.type, s.k, s.rows))
                reg("matmul-grouped/" + isa + "/" + ql_type_get(f.type)->name + "/" + s.what + "/" +
                        num(s.rows) + "x" + num(s.k) + "/tok:" + num(s.n_tok),
                    bench_matmul_quant, kt, f, s.rows, s.k, s.n_tok, true);
    }
    for (uint32_t act : {QL_TYPE_Q8_0, QL_TYPE_Q8_K})
        reg("from_float/" + isa + "/" + ql_type_get(act)->name + "/4096", bench_from_float, kt, act,
            (int64_t)4096);
}

// Registered before main() runs (main registers the float kernels).
const bool g_quant_registered = [] {
    for (const char *isa : {"scalar", "avx2", "avx512", "amx", "neon"})
        if (const ql_kernel_table *kt = ql_kernels_for(isa)) register_quant_level(kt);
    return true;
}();

}  // namespace
