/*
 * src/core/loop.c: loop-layer settings of a session, its KV layout, the KV slot of each
 * schedule step, merging, the stop rule and the statistics (see loop.h and
 * shared/spec/loop-layers.md).
 */
#include "loop.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/loop_config.h"
#include "runtime/error.h"
#include "session.h"

void ql_loop_free(ql_loop_state *ls) {
    free(ls->block_of);
    free(ls->slot0);
    free(ls->n_slot);
    free(ls->acc_index);
    free(ls->acc_k);
    free(ls->acc_v);
    free(ls->x_prev);
    memset(ls, 0, sizeof *ls);
}

static float *alloc_floats(size_t n, bool *fail) {
    if (n == 0) return NULL;
    float *p = n <= SIZE_MAX / sizeof(float) ? malloc(n * sizeof(float)) : NULL;
    *fail |= !p;
    return p;
}

static int32_t *alloc_ints(size_t n, bool *fail) {
    int32_t *p = malloc((n ? n : 1) * sizeof(int32_t));
    *fail |= !p;
    return p;
}

/* a * b * c, or SIZE_MAX on overflow. */
static size_t mul3(size_t a, size_t b, size_t c) {
    if (a && b > SIZE_MAX / a) return SIZE_MAX;
    size_t ab = a * b;
    if (ab && c > SIZE_MAX / ab) return SIZE_MAX;
    return ab * c;
}

/* Slots per layer, accumulator rows and the cache size for settings ls->p. */
static size_t plan_layout(ql_loop_state *ls, int32_t n_layer, int32_t *n_looped) {
    const ql_loop_params *p = &ls->p;
    bool virt = p->kv_mode == QL_LOOP_KV_VIRTUAL;
    for (int l = 0; l < n_layer; l++) ls->block_of[l] = -1;
    for (int b = 0; b < p->n_blocks; b++)
        for (int l = p->blocks[b].start; l <= p->blocks[b].end; l++) ls->block_of[l] = b;
    ls->n_slots = 0;
    ls->max_read = 1;
    *n_looped = 0;
    for (int l = 0; l < n_layer; l++) {
        int b = ls->block_of[l];
        int32_t n = b >= 0 && virt ? p->blocks[b].virtual_layer_count : 1;
        ls->slot0[l] = ls->n_slots;
        ls->n_slot[l] = n;
        ls->n_slots += n;
        ls->acc_index[l] = b >= 0 && !virt ? (*n_looped)++ : -1;
        if (b >= 0 && virt && p->attn == QL_LOOP_ATTN_PARALLEL && n > ls->max_read) ls->max_read = n;
    }
    return (size_t)ls->n_slots;
}

ql_status ql_loop_layout(ql_session *s, const ql_loop_params *p, ql_error *err) {
    const ql_hparams *hp = &s->model->hp;
    int32_t n_layer = hp->n_layer;
    ql_loop_state ns;
    memset(&ns, 0, sizeof ns);
    ns.p = ql_loop_params_default();
    if (p && p->n_blocks > 0) ns.p = *p;
    ns.p.struct_size = sizeof ns.p;
    bool fail = false;
    ns.block_of = alloc_ints((size_t)n_layer, &fail);
    ns.slot0 = alloc_ints((size_t)n_layer, &fail);
    ns.n_slot = alloc_ints((size_t)n_layer, &fail);
    ns.acc_index = alloc_ints((size_t)n_layer, &fail);
    if (fail) {
        ql_loop_free(&ns);
        return ql_fail(err, QL_ERR_NOMEM, "session: out of memory for the loop settings");
    }
    int32_t n_looped = 0;
    size_t slots = plan_layout(&ns, n_layer, &n_looped);
    size_t cache = mul3(slots, (size_t)s->n_ctx, (size_t)s->kv_dim);
    size_t nb = (size_t)s->n_batch;
    size_t n_threads = (size_t)ql_pool_n_threads(s->pool);
    float *k_cache = alloc_floats(cache, &fail), *v_cache = alloc_floats(cache, &fail);
    float *scores = alloc_floats(mul3(n_threads * QL_ATTN_HEADS, (size_t)s->n_ctx, (size_t)ns.max_read), &fail);
    ns.acc_k = alloc_floats(mul3((size_t)n_looped, nb, (size_t)s->kv_dim), &fail);
    ns.acc_v = alloc_floats(mul3((size_t)n_looped, nb, (size_t)s->kv_dim), &fail);
    if (ns.p.n_blocks > 0 && ns.p.strategy == QL_LOOP_DYNAMIC)
        ns.x_prev = alloc_floats(nb * (size_t)hp->n_embd, &fail);
    if (fail) {
        free(k_cache);
        free(v_cache);
        free(scores);
        ql_loop_free(&ns);
        return ql_fail(err, QL_ERR_NOMEM,
                       "session: out of memory for n_ctx %d (KV cache of %zu layer slots, %zu MiB)",
                       s->n_ctx, slots,
                       cache == SIZE_MAX ? SIZE_MAX >> 20 : 2 * cache * sizeof(float) >> 20);
    }
    free(s->k_cache);
    free(s->v_cache);
    free(s->scores);
    ql_loop_free(&s->loop);
    s->k_cache = k_cache;
    s->v_cache = v_cache;
    s->scores = scores;
    s->loop = ns;
    ql_session_loop_stats_reset(s);
    ql_session_reset(s);
    return ql_ok(err);
}

ql_status ql_session_set_loop(ql_session *s, const ql_loop_params *p, ql_error *err) {
    if (!s) return ql_fail(err, QL_ERR_ARG, "ql_session_set_loop: session is NULL");
    ql_status st = ql_loop_params_check(p, s->model->hp.n_layer, err);
    if (st) return st;
    return ql_loop_layout(s, p, err);
}

void ql_session_get_loop(const ql_session *s, ql_loop_params *out) { *out = s->loop.p; }

void ql_model_get_loop(const ql_model *m, ql_loop_params *out) {
    *out = m->loop.struct_size ? m->loop : ql_loop_params_default();
    if (!m->loop.struct_size) out->n_blocks = 0;
}

/* ---- statistics --------------------------------------------------------------------- */

void ql_session_loop_stats(const ql_session *s, ql_loop_stats *out) {
    *out = s->loop.stats;
    for (int b = 0; b < out->n_blocks; b++) {
        ql_loop_block_stats *bs = &out->blocks[b];
        bs->mean_iterations = bs->tokens ? (double)bs->token_iterations / (double)bs->tokens : 0.0;
    }
}

void ql_session_loop_stats_reset(ql_session *s) {
    ql_loop_state *ls = &s->loop;
    memset(&ls->stats, 0, sizeof ls->stats);
    ls->stats.n_blocks = ls->p.n_blocks;
    size_t layer_bytes = 2 * (size_t)s->n_ctx * (size_t)s->kv_dim * sizeof(float);
    ls->stats.kv_bytes = (size_t)ls->n_slots * layer_bytes;
    for (int b = 0; b < ls->p.n_blocks; b++) {
        int32_t n = ls->n_slot[ls->p.blocks[b].start];
        ls->stats.blocks[b].kv_bytes_per_layer = (uint64_t)n * layer_bytes;
    }
}

void ql_loop_record(ql_session *s, int b, int32_t n_iter, int64_t n_tok) {
    ql_loop_block_stats *bs = &s->loop.stats.blocks[b];
    const ql_loop_block *blk = &s->loop.p.blocks[b];
    bs->last_iterations = n_iter;
    bs->forwards++;
    bs->iterations += (uint64_t)n_iter;
    bs->tokens += (uint64_t)n_tok;
    bs->token_iterations += (uint64_t)n_iter * (uint64_t)n_tok;
    bs->hist[n_iter < QL_LOOP_HIST ? n_iter : QL_LOOP_HIST - 1] += (uint64_t)n_tok;
    bs->slots_written += (uint64_t)n_iter * (uint64_t)n_tok * (uint64_t)(blk->end - blk->start + 1);
}

/* ---- stop rule (spec 3) --------------------------------------------------------------- */

int32_t ql_loop_cap(const ql_loop_params *p, int b) {
    const ql_loop_block *blk = &p->blocks[b];
    int32_t cap = blk->max_loop_count;
    if (p->strategy == QL_LOOP_FIXED && blk->loop_count < cap) cap = blk->loop_count;
    return cap > 0 ? cap : 0;
}

double ql_loop_mean_cosine(const float *a, const float *b, int64_t n_rows, int64_t n) {
    if (n_rows <= 0) return 1.0;
    double sum = 0.0;
    for (int64_t r = 0; r < n_rows; r++) {
        const float *x = a + r * n, *y = b + r * n;
        double xy = 0.0, xx = 0.0, yy = 0.0;
        for (int64_t i = 0; i < n; i++) {
            xy += (double)x[i] * (double)y[i];
            xx += (double)x[i] * (double)x[i];
            yy += (double)y[i] * (double)y[i];
        }
        double nx = sqrt(xx), ny = sqrt(yy);
        sum += xy / ((nx > 1e-8 ? nx : 1e-8) * (ny > 1e-8 ? ny : 1e-8));
    }
    return sum / (double)n_rows;
}

bool ql_loop_stop(const ql_loop_params *p, int b, int32_t done, const float *x,
                  const float *x_prev, int64_t n_tok, int64_t n_embd) {
    if (done >= ql_loop_cap(p, b)) return true;
    if (p->strategy == QL_LOOP_FIXED) return false;
    if (p->kv_mode == QL_LOOP_KV_VIRTUAL && done < p->blocks[b].min_loop_count) return false;
    if (done < 2) return false;
    return ql_loop_mean_cosine(x, x_prev, n_tok, n_embd) >= (double)p->cosine_threshold;
}

/* ---- KV slots of a step (spec 4a) ----------------------------------------------------- */

ql_kv_step ql_loop_kv_step(ql_session *s, int l, int32_t iter, int64_t n_tok) {
    const ql_loop_state *ls = &s->loop;
    ql_kv_step st = {ls->slot0[l], 0, 0, 0};
    if (ls->p.kv_mode != QL_LOOP_KV_VIRTUAL) return st;
    int32_t v = ls->n_slot[l];
    if (ls->p.attn == QL_LOOP_ATTN_SERIAL) {
        st.slot += iter % v;
        return st;
    }
    st.first = ls->slot0[l];
    st.n_read = v;
    st.iter = iter;
    if (iter < v) {
        st.slot += iter;
        return st;
    }
    /* ring: the chunk's rows of slots 1..V-1 move down one; past tokens stay put */
    size_t plane = (size_t)s->n_ctx * (size_t)s->kv_dim;
    size_t at = (size_t)s->pos * (size_t)s->kv_dim, bytes = (size_t)n_tok * (size_t)s->kv_dim * sizeof(float);
    for (int32_t j = 0; j + 1 < v; j++) {
        size_t dst = (size_t)(st.first + j) * plane + at, src = dst + plane;
        memcpy(s->k_cache + dst, s->k_cache + src, bytes);
        memcpy(s->v_cache + dst, s->v_cache + src, bytes);
    }
    st.slot += v - 1;
    return st;
}

/* ---- merging (spec 4b) ---------------------------------------------------------------- */

void ql_loop_merge_fold(ql_loop_merge rule, float alpha, float *acc, const float *k,
                        int32_t iter, int64_t n) {
    if (iter == 0 || rule == QL_LOOP_MERGE_LAST) {
        memcpy(acc, k, (size_t)n * sizeof(float));
    } else if (rule == QL_LOOP_MERGE_AVERAGE) {
        for (int64_t i = 0; i < n; i++) acc[i] += k[i];
    } else {
        float beta = 1.0f - alpha;
        for (int64_t i = 0; i < n; i++) acc[i] = alpha * acc[i] + beta * k[i];
    }
}

void ql_loop_merge_finish(ql_loop_merge rule, float *acc, int32_t n_iter, int64_t n) {
    if (rule != QL_LOOP_MERGE_AVERAGE || n_iter <= 1) return;
    float d = (float)n_iter;
    for (int64_t i = 0; i < n; i++) acc[i] /= d;
}

void ql_loop_merge_accumulate(ql_session *s, int l, int32_t iter, int64_t n_tok) {
    const ql_loop_state *ls = &s->loop;
    size_t n = (size_t)n_tok * (size_t)s->kv_dim;
    size_t at = ((size_t)ls->slot0[l] * (size_t)s->n_ctx + (size_t)s->pos) * (size_t)s->kv_dim;
    size_t acc = (size_t)ls->acc_index[l] * (size_t)s->n_batch * (size_t)s->kv_dim;
    ql_loop_merge_fold(ls->p.merge, ls->p.ema_alpha, ls->acc_k + acc, s->k_cache + at, iter, (int64_t)n);
    ql_loop_merge_fold(ls->p.merge, ls->p.ema_alpha, ls->acc_v + acc, s->v_cache + at, iter, (int64_t)n);
}

void ql_loop_merge_commit(ql_session *s, int l, int32_t n_iter, int64_t n_tok) {
    const ql_loop_state *ls = &s->loop;
    size_t n = (size_t)n_tok * (size_t)s->kv_dim;
    size_t at = ((size_t)ls->slot0[l] * (size_t)s->n_ctx + (size_t)s->pos) * (size_t)s->kv_dim;
    size_t acc = (size_t)ls->acc_index[l] * (size_t)s->n_batch * (size_t)s->kv_dim;
    ql_loop_merge_finish(ls->p.merge, ls->acc_k + acc, n_iter, (int64_t)n);
    ql_loop_merge_finish(ls->p.merge, ls->acc_v + acc, n_iter, (int64_t)n);
    memcpy(s->k_cache + at, ls->acc_k + acc, n * sizeof(float));
    memcpy(s->v_cache + at, ls->acc_v + acc, n * sizeof(float));
}
