/*
 * tests/convert/test_convert_q8_0.c CASE: `qloop quantize CASE_DIR out.gguf --type q8_0`
 * straight from a shared/fixtures/hf folder (converted and quantized in one pass), then:
 *  - top-1 agreement with transformers' argmax over the stored logits positions >= 95%,
 *    counting the positions q8_0 can decide: near ties of reference.json and positions whose
 *    top1 - top2 gap is below 2 sqrt(2) x the RMS q8_0 logit error of that row (two
 *    standard deviations of the difference of two logits' errors) are listed, not counted.
 *    The raw agreement over every position is printed too. These fixtures have random
 *    weights and gaps of 0.003..0.1, where q8_0's ~1% weight error moves logits by ~0.03;
 *  - greedy generation from prompt_ids keeps output_ids for all 24 steps, or the step where
 *    it diverges is reported with why: there the reference's top1 - top2 gap is below 3x the
 *    q8_0 logit error measured on the stored positions, so q8_0 rounding may flip it. A
 *    divergence at a step with a wider gap fails.
 * QLOOP_TEST_Q8_0_RTN=1 quantizes with --rtn (round-to-nearest scales) instead of the
 * error-minimising search, to compare the two; the pass rule is the same.
 */
#include <limits.h>
#include <sys/wait.h>

#include "hf/hf_common.h"

static const char *g_case;
static char g_dir[PATH_MAX];
static json_t *g_ref;
static float *g_ref_logits;
static int32_t g_n_vocab;
static ql_model *g_q8;
static double g_q8_err; /* max |q8_0 - ref| over the stored positions */
static char g_out[PATH_MAX + 32];
static bool g_rtn; /* QLOOP_TEST_Q8_0_RTN: --rtn instead of the search */

static bool near_tie(size_t pos) {
    const json_t *t = json_object_get(g_ref, "argmax_near_tie_positions");
    for (size_t i = 0; i < json_array_size(t); i++)
        if ((size_t)json_integer_value(json_array_get(t, i)) == pos) return true;
    return false;
}

static void test_q8_0_top1_agreement(void) {
    size_t n;
    int32_t *ids = hf_ids(json_object_get(g_ref, "input_ids"), &n);
    float *got = hf_logits(g_q8, ids, n, 2, false);
    const json_t *pos = json_object_get(g_ref, "logits_positions");
    size_t agree = 0, counted = 0, raw = 0;
    double max_ref = 0, sum_rms = 0;
    for (size_t i = 0; got && i < json_array_size(pos); i++) {
        size_t p = (size_t)json_integer_value(json_array_get(pos, i));
        const float *q = got + p * (size_t)g_n_vocab, *r = g_ref_logits + i * (size_t)g_n_vocab;
        double mr, d = hf_max_diff(q, r, (size_t)g_n_vocab, &mr), ss = 0;
        if (d > g_q8_err) g_q8_err = d;
        if (mr > max_ref) max_ref = mr;
        for (int32_t v = 0; v < g_n_vocab; v++) ss += ((double)q[v] - r[v]) * ((double)q[v] - r[v]);
        double rms = sqrt(ss / g_n_vocab);
        sum_rms += rms;
        double gap = json_real_value(json_array_get(json_object_get(g_ref, "argmax_top1_top2_gap"), p));
        bool same = hf_argmax(q, g_n_vocab) == hf_argmax(r, g_n_vocab);
        raw += same;
        if (near_tie(p) || gap < 2 * sqrt(2.0) * rms) {
            if (!same)
                printf("%s q8_0: position %zu differs: gap %.4g < q8_0 noise %.4g (not counted)\n",
                       g_case, p, gap, 2 * sqrt(2.0) * rms);
            continue;
        }
        counted++;
        agree += same;
        if (!same) printf("%s q8_0: position %zu differs: gap %.4g\n", g_case, p, gap);
    }
    double frac = counted ? (double)agree / (double)counted : 0;
    size_t n_pos = json_array_size(pos);
    printf("%s q8_0 (%s): top-1 agreement %zu/%zu decidable (%.1f%%), raw %zu/%zu (%.1f%%), max "
           "|diff| %.3g (%.3g of max |ref|), mean RMS logit error %.4g\n",
           g_case, g_rtn ? "rtn" : "search", agree, counted, 100 * frac, raw, n_pos,
           n_pos ? 100.0 * (double)raw / (double)n_pos : 0, g_q8_err,
           g_q8_err / (max_ref > 1 ? max_ref : 1), n_pos ? sum_rms / (double)n_pos : 0.0);
    CHECK_MSG(frac >= 0.95, "%s q8_0: top-1 agreement %.1f%% < 95%%", g_case, 100 * frac);
    free(got);
    free(ids);
}

static void test_q8_0_greedy(void) {
    size_t n_prompt, n_gen;
    int32_t *prompt = hf_ids(json_object_get(g_ref, "prompt_ids"), &n_prompt);
    int32_t *want = hf_ids(json_object_get(g_ref, "output_ids"), &n_gen);
    const json_t *gaps = json_object_get(json_object_get(g_ref, "generation"), "step_top1_top2_gap");
    ql_session *s = hf_session(g_q8, 2, (int)(n_prompt + n_gen + 8));
    float *logits = malloc((size_t)g_n_vocab * sizeof *logits);
    ql_error e = {0};
    CHECK_MSG(ql_session_eval(s, prompt, n_prompt, logits, false, &e) == QL_OK, "%s", e.message);
    size_t i;
    for (i = 0; i < n_gen; i++) {
        int32_t got = hf_argmax(logits, g_n_vocab);
        if (got != want[i]) {
            double ref_gap = json_real_value(json_array_get(gaps, i));
            double q_gap = (double)logits[got] - (double)logits[want[i]];
            printf("%s q8_0: greedy diverges at step %zu: %d instead of %d; transformers' "
                   "top1-top2 gap there is %.4g, q8_0 prefers %d by %.4g, q8_0 logit error on the "
                   "stored positions is up to %.4g\n",
                   g_case, i, got, want[i], ref_gap, got, q_gap, g_q8_err);
            CHECK_MSG(ref_gap < 3 * g_q8_err,
                      "%s q8_0: divergence at step %zu where the reference gap %.4g is not "
                      "within 3x the q8_0 error %.4g",
                      g_case, i, ref_gap, g_q8_err);
            break;
        }
        CHECK_MSG(ql_session_eval(s, &got, 1, logits, false, &e) == QL_OK, "%s", e.message);
    }
    if (i == n_gen) printf("%s q8_0: greedy keeps all %zu tokens\n", g_case, n_gen);
    free(logits);
    ql_session_free(s);
    free(prompt);
    free(want);
}

/* qloop quantize CASE_DIR out.gguf --type q8_0, then load it. */
static void test_quantize_folder_to_q8_0(void) {
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s' --type q8_0 -t 2%s", QL_CLI_PATH, g_dir, g_out,
             g_rtn ? " --rtn" : "");
    int rc = system(cmd);
    CHECK_MSG(rc == 0, "%s: qloop quantize exited with %d", cmd, rc);
    ql_error e = {0};
    if (rc == 0)
        CHECK_MSG(ql_model_load(g_out, NULL, &g_q8, &e) == QL_OK, "%s: %s", g_out, e.message);
    if (!g_q8) return;
    ql_model_info info;
    ql_model_get_info(g_q8, &info);
    printf("%s q8_0: weights %s\n", g_case, info.weight_type);
    CHECK(!strcmp(info.weight_type, "q8_0"));
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE\n", argv[0]);
        return 2;
    }
    g_case = argv[1];
    const char *rtn = getenv("QLOOP_TEST_Q8_0_RTN");
    g_rtn = rtn && *rtn && strcmp(rtn, "0") != 0;
    char rel[256], path[PATH_MAX + 32], tmp[PATH_MAX];
    snprintf(rel, sizeof rel, "fixtures/hf/%s", g_case);
    ql_test_shared(g_dir, sizeof g_dir, rel);
    snprintf(path, sizeof path, "%s/reference.json", g_dir);
    json_error_t je;
    g_ref = json_load_file(path, 0, &je);
    snprintf(path, sizeof path, "%s/logits.f32", g_dir);
    size_t len = 0;
    g_ref_logits = (float *)ql_test_read_file(path, &len);
    const json_t *shape = json_object_get(g_ref, "logits_shape");
    if (!g_ref || !g_ref_logits || json_array_size(shape) != 2 || !hf_tmpdir(tmp, sizeof tmp)) {
        fprintf(stderr, "%s: cannot read reference.json / logits.f32 or make a folder\n", g_dir);
        return 1;
    }
    g_n_vocab = (int32_t)json_integer_value(json_array_get(shape, 1));
    snprintf(g_out, sizeof g_out, "%s/q8_0.gguf", tmp);
    RUN(test_quantize_folder_to_q8_0);
    if (g_q8) {
        RUN(test_q8_0_top1_agreement);
        RUN(test_q8_0_greedy);
    }
    ql_model_free(g_q8);
    hf_rmdir(tmp);
    json_decref(g_ref);
    free(g_ref_logits);
    return TEST_REPORT();
}
