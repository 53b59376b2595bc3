/* src/model/hf.h: Hugging Face folders, shared by hf.c and hf_config.c (internal). */
#ifndef QL_MODEL_HF_H
#define QL_MODEL_HF_H

#include <stdbool.h>

#include "model.h"

/* How a model_type lays out its feed-forward tensors. */
typedef enum ql_hf_ffn {
    QL_HF_FFN_DENSE = 0,     /* mlp.{gate,up,down}_proj */
    QL_HF_FFN_MIXTRAL = 1,   /* block_sparse_moe.gate, experts.E.w1/w3/w2 */
    QL_HF_FFN_QWEN2_MOE = 2, /* mlp.gate, mlp.experts.E.*_proj, mlp.shared_expert(_gate) */
} ql_hf_ffn;

typedef struct ql_hf_config {
    char model_type[32];
    ql_hparams hp;
    ql_hf_ffn ffn;
    bool tied;        /* tie_word_embeddings: the output projection is the embedding */
    bool qk_norm;     /* qwen3: per-head q_norm / k_norm */
    bool qkv_bias;    /* qwen2 / qwen2_moe / llama attention_bias: q/k/v biases */
    int32_t eos_id;   /* config.json eos_token_id (first of a list), or -1 */
    ql_loop_params loop; /* model_type loop_llama: the loop keys; else no loop */
} ql_hf_config;

/* Reads `path` (a config.json) into cfg, hyperparameters checked with ql_hparams_check.
 * Errors: QL_ERR_IO / QL_ERR_NOT_FOUND (file), QL_ERR_CORRUPT (invalid JSON, a missing or
 * out-of-range key, named), QL_ERR_UNSUPPORTED (model_type, RoPE type or a feature the
 * forward pass lacks, named). */
ql_status ql_hf_read_config(const char *path, ql_hf_config *cfg, ql_error *err);

#endif
