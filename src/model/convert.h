/*
 * src/model/convert.h: a Hugging Face folder seen as the GGUF file llama.cpp's converter
 * would make of it (internal; used by ql_convert and by ql_quantize for folder inputs).
 *
 * Tensors get llama.cpp's names (token_embd.weight, blk.N.attn_q.weight, ...); per-expert
 * matrices are merged into blk.N.ffn_{gate,up,down}_exps.weight of GGUF shape
 * [k, rows, n_expert]; for architecture `llama` the rows of Q and K (and their biases) are
 * permuted within each head so that HF's rotate-half pairs (i, i + d/2) become the
 * interleaved pairs (2i, 2i + 1) that llama.cpp's `llama` RoPE rotates:
 *     gguf row h*d + 2i + j  =  hf row h*d + j*d/2 + i      (j = 0, 1; i < d/2)
 * qwen2 / qwen3 / qwen2moe keep HF's order (NeoX RoPE). Data is produced a few rows at a
 * time from the mapped safetensors, in the source dtype, so nothing is held in memory.
 */
#ifndef QL_MODEL_CONVERT_H
#define QL_MODEL_CONVERT_H

#include <stdbool.h>
#include <stdint.h>

#include "model/gguf_write.h"
#include "qloop.h"

typedef struct ql_hf_gguf ql_hf_gguf;

typedef struct ql_hf_gguf_tensor {
    char name[96];        /* GGUF tensor name */
    uint32_t type;        /* dtype of the rows ql_hf_gguf_rows gives (the source's) */
    uint32_t n_dims;
    int64_t ne[4];        /* GGUF order: ne[0] = row length; unused dims 1 */
    uint64_t n_elements;
    uint64_t nbytes;      /* in `type` */
    const void *direct;   /* the GGUF-order data in place when no reordering is needed */
    /* how the rows are made (convert.c) */
    char src[96];         /* the name the folder's tensor source answers */
    int32_t n_expert;     /* > 0: expert slices 0..n_expert-1 stacked along ne[2] */
    int32_t perm_heads;   /* > 0: Q/K rotate-half -> interleaved, this many heads */
    const void **parts;   /* [n_expert or 1] source data */
    float *owned;         /* data made here (rope_freqs) */
} ql_hf_gguf_tensor;

/* Loads the folder (config.json, safetensors, tokenizer.json when present) and plans the
 * GGUF tensors. Errors: those of ql_model_load for a folder; QL_ERR_ARG when `dir` is not
 * a folder; QL_ERR_UNSUPPORTED for settings a GGUF file cannot express (named). */
ql_status ql_hf_gguf_open(const char *dir, ql_hf_gguf **out, ql_error *err);
void ql_hf_gguf_close(ql_hf_gguf *c); /* NULL is a no-op */

const char *ql_hf_gguf_arch(const ql_hf_gguf *c); /* general.architecture */
int32_t ql_hf_gguf_n_layer(const ql_hf_gguf *c);

/* Sets general.*, {arch}.*, qloop.rope.* and tokenizer.ggml.* keys on w (not
 * general.file_type, which depends on the stored types). */
ql_status ql_hf_gguf_metadata(const ql_hf_gguf *c, ql_gguf_writer *w, ql_error *err);

uint64_t ql_hf_gguf_n_tensors(const ql_hf_gguf *c);
const ql_hf_gguf_tensor *ql_hf_gguf_tensor_at(const ql_hf_gguf *c, uint64_t i);

/* Copies rows [r0, r0 + n) of tensor i in GGUF order into dst (n rows of ne[0] elements of
 * the tensor's type; rows count over ne[1] * ne[2] * ne[3]). */
void ql_hf_gguf_rows(const ql_hf_gguf *c, uint64_t i, int64_t r0, int64_t n, void *dst);

/* True when `out` is an existing .json or .safetensors file directly in folder `dir`: one
 * the folder is read from, which a writer must not replace. */
bool ql_hf_gguf_is_input_file(const char *dir, const char *out);

#endif
