/*
 * tests/model/test_stories260k.c: the forward pass on a real model against references.
 *
 * stories260K (../shared/models/stories260K.gguf) is Karpathy's TinyStories 260K Llama.
 * The expected greedy continuation below was computed by two independent programs,
 * llama2.c's run.c and llama.cpp's llama-simple, as recorded in shared/models/README.md.
 */
#include <stdint.h>

#include "gguf_copy.h"
#include "qloop.h"
#include "test.h"

/* "Once upon a time" with BOS and SentencePiece's dummy-prefix space. */
static const int32_t k_prompt[] = {1, 403, 407, 261, 378};
/* The first 64 greedy tokens after it (llama2.c run.c -t 0 and llama.cpp agree). */
static const int32_t k_greedy64[] = {
    432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337,
    410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394,
    261, 370, 432, 352, 266, 268, 388, 426, 338, 391, 266, 267, 337, 335, 312, 432,
    398, 312, 286, 267, 414, 270, 333, 415, 426, 13,  438, 310, 439, 419, 357, 336};
static const char k_reference_text[] =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the "
    "park. One day, she saw a big, red ball. She wanted to play with it, but it was too "
    "high.\nLily's mom said";

enum { N_PROMPT = 5, N_GEN = 64 };

/* Prefix for CLI invocations, e.g. "qemu-aarch64 -cpu max" when a cross-built qloop runs
 * under an emulator without binfmt_misc (.ci/neon.sh); empty when unset. */
static const char *cli_emulator(void) {
    const char *e = getenv("QLOOP_TEST_EMULATOR");
    return e ? e : "";
}

static ql_model *g_model;

static int32_t argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Greedy generation through the API with a given thread count. */
static void greedy(int n_threads, int32_t *out) {
    ql_model_info info;
    ql_model_get_info(g_model, &info);
    ql_session_params sp = ql_session_params_default();
    sp.n_threads = n_threads;
    ql_session *s = NULL;
    ql_error e = {0};
    CHECK_MSG(ql_session_new(g_model, &sp, &s, &e) == QL_OK, "%s", e.message);
    if (!s) return;
    float *logits = malloc((size_t)info.n_vocab * sizeof *logits);
    CHECK(ql_session_eval(s, k_prompt, N_PROMPT, logits, false, &e) == QL_OK);
    for (int i = 0; i < N_GEN; i++) {
        out[i] = argmax(logits, info.n_vocab);
        CHECK(ql_session_eval(s, &out[i], 1, logits, false, &e) == QL_OK);
    }
    free(logits);
    ql_session_free(s);
}

static void test_greedy_64_tokens_match_llama2c_one_thread(void) {
    int32_t got[N_GEN];
    greedy(1, got);
    for (int i = 0; i < N_GEN; i++) CHECK_MSG(got[i] == k_greedy64[i], "token %d: %d vs %d", i, got[i], k_greedy64[i]);
}

static void test_greedy_64_tokens_match_llama2c_two_threads(void) {
    int32_t got[N_GEN];
    greedy(2, got);
    for (int i = 0; i < N_GEN; i++) CHECK_MSG(got[i] == k_greedy64[i], "token %d: %d vs %d", i, got[i], k_greedy64[i]);
}

/* All logits of prompt + reference continuation, batched (n_batch tokens per step) or
 * one token at a time. */
static float *all_logits(int n_threads, int n_batch, bool incremental, int32_t *n_rows) {
    int32_t ids[N_PROMPT + N_GEN];
    memcpy(ids, k_prompt, sizeof k_prompt);
    memcpy(ids + N_PROMPT, k_greedy64, sizeof k_greedy64);
    int32_t n = N_PROMPT + N_GEN;
    ql_model_info info;
    ql_model_get_info(g_model, &info);
    ql_session_params sp = ql_session_params_default();
    sp.n_threads = n_threads;
    sp.n_batch = n_batch;
    ql_session *s = NULL;
    ql_error e = {0};
    if (ql_session_new(g_model, &sp, &s, &e) != QL_OK) return NULL;
    float *logits = malloc((size_t)n * (size_t)info.n_vocab * sizeof *logits);
    if (incremental) {
        for (int32_t i = 0; i < n; i++)
            CHECK(ql_session_eval(s, &ids[i], 1, logits + (size_t)i * info.n_vocab, false, &e) == QL_OK);
    } else {
        CHECK(ql_session_eval(s, ids, (size_t)n, logits, true, &e) == QL_OK);
    }
    ql_session_free(s);
    *n_rows = n * info.n_vocab;
    return logits;
}

static void test_batched_and_incremental_logits_agree(void) {
    int32_t n1, n2, n3;
    float *batched = all_logits(1, 0, false, &n1);
    float *incr = all_logits(1, 0, true, &n2);
    float *chunked = all_logits(2, 7, false, &n3); /* batches of 7, two threads */
    CHECK(batched && incr && chunked && n1 == n2 && n1 == n3);
    if (batched && incr && chunked) {
        double max_ref = 0, max_d_incr = 0, max_d_chunk = 0;
        for (int32_t i = 0; i < n1; i++) {
            max_ref = fmax(max_ref, fabs(batched[i]));
            max_d_incr = fmax(max_d_incr, fabs((double)batched[i] - incr[i]));
            max_d_chunk = fmax(max_d_chunk, fabs((double)batched[i] - chunked[i]));
        }
        printf("max |logit| %.4f, batched vs incremental %.3g, vs chunked/2 threads %.3g\n",
               max_ref, max_d_incr, max_d_chunk);
        CHECK(max_d_incr <= 1e-5 * max_ref);
        CHECK(max_d_chunk <= 1e-5 * max_ref);
    }
    free(batched);
    free(incr);
    free(chunked);
}

static void test_thread_count_gives_bit_identical_logits(void) {
    int32_t n1, n2;
    float *a = all_logits(1, 0, false, &n1);
    float *b = all_logits(2, 0, false, &n2);
    CHECK(a && b && n1 == n2);
    if (a && b) CHECK(memcmp(a, b, (size_t)n1 * sizeof *a) == 0);
    free(a);
    free(b);
}

static void test_text_of_prompt_and_continuation_matches_reference(void) {
    int32_t ids[N_PROMPT + N_GEN];
    memcpy(ids, k_prompt, sizeof k_prompt);
    memcpy(ids + N_PROMPT, k_greedy64, sizeof k_greedy64);
    char text[1024];
    size_t n = 0;
    ql_error e = {0};
    CHECK_MSG(ql_detokenize(g_model, ids, N_PROMPT + N_GEN, true, false, text, sizeof text - 1, &n, &e) == QL_OK,
              "%s", e.message);
    text[n < sizeof text ? n : sizeof text - 1] = '\0';
    CHECK_MSG(strcmp(text, k_reference_text) == 0, "got '%s'", text);

    /* and the prompt text tokenizes to the reference prompt ids */
    int32_t p[16];
    size_t np = 0;
    CHECK(ql_tokenize(g_model, "Once upon a time", 16, true, true, p, 16, &np, &e) == QL_OK);
    CHECK_EQ_INT(np, N_PROMPT);
    for (size_t i = 0; i < np && i < N_PROMPT; i++) CHECK_EQ_INT(p[i], k_prompt[i]);
}

static void test_cli_run_streams_reference_text(void) {
    char cmd[2048], model[1024];
    ql_test_shared(model, sizeof model, "models/stories260K.gguf");
    for (int t = 1; t <= 2; t++) {
        snprintf(cmd, sizeof cmd, "%s '%s' run -m '%s' -p 'Once upon a time' -n 64 --temp 0 -t %d 2>/dev/null",
                 cli_emulator(), QL_CLI_PATH, model, t);
        FILE *f = popen(cmd, "r");
        CHECK(f != NULL);
        if (!f) return;
        char out[2048];
        size_t n = fread(out, 1, sizeof out - 1, f);
        out[n] = '\0';
        CHECK_EQ_INT(pclose(f), 0);
        /* stdout is the continuation only, then a newline */
        const char *expect = k_reference_text + strlen("Once upon a time");
        CHECK_MSG(n == strlen(expect) + 1 && strncmp(out, expect, strlen(expect)) == 0,
                  "-t %d got '%s'", t, out);
    }
}

/* Without --ctx, `qloop run` sizes the context (and so the KV cache) from the prompt and -n:
 * at least 4096 positions, at most the model's length. Checked on a copy of the model that
 * declares 100000 positions; the prompt is 5 tokens. */
static void test_cli_run_default_context(void) {
    char model[1024], cmd[2048], out[4096];
    const char *big = "stories_ctx100k.gguf";
    ql_test_shared(model, sizeof model, "models/stories260K.gguf");
    gguf_override o = {"llama.context_length", O_U32, 100000, 0, NULL};
    if (!gguf_copy(model, big, &o, 1)) return;
    static const struct {
        const char *args, *want;
    } cases[] = {{"-n 4", ", ctx 4096\n"},
                 {"-n 5000 --ignore-eos", ", ctx 5005\n"},
                 {"-n 4 --ctx 300", ", ctx 300\n"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* 5000 generated tokens take 2 minutes under qemu; the sizing is not ISA code */
        if (*cli_emulator() && strstr(cases[i].args, "5000")) continue;
        snprintf(cmd, sizeof cmd, "%s '%s' run -m %s -p 'Once upon a time' --temp 0 %s 2>&1 >/dev/null",
                 cli_emulator(), QL_CLI_PATH, big, cases[i].args);
        CHECK_EQ_INT(ql_test_run_capture(cmd, out, sizeof out), 0);
        CHECK_MSG(strstr(out, cases[i].want) != NULL, "%s: no '%s' in '%s'", cases[i].args,
                  cases[i].want, out);
    }
    remove(big);
}

/* `qloop logits` batched and --incremental write the same [n, n_vocab] float32 file. */
static float *cli_logits(const char *extra, size_t *n_floats) {
    char cmd[2048], model[1024], out[256];
    ql_test_shared(model, sizeof model, "models/stories260K.gguf");
    snprintf(out, sizeof out, "logits_%d.f32", (int)strlen(extra));
    snprintf(cmd, sizeof cmd, "%s '%s' logits -m '%s' --ids 1,403,407,261,378,432,383,286 --out %s %s",
             cli_emulator(), QL_CLI_PATH, model, out, extra);
    CHECK_EQ_INT(system(cmd), 0);
    size_t len = 0;
    float *v = (float *)ql_test_read_file(out, &len);
    *n_floats = len / sizeof(float);
    remove(out);
    return v;
}

static void test_cli_logits_batched_and_incremental_agree(void) {
    size_t na = 0, nb = 0;
    float *a = cli_logits("", &na), *b = cli_logits("--incremental -t 2", &nb);
    CHECK(a && b);
    CHECK_EQ_INT(na, 8 * 512);
    CHECK_EQ_INT(nb, na);
    if (a && b && na == nb) {
        double max_ref = 0, max_d = 0;
        for (size_t i = 0; i < na; i++) {
            max_ref = fmax(max_ref, fabs(a[i]));
            max_d = fmax(max_d, fabs((double)a[i] - b[i]));
        }
        CHECK(max_ref > 1.0);
        CHECK(max_d <= 1e-5 * max_ref);
    }
    free(a);
    free(b);
}

static void test_eval_rejects_bad_ids_and_full_context(void) {
    ql_session_params sp = ql_session_params_default();
    sp.n_ctx = 8;
    sp.n_threads = 1;
    ql_session *s = NULL;
    ql_error e = {0};
    CHECK(ql_session_new(g_model, &sp, &s, &e) == QL_OK);
    if (!s) return;
    int32_t bad[2] = {1, 512};
    CHECK(ql_session_eval(s, bad, 2, NULL, false, &e) == QL_ERR_ARG);
    CHECK(strstr(e.message, "512") != NULL);
    CHECK_EQ_INT(ql_session_pos(s), 0);
    int32_t ids[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK(ql_session_eval(s, ids, 9, NULL, false, &e) == QL_ERR_RANGE);
    CHECK(ql_session_eval(s, ids, 8, NULL, false, &e) == QL_OK);
    CHECK(ql_session_eval(s, ids, 1, NULL, false, &e) == QL_ERR_RANGE);
    ql_session_reset(s);
    CHECK(ql_session_eval(s, ids, 1, NULL, false, &e) == QL_OK);
    ql_session_free(s);
}

int main(void) {
    char path[1024];
    ql_error e = {0};
    ql_model_params mp = ql_model_params_default();
    if (ql_model_load(ql_test_shared(path, sizeof path, "models/stories260K.gguf"), &mp, &g_model, &e) != QL_OK) {
        fprintf(stderr, "cannot load %s: %s\n", path, e.message);
        return 1;
    }
    RUN(test_greedy_64_tokens_match_llama2c_one_thread);
    RUN(test_greedy_64_tokens_match_llama2c_two_threads);
    RUN(test_batched_and_incremental_logits_agree);
    RUN(test_thread_count_gives_bit_identical_logits);
    RUN(test_text_of_prompt_and_continuation_matches_reference);
    RUN(test_cli_run_streams_reference_text);
    RUN(test_cli_run_default_context);
    RUN(test_cli_logits_batched_and_incremental_agree);
    RUN(test_eval_rejects_bad_ids_and_full_context);
    ql_model_free(g_model);
    return TEST_REPORT();
}
