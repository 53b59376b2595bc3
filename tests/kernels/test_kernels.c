/*
 * tests/kernels/test_kernels.c: every kernel-table entry against an independent
 * double-precision reference, and the selected ISA's table against the scalar table.
 * Inputs are seeded random (never zeros), at odd sizes and tails.
 * Run with QLOOP_ISA=<level> to check a particular level.
 */
#include <stdint.h>

#include "quant/types.h"
#include "simd/kernels.h"
#include "test.h"

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static double urand(void) { /* uniform in [-1, 1) */
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) * 0x1p-52 - 1.0;
}

static void fill(float *x, int64_t n, double scale) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(urand() * scale);
}

static const int64_t k_sizes[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255, 256, 4096 + 17};
enum { N_SIZES = sizeof k_sizes / sizeof k_sizes[0] };

/* |a - b| within rel * scale, with scale the magnitude of the terms summed. */
static int close_to(double a, double b, double scale, double rel) {
    return fabs(a - b) <= rel * (scale > 1e-30 ? scale : 1e-30);
}

static void test_matmul_matches_double_reference(void) {
    const uint32_t types[] = {QL_TYPE_F32, QL_TYPE_F16, QL_TYPE_BF16};
    const ql_kernel_table *kt = ql_kernels(), *ks = ql_kernels_scalar();
    for (size_t ti = 0; ti < 3; ti++) {
        uint32_t type = types[ti];
        int64_t k = 0;
        for (int si = 0; si < N_SIZES; si++) {
            k = k_sizes[si];
            const int64_t rows = 13, n_tok = 3;
            size_t elt = type == QL_TYPE_F32 ? 4 : 2, row_bytes = (size_t)k * elt;
            unsigned char *w = malloc((size_t)rows * row_bytes);
            float *wf = malloc((size_t)(rows * k) * sizeof(float));
            float *x = malloc((size_t)(n_tok * k) * sizeof(float));
            float *y = malloc((size_t)(n_tok * rows) * sizeof(float));
            float *ys = malloc((size_t)(n_tok * rows) * sizeof(float));
            fill(wf, rows * k, 1.0);
            fill(x, n_tok * k, 1.0);
            for (int64_t i = 0; i < rows * k; i++) {
                if (type == QL_TYPE_F32) memcpy(w + 4 * i, &wf[i], 4);
                else {
                    uint16_t h = type == QL_TYPE_F16 ? ql_f32_to_f16(wf[i]) : ql_f32_to_bf16(wf[i]);
                    memcpy(w + 2 * i, &h, 2);
                    wf[i] = type == QL_TYPE_F16 ? ql_f16_to_f32(h) : ql_bf16_to_f32(h);
                }
            }
            /* two row ranges, as two threads would split them */
            kt->matmul[type](w, row_bytes, k, x, (size_t)k * 4, n_tok, y, rows, 0, 5);
            kt->matmul[type](w, row_bytes, k, x, (size_t)k * 4, n_tok, y, rows, 5, rows);
            ks->matmul[type](w, row_bytes, k, x, (size_t)k * 4, n_tok, ys, rows, 0, rows);
            for (int64_t t = 0; t < n_tok; t++)
                for (int64_t r = 0; r < rows; r++) {
                    double ref = 0, mag = 0;
                    for (int64_t i = 0; i < k; i++) {
                        ref += (double)wf[r * k + i] * x[t * k + i];
                        mag += fabs((double)wf[r * k + i] * x[t * k + i]);
                    }
                    /* float32 summation of k terms: error <= k * eps * sum |terms| */
                    double tol = (double)k * 0x1p-24 + 1e-7;
                    CHECK_MSG(close_to(y[t * rows + r], ref, mag, tol), "type %u k %lld row %lld: %g vs %g",
                              type, (long long)k, (long long)r, y[t * rows + r], ref);
                    CHECK_MSG(close_to(y[t * rows + r], ys[t * rows + r], mag, tol),
                              "type %u k %lld: isa %s vs scalar", type, (long long)k, kt->isa);
                }
            free(w);
            free(wf);
            free(x);
            free(y);
            free(ys);
        }
    }
}

static void test_rmsnorm_softmax_swiglu_match_double_reference(void) {
    const ql_kernel_table *kt = ql_kernels();
    for (int si = 0; si < N_SIZES; si++) {
        int64_t n = k_sizes[si];
        float *x = malloc((size_t)n * sizeof(float)), *w = malloc((size_t)n * sizeof(float));
        float *y = malloc((size_t)n * sizeof(float)), *u = malloc((size_t)n * sizeof(float));
        fill(x, n, 3.0);
        fill(w, n, 1.0);
        fill(u, n, 2.0);
        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
        double scale = 1.0 / sqrt(ss / (double)n + 1e-5);
        kt->rmsnorm(y, x, w, n, 1e-5f);
        for (int64_t i = 0; i < n; i++)
            CHECK_MSG(close_to(y[i], x[i] * scale * w[i], fabs(x[i] * scale), 1e-5), "rmsnorm n %lld", (long long)n);

        memcpy(y, x, (size_t)n * sizeof(float));
        kt->softmax(y, n);
        double mx = -INFINITY, sum = 0;
        for (int64_t i = 0; i < n; i++) mx = fmax(mx, x[i]);
        for (int64_t i = 0; i < n; i++) sum += exp(x[i] - mx);
        for (int64_t i = 0; i < n; i++)
            CHECK_MSG(close_to(y[i], exp(x[i] - mx) / sum, exp(x[i] - mx) / sum, 1e-5 + 1e-7 * (double)n),
                      "softmax n %lld", (long long)n);

        kt->swiglu(y, x, u, n);
        for (int64_t i = 0; i < n; i++) {
            double g = x[i], ref = g / (1 + exp(-g)) * u[i];
            CHECK_MSG(close_to(y[i], ref, fabs(ref) + 1e-30, 1e-5), "swiglu n %lld", (long long)n);
        }

        double dref = 0, dmag = 0;
        for (int64_t i = 0; i < n; i++) {
            dref += (double)x[i] * u[i];
            dmag += fabs((double)x[i] * u[i]);
        }
        CHECK(close_to(kt->dot(x, u, n), dref, dmag, (double)n * 0x1p-24 + 1e-7));

        memcpy(y, w, (size_t)n * sizeof(float));
        kt->axpy(y, 0.75f, x, n);
        for (int64_t i = 0; i < n; i++) CHECK(close_to(y[i], w[i] + 0.75 * x[i], fabs(w[i]) + fabs(x[i]), 1e-6));
        memcpy(y, w, (size_t)n * sizeof(float));
        kt->add(y, x, n);
        for (int64_t i = 0; i < n; i++) CHECK(close_to(y[i], (double)w[i] + x[i], fabs(w[i]) + fabs(x[i]), 1e-6));
        free(x);
        free(w);
        free(y);
        free(u);
    }
}

static void test_rope_rotates_the_right_pairs(void) {
    const ql_kernel_table *kt = ql_kernels();
    const int64_t n_head = 3, head_dim = 12, n_rot = 8;
    float cs[8];
    for (int i = 0; i < 4; i++) {
        double a = 0.3 + i;
        cs[2 * i] = (float)cos(a);
        cs[2 * i + 1] = (float)sin(a);
    }
    for (int neox = 0; neox <= 1; neox++) {
        float x[36], y[36];
        fill(x, 36, 1.0);
        memcpy(y, x, sizeof x);
        kt->rope(y, n_head, head_dim, n_rot, cs, neox);
        for (int64_t h = 0; h < n_head; h++) {
            const float *v = x + h * head_dim, *r = y + h * head_dim;
            for (int i = 0; i < 4; i++) {
                int a = neox ? i : 2 * i, b = neox ? i + 4 : 2 * i + 1;
                double ang = 0.3 + i;
                CHECK_NEAR(r[a], v[a] * cos(ang) - v[b] * sin(ang), 1e-6);
                CHECK_NEAR(r[b], v[a] * sin(ang) + v[b] * cos(ang), 1e-6);
            }
            for (int64_t i = n_rot; i < head_dim; i++) CHECK(r[i] == v[i]); /* untouched */
        }
    }
}

/* f16 <-> f32: every half converts to float and back exactly; float -> half rounds to
 * the nearest half (ties to even), checked against the two neighbouring halves. */
static void test_f16_conversion_round_trips_and_rounds_to_nearest(void) {
    for (uint32_t h = 0; h < 65536; h++) {
        float f = ql_f16_to_f32((uint16_t)h);
        if (isnan(f)) {
            CHECK(isnan(ql_f16_to_f32(ql_f32_to_f16(f))));
            continue;
        }
        CHECK_MSG(ql_f32_to_f16(f) == h, "half 0x%04x", h);
    }
    for (int i = 0; i < 200000; i++) {
        float f = (float)(urand() * ldexp(1.0, (int)(urand() * 20)));
        uint16_t h = ql_f32_to_f16(f);
        double got = ql_f16_to_f32(h);
        double up = ql_f16_to_f32((uint16_t)(h + 1)), dn = ql_f16_to_f32((uint16_t)(h - 1));
        /* no neighbour (same sign side) is strictly closer */
        if ((h & 0x7fff) != 0 && (h & 0x7fff) < 0x7bff) {
            CHECK_MSG(fabs(got - f) <= fabs(up - f) && fabs(got - f) <= fabs(dn - f), "f %.9g -> 0x%04x", f, h);
        }
    }
    CHECK(ql_f32_to_f16(65520.0f) == 0x7c00); /* rounds up to inf */
    CHECK(ql_f32_to_f16(65519.0f) == 0x7bff);
    CHECK(ql_f32_to_f16(0x1p-25f) == 0x0000); /* tie to even: zero */
    CHECK(ql_f32_to_f16(0x1.8p-25f) == 0x0001);
    CHECK(ql_bf16_to_f32(ql_f32_to_bf16(1.0f)) == 1.0f);
    CHECK(ql_f32_to_bf16(1.00390625f) == 0x3f80); /* 1 + 2^-8: tie, to even */
    CHECK(ql_f32_to_bf16(1.01171875f) == 0x3f82); /* 1 + 3 * 2^-8: tie, to even (up) */
}

int main(void) {
    printf("kernels: isa %s\n", ql_kernels()->isa);
    RUN(test_matmul_matches_double_reference);
    RUN(test_rmsnorm_softmax_swiglu_match_double_reference);
    RUN(test_rope_rotates_the_right_pairs);
    RUN(test_f16_conversion_round_trips_and_rounds_to_nearest);
    return TEST_REPORT();
}
