/*
 * tests/loop/test_loop_ppl.c: `qloop perplexity` with loop options, on shared/models/tiny-loop
 * and the first N_WIN windows of shared/data/corpus/valid.txt (the README's protocol: BOS +
 * the first 255 tokens of each 256-token window, all 256 scored). A consistency test, not
 * a copy of the README's numbers:
 *  - `--loop-count 4` (virtual + serial, V = 4) and `--loop-kv merge --loop-count 4` give the
 *    mean NLL computed here, in this file's own scoring, from the logits of an in-memory
 *    unrolled copy of the model (layers [0,1] + [2,3] x 4 + [4,5], no loop settings; the
 *    README's definition of the loop without a cache), and ql_perplexity() on that copy;
 *    the same for n = 2 (merge: a window is one batch from an empty cache, so each
 *    iteration sees only its own K/V, as without a cache);
 *  - `--loop-stop cosine`: -t 1 and -t 2 give identical iteration counts (histograms and
 *    sums), at 0.95 (README: about 2 passes) and at a threshold that splits the windows
 *    between 2 and 3 iterations; a cosine run whose windows all stopped at k iterations
 *    has the NLL of the fixed count k.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>

#include "model/model.h"
#include "qloop.h"
#include "test.h"

enum { CTX = 256, N_WIN = 2 }; /* 2 windows: about a minute under ASan */

static ql_model *g_model;
static char g_model_path[512], g_text_path[512];
static int32_t *g_ids; /* N_WIN * CTX tokens of valid.txt, no BOS */
static int32_t g_vocab, g_bos;

/* ---- the CLI ----------------------------------------------------------------------- */

/* Runs `qloop perplexity ... --json EXTRA` on the first N_WIN windows; the parsed object. */
static json_t *cli_ppl(const char *extra) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' perplexity -m '%s' -f '%s' --chunks %d --ctx %d --json %s",
             QL_CLI_PATH, g_model_path, g_text_path, N_WIN, CTX, extra);
    FILE *f = popen(cmd, "r");
    CHECK_MSG(f != NULL, "%s", cmd);
    if (!f) return NULL;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    int rc = pclose(f);
    CHECK_MSG(rc == 0, "%s: exit status %d", cmd, rc);
    json_error_t je;
    json_t *j = json_loads(buf, 0, &je);
    CHECK_MSG(j != NULL, "%s: not JSON: %s", cmd, buf);
    if (j) {
        CHECK_EQ_INT(json_integer_value(json_object_get(j, "windows")), N_WIN);
        CHECK_EQ_INT(json_integer_value(json_object_get(j, "tokens")), N_WIN * CTX);
    }
    return j;
}

static double jnum(const json_t *j, const char *key) {
    return json_number_value(json_object_get(j, key));
}

/* The first loop block's statistics object of a CLI result. */
static const json_t *jblock(const json_t *j) {
    return json_array_get(json_object_get(json_object_get(j, "loop"), "blocks"), 0);
}

/* ---- the API: an unrolled copy, scored here ------------------------------------------ */

/* Physical layer of layer i of the model with block s..e repeated n times. */
static int unrolled_source(int i, int s, int e, int n) {
    int len = e - s + 1;
    if (i < s) return i;
    if (i < s + n * len) return s + (i - s) % len;
    return i - (n - 1) * len;
}

/* An in-memory copy of m with layers s..e repeated n times (weights shared), no loop. */
static ql_model *unroll_in_memory(const ql_model *m, int s, int e, int n) {
    ql_model *u = malloc(sizeof *u);
    *u = *m;
    memset(&u->loop, 0, sizeof u->loop);
    int n_new = m->hp.n_layer + (n - 1) * (e - s + 1);
    u->layers = malloc((size_t)n_new * sizeof *u->layers);
    for (int i = 0; i < n_new; i++) u->layers[i] = m->layers[unrolled_source(i, s, e, n)];
    u->hp.n_layer = n_new;
    return u;
}

static void free_unrolled(ql_model *u) {
    if (!u) return;
    free(u->layers);
    free(u);
}

/* Mean NLL over the N_WIN windows of the plain (unlooped) model u, each window one
 * batched evaluation from an empty cache, scored here in long double. */
static double nll_of(const ql_model *u) {
    ql_session_params sp = ql_session_params_default();
    sp.n_ctx = CTX;
    sp.n_batch = CTX;
    sp.n_threads = 2;
    ql_session *s = NULL;
    ql_error e = {0};
    CHECK_MSG(ql_session_new(u, &sp, &s, &e) == QL_OK, "%s", e.message);
    float *lg = malloc((size_t)CTX * (size_t)g_vocab * sizeof *lg);
    int32_t in[CTX];
    long double sum = 0;
    for (int w = 0; s && lg && w < N_WIN; w++) {
        const int32_t *t = g_ids + (size_t)w * CTX;
        in[0] = g_bos;
        memcpy(in + 1, t, (CTX - 1) * sizeof *in);
        ql_session_reset(s);
        CHECK(ql_session_eval(s, in, CTX, lg, true, &e) == QL_OK);
        for (int r = 0; r < CTX; r++) {
            const float *x = lg + (size_t)r * (size_t)g_vocab;
            float mx = x[0];
            for (int v = 1; v < g_vocab; v++) mx = x[v] > mx ? x[v] : mx;
            long double z = 0;
            for (int v = 0; v < g_vocab; v++) z += expl((long double)x[v] - mx);
            sum += logl(z) + mx - (long double)x[t[r]];
        }
    }
    free(lg);
    ql_session_free(s);
    return (double)(sum / (N_WIN * CTX));
}

static double api_ppl_nll(const ql_model *u) {
    ql_perplexity_params p = ql_perplexity_params_default();
    p.n_ctx = CTX;
    p.n_chunks = N_WIN;
    p.n_threads = 2;
    ql_perplexity_result r;
    ql_error e = {0};
    ql_status st = ql_perplexity(u, NULL, g_ids, (size_t)N_WIN * CTX, &p, &r, &e);
    CHECK_MSG(st == QL_OK, "%s", e.message);
    CHECK_EQ_INT(r.n_tokens, N_WIN * CTX);
    return st == QL_OK ? r.nll : NAN;
}

/* ---- tests ------------------------------------------------------------------------- */

/* NLLs agree to well below the 1% table tolerance: the CLI prints 9 decimals; the scoring
 * sums differ only in order and precision (double vs long double). */
#define NLL_TOL 2e-6

/* NLL of `--loop-count n EXTRA` through the CLI; 0 when it failed. */
static double cli_fixed_nll(int n, const char *extra) {
    char opts[256];
    snprintf(opts, sizeof opts, "-t 2 --loop-count %d %s", n, extra);
    json_t *j = cli_ppl(opts);
    if (!j) return 0;
    const json_t *b = jblock(j);
    CHECK_EQ_INT(json_integer_value(json_object_get(b, "min_iterations")), n);
    CHECK_EQ_INT(json_integer_value(json_object_get(b, "max_iterations")), n);
    CHECK_EQ_INT(json_integer_value(json_object_get(b, "forwards")), N_WIN);
    CHECK_MSG(fabs(jnum(j, "ppl") / exp(jnum(j, "nll")) - 1.0) <= 1e-5, "%s: ppl %.6f", opts,
              jnum(j, "ppl"));
    double nll = jnum(j, "nll");
    json_decref(j);
    return nll;
}

static double g_nll4_virtual, g_nll2_merge;

/* n = 4: virtual + serial with V = 4 (--loop-count's default) and merge (ema: the merge
 * rule only matters for later chunks) == the unrolled copy, scored here and by
 * ql_perplexity(). */
static void test_loop_count_4_equals_the_unrolled_model(void) {
    ql_model *u = unroll_in_memory(g_model, 2, 3, 4);
    double ref = nll_of(u), api = api_ppl_nll(u);
    free_unrolled(u);
    CHECK_MSG(isfinite(ref) && ref > 1.0 && ref < 10.0, "NLL %g", ref);
    CHECK_NEAR(api, ref, NLL_TOL);
    g_nll4_virtual = cli_fixed_nll(4, "");
    CHECK_NEAR(g_nll4_virtual, ref, NLL_TOL);
    double merge = cli_fixed_nll(4, "--loop-kv merge");
    CHECK_NEAR(merge, ref, NLL_TOL);
    printf("n = 4: unrolled %.9f, ql_perplexity %.9f, CLI virtual %.9f, CLI merge %.9f\n", ref,
           api, g_nll4_virtual, merge);
}

static void test_loop_count_2_equals_the_unrolled_model(void) {
    ql_model *u = unroll_in_memory(g_model, 2, 3, 2);
    double ref = nll_of(u);
    free_unrolled(u);
    g_nll2_merge = cli_fixed_nll(2, "--loop-kv merge --loop-merge last");
    CHECK_NEAR(g_nll2_merge, ref, NLL_TOL);
    CHECK_MSG(fabs(ref - g_nll4_virtual) > 1e-4, "n = 2 and n = 4 give the same NLL %g", ref);
}

/* Without loop options the CLI runs ql_perplexity() with the model's own settings (n = 4,
 * V = 4, serial): the same NLL as the looped path. */
static void test_model_settings_path_agrees(void) {
    json_t *a = cli_ppl("-t 2");
    if (a) CHECK_NEAR(jnum(a, "nll"), g_nll4_virtual, NLL_TOL);
    CHECK(a && json_object_get(a, "loop") == NULL); /* ql_perplexity: no session stats */
    json_decref(a);
}

static void check_cosine(const char *cos, int lo, int hi) {
    char extra[256];
    json_t *j[2] = {NULL, NULL};
    for (int t = 0; t < 2; t++) {
        snprintf(extra, sizeof extra, "-t %d --loop-stop cosine --loop-cos %s --loop-kv merge",
                 t + 1, cos);
        j[t] = cli_ppl(extra);
    }
    if (j[0] && j[1]) {
        const json_t *b0 = jblock(j[0]), *b1 = jblock(j[1]);
        char *h0 = json_dumps(json_object_get(b0, "hist"), JSON_SORT_KEYS),
             *h1 = json_dumps(json_object_get(b1, "hist"), JSON_SORT_KEYS);
        CHECK_MSG(h0 && h1 && !strcmp(h0, h1), "cos %s: -t 1 %s, -t 2 %s", cos, h0, h1);
        CHECK_EQ_INT(json_integer_value(json_object_get(b0, "iterations")),
                     json_integer_value(json_object_get(b1, "iterations")));
        CHECK_EQ_INT(json_integer_value(json_object_get(b0, "forwards")), N_WIN);
        double mean = jnum(b0, "mean_iterations");
        int mn = (int)json_integer_value(json_object_get(b0, "min_iterations"));
        int mx = (int)json_integer_value(json_object_get(b0, "max_iterations"));
        CHECK_MSG(mn >= lo && mx <= hi, "cos %s: iterations %d..%d, expected within %d..%d", cos,
                  mn, mx, lo, hi);
        CHECK_MSG(mean >= mn && mean <= mx, "cos %s: mean %g", cos, mean);
        printf("cosine %s: iterations %s, mean %.4f, NLL %.6f (-t 1) %.6f (-t 2)\n", cos, h0, mean,
               jnum(j[0], "nll"), jnum(j[1], "nll"));
        /* every window stopped after 2 iterations: the NLL of the fixed count 2 */
        if (mn == mx && mn == 2) CHECK_NEAR(jnum(j[1], "nll"), g_nll2_merge, NLL_TOL);
        free(h0);
        free(h1);
    }
    json_decref(j[0]);
    json_decref(j[1]);
}

/* README: at 0.95 almost every token stops after 2 passes (mean cosine 0.98 at pass 2). */
static void test_cosine_095_stops_after_2_with_any_thread_count(void) { check_cosine("0.95", 2, 2); }

/* Between the two windows' mean cosines at pass 2: one stops at 2, the other at 3, still identical for
 * 1 and 2 threads (the decision is computed in a fixed order). */
static void test_cosine_split_decisions_with_any_thread_count(void) { check_cosine("0.9785", 2, 4); }

static void test_invalid_loop_settings_are_usage_errors(void) {
    char cmd[2048];
    /* virtual mode: V = 4 from the model but min 2 < V */
    snprintf(cmd, sizeof cmd,
             "'%s' perplexity -m '%s' -f '%s' --chunks 1 --loop-count 4 --loop-slots 4 "
             "--loop-min 2 >/dev/null 2>&1", QL_CLI_PATH, g_model_path, g_text_path);
    int rc = system(cmd);
    CHECK_MSG(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "%s: status %d", cmd, rc);
    snprintf(cmd, sizeof cmd, "'%s' perplexity -m '%s' -f '%s' --loop-kv bogus >/dev/null 2>&1",
             QL_CLI_PATH, g_model_path, g_text_path);
    rc = system(cmd);
    CHECK_MSG(WIFEXITED(rc) && WEXITSTATUS(rc) == 2, "%s: status %d", cmd, rc);
}

/* The first N_WIN * CTX tokens of valid.txt, tokenized as `qloop perplexity` does (a
 * prefix cut at a line break far past them). */
static bool load_ids(void) {
    size_t len = 0;
    char *text = ql_test_read_file(g_text_path, &len);
    if (!text) return false;
    size_t n = (size_t)N_WIN * CTX * 32;
    while (n < len && text[n] != '\n') n++;
    if (n > len) n = len;
    size_t need = 0;
    ql_error e = {0};
    ql_status st = ql_tokenize(g_model, text, n, false, false, NULL, 0, &need, &e);
    g_ids = need >= (size_t)N_WIN * CTX && (st == QL_OK || st == QL_ERR_RANGE)
                ? malloc(need * sizeof *g_ids)
                : NULL;
    st = g_ids ? ql_tokenize(g_model, text, n, false, false, g_ids, need, &need, &e) : QL_ERR_ARG;
    free(text);
    return st == QL_OK;
}

int main(void) {
    ql_error e = {0};
    ql_test_shared(g_model_path, sizeof g_model_path, "models/tiny-loop");
    ql_test_shared(g_text_path, sizeof g_text_path, "data/corpus/valid.txt");
    if (ql_model_load(g_model_path, NULL, &g_model, &e)) {
        fprintf(stderr, "%s\n", e.message);
        return 1;
    }
    ql_model_info info;
    ql_model_get_info(g_model, &info);
    g_vocab = info.n_vocab;
    g_bos = info.bos_id;
    if (g_bos < 0 || !load_ids()) {
        fprintf(stderr, "cannot tokenize %s\n", g_text_path);
        return 1;
    }
    RUN(test_loop_count_4_equals_the_unrolled_model);
    RUN(test_loop_count_2_equals_the_unrolled_model);
    RUN(test_model_settings_path_agrees);
    RUN(test_cosine_095_stops_after_2_with_any_thread_count);
    RUN(test_cosine_split_decisions_with_any_thread_count);
    RUN(test_invalid_loop_settings_are_usage_errors);
    free(g_ids);
    ql_model_free(g_model);
    return TEST_REPORT();
}
