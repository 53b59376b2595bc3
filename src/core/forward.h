/* src/core/forward.h: building blocks of the forward pass shared by its files. */
#ifndef QL_CORE_FORWARD_H
#define QL_CORE_FORWARD_H

#include "session.h"

/* y[t, 0..w->rows) = W x[t] for t < n_tok, y with row stride ldy; threads split rows. */
void ql_matmul(ql_session *s, const ql_weight *w, const float *x, int64_t n_tok, float *y,
               int64_t ldy);

/* out[t] = down(silu(gate x[t]) * up x[t]) for t < n_tok (rows of n_embd); uses s->hb,
 * s->hb2. out may alias x. */
void ql_swiglu_ffn(ql_session *s, const ql_weight *gate, const ql_weight *up,
                   const ql_weight *down, const float *x, int64_t n_tok, float *out);

/* Mixture-of-experts FFN of layer L on the normalised batch s->xb; adds into s->x. */
void ql_moe_ffn(ql_session *s, const ql_layer *L, int64_t n_tok);

#endif
