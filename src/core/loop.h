/*
 * src/core/loop.h: loop layers in the forward pass (shared/spec/loop-layers.md), internal.
 *
 * The forward pass runs a *layer schedule*: a sequence of (physical layer, KV slot) steps.
 * A layer outside every loop block is one step on its own slot. A loop block [s, e] is
 * run as a unit, iteration i (0-based) being the steps (s..e, slot(l, i)); fixed_count
 * schedules n iterations, dynamic_stop appends one more while the block output has not
 * converged (spec 3). The slot a step writes and reads depends on the KV mode (spec 4):
 *
 *   virtual_layers, serial     write and read slot i mod V (Huginn's ring)
 *   virtual_layers, parallel   i < V: write slot i; i >= V: the chunk's rows of slots
 *                              1..V-1 move down one and slot V-1 takes iteration i (past
 *                              tokens never move); read all V slots, slot j holding
 *                              chunk keys only once written (j <= i or i >= V)
 *   merge_strategy             write and read the merged cache M: past tokens hold their
 *                              merged K/V, the chunk's rows this iteration's; when the block
 *                              stops the chunk's iterations are merged (ema / average /
 *                              last, accumulated as they come) into its rows of M
 *
 * Cache layout: every (physical layer, slot) pair is one [n_ctx][kv_dim] array of the
 * session's k_cache / v_cache, slot s of layer l at index slot0[l] + s. Without loops
 * slot0[l] = l, the plain layout.
 */
#ifndef QL_CORE_LOOP_H
#define QL_CORE_LOOP_H

#include "model/model.h"

typedef struct ql_loop_state {
    ql_loop_params p;    /* validated; n_blocks = 0: plain model */
    int32_t *block_of;   /* [n_layer] the loop block a physical layer belongs to, or -1 */
    int32_t *slot0;      /* [n_layer] its first KV slot */
    int32_t *n_slot;     /* [n_layer] its number of KV slots (V for virtual looped layers) */
    int32_t *acc_index;  /* [n_layer] merge mode: the layer's accumulator row, or -1 */
    int32_t n_slots;     /* slots of the whole cache */
    int32_t max_read;    /* most slots one attention step reads (parallel: max V) */
    float *acc_k, *acc_v; /* merge: [n_looped_layers][n_batch][kv_dim] running merge */
    float *x_prev;       /* dynamic stop: [n_batch][n_embd] previous iteration's output */
    ql_loop_stats stats;
} ql_loop_state;

struct ql_session;

/* Lays the session's KV cache and loop scratch out for `p` (NULL or no blocks: plain):
 * allocates the new buffers first, and only on success replaces the old ones, resets the
 * position and the statistics. `p` must have been validated. */
ql_status ql_loop_layout(struct ql_session *s, const ql_loop_params *p, ql_error *err);
void ql_loop_free(ql_loop_state *ls);

/* Where one layer step writes and reads K/V. */
typedef struct ql_kv_step {
    int32_t slot;   /* absolute slot the step writes (and reads, unless parallel) */
    int32_t first;  /* parallel: the layer's first slot */
    int32_t n_read; /* parallel: slots read (V); 0: read `slot` only */
    int32_t iter;   /* parallel: 0-based iteration, for the per-slot causal limit */
} ql_kv_step;

/* The step of looped layer l at iteration `iter` for a chunk of n_tok tokens; in
 * parallel mode past V iterations this first moves the chunk's ring rows down. */
ql_kv_step ql_loop_kv_step(struct ql_session *s, int l, int32_t iter, int64_t n_tok);

/* Merge mode, after layer l's step of iteration `iter` wrote the chunk's K/V rows in M:
 * folds them into the layer's running merge. */
void ql_loop_merge_accumulate(struct ql_session *s, int l, int32_t iter, int64_t n_tok);

/* Merge mode, after the block stopped at n_iter iterations: writes the merged K/V of the
 * chunk into its rows of M. */
void ql_loop_merge_commit(struct ql_session *s, int l, int32_t n_iter, int64_t n_tok);

/* The most iterations block b may run in this forward (0: skip the block). */
int32_t ql_loop_cap(const ql_loop_params *p, int b);

/* Whether the block stops after `done` (1-based) iterations. x is the block output of this
 * iteration, x_prev of the previous one, n_tok rows of n_embd. Deterministic: computed in
 * double on the calling thread, in row order. */
bool ql_loop_stop(const ql_loop_params *p, int b, int32_t done, const float *x,
                  const float *x_prev, int64_t n_tok, int64_t n_embd);

/* Mean over rows of cos(a[r], b[r]) (eps 1e-8 on each norm, as torch's cosine_similarity),
 * in double, rows in order. */
double ql_loop_mean_cosine(const float *a, const float *b, int64_t n_rows, int64_t n);

/* m = merge of k_1..k_n given as the running value `acc` after folding iteration `iter`
 * (0-based) value k: ema acc = alpha acc + (1 - alpha) k, average acc += k, last acc = k;
 * iteration 0 sets acc = k. */
void ql_loop_merge_fold(ql_loop_merge rule, float alpha, float *acc, const float *k,
                        int32_t iter, int64_t n);
/* The merged value from the running one after n iterations (average: acc / n). */
void ql_loop_merge_finish(ql_loop_merge rule, float *acc, int32_t n_iter, int64_t n);

/* Counts one forward of n_tok tokens that ran block b for n_iter iterations. */
void ql_loop_record(struct ql_session *s, int b, int32_t n_iter, int64_t n_tok);

#endif
