/*
 * simd/scalar.c: reference implementations of every kernel.
 *
 * Plain C, no intrinsics. These define the results the vectorised kernels are checked
 * against, so they favour clarity over speed; float accumulation order is left to right.
 */
#include <math.h>
#include <string.h>

#include "isa.h"
#include "kernels.h"

static void to_float_f32(const void *src, float *dst, int64_t n) {
    memcpy(dst, src, (size_t)n * sizeof(float));
}

static void to_float_f16(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = ql_f16_to_f32(s[i]);
}

static void to_float_bf16(const void *src, float *dst, int64_t n) {
    const uint16_t *s = src;
    for (int64_t i = 0; i < n; i++) dst[i] = ql_bf16_to_f32(s[i]);
}

static float dot_f32(const float *a, const float *b, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* Float weights read float32 activations: x_row_bytes = k * 4. */
static void matmul_f32(const void *w, size_t row_bytes, int64_t k, const void *xv,
                       size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,
                       int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        const float *wr = (const float *)((const char *)w + (size_t)r * row_bytes);
        for (int64_t t = 0; t < n_tok; t++) {
            const float *xt = (const float *)((const char *)xv + (size_t)t * x_row_bytes);
            y[t * ldy + r] = dot_f32(wr, xt, k);
        }
    }
}

static void matmul_f16(const void *w, size_t row_bytes, int64_t k, const void *xv,
                       size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,
                       int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *wr = (const uint16_t *)((const char *)w + (size_t)r * row_bytes);
        for (int64_t t = 0; t < n_tok; t++) {
            const float *xt = (const float *)((const char *)xv + (size_t)t * x_row_bytes);
            float s = 0.0f;
            for (int64_t i = 0; i < k; i++) s += ql_f16_to_f32(wr[i]) * xt[i];
            y[t * ldy + r] = s;
        }
    }
}

static void matmul_bf16(const void *w, size_t row_bytes, int64_t k, const void *xv,
                       size_t x_row_bytes, int64_t n_tok, float *y, int64_t ldy, int64_t r0,
                       int64_t r1) {
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *wr = (const uint16_t *)((const char *)w + (size_t)r * row_bytes);
        for (int64_t t = 0; t < n_tok; t++) {
            const float *xt = (const float *)((const char *)xv + (size_t)t * x_row_bytes);
            float s = 0.0f;
            for (int64_t i = 0; i < k; i++) s += ql_bf16_to_f32(wr[i]) * xt[i];
            y[t * ldy + r] = s;
        }
    }
}

static void rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    float ss = 0.0f;
    for (int64_t i = 0; i < n; i++) ss += x[i] * x[i];
    float scale = 1.0f / sqrtf(ss / (float)n + eps);
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

static void softmax(float *x, int64_t n) {
    float max = -INFINITY;
    for (int64_t i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
    float sum = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

static void swiglu(float *out, const float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

static void axpy(float *y, float a, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

QL_ROWS_FROM_DOT_AXPY(dot_f32, axpy)

static void add(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

static void rope(float *x, int64_t n_head, int64_t head_dim, int64_t n_rot, const float *cs,
                 int neox) {
    int64_t half = n_rot / 2;
    for (int64_t h = 0; h < n_head; h++) {
        float *v = x + h * head_dim;
        for (int64_t i = 0; i < half; i++) {
            int64_t a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
            float c = cs[2 * i], s = cs[2 * i + 1];
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

void ql_kernels_init_scalar(ql_kernel_table *t) {
    memset(t, 0, sizeof *t);
    t->isa = "scalar";
    t->matmul[QL_TYPE_F32] = matmul_f32;
    t->matmul[QL_TYPE_F16] = matmul_f16;
    t->matmul[QL_TYPE_BF16] = matmul_bf16;
    t->act_type[QL_TYPE_F32] = QL_TYPE_F32;
    t->act_type[QL_TYPE_F16] = QL_TYPE_F32;
    t->act_type[QL_TYPE_BF16] = QL_TYPE_F32;
    t->to_float[QL_TYPE_F32] = to_float_f32;
    t->to_float[QL_TYPE_F16] = to_float_f16;
    t->to_float[QL_TYPE_BF16] = to_float_bf16;
    t->rmsnorm = rmsnorm;
    t->softmax = softmax;
    t->swiglu = swiglu;
    t->dot = dot_f32;
    t->axpy = axpy;
    t->add = add;
    t->rope = rope;
    t->dot_rows = dot_rows;
    t->axpy_rows = axpy_rows;
    ql_kernels_init_scalar_quant(t);
}
