/*
 * src/model/model.h: a loaded model (internal).
 *
 * Weights are views into the memory-mapped GGUF file; only small vectors (norm weights)
 * are converted to owned float32 arrays at load. Shapes in comments are
 * [ne0 (row length), ne1 (rows)] as GGUF stores them.
 */
#ifndef QL_MODEL_MODEL_H
#define QL_MODEL_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "model/gguf.h"
#include "qloop.h"
#include "text/tokenizer.h"

typedef enum ql_rope_layout {
    QL_ROPE_INTERLEAVED = 0, /* pairs (2i, 2i+1): GGUF llama (Q/K rows permuted at conversion) */
    QL_ROPE_NEOX = 1,        /* pairs (i, i + n_rot/2): rotate-half, as in HF transformers */
} ql_rope_layout;

typedef struct ql_hparams {
    int32_t n_vocab;
    int32_t n_ctx_train;
    int32_t n_embd;    /* model width */
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv; /* n_head / n_head_kv query heads share one KV head (GQA) */
    int32_t head_dim;
    int32_t n_ff;      /* FFN hidden width */
    int32_t n_rot;     /* rotated dimensions per head (<= head_dim, even) */
    float rope_base;   /* theta */
    float rms_eps;
    ql_rope_layout rope_layout;
} ql_hparams;

/* A weight matrix: `rows` rows of `k` elements of `type`. */
typedef struct ql_weight {
    const void *data;
    uint32_t type;
    int64_t k, rows;
    size_t row_bytes;
    const char *name; /* for messages; points into the model */
} ql_weight;

typedef struct ql_layer {
    float *attn_norm; /* [n_embd] */
    ql_weight wq;     /* [n_embd, n_head * head_dim] */
    ql_weight wk;     /* [n_embd, n_head_kv * head_dim] */
    ql_weight wv;     /* [n_embd, n_head_kv * head_dim] */
    ql_weight wo;     /* [n_head * head_dim, n_embd] */
    float *ffn_norm;  /* [n_embd] */
    ql_weight w_gate; /* [n_embd, n_ff] */
    ql_weight w_up;   /* [n_embd, n_ff] */
    ql_weight w_down; /* [n_ff, n_embd] */
} ql_layer;

struct ql_model {
    char *path;
    char *architecture;
    char *name;
    ql_gguf *gguf;
    ql_tokenizer *tok;
    bool vocab_only;
    ql_hparams hp;
    ql_weight tok_embd;  /* [n_embd, n_vocab]: row t is token t's embedding */
    float *output_norm;  /* [n_embd] */
    ql_weight output;    /* [n_embd, n_vocab]; the embedding when tied */
    ql_layer *layers;    /* [n_layer] */
    uint64_t n_params, weight_bytes;
};

#endif
