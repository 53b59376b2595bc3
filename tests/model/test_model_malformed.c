/*
 * tests/model/test_model_malformed.c: a well-formed GGUF container whose model metadata is
 * wrong must not load. Each case copies stories260K.gguf with one or two keys replaced,
 * loads the copy through ql_model_load and expects QL_ERR_CORRUPT with a message naming
 * what is wrong. These are the cases a mutation fuzzer found loading "successfully" into a
 * model that computed garbage (an infinite epsilon or rope parameter) or silently dropped a
 * layer (block_count one short), and a shared expert whose width key is 0, which is now read
 * from its tensors. The unmodified copy must load, so the copying itself is checked too.
 * Run it under ASan/UBSan as well (make asan).
 */
#include <math.h>
#include <string.h>
#include <unistd.h>

#include "gguf_copy.h"
#include "qloop.h"
#include "test.h"

static char g_src[512];
static char g_dir[64] = "/tmp/qloop-malformed-XXXXXX";

/* Loads src with the overrides applied; expects `want` and, on failure, `needle` in the
 * message. */
static void expect_load(const char *label, const gguf_override *o, int n_o, ql_status want,
                        const char *needle) {
    char path[128];
    snprintf(path, sizeof path, "%s/%s.gguf", g_dir, label);
    if (!gguf_copy(g_src, path, o, n_o)) return;
    ql_model_params mp = ql_model_params_default();
    ql_model *m = NULL;
    ql_error e = {0};
    ql_status st = ql_model_load(path, &mp, &m, &e);
    CHECK_MSG(st == want, "%s: status %d, expected %d (%s)", label, (int)st, (int)want, e.message);
    if (want != QL_OK)
        CHECK_MSG(strstr(e.message, needle) != NULL, "%s: message '%s' lacks '%s'", label,
                  e.message, needle);
    ql_model_free(m);
    unlink(path);
}

static void test_unmodified_copy_loads(void) { expect_load("same", NULL, 0, QL_OK, ""); }

static void test_non_finite_norm_epsilon_or_rope_base_is_refused(void) {
    gguf_override eps = {"llama.attention.layer_norm_rms_epsilon", O_F32, 0, INFINITY, NULL};
    expect_load("eps_inf", &eps, 1, QL_ERR_CORRUPT, "rms epsilon inf");
    gguf_override base = {"llama.rope.freq_base", O_F32, 0, INFINITY, NULL};
    expect_load("base_inf", &base, 1, QL_ERR_CORRUPT, "rope base inf");
    base.f32 = NAN;
    expect_load("base_nan", &base, 1, QL_ERR_CORRUPT, "rope base");
}

static void test_non_finite_rope_scaling_is_refused(void) {
    gguf_override linear[2] = {{"llama.rope.scaling.type", O_STR, 0, 0, "linear"},
                          {"llama.rope.scaling.factor", O_F32, 0, INFINITY, NULL}};
    expect_load("linear_inf", linear, 2, QL_ERR_CORRUPT, "rope scaling factor inf");
    gguf_override yarn[3] = {{"llama.rope.scaling.type", O_STR, 0, 0, "yarn"},
                        {"llama.rope.scaling.factor", O_F32, 0, 2.0f, NULL},
                        {"llama.rope.scaling.yarn_beta_fast", O_F32, 0, NAN, NULL}};
    expect_load("yarn_nan", yarn, 3, QL_ERR_CORRUPT, "beta_fast nan");
    yarn[2] = (gguf_override){"llama.rope.scaling.attn_factor", O_F32, 0, -INFINITY, NULL};
    expect_load("yarn_attn_inf", yarn, 3, QL_ERR_CORRUPT, "attn_factor -inf");
    yarn[2] = (gguf_override){"llama.rope.scaling.yarn_beta_fast", O_F32, 0, 16.0f, NULL};
    expect_load("yarn_ok", yarn, 3, QL_OK, ""); /* finite values still load */
}

static void test_layers_past_the_block_count_are_refused(void) {
    gguf_override n = {"llama.block_count", O_U32, 4, 0, NULL}; /* the file has 5 */
    expect_load("blocks4", &n, 1, QL_ERR_CORRUPT, "'blk.4.attn_norm.weight' is past");
    n.u32 = 6;
    expect_load("blocks6", &n, 1, QL_ERR_NOT_FOUND, "blk.5");
}

/* The last-token logits of ids[0..n) on the GGUF model at path, into out[cap]; returns
 * the vocabulary size (the row length), 0 on failure. */
static int32_t last_logits(const char *path, const int32_t *ids, size_t n, float *out,
                           size_t cap) {
    ql_model_params mp = ql_model_params_default();
    ql_session_params sp = ql_session_params_default();
    sp.n_threads = 1;
    ql_model *m = NULL;
    ql_session *s = NULL;
    ql_error e = {0};
    ql_model_info info = {0};
    bool ok = ql_model_load(path, &mp, &m, &e) == QL_OK;
    if (ok) ql_model_get_info(m, &info);
    ok = ok && (size_t)info.n_vocab <= cap && ql_session_new(m, &sp, &s, &e) == QL_OK &&
         ql_session_eval(s, ids, n, out, false, &e) == QL_OK;
    CHECK_MSG(ok, "%s: %s", path, e.message);
    ql_session_free(s);
    ql_model_free(m);
    return ok ? info.n_vocab : 0;
}

static void test_shared_expert_width_zero_is_read_from_the_tensors(void) {
    char hf[512], conv[128], zero[128];
    ql_test_shared(hf, sizeof hf, "fixtures/hf/qwen2_moe");
    snprintf(conv, sizeof conv, "%s/qwen2_moe.gguf", g_dir);
    snprintf(zero, sizeof zero, "%s/qwen2_moe_w0.gguf", g_dir);
    ql_error e = {0};
    CHECK_MSG(ql_convert(hf, conv, NULL, &e) == QL_OK, "%s", e.message);
    gguf_override w0 = {"qwen2moe.expert_shared_feed_forward_length", O_U32, 0, 0, NULL};
    static float a[1 << 16], b[1 << 16];
    const int32_t ids[] = {1, 5, 7, 9};
    if (gguf_copy(conv, zero, &w0, 1)) {
        int32_t nv = last_logits(conv, ids, 4, a, 1 << 16);
        if (nv > 0 && last_logits(zero, ids, 4, b, 1 << 16) == nv)
            CHECK(memcmp(a, b, (size_t)nv * sizeof(float)) == 0);
        CHECK(nv > 0);
    }
    unlink(conv);
    unlink(zero);
}

int main(void) {
    ql_test_shared(g_src, sizeof g_src, "models/stories260K.gguf");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_unmodified_copy_loads);
    RUN(test_non_finite_norm_epsilon_or_rope_base_is_refused);
    RUN(test_non_finite_rope_scaling_is_refused);
    RUN(test_layers_past_the_block_count_are_refused);
    RUN(test_shared_expert_width_zero_is_read_from_the_tensors);
    rmdir(g_dir);
    return TEST_REPORT();
}
