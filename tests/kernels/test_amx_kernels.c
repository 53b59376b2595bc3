/*
 * tests/kernels/test_amx_kernels.c: the AMX level's matmuls (simd/amx.c) against the scalar table,
 * bit for bit, in two builds of the same kernel code:
 *  - emulated: simd/amx.c is compiled into this file with QL_AMX_EMULATE, its tile
 *    operations C functions with the instruction reference's semantics (see simd/amx.c), so
 *    the packing, tile shapes, padding and float chain are checked on any CPU with AVX-512;
 *  - the library's, on tiles, run as test_amx_kernels_isa_amx (QLOOP_ISA=amx, the level
 *    being opt-in) where the CPU has AMX and the OS grants the tile data state; skipped
 *    (exit 77), and said so, elsewhere.
 * Cases: Q8_0, Q4_0, Q4_K, Q5_K and Q6_K; token counts below the AMX threshold (the
 * AVX-512 entry), at it, around the 16-token A tile and the 32-token step, and past the
 * 128-token pass; k of one block (super-block) and of packed segments plus one, at 33 rows
 * (a pair of tiles, the second with one row) and 48 rows (a pair and a lone tile), in the
 * plain and the grouped layout, and long rows (plain); whole, split at row 16 and split
 * inside 16-row groups (at rows 5 and 29). The emulator's TDPBSSD is checked first
 * against products written out by hand.
 * Exit 77 (skipped) without AVX-512, or with QLOOP_ISA set to anything but a usable amx.
 */
#define QL_AMX_EMULATE 1
#include "simd/amx.c"

#include "simd/dispatch.h"
#include "simd/g16.h"

#include "quant_problem.h"

/* The emulator on one TDPBSSD: C (2 x 16 B) += A (2 x 8 B) . B (2 x 16 B), with -128 and
 * 127 bytes, against the sums written out, and a wrap of the int32 accumulator. */
static void test_emulated_tdpbssd_matches_hand_sums(void) {
    _Alignas(64) amx_cfg cfg;
    cfg_make(&cfg, 32);
    cfg.rows[0] = 2, cfg.colsb[0] = 16; /* C: 2 x 4 int32 */
    cfg.rows[4] = 2, cfg.colsb[4] = 8;  /* A: 2 x 8 bytes */
    cfg.rows[6] = 2, cfg.colsb[6] = 16; /* B: 2 rows of 4 x 4 bytes */
    amx_emu e = {0};
    emu_config(&e, &cfg);
    int8_t a[2][8], b[2][16];
    int32_t c[2][4];
    for (int m = 0; m < 2; m++)
        for (int k = 0; k < 8; k++) a[m][k] = (int8_t)(k == 3 ? -128 : 13 * m - 7 * k + 5);
    for (int r = 0; r < 2; r++)
        for (int j = 0; j < 16; j++) b[r][j] = (int8_t)(j == 5 ? 127 : 11 * r - 3 * j + 2);
    for (int m = 0; m < 2; m++)
        for (int n = 0; n < 4; n++) c[m][n] = m == 1 && n == 3 ? INT32_MAX : 100 * m + n;
    emu_load(&e, 0, c, sizeof c[0]);
    emu_load(&e, 4, a, sizeof a[0]);
    emu_load(&e, 6, b, sizeof b[0]);
    emu_dpbssd(&e, 0, 4, 6);
    int32_t got[2][4];
    emu_store(&e, 0, got, sizeof got[0]);
    for (int m = 0; m < 2; m++)
        for (int n = 0; n < 4; n++) {
            int64_t want = c[m][n];
            for (int k = 0; k < 8; k++) want += (int64_t)a[m][k] * b[k / 4][4 * n + k % 4];
            int32_t wrapped = (int32_t)(uint32_t)(uint64_t)want;
            CHECK_MSG(got[m][n] == wrapped, "C[%d][%d] %d, want %d", m, n, got[m][n], wrapped);
        }
}

static const int64_t k_toks[] = {1, 15, 16, 17, 31, 33, 47, 160};
enum { N_TOKS = sizeof k_toks / sizeof k_toks[0] };

static void check_type(uint32_t type) {
    const wfmt *f = NULL;
    for (int i = 0; i < N_WFMTS; i++)
        if (k_wfmts[i].type == type) f = &k_wfmts[i];
    CHECK(f != NULL);
    if (!f) return;
    /* one block (super-block); packed segments plus one, at 33 and 48 rows in both layouts;
     * long rows (the emulated tiles are slow: 48 rows, plain layout) */
    const int64_t k1 = f->block == 32 ? 32 : 256, k2 = f->block == 32 ? 32 * 129 : 256 * 9;
    const int64_t k3 = f->block == 32 ? 4096 + 128 : 4096 + 256;
    const struct { int64_t k, rows; int grouped; } cases[] = {
        {k1, 33, 1}, {k1, 48, 1}, {k2, 33, 1}, {k2, 48, 1}, {k3, 48, 0}};
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const int64_t k = cases[ci].k, rows = cases[ci].rows;
        problem p = problem_make(f, rows, k, k_toks[N_TOKS - 1]);
        check_splits(g_kt->matmul[type], "", &p, p.w, k_toks, N_TOKS, 3);
        size_t unit = ql_g16_unit_bytes(g_kt, type);
        if (cases[ci].grouped && unit && ql_g16_fits(g_kt, type, k, rows)) {
            unsigned char *wg = malloc(p.rb * (size_t)rows);
            ql_g16_pack(unit, p.w, wg, rows, p.rb);
            check_splits(g_kt->matmul_g16[type], "grouped ", &p, wg, k_toks, N_TOKS, 3);
            free(wg);
        }
        problem_free(&p);
    }
}

static void test_amx_q8_0_equals_scalar(void) { check_type(QL_TYPE_Q8_0); }
static void test_amx_q4_0_equals_scalar(void) { check_type(QL_TYPE_Q4_0); }
static void test_amx_q4_k_equals_scalar(void) { check_type(QL_TYPE_Q4_K); }
static void test_amx_q5_k_equals_scalar(void) { check_type(QL_TYPE_Q5_K); }
static void test_amx_q6_k_equals_scalar(void) { check_type(QL_TYPE_Q6_K); }

int main(void) {
    g_ks = ql_kernels_scalar();
    const char *forced = getenv("QLOOP_ISA");
    if (forced && *forced) { /* the library's tiles: only with QLOOP_ISA=amx (opt-in) */
        ql_error err = {0};
        if (strcmp(forced, "amx") != 0 || ql_kernels_check(&err) != QL_OK || !(g_kt = ql_kernels_for("amx"))) {
            if (err.message[0]) printf("amx: skipped: %s\n", err.message);
            else printf("amx: skipped: QLOOP_ISA=%s is not amx\n", forced);
            return 77;
        }
    } else {
        if (!ql_kernels_for("avx512")) {
            printf("amx: skipped: no AVX-512 here (the emulated level runs on the AVX-512 one)\n");
            return 77;
        }
        RUN(test_emulated_tdpbssd_matches_hand_sums);
        static ql_kernel_table emulated;
        ql_kernels_init_amx_emulated(&emulated);
        g_kt = &emulated;
    }
    printf("amx: checking %s\n", g_kt->isa);
    RUN(test_amx_q8_0_equals_scalar);
    RUN(test_amx_q4_0_equals_scalar);
    RUN(test_amx_q4_k_equals_scalar);
    RUN(test_amx_q5_k_equals_scalar);
    RUN(test_amx_q6_k_equals_scalar);
    return TEST_REPORT();
}
