/* tests/model/test_profile.c: ql_session_set_profiling counts every matrix multiplication
 * of an eval under its role: on stories260K (5 layers, untied output) one decode token is
 * 5 q/k/v jobs, 5 attn_output, 5 gate/up jobs, 5 ffn_down and 1 output, and the weight
 * bytes counted per token are the model's decode_bytes less the embedding row and the
 * norms (no matrix is missed or counted twice). A prompt counts each weight separately. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qloop.h"
#include "test.h"

static ql_model *g_model;

static const ql_matmul_profile *find(const ql_matmul_profile *p, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(p[i].name, name)) return &p[i];
    return NULL;
}

static void test_decode_roles(void) {
    ql_error e = {0};
    ql_session *s = NULL;
    ql_session_params sp = ql_session_params_default();
    sp.n_threads = 2;
    sp.n_ctx = 64;
    CHECK(ql_session_new(g_model, &sp, &s, &e) == QL_OK);
    if (!s) return;
    ql_model_info info;
    ql_model_get_info(g_model, &info);
    float *logits = malloc((size_t)info.n_vocab * sizeof *logits);
    int32_t ids[8] = {1, 403, 407, 261, 378, 29, 15, 300};
    CHECK(ql_session_eval(s, ids, 1, logits, false, &e) == QL_OK); /* not profiled */
    CHECK(ql_session_set_profiling(s, true, &e) == QL_OK);
    enum { N = 6 };
    for (int i = 1; i <= N; i++) CHECK(ql_session_eval(s, &ids[i], 1, logits, false, &e) == QL_OK);
    ql_session_set_profiling(s, false, NULL);
    CHECK(ql_session_eval(s, &ids[7], 1, logits, false, &e) == QL_OK); /* not profiled */
    ql_matmul_profile p[QL_PROFILE_ENTRIES];
    int n = ql_session_profile(s, p, QL_PROFILE_ENTRIES);
    CHECK_EQ_INT(n, 5);
    static const char *roles[] = {"attn_q.weight+attn_k.weight+attn_v.weight", "attn_output.weight",
                                  "ffn_gate.weight+ffn_up.weight", "ffn_down.weight", "output.weight"};
    double bytes = 0;
    for (size_t r = 0; r < sizeof roles / sizeof *roles; r++) {
        const ql_matmul_profile *q = find(p, n, roles[r]);
        CHECK_MSG(q != NULL, "no entry %s", roles[r]);
        if (!q) continue;
        uint64_t want = r == 4 ? N : (uint64_t)N * (uint64_t)info.n_layer;
        CHECK_MSG(q->calls == want && q->tokens == want, "%s: %llu calls, %llu tokens", q->name,
                  (unsigned long long)q->calls, (unsigned long long)q->tokens);
        CHECK(q->seconds > 0);
        bytes += q->weight_bytes;
    }
    for (int i = 0; i < n; i++) CHECK_MSG(strncmp(p[i].name, "blk.", 4) != 0, "%s", p[i].name);
    /* decode_bytes = every matrix + one embedding row + the 1-D tensors (a few KB here) */
    double per_token = bytes / N;
    CHECK_MSG(per_token <= (double)info.decode_bytes && per_token >= 0.98 * (double)info.decode_bytes,
              "%.0f bytes per token counted, decode_bytes %llu", per_token,
              (unsigned long long)info.decode_bytes);
    /* a prompt: one multiplication per weight, tokens counted per row */
    ql_session_profile_reset(s);
    CHECK_EQ_INT(ql_session_profile(s, p, QL_PROFILE_ENTRIES), 0);
    ql_session_reset(s);
    CHECK(ql_session_set_profiling(s, true, &e) == QL_OK);
    CHECK(ql_session_eval(s, ids, 8, logits, false, &e) == QL_OK);
    n = ql_session_profile(s, p, QL_PROFILE_ENTRIES);
    const ql_matmul_profile *q = find(p, n, "attn_k.weight");
    CHECK(q != NULL && q->calls == (uint64_t)info.n_layer && q->tokens == 8u * (uint64_t)info.n_layer);
    q = find(p, n, "output.weight");
    CHECK(q != NULL && q->calls == 1 && q->tokens == 1); /* the last token's logits only */
    free(logits);
    ql_session_free(s);
}

int main(void) {
    char path[512];
    ql_error e = {0};
    ql_model_params mp = ql_model_params_default();
    if (ql_model_load(ql_test_shared(path, sizeof path, "models/stories260K.gguf"), &mp, &g_model, &e) != QL_OK) {
        fprintf(stderr, "cannot load stories260K: %s\n", e.message);
        return 1;
    }
    RUN(test_decode_roles);
    ql_model_free(g_model);
    return TEST_REPORT();
}
