/*
 * tests/kernels/quant_problem.h: random quantized matmul problems and the bit-for-bit
 * comparison against the scalar table, shared by test_quant_kernels.c and test_amx.c (one
 * translation unit each: the definitions are static). The including file sets g_kt (the
 * level under test) and g_ks (scalar) before using them.
 */
#ifndef QL_TESTS_QUANT_PROBLEM_H
#define QL_TESTS_QUANT_PROBLEM_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "quant/formats.h"
#include "quant/types.h"
#include "simd/kernels.h"
#include "test.h"

static uint64_t g_rng = 0x2545f4914f6cdd1dull;

static inline double urand(void) { /* uniform in [-1, 1) */
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) * 0x1p-52 - 1.0;
}

/* Random floats whose blocks of 32 have varied ranges (scale 2^-6 .. 2^5). */
static inline void fill(float *x, int64_t n) {
    double s = 1.0;
    for (int64_t i = 0; i < n; i++) {
        if (i % 32 == 0) s = ldexp(1.0, (int)(urand() * 6.0) - 1);
        x[i] = (float)(urand() * s);
    }
}

static const ql_kernel_table *g_kt, *g_ks; /* level under test, scalar */

typedef struct wfmt {
    uint32_t type;
    int block;
    void (*quantize)(const float *x, void *dst, int64_t n);
} wfmt;

static const wfmt k_wfmts[] = {
    {QL_TYPE_Q8_0, 32, ql_quantize_row_q8_0}, {QL_TYPE_Q4_0, 32, ql_quantize_row_q4_0},
    {QL_TYPE_Q4_1, 32, ql_quantize_row_q4_1}, {QL_TYPE_Q4_K, 256, ql_quantize_row_q4_k},
    {QL_TYPE_Q5_K, 256, ql_quantize_row_q5_k}, {QL_TYPE_Q6_K, 256, ql_quantize_row_q6_k},
};
enum { N_WFMTS = sizeof k_wfmts / sizeof k_wfmts[0] };

static inline size_t row_bytes_of(uint32_t type, int64_t k) {
    uint64_t b = 0;
    CHECK(ql_type_row_bytes(type, (uint64_t)k, &b));
    return (size_t)b;
}

/* A quantized problem: rows x k weights, n_tok activation rows in the act format. */
typedef struct problem {
    const wfmt *f;
    int64_t rows, k, n_tok;
    size_t rb, xb;
    unsigned char *w, *x;
} problem;

static inline problem problem_make(const wfmt *f, int64_t rows, int64_t k, int64_t n_tok) {
    problem p = {f, rows, k, n_tok, row_bytes_of(f->type, k), 0, NULL, NULL};
    uint32_t act = g_ks->act_type[f->type];
    p.xb = row_bytes_of(act, k);
    p.w = malloc(p.rb * (size_t)rows);
    p.x = malloc(p.xb * (size_t)n_tok);
    float *tmp = malloc((size_t)k * sizeof(float));
    for (int64_t r = 0; r < rows; r++) {
        fill(tmp, k);
        f->quantize(tmp, p.w + (size_t)r * p.rb, k);
    }
    for (int64_t t = 0; t < n_tok; t++) {
        fill(tmp, k);
        g_ks->from_float[act](tmp, p.x + (size_t)t * p.xb, k);
    }
    free(tmp);
    return p;
}

static inline void problem_free(problem *p) {
    free(p->w);
    free(p->x);
}

static inline int same_bits(float a, float b) { return memcmp(&a, &b, sizeof a) == 0; }

/* fn over rows 0..rows of the problem's activations (weights w, plain or grouped): one call
 * (split 0), split at row 16 as the thread pool does (1), or at rows 5 and 29, inside
 * 16-row groups (2). */
static inline void call_split(ql_matmul_fn fn, const problem *p, const void *w, int64_t n_tok, float *y,
                       int64_t rows, int split) {
    static const int64_t cuts[3][4] = {{0, -1}, {0, 16, -1}, {0, 5, 29, -1}};
    const int64_t *c = cuts[split];
    for (int i = 0; c[i] >= 0; i++) {
        int64_t end = c[i + 1] >= 0 ? c[i + 1] : rows;
        fn(w, p->rb, p->k, p->x, p->xb, n_tok, y, rows, c[i], end);
    }
}

/* Index of the first of n floats whose bits differ, or -1. */
static inline int64_t first_diff(const float *a, const float *b, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!same_bits(a[i], b[i])) return i;
    return -1;
}

/* fn over weights w (the problem's matrix, plain or grouped) gives scalar's bits on the
 * plain matrix for each token count of toks, whole and split the first n_splits ways of
 * call_split. */
static inline void check_splits(ql_matmul_fn fn, const char *what, const problem *p, const void *w,
                         const int64_t *toks, size_t n_toks, int n_splits) {
    const int64_t rows = p->rows, n_max = toks[n_toks - 1];
    float *y = malloc((size_t)(rows * n_max) * sizeof(float));
    float *ys = malloc((size_t)(rows * n_max) * sizeof(float));
    for (size_t ti = 0; ti < n_toks; ti++) {
        int64_t n_tok = toks[ti];
        g_ks->matmul[p->f->type](p->w, p->rb, p->k, p->x, p->xb, n_tok, ys, rows, 0, rows);
        for (int split = 0; split < n_splits; split++) {
            memset(y, 0, (size_t)(rows * n_tok) * sizeof(float));
            call_split(fn, p, w, n_tok, y, rows, split);
            int64_t bad = first_diff(y, ys, rows * n_tok);
            CHECK_MSG(bad < 0, "%s %stype %u k %lld n_tok %lld split %d: y[%lld] %.9g, scalar %.9g",
                      g_kt->isa, what, p->f->type, (long long)p->k, (long long)n_tok, split,
                      (long long)bad, bad < 0 ? 0.0 : y[bad], bad < 0 ? 0.0 : ys[bad]);
        }
    }
    free(y);
    free(ys);
}

#endif /* QL_TESTS_QUANT_PROBLEM_H */
