/*
 * tests/hf/test_hf_tiny_dense.c: shared/models/tiny-dense, a small trained Llama with bf16
 * weights and its own byte-level BPE tokenizer.json, against its reference.json:
 * tokenizing input_text gives input_ids (BOS 0 first, from the TemplateProcessing
 * post-processor), the 64 logits rows match logits.f32 to 1e-4 * max |ref|, and greedy
 * generation from prompt_ids gives output_ids. `qloop tokenize` gives the same ids.
 */
#include <limits.h>

#include "hf_common.h"

static char g_dir[PATH_MAX];
static json_t *g_ref;
static ql_model *g_model;

static void test_tokenize_input_text_gives_input_ids(void) {
    const char *text = json_string_value(json_object_get(g_ref, "input_text"));
    size_t n_want, n = 0;
    int32_t *want = hf_ids(json_object_get(g_ref, "input_ids"), &n_want);
    int32_t ids[256];
    ql_error e = {0};
    CHECK_MSG(ql_tokenize(g_model, text, strlen(text), true, true, ids, 256, &n, &e) == QL_OK, "%s",
              e.message);
    CHECK_EQ_INT(n, n_want);
    for (size_t i = 0; i < n && i < n_want; i++)
        CHECK_MSG(ids[i] == want[i], "token %zu: %d vs %d", i, ids[i], want[i]);
    /* and back: the text without BOS */
    char buf[1024];
    size_t nb = 0;
    CHECK(ql_detokenize(g_model, ids + 1, n - 1, false, false, buf, sizeof buf, &nb, &e) == QL_OK);
    CHECK(nb == strlen(text) && !memcmp(buf, text, nb));
    free(want);
}

static void test_cli_tokenize_matches(void) {
    const char *text = json_string_value(json_object_get(g_ref, "input_text"));
    char tmp[PATH_MAX], file[PATH_MAX + 16], cmd[3 * PATH_MAX];
    if (!hf_tmpdir(tmp, sizeof tmp)) return;
    snprintf(file, sizeof file, "%s/text", tmp);
    FILE *f = fopen(file, "wb");
    fwrite(text, 1, strlen(text), f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' tokenize -m '%s' -f '%s'", QL_CLI_PATH, g_dir, file);
    FILE *p = popen(cmd, "r");
    char out[4096] = {0};
    size_t got = p ? fread(out, 1, sizeof out - 1, p) : 0;
    CHECK(p && pclose(p) == 0);
    out[got] = '\0';
    size_t n_want;
    int32_t *want = hf_ids(json_object_get(g_ref, "input_ids"), &n_want);
    char *s = out;
    for (size_t i = 0; i < n_want; i++) {
        char *end;
        long v = strtol(s, &end, 10);
        CHECK_MSG(end != s && v == want[i], "qloop tokenize: token %zu", i);
        if (end == s) break;
        s = end;
    }
    free(want);
    hf_rmdir(tmp);
}

static void test_logits_match_transformers(void) {
    size_t n, len = 0;
    int32_t *ids = hf_ids(json_object_get(g_ref, "input_ids"), &n);
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/logits.f32", g_dir);
    float *ref = (float *)ql_test_read_file(path, &len);
    ql_model_info info;
    ql_model_get_info(g_model, &info);
    CHECK(ref && len == n * (size_t)info.n_vocab * 4);
    for (int threads = 1; ref && threads <= 2; threads++) {
        for (int inc = 0; inc <= 1; inc++) {
            float *got = hf_logits(g_model, ids, n, threads, inc);
            double max_ref = 0, d = got ? hf_max_diff(got, ref, len / 4, &max_ref) : INFINITY;
            double tol = 1e-4 * (max_ref > 1 ? max_ref : 1);
            CHECK_MSG(d <= tol, "-t %d%s: max |diff| %.3g > %.3g", threads,
                      inc ? " incremental" : "", d, tol);
            printf("tiny-dense -t %d%s: max |diff| / max |ref| %.3g\n", threads,
                   inc ? " incremental" : "", d / max_ref);
            free(got);
        }
    }
    free(ref);
    free(ids);
}

static void test_greedy_matches_transformers(void) {
    size_t n_prompt, n_gen;
    int32_t *prompt = hf_ids(json_object_get(g_ref, "prompt_ids"), &n_prompt);
    int32_t *want = hf_ids(json_object_get(g_ref, "output_ids"), &n_gen);
    int32_t got[64];
    for (int threads = 1; threads <= 2; threads++) {
        hf_greedy(g_model, prompt, n_prompt, threads, got, n_gen);
        for (size_t i = 0; i < n_gen; i++)
            CHECK_MSG(got[i] == want[i], "-t %d token %zu: %d vs %d", threads, i, got[i], want[i]);
    }
    free(prompt);
    free(want);
}

int main(void) {
    ql_test_shared(g_dir, sizeof g_dir, "models/tiny-dense");
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/reference.json", g_dir);
    g_ref = json_load_file(path, 0, NULL);
    ql_error e = {0};
    if (!g_ref || ql_model_load(g_dir, NULL, &g_model, &e) != QL_OK) {
        fprintf(stderr, "%s: %s\n", g_dir, g_ref ? e.message : "cannot read reference.json");
        return 1;
    }
    RUN(test_tokenize_input_text_gives_input_ids);
    RUN(test_cli_tokenize_matches);
    RUN(test_logits_match_transformers);
    RUN(test_greedy_matches_transformers);
    ql_model_free(g_model);
    json_decref(g_ref);
    return TEST_REPORT();
}
