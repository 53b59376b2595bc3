/* src/core/session.c: creating a session: KV cache, RoPE state, scratch buffers. */
#include "session.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rope.h"
#include "runtime/error.h"
#include "simd/dispatch.h"

ql_session_params ql_session_params_default(void) {
    ql_session_params p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    return p;
}

static void *alloc_bytes(size_t n) { return n ? malloc(n) : NULL; }
static float *alloc_floats(size_t n) { return alloc_bytes(n * sizeof(float)); }

static int64_t max3(int64_t a, int64_t b, int64_t c) {
    int64_t m = a > b ? a : b;
    return m > c ? m : c;
}

static void rope_reset(ql_session *s) {
    const ql_hparams *hp = &s->model->hp;
    ql_rope_freqs(hp, hp->n_ctx_train, s->inv_freq, &s->rope_attn_factor);
    s->rope_cached_len = hp->n_ctx_train;
}

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
    size_t nb = (size_t)n_batch, d = (size_t)hp->n_embd;
    int64_t ff = max3(hp->n_ff, hp->n_ff_exp, hp->n_ff_shexp);
    /* 8-bit activation blocks take at most 2 bytes per element (Q8_K: 292 per 256) */
    int64_t max_k = max3((int64_t)d, ff, s->q_dim);
    bool fail = false;
#define ALLOC(field, n) fail |= !(s->field = alloc_floats(n))
    ALLOC(inv_freq, (size_t)hp->n_rot / 2);
    ALLOC(rope_cs, nb * (size_t)hp->n_rot);
    ALLOC(x, nb * d);
    ALLOC(xb, nb * d);
    ALLOC(q, nb * (size_t)s->q_dim);
    ALLOC(att, nb * (size_t)s->q_dim);
    ALLOC(hb, nb * (size_t)ff);
    ALLOC(hb2, nb * (size_t)ff);
    fail |= !(s->xq = alloc_bytes(nb * (size_t)max_k * 2));
    if (hp->n_expert > 0) {
        size_t k = (size_t)hp->n_expert_used;
        ALLOC(router, nb * (size_t)hp->n_expert);
        ALLOC(sel_w, nb * k);
        ALLOC(moe_in, nb * d);
        ALLOC(moe_tmp, nb * d);
        ALLOC(moe_out, nb * k * d);
        fail |= !(s->sel = alloc_bytes(nb * k * sizeof(int32_t)));
        fail |= !(s->rows = alloc_bytes(nb * sizeof(int32_t)));
        fail |= !(s->slots = alloc_bytes(nb * sizeof(int32_t)));
    }
#undef ALLOC
    if (fail) {
        ql_session_free(s);
        return ql_fail(err, QL_ERR_NOMEM, "session: out of memory for n_batch %d", n_batch);
    }
    /* the KV cache, laid out for the model's own loop settings (none for plain models) */
    const ql_loop_params *loop = m->loop.struct_size && m->loop.n_blocks > 0 ? &m->loop : NULL;
    if ((st = ql_loop_params_check(loop, hp->n_layer, err)) || (st = ql_loop_layout(s, loop, err))) {
        ql_session_free(s);
        return st;
    }
    *out = s;
    return ql_ok(err);
}

void ql_session_free(ql_session *s) {
    if (!s) return;
    ql_pool_free(s->pool);
    ql_loop_free(&s->loop);
    void *bufs[] = {s->k_cache, s->v_cache, s->inv_freq, s->rope_cs, s->x, s->xb, s->q,
                    s->att, s->hb, s->hb2, s->scores, s->xq, s->router, s->sel, s->sel_w,
                    s->rows, s->slots, s->moe_in, s->moe_tmp, s->moe_out, s->prof};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
    free(s);
}

int32_t ql_session_pos(const ql_session *s) { return s->pos; }
int32_t ql_session_n_ctx(const ql_session *s) { return s->n_ctx; }
const ql_model *ql_session_model(const ql_session *s) { return s->model; }
int32_t ql_session_n_threads(const ql_session *s) { return ql_pool_n_threads(s->pool); }

void ql_session_set_activation_observer(ql_session *s, ql_activation_fn fn, void *user) {
    s->observer = fn;
    s->observer_user = user;
}

ql_status ql_session_set_profiling(ql_session *s, bool on, ql_error *err) {
    if (on && !s->prof) {
        s->prof = calloc(QL_PROFILE_ENTRIES, sizeof *s->prof);
        if (!s->prof) return ql_fail(err, QL_ERR_NOMEM, "profile: out of memory");
    }
    s->profiling = on;
    return ql_ok(err);
}

void ql_session_profile_reset(ql_session *s) {
    if (s->prof) memset(s->prof, 0, QL_PROFILE_ENTRIES * sizeof *s->prof);
    s->n_prof = 0;
}

int ql_session_profile(const ql_session *s, ql_matmul_profile *out, int max) {
    for (int i = 0; i < s->n_prof && i < max; i++) out[i] = s->prof[i];
    return s->n_prof;
}

void ql_session_reset(ql_session *s) {
    s->pos = 0;
    rope_reset(s);
}
