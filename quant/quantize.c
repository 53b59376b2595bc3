/*
 * quant/quantize.c: the error-minimising block quantizer (contract: quantize.h).
 *
 * Every format reduces to one of two grids per (sub-)block:
 *   symmetric   y = d * q,      q in [lo, hi]      Q8_0, Q4_0, Q6_K sub-blocks of 16
 *   affine      y = d * q + m,  q in [0, L]        Q4_1, Q4_K / Q5_K sub-blocks of 32 (m <= 0)
 * search_sym / search_affine find a float (d, m) for one block; the k-quants then code the
 * sub-block scales against a shared f16 super-scale and try the neighbouring codes. All
 * errors are computed by err_sym / err_affine, which round exactly as the packers in
 * q8_0.c, q4_0.c, q4_1.c and k_quants.c do, so the chosen block's error is the real one.
 */
#include "quantize.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "formats.h"
#include "types.h"

#define N_CAND 12        /* starting scales per grid end */
#define N_REFIT 3        /* least-squares refits per start */
#define MAX_BLOCK QL_QK_K

/* ---- stored-scale rounding ----------------------------------------------------------- */

static uint16_t f16_sat(float v) {
    uint16_t h = ql_f32_to_f16(v);
    if ((h & 0x7fffu) >= 0x7c00u) h = (uint16_t)((h & 0x8000u) | 0x7bffu); /* +-65504 */
    return h;
}
static float store_f16(float v) { return ql_f16_to_f32(f16_sat(v)); }
static float store_f32(float v) { return v; }
typedef float (*store_fn)(float);

/* ---- exact errors -------------------------------------------------------------------- */

/* ql_quant_round (scale.c) as a float, inlined for the inner loops: clamp to [lo, hi], then
 * round to nearest, ties to even. Adding and removing 1.5 * 2^23 rounds a float of
 * magnitude below 2^22 to an integer in the default rounding mode, exactly as lrintf does
 * (the compiler keeps it: no -ffast-math); the clamped values here are within +-255. */
static inline float round_clamp_f(float v, float lo, float hi) {
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    const float b = 12582912.0f;
    return (v + b) - b;
}
static inline int round_clamp(float v, int lo, int hi) {
    return (int)round_clamp_f(v, (float)lo, (float)hi);
}

/* The block loops below run over n = 16 or 32 elements in 8 independent lanes (summed at
 * the end), which the compiler vectorises; every caller's n is a multiple of LANES. */
#define LANES 8

static inline float lane_sum(const float *a) {
    return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}

/* sum w (x - d q)^2 with q = round(x / d) in [lo, hi], as the symmetric packers round. */
static float err_sym(const float *x, const float *w, int n, float d, int lo, int hi) {
    float id = ql_quant_inv(d), flo = (float)lo, fhi = (float)hi, e[LANES] = {0};
    for (int i = 0; i < n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            float r = x[i + l] - d * round_clamp_f(x[i + l] * id, flo, fhi);
            e[l] += w[i + l] * r * r;
        }
    return lane_sum(e);
}

/* sum w (x - (d q + m))^2 with q = round((x - m) / d) in [0, L]. */
static float err_affine(const float *x, const float *w, int n, float d, float m, int L) {
    float id = ql_quant_inv(d), fL = (float)L, e[LANES] = {0};
    for (int i = 0; i < n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            float r = x[i + l] - (d * round_clamp_f((x[i + l] - m) * id, 0.0f, fL) + m);
            e[l] += w[i + l] * r * r;
        }
    return lane_sum(e);
}

/* ---- symmetric grid: y = d q ----------------------------------------------------------- */

/* Least-squares d for the levels that d0 gives: d = sum w x q / sum w q^2. */
static float refit_sym(const float *x, const float *w, int n, float d0, int lo, int hi) {
    float id = ql_quant_inv(d0), flo = (float)lo, fhi = (float)hi;
    float a[LANES] = {0}, b[LANES] = {0};
    for (int i = 0; i < n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            float q = round_clamp_f(x[i + l] * id, flo, fhi);
            a[l] += w[i + l] * x[i + l] * q;
            b[l] += w[i + l] * q * q;
        }
    float sxq = lane_sum(a), sqq = lane_sum(b);
    return sqq > 0.0f ? sxq / sqq : d0;
}

/* The stored d (after `store`) minimising err_sym, starting from `d_ref` (the RTN choice,
 * already stored). Starts: the element of largest magnitude m placed at a grid end L in
 * {lo, hi}, d = m / (L (1 + t)) for t over [-0.1, +0.25]: smaller |d| clips m but grids
 * the bulk more finely. */
static float search_sym(const float *x, const float *w, int n, int lo, int hi, store_fn store,
                        float d_ref, float *err) {
    float best_d = d_ref, best_e = err_sym(x, w, n, d_ref, lo, hi);
    float m = 0.0f;
    for (int i = 0; i < n; i++)
        if (fabsf(x[i]) > fabsf(m)) m = x[i];
    if (m == 0.0f || best_e == 0.0f) {
        *err = best_e;
        return best_d;
    }
    const int ends[2] = {lo, hi};
    for (int e = 0; e < 2; e++) {
        if (ends[e] == 0) continue;
        for (int t = 0; t < N_CAND; t++) {
            float f = 1.0f - 0.1f + 0.35f * (float)t / (float)(N_CAND - 1);
            float d = store(m / ((float)ends[e] * f));
            for (int r = 0; r <= N_REFIT && isfinite(d); r++) {
                float ee = err_sym(x, w, n, d, lo, hi);
                if (ee < best_e) {
                    best_e = ee;
                    best_d = d;
                }
                d = store(refit_sym(x, w, n, d, lo, hi));
            }
        }
    }
    *err = best_e;
    return best_d;
}

/* ---- affine grid: y = d q + m ---------------------------------------------------------- */

/* Weighted least squares of (d, m) for the levels that (d0, m0) give; m is held <= 0 when
 * `m_nonpos` (the k-quants store -m as a non-negative code). False when degenerate. */
static bool refit_affine(const float *x, const float *w, int n, float d0, float m0, int L,
                         bool m_nonpos, float *d, float *m) {
    float id = ql_quant_inv(d0), fL = (float)L;
    double a[5][LANES] = {{0}}; /* per lane: sum w, w q, w q^2, w x, w x q */
    for (int i = 0; i < n; i += LANES)
        for (int l = 0; l < LANES; l++) {
            double q = round_clamp_f((x[i + l] - m0) * id, 0.0f, fL), wi = w[i + l];
            double xi = x[i + l];
            a[0][l] += wi;
            a[1][l] += wi * q;
            a[2][l] += wi * q * q;
            a[3][l] += wi * xi;
            a[4][l] += wi * xi * q;
        }
    double t[5];
    for (int j = 0; j < 5; j++) {
        t[j] = 0.0;
        for (int l = 0; l < LANES; l++) t[j] += a[j][l];
    }
    double s = t[0], sq = t[1], sqq = t[2], sx = t[3], sxq = t[4];
    double det = s * sqq - sq * sq;
    if (!(det > 0.0)) return false;
    double dd = (s * sxq - sq * sx) / det, mm = (sqq * sx - sq * sxq) / det;
    if (m_nonpos && mm > 0.0) {
        mm = 0.0;
        dd = sxq / sqq;
    }
    if (!(dd > 0.0)) return false;
    *d = (float)dd;
    *m = (float)mm;
    return true;
}

/* The (d, m) minimising err_affine, from the reference (d_ref, m_ref) and starts that
 * spread [min, max] over L - 0.5 .. L + 1.5 steps (a wider step clips the extremes),
 * each refined by least squares. */
static float search_affine(const float *x, const float *w, int n, int L, bool m_nonpos,
                           store_fn store, float *d_io, float *m_io) {
    float best_d = *d_io, best_m = *m_io;
    float best_e = err_affine(x, w, n, best_d, best_m, L);
    float lo = x[0], hi = x[0];
    for (int i = 1; i < n; i++) {
        lo = fminf(lo, x[i]);
        hi = fmaxf(hi, x[i]);
    }
    if (m_nonpos) lo = fminf(lo, 0.0f);
    if (hi == lo || best_e == 0.0f) return best_e;
    for (int t = 0; t < N_CAND; t++) {
        float steps = (float)L - 0.5f + 2.0f * (float)t / (float)(N_CAND - 1);
        float d = store(hi / steps - lo / steps), m = store(lo);
        for (int r = 0; r <= N_REFIT && isfinite(d) && isfinite(m); r++) {
            float ee = err_affine(x, w, n, d, m, L);
            if (ee < best_e) {
                best_e = ee;
                best_d = d;
                best_m = m;
            }
            float nd, nm;
            if (!refit_affine(x, w, n, d, m, L, m_nonpos, &nd, &nm)) break;
            d = store(nd);
            m = store(nm);
            if (m_nonpos && m > 0.0f) m = 0.0f;
        }
    }
    *d_io = best_d;
    *m_io = best_m;
    return best_e;
}

/* ---- 32-element formats ------------------------------------------------------------------ */

static void block_q8_0(const float *x, const float *w, ql_block_q8_0 *b) {
    float e, d = search_sym(x, w, QL_QK, -127, 127, store_f16,
                            ql_f16_to_f32(ql_q8_0_choose(x)), &e);
    ql_q8_0_pack(b, x, f16_sat(d));
}

static void block_q4_0(const float *x, const float *w, ql_block_q4_0 *b) {
    float e, d = search_sym(x, w, QL_QK, -8, 7, store_f16, ql_f16_to_f32(ql_q4_0_choose(x)), &e);
    ql_q4_0_pack(b, x, f16_sat(d));
}

static void block_q4_1(const float *x, const float *w, ql_block_q4_1 *b) {
    uint16_t d16, m16;
    ql_q4_1_choose(x, &d16, &m16);
    float d = ql_f16_to_f32(d16), m = ql_f16_to_f32(m16);
    search_affine(x, w, QL_QK, 15, false, store_f16, &d, &m);
    ql_q4_1_pack(b, x, f16_sat(d), f16_sat(m));
}

/* ---- Q4_K / Q5_K: sub-block (step_j, bottom_j) coded as d*sc[j], dmin*mn[j] ------------- */

enum { K_SUB = 32, K_NSUB = 8, Q6_SUB = 16, Q6_NSUB = 16 };

static float k_sub_err(const float *x, const float *w, float d, float dmin, int sc, int mn,
                       int L) {
    /* as k_quants.c: step = d*sc, bottom = dmin*mn, y = step*q - bottom */
    return err_affine(x, w, K_SUB, d * (float)sc, -(dmin * (float)mn), L);
}

static float k_total_err(const float *x, const float *w, const ql_k_scales *s, int L) {
    float d = ql_f16_to_f32(s->d), dmin = ql_f16_to_f32(s->dmin), e = 0.0f;
    for (int j = 0; j < K_NSUB; j++)
        e += k_sub_err(x + j * K_SUB, w + j * K_SUB, d, dmin, s->sc[j], s->mn[j], L);
    return e;
}

static int clamp_code(float v, int lo, int hi) { return round_clamp(v, lo, hi); }

/* Codes the float sub-block (step, bottom) pairs against the super-scales, trying each
 * code and its neighbours on the exact grid. */
static void k_code(const float *x, const float *w, const float *step, const float *bottom,
                   float step_scale, int L, ql_k_scales *s) {
    float smax = 0.0f, bmax = 0.0f;
    for (int j = 0; j < K_NSUB; j++) {
        smax = fmaxf(smax, step[j]);
        bmax = fmaxf(bmax, bottom[j]);
    }
    s->d = ql_f16_round_up(smax * step_scale / 63.0f);
    s->dmin = ql_f16_round_up(bmax / 63.0f);
    float d = ql_f16_to_f32(s->d), dmin = ql_f16_to_f32(s->dmin);
    float id = ql_quant_inv(d), idmin = ql_quant_inv(dmin);
    for (int j = 0; j < K_NSUB; j++) {
        const float *xj = x + j * K_SUB, *wj = w + j * K_SUB;
        int sc0 = clamp_code(step[j] * id, 0, 63), mn0 = clamp_code(bottom[j] * idmin, 0, 63);
        float best = FLT_MAX;
        for (int a = -1; a <= 1; a++)
            for (int c = -1; c <= 1; c++) {
                int sc = sc0 + a, mn = mn0 + c;
                if (sc < 0 || sc > 63 || mn < 0 || mn > 63) continue;
                float e = k_sub_err(xj, wj, d, dmin, sc, mn, L);
                if (e < best) {
                    best = e;
                    s->sc[j] = (uint8_t)sc;
                    s->mn[j] = (uint8_t)mn;
                }
            }
    }
}

/* Searches the scales of a Q4_K (L = 15) / Q5_K (L = 31) super-block into *s; the
 * reference choice is in *s on entry and is kept unless beaten. */
static void k_search(const float *x, const float *w, int L, ql_k_scales *s) {
    float step[K_NSUB], bottom[K_NSUB];
    for (int j = 0; j < K_NSUB; j++) {
        const float *xj = x + j * K_SUB;
        float lo = 0.0f, hi = xj[0];
        for (int l = 0; l < K_SUB; l++) {
            lo = fminf(lo, xj[l]);
            hi = fmaxf(hi, xj[l]);
        }
        float d = (hi - lo) / (float)L, m = lo;
        search_affine(xj, w + j * K_SUB, K_SUB, L, true, store_f32, &d, &m);
        step[j] = d;
        bottom[j] = -m;
    }
    float best = k_total_err(x, w, s, L);
    /* a slightly larger super-scale lets the largest sub-block's code round both ways */
    static const float k_scales[3] = {1.0f, 1.01f, 1.03f};
    for (int t = 0; t < 3; t++) {
        ql_k_scales c;
        k_code(x, w, step, bottom, k_scales[t], L, &c);
        float e = k_total_err(x, w, &c, L);
        if (e < best) {
            best = e;
            *s = c;
        }
    }
}

static void block_q4_k(const float *x, const float *w, ql_block_q4_k *b) {
    ql_k_scales s;
    ql_q4_k_choose(x, &s);
    k_search(x, w, 15, &s);
    ql_q4_k_pack(b, x, &s);
}

static void block_q5_k(const float *x, const float *w, ql_block_q5_k *b) {
    ql_k_scales s;
    ql_q5_k_choose(x, &s);
    k_search(x, w, 31, &s);
    ql_q5_k_pack(b, x, &s);
}

/* ---- Q6_K: 16 sub-blocks of 16, y = d*sc[j] * q, q in -32..31, sc int8 ---------------- */

static float q6_total_err(const float *x, const float *w, const ql_q6_k_scales *s) {
    float d = ql_f16_to_f32(s->d), e = 0.0f;
    for (int j = 0; j < Q6_NSUB; j++)
        e += err_sym(x + j * Q6_SUB, w + j * Q6_SUB, Q6_SUB, d * (float)s->sc[j], -32, 31);
    return e;
}

static void block_q6_k(const float *x, const float *w, ql_block_q6_k *b) {
    ql_q6_k_scales s, c;
    ql_q6_k_choose(x, &s);
    float best = q6_total_err(x, w, &s), step[Q6_NSUB], smax = 0.0f, e;
    for (int j = 0; j < Q6_NSUB; j++) {
        const float *xj = x + j * Q6_SUB;
        float amax = 0.0f;
        for (int l = 0; l < Q6_SUB; l++) amax = fmaxf(amax, fabsf(xj[l]));
        step[j] = search_sym(xj, w + j * Q6_SUB, Q6_SUB, -32, 31, store_f32, amax / 31.0f, &e);
        smax = fmaxf(smax, fabsf(step[j]));
    }
    c.d = ql_f16_round_up(smax / 127.0f);
    float d = ql_f16_to_f32(c.d), id = ql_quant_inv(d);
    for (int j = 0; j < Q6_NSUB; j++) {
        const float *xj = x + j * Q6_SUB, *wj = w + j * Q6_SUB;
        int sc0 = clamp_code(step[j] * id, -128, 127);
        float be = FLT_MAX;
        for (int a = -2; a <= 2; a++) {
            int sc = sc0 + a;
            if (sc < -128 || sc > 127) continue;
            float ee = err_sym(xj, wj, Q6_SUB, d * (float)sc, -32, 31);
            if (ee < be) {
                be = ee;
                c.sc[j] = (int8_t)sc;
            }
        }
    }
    if (q6_total_err(x, w, &c) < best) s = c;
    ql_q6_k_pack(b, x, &s);
}

/* ---- rows ---------------------------------------------------------------------------- */

bool ql_quant_can_read(uint32_t type) {
    switch (type) {
    case QL_TYPE_F32: case QL_TYPE_F16: case QL_TYPE_BF16: case QL_TYPE_Q8_0:
    case QL_TYPE_Q4_0: case QL_TYPE_Q4_1: case QL_TYPE_Q4_K: case QL_TYPE_Q5_K:
    case QL_TYPE_Q6_K:
        return true;
    default:
        return false;
    }
}

bool ql_quant_can_write(uint32_t type, int64_t k) {
    uint64_t rb;
    return k > 0 && ql_quant_can_read(type) && ql_type_row_bytes(type, (uint64_t)k, &rb);
}

typedef void (*block_fn)(const float *x, const float *w, void *dst);

static void quantize_row_search(uint32_t type, const float *x, void *dst, int64_t k,
                                const float *imatrix) {
    const ql_type_traits *tt = ql_type_get(type);
    const int bs = tt->blck_size;
    float ones[MAX_BLOCK];
    for (int i = 0; i < bs; i++) ones[i] = 1.0f;
    char *out = dst;
    for (int64_t i = 0; i < k; i += bs, out += tt->type_size) {
        const float *xb = x + i, *w = imatrix ? imatrix + i : ones;
        switch (type) {
        case QL_TYPE_Q8_0: block_q8_0(xb, w, (ql_block_q8_0 *)out); break;
        case QL_TYPE_Q4_0: block_q4_0(xb, w, (ql_block_q4_0 *)out); break;
        case QL_TYPE_Q4_1: block_q4_1(xb, w, (ql_block_q4_1 *)out); break;
        case QL_TYPE_Q4_K: block_q4_k(xb, w, (ql_block_q4_k *)out); break;
        case QL_TYPE_Q5_K: block_q5_k(xb, w, (ql_block_q5_k *)out); break;
        case QL_TYPE_Q6_K: block_q6_k(xb, w, (ql_block_q6_k *)out); break;
        default: break;
        }
    }
}

static void quantize_row_ref(uint32_t type, const float *x, void *dst, int64_t k) {
    switch (type) {
    case QL_TYPE_Q8_0: ql_quantize_row_q8_0(x, dst, k); break;
    case QL_TYPE_Q4_0: ql_quantize_row_q4_0(x, dst, k); break;
    case QL_TYPE_Q4_1: ql_quantize_row_q4_1(x, dst, k); break;
    case QL_TYPE_Q4_K: ql_quantize_row_q4_k(x, dst, k); break;
    case QL_TYPE_Q5_K: ql_quantize_row_q5_k(x, dst, k); break;
    case QL_TYPE_Q6_K: ql_quantize_row_q6_k(x, dst, k); break;
    default: break;
    }
}

bool ql_quantize_rows(uint32_t type, const float *x, void *dst, int64_t nrows, int64_t k,
                      const float *imatrix, ql_quant_method method) {
    if (!ql_quant_can_write(type, k)) return false;
    uint64_t rb;
    ql_type_row_bytes(type, (uint64_t)k, &rb);
    for (int64_t r = 0; r < nrows; r++) {
        const float *xr = x + r * k;
        void *out = (char *)dst + (size_t)r * rb;
        if (type == QL_TYPE_F32) {
            memcpy(out, xr, (size_t)k * sizeof(float));
        } else if (type == QL_TYPE_F16 || type == QL_TYPE_BF16) {
            uint16_t *o = out;
            for (int64_t i = 0; i < k; i++)
                o[i] = type == QL_TYPE_F16 ? ql_f32_to_f16(xr[i]) : ql_f32_to_bf16(xr[i]);
        } else if (method == QL_QUANT_SEARCH) {
            quantize_row_search(type, xr, out, k, imatrix);
        } else if (method == QL_QUANT_LLAMACPP) {
            ql_quantize_row_llamacpp(type, xr, out, k);
        } else {
            quantize_row_ref(type, xr, out, k);
        }
    }
    return true;
}

bool ql_dequantize_rows(uint32_t type, const void *src, float *y, int64_t nrows, int64_t k) {
    uint64_t rb;
    if (!ql_quant_can_read(type) || !ql_type_row_bytes(type, (uint64_t)k, &rb)) return false;
    for (int64_t r = 0; r < nrows; r++) {
        const void *s = (const char *)src + (size_t)r * rb;
        float *yr = y + r * k;
        const uint16_t *h = s;
        switch (type) {
        case QL_TYPE_F32: memcpy(yr, s, (size_t)k * sizeof(float)); break;
        case QL_TYPE_F16: for (int64_t i = 0; i < k; i++) yr[i] = ql_f16_to_f32(h[i]); break;
        case QL_TYPE_BF16: for (int64_t i = 0; i < k; i++) yr[i] = ql_bf16_to_f32(h[i]); break;
        case QL_TYPE_Q8_0: ql_dequantize_row_q8_0(s, yr, k); break;
        case QL_TYPE_Q4_0: ql_dequantize_row_q4_0(s, yr, k); break;
        case QL_TYPE_Q4_1: ql_dequantize_row_q4_1(s, yr, k); break;
        case QL_TYPE_Q4_K: ql_dequantize_row_q4_k(s, yr, k); break;
        case QL_TYPE_Q5_K: ql_dequantize_row_q5_k(s, yr, k); break;
        case QL_TYPE_Q6_K: ql_dequantize_row_q6_k(s, yr, k); break;
        default: return false;
        }
    }
    return true;
}
