/*
 * simd/amx.c: the AMX level: the AVX-512 table, with the prompt matmuls (QL_AMX_MIN_TOK
 * tokens or more) of Q8_0, Q4_0, Q4_K, Q5_K and Q6_K weights on AMX int8 tiles. Q8_0 / Q4_0
 * first; the k-quants below ("k-quants: one TDPBSSD per sub-block").
 *
 * One TDPBSSD multiplies a tile of 16 tokens x 32 activation bytes (A: one Q8_0 block of
 * each token, loaded straight from the activation rows with their stride) by a tile of
 * 8 x 64 bytes (B: the same block of 16 weight rows, dword g of row r in dword r of tile
 * row g, as the AVX-512 prompt kernel packs it, but signed: Q8_0 levels as they are, Q4_0
 * levels minus 8) into 16 x 16 int32: every (token, row) pair's exact block sum, the int32
 * that scalar computes. Two A and two B tiles make 32 tokens x 32 rows per step. The sums go
 * through memory (TILESTORED) to the float chain of simd/avx512_quant.c's q32_gemm, one
 * lane per row: acc + (dw * dx) * (float)isum per block, blocks in order. So the results
 * equal scalar's bits, like every other level, whatever the tile shapes or the split.
 * Loops as q32_prompt's: passes of QL_AMX_TC tokens, segments of QL_AMX_KC blocks (packed
 * once per pass and pair of 16-row tiles), steps of 32 tokens. A last step of fewer tokens
 * reads a padded copy of its activations (the last token repeated), so no tile load reads
 * past the activation rows; rows past the range's end repeat its last row and are not
 * stored.
 *
 * AMX is opt-in (QLOOP_ISA=amx; simd/dispatch.c requests the tile-data permission first):
 * nobody has run this file on AMX hardware yet, as no machine the project measures on has
 * AMX. It is built twice:
 *  - into the library with -mamx-tile -mamx-int8: the tile operations are gcc's intrinsics.
 *    The tile configuration is written through a volatile object and passed to LDTILECFG
 *    after a compiler barrier: gcc 12 drops plain stores into a struct that only
 *    _tile_loadconfig reads (../shared/BASELINE.md), and the tiles are then unconfigured.
 *    A barrier precedes every tile load too (AMX_LOAD).
 *  - by tests/kernels/test_amx_kernels.c with QL_AMX_EMULATE: the tile operations are C
 *    functions with the semantics of Intel's instruction reference (LDTILECFG's checks of
 *    the palette, the shapes and the reserved bytes, where hardware raises #GP, abort;
 *    TDPBSSD checks that the three shapes agree; sums wrap in 32 bits), so the packing, the
 *    tile shapes and the float chain are tested against scalar on CPUs without AMX.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "isa.h"

#include "avx512_pack.h"
#include "dispatch.h"
#include "kernels.h"
#include "quant/formats.h"
#include "quant_isa.h"
#include "wlay.h"

enum {
    QL_AMX_MIN_TOK = 16, /* fewer tokens: the AVX-512 entry (one A tile would be mostly padding) */
    QL_AMX_KC = 64,      /* blocks per packed segment: 2 x 64 x 512 B of B tiles */
    QL_AMX_TC = 128,     /* tokens per pass: 128 x 64 x 34 B of activations stay in L2 */
    QL_AMX_STEP = 32,    /* tokens per step: two A tiles */
    BLK = sizeof(ql_block_q8_0),
};

/* Tile registers (literals in the code: gcc's tile intrinsics paste the number into the
 * instruction): C (sums) of A tile i and B tile j is tmm(2 i + j), A tiles tmm4-5, B tiles
 * tmm6-7. */
enum { TC = 0, TA = 4, TB = 6 };

/* LDTILECFG's 64-byte operand (palette 1). */
typedef struct amx_cfg {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16]; /* bytes per row of tile i */
    uint8_t rows[16];
} amx_cfg;

_Static_assert(sizeof(amx_cfg) == 64, "LDTILECFG reads 64 bytes");

/* C tiles 16 x 64 B (16 tokens x 16 int32), A tiles 16 x kb B (16 tokens x the kb
 * activation bytes of one block or sub-block), B tiles kb / 4 x 64 B (the kb levels of 16
 * rows, 4 per dword). kb = 32, or 16 for Q6_K's sub-blocks. */
static void cfg_make(volatile amx_cfg *c, int kb) {
    volatile uint8_t *p = (volatile uint8_t *)c;
    for (size_t i = 0; i < sizeof *c; i++) p[i] = 0;
    c->palette = 1;
    for (int i = 0; i < 4; i++) c->rows[TC + i] = 16, c->colsb[TC + i] = 64;
    for (int i = 0; i < 2; i++) c->rows[TA + i] = 16, c->colsb[TA + i] = (uint16_t)kb;
    for (int i = 0; i < 2; i++) c->rows[TB + i] = (uint8_t)(kb / 4), c->colsb[TB + i] = 64;
}

#ifdef QL_AMX_EMULATE
#include <stdio.h>
#include <stdlib.h>

#define QL_AMX_INIT ql_kernels_init_amx_emulated
#define QL_AMX_NAME "amx-emulated"

typedef struct amx_emu {
    amx_cfg cfg;
    int configured;
    uint8_t t[8][16][64];
} amx_emu;

static void emu_fail(const char *what) {
    fprintf(stderr, "AMX emulation: %s (hardware faults here)\n", what);
    abort();
}

static void emu_config(amx_emu *e, const volatile amx_cfg *c) {
    memcpy(&e->cfg, (const void *)c, sizeof e->cfg);
    const amx_cfg *f = &e->cfg;
    if (f->palette != 1) emu_fail("LDTILECFG: palette is not 1");
    if (f->start_row) emu_fail("LDTILECFG: start_row is not 0");
    for (int i = 0; i < 14; i++)
        if (f->reserved[i]) emu_fail("LDTILECFG: reserved byte set");
    for (int i = 0; i < 16; i++) {
        if (i >= 8 && (f->rows[i] || f->colsb[i])) emu_fail("LDTILECFG: tile 8-15 configured");
        if (f->rows[i] > 16 || f->colsb[i] > 64) emu_fail("LDTILECFG: tile larger than 16 x 64 B");
        if (!f->rows[i] != !f->colsb[i]) emu_fail("LDTILECFG: tile with rows but no columns");
    }
    memset(e->t, 0, sizeof e->t);
    e->configured = 1;
}

static void emu_check(const amx_emu *e, int i) {
    if (!e->configured) emu_fail("tile instruction before LDTILECFG");
    if (!e->cfg.rows[i]) emu_fail("tile instruction on an unconfigured tile");
}

static void emu_load(amx_emu *e, int i, const void *p, size_t stride) {
    emu_check(e, i);
    memset(e->t[i], 0, sizeof e->t[i]);
    for (int m = 0; m < e->cfg.rows[i]; m++) memcpy(e->t[i][m], (const uint8_t *)p + m * stride, e->cfg.colsb[i]);
}

static void emu_store(amx_emu *e, int i, void *p, size_t stride) {
    emu_check(e, i);
    for (int m = 0; m < e->cfg.rows[i]; m++) memcpy((uint8_t *)p + m * stride, e->t[i][m], e->cfg.colsb[i]);
}

static void emu_zero(amx_emu *e, int i) {
    emu_check(e, i);
    memset(e->t[i], 0, sizeof e->t[i]);
}

/* TDPBSSD c, a, b: c[m][n] += sum over k of a[m][k] * b[k / 4][4 n + k % 4], signed bytes. */
static void emu_dpbssd(amx_emu *e, int c, int a, int b) {
    emu_check(e, c), emu_check(e, a), emu_check(e, b);
    const amx_cfg *f = &e->cfg;
    if (f->rows[c] != f->rows[a] || f->colsb[a] != 4 * f->rows[b] || f->colsb[c] != f->colsb[b] ||
        f->colsb[c] % 4 || f->colsb[a] % 4)
        emu_fail("TDPBSSD: tile shapes do not agree");
    for (int m = 0; m < f->rows[c]; m++)
        for (int n = 0; n < f->colsb[c] / 4; n++) {
            int32_t acc;
            memcpy(&acc, &e->t[c][m][4 * n], 4);
            uint32_t s = (uint32_t)acc;
            for (int k = 0; k < f->colsb[a]; k++)
                s += (uint32_t)((int32_t)(int8_t)e->t[a][m][k] * (int8_t)e->t[b][k / 4][4 * n + k % 4]);
            acc = (int32_t)s;
            memcpy(&e->t[c][m][4 * n], &acc, 4);
        }
}

#define AMX_STATE amx_emu amx_emu_state = {0}
#define AMX_CONFIG(c) emu_config(&amx_emu_state, (c))
#define AMX_LOAD(i, p, s) emu_load(&amx_emu_state, (i), (p), (s))
#define AMX_STORE(i, p, s) emu_store(&amx_emu_state, (i), (p), (s))
#define AMX_ZERO(i) emu_zero(&amx_emu_state, (i))
#define AMX_DPBSSD(c, a, b) emu_dpbssd(&amx_emu_state, (c), (a), (b))
#define AMX_RELEASE() ((void)amx_emu_state)

#else

#define QL_AMX_INIT ql_kernels_init_amx
#define QL_AMX_NAME "amx"

#define AMX_STATE ((void)0)
#define AMX_CONFIG(c)                                                 \
    do {                                                              \
        __asm__ volatile("" : : "r"((const void *)(c)) : "memory");   \
        _tile_loadconfig((const void *)(c));                          \
    } while (0)
/* gcc's _tile_loadd tells the compiler nothing about the memory it reads (register inputs,
 * no "memory" clobber), so stores into the packed tiles could be sunk past it or dropped as
 * dead; the barrier first makes every store land before the load. */
#define AMX_LOAD(i, p, s)                          \
    do {                                           \
        __asm__ volatile("" : : : "memory");       \
        _tile_loadd(i, (p), (long)(s));            \
    } while (0)
#define AMX_STORE(i, p, s) _tile_stored(i, (p), (long)(s))
#define AMX_ZERO(i) _tile_zero(i)
#define AMX_DPBSSD(c, a, b) _tile_dpbssd(c, a, b)
#define AMX_RELEASE() _tile_release()

#endif

/* sums[2 i + j] = A tile i x B tile j (A: rows of a at stride as, tile 1 from row 16; B:
 * tiles at b0, b1, 64-byte rows) for the nat A and nbt B tiles in use. */
#define AMX_STEP(a, as, b0, b1, nat, nbt, sums)          \
    do {                                                 \
        AMX_LOAD(4, (a), (as));                          \
        if ((nat) == 2) AMX_LOAD(5, (a) + 16 * (as), (as)); \
        AMX_LOAD(6, (b0), 64);                           \
        if ((nbt) == 2) AMX_LOAD(7, (b1), 64);           \
        AMX_ZERO(0);                                     \
        AMX_DPBSSD(0, 4, 6);                             \
        AMX_STORE(0, (sums)[0], 64);                     \
        if ((nbt) == 2) {                                \
            AMX_ZERO(1);                                 \
            AMX_DPBSSD(1, 4, 7);                         \
            AMX_STORE(1, (sums)[1], 64);                 \
        }                                                \
        if ((nat) == 2) {                                \
            AMX_ZERO(2);                                 \
            AMX_DPBSSD(2, 5, 6);                         \
            AMX_STORE(2, (sums)[2], 64);                 \
        }                                                \
        if ((nat) == 2 && (nbt) == 2) {                  \
            AMX_ZERO(3);                                 \
            AMX_DPBSSD(3, 5, 7);                         \
            AMX_STORE(3, (sums)[3], 64);                 \
        }                                                \
    } while (0)

/* The last, partial step of a pass (tail tokens of nt) padded to QL_AMX_STEP rows of
 * row_len bytes at pad (the last token repeated), so that no tile load reads past the
 * activation rows. */
static void pad_tail(uint8_t *pad, const uint8_t *xs, size_t x_row_bytes, int64_t nt, size_t row_len) {
    const int64_t tail = nt % QL_AMX_STEP;
    for (int64_t i = 0; tail && i < QL_AMX_STEP; i++) {
        int64_t t = nt - tail + (i < tail ? i : tail - 1);
        memcpy(pad + (size_t)i * row_len, xs + (size_t)t * x_row_bytes, row_len);
    }
}

/* Rows r0 .. r1-1 of y = W x for n_tok >= 1 tokens (x: Q8_0 rows of nb blocks). */
static void amx_prompt(int kind, const void *w, const wlay *L, int64_t nb, const uint8_t *x,
                       size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,
                       int64_t r1) {
    __m512i wb[2][QL_AMX_KC * 8];                         /* B tiles, 64 KiB */
    _Alignas(64) float dw[2][QL_AMX_KC * 16];
    _Alignas(64) int32_t sums[4][16][16];                /* the C tiles of a step */
    _Alignas(64) uint8_t pad[QL_AMX_STEP * QL_AMX_KC * BLK]; /* the last step's tokens, 68 KiB */
    float dx[QL_AMX_TC * QL_AMX_KC];                      /* 32 KiB */
    __m512 acc[QL_AMX_STEP][2];
    _Alignas(64) amx_cfg cfg;
    AMX_STATE;
    cfg_make(&cfg, 32);
    AMX_CONFIG(&cfg);
    for (int64_t t0 = 0; t0 < n_tok; t0 += QL_AMX_TC) {
        const int64_t nt = n_tok - t0 < QL_AMX_TC ? n_tok - t0 : QL_AMX_TC;
        for (int64_t b0 = 0; b0 < nb; b0 += QL_AMX_KC) {
            const int64_t nbs = nb - b0 < QL_AMX_KC ? nb - b0 : QL_AMX_KC;
            const uint8_t *xs = x + (size_t)t0 * x_row_bytes + (size_t)b0 * BLK;
            q32_x_scales(xs, x_row_bytes, nt, nbs, dx);
            const size_t pad_stride = (size_t)nbs * BLK;
            pad_tail(pad, xs, x_row_bytes, nt, pad_stride);
            for (int64_t r = r0, nr; r < r1; r += nr) {
                int64_t n[2], ro[2];
                nr = tile_pair(L, r, r1, n, ro);
                const uint8_t *rows[16];
                tile_row_ptrs(w, L, r, n[0], rows);
                q32_pack(kind, 1, rows, L, b0, nbs, wb[0], dw[0]);
                if (n[1]) {
                    tile_row_ptrs(w, L, ro[1], n[1], rows);
                    q32_pack(kind, 1, rows, L, b0, nbs, wb[1], dw[1]);
                }
                const int nbt = n[1] ? 2 : 1;
                const __mmask16 mask[2] = {(__mmask16)((1u << n[0]) - 1u), (__mmask16)((1u << n[1]) - 1u)};
                for (int64_t t = 0; t < nt; t += QL_AMX_STEP) {
                    const int64_t ns = nt - t < QL_AMX_STEP ? nt - t : QL_AMX_STEP;
                    const int nat = ns > 16 ? 2 : 1;
                    const uint8_t *xa = ns == QL_AMX_STEP ? xs + (size_t)t * x_row_bytes : pad;
                    const size_t as = ns == QL_AMX_STEP ? x_row_bytes : pad_stride;
                    for (int i = 0; i < QL_AMX_STEP; i++)
                        for (int j = 0; j < 2; j++)
                            acc[i][j] = b0 == 0 || i >= ns || !n[j]
                                            ? _mm512_setzero_ps()
                                            : _mm512_maskz_loadu_ps(mask[j], y + (t0 + t + i) * ldy + ro[j]);
                    for (int64_t b = 0; b < nbs; b++) {
                        /* A tile i: tokens 16 i .. 16 i + 15 of the step, block b */
                        AMX_STEP(xa + (size_t)b * BLK + 2, as, (const uint8_t *)(wb[0] + 8 * b),
                                 (const uint8_t *)(wb[1] + 8 * b), nat, nbt, sums);
                        /* scalar's chain per (token, row): acc + (dw * dx) * (float)isum */
                        for (int j = 0; j < nbt; j++) {
                            const __m512 d = _mm512_loadu_ps(dw[j] + 16 * b);
                            for (int64_t i = 0; i < ns; i++) {
                                const __m512 s = _mm512_cvtepi32_ps(_mm512_load_si512(sums[2 * (i / 16) + j][i % 16]));
                                const __m512 term = _mm512_mul_ps(_mm512_mul_ps(d, _mm512_set1_ps(dx[(t + i) * nbs + b])), s);
                                acc[i][j] = _mm512_add_ps(acc[i][j], term);
                            }
                        }
                    }
                    for (int64_t i = 0; i < ns; i++)
                        for (int j = 0; j < nbt; j++)
                            _mm512_mask_storeu_ps(y + (t0 + t + i) * ldy + ro[j], mask[j], acc[i][j]);
                }
            }
        }
    }
    AMX_RELEASE();
}

/* ---- k-quants: one TDPBSSD per sub-block ----------------------------------------------
 *
 * The super-blocks of 16 rows are packed by k_pack_block (simd/avx512_pack.h), whose level
 * vectors w[8 j + g] (lane r: 4 levels of row r, Q4_K 0-15, Q5_K 0-31, Q6_K 0-63, all valid
 * signed bytes) are a B tile as they lie: sub-block j of 32 (Q4_K, Q5_K) at w + 8 j, 8 rows;
 * Q6_K's sub-block u of 16 at w + 4 u, 4 rows. Each sub-block's exact sums S_u (16 tokens x
 * 16 rows) are multiplied by the row's scale sc_u and added in int32 (vpmulld), so
 * isum = sum_u sc_u S_u is scalar's integer; msum (Q4_K / Q5_K) and Q6_K's -32 offset come
 * from the activation sums as in k_gemm (simd/avx512_quant.c), and so does the float chain:
 *   Q4_K / Q5_K: acc + dx * (d * isum - dmin * msum);   Q6_K: acc + (dx * d) * (isum - 32 ...).
 * Loops as amx_prompt's, with segments of QL_AMX_KC_K super-blocks. */

enum {
    QL_AMX_KC_K = 8, /* super-blocks per segment: 2 x 8 packed super-blocks of 16 rows, 92 KiB */
    KBLK = sizeof(ql_block_q8_k),
};

static void amx_prompt_k(int kind, const void *w, const wlay *L, int64_t nb, const uint8_t *x,
                         size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,
                         int64_t r1) {
    _Alignas(64) k_pack kp[2][QL_AMX_KC_K];
    _Alignas(64) int32_t sums[4][16][16];
    _Alignas(64) uint8_t pad[QL_AMX_STEP * QL_AMX_KC_K * KBLK]; /* 73 KiB */
    int32_t bp[QL_AMX_TC * QL_AMX_KC_K * 4];                     /* k_prep's pairs, 16 KiB */
    __m512i is[QL_AMX_STEP][2];
    __m512 acc[QL_AMX_STEP][2];
    _Alignas(64) amx_cfg cfg;
    const int kb = kind == Q6_K ? 16 : 32, units = 256 / kb;
    AMX_STATE;
    cfg_make(&cfg, kb);
    AMX_CONFIG(&cfg);
    for (int64_t t0 = 0; t0 < n_tok; t0 += QL_AMX_TC) {
        const int64_t nt = n_tok - t0 < QL_AMX_TC ? n_tok - t0 : QL_AMX_TC;
        for (int64_t b0 = 0; b0 < nb; b0 += QL_AMX_KC_K) {
            const int64_t nbs = nb - b0 < QL_AMX_KC_K ? nb - b0 : QL_AMX_KC_K;
            const uint8_t *xs = x + (size_t)t0 * x_row_bytes + (size_t)b0 * KBLK;
            if (kind != Q6_K) k_prep(xs, x_row_bytes, nt, nbs, bp);
            const size_t pad_stride = (size_t)nbs * KBLK;
            pad_tail(pad, xs, x_row_bytes, nt, pad_stride);
            for (int64_t r = r0, nr; r < r1; r += nr) {
                int64_t n[2], ro[2];
                nr = tile_pair(L, r, r1, n, ro);
                const int nbt = n[1] ? 2 : 1;
                const __mmask16 mask[2] = {(__mmask16)((1u << n[0]) - 1u), (__mmask16)((1u << n[1]) - 1u)};
                for (int h = 0; h < nbt; h++) {
                    const uint8_t *rows[16];
                    tile_row_ptrs(w, L, ro[h], n[h], rows);
                    for (int64_t b = 0; b < nbs; b++) k_pack_block(kind, rows, blk_off(L, b0 + b), &kp[h][b]);
                }
                for (int64_t t = 0; t < nt; t += QL_AMX_STEP) {
                    const int64_t ns = nt - t < QL_AMX_STEP ? nt - t : QL_AMX_STEP;
                    const int nat = ns > 16 ? 2 : 1;
                    const uint8_t *xa = ns == QL_AMX_STEP ? xs + (size_t)t * x_row_bytes : pad;
                    const size_t as = ns == QL_AMX_STEP ? x_row_bytes : pad_stride;
                    for (int i = 0; i < ns; i++)
                        for (int j = 0; j < nbt; j++)
                            acc[i][j] = b0 == 0 ? _mm512_setzero_ps()
                                                : _mm512_maskz_loadu_ps(mask[j], y + (t0 + t + i) * ldy + ro[j]);
                    for (int64_t b = 0; b < nbs; b++) {
                        const k_pack *kq[2] = {&kp[0][b], &kp[nbt - 1][b]};
                        for (int i = 0; i < ns; i++)
                            for (int j = 0; j < nbt; j++) is[i][j] = _mm512_setzero_si512();
                        for (int u = 0; u < units; u++) {
                            const uint8_t *a = xa + (size_t)b * KBLK + 4 + (size_t)(kb * u);
                            AMX_STEP(a, as, (const uint8_t *)(kq[0]->w + (kb / 4) * u),
                                     (const uint8_t *)(kq[1]->w + (kb / 4) * u), nat, nbt, sums);
                            for (int j = 0; j < nbt; j++) {
                                const __m512i sc = kq[j]->sc[u];
                                for (int i = 0; i < ns; i++)
                                    is[i][j] = _mm512_add_epi32(is[i][j], _mm512_mullo_epi32(
                                        _mm512_load_si512(sums[2 * (i / 16) + j][i % 16]), sc));
                            }
                        }
                        for (int i = 0; i < ns; i++) {
                            const uint8_t *xb = xs + (size_t)(t + i) * x_row_bytes + (size_t)b * KBLK;
                            float dxs;
                            memcpy(&dxs, xb, 4);
                            const __m512 dx = _mm512_set1_ps(dxs);
                            for (int j = 0; j < nbt; j++) {
                                const k_pack *p = kq[j];
                                __m512i s = kind == Q6_K ? is[i][j] : _mm512_setzero_si512();
                                for (int q = 0; q < (kind == Q6_K ? 8 : 4); q++)
                                    s = _mm512_dpwssd_epi32(s, p->bias[q], _mm512_set1_epi32(kind == Q6_K
                                        ? load_i32(xb + offsetof(ql_block_q8_k, bsums) + 4 * q)
                                        : bp[4 * ((t + i) * nbs + b) + q]));
                                __m512 term;
                                if (kind == Q6_K)
                                    term = _mm512_mul_ps(_mm512_mul_ps(dx, p->d), _mm512_cvtepi32_ps(s));
                                else
                                    term = _mm512_mul_ps(dx, _mm512_sub_ps(_mm512_mul_ps(p->d, _mm512_cvtepi32_ps(is[i][j])),
                                                                           _mm512_mul_ps(p->dmin, _mm512_cvtepi32_ps(s))));
                                acc[i][j] = _mm512_add_ps(acc[i][j], term);
                            }
                        }
                    }
                    for (int64_t i = 0; i < ns; i++)
                        for (int j = 0; j < nbt; j++)
                            _mm512_mask_storeu_ps(y + (t0 + t + i) * ldy + ro[j], mask[j], acc[i][j]);
                }
            }
        }
    }
    AMX_RELEASE();
}

typedef void (*amx_impl)(int kind, const void *w, const wlay *L, int64_t nb, const uint8_t *x,
                         size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,
                         int64_t r1);

/* A matmul entry of the table: the AVX-512 one below QL_AMX_MIN_TOK tokens, else impl over
 * the layout (plain or grouped) of rows with `block` elements per block. */
QL_INLINE void amx_entry(uint32_t type, int kind, int grouped, amx_impl impl, int64_t block,
                         const void *w, size_t row_bytes, int64_t k, const void *x,
                         size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,
                         int64_t r1) {
    if (n_tok < QL_AMX_MIN_TOK) {
        ql_avx512_quant_matmul(type, grouped)(w, row_bytes, k, x, x_row_bytes, n_tok, y, ldy, r0, r1);
        return;
    }
    const wlay L = wlay_of(type, row_bytes, grouped);
    impl(kind, w, &L, k / block, x, x_row_bytes, n_tok, y, ldy, r0, r1);
}

#define QL_AMX_ENTRY(name, kind, type, grouped, impl, block)                                 \
    static void name(const void *w, size_t row_bytes, int64_t k, const void *x,               \
                     size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,    \
                     int64_t r1) {                                                            \
        amx_entry(type, kind, grouped, impl, block, w, row_bytes, k, x, x_row_bytes, n_tok, y, \
                  ldy, r0, r1);                                                               \
    }
#define QL_AMX_MATMUL(fmt, kind, type, impl, block)                                          \
    QL_AMX_ENTRY(amx_matmul_##fmt, kind, type, 0, impl, block)                                \
    QL_AMX_ENTRY(amx_matmul_##fmt##_g16, kind, type, 1, impl, block)

QL_AMX_MATMUL(q8_0, Q8_0, QL_TYPE_Q8_0, amx_prompt, QL_QK)
QL_AMX_MATMUL(q4_0, Q4_0, QL_TYPE_Q4_0, amx_prompt, QL_QK)
QL_AMX_MATMUL(q4_k, Q4_K, QL_TYPE_Q4_K, amx_prompt_k, QL_QK_K)
QL_AMX_MATMUL(q5_k, Q5_K, QL_TYPE_Q5_K, amx_prompt_k, QL_QK_K)
QL_AMX_MATMUL(q6_k, Q6_K, QL_TYPE_Q6_K, amx_prompt_k, QL_QK_K)

void QL_AMX_INIT(ql_kernel_table *t) {
    ql_kernels_init_avx512(t);
    t->isa = QL_AMX_NAME;
    t->matmul[QL_TYPE_Q8_0] = amx_matmul_q8_0;
    t->matmul_g16[QL_TYPE_Q8_0] = amx_matmul_q8_0_g16;
    t->matmul[QL_TYPE_Q4_0] = amx_matmul_q4_0;
    t->matmul_g16[QL_TYPE_Q4_0] = amx_matmul_q4_0_g16;
    t->matmul[QL_TYPE_Q4_K] = amx_matmul_q4_k;
    t->matmul_g16[QL_TYPE_Q4_K] = amx_matmul_q4_k_g16;
    t->matmul[QL_TYPE_Q5_K] = amx_matmul_q5_k;
    t->matmul_g16[QL_TYPE_Q5_K] = amx_matmul_q5_k_g16;
    t->matmul[QL_TYPE_Q6_K] = amx_matmul_q6_k;
    t->matmul_g16[QL_TYPE_Q6_K] = amx_matmul_q6_k_g16;
}
