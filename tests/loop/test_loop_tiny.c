/*
 * tests/loop/test_loop_tiny.c: shared/models/tiny-loop, a looped model trained here
 * (layers 2-3 a loop block; shared/models/README.md), against its float64 references:
 *  - logits at positions 56..63 for loop counts n = 1, 2, 4, 6 (virtual_layers + serial
 *    with V = n, which equals the uncached reference; merge `last` in one batch too) within
 *    1e-4 * max |ref|, batched and token by token;
 *  - greedy 24 tokens at n = 4 through the KV cache == generation_nocache_n4;
 *  - dynamic (cosine) stop: identical stop decisions, statistics and tokens with 1 and 2
 *    threads.
 */
#include <jansson.h>
#include <stdint.h>

#include "qloop.h"
#include "test.h"

enum { FIRST_POS = 56, N_POS = 8 };

static ql_model *g_model;
static json_t *g_ref;
static int32_t g_ids[64];
static int g_n_ids;
static int32_t g_vocab;

static ql_loop_params loop_n(int32_t n, ql_loop_kv_mode kv) {
    ql_loop_params p = ql_loop_params_default();
    p.n_blocks = 1;
    p.blocks[0] = ql_loop_block_default(2, 3);
    p.blocks[0].loop_count = p.blocks[0].virtual_layer_count = p.blocks[0].min_loop_count = n;
    p.blocks[0].max_loop_count = 8 > n ? 8 : n;
    p.kv_mode = kv;
    p.attn = QL_LOOP_ATTN_SERIAL;
    p.merge = QL_LOOP_MERGE_LAST;
    return p;
}

static ql_session *session(const ql_loop_params *p, int n_threads) {
    ql_session_params sp = ql_session_params_default();
    sp.n_threads = n_threads;
    sp.n_ctx = 128;
    ql_session *s = NULL;
    ql_error e = {0};
    CHECK_MSG(ql_session_new(g_model, &sp, &s, &e) == QL_OK, "%s", e.message);
    if (s && p) CHECK_MSG(ql_session_set_loop(s, p, &e) == QL_OK, "%s", e.message);
    return s;
}

static void check_logits(int32_t n, const ql_loop_params *p, bool incremental, const char *what) {
    char rel[128], path[512];
    snprintf(rel, sizeof rel, "models/tiny-loop/logits_n%d.f32", n);
    size_t len = 0;
    float *ref = (float *)ql_test_read_file(ql_test_shared(path, sizeof path, rel), &len);
    CHECK(ref && len == (size_t)N_POS * (size_t)g_vocab * sizeof(float));
    ql_session *s = session(p, 2);
    if (!ref || !s) {
        free(ref);
        ql_session_free(s);
        return;
    }
    float *out = malloc((size_t)g_n_ids * (size_t)g_vocab * sizeof *out);
    ql_error e = {0};
    if (incremental) {
        for (int i = 0; i < g_n_ids; i++)
            CHECK(ql_session_eval(s, g_ids + i, 1, out + (size_t)i * (size_t)g_vocab, false, &e) == QL_OK);
    } else {
        CHECK(ql_session_eval(s, g_ids, (size_t)g_n_ids, out, true, &e) == QL_OK);
    }
    double r = 0, d = 0;
    for (size_t i = 0; i < (size_t)N_POS * (size_t)g_vocab; i++) {
        double a = out[(size_t)FIRST_POS * (size_t)g_vocab + i], b = ref[i];
        if (fabs(b) > r) r = fabs(b);
        if (fabs(a - b) > d) d = fabs(a - b);
    }
    CHECK_MSG(d <= 1e-4 * r, "n = %d %s %s: max |diff| %g > 1e-4 * %g", n, what,
              incremental ? "token by token" : "batched", d, r);
    ql_loop_stats st;
    ql_session_loop_stats(s, &st);
    CHECK_EQ_INT(st.blocks[0].last_iterations, n);
    free(out);
    free(ref);
    ql_session_free(s);
}

static void test_logits_match_the_references(void) {
    const int32_t ns[] = {1, 2, 4, 6};
    for (int i = 0; i < 4; i++) {
        ql_loop_params p = loop_n(ns[i], QL_LOOP_KV_VIRTUAL);
        check_logits(ns[i], &p, false, "virtual serial");
        check_logits(ns[i], &p, true, "virtual serial");
        p = loop_n(ns[i], QL_LOOP_KV_MERGE);
        check_logits(ns[i], &p, false, "merge last");
    }
}

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Greedy tokens after the reference prompt; fills the session's statistics. */
static int greedy(ql_session *s, int32_t *out, int n_out) {
    const json_t *g = json_object_get(g_ref, "generation_nocache_n4");
    const json_t *prompt = json_object_get(g, "prompt_ids");
    int32_t ids[16];
    int n = (int)json_array_size(prompt);
    for (int i = 0; i < n && i < 16; i++) ids[i] = (int32_t)json_integer_value(json_array_get(prompt, i));
    float *logits = malloc((size_t)g_vocab * sizeof *logits);
    ql_error e = {0};
    CHECK(ql_session_eval(s, ids, (size_t)n, logits, false, &e) == QL_OK);
    for (int i = 0; i < n_out; i++) {
        out[i] = argmax(logits, g_vocab);
        CHECK(ql_session_eval(s, &out[i], 1, logits, false, &e) == QL_OK);
    }
    free(logits);
    return n;
}

static void test_greedy_n4_matches_the_uncached_reference(void) {
    const json_t *want = json_object_get(json_object_get(g_ref, "generation_nocache_n4"), "output_ids_nocache");
    int n = (int)json_array_size(want);
    CHECK_EQ_INT(n, 24);
    ql_loop_params p = loop_n(4, QL_LOOP_KV_VIRTUAL);
    ql_session *s = session(&p, 2);
    if (!s) return;
    int32_t got[24];
    greedy(s, got, 24);
    for (int i = 0; i < 24; i++)
        CHECK_MSG(got[i] == json_integer_value(json_array_get(want, i)), "token %d: %d vs %lld", i,
                  got[i], (long long)json_integer_value(json_array_get(want, i)));
    ql_session_free(s);
}

static void test_cosine_stop_is_the_same_for_any_thread_count(void) {
    ql_loop_params p = loop_n(4, QL_LOOP_KV_MERGE);
    p.strategy = QL_LOOP_DYNAMIC;
    p.merge = QL_LOOP_MERGE_EMA;
    p.cosine_threshold = 0.95f;
    int32_t tok[2][24];
    ql_loop_stats st[2];
    for (int k = 0; k < 2; k++) {
        ql_session *s = session(&p, k + 1);
        if (!s) return;
        greedy(s, tok[k], 24);
        ql_session_loop_stats(s, &st[k]);
        ql_session_free(s);
    }
    CHECK(memcmp(tok[0], tok[1], sizeof tok[0]) == 0);
    CHECK(memcmp(st[0].blocks[0].hist, st[1].blocks[0].hist, sizeof st[0].blocks[0].hist) == 0);
    CHECK_EQ_INT(st[0].blocks[0].iterations, st[1].blocks[0].iterations);
    CHECK_EQ_INT(st[0].forwards, 25);
    CHECK_EQ_INT(st[0].tokens, 8 + 24);
    /* the README's convergence table: nearly every token stops after 2 passes */
    CHECK_MSG(st[0].blocks[0].mean_iterations >= 2.0 && st[0].blocks[0].mean_iterations < 3.0,
              "mean iterations %g", st[0].blocks[0].mean_iterations);
    CHECK_EQ_INT(st[0].blocks[0].slots_written, 2 * st[0].blocks[0].token_iterations);
}

static void test_model_settings_come_from_config_json(void) {
    ql_loop_params p;
    ql_model_get_loop(g_model, &p);
    if (p.n_blocks == 0) {
        fprintf(stderr, "note: the HF loader does not import loop settings yet; skipped\n");
        return;
    }
    CHECK_EQ_INT(p.n_blocks, 1);
    CHECK_EQ_INT(p.blocks[0].start, 2);
    CHECK_EQ_INT(p.blocks[0].loop_count, 4);
    CHECK_EQ_INT(p.attn, QL_LOOP_ATTN_SERIAL);
    ql_session *s = session(NULL, 2); /* a new session runs the model's own settings */
    if (!s) return;
    const json_t *want = json_object_get(json_object_get(g_ref, "generation_nocache_n4"), "output_ids_nocache");
    int32_t got[24];
    greedy(s, got, 24);
    for (int i = 0; i < 24; i++) CHECK(got[i] == json_integer_value(json_array_get(want, i)));
    ql_session_free(s);
}

int main(void) {
    char path[512];
    ql_error e = {0};
    if (ql_model_load(ql_test_shared(path, sizeof path, "models/tiny-loop"), NULL, &g_model, &e)) {
        fprintf(stderr, "%s\n", e.message);
        return 1;
    }
    json_error_t je;
    g_ref = json_load_file(ql_test_shared(path, sizeof path, "models/tiny-loop/reference.json"), 0, &je);
    if (!g_ref) return 1;
    const json_t *ids = json_object_get(g_ref, "input_ids");
    g_n_ids = (int)json_array_size(ids);
    for (int i = 0; i < g_n_ids && i < 64; i++) g_ids[i] = (int32_t)json_integer_value(json_array_get(ids, i));
    ql_model_info info;
    ql_model_get_info(g_model, &info);
    g_vocab = info.n_vocab;
    RUN(test_logits_match_the_references);
    RUN(test_greedy_n4_matches_the_uncached_reference);
    RUN(test_cosine_stop_is_the_same_for_any_thread_count);
    RUN(test_model_settings_come_from_config_json);
    json_decref(g_ref);
    ql_model_free(g_model);
    return TEST_REPORT();
}
