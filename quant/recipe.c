/*
 * quant/recipe.c: per-tensor type choice of the `--type` recipes (contract: recipe.h).
 *
 * The mixed k-quant rule, as llama.cpp's quantizer applies it (restated in our words):
 *  - the output matrix (output.weight, or token_embd.weight when the model ties them) is
 *    stored as Q6_K by every 4/5/6-bit recipe, since errors there hit the logits directly;
 *  - "_M" recipes store attn_v and ffn_down as Q6_K in the layers that matter most: the
 *    first and last eighth of the stack, and every third layer in between (layer i with
 *    i < n/8, or i >= 7n/8, or (i - n/8) % 3 == 2); the rest use the base type;
 *  - "q4_k_s" raises attn_v of the first four layers and ffn_down of the first eighth of
 *    the layers to Q5_K.
 *  Token embeddings otherwise keep the base type (they are only looked up, one row a token).
 *  The ffn_down rules cover the MoE forms too (ffn_down_exps: every expert of the layer;
 *  ffn_down_shexp: the shared expert). MoE routers (ffn_gate_inp, ffn_gate_inp_shexp) stay
 *  F32 like the norms: they are tiny and the top-k choice of experts is sensitive to them.
 *
 * Fallback when a row of k elements is not a whole number of blocks: the 256-element
 * k-quants go to a 32-element type of at least as many bits (Q4_K -> Q4_1, Q5_K and Q6_K
 * -> Q8_0), and the 32-element types go to F16, which fits any k. (llama.cpp falls back to
 * Q5_0/Q5_1 for the first two, which qloop does not write.)
 */
#include "recipe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quantize.h"
#include "types.h"

static const ql_recipe k_recipes[] = {
    {"q8_0", QL_TYPE_Q8_0, 7, 0},    {"q4_0", QL_TYPE_Q4_0, 2, 0},
    {"q4_1", QL_TYPE_Q4_1, 3, 0},    {"q4_k_s", QL_TYPE_Q4_K, 14, 'S'},
    {"q4_k_m", QL_TYPE_Q4_K, 15, 'M'}, {"q5_k_m", QL_TYPE_Q5_K, 17, 'M'},
    {"q6_k", QL_TYPE_Q6_K, 18, 0},   {"f16", QL_TYPE_F16, 1, 0},
    {"bf16", QL_TYPE_BF16, 32, 0},   {"f32", QL_TYPE_F32, 0, 0},
};

const ql_recipe *ql_recipe_find(const char *name) {
    for (size_t i = 0; i < sizeof k_recipes / sizeof k_recipes[0]; i++)
        if (strcmp(k_recipes[i].name, name) == 0) return &k_recipes[i];
    return NULL;
}

const char *ql_recipe_names(void) {
    return "q8_0|q4_0|q4_1|q4_k_s|q4_k_m|q5_k_m|q6_k|f16|bf16|f32";
}

uint32_t ql_recipe_fallback(uint32_t type, int64_t k) {
    while (!ql_quant_can_write(type, k)) {
        switch (type) {
        case QL_TYPE_Q4_K: type = QL_TYPE_Q4_1; break;
        case QL_TYPE_Q5_K: case QL_TYPE_Q6_K: type = QL_TYPE_Q8_0; break;
        case QL_TYPE_F16: case QL_TYPE_BF16: return QL_TYPE_F32;
        case QL_TYPE_F32: return QL_TYPE_F32;
        default: type = QL_TYPE_F16; break;
        }
    }
    return type;
}

static bool has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Layer index of "blk.N.*", or -1. */
static int layer_of(const char *name) {
    if (strncmp(name, "blk.", 4) != 0) return -1;
    char *end;
    long i = strtol(name + 4, &end, 10);
    return end != name + 4 && *end == '.' && i >= 0 && i < 1000000 ? (int)i : -1;
}

static bool more_bits_layer(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static bool is_k_quant(uint32_t t) {
    return t == QL_TYPE_Q4_K || t == QL_TYPE_Q5_K || t == QL_TYPE_Q6_K;
}

uint32_t ql_recipe_tensor_type(const ql_recipe *r, const ql_recipe_model *m, const char *name,
                               uint32_t n_dims, const int64_t *ne) {
    if (n_dims < 2 || strstr(name, "norm") || strstr(name, "ffn_gate_inp")) return QL_TYPE_F32;
    uint32_t t = r->base;
    bool low_bits = r->base == QL_TYPE_Q4_0 || r->base == QL_TYPE_Q4_1 || is_k_quant(r->base);
    bool is_output = strcmp(name, "output.weight") == 0 ||
                     (!m->has_output && strcmp(name, "token_embd.weight") == 0);
    int il = layer_of(name), n = m->n_layer > 0 ? m->n_layer : 1;
    if (is_output && low_bits) {
        t = QL_TYPE_Q6_K;
    } else if (r->mix && il >= 0) {
        bool attn_v = has_suffix(name, "attn_v.weight");
        bool ffn_down = has_suffix(name, "ffn_down.weight") ||
                        has_suffix(name, "ffn_down_exps.weight") ||
                        has_suffix(name, "ffn_down_shexp.weight");
        if (r->mix == 'M' && (attn_v || ffn_down) && more_bits_layer(il, n)) t = QL_TYPE_Q6_K;
        if (r->mix == 'S' && ((attn_v && il < 4) || (ffn_down && il < n / 8))) t = QL_TYPE_Q5_K;
    }
    return ql_recipe_fallback(t, ne[0]);
}
