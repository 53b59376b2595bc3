/* src/core/rope.h: RoPE frequencies for every scaling (shared/spec/rope-scaling.md). */
#ifndef QL_CORE_ROPE_H
#define QL_CORE_ROPE_H

#include "model/model.h"

/* Inverse frequencies f_i (i < n_rot / 2) and the factor on cos and sin, for a forward
 * pass whose longest sequence is `seq_len` (only dynamic NTK depends on it: pass the
 * length that the dynamic rule of the spec selects). Values are rounded to float32 as
 * transformers computes them. */
void ql_rope_freqs(const ql_hparams *hp, int32_t seq_len, float *inv_freq, float *attn_factor);

/* (cos, sin) * attn_factor for positions p0 .. p0 + n - 1: cs[(p - p0) * n_rot + 2i + {0,1}]. */
void ql_rope_table(const float *inv_freq, float attn_factor, int32_t n_rot, int32_t p0,
                   int32_t n, float *cs);

#endif
