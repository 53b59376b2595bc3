/* tests/model/test_grouped_layout.c: a model whose quantized matrices the kernels run in
 * the grouped layout (ql_model_params.plain_layout = false, the default) gives the logits
 * of the same file loaded in its plain layout, bit for bit: a prompt (all logits), a
 * two-token batch and single decode tokens, with the tied embedding's rows gathered from
 * the grouped copy. Synthetic llama-small (256 wide: every matrix fits) in q8_0, q4_0 and
 * q4_k_m. On a level without grouped kernels (QLOOP_ISA=avx2, scalar) both loads are plain
 * and the comparison still holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model/model.h"
#include "qloop.h"
#include "simd/dispatch.h"
#include "test.h"

static char g_dir[256];

static int same_floats(const float *a, const float *b, size_t n, size_t *first) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof *a)) {
            *first = i;
            return 0;
        }
    return 1;
}

static void check_type(const char *type) {
    char path[512];
    snprintf(path, sizeof path, "%s/llama-small-%s.gguf", g_dir, type);
    ql_synth_params sp = ql_synth_params_default();
    sp.like = "llama-small";
    sp.type = type;
    sp.seed = 11;
    sp.n_threads = 2;
    ql_error e = {0};
    CHECK_MSG(ql_synth(path, &sp, &e) == QL_OK, "synth %s: %s", type, e.message);
    ql_model *m[2] = {NULL, NULL};
    ql_session *s[2] = {NULL, NULL};
    for (int v = 0; v < 2; v++) {
        ql_model_params mp = ql_model_params_default();
        mp.plain_layout = v == 0;
        CHECK_MSG(ql_model_load(path, &mp, &m[v], &e) == QL_OK, "%s: %s", path, e.message);
        if (!m[v]) goto out;
        ql_session_params p = ql_session_params_default();
        p.n_threads = 2;
        p.n_ctx = 64;
        p.n_batch = 32;
        CHECK(ql_session_new(m[v], &p, &s[v], &e) == QL_OK);
        if (!s[v]) goto out;
    }
    /* the grouped load grouped what the kernels can run grouped, and only that */
    const ql_kernel_table *kt = ql_kernels();
    const ql_weight *ws[] = {&m[1]->tok_embd, &m[1]->layers[0].wq, &m[1]->layers[0].wk,
                             &m[1]->layers[1].w_gate, &m[1]->layers[1].w_down};
    int n_grouped = 0;
    for (size_t i = 0; i < sizeof ws / sizeof *ws; i++) {
        CHECK_MSG((ws[i]->g16_unit != 0) == (kt->matmul_g16[ws[i]->type] != NULL), "%s %s: g16_unit %zu",
                  type, ws[i]->name, ws[i]->g16_unit);
        n_grouped += ws[i]->g16_unit != 0;
        CHECK(m[0]->layers[0].wq.g16_unit == 0);
    }
    printf("%s: %s, %d of %zu sampled matrices grouped\n", type, kt->isa, n_grouped, sizeof ws / sizeof *ws);
    ql_model_info info;
    ql_model_get_info(m[0], &info);
    enum { P = 20 };
    int32_t ids[P + 8];
    for (int i = 0; i < P + 8; i++) ids[i] = (i * 389 + 7) % 1000;
    size_t nv = (size_t)info.n_vocab;
    float *lg[2] = {malloc(P * nv * sizeof(float)), malloc(P * nv * sizeof(float))};
    /* prompt (all logits), then a 2-token batch, then single tokens */
    const int steps[][2] = {{0, P}, {P, 2}, {P + 2, 1}, {P + 3, 1}, {P + 4, 1}, {P + 5, 3}};
    for (size_t k = 0; k < sizeof steps / sizeof *steps; k++) {
        int at = steps[k][0], n = steps[k][1];
        for (int v = 0; v < 2; v++)
            CHECK(ql_session_eval(s[v], ids + at, (size_t)n, lg[v], true, &e) == QL_OK);
        size_t bad = 0;
        CHECK_MSG(same_floats(lg[0], lg[1], (size_t)n * nv, &bad),
                  "%s: %d tokens at %d: logit %zu plain %.9g grouped %.9g", type, n, at, bad,
                  lg[0][bad], lg[1][bad]);
    }
    free(lg[0]);
    free(lg[1]);
out:
    for (int v = 0; v < 2; v++) {
        ql_session_free(s[v]);
        ql_model_free(m[v]);
    }
    unlink(path);
}

static void test_grouped_equals_plain(void) {
    check_type("q8_0");
    check_type("q4_0");
    check_type("q4_k_m");
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/qloop-grouped-XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_grouped_equals_plain);
    rmdir(g_dir);
    return TEST_REPORT();
}
