/* src/core/session.c: creating a session: KV cache, RoPE table, scratch buffers. */
#include "session.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "simd/dispatch.h"

ql_session_params ql_session_params_default(void) {
    ql_session_params p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    return p;
}

/* cos/sin of p * base^(-2i / n_rot), computed in double and rounded once. */
static void fill_rope_table(float *cs, int32_t n_ctx, const ql_hparams *hp) {
    int32_t half = hp->n_rot / 2;
    for (int32_t p = 0; p < n_ctx; p++) {
        for (int32_t i = 0; i < half; i++) {
            double inv_freq = pow((double)hp->rope_base, -2.0 * i / (double)hp->n_rot);
            double angle = (double)p * inv_freq;
            cs[((size_t)p * half + i) * 2] = (float)cos(angle);
            cs[((size_t)p * half + i) * 2 + 1] = (float)sin(angle);
        }
    }
}

static float *alloc_floats(size_t n) { return n ? malloc(n * sizeof(float)) : NULL; }

ql_status ql_session_new(const ql_model *m, const ql_session_params *params, ql_session **out,
                         ql_error *err) {
    if (!out) return ql_fail(err, QL_ERR_ARG, "ql_session_new: out is NULL");
    *out = NULL;
    if (!m) return ql_fail(err, QL_ERR_ARG, "ql_session_new: model is NULL");
    if (m->vocab_only)
        return ql_fail(err, QL_ERR_ARG, "%s: loaded vocab-only; it cannot be evaluated", m->path);
    ql_session_params p = ql_session_params_default();
    if (params) p = *params;
    const ql_hparams *hp = &m->hp;
    if (p.n_ctx < 0 || p.n_threads < 0 || p.n_batch < 0)
        return ql_fail(err, QL_ERR_ARG, "session params: n_ctx %d, n_threads %d, n_batch %d must be >= 0",
                       p.n_ctx, p.n_threads, p.n_batch);
    int32_t n_ctx = p.n_ctx ? p.n_ctx : hp->n_ctx_train;
    int32_t n_threads = p.n_threads ? p.n_threads : ql_physical_cores();
    int32_t n_batch = p.n_batch ? p.n_batch : 512;
    if (n_batch > n_ctx) n_batch = n_ctx;
    ql_status st = ql_kernels_check(err);
    if (st) return st;

    ql_session *s = calloc(1, sizeof *s);
    if (!s) return ql_fail(err, QL_ERR_NOMEM, "session: out of memory");
    s->model = m;
    s->kern = ql_kernels();
    s->n_ctx = n_ctx;
    s->n_batch = n_batch;
    s->q_dim = (int64_t)hp->n_head * hp->head_dim;
    s->kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    if ((st = ql_pool_new(n_threads, &s->pool, err))) {
        free(s);
        return st;
    }
    size_t cache = (size_t)hp->n_layer * (size_t)n_ctx * (size_t)s->kv_dim;
    size_t nb = (size_t)n_batch;
    s->k_cache = alloc_floats(cache);
    s->v_cache = alloc_floats(cache);
    s->rope_cs = alloc_floats((size_t)n_ctx * (size_t)hp->n_rot);
    s->x = alloc_floats(nb * (size_t)hp->n_embd);
    s->xb = alloc_floats(nb * (size_t)hp->n_embd);
    s->q = alloc_floats(nb * (size_t)s->q_dim);
    s->att = alloc_floats(nb * (size_t)s->q_dim);
    s->hb = alloc_floats(nb * (size_t)hp->n_ff);
    s->hb2 = alloc_floats(nb * (size_t)hp->n_ff);
    s->scores = alloc_floats((size_t)n_threads * (size_t)n_ctx);
    /* 8-bit activation blocks take at most 2 bytes per element (Q8_K: 292 per 256) */
    int64_t max_k = hp->n_embd > hp->n_ff ? hp->n_embd : hp->n_ff;
    if (s->q_dim > max_k) max_k = s->q_dim;
    s->xq = malloc(nb * (size_t)max_k * 2);
    if (!s->k_cache || !s->v_cache || !s->rope_cs || !s->x || !s->xb || !s->q || !s->att ||
        !s->hb || !s->hb2 || !s->scores || !s->xq) {
        ql_session_free(s);
        return ql_fail(err, QL_ERR_NOMEM, "session: out of memory for n_ctx %d (KV cache %zu MiB)",
                       n_ctx, 2 * cache * sizeof(float) >> 20);
    }
    fill_rope_table(s->rope_cs, n_ctx, hp);
    *out = s;
    return ql_ok(err);
}

void ql_session_free(ql_session *s) {
    if (!s) return;
    ql_pool_free(s->pool);
    free(s->k_cache);
    free(s->v_cache);
    free(s->rope_cs);
    free(s->x);
    free(s->xb);
    free(s->q);
    free(s->att);
    free(s->hb);
    free(s->hb2);
    free(s->scores);
    free(s->xq);
    free(s);
}

int32_t ql_session_pos(const ql_session *s) { return s->pos; }
int32_t ql_session_n_ctx(const ql_session *s) { return s->n_ctx; }
int32_t ql_session_n_threads(const ql_session *s) { return ql_pool_n_threads(s->pool); }
void ql_session_reset(ql_session *s) { s->pos = 0; }
