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
 * Layers run as a schedule of (physical layer, KV slot) steps: with loop layers a block
 * of layers runs several times, each iteration on the KV slots loop.h describes
 * (shared/spec/loop-layers.md); without them every layer is one step on its own slot.
 * Every matmul covers all tokens of the batch (weights are streamed once per batch) and
 * is split over threads by output rows; attention is split over (token, head) pairs.
 * Each output element is computed by the same operations whatever the thread count or
 * batch split, so results are bit-identical across both.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "rope.h"
#include "runtime/error.h"
#include "simd/dispatch.h"
#include "simd/g16.h"

/* Below this many multiply-adds a matmul runs on the calling thread alone: waking the
 * workers costs more than it saves. */
enum { PARALLEL_MIN_MACS = 1 << 15 };

/* Batches (n_tok > 1) split matmul rows and attention items into this many chunks per
 * thread (ql_pool_for_chunks). */
enum { PROMPT_CHUNKS = 4 };

/* Token-wise work of a batch (norms, activation quantization, RoPE, SwiGLU) in chunks
 * taken on demand, PROMPT_CHUNKS per thread and at least min_per_thread tokens. */
static void for_tokens(ql_session *s, int64_t n_tok, int64_t min_per_thread, ql_task_fn fn,
                       void *ctx) {
    int64_t nt = ql_pool_n_threads(s->pool), chunk = (n_tok + nt * PROMPT_CHUNKS - 1) / (nt * PROMPT_CHUNKS);
    ql_pool_for_chunks(s->pool, n_tok, chunk > min_per_thread ? chunk : min_per_thread, fn, ctx);
}

typedef struct matmul_job {
    const ql_kernel_table *kern;
    const ql_weight *w;
    const void *x;
    size_t x_row_bytes;
    int64_t n_tok;
    float *y;
    int64_t ldy;
} matmul_job;

/* The kernel for w: its type's, over the layout its data is in (plain or grouped). */
static ql_matmul_fn weight_kernel(const ql_kernel_table *k, const ql_weight *w) {
    return (w->g16_unit ? k->matmul_g16 : k->matmul)[w->type];
}

static void matmul_task(void *ctx, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const matmul_job *j = ctx;
    weight_kernel(j->kern, j->w)(j->w->data, j->w->row_bytes, j->w->k, j->x, j->x_row_bytes,
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

/* ql_session_set_profiling: adds one job that multiplied the n weights w by n_tok tokens in
 * `seconds` to the entry of their names without the block prefix, joined by '+'. */
static void profile_add(ql_session *s, const ql_weight *const *w, int n, int64_t n_tok,
                        double seconds) {
    char name[sizeof s->prof->name] = "";
    size_t len = 0;
    double bytes = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = w[i]->name;
        if (!strncmp(nm, "blk.", 4)) { /* "blk.<layer>." */
            const char *p = nm + 4;
            while (*p >= '0' && *p <= '9') p++;
            if (*p == '.' && p > nm + 4) nm = p + 1;
        }
        int k = snprintf(name + len, sizeof name - len, "%s%s", i ? "+" : "", nm);
        len = k < 0 ? len : len + (size_t)k < sizeof name ? len + (size_t)k : sizeof name - 1;
        bytes += (double)w[i]->rows * (double)w[i]->row_bytes;
    }
    int e = 0;
    while (e < s->n_prof && strcmp(s->prof[e].name, name) != 0) e++;
    if (e == s->n_prof) {
        if (s->n_prof == QL_PROFILE_ENTRIES) {
            e = QL_PROFILE_ENTRIES - 1;
            snprintf(s->prof[e].name, sizeof s->prof[e].name, "other");
        } else {
            snprintf(s->prof[e].name, sizeof s->prof[e].name, "%s", name);
            s->n_prof++;
        }
    }
    ql_matmul_profile *pe = &s->prof[e];
    pe->calls++;
    pe->tokens += (uint64_t)n_tok;
    pe->seconds += seconds;
    pe->weight_bytes += bytes;
}

static void matmul_run(ql_session *s, const ql_weight *w, const float *x, int64_t n_tok, float *y,
                       int64_t ldy);

/* y[t, 0..rows) = W x[t] for t < n_tok; y has row stride ldy. Activations are first
 * converted to the format the weight type's kernel reads (e.g. Q8_0 blocks). */
void ql_matmul(ql_session *s, const ql_weight *w, const float *x, int64_t n_tok, float *y,
               int64_t ldy) {
    if (!s->profiling) {
        matmul_run(s, w, x, n_tok, y, ldy);
        return;
    }
    double t0 = ql_time_seconds();
    matmul_run(s, w, x, n_tok, y, ldy);
    profile_add(s, &w, 1, n_tok, ql_time_seconds() - t0);
}

static void matmul_run(ql_session *s, const ql_weight *w, const float *x, int64_t n_tok, float *y,
                       int64_t ldy) {
    if (s->observer) s->observer(s->observer_user, w->name, w->expert, x, n_tok, w->k);
    uint32_t act = s->kern->act_type[w->type];
    matmul_job j = {s->kern, w, x, (size_t)w->k * sizeof(float), n_tok, y, ldy};
    if (act != QL_TYPE_F32) {
        uint64_t row = 0;
        ql_type_row_bytes(act, (uint64_t)w->k, &row); /* checked when the model was bound */
        quantize_job q = {s->kern, act, x, w->k, s->xq, (size_t)row};
        for_tokens(s, n_tok, 4, quantize_task, &q);
        j.x = s->xq;
        j.x_row_bytes = (size_t)row;
    }
    int64_t macs_per_row = w->k * n_tok;
    int64_t min_rows = PARALLEL_MIN_MACS / (macs_per_row > 0 ? macs_per_row : 1) + 1;
    /* Decode: one contiguous range per thread (each streams its rows with the kernel's
     * prefetch running ahead; chunks taken on demand restart that stream and measured
     * slower), sized by the pool from the threads' measured rates. */
    if (n_tok == 1) {
        ql_pool_for_balanced(s->pool, w->rows, 16, min_rows, matmul_task, &j);
        return;
    }
    /* Batches: PROMPT_CHUNKS chunks per thread of whole 16-row tiles, taken on demand, so
     * a thread whose core is busy with other work does not hold up the others (2 threads
     * on a shared 2-core machine ran slower than 1 with halves fixed in advance). Chunks
     * stay large: the prompt kernels reuse each activation segment over a chunk's rows. */
    int64_t n_threads = ql_pool_n_threads(s->pool);
    int64_t chunk = (w->rows + n_threads * PROMPT_CHUNKS - 1) / (n_threads * PROMPT_CHUNKS);
    if (chunk < min_rows) chunk = min_rows;
    chunk = (chunk + 15) / 16 * 16; /* whole tiles; grouped weights need whole groups */
    ql_pool_for_chunks(s->pool, w->rows, chunk, matmul_task, &j);
}

/* Decode (n_tok = 1): the matmuls y_i = W_i x (i < n <= 3) of one input run as one job
 * over their rows placed end to end, so that they cost one barrier instead of n (each
 * barrier costs about the spread between the threads' ends, ~5-10% of a decode matmul on
 * the machine measured in docs/PERFORMANCE.md). */
typedef struct group_job {
    const ql_kernel_table *kern;
    int n;
    const ql_weight *w[3];
    float *y[3];
    int64_t first[4]; /* W_i's rows are rows first[i] .. first[i+1] - 1 of the job */
    const void *x;
    size_t x_row_bytes;
} group_job;

static void group_task(void *ctx, int64_t r0, int64_t r1, int thread) {
    (void)thread;
    const group_job *j = ctx;
    for (int i = 0; i < j->n; i++) {
        int64_t a = r0 > j->first[i] ? r0 : j->first[i], b = r1 < j->first[i + 1] ? r1 : j->first[i + 1];
        const ql_weight *w = j->w[i];
        if (a < b)
            weight_kernel(j->kern, w)(w->data, w->row_bytes, w->k, j->x, j->x_row_bytes, 1, j->y[i],
                                      w->rows, a - j->first[i], b - j->first[i]);
    }
}

/* y_i[t, 0..rows_i) = W_i x[t] for i < n (n <= 3), t < n_tok; y_i has row stride rows_i.
 * Batches, and weights whose kernels read different activation formats, run one
 * ql_matmul each. */
static void matmul_group(ql_session *s, int n, const ql_weight *const *w, const float *x,
                         int64_t n_tok, float *const *y) {
    uint32_t act = s->kern->act_type[w[0]->type];
    bool same = n_tok == 1;
    for (int i = 1; i < n; i++) same = same && s->kern->act_type[w[i]->type] == act && w[i]->k == w[0]->k;
    if (!same) {
        for (int i = 0; i < n; i++) ql_matmul(s, w[i], x, n_tok, y[i], w[i]->rows);
        return;
    }
    group_job j = {s->kern, n, {NULL}, {NULL}, {0}, x, (size_t)w[0]->k * sizeof(float)};
    for (int i = 0; i < n; i++) {
        if (s->observer) s->observer(s->observer_user, w[i]->name, w[i]->expert, x, 1, w[i]->k);
        j.w[i] = w[i];
        j.y[i] = y[i];
        j.first[i + 1] = j.first[i] + w[i]->rows;
    }
    double t0 = s->profiling ? ql_time_seconds() : 0.0;
    if (act != QL_TYPE_F32) {
        uint64_t row = 0;
        ql_type_row_bytes(act, (uint64_t)w[0]->k, &row); /* checked when the model was bound */
        s->kern->from_float[act](x, s->xq, w[0]->k);
        j.x = s->xq;
        j.x_row_bytes = (size_t)row;
    }
    int64_t min_rows = PARALLEL_MIN_MACS / (w[0]->k > 0 ? w[0]->k : 1) + 1;
    ql_pool_for_balanced(s->pool, j.first[n], 16, min_rows, group_task, &j);
    if (s->profiling) profile_add(s, w, n, 1, ql_time_seconds() - t0);
}

typedef struct attn_job {
    ql_session *s;
    const ql_kv_step *kv;
    int64_t n_tok;
} attn_job;

static size_t slot_plane(const ql_session *s, int32_t slot) {
    return (size_t)slot * (size_t)s->n_ctx * (size_t)s->kv_dim;
}

/* Items are (token, heads) pairs: item = u * (n_head / hq) + c covers query heads c * hq ..
 * c * hq + hq - 1 (one KV group's, hq = attn_heads()) of token attn_token(u), with tokens
 * in the order 0, n-1, 1, n-2, ..: a causal query's cost grows with its token, and this
 * order gives each thread's contiguous range of items about the same number of keys (in
 * token order the last of two threads had 3/4 of the work at pp512). */
static int64_t attn_token(int64_t u, int64_t n_tok) { return u % 2 ? n_tok - 1 - u / 2 : u / 2; }

static int64_t attn_heads(const ql_hparams *hp) {
    int64_t group = hp->n_head / hp->n_head_kv, hq = QL_ATTN_HEADS;
    while (group % hq) hq--;
    return hq;
}

static void attention_task(void *ctx, int64_t begin, int64_t end, int thread) {
    const attn_job *j = ctx;
    ql_session *s = j->s;
    const ql_hparams *hp = &s->model->hp;
    const ql_kernel_table *k = s->kern;
    int64_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv, hq = attn_heads(hp);
    int64_t ns = (int64_t)s->n_ctx * s->loop.max_read; /* scores row of one head */
    float scale = 1.0f / sqrtf((float)hd);
    float *scores = s->scores + (size_t)thread * QL_ATTN_HEADS * (size_t)ns;
    const float *kc = s->k_cache + slot_plane(s, j->kv->slot);
    const float *vc = s->v_cache + slot_plane(s, j->kv->slot);
    for (int64_t item = begin; item < end; item++) {
        int64_t t = attn_token(item / (hp->n_head / hq), j->n_tok), h = item % (hp->n_head / hq) * hq;
        int64_t g = h / group, n_keys = s->pos + t + 1; /* causal: positions 0..pos+t */
        k->dot_rows(scores, ns, s->q + t * s->q_dim + h * hd, hd, hq, kc + g * hd, s->kv_dim, n_keys, hd, scale);
        for (int64_t i = 0; i < hq; i++) k->softmax(scores + i * ns, n_keys);
        float *out = s->att + t * s->q_dim + h * hd;
        memset(out, 0, (size_t)(hq * hd) * sizeof(float));
        k->axpy_rows(out, hd, scores, ns, hq, vc + g * hd, s->kv_dim, n_keys, hd);
    }
}

/* Loop layers, parallel mode (spec 4a): the query at position p reads the V slots of the
 * layer in slot order as one key sequence; slot j holds keys at positions < pos (past
 * tokens, all slots filled) and, once this chunk's iteration j has been written (j <= iter,
 * or always past V iterations), the chunk's keys up to p. Items as attention_task's. */
static void attention_parallel_task(void *ctx, int64_t begin, int64_t end, int thread) {
    const attn_job *j = ctx;
    ql_session *s = j->s;
    const ql_kv_step *kv = j->kv;
    const ql_hparams *hp = &s->model->hp;
    const ql_kernel_table *k = s->kern;
    int64_t hd = hp->head_dim, group = hp->n_head / hp->n_head_kv, hq = attn_heads(hp);
    int64_t ns = (int64_t)s->n_ctx * s->loop.max_read;
    float scale = 1.0f / sqrtf((float)hd);
    float *scores = s->scores + (size_t)thread * QL_ATTN_HEADS * (size_t)ns;
    for (int64_t item = begin; item < end; item++) {
        int64_t t = attn_token(item / (hp->n_head / hq), j->n_tok), h = item % (hp->n_head / hq) * hq;
        int64_t g = h / group;
        const float *q = s->q + t * s->q_dim + h * hd;
        int64_t n = 0;
        for (int32_t sl = 0; sl < kv->n_read; sl++) {
            const float *kc = s->k_cache + slot_plane(s, kv->first + sl);
            int64_t lim = sl <= kv->iter ? s->pos + t + 1 : s->pos;
            k->dot_rows(scores + n, ns, q, hd, hq, kc + g * hd, s->kv_dim, lim, hd, scale);
            n += lim;
        }
        for (int64_t i = 0; i < hq; i++) k->softmax(scores + i * ns, n);
        float *out = s->att + t * s->q_dim + h * hd;
        memset(out, 0, (size_t)(hq * hd) * sizeof(float));
        n = 0;
        for (int32_t sl = 0; sl < kv->n_read; sl++) {
            const float *vc = s->v_cache + slot_plane(s, kv->first + sl);
            int64_t lim = sl <= kv->iter ? s->pos + t + 1 : s->pos;
            k->axpy_rows(out, hd, scores + n, ns, hq, vc + g * hd, s->kv_dim, lim, hd);
            n += lim;
        }
    }
}

typedef struct rows_job {
    ql_session *s;
    const float *norm_w;
    float *dst;
    const float *src;
    int layer; /* swiglu: the FFN width */
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
    for_tokens(s, n_tok, 8, rmsnorm_task, &j);
}

/* Applies RoPE to the batch's queries and to its keys in the cache (dst: the batch's first
 * key row). */
static void rope_task(void *ctx, int64_t t0, int64_t t1, int thread) {
    (void)thread;
    const rows_job *j = ctx;
    ql_session *s = j->s;
    const ql_hparams *hp = &s->model->hp;
    int neox = hp->rope_layout == QL_ROPE_NEOX;
    for (int64_t t = t0; t < t1; t++) {
        const float *cs = s->rope_cs + t * hp->n_rot;
        s->kern->rope(s->q + t * s->q_dim, hp->n_head, hp->head_dim, hp->n_rot, cs, neox);
        s->kern->rope(j->dst + t * s->kv_dim, hp->n_head_kv, hp->head_dim, hp->n_rot, cs, neox);
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
    const ql_weight *gu[2] = {gate, up};
    float *out_gu[2] = {s->hb, s->hb2};
    matmul_group(s, 2, gu, x, n_tok, out_gu);
    rows_job rj = {s, NULL, NULL, NULL, (int)f};
    for_tokens(s, n_tok, 8, swiglu_task, &rj);
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
    for (int64_t t = 0; t < n_tok; t++) {
        const void *row = (const char *)e->data + (size_t)ids[t] * e->row_bytes;
        if (e->g16_unit) { /* gathered into xq, free until the first matmul */
            ql_g16_row(e->g16_unit, e->data, e->row_bytes, ids[t], s->xq);
            row = s->xq;
        }
        s->kern->to_float[e->type](row, s->x + t * d, d);
    }
}

/* One step of the layer schedule: physical layer l over the batch, its K/V written to
 * and read from the cache slots `kv` names. */
static void layer_step(ql_session *s, int l, const ql_kv_step *kv, int64_t n_tok) {
    const ql_model *m = s->model;
    const ql_hparams *hp = &m->hp;
    const ql_kernel_table *k = s->kern;
    const ql_layer *L = &m->layers[l];
    int64_t d = hp->n_embd;
    size_t cache_at = slot_plane(s, kv->slot) + (size_t)s->pos * (size_t)s->kv_dim;
    float *kc = s->k_cache + cache_at, *vc = s->v_cache + cache_at;
    rmsnorm_rows(s, s->xb, s->x, L->attn_norm, n_tok);
    const ql_weight *qkv[3] = {&L->wq, &L->wk, &L->wv};
    float *out_qkv[3] = {s->q, kc, vc};
    matmul_group(s, 3, qkv, s->xb, n_tok, out_qkv);
    if (L->bq) add_bias(s, s->q, s->q_dim, L->bq, s->q_dim, n_tok);
    if (L->bk) add_bias(s, kc, s->kv_dim, L->bk, s->kv_dim, n_tok);
    if (L->bv) add_bias(s, vc, s->kv_dim, L->bv, s->kv_dim, n_tok);
    if (L->q_norm) {
        head_norm(s, s->q, s->q_dim, L->q_norm, hp->n_head, n_tok);
        head_norm(s, kc, s->kv_dim, L->k_norm, hp->n_head_kv, n_tok);
    }
    rows_job rj = {s, NULL, kc, NULL, l};
    for_tokens(s, n_tok, 4, rope_task, &rj);
    attn_job aj = {s, kv, n_tok};
    /* each (token, heads) item costs about 4 * hq * n_keys * head_dim flops */
    int64_t n_read = kv->n_read > 0 ? kv->n_read : 1, hq = attn_heads(hp);
    int64_t item_cost = 4 * hq * (int64_t)(s->pos + n_tok) * n_read * hp->head_dim;
    int64_t n_items = n_tok * (hp->n_head / hq), min_items = PARALLEL_MIN_MACS / item_cost + 1;
    int64_t chunk = (n_items + ql_pool_n_threads(s->pool) * PROMPT_CHUNKS - 1) / (ql_pool_n_threads(s->pool) * PROMPT_CHUNKS);
    ql_pool_for_chunks(s->pool, n_items, chunk > min_items ? chunk : min_items,
                       kv->n_read > 0 ? attention_parallel_task : attention_task, &aj);
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

/* Loop block b (spec 3): its layers run as a unit, each iteration feeding the residual
 * stream back unchanged, until the stop rule says so. One decision covers the batch. */
static void run_block(ql_session *s, int b, int64_t n_tok) {
    const ql_loop_params *lp = &s->loop.p;
    const ql_loop_block *blk = &lp->blocks[b];
    int64_t d = s->model->hp.n_embd;
    bool merge = lp->kv_mode == QL_LOOP_KV_MERGE, dynamic = lp->strategy == QL_LOOP_DYNAMIC;
    int32_t cap = ql_loop_cap(lp, b), done = 0;
    while (done < cap) {
        if (dynamic) memcpy(s->loop.x_prev, s->x, (size_t)(n_tok * d) * sizeof(float));
        for (int l = blk->start; l <= blk->end; l++) {
            ql_kv_step kv = ql_loop_kv_step(s, l, done, n_tok);
            layer_step(s, l, &kv, n_tok);
            if (merge) ql_loop_merge_accumulate(s, l, done, n_tok);
        }
        done++;
        if (ql_loop_stop(lp, b, done, s->x, s->loop.x_prev, n_tok, d)) break;
    }
    if (merge && done > 0)
        for (int l = blk->start; l <= blk->end; l++) ql_loop_merge_commit(s, l, done, n_tok);
    ql_loop_record(s, b, done, n_tok);
}

/* One batch of n_tok <= n_batch tokens at positions pos..pos+n_tok-1. Writes logits of
 * all tokens (all_logits) or of the last one into `logits` when not NULL. */
static void forward_batch(ql_session *s, const int32_t *ids, int64_t n_tok, float *logits,
                          bool all_logits) {
    const ql_model *m = s->model;
    const ql_hparams *hp = &m->hp;
    const ql_loop_state *ls = &s->loop;
    int64_t d = hp->n_embd;
    embed(s, ids, n_tok);
    update_rope(s, n_tok);
    for (int l = 0; l < hp->n_layer;) {
        int b = ls->block_of[l];
        if (b >= 0) {
            run_block(s, b, n_tok);
            l = ls->p.blocks[b].end + 1;
        } else {
            ql_kv_step kv = {ls->slot0[l], 0, 0, 0};
            layer_step(s, l, &kv, n_tok);
            l++;
        }
    }
    if (ls->p.n_blocks > 0) {
        s->loop.stats.forwards++;
        s->loop.stats.tokens += (uint64_t)n_tok;
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
