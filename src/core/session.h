/* src/core/session.h: the per-sequence state of the forward pass (internal). */
#ifndef QL_CORE_SESSION_H
#define QL_CORE_SESSION_H

#include "model/model.h"
#include "runtime/pool.h"
#include "simd/kernels.h"

struct ql_session {
    const ql_model *model;
    const ql_kernel_table *kern;
    ql_pool *pool;
    int32_t n_ctx, n_batch, pos;
    int64_t q_dim, kv_dim;

    /* KV cache, float32: [n_layer][n_ctx][kv_dim]; position p of layer l at
     * (l * n_ctx + p) * kv_dim. Keys are stored after RoPE. */
    float *k_cache, *v_cache;
    /* RoPE (cos, sin) per position and frequency pair: [n_ctx][n_rot / 2][2] */
    float *rope_cs;

    /* scratch for one batch of up to n_batch tokens */
    float *x;      /* [n_batch, n_embd] residual stream */
    float *xb;     /* [n_batch, n_embd] normalised input of a block */
    float *q;      /* [n_batch, q_dim] queries after RoPE */
    float *att;    /* [n_batch, q_dim] attention output, before wo */
    float *hb;     /* [n_batch, n_ff] gate, then silu(gate) * up */
    float *hb2;    /* [n_batch, n_ff] up */
    float *scores; /* [n_threads][n_ctx] attention weights per worker */
    void *xq;      /* [n_batch] rows of activations in a quantized weight's input format */
};

#endif
