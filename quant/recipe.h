/*
 * quant/recipe.h: which stored type each tensor of a model gets for a `--type` recipe.
 *
 * Plain recipes (q8_0, q4_0, q4_1, q6_k, f16, bf16) use one type for every matrix; the
 * mixed k-quant recipes (q4_k_s, q4_k_m, q5_k_m) raise the tensors that quantization hurts
 * most, following the rule GGUF users know from llama.cpp (restated, see recipe.c).
 * 1-D tensors and norms always stay F32. A matrix whose row length is not a whole number
 * of the chosen type's blocks falls back (ql_recipe_fallback).
 */
#ifndef QL_QUANT_RECIPE_H
#define QL_QUANT_RECIPE_H

#include <stdbool.h>
#include <stdint.h>

typedef struct ql_recipe {
    const char *name;   /* "q4_k_m" */
    uint32_t base;      /* ql_type of most matrices */
    uint32_t file_type; /* general.file_type (llama.cpp's llama_ftype numbering) */
    int mix;            /* 0: uniform, 'S' or 'M': mixed k-quant recipe */
} ql_recipe;

/* NULL when unknown. */
const ql_recipe *ql_recipe_find(const char *name);
/* "q8_0|q4_0|..." */
const char *ql_recipe_names(void);

/* Where a tensor sits in the model: n_layer from <arch>.block_count, has_output when the
 * file has output.weight (else token_embd doubles as the output matrix). */
typedef struct ql_recipe_model {
    int n_layer;
    bool has_output;
} ql_recipe_model;

/* The type for tensor `name` of shape ne[0..n_dims-1], fallback already applied. */
uint32_t ql_recipe_tensor_type(const ql_recipe *r, const ql_recipe_model *m, const char *name,
                               uint32_t n_dims, const int64_t *ne);

/* A type of similar or higher precision whose block size divides k (see recipe.c). */
uint32_t ql_recipe_fallback(uint32_t type, int64_t k);

#endif /* QL_QUANT_RECIPE_H */
