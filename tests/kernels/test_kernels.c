/*
 * tests/kernels/test_kernels.c: every kernel-table entry of every level this CPU and build
 * have (scalar, avx2, avx512, neon) against an independent double-precision reference and
 * against the scalar table, plus matmul's contract that results do not depend on the row
 * split nor on the batching. Inputs are seeded random (never zeros), at odd sizes and
 * tails. With QLOOP_ISA=<level> the table in use must be that level; a level this CPU
 * lacks exits 77 (ctest: skipped).
 *
 * Tolerances (eps = 2^-24, "mag" = the sum of |terms| of a reduction):
 *   matmul, dot            |got - ref| <= (k eps + 1e-7) mag  (float sum of k terms)
 *   rmsnorm                1e-5 relative to |x * scale|
 *   softmax                1e-5 + 1e-7 n, relative to the value
 *   swiglu                 1e-5 relative (SLEEF's and libm's expf are both within 1 ulp)
 *   add, axpy, rope        bit-identical to scalar (no reduction: same roundings), and
 *                          within 1e-6 of the double reference
 */
#include <stdint.h>

#include "quant/types.h"
#include "simd/dispatch.h"
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

static float *floats(int64_t n) { return malloc((size_t)(n > 0 ? n : 1) * sizeof(float)); }

static const int64_t k_sizes[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255, 256, 4096 + 17};
enum { N_SIZES = sizeof k_sizes / sizeof k_sizes[0] };

/* The level under test (set by main before each RUN) and the reference level. */
static const ql_kernel_table *g_kt, *g_ks;

/* |a - b| within rel * scale, with scale the magnitude of the terms summed. */
static int close_to(double a, double b, double scale, double rel) {
    return fabs(a - b) <= rel * (scale > 1e-30 ? scale : 1e-30);
}

static int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* A random matrix of `rows` x `k` in `type` (F32, F16, BF16); `wf` receives its values. */
typedef struct matrix {
    uint32_t type;
    int64_t rows, k;
    size_t row_bytes;
    unsigned char *w;
    float *wf;
} matrix;

static matrix matrix_random(uint32_t type, int64_t rows, int64_t k) {
    size_t elt = type == QL_TYPE_F32 ? 4 : 2;
    matrix m = {type, rows, k, (size_t)k * elt, malloc((size_t)(rows * k) * elt), floats(rows * k)};
    fill(m.wf, rows * k, 1.0);
    for (int64_t i = 0; i < rows * k; i++) {
        if (type == QL_TYPE_F32) {
            memcpy(m.w + 4 * i, &m.wf[i], 4);
        } else {
            uint16_t h = type == QL_TYPE_F16 ? ql_f32_to_f16(m.wf[i]) : ql_f32_to_bf16(m.wf[i]);
            memcpy(m.w + 2 * i, &h, 2);
            m.wf[i] = type == QL_TYPE_F16 ? ql_f16_to_f32(h) : ql_bf16_to_f32(h);
        }
    }
    return m;
}

static void matrix_free(matrix *m) {
    free(m->w);
    free(m->wf);
}

static const uint32_t k_float_types[] = {QL_TYPE_F32, QL_TYPE_F16, QL_TYPE_BF16};

/* Activations with padded rows (x_row_bytes > k * 4) and outputs with ldy > rows, whose
 * padding must stay untouched. */
static void test_matmul_matches_scalar_and_double_reference(void) {
    const float sentinel = 12345.0f;
    for (size_t ti = 0; ti < 3; ti++) {
        uint32_t type = k_float_types[ti];
        for (int si = 0; si < N_SIZES; si++) {
            const int64_t k = k_sizes[si], rows = 13, ldy = rows + 3, ldx = k + 5;
            const int64_t toks[] = {1, 5};
            matrix m = matrix_random(type, rows, k);
            for (int nt = 0; nt < 2; nt++) {
                int64_t n_tok = toks[nt];
                float *x = floats(n_tok * ldx), *y = floats(n_tok * ldy), *ys = floats(n_tok * ldy);
                fill(x, n_tok * ldx, 1.0);
                for (int64_t i = 0; i < n_tok * ldy; i++) y[i] = ys[i] = sentinel;
                size_t xb = (size_t)ldx * 4;
                g_kt->matmul[type](m.w, m.row_bytes, k, x, xb, n_tok, y, ldy, 0, rows);
                g_ks->matmul[type](m.w, m.row_bytes, k, x, xb, n_tok, ys, ldy, 0, rows);
                for (int64_t t = 0; t < n_tok; t++) {
                    for (int64_t r = 0; r < rows; r++) {
                        double ref = 0, mag = 0;
                        for (int64_t i = 0; i < k; i++) {
                            ref += (double)m.wf[r * k + i] * x[t * ldx + i];
                            mag += fabs((double)m.wf[r * k + i] * x[t * ldx + i]);
                        }
                        double tol = (double)k * 0x1p-24 + 1e-7;
                        float got = y[t * ldy + r];
                        CHECK_MSG(close_to(got, ref, mag, tol), "%s type %u k %lld n_tok %lld row %lld: %g vs %g",
                                  g_kt->isa, type, (long long)k, (long long)n_tok, (long long)r, got, ref);
                        CHECK_MSG(close_to(got, ys[t * ldy + r], mag, 2 * tol), "%s type %u k %lld: vs scalar %g",
                                  g_kt->isa, type, (long long)k, ys[t * ldy + r]);
                    }
                    for (int64_t r = rows; r < ldy; r++)
                        CHECK_MSG(y[t * ldy + r] == sentinel, "%s: wrote past the rows", g_kt->isa);
                }
                free(x);
                free(y);
                free(ys);
            }
            matrix_free(&m);
        }
    }
}

/* kernels.h: each Y element is computed by the same operations whatever r0, r1 and n_tok
 * are. Rows (37) and tokens (1..7) are not multiples of any tile; splits are at odd rows. */
static void test_matmul_is_bit_identical_across_row_splits_and_batches(void) {
    const int64_t ks[] = {1, 15, 16, 17, 33, 255, 4096 + 17};
    const int64_t rows = 37, n_tok = 7;
    for (size_t ti = 0; ti < 3; ti++) {
        uint32_t type = k_float_types[ti];
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
            int64_t k = ks[ki];
            matrix m = matrix_random(type, rows, k);
            float *x = floats(n_tok * k), *all = floats(n_tok * rows), *y = floats(n_tok * rows);
            fill(x, n_tok * k, 1.0);
            size_t xb = (size_t)k * 4, ybytes = (size_t)(n_tok * rows) * sizeof(float);
            ql_matmul_fn mm = g_kt->matmul[type];
            mm(m.w, m.row_bytes, k, x, xb, n_tok, all, rows, 0, rows);

            const int64_t splits[] = {1, 3, 7, 13, 29};
            for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++) {
                memset(y, 0, ybytes);
                mm(m.w, m.row_bytes, k, x, xb, n_tok, y, rows, 0, splits[s]);
                mm(m.w, m.row_bytes, k, x, xb, n_tok, y, rows, splits[s], rows);
                CHECK_MSG(memcmp(y, all, ybytes) == 0, "%s type %u k %lld: rows split at %lld differ",
                          g_kt->isa, type, (long long)k, (long long)splits[s]);
            }
            /* batches of 1 token, then of 2 + 5, 3 + 4, 5 + 2 */
            memset(y, 0, ybytes);
            for (int64_t t = 0; t < n_tok; t++) mm(m.w, m.row_bytes, k, x + t * k, xb, 1, y + t * rows, rows, 0, rows);
            CHECK_MSG(memcmp(y, all, ybytes) == 0, "%s type %u k %lld: token-by-token differs from batch",
                      g_kt->isa, type, (long long)k);
            for (int64_t first = 2; first <= 5; first++) {
                if (first == 4) continue;
                memset(y, 0, ybytes);
                mm(m.w, m.row_bytes, k, x, xb, first, y, rows, 0, rows);
                mm(m.w, m.row_bytes, k, x + first * k, xb, n_tok - first, y + first * rows, rows, 0, rows);
                CHECK_MSG(memcmp(y, all, ybytes) == 0, "%s type %u k %lld: batch %lld + %lld differs",
                          g_kt->isa, type, (long long)k, (long long)first, (long long)(n_tok - first));
            }
            /* one row of one token, at an odd place */
            memset(y, 0, ybytes);
            mm(m.w, m.row_bytes, k, x + 5 * k, xb, 1, y, rows, 23, 24);
            CHECK_MSG(same_bits(y[23], all[5 * rows + 23]), "%s type %u k %lld: lone row differs",
                      g_kt->isa, type, (long long)k);
            free(x);
            free(all);
            free(y);
            matrix_free(&m);
        }
    }
}

static void test_reductions_match_scalar_and_double_reference(void) {
    for (int si = 0; si < N_SIZES; si++) {
        int64_t n = k_sizes[si];
        float *x = floats(n), *w = floats(n), *y = floats(n), *ys = floats(n), *u = floats(n);
        fill(x, n, 3.0);
        fill(w, n, 1.0);
        fill(u, n, 2.0);

        double ss = 0;
        for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
        double scale = 1.0 / sqrt(ss / (double)n + 1e-5);
        g_kt->rmsnorm(y, x, w, n, 1e-5f);
        g_ks->rmsnorm(ys, x, w, n, 1e-5f);
        for (int64_t i = 0; i < n; i++) {
            CHECK_MSG(close_to(y[i], x[i] * scale * w[i], fabs(x[i] * scale), 1e-5), "%s rmsnorm n %lld", g_kt->isa, (long long)n);
            CHECK_MSG(close_to(y[i], ys[i], fabs(x[i] * scale), 2e-5), "%s rmsnorm n %lld vs scalar", g_kt->isa, (long long)n);
        }
        memcpy(ys, x, (size_t)n * sizeof(float)); /* in place: out == x */
        g_kt->rmsnorm(ys, ys, w, n, 1e-5f);
        CHECK_MSG(memcmp(ys, y, (size_t)n * sizeof(float)) == 0, "%s rmsnorm in place n %lld", g_kt->isa, (long long)n);

        for (int big = 0; big <= 1; big++) { /* big: scores of +-40, exp spans 1e-35..1 */
            float *s = floats(n);
            fill(s, n, big ? 40.0 : 3.0);
            memcpy(y, s, (size_t)n * sizeof(float));
            memcpy(ys, s, (size_t)n * sizeof(float));
            g_kt->softmax(y, n);
            g_ks->softmax(ys, n);
            double mx = -INFINITY, sum = 0;
            for (int64_t i = 0; i < n; i++) mx = fmax(mx, s[i]);
            for (int64_t i = 0; i < n; i++) sum += exp(s[i] - mx);
            double rel = 1e-5 + 1e-7 * (double)n;
            for (int64_t i = 0; i < n; i++) {
                double ref = exp(s[i] - mx) / sum;
                CHECK_MSG(close_to(y[i], ref, ref, rel), "%s softmax n %lld: %g vs %g", g_kt->isa, (long long)n, y[i], ref);
                CHECK_MSG(close_to(y[i], ys[i], ref, 2 * rel), "%s softmax n %lld vs scalar", g_kt->isa, (long long)n);
            }
            free(s);
        }

        for (int big = 0; big <= 1; big++) { /* big: gates of +-100, exp(-g) overflows */
            float *g = floats(n);
            fill(g, n, big ? 100.0 : 3.0);
            g_kt->swiglu(y, g, u, n);
            g_ks->swiglu(ys, g, u, n);
            for (int64_t i = 0; i < n; i++) {
                double ref = g[i] / (1 + exp(-(double)g[i])) * u[i];
                CHECK_MSG(close_to(y[i], ref, fabs(ref) + 1e-30, 1e-5), "%s swiglu n %lld g %g: %g vs %g",
                          g_kt->isa, (long long)n, g[i], y[i], ref);
                CHECK_MSG(close_to(y[i], ys[i], fabs(ref) + 1e-30, 2e-5), "%s swiglu n %lld vs scalar", g_kt->isa, (long long)n);
            }
            g_kt->swiglu(g, g, u, n); /* in place: out == gate */
            CHECK_MSG(memcmp(g, y, (size_t)n * sizeof(float)) == 0, "%s swiglu in place n %lld", g_kt->isa, (long long)n);
            free(g);
        }

        double dref = 0, dmag = 0;
        for (int64_t i = 0; i < n; i++) {
            dref += (double)x[i] * u[i];
            dmag += fabs((double)x[i] * u[i]);
        }
        double dtol = (double)n * 0x1p-24 + 1e-7;
        float d = g_kt->dot(x, u, n);
        CHECK_MSG(close_to(d, dref, dmag, dtol), "%s dot n %lld: %g vs %g", g_kt->isa, (long long)n, d, dref);
        CHECK_MSG(close_to(d, g_ks->dot(x, u, n), dmag, 2 * dtol), "%s dot n %lld vs scalar", g_kt->isa, (long long)n);
        free(x);
        free(w);
        free(y);
        free(ys);
        free(u);
    }
}

static void test_add_and_axpy_equal_scalar_bit_for_bit(void) {
    for (int si = 0; si < N_SIZES; si++) {
        int64_t n = k_sizes[si];
        float *x = floats(n), *w = floats(n), *y = floats(n), *ys = floats(n);
        fill(x, n, 3.0);
        fill(w, n, 1.0);
        memcpy(y, w, (size_t)n * sizeof(float));
        memcpy(ys, w, (size_t)n * sizeof(float));
        g_kt->axpy(y, 0.7f, x, n);
        g_ks->axpy(ys, 0.7f, x, n);
        for (int64_t i = 0; i < n; i++) {
            CHECK_MSG(close_to(y[i], w[i] + 0.7f * (double)x[i], fabs(w[i]) + fabs(x[i]), 1e-6), "%s axpy n %lld", g_kt->isa, (long long)n);
            CHECK_MSG(same_bits(y[i], ys[i]), "%s axpy n %lld i %lld: %.9g vs scalar %.9g", g_kt->isa, (long long)n, (long long)i, y[i], ys[i]);
        }
        memcpy(y, w, (size_t)n * sizeof(float));
        memcpy(ys, w, (size_t)n * sizeof(float));
        g_kt->add(y, x, n);
        g_ks->add(ys, x, n);
        for (int64_t i = 0; i < n; i++) {
            CHECK_MSG(close_to(y[i], (double)w[i] + x[i], fabs(w[i]) + fabs(x[i]), 1e-6), "%s add n %lld", g_kt->isa, (long long)n);
            CHECK_MSG(same_bits(y[i], ys[i]), "%s add n %lld vs scalar", g_kt->isa, (long long)n);
        }
        free(x);
        free(w);
        free(y);
        free(ys);
    }
}

/* Attention's row kernels give the bits of the same level's dot / axpy, one row at a time
 * (prompt and decode share them, so this is what keeps a batched prompt equal to decode):
 * 1-6 queries (the 4-query groups and a remainder), row counts around the 16-key steps,
 * head sizes around the 16- and 64-float steps, strides larger than the rows. */
static void test_dot_rows_and_axpy_rows_equal_dot_and_axpy_bit_for_bit(void) {
    static const int64_t ns[] = {1, 15, 16, 17, 63, 64, 65, 100, 128, 129};
    static const int64_t rows[] = {0, 1, 2, 15, 16, 17, 31, 33, 70};
    for (int64_t nq = 1; nq <= 6; nq++)
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
            for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++) {
                int64_t n = ns[ni], nr = rows[ri], ld = n + 3, lq = n + 1, la = nr + 2;
                float *q = floats(nq * lq), *k = floats(nr * ld), *a = floats(nq * la), *out = floats(nq * la);
                float *y = floats(nq * lq), *yr = floats(nq * lq);
                fill(q, nq * lq, 1.0);
                fill(k, nr * ld, 2.0);
                fill(a, nq * la, 1.0);
                fill(y, nq * lq, 1.0);
                memcpy(yr, y, (size_t)(nq * lq) * sizeof(float));
                g_kt->dot_rows(out, la, q, lq, nq, k, ld, nr, n, 0.125f);
                g_kt->axpy_rows(y, lq, a, la, nq, k, ld, nr, n);
                for (int64_t j = 0; j < nq; j++) {
                    for (int64_t p = 0; p < nr; p++) {
                        float ref = g_kt->dot(q + j * lq, k + p * ld, n) * 0.125f;
                        CHECK_MSG(same_bits(out[j * la + p], ref), "%s dot_rows nq %lld n %lld rows %lld p %lld: %.9g vs %.9g", g_kt->isa,
                                  (long long)nq, (long long)n, (long long)nr, (long long)p, out[j * la + p], ref);
                        g_kt->axpy(yr + j * lq, a[j * la + p], k + p * ld, n);
                    }
                    for (int64_t i = 0; i < lq; i++) /* lanes n..lq-1 untouched */
                        CHECK_MSG(same_bits(y[j * lq + i], yr[j * lq + i]), "%s axpy_rows nq %lld n %lld rows %lld i %lld", g_kt->isa,
                                  (long long)nq, (long long)n, (long long)nr, (long long)i);
                }
                free(q);
                free(k);
                free(a);
                free(out);
                free(y);
                free(yr);
            }
}

/* Both layouts, n_rot from one pair to beyond a vector, with unrotated dims after n_rot
 * (head_dim = n_rot + 5) that must stay untouched. */
static void test_rope_rotates_the_right_pairs_and_equals_scalar(void) {
    const int64_t n_rots[] = {2, 6, 8, 14, 16, 18, 30, 32, 34, 62, 64, 128};
    const int64_t n_head = 3;
    for (size_t ri = 0; ri < sizeof n_rots / sizeof n_rots[0]; ri++) {
        int64_t n_rot = n_rots[ri], head_dim = n_rot + 5, half = n_rot / 2, n = n_head * head_dim;
        float *cs = floats(n_rot), *x = floats(n), *y = floats(n), *ys = floats(n);
        for (int64_t i = 0; i < half; i++) {
            double a = 0.3 + (double)i * 0.7;
            cs[2 * i] = (float)cos(a);
            cs[2 * i + 1] = (float)sin(a);
        }
        for (int neox = 0; neox <= 1; neox++) {
            fill(x, n, 1.0);
            memcpy(y, x, (size_t)n * sizeof(float));
            memcpy(ys, x, (size_t)n * sizeof(float));
            g_kt->rope(y, n_head, head_dim, n_rot, cs, neox);
            g_ks->rope(ys, n_head, head_dim, n_rot, cs, neox);
            for (int64_t h = 0; h < n_head; h++) {
                const float *v = x + h * head_dim, *r = y + h * head_dim;
                for (int64_t i = 0; i < half; i++) {
                    int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
                    double ang = 0.3 + (double)i * 0.7;
                    CHECK_NEAR(r[a], v[a] * cos(ang) - v[b] * sin(ang), 1e-6);
                    CHECK_NEAR(r[b], v[a] * sin(ang) + v[b] * cos(ang), 1e-6);
                }
                for (int64_t i = n_rot; i < head_dim; i++) CHECK(r[i] == v[i]); /* untouched */
            }
            CHECK_MSG(memcmp(y, ys, (size_t)n * sizeof(float)) == 0, "%s rope n_rot %lld neox %d vs scalar",
                      g_kt->isa, (long long)n_rot, neox);
        }
        free(cs);
        free(x);
        free(y);
        free(ys);
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
    ql_error err = {0};
    if (ql_kernels_check(&err) != QL_OK) {
        printf("kernels: skipped: %s\n", err.message);
        return 77;
    }
    const char *forced = getenv("QLOOP_ISA");
    if (forced && *forced) CHECK_MSG(strcmp(ql_kernels()->isa, forced) == 0, "QLOOP_ISA=%s gave %s", forced, ql_kernels()->isa);
    printf("kernels: isa in use %s\n", ql_kernels()->isa);

    g_ks = ql_kernels_scalar();
    const char *levels[] = {"scalar", "avx2", "avx512", "amx", "neon"};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        g_kt = ql_kernels_for(levels[i]);
        if (!g_kt) {
            printf("kernels: %s not available here\n", levels[i]);
            continue;
        }
        printf("kernels: checking %s\n", g_kt->isa);
        RUN(test_matmul_matches_scalar_and_double_reference);
        RUN(test_matmul_is_bit_identical_across_row_splits_and_batches);
        RUN(test_reductions_match_scalar_and_double_reference);
        RUN(test_add_and_axpy_equal_scalar_bit_for_bit);
        RUN(test_dot_rows_and_axpy_rows_equal_dot_and_axpy_bit_for_bit);
        RUN(test_rope_rotates_the_right_pairs_and_equals_scalar);
    }
    RUN(test_f16_conversion_round_trips_and_rounds_to_nearest);
    return TEST_REPORT();
}
