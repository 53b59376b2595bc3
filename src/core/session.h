/* src/core/session.h: the per-sequence state of the forward pass (internal). */
#ifndef QL_CORE_SESSION_H
#define QL_CORE_SESSION_H

#include "loop.h"
#include "model/model.h"
#include "runtime/pool.h"
#include "simd/kernels.h"

/* Query heads of one KV group that attention handles together (they share each key and
 * value row read): the largest divisor of the group size up to this. */
enum { QL_ATTN_HEADS = 4 };

struct ql_session {
    const ql_model *model;
    const ql_kernel_table *kern;
    ql_pool *pool;
    int32_t n_ctx, n_batch, pos;
    ql_activation_fn observer; /* see ql_session_set_activation_observer */
    void *observer_user;
    /* ql_session_set_profiling: prof[QL_PROFILE_ENTRIES] (NULL until first started) */
    ql_matmul_profile *prof;
    int n_prof;
    bool profiling;
    int64_t q_dim, kv_dim;

    /* KV cache, float32: [n_slots][n_ctx][kv_dim]; position p of slot j of layer l at
     * ((loop.slot0[l] + j) * n_ctx + p) * kv_dim. Without loop layers every layer has one
     * slot and slot0[l] = l. Keys are stored after RoPE. Laid out by ql_loop_layout. */
    float *k_cache, *v_cache;
    ql_loop_state loop; /* loop-layer settings, slot layout, scratch, statistics */
    /* RoPE: current inverse frequencies [n_rot / 2] and factor on cos/sin; for dynamic
     * NTK, the sequence length they were computed for (transformers' rule, spec 2.3) */
    float *inv_freq;
    float rope_attn_factor;
    int32_t rope_cached_len;
    float *rope_cs; /* [n_batch][n_rot / 2][2]: (cos, sin) of the batch's positions */

    /* scratch for one batch of up to n_batch tokens */
    float *x;      /* [n_batch, n_embd] residual stream */
    float *xb;     /* [n_batch, n_embd] normalised input of a block */
    float *q;      /* [n_batch, q_dim] queries after RoPE */
    float *att;    /* [n_batch, q_dim] attention output, before wo */
    float *hb;     /* [n_batch, max ffn width] gate, then silu(gate) * up */
    float *hb2;    /* [n_batch, max ffn width] up */
    float *scores; /* [n_threads][QL_ATTN_HEADS][loop.max_read * n_ctx] attention weights */
    void *xq;      /* [n_batch] rows of activations in a quantized weight's input format;
                    * before the first matmul, a grouped embedding row (forward.c, embed) */

    /* mixture of experts scratch (NULL for dense models) */
    float *router;    /* [n_batch, n_expert] router logits, then probabilities */
    int32_t *sel;     /* [n_batch, k] chosen experts per token, ascending id */
    float *sel_w;     /* [n_batch, k] their weights */
    int32_t *rows;    /* [n_batch] tokens routed to the current expert */
    int32_t *slots;   /* [n_batch] the slot j of each of those tokens */
    float *moe_in;    /* [n_batch, n_embd] gathered inputs of one expert */
    float *moe_tmp;   /* [n_batch, n_embd] one expert's outputs */
    float *moe_out;   /* [n_batch, k, n_embd] every (token, slot) output */
};

#endif
