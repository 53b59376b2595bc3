/*
 * tests/kernels/test_quant_kernels.c: the quantized matmul and activation-quantizer
 * entries of every level this CPU and build have (avx2, avx512: simd/<isa>_quant.c)
 * against the scalar reference (simd/scalar_quant.c) and a double-precision reference.
 * With QLOOP_ISA=<level> the table in use must be that level; a level this CPU lacks
 * exits 77 (ctest: skipped).
 *
 * Tolerances:
 *   matmul vs scalar       bit-identical: the vector kernels compute scalar's exact int32
 *                          per block and then scalar's float operations in scalar's order
 *   matmul vs double       |got - ref| <= (n_blocks + 4) 2^-23 mag, mag = the sum over
 *                          elements of |d sc q x| + |dmin mn x| (the float chain of n_blocks
 *                          terms of a few roundings each); ref from the dequantized blocks
 *   splits and batches     bit-identical to the one-call result
 *   grouped layout         bit-identical to scalar on the plain matrix (matmul_g16)
 *   from_float             byte-identical to scalar, incl. exact .5 ties (to even), tiny
 *                          (underflowing) and huge (near FLT_MAX) blocks
 * Inputs are seeded random, never all zeros.
 */
#include <float.h>
#include <stdint.h>

#include "quant/formats.h"
#include "quant/types.h"
#include "simd/dispatch.h"
#include "simd/g16.h"
#include "simd/kernels.h"
#include "test.h"

#include "quant_problem.h"

/* Double reference of y[t, r] and its magnitude (see the header). */
static void reference(const problem *p, int64_t r, int64_t t, double *ref, double *mag) {
    int64_t k = p->k;
    float *wf = malloc((size_t)k * sizeof(float)), *xf = malloc((size_t)k * sizeof(float));
    const unsigned char *wr = p->w + (size_t)r * p->rb, *xr = p->x + (size_t)t * p->xb;
    g_ks->to_float[p->f->type](wr, wf, k);
    g_ks->to_float[g_ks->act_type[p->f->type]](xr, xf, k);
    double s = 0.0, m = 0.0;
    for (int64_t i = 0; i < k; i++) {
        s += (double)wf[i] * xf[i];
        m += fabs((double)wf[i] * xf[i]);
    }
    if (p->f->type == QL_TYPE_Q4_K || p->f->type == QL_TYPE_Q5_K) {
        /* the min term is subtracted in float: count |d sc q x| and |dmin mn x| apart */
        m = 0.0;
        size_t bs = p->f->type == QL_TYPE_Q4_K ? sizeof(ql_block_q4_k) : sizeof(ql_block_q5_k);
        for (int64_t b = 0; b < k / 256; b++) {
            const unsigned char *blk = wr + (size_t)b * bs;
            uint8_t q[256], sc[8], mn[8];
            uint16_t d, dmin;
            memcpy(&d, blk, 2);
            memcpy(&dmin, blk + 2, 2);
            if (p->f->type == QL_TYPE_Q4_K) ql_q4_k_levels((const ql_block_q4_k *)blk, q);
            else ql_q5_k_levels((const ql_block_q5_k *)blk, q);
            ql_k_scales_unpack(blk + 4, sc, mn);
            for (int i = 0; i < 256; i++)
                m += (fabs(ql_f16_to_f32(d)) * sc[i / 32] * q[i] + fabs(ql_f16_to_f32(dmin)) * mn[i / 32]) *
                     fabs((double)xf[b * 256 + i]);
        }
    }
    free(wf);
    free(xf);
    *ref = s;
    *mag = m;
}

/* Around the vector tiles (8 and 16 rows) and past them, with row tails. */
static const int64_t k_rows[] = {1, 3, 8, 13, 37};
enum { N_ROWS = sizeof k_rows / sizeof k_rows[0] };

/* Token counts 1 .. N_TOK_MAX: decode (1, 2) and the prompt tiles (4, 6 and 8 tokens per
 * register tile) with every remainder, and more than one tile. */
enum { N_TOK_MAX = 17 };

/* Every type x k x rows x n_tok: equal to scalar bit for bit, close to the double reference. */
static void test_quant_matmul_equals_scalar_and_matches_double_reference(void) {
    /* k tails of the packed prompt segments (32 blocks, 4 super-blocks): 37, 17 blocks */
    const int64_t ks32[] = {32, 64, 96, 256, 512, 32 * 37, 4096};
    const int64_t ksk[] = {256, 512, 4096, 256 * 17};
    for (int fi = 0; fi < N_WFMTS; fi++) {
        const wfmt *f = &k_wfmts[fi];
        CHECK_MSG(g_kt->matmul[f->type] != NULL, "%s: no matmul for type %u", g_kt->isa, f->type);
        if (!g_kt->matmul[f->type]) continue;
        CHECK_EQ_INT(g_kt->act_type[f->type], g_ks->act_type[f->type]);
        const int64_t *ks = f->block == 32 ? ks32 : ksk;
        int nk = f->block == 32 ? 7 : 4;
        for (int ki = 0; ki < nk; ki++) {
            for (int ri = 0; ri < N_ROWS; ri++) {
                int64_t k = ks[ki], rows = k_rows[ri], n_max = N_TOK_MAX;
                problem p = problem_make(f, rows, k, n_max);
                float *y = malloc((size_t)(rows * n_max) * sizeof(float));
                float *ys = malloc((size_t)(rows * n_max) * sizeof(float));
                for (int64_t n_tok = 1; n_tok <= n_max; n_tok++) {
                    g_kt->matmul[f->type](p.w, p.rb, k, p.x, p.xb, n_tok, y, rows, 0, rows);
                    g_ks->matmul[f->type](p.w, p.rb, k, p.x, p.xb, n_tok, ys, rows, 0, rows);
                    int bad = 0;
                    for (int64_t i = 0; i < rows * n_tok && bad < 3; i++) {
                        if (same_bits(y[i], ys[i])) continue;
                        bad++;
                        CHECK_MSG(0, "%s type %u k %lld rows %lld n_tok %lld: y[%lld] %.9g, scalar %.9g",
                                  g_kt->isa, f->type, (long long)k, (long long)rows, (long long)n_tok,
                                  (long long)i, y[i], ys[i]);
                    }
                }
                /* double reference, on the N_TOK_MAX-token result */
                double nblk = (double)(k / f->block);
                for (int64_t t = 0; t < n_max; t++)
                    for (int64_t r = 0; r < rows; r++) {
                        double ref, mag;
                        reference(&p, r, t, &ref, &mag);
                        double tol = (nblk + 4.0) * 0x1p-23 * mag + 1e-30;
                        CHECK_MSG(fabs(y[t * rows + r] - ref) <= tol,
                                  "%s type %u k %lld: y[%lld,%lld] %.9g ref %.9g tol %.3g", g_kt->isa,
                                  f->type, (long long)k, (long long)t, (long long)r, y[t * rows + r],
                                  ref, tol);
                    }
                free(y);
                free(ys);
                problem_free(&p);
            }
        }
    }
}

/* Prompt-sized batches: token counts around the 8-token register tile and past the passes
 * of 128 (Q8_0 / Q4_0) and 256 (k-quants) tokens of the AVX-512 kernels, k over two packed
 * segments (65 blocks of 32, 9 super-blocks), rows over a full and a partial 16-row tile,
 * split at row 16 as the thread pool does: scalar's bits everywhere. */
static void test_quant_prompt_passes_equal_scalar(void) {
    static const int64_t toks[] = {8, 9, 23, 129, 257, 520};
    const int64_t rows = 33;
    for (int fi = 0; fi < N_WFMTS; fi++) {
        const wfmt *f = &k_wfmts[fi];
        if (!g_kt->matmul[f->type]) continue;
        int64_t k = f->block == 32 ? 32 * 65 : 256 * 9, n_max = toks[sizeof toks / sizeof *toks - 1];
        problem p = problem_make(f, rows, k, n_max);
        check_splits(g_kt->matmul[f->type], "", &p, p.w, toks, sizeof toks / sizeof *toks, 2);
        problem_free(&p);
    }
}

/* The grouped layout (kernels.h, matmul_g16): the matrix packed by ql_g16_pack gives
 * scalar's bits on the plain matrix for decode, two tokens, small batches and prompt passes,
 * whole, split at multiples of 16 and inside groups, for row lengths of one unit, several,
 * and long rows;
 * ql_g16_row gives every row back. */
static void test_quant_grouped_layout_equals_scalar(void) {
    static const int64_t toks[] = {1, 2, 3, 5, 8, 20, 129};
    for (int fi = 0; fi < N_WFMTS; fi++) {
        const wfmt *f = &k_wfmts[fi];
        size_t unit = ql_g16_unit_bytes(g_kt, f->type);
        if (!unit) continue;
        int64_t ue = ql_g16_unit_blocks(f->type) * f->block; /* elements per unit */
        const int64_t ks[] = {ue, 3 * ue, f->block == 32 ? 4096 + ue : 8192 + ue};
        const int64_t rows = 48, n_max = toks[sizeof toks / sizeof *toks - 1];
        for (size_t ki = 0; ki < sizeof ks / sizeof *ks; ki++) {
            int64_t k = ks[ki];
            CHECK(ql_g16_fits(g_kt, f->type, k, rows));
            CHECK(!ql_g16_fits(g_kt, f->type, k, rows + 8)); /* rows: multiples of 16 only */
            problem p = problem_make(f, rows, k, n_max);
            unsigned char *wg = malloc(p.rb * (size_t)rows), *row = malloc(p.rb);
            ql_g16_pack(unit, p.w, wg, rows, p.rb);
            for (int64_t r = 0; r < rows; r++) {
                ql_g16_row(unit, wg, p.rb, r, row);
                CHECK_MSG(memcmp(row, p.w + (size_t)r * p.rb, p.rb) == 0, "type %u k %lld row %lld",
                          f->type, (long long)k, (long long)r);
            }
            check_splits(g_kt->matmul_g16[f->type], "grouped ", &p, wg, toks, sizeof toks / sizeof *toks, 3);
            free(wg);
            free(row);
            problem_free(&p);
        }
    }
}

/* Row splits (at odd rows, and in multiples of 16 as forward.c does), token-by-token calls
 * and an offset ldy all give the one-call bits. */
static void test_quant_matmul_is_bit_identical_across_splits_and_batches(void) {
    for (int fi = 0; fi < N_WFMTS; fi++) {
        const wfmt *f = &k_wfmts[fi];
        if (!g_kt->matmul[f->type]) continue;
        int64_t k = f->block == 32 ? 96 : 512, rows = 37;
        for (int64_t n_tok = 1; n_tok <= N_TOK_MAX; n_tok++) {
            problem p = problem_make(f, rows, k, n_tok);
            size_t ybytes = (size_t)(rows * n_tok) * sizeof(float);
            float *all = malloc(ybytes), *y = malloc(ybytes);
            ql_matmul_fn mm = g_kt->matmul[f->type];
            mm(p.w, p.rb, k, p.x, p.xb, n_tok, all, rows, 0, rows);
            const int64_t splits[] = {1, 3, 7, 13, 16, 29, 32};
            for (size_t s = 0; s < sizeof splits / sizeof splits[0]; s++) {
                memset(y, 0xff, ybytes);
                mm(p.w, p.rb, k, p.x, p.xb, n_tok, y, rows, 0, splits[s]);
                mm(p.w, p.rb, k, p.x, p.xb, n_tok, y, rows, splits[s], rows);
                CHECK_MSG(memcmp(y, all, ybytes) == 0, "%s type %u n_tok %lld: split at %lld differs",
                          g_kt->isa, f->type, (long long)n_tok, (long long)splits[s]);
            }
            memset(y, 0xff, ybytes);
            for (int64_t t = 0; t < n_tok; t++)
                mm(p.w, p.rb, k, p.x + (size_t)t * p.xb, p.xb, 1, y + t * rows, rows, 0, rows);
            CHECK_MSG(memcmp(y, all, ybytes) == 0, "%s type %u n_tok %lld: token-by-token differs",
                      g_kt->isa, f->type, (long long)n_tok);
            if (n_tok >= 3) { /* batches of 2 then the rest */
                memset(y, 0xff, ybytes);
                mm(p.w, p.rb, k, p.x, p.xb, 2, y, rows, 0, rows);
                mm(p.w, p.rb, k, p.x + 2 * p.xb, p.xb, n_tok - 2, y + 2 * rows, rows, 0, rows);
                CHECK_MSG(memcmp(y, all, ybytes) == 0, "%s type %u n_tok %lld: batches 2 + rest differ",
                          g_kt->isa, f->type, (long long)n_tok);
            }
            free(all);
            free(y);
            problem_free(&p);
        }
    }
}

/* Rows of thousands of blocks: the prompt kernels prepare per-(token, block) activation
 * sums for a bounded number of pairs at a time (a few tokens per pass here) and fall back to
 * the plain tiles past that; both equal scalar bit for bit. */
static void test_quant_matmul_long_rows_equal_scalar(void) {
    for (int fi = 0; fi < N_WFMTS; fi++) {
        const wfmt *f = &k_wfmts[fi];
        if (!g_kt->matmul[f->type]) continue;
        const int64_t ks[] = {(int64_t)f->block * 3000, (int64_t)f->block * 8200};
        for (int ki = 0; ki < 2; ki++) {
            int64_t k = ks[ki], rows = 11, n_tok = 5;
            problem p = problem_make(f, rows, k, n_tok);
            size_t ybytes = (size_t)(rows * n_tok) * sizeof(float);
            float *y = malloc(ybytes), *ys = malloc(ybytes);
            g_kt->matmul[f->type](p.w, p.rb, k, p.x, p.xb, n_tok, y, rows, 0, rows);
            g_ks->matmul[f->type](p.w, p.rb, k, p.x, p.xb, n_tok, ys, rows, 0, rows);
            CHECK_MSG(memcmp(y, ys, ybytes) == 0, "%s type %u k %lld: differs from scalar", g_kt->isa,
                      f->type, (long long)k);
            free(y);
            free(ys);
            problem_free(&p);
        }
    }
}

/* Extreme levels: every weight level byte 0x00, 0xFF, 0x80 or 0x7F by row (levels 0 and 15
 * / 63; Q8_0 0x81 for 0x80: its quantizer's range is +-127; Q6_K scales -128 or 127, Q4_K /
 * Q5_K scales and mins 63 with 0xFF), activations all -127, all 127 or alternating by token
 * (the activation quantizers clamp to +-127): the largest partial sums the kernels' int16 /
 * int32 steps hold. Equal to scalar bit for bit, decode tiles included. */
static void test_quant_matmul_extreme_levels_equal_scalar(void) {
    static const uint8_t vals[4] = {0x00, 0xFF, 0x80, 0x7F};
    for (int fi = 0; fi < N_WFMTS; fi++) {
        const wfmt *f = &k_wfmts[fi];
        if (!g_kt->matmul[f->type]) continue;
        int64_t k = f->block == 32 ? 256 : 512, rows = 37, n_tok = 3;
        problem p = problem_make(f, rows, k, n_tok);
        size_t bs = p.rb / (size_t)(k / f->block), lo, hi; /* level bytes [lo, hi) of a block */
        switch (f->type) {
        case QL_TYPE_Q8_0: case QL_TYPE_Q4_0: lo = 2, hi = bs; break;
        case QL_TYPE_Q4_1: case QL_TYPE_Q4_K: case QL_TYPE_Q5_K: lo = 4, hi = bs; break;
        default: lo = 0, hi = 208; break; /* Q6_K: ql, qh, scales; d at 208 */
        }
        for (int64_t r = 0; r < rows; r++)
            for (int64_t b = 0; b < k / f->block; b++) {
                unsigned char *blk = p.w + (size_t)r * p.rb + (size_t)b * bs;
                memset(blk + lo, f->type == QL_TYPE_Q8_0 && r % 4 == 2 ? 0x81 : vals[r % 4], hi - lo);
                if (f->type == QL_TYPE_Q6_K) memset(blk + 192, r % 2 ? 0x7F : 0x80, 16);
            }
        int k_quant = g_ks->act_type[f->type] == QL_TYPE_Q8_K;
        size_t xbs = k_quant ? sizeof(ql_block_q8_k) : sizeof(ql_block_q8_0), xo = k_quant ? 4 : 2;
        int nq = f->block;
        for (int64_t t = 0; t < n_tok; t++)
            for (int64_t b = 0; b < k / nq; b++) {
                unsigned char *blk = p.x + (size_t)t * p.xb + (size_t)b * xbs;
                for (int i = 0; i < nq; i++) blk[xo + i] = (unsigned char)(t == 0 ? -127 : t == 1 ? 127 : i % 2 ? 127 : -127);
                if (k_quant) {
                    ql_block_q8_k *q = (ql_block_q8_k *)blk;
                    for (int j = 0; j < 16; j++) {
                        int s = 0;
                        for (int i = 0; i < 16; i++) s += q->qs[16 * j + i];
                        q->bsums[j] = (int16_t)s;
                    }
                }
            }
        float *y = malloc((size_t)(rows * n_tok) * sizeof(float));
        float *ys = malloc((size_t)(rows * n_tok) * sizeof(float));
        for (int64_t nt = 1; nt <= n_tok; nt++)
            for (int64_t t0 = 0; t0 + nt <= n_tok; t0++) {
                const unsigned char *x = p.x + (size_t)t0 * p.xb;
                g_kt->matmul[f->type](p.w, p.rb, k, x, p.xb, nt, y, rows, 0, rows);
                g_ks->matmul[f->type](p.w, p.rb, k, x, p.xb, nt, ys, rows, 0, rows);
                int bad = 0;
                for (int64_t i = 0; i < rows * nt && bad < 3; i++) {
                    if (same_bits(y[i], ys[i])) continue;
                    bad++;
                    CHECK_MSG(0, "%s type %u tokens %lld..%lld: y[%lld] %.9g, scalar %.9g", g_kt->isa,
                              f->type, (long long)t0, (long long)(t0 + nt - 1), (long long)i, y[i], ys[i]);
                }
            }
        free(y);
        free(ys);
        problem_free(&p);
    }
}

/* Activation quantizers: the scalar bytes on random blocks, exact ties, tiny and huge. */
static void test_from_float_bytes_equal_scalar(void) {
    const uint32_t acts[] = {QL_TYPE_Q8_0, QL_TYPE_Q8_K};
    const int64_t n = 256 * 9;
    float *x = malloc(n * sizeof(float));
    for (int ai = 0; ai < 2; ai++) {
        uint32_t act = acts[ai];
        CHECK_MSG(g_kt->from_float[act] != NULL, "%s: no from_float for %u", g_kt->isa, act);
        if (!g_kt->from_float[act]) continue;
        size_t xb = row_bytes_of(act, n);
        unsigned char *a = malloc(xb), *b = malloc(xb);
        for (int rep = 0; rep < 50; rep++) {
            fill(x, n);
            /* super-block 1: amax 127 gives d = 1 (both formats): .5 ties in every element */
            for (int i = 256; i < 512; i++) x[i] = (float)((int)(urand() * 126.0)) + (urand() < 0 ? -0.5f : 0.5f);
            x[256 + 37] = 127.0f;
            x[256 + 100] = -127.0f;
            /* super-block 2: amax 254 gives d = 2: ties at odd integers */
            for (int i = 512; i < 768; i++) x[i] = (float)(2 * (int)(urand() * 126.0) + 1);
            x[512 + 5] = -254.0f;
            /* super-block 3: subnormal (the scale underflows), 4: near FLT_MAX */
            for (int i = 768; i < 1024; i++) x[i] = (float)(urand() * 1e-40);
            for (int i = 1024; i < 1280; i++) x[i] = (float)(urand() * (double)FLT_MAX);
            x[1024] = FLT_MAX;
            /* super-block 5: small random values */
            for (int i = 1280; i < 1536; i++) x[i] = (float)(urand() * 3.0);
            memset(a, 0, xb);
            memset(b, 0xaa, xb);
            g_kt->from_float[act](x, a, n);
            g_ks->from_float[act](x, b, n);
            if (memcmp(a, b, xb) != 0) {
                size_t i = 0;
                while (a[i] == b[i]) i++;
                CHECK_MSG(0, "%s from_float[%u] rep %d: byte %zu differs (%d vs %d)", g_kt->isa, act,
                          rep, i, a[i], b[i]);
                break;
            }
        }
        free(a);
        free(b);
    }
    free(x);
}

int main(void) {
    ql_error err = {0};
    if (ql_kernels_check(&err) != QL_OK) {
        printf("quant kernels: skipped: %s\n", err.message);
        return 77;
    }
    const char *forced = getenv("QLOOP_ISA");
    if (forced && *forced)
        CHECK_MSG(strcmp(ql_kernels()->isa, forced) == 0, "QLOOP_ISA=%s gave %s", forced, ql_kernels()->isa);
    printf("quant kernels: isa in use %s\n", ql_kernels()->isa);
    g_ks = ql_kernels_scalar();
    const char *levels[] = {"scalar", "avx2", "avx512", "amx", "neon"};
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        g_kt = ql_kernels_for(levels[i]);
        if (!g_kt) {
            printf("quant kernels: %s not available here\n", levels[i]);
            continue;
        }
        /* with QLOOP_ISA set, check only the level in use (the full set runs unforced) */
        if (forced && *forced && strcmp(levels[i], forced) != 0) continue;
        printf("quant kernels: checking %s\n", g_kt->isa);
        RUN(test_quant_matmul_equals_scalar_and_matches_double_reference);
        RUN(test_quant_matmul_is_bit_identical_across_splits_and_batches);
        RUN(test_quant_matmul_long_rows_equal_scalar);
        RUN(test_quant_matmul_extreme_levels_equal_scalar);
        RUN(test_quant_prompt_passes_equal_scalar);
        RUN(test_quant_grouped_layout_equals_scalar);
        RUN(test_from_float_bytes_equal_scalar);
    }
    return TEST_REPORT();
}
