/*
 * src/core/moe.c: the mixture-of-experts FFN (shared/spec/moe.md).
 *
 * Per token h (the normalised hidden state):
 *   p = softmax(W_router h)                        over the n_expert experts, in float32
 *   e_1..e_k = the k largest p, ties to the lower expert id
 *   w_j = p_{e_j}, divided by sum_j p_{e_j} when expert_norm_topk (Mixtral; Qwen2-MoE's
 *         norm_topk_prob)
 *   y = sum_j w_j Expert_{e_j}(h)                  SwiGLU experts, summed in ascending id
 *   y += sigmoid(w_sg . h) Shared(h)               Qwen2-MoE's gated shared expert
 *   x += y
 * Batched: for each expert, the tokens that chose it are gathered into one matmul batch,
 * so every expert's weights are streamed once per batch. Each (token, expert) output is
 * computed by the same operations whatever the batch holds, and the sum runs in expert
 * order, so results do not depend on batching or threads.
 */
#include <math.h>
#include <string.h>

#include "forward.h"

/* Top-k of p[0..n) into ids (ascending id) and their probabilities. */
static void top_k(const float *p, int32_t n, int32_t k, int32_t *ids, float *w) {
    for (int32_t j = 0; j < k; j++) {
        int32_t best = -1;
        for (int32_t e = 0; e < n; e++) {
            bool taken = false;
            for (int32_t i = 0; i < j; i++) taken |= ids[i] == e;
            if (!taken && (best < 0 || p[e] > p[best])) best = e;
        }
        ids[j] = best;
    }
    /* ascending expert id, so contributions are summed in a fixed order */
    for (int32_t a = 1; a < k; a++)
        for (int32_t b = a; b > 0 && ids[b - 1] > ids[b]; b--) {
            int32_t t = ids[b];
            ids[b] = ids[b - 1];
            ids[b - 1] = t;
        }
    for (int32_t j = 0; j < k; j++) w[j] = p[ids[j]];
}

static void route(ql_session *s, const ql_layer *L, int64_t n_tok) {
    const ql_hparams *hp = &s->model->hp;
    int32_t n = hp->n_expert, k = hp->n_expert_used;
    ql_matmul(s, &L->router, s->xb, n_tok, s->router, n);
    for (int64_t t = 0; t < n_tok; t++) {
        float *p = s->router + t * n;
        s->kern->softmax(p, n);
        int32_t *ids = s->sel + t * k;
        float *w = s->sel_w + t * k;
        top_k(p, n, k, ids, w);
        if (hp->expert_norm_topk) {
            float sum = 0.0f;
            for (int32_t j = 0; j < k; j++) sum += w[j];
            for (int32_t j = 0; j < k; j++) w[j] /= sum;
        }
    }
}

void ql_moe_ffn(ql_session *s, const ql_layer *L, int64_t n_tok) {
    const ql_hparams *hp = &s->model->hp;
    int32_t k = hp->n_expert_used;
    int64_t d = hp->n_embd;
    route(s, L, n_tok);
    for (int32_t e = 0; e < hp->n_expert; e++) {
        int64_t cnt = 0;
        for (int64_t t = 0; t < n_tok; t++)
            for (int32_t j = 0; j < k; j++)
                if (s->sel[t * k + j] == e) {
                    s->rows[cnt] = (int32_t)t;
                    s->slots[cnt] = j;
                    memcpy(s->moe_in + cnt * d, s->xb + t * d, (size_t)d * sizeof(float));
                    cnt++;
                }
        if (cnt == 0) continue;
        ql_swiglu_ffn(s, &L->exp_gate[e], &L->exp_up[e], &L->exp_down[e], s->moe_in, cnt,
                      s->moe_tmp);
        for (int64_t i = 0; i < cnt; i++)
            memcpy(s->moe_out + ((size_t)s->rows[i] * k + s->slots[i]) * d, s->moe_tmp + i * d,
                   (size_t)d * sizeof(float));
    }
    for (int64_t t = 0; t < n_tok; t++)
        for (int32_t j = 0; j < k; j++)
            s->kern->axpy(s->x + t * d, s->sel_w[t * k + j], s->moe_out + ((size_t)t * k + j) * d, d);
    if (hp->n_ff_shexp > 0) {
        /* the shared expert over the whole batch; moe_tmp holds its outputs */
        ql_swiglu_ffn(s, &L->sh_gate, &L->sh_up, &L->sh_down, s->xb, n_tok, s->moe_tmp);
        for (int64_t t = 0; t < n_tok; t++) {
            float g = 1.0f;
            if (L->sh_gate_inp) {
                float z = s->kern->dot(L->sh_gate_inp, s->xb + t * d, d);
                g = 1.0f / (1.0f + expf(-z));
            }
            s->kern->axpy(s->x + t * d, g, s->moe_tmp + t * d, d);
        }
    }
}
