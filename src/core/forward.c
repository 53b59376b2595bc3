/*
 * src/core/forward.c: the Llama forward pass over a batch of tokens.
 *
 * For each token t of the batch at position p = pos + t:
 *   x = embed(token)
 *   per layer:  xb = rmsnorm(x) * attn_norm
 *               q = wq xb (+ bq), k = wk xb (+ bk), v = wv xb (+ bv)
 *               q_h, k_h = rmsnorm per head (Qwen3 q_norm / k_norm, when present)
 *               rope(q, k, p); cache k, v at p
 *               att_h = softmax(q_h . K_{g(h)}[0..p] / sqrt(head_dim)) V_{g(h)}[0..p]
 *               x += wo att
 *               xb = rmsnorm(x) * ffn_norm
 *               x += w_down (silu(w_gate xb) * (w_up xb))        dense FFN, or
 *               x += sum_j w_j Expert_{e_j}(xb) (+ shared)        mixture of experts (moe.c)
 *   logits = output (rmsnorm(x) * output_norm)
 * where g(h) = h / (n_head / n_head_kv) is the KV head shared by query head h (GQA).
 * Every matmul covers all tokens of the batch (weights are streamed once per batch) and
 * is split over threads by output rows; attention is split over (token, head) pairs.
 * Each output element is computed by the same operations whatever the thread count or
 * batch split, so results are bit-identical across both.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "rope.h"
#include "runtime/error.h"
#include "simd/dispatch.h"

/* Below this many multiply-adds a matmul runs on the calling thread alone: waking the
 * workers costs more than it saves. */
enum { PARALLEL_MIN_MACS = 1 << 15 };

typedef struct matmul_job {
    const ql_kernel_table *kern;
    const ql_weight *w;
    const void *x;
    size_t x_row_bytes;
    int64_t n_tok;
    float *y;
    int64_t ldy;
} matmul_job;

static void matmul_task(void *ctx, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    j->kern->matmul[j->w->type](j->w->data, j->w->row_bytes, j->w->k, j->x, j->x_row_bytes,
                                j->n_tok, j->y, j->ldy, r0, r1);
}

typedef struct quantize_job {
    const ql_kernel_table *kern;
    uint32_t act_type;
    const float *x;
    int64_t k;
    void *xq;
    size_t xq_row_bytes;
} quantize_job;

static void quantize_task(void *ctx, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const quantize_job *j = ctx;
    for (int64_t t = t0; t < t1; t++)
        j->kern->from_float[j->act_type](j->x + t * j->k, (char *)j->xq + (size_t)t * j->xq_row_bytes, j->k);
}

/* y[t, 0..rows) = W x[t] for t < n_tok; y has row stride ldy. Activations are first
 * converted to the format the weight type's kernel reads (e.g. Q8_0 blocks). */
void ql_matmul(ql_session *s, const ql_weight *w, const float *x, int64_t n_tok, float *y,
                   int64_t ldy) {
    if (s->observer) s->observer(s->observer_user, w->name, w->expert, x, n_tok, w->k);
    uint32_t act = s->kern->act_type[w->type];
    matmul_job j = {s->kern, w, x, (size_t)w->k * sizeof(float), n_tok, y, ldy};
    if (act != QL_TYPE_F32) {
        uint64_t row = 0;
        ql_type_row_bytes(act, (uint64_t)w->k, &row); /* checked when the model was bound */
        quantize_job q = {s->kern, act, x, w->k, s->xq, (size_t)row};
        ql_pool_for(s->pool, n_tok, 1, 4, quantize_task, &q);
        j.x = s->xq;
        j.x_row_bytes = (size_t)row;
    }
    int64_t macs_per_row = w->k * n_tok;
    int64_t min_rows = PARALLEL_MIN_MACS / (macs_per_row > 0 ? macs_per_row : 1) + 1;
    ql_pool_for(s->pool, w->rows, 16, min_rows, matmul_task, &j);
}

typedef struct attn_job {
    ql_session *s;
    int layer;
    int64_t n_tok;
} attn_job;

/* Items are (token, head) pairs: item = t * n_head + h. */
static void attention_task(void *ctx, int64_t begin, int64_t end, int thread) {
    const attn_job *j = ctx;
    ql_session *s = j->s;
    const ql_hparams *hp = &s->model->hp;
    const ql_kernel_table *k = s->kern;
    int64_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv;
    float scale = 1.0f / sqrtf((float)hd);
    float *scores = s->scores + (size_t)thread * (size_t)s->n_ctx;
    const float *kc = s->k_cache + (size_t)j->layer * (size_t)s->n_ctx * (size_t)s->kv_dim;
    const float *vc = s->v_cache + (size_t)j->layer * (size_t)s->n_ctx * (size_t)s->kv_dim;
    for (int64_t item = begin; item < end; item++) {
        int64_t t = item / hp->n_head, h = item % hp->n_head, g = h / group;
        int64_t n_keys = s->pos + t + 1; /* causal: positions 0..pos+t */
        const float *q = s->q + t * s->q_dim + h * hd;
        for (int64_t p = 0; p < n_keys; p++)
            scores[p] = k->dot(q, kc + p * s->kv_dim + g * hd, hd) * scale;
        k->softmax(scores, n_keys);
        float *out = s->att + t * s->q_dim + h * hd;
        memset(out, 0, (size_t)hd * sizeof(float));
        for (int64_t p = 0; p < n_keys; p++) k->axpy(out, scores[p], vc + p * s->kv_dim + g * hd, hd);
    }
}

typedef struct rows_job {
    ql_session *s;
    const float *norm_w;
    float *dst;
    const float *src;
    int layer;
} rows_job;

static void rmsnorm_task(void *ctx, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const rows_job *j = ctx;
    int64_t d = j->s->model->hp.n_embd;
    for (int64_t t = t0; t < t1; t++)
        j->s->kern->rmsnorm(j->dst + t * d, j->src + t * d, j->norm_w, d, j->s->model->hp.rms_eps);
}

static void rmsnorm_rows(ql_session *s, float *dst, const float *src, const float *w,
                         int64_t n_tok) {
    rows_job j = {s, w, dst, src, 0};
    ql_pool_for(s->pool, n_tok, 1, 8, rmsnorm_task, &j);
}

/* Applies RoPE to the batch's queries and to its keys in the cache. */
static void rope_task(void *ctx, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const rows_job *j = ctx;
    ql_session *s = j->s;
    const ql_hparams *hp = &s->model->hp;
    int neox = hp->rope_layout == QL_ROPE_NEOX;
    float *kc = s->k_cache + (size_t)j->layer * (size_t)s->n_ctx * (size_t)s->kv_dim;
    for (int64_t t = t0; t < t1; t++) {
        int64_t p = s->pos + t;
        const float *cs = s->rope_cs + t * hp->n_rot;
        s->kern->rope(s->q + t * s->q_dim, hp->n_head, hp->head_dim, hp->n_rot, cs, neox);
        s->kern->rope(kc + p * s->kv_dim, hp->n_head_kv, hp->head_dim, hp->n_rot, cs, neox);
    }
}

static void swiglu_task(void *ctx, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const rows_job *j = ctx;
    int64_t f = j->layer; /* the FFN width */
    for (int64_t t = t0; t < t1; t++)
        j->s->kern->swiglu(j->s->hb + t * f, j->s->hb + t * f, j->s->hb2 + t * f, f);
}

/* out[t] = w_down (silu(w_gate x[t]) * (w_up x[t])) for t < n_tok; uses hb, hb2. */
void ql_swiglu_ffn(ql_session *s, const ql_weight *gate, const ql_weight *up,
                   const ql_weight *down, const float *x, int64_t n_tok, float *out) {
    int64_t f = gate->rows;
    ql_matmul(s, gate, x, n_tok, s->hb, f);
    ql_matmul(s, up, x, n_tok, s->hb2, f);
    rows_job rj = {s, NULL, NULL, NULL, (int)f};
    ql_pool_for(s->pool, n_tok, 1, 8, swiglu_task, &rj);
    ql_matmul(s, down, s->hb, n_tok, out, down->rows);
}

/* Adds a bias vector to n_tok rows of width n with row stride ld. */
static void add_bias(ql_session *s, float *y, int64_t ld, const float *b, int64_t n, int64_t n_tok) {
    for (int64_t t = 0; t < n_tok; t++) s->kern->add(y + t * ld, b, n);
}

/* Per-head RMSNorm over n_head heads of head_dim in each of n_tok rows (Qwen3). */
static void head_norm(ql_session *s, float *y, int64_t ld, const float *w, int64_t n_head,
                      int64_t n_tok) {
    int64_t hd = s->model->hp.head_dim;
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t h = 0; h < n_head; h++)
            s->kern->rmsnorm(y + t * ld + h * hd, y + t * ld + h * hd, w, hd, s->model->hp.rms_eps);
}

/* Dynamic NTK keeps state across forward calls, as transformers does (spec 2.3): the
 * frequencies are recomputed when the sequence grows past the length they were made for,
 * and restored when a shorter sequence than max_position_embeddings follows. */
static void update_rope(ql_session *s, int64_t n_tok) {
    const ql_hparams *hp = &s->model->hp;
    if (hp->rope.scaling == QL_ROPE_SCALING_DYNAMIC) {
        int32_t seq_len = s->pos + (int32_t)n_tok;
        if (seq_len > s->rope_cached_len) {
            ql_rope_freqs(hp, seq_len, s->inv_freq, &s->rope_attn_factor);
            s->rope_cached_len = seq_len;
        } else if (seq_len < hp->n_ctx_train && s->rope_cached_len > hp->n_ctx_train) {
            ql_rope_freqs(hp, hp->n_ctx_train, s->inv_freq, &s->rope_attn_factor);
            s->rope_cached_len = hp->n_ctx_train;
        }
    }
    ql_rope_table(s->inv_freq, s->rope_attn_factor, hp->n_rot, s->pos, (int32_t)n_tok, s->rope_cs);
}

static void embed(ql_session *s, const int32_t *ids, int64_t n_tok) {
    const ql_weight *e = &s->model->tok_embd;
    int64_t d = s->model->hp.n_embd;
    for (int64_t t = 0; t < n_tok; t++)
        s->kern->to_float[e->type]((const char *)e->data + (size_t)ids[t] * e->row_bytes,
                                   s->x + t * d, d);
}

/* One batch of n_tok <= n_batch tokens at positions pos..pos+n_tok-1. Writes logits of
 * all tokens (all_logits) or of the last one into `logits` when not NULL. */
static void forward_batch(ql_session *s, const int32_t *ids, int64_t n_tok, float *logits,
                          bool all_logits) {
    const ql_model *m = s->model;
    const ql_hparams *hp = &m->hp;
    const ql_kernel_table *k = s->kern;
    int64_t d = hp->n_embd;
    embed(s, ids, n_tok);
    update_rope(s, n_tok);
    for (int l = 0; l < hp->n_layer; l++) {
        const ql_layer *L = &m->layers[l];
        size_t cache_at = ((size_t)l * (size_t)s->n_ctx + (size_t)s->pos) * (size_t)s->kv_dim;
        float *kc = s->k_cache + cache_at, *vc = s->v_cache + cache_at;
        rmsnorm_rows(s, s->xb, s->x, L->attn_norm, n_tok);
        ql_matmul(s, &L->wq, s->xb, n_tok, s->q, s->q_dim);
        ql_matmul(s, &L->wk, s->xb, n_tok, kc, s->kv_dim);
        ql_matmul(s, &L->wv, s->xb, n_tok, vc, s->kv_dim);
        if (L->bq) add_bias(s, s->q, s->q_dim, L->bq, s->q_dim, n_tok);
        if (L->bk) add_bias(s, kc, s->kv_dim, L->bk, s->kv_dim, n_tok);
        if (L->bv) add_bias(s, vc, s->kv_dim, L->bv, s->kv_dim, n_tok);
        if (L->q_norm) {
            head_norm(s, s->q, s->q_dim, L->q_norm, hp->n_head, n_tok);
            head_norm(s, kc, s->kv_dim, L->k_norm, hp->n_head_kv, n_tok);
        }
        rows_job rj = {s, NULL, NULL, NULL, l};
        ql_pool_for(s->pool, n_tok, 1, 4, rope_task, &rj);
        attn_job aj = {s, l, n_tok};
        /* each (token, head) item costs about 4 * n_keys * head_dim flops */
        int64_t item_cost = 4 * (int64_t)(s->pos + n_tok) * hp->head_dim;
        ql_pool_for(s->pool, n_tok * hp->n_head, 1, PARALLEL_MIN_MACS / item_cost + 1,
                    attention_task, &aj);
        ql_matmul(s, &L->wo, s->att, n_tok, s->xb, d);
        for (int64_t t = 0; t < n_tok; t++) k->add(s->x + t * d, s->xb + t * d, d);

        rmsnorm_rows(s, s->xb, s->x, L->ffn_norm, n_tok);
        if (hp->n_expert > 0) {
            ql_moe_ffn(s, L, n_tok); /* adds into s->x */
        } else {
            ql_swiglu_ffn(s, &L->w_gate, &L->w_up, &L->w_down, s->xb, n_tok, s->xb);
            for (int64_t t = 0; t < n_tok; t++) k->add(s->x + t * d, s->xb + t * d, d);
        }
    }
    s->pos += (int32_t)n_tok;
    if (!logits) return;
    int64_t first = all_logits ? 0 : n_tok - 1, rows = n_tok - first;
    rmsnorm_rows(s, s->xb, s->x + first * d, m->output_norm, rows);
    ql_matmul(s, &m->output, s->xb, rows, logits, hp->n_vocab);
}

ql_status ql_session_eval(ql_session *s, const int32_t *ids, size_t n, float *logits,
                          bool all_logits, ql_error *err) {
    if (!s || (!ids && n)) return ql_fail(err, QL_ERR_ARG, "ql_session_eval: NULL argument");
    if (n == 0) return ql_ok(err);
    const ql_hparams *hp = &s->model->hp;
    if (n > (size_t)(s->n_ctx - s->pos))
        return ql_fail(err, QL_ERR_RANGE, "context full: %zu tokens at position %d exceed n_ctx %d",
                       n, s->pos, s->n_ctx);
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= hp->n_vocab)
            return ql_fail(err, QL_ERR_ARG, "token id %d at index %zu is outside the vocabulary (0..%d)",
                           ids[i], i, hp->n_vocab - 1);
    for (size_t done = 0; done < n;) {
        size_t chunk = n - done < (size_t)s->n_batch ? n - done : (size_t)s->n_batch;
        bool last = done + chunk == n;
        float *out = NULL;
        if (logits && all_logits) out = logits + done * (size_t)hp->n_vocab;
        else if (logits && last) out = logits;
        forward_batch(s, ids + done, (int64_t)chunk, out, all_logits);
        done += chunk;
    }
    return ql_ok(err);
}
