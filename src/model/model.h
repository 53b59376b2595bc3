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

typedef enum ql_rope_scaling {
    QL_ROPE_SCALING_NONE = 0,
    QL_ROPE_SCALING_LINEAR = 1,  /* f_i / factor */
    QL_ROPE_SCALING_DYNAMIC = 2, /* NTK: base grows with the sequence past n_ctx_train */
    QL_ROPE_SCALING_LLAMA3 = 3,  /* per-band: keep, divide by factor, or smooth between */
    QL_ROPE_SCALING_YARN = 4,    /* ramp between kept and interpolated, attention factor */
} ql_rope_scaling;

/* RoPE frequencies, shared/spec/rope-scaling.md. */
typedef struct ql_rope_params {
    float base;                 /* theta */
    ql_rope_scaling scaling;
    float factor;               /* linear, dynamic, llama3, yarn */
    int32_t orig_ctx;           /* llama3 / yarn original_max_position_embeddings; 0 = none */
    float low_freq_factor;      /* llama3 */
    float high_freq_factor;     /* llama3 */
    float beta_fast, beta_slow; /* yarn ramp ends, in rotations (defaults 32, 1) */
    float attn_factor;          /* yarn: scale on cos and sin; 0 = derive from factor */
    float mscale, mscale_all_dim; /* yarn: DeepSeek-style attention factor inputs; 0 = unset */
    bool yarn_truncate;         /* yarn: floor/ceil the ramp ends (default true) */
    const float *freq_factors;  /* [n_rot / 2] divisors of f_i (GGUF rope_freqs.weight), or NULL */
} ql_rope_params;

typedef struct ql_hparams {
    int32_t n_vocab;
    int32_t n_ctx_train; /* max_position_embeddings; also dynamic NTK's reference length */
    int32_t n_embd;      /* model width */
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;   /* n_head / n_head_kv query heads share one KV head (GQA) */
    int32_t head_dim;
    int32_t n_ff;        /* dense FFN hidden width */
    int32_t n_rot;       /* rotated dimensions per head (<= head_dim, even) */
    float rms_eps;
    ql_rope_layout rope_layout;
    ql_rope_params rope;
    /* mixture of experts (shared/spec/moe.md); n_expert = 0: dense FFN */
    int32_t n_expert;
    int32_t n_expert_used;   /* k */
    bool expert_norm_topk;   /* renormalise the k selected probabilities to sum 1 */
    int32_t n_ff_exp;        /* width of each routed expert */
    int32_t n_ff_shexp;      /* width of the shared expert; 0 = none */
} ql_hparams;

/* A weight matrix: `rows` rows of `k` elements of `type`. */
typedef struct ql_weight {
    const void *data;
    uint32_t type;
    int64_t k, rows;
    size_t row_bytes;
    char name[64];    /* GGUF tensor name, for messages and activation observers */
    int32_t expert;   /* expert index of a merged expert tensor, else -1 */
    size_t g16_unit;  /* 0: data in the file's (plain) layout; else in the grouped layout of
                       * simd/g16.h with units of this many bytes (matmul_g16 runs it) */
} ql_weight;

typedef struct ql_layer {
    float *attn_norm; /* [n_embd] */
    ql_weight wq;     /* [n_embd, n_head * head_dim] */
    ql_weight wk;     /* [n_embd, n_head_kv * head_dim] */
    ql_weight wv;     /* [n_embd, n_head_kv * head_dim] */
    ql_weight wo;     /* [n_head * head_dim, n_embd] */
    float *bq, *bk, *bv; /* q/k/v biases (Qwen2) or NULL */
    float *q_norm, *k_norm; /* [head_dim] per-head RMSNorm weights (Qwen3) or NULL */
    float *ffn_norm;  /* [n_embd] */
    /* dense FFN (n_expert == 0) */
    ql_weight w_gate; /* [n_embd, n_ff] */
    ql_weight w_up;   /* [n_embd, n_ff] */
    ql_weight w_down; /* [n_ff, n_embd] */
    /* mixture of experts (n_expert > 0) */
    ql_weight router;     /* [n_embd, n_expert] */
    ql_weight *exp_gate;  /* [n_expert] x [n_embd, n_ff_exp] */
    ql_weight *exp_up;    /* [n_expert] x [n_embd, n_ff_exp] */
    ql_weight *exp_down;  /* [n_expert] x [n_ff_exp, n_embd] */
    ql_weight sh_gate, sh_up, sh_down; /* shared expert, [n_embd, n_ff_shexp] ... */
    float *sh_gate_inp;   /* [n_embd]: shared expert scaled by sigmoid(sh_gate_inp . h), or NULL */
} ql_layer;

/* Where a model's tensors come from: a GGUF file, or a Hugging Face folder mapped to the
 * GGUF tensor names ("blk.3.attn_q.weight"). `expert` >= 0 asks for that expert's 2-D
 * slice of a merged expert tensor ("blk.0.ffn_up_exps.weight", GGUF shape
 * [n_embd, n_ff_exp, n_expert]); -1 for ordinary tensors. Returns false when absent. */
typedef struct ql_tensor_view {
    const void *data;
    uint32_t type;
    uint32_t n_dims;
    int64_t ne[4];
    uint64_t nbytes;
} ql_tensor_view;

typedef struct ql_tensor_source {
    void *ctx;
    bool (*find)(void *ctx, const char *name, int expert, ql_tensor_view *out);
} ql_tensor_source;

struct ql_model {
    char *path;
    char *architecture;
    char *name;
    ql_gguf *gguf;           /* the file, when loaded from GGUF */
    struct ql_hf *hf;        /* the folder, when loaded from Hugging Face files */
    ql_tensor_source src;
    ql_tokenizer *tok;
    bool vocab_only;
    ql_hparams hp;
    ql_weight tok_embd;  /* [n_embd, n_vocab]: row t is token t's embedding */
    float *output_norm;  /* [n_embd] */
    ql_weight output;    /* [n_embd, n_vocab]; the embedding when tied */
    ql_layer *layers;    /* [n_layer] */
    uint64_t n_params, weight_bytes;
    uint64_t decode_bytes; /* see ql_model_info */
    float *rope_freq_factors; /* owned copy behind hp.rope.freq_factors */
    ql_loop_params loop;   /* qloop.loop.* / loop_llama settings; n_blocks 0 = none */
    bool plain_layout;     /* ql_model_params.plain_layout */
    uint8_t *arena;        /* the grouped copies of weights (ql_weight.g16_unit), in order */
    size_t arena_cap, arena_used;
    void **packed;         /* grouped copies that did not fit the arena, owned */
    size_t n_packed, cap_packed;
};

/* Binds every weight of m->hp's architecture from m->src (checking types and shapes) and
 * computes n_params / weight_bytes. Used by both the GGUF and the Hugging Face loaders. */
ql_status ql_model_bind_weights(ql_model *m, ql_error *err);

#endif
