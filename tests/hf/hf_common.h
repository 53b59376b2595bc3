/*
 * tests/hf/hf_common.h: helpers shared by the Hugging Face folder tests (public API only).
 */
#ifndef QL_TESTS_HF_COMMON_H
#define QL_TESTS_HF_COMMON_H

#include <jansson.h>
#include <stdint.h>
#include <unistd.h>

#include "qloop.h"
#include "test.h"

/* A JSON array of ints as a malloc'd int32 array. */
static inline int32_t *hf_ids(const json_t *a, size_t *n) {
    *n = json_array_size(a);
    int32_t *ids = malloc((*n ? *n : 1) * sizeof *ids);
    for (size_t i = 0; ids && i < *n; i++) ids[i] = (int32_t)json_integer_value(json_array_get(a, i));
    return ids;
}

static inline int32_t hf_argmax(const float *x, int32_t n) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

static inline ql_session *hf_session(const ql_model *m, int n_threads, int n_ctx) {
    ql_session_params sp = ql_session_params_default();
    sp.n_threads = n_threads;
    sp.n_ctx = n_ctx;
    ql_session *s = NULL;
    ql_error e = {0};
    CHECK_MSG(ql_session_new(m, &sp, &s, &e) == QL_OK, "%s", e.message);
    return s;
}

/* Logits of every position of ids, batched in one eval or token by token. */
static inline float *hf_logits(const ql_model *m, const int32_t *ids, size_t n, int n_threads,
                               bool incremental) {
    ql_model_info info;
    ql_model_get_info(m, &info);
    ql_session *s = hf_session(m, n_threads, (int)n + 8);
    if (!s) return NULL;
    float *out = malloc(n * (size_t)info.n_vocab * sizeof *out);
    ql_error e = {0};
    if (!incremental) {
        CHECK_MSG(ql_session_eval(s, ids, n, out, true, &e) == QL_OK, "%s", e.message);
    } else {
        for (size_t i = 0; i < n; i++)
            CHECK_MSG(ql_session_eval(s, &ids[i], 1, out + i * (size_t)info.n_vocab, false, &e) == QL_OK,
                      "%s", e.message);
    }
    ql_session_free(s);
    return out;
}

/* Greedy generation: the prompt in one eval, then one token per eval. */
static inline void hf_greedy(const ql_model *m, const int32_t *prompt, size_t n_prompt,
                             int n_threads, int32_t *out, size_t n_gen) {
    ql_model_info info;
    ql_model_get_info(m, &info);
    ql_session *s = hf_session(m, n_threads, (int)(n_prompt + n_gen + 8));
    if (!s) return;
    float *logits = malloc((size_t)info.n_vocab * sizeof *logits);
    ql_error e = {0};
    CHECK_MSG(ql_session_eval(s, prompt, n_prompt, logits, false, &e) == QL_OK, "%s", e.message);
    for (size_t i = 0; i < n_gen; i++) {
        out[i] = hf_argmax(logits, info.n_vocab);
        CHECK_MSG(ql_session_eval(s, &out[i], 1, logits, false, &e) == QL_OK, "%s", e.message);
    }
    free(logits);
    ql_session_free(s);
}

/* max |a - b| over rows of n_vocab; *max_ref receives max |b|. */
static inline double hf_max_diff(const float *a, const float *b, size_t n, double *max_ref) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        double x = fabs((double)a[i] - (double)b[i]);
        if (x > d || x != x) d = x != x ? INFINITY : x;
        if (fabs((double)b[i]) > r) r = fabs((double)b[i]);
    }
    if (max_ref) *max_ref = r;
    return d;
}

/* mkdtemp under $TMPDIR (or /tmp); the caller removes it with hf_rmdir. */
static inline char *hf_tmpdir(char *buf, size_t cap) {
    const char *t = getenv("TMPDIR");
    snprintf(buf, cap, "%s/qloop-hf-XXXXXX", t && *t ? t : "/tmp");
    return mkdtemp(buf);
}

static inline void hf_rmdir(const char *dir) {
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

#endif
