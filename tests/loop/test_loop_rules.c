/*
 * tests/loop/test_loop_rules.c: the arithmetic of loop layers on hand-made data:
 * merge rules (spec test 5), the stop rule's iteration counts (spec test 6) and the KV
 * slot rings (spec test 9), the last through the session's own slot bookkeeping.
 */
#include "core/loop.h"
#include "core/session.h"
#include "test.h"

/* ---- spec test 5 ------------------------------------------------------------------- */

static void merged(ql_loop_merge rule, float alpha, const float k[][2], int n, float out[2]) {
    for (int i = 0; i < n; i++) ql_loop_merge_fold(rule, alpha, out, k[i], i, 2);
    ql_loop_merge_finish(rule, out, n, 2);
}

static void test_merge_rules_on_hand_made_vectors(void) {
    const float k[3][2] = {{1.0f, 10.0f}, {2.0f, 20.0f}, {4.0f, -40.0f}};
    float m[2];
    merged(QL_LOOP_MERGE_EMA, 0.7f, k, 3, m); /* 0.49 k1 + 0.21 k2 + 0.3 k3 */
    CHECK_NEAR(m[0], 0.49 * 1 + 0.21 * 2 + 0.3 * 4, 1e-6);
    CHECK_NEAR(m[1], 0.49 * 10 + 0.21 * 20 - 0.3 * 40, 1e-5);
    merged(QL_LOOP_MERGE_AVERAGE, 0.7f, k, 3, m);
    CHECK_NEAR(m[0], 7.0 / 3.0, 1e-6);
    CHECK_NEAR(m[1], -10.0 / 3.0, 1e-6);
    merged(QL_LOOP_MERGE_LAST, 0.7f, k, 3, m);
    CHECK(m[0] == 4.0f && m[1] == -40.0f);
    for (int r = 0; r < 3; r++) { /* n = 1: every rule gives k1 exactly */
        merged((ql_loop_merge)r, 0.7f, k, 1, m);
        CHECK(m[0] == 1.0f && m[1] == 10.0f);
    }
}

/* ---- spec test 6 ------------------------------------------------------------------- */

/* Block outputs h_1, h_2, h_3 orthogonal, then constant: h_k = h_3 for k > 3. Runs the
 * stop rule as the forward pass does and returns the iteration count. */
static int32_t iterations(const ql_loop_params *p) {
    enum { ROWS = 3, D = 4 };
    float h[ROWS * D], prev[ROWS * D];
    memset(h, 0, sizeof h);
    int32_t done = 0, cap = ql_loop_cap(p, 0);
    while (done < cap) {
        memcpy(prev, h, sizeof h);
        memset(h, 0, sizeof h);
        int axis = done < 3 ? done : 2;
        for (int r = 0; r < ROWS; r++) h[r * D + axis] = 1.0f + (float)r;
        done++;
        if (ql_loop_stop(p, 0, done, h, prev, ROWS, D)) break;
    }
    return done;
}

static ql_loop_params dyn(ql_loop_kv_mode kv, int32_t min, int32_t max, int32_t v, float thr) {
    ql_loop_params p = ql_loop_params_default();
    p.n_blocks = 1;
    p.blocks[0] = ql_loop_block_default(0, 0);
    p.blocks[0].min_loop_count = min;
    p.blocks[0].max_loop_count = max;
    p.blocks[0].virtual_layer_count = v;
    p.strategy = QL_LOOP_DYNAMIC;
    p.kv_mode = kv;
    p.cosine_threshold = thr;
    return p;
}

static void test_dynamic_stop_counts(void) {
    ql_loop_params p = dyn(QL_LOOP_KV_MERGE, 5, 20, 5, 0.95f);
    CHECK_EQ_INT(iterations(&p), 4); /* min is not enforced in merge mode */
    p = dyn(QL_LOOP_KV_VIRTUAL, 6, 20, 2, 0.95f);
    CHECK_EQ_INT(iterations(&p), 6);
    p = dyn(QL_LOOP_KV_VIRTUAL, 2, 20, 2, 0.95f);
    CHECK_EQ_INT(iterations(&p), 4);
    p = dyn(QL_LOOP_KV_MERGE, 5, 3, 5, 0.95f);
    CHECK_EQ_INT(iterations(&p), 3); /* never past max_loop_count */
    p = dyn(QL_LOOP_KV_MERGE, 5, 1, 5, 0.95f);
    CHECK_EQ_INT(iterations(&p), 1);
    p = dyn(QL_LOOP_KV_MERGE, 5, 17, 5, 1.0f + 1e-6f);
    CHECK_EQ_INT(iterations(&p), 17); /* threshold above 1 never stops early */
    p = dyn(QL_LOOP_KV_MERGE, 5, 17, 5, 0.0f);
    CHECK_EQ_INT(iterations(&p), 2); /* the first cosine is taken after iteration 2 */
    /* fixed_count: min(loop_count, max_loop_count); <= 0 skips the block */
    p.strategy = QL_LOOP_FIXED;
    p.blocks[0].loop_count = 7;
    CHECK_EQ_INT(ql_loop_cap(&p, 0), 7);
    p.blocks[0].max_loop_count = 3;
    CHECK_EQ_INT(ql_loop_cap(&p, 0), 3);
    p.blocks[0].loop_count = 0;
    CHECK_EQ_INT(ql_loop_cap(&p, 0), 0);
}

static void test_mean_cosine(void) {
    const float a[6] = {1, 0, 0, 3, 4, 0}, b[6] = {0, 2, 0, 6, 8, 0};
    CHECK_NEAR(ql_loop_mean_cosine(a, b, 2, 3), 0.5, 1e-12);
    const float z[3] = {0, 0, 0};
    CHECK_NEAR(ql_loop_mean_cosine(z, a, 1, 3), 0.0, 1e-12); /* eps keeps it finite */
}

/* ---- spec test 9 ------------------------------------------------------------------- */

static ql_model *g_model;

/* Marks slot rows the way a forward pass writes them (value = 100 * iteration + token)
 * for n_iter iterations of layer l on a chunk of n_tok tokens at position pos. */
static void mark_iterations(ql_session *s, int l, int32_t pos, int64_t n_tok, int32_t n_iter) {
    s->pos = pos;
    for (int32_t i = 0; i < n_iter; i++) {
        ql_kv_step st = ql_loop_kv_step(s, l, i, n_tok);
        for (int64_t t = 0; t < n_tok; t++) {
            size_t at = ((size_t)st.slot * (size_t)s->n_ctx + (size_t)(pos + t)) * (size_t)s->kv_dim;
            for (int64_t c = 0; c < s->kv_dim; c++) {
                s->k_cache[at + c] = (float)(100 * i + t);
                s->v_cache[at + c] = (float)(-100 * i - t);
            }
        }
    }
}

static float slot_at(const ql_session *s, int l, int32_t j, int32_t p) {
    return s->k_cache[((size_t)(s->loop.slot0[l] + j) * (size_t)s->n_ctx + (size_t)p) * (size_t)s->kv_dim];
}

static void ring_case(ql_loop_attn attn) {
    enum { V = 3, L = 1 };
    ql_session_params sp = ql_session_params_default();
    sp.n_ctx = 32;
    sp.n_threads = 1;
    ql_session *s = NULL;
    ql_error e = {0};
    CHECK(ql_session_new(g_model, &sp, &s, &e) == QL_OK);
    if (!s) return;
    ql_loop_params p = dyn(QL_LOOP_KV_VIRTUAL, V, 20, V, 0.95f);
    p.blocks[0] = ql_loop_block_default(1, 2);
    p.blocks[0].virtual_layer_count = p.blocks[0].min_loop_count = V;
    p.attn = attn;
    CHECK_MSG(ql_session_set_loop(s, &p, &e) == QL_OK, "%s", e.message);
    CHECK_EQ_INT(s->loop.n_slot[L], V);
    mark_iterations(s, L, 0, 4, 7);   /* prefill of 4 tokens, 7 iterations */
    mark_iterations(s, L, 4, 1, 5);   /* one token, 5 iterations */
    mark_iterations(s, L, 5, 2, V);   /* two tokens, V iterations */
    int32_t n_of[7] = {7, 7, 7, 7, 5, 3, 3}, first_of[7] = {0, 0, 0, 0, 4, 5, 5};
    for (int32_t pos = 0; pos < 7; pos++)
        for (int32_t j = 0; j < V; j++) {
            int32_t n = n_of[pos], it;
            if (attn == QL_LOOP_ATTN_PARALLEL) {
                it = n - V + j; /* FIFO: slot j holds iteration n - V + j */
            } else {
                it = j + V * ((n - 1 - j) / V); /* the last iteration = j mod V */
            }
            float want = (float)(100 * it + (pos - first_of[pos]));
            CHECK_MSG(slot_at(s, L, j, pos) == want, "%s pos %d slot %d: %g, want iteration %d",
                      attn == QL_LOOP_ATTN_PARALLEL ? "parallel" : "serial", pos, j,
                      slot_at(s, L, j, pos), it);
        }
    ql_session_free(s);
}

static void test_ring_contents_parallel_fifo(void) { ring_case(QL_LOOP_ATTN_PARALLEL); }
static void test_ring_contents_serial_modulo(void) { ring_case(QL_LOOP_ATTN_SERIAL); }

int main(void) {
    char path[512];
    ql_error e = {0};
    if (ql_model_load(ql_test_shared(path, sizeof path, "models/stories260K.gguf"), NULL, &g_model, &e)) {
        fprintf(stderr, "%s\n", e.message);
        return 1;
    }
    RUN(test_merge_rules_on_hand_made_vectors);
    RUN(test_dynamic_stop_counts);
    RUN(test_mean_cosine);
    RUN(test_ring_contents_parallel_fifo);
    RUN(test_ring_contents_serial_modulo);
    ql_model_free(g_model);
    return TEST_REPORT();
}
