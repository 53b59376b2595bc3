/*
 * tests/hf/test_hf_fixture.c CASE: one case of shared/fixtures/hf loaded directly from its
 * folder, against the transformers references in its reference.json / logits.f32
 * (shared/fixtures/hf/README.md):
 *  - batched logits of input_ids vs logits.f32 at every stored position,
 *    max |Δ| <= 1e-4 * max(1, max |ref|), with 1 and 2 threads;
 *  - token-by-token logits vs batched within the same tolerance;
 *  - greedy 24 tokens from prompt_ids == output_ids (one token per eval), 1 and 2 threads,
 *    and every extra_generations entry;
 *  - the same logits and greedy tokens with config_legacy.json as config.json;
 *  - the same logits and greedy tokens after `qloop convert` (ql_convert to a GGUF file in a
 *    temporary folder, dtypes kept), loaded from that file.
 */
#include <limits.h>
#include <sys/stat.h>

#include "hf_common.h"

static const char *g_case;
static char g_dir[PATH_MAX];
static json_t *g_ref;
static float *g_ref_logits;
static int32_t g_n_vocab;

static ql_model *load(const char *dir) {
    ql_model *m = NULL;
    ql_error e = {0};
    CHECK_MSG(ql_model_load(dir, NULL, &m, &e) == QL_OK, "%s: %s", dir, e.message);
    return m;
}

static double tolerance(void) {
    double r = 0;
    size_t n = json_array_size(json_object_get(g_ref, "logits_positions")) * (size_t)g_n_vocab;
    for (size_t i = 0; i < n; i++)
        if (fabs(g_ref_logits[i]) > r) r = fabs(g_ref_logits[i]);
    return 1e-4 * (r > 1 ? r : 1);
}

/* Batched logits over input_ids vs logits.f32 at the stored positions. */
static void check_logits(ql_model *m, int n_threads, const char *what) {
    size_t n;
    int32_t *ids = hf_ids(json_object_get(g_ref, "input_ids"), &n);
    float *got = hf_logits(m, ids, n, n_threads, false);
    const json_t *pos = json_object_get(g_ref, "logits_positions");
    double tol = tolerance(), worst = 0, max_ref = 0;
    for (size_t i = 0; got && i < json_array_size(pos); i++) {
        size_t p = (size_t)json_integer_value(json_array_get(pos, i));
        double r, d = hf_max_diff(got + p * (size_t)g_n_vocab, g_ref_logits + i * (size_t)g_n_vocab,
                                  (size_t)g_n_vocab, &r);
        CHECK_MSG(d <= tol, "%s %s: position %zu: max |diff| %.3g > %.3g", g_case, what, p, d, tol);
        if (d > worst) worst = d;
        if (r > max_ref) max_ref = r;
    }
    printf("%s %s -t %d: max |diff| %.3g, max |diff| / max |ref| %.3g\n", g_case, what, n_threads,
           worst, worst / (max_ref > 1 ? max_ref : 1));
    free(got);
    free(ids);
}

static void check_greedy(ql_model *m, const json_t *prompt, const json_t *expect, int n_threads,
                         const char *label) {
    size_t n_prompt, n_gen;
    int32_t *p = hf_ids(prompt, &n_prompt), *want = hf_ids(expect, &n_gen);
    int32_t *got = calloc(n_gen ? n_gen : 1, sizeof *got);
    hf_greedy(m, p, n_prompt, n_threads, got, n_gen);
    for (size_t i = 0; i < n_gen; i++)
        CHECK_MSG(got[i] == want[i], "%s %s -t %d: token %zu is %d, expected %d", g_case, label,
                  n_threads, i, got[i], want[i]);
    free(p);
    free(want);
    free(got);
}

static void check_all_greedy(ql_model *m, int n_threads) {
    check_greedy(m, json_object_get(g_ref, "prompt_ids"), json_object_get(g_ref, "output_ids"),
                 n_threads, "greedy");
    const json_t *extra = json_object_get(g_ref, "extra_generations");
    for (size_t i = 0; i < json_array_size(extra); i++) {
        const json_t *x = json_array_get(extra, i);
        const json_t *label = json_object_get(x, "label");
        check_greedy(m, json_object_get(x, "prompt_ids"), json_object_get(x, "output_ids"),
                     n_threads, json_is_string(label) ? json_string_value(label) : "extra");
    }
}

static void test_logits_match_transformers(void) {
    ql_model *m = load(g_dir);
    if (!m) return;
    check_logits(m, 1, "logits");
    check_logits(m, 2, "logits");
    ql_model_free(m);
}

static void test_greedy_matches_transformers(void) {
    ql_model *m = load(g_dir);
    if (!m) return;
    check_all_greedy(m, 1);
    check_all_greedy(m, 2);
    ql_model_free(m);
}

/* Token by token through the KV cache vs one batched pass. Dynamic NTK rotates each
 * token with the frequencies of its own length (as transformers' cached generate does),
 * so there the two agree only while the sequence stays within max_position_embeddings. */
static void test_incremental_matches_batched(void) {
    ql_model *m = load(g_dir);
    if (!m) return;
    ql_model_info info;
    ql_model_get_info(m, &info);
    size_t n;
    int32_t *ids = hf_ids(json_object_get(g_ref, "input_ids"), &n);
    const char *rope = json_string_value(
        json_object_get(json_object_get(json_object_get(g_ref, "rope"), "config"), "rope_type"));
    if (rope && !strcmp(rope, "dynamic") && n > (size_t)info.n_ctx_train) n = (size_t)info.n_ctx_train;
    float *a = hf_logits(m, ids, n, 2, false), *b = hf_logits(m, ids, n, 2, true);
    double r, d = a && b ? hf_max_diff(b, a, n * (size_t)g_n_vocab, &r) : INFINITY;
    CHECK_MSG(d <= tolerance(), "%s: incremental vs batched max |diff| %.3g", g_case, d);
    printf("%s incremental vs batched (%zu tokens): max |diff| %.3g\n", g_case, n, d);
    free(a);
    free(b);
    free(ids);
    ql_model_free(m);
}

/* The case's files linked into a temporary folder, config_legacy.json as config.json. */
static void test_legacy_config_layout(void) {
    char tmp[PATH_MAX], src[PATH_MAX + 64], dst[PATH_MAX + 64];
    if (!hf_tmpdir(tmp, sizeof tmp)) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    static const char *const files[][2] = {{"config_legacy.json", "config.json"},
                                           {"model.safetensors", "model.safetensors"}};
    for (size_t i = 0; i < 2; i++) {
        snprintf(src, sizeof src, "%s/%s", g_dir, files[i][0]);
        snprintf(dst, sizeof dst, "%s/%s", tmp, files[i][1]);
        CHECK(symlink(src, dst) == 0);
    }
    ql_model *m = load(tmp);
    if (m) {
        check_logits(m, 2, "legacy config");
        check_all_greedy(m, 1);
        ql_model_free(m);
    }
    hf_rmdir(tmp);
}

/* The folder converted to GGUF (llama.cpp names, Q/K rows permuted for llama) and loaded
 * back: the same references, same tolerance. */
static void test_converted_gguf(void) {
    char tmp[PATH_MAX], out[PATH_MAX + 32];
    if (!hf_tmpdir(tmp, sizeof tmp)) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    snprintf(out, sizeof out, "%s/model.gguf", tmp);
    ql_error e = {0};
    ql_status st = ql_convert(g_dir, out, NULL, &e);
    CHECK_MSG(st == QL_OK, "%s: convert: %s", g_case, e.message);
    ql_model *m = st == QL_OK ? load(out) : NULL;
    if (m) {
        check_logits(m, 1, "converted");
        check_logits(m, 2, "converted");
        check_all_greedy(m, 1);
        check_all_greedy(m, 2);
        ql_model_free(m);
    }
    hf_rmdir(tmp);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CASE\n", argv[0]);
        return 2;
    }
    g_case = argv[1];
    char rel[256], path[PATH_MAX + 32];
    snprintf(rel, sizeof rel, "fixtures/hf/%s", g_case);
    ql_test_shared(g_dir, sizeof g_dir, rel);
    snprintf(path, sizeof path, "%s/reference.json", g_dir);
    json_error_t je;
    g_ref = json_load_file(path, 0, &je);
    snprintf(path, sizeof path, "%s/logits.f32", g_dir);
    size_t len = 0;
    g_ref_logits = (float *)ql_test_read_file(path, &len);
    const json_t *shape = json_object_get(g_ref, "logits_shape");
    if (!g_ref || !g_ref_logits || json_array_size(shape) != 2) {
        fprintf(stderr, "%s: cannot read reference.json / logits.f32\n", g_dir);
        return 1;
    }
    g_n_vocab = (int32_t)json_integer_value(json_array_get(shape, 1));
    if (len != json_integer_value(json_array_get(shape, 0)) * (size_t)g_n_vocab * 4) {
        fprintf(stderr, "%s: logits.f32 has %zu bytes, not as logits_shape says\n", g_dir, len);
        return 1;
    }
    RUN(test_logits_match_transformers);
    RUN(test_greedy_matches_transformers);
    RUN(test_incremental_matches_batched);
    RUN(test_legacy_config_layout);
    RUN(test_converted_gguf);
    json_decref(g_ref);
    free(g_ref_logits);
    return TEST_REPORT();
}
