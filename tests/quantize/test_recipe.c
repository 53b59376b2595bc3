/* tests/quantize/test_recipe.c: per-tensor types of the --type recipes, and fallbacks. */
#include "quant/recipe.h"
#include "quant/types.h"
#include "test.h"

static uint32_t type_of(const char *recipe, int n_layer, bool has_output, const char *name,
                        int64_t k, int64_t rows) {
    ql_recipe_model m = {n_layer, has_output};
    int64_t ne[2] = {k, rows};
    return ql_recipe_tensor_type(ql_recipe_find(recipe), &m, name, rows ? 2 : 1, ne);
}

static void test_recipe_q4_k_m_raises_sensitive_tensors(void) {
    /* 32 layers: more-bits layers are 0-3, 28-31 and 4 + 3j + 2 = 6, 9, ..., 27 */
    CHECK_EQ_INT(type_of("q4_k_m", 32, true, "output.weight", 4096, 128256), QL_TYPE_Q6_K);
    CHECK_EQ_INT(type_of("q4_k_m", 32, true, "token_embd.weight", 4096, 128256), QL_TYPE_Q4_K);
    CHECK_EQ_INT(type_of("q4_k_m", 32, false, "token_embd.weight", 4096, 128256), QL_TYPE_Q6_K);
    CHECK_EQ_INT(type_of("q4_k_m", 32, true, "blk.0.attn_v.weight", 4096, 1024), QL_TYPE_Q6_K);
    CHECK_EQ_INT(type_of("q4_k_m", 32, true, "blk.5.attn_v.weight", 4096, 1024), QL_TYPE_Q4_K);
    CHECK_EQ_INT(type_of("q4_k_m", 32, true, "blk.6.ffn_down.weight", 14336, 4096), QL_TYPE_Q6_K);
    CHECK_EQ_INT(type_of("q4_k_m", 32, true, "blk.7.ffn_down.weight", 14336, 4096), QL_TYPE_Q4_K);
    CHECK_EQ_INT(type_of("q4_k_m", 32, true, "blk.31.ffn_down.weight", 14336, 4096), QL_TYPE_Q6_K);
    CHECK_EQ_INT(type_of("q4_k_m", 32, true, "blk.7.attn_q.weight", 4096, 4096), QL_TYPE_Q4_K);
    CHECK_EQ_INT(type_of("q4_k_s", 32, true, "blk.3.attn_v.weight", 4096, 1024), QL_TYPE_Q5_K);
    CHECK_EQ_INT(type_of("q4_k_s", 32, true, "blk.4.attn_v.weight", 4096, 1024), QL_TYPE_Q4_K);
    CHECK_EQ_INT(type_of("q4_k_s", 32, true, "blk.3.ffn_down.weight", 14336, 4096), QL_TYPE_Q5_K);
    CHECK_EQ_INT(type_of("q4_k_s", 32, true, "blk.4.ffn_down.weight", 14336, 4096), QL_TYPE_Q4_K);
    CHECK_EQ_INT(type_of("q5_k_m", 32, true, "blk.0.attn_v.weight", 4096, 1024), QL_TYPE_Q6_K);
    CHECK_EQ_INT(type_of("q4_0", 32, true, "output.weight", 4096, 1000), QL_TYPE_Q6_K);
    CHECK_EQ_INT(type_of("q8_0", 32, true, "output.weight", 4096, 1000), QL_TYPE_Q8_0);
}

/* MoE: routers stay F32; the ffn_down rule covers merged experts and the shared expert. */
static void test_recipe_moe_tensors(void) {
    CHECK_EQ_INT(type_of("q4_k_m", 32, true, "blk.3.ffn_gate_inp.weight", 4096, 8), QL_TYPE_F32);
    CHECK_EQ_INT(type_of("q8_0", 32, true, "blk.3.ffn_gate_inp_shexp.weight", 2048, 1),
                 QL_TYPE_F32);
    CHECK_EQ_INT(type_of("q4_k_m", 32, true, "blk.6.ffn_down_exps.weight", 14336, 4096),
                 QL_TYPE_Q6_K);
    CHECK_EQ_INT(type_of("q4_k_m", 32, true, "blk.7.ffn_down_exps.weight", 14336, 4096),
                 QL_TYPE_Q4_K);
    CHECK_EQ_INT(type_of("q4_k_m", 32, true, "blk.0.ffn_down_shexp.weight", 14336, 4096),
                 QL_TYPE_Q6_K);
    CHECK_EQ_INT(type_of("q4_k_m", 32, true, "blk.0.ffn_up_exps.weight", 4096, 14336),
                 QL_TYPE_Q4_K);
    CHECK_EQ_INT(type_of("q4_k_s", 32, true, "blk.0.ffn_down_exps.weight", 14336, 4096),
                 QL_TYPE_Q5_K);
}

static void test_recipe_norms_and_vectors_stay_f32(void) {
    CHECK_EQ_INT(type_of("q4_k_m", 32, true, "blk.0.attn_norm.weight", 4096, 0), QL_TYPE_F32);
    CHECK_EQ_INT(type_of("q8_0", 32, true, "blk.0.attn_q.bias", 4096, 0), QL_TYPE_F32);
    CHECK_EQ_INT(type_of("f16", 32, true, "output_norm.weight", 4096, 0), QL_TYPE_F32);
}

static void test_recipe_fallback_when_row_does_not_fit(void) {
    CHECK_EQ_INT(type_of("q8_0", 5, true, "blk.0.ffn_down.weight", 172, 64), QL_TYPE_F16);
    CHECK_EQ_INT(type_of("q4_k_m", 5, true, "blk.1.attn_q.weight", 64, 64), QL_TYPE_Q4_1);
    CHECK_EQ_INT(type_of("q4_k_m", 5, true, "output.weight", 64, 512), QL_TYPE_Q8_0);
    CHECK_EQ_INT(type_of("q6_k", 5, true, "blk.0.attn_q.weight", 896, 896), QL_TYPE_Q8_0);
    CHECK_EQ_INT(type_of("q4_k_m", 5, true, "blk.0.ffn_down.weight", 172, 64), QL_TYPE_F16);
    CHECK_EQ_INT(ql_recipe_fallback(QL_TYPE_BF16, 7), QL_TYPE_BF16);
    CHECK(ql_recipe_find("q3_k") == NULL);
}

int main(void) {
    RUN(test_recipe_q4_k_m_raises_sensitive_tensors);
    RUN(test_recipe_moe_tensors);
    RUN(test_recipe_norms_and_vectors_stay_f32);
    RUN(test_recipe_fallback_when_row_does_not_fit);
    return TEST_REPORT();
}
