/*
 * tests/sampling/test_sampler.c: the sampler chain of src/text/sampler.c through the
 * public API.
 *
 * Kept sets are checked by sampling at a high final temperature: temperature is applied
 * after top-k/top-p/min-p, so it flattens the survivors and every kept token shows up in
 * a few thousand draws while a dropped one never does. Expected sets and probabilities
 * are computed here, in double, from the logits the sampler sees.
 */
#include <stdint.h>

#include "qloop.h"
#include "test.h"

/* ---- helpers ------------------------------------------------------------------------- */

/* The test's own generator for logits (splitmix64), independent of the sampler's. */
static uint64_t test_rng_next(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Standard normal by Box-Muller. */
static double test_gaussian(uint64_t *x) {
    double u1 = ((double)(test_rng_next(x) >> 11) + 0.5) * 0x1.0p-53;
    double u2 = (double)(test_rng_next(x) >> 11) * 0x1.0p-53;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* sd * N(0, 1) logits, rounded to multiples of `step` when step > 0 so that ties occur. */
static void random_logits(float *out, int n, uint64_t seed, double sd, double step) {
    for (int i = 0; i < n; i++) {
        double x = sd * test_gaussian(&seed);
        if (step > 0) x = step * round(x / step);
        out[i] = (float)x;
    }
    out[n / 2] += 0.25f; /* never all equal */
}

static ql_sampler_params params_off(float temperature) {
    ql_sampler_params p = ql_sampler_params_default();
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.repeat_penalty = 1.0f;
    return p;
}

static ql_sampler *make(const ql_sampler_params *p, int n_vocab) {
    ql_sampler *s = NULL;
    ql_error err;
    ql_status st = ql_sampler_new(p, n_vocab, &s, &err);
    CHECK_MSG(st == QL_OK && s, "ql_sampler_new: %s", err.message);
    return s;
}

/* counts[i] = how often token i was drawn in `draws` samples of the same logits. */
static void draw_counts(ql_sampler *s, const float *logits, int n, int draws, int *counts) {
    memset(counts, 0, (size_t)n * sizeof *counts);
    for (int d = 0; d < draws; d++) {
        int32_t id = ql_sampler_sample(s, logits);
        CHECK(id >= 0 && id < n);
        if (id >= 0 && id < n) counts[id]++;
    }
}

/* Checks that tokens were drawn iff expected[i]. */
static void check_drawn_set(const int *counts, const int *expected, int n, const char *what) {
    for (int i = 0; i < n; i++) {
        CHECK_MSG((counts[i] > 0) == (expected[i] != 0),
                  "%s: token %d drawn %d times, expected %s", what, i, counts[i],
                  expected[i] ? "kept" : "dropped");
    }
}

/* Ranks token ids best first: higher logit, then lower id. */
static const float *g_rank_logits;
static int cmp_rank(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    float x = g_rank_logits[i], y = g_rank_logits[j];
    if (x != y) return x > y ? -1 : 1;
    return i < j ? -1 : (i > j);
}

static void rank_tokens(const float *logits, int n, int *order) {
    for (int i = 0; i < n; i++) order[i] = i;
    g_rank_logits = logits;
    qsort(order, (size_t)n, sizeof *order, cmp_rank);
}

/* softmax(logits / t) in double. */
static void softmax_ref(const float *logits, int n, double t, double *p) {
    double max = -INFINITY, z = 0.0;
    for (int i = 0; i < n; i++) max = fmax(max, (double)logits[i]);
    for (int i = 0; i < n; i++) z += p[i] = exp(((double)logits[i] - max) / t);
    for (int i = 0; i < n; i++) p[i] /= z;
}

/*
 * Expected kept set of top-k → top-p → min-p, by the definitions:
 * top-p keeps the shortest best-first prefix with softmax mass >= top_p; min-p then drops
 * p < min_p * p_max on the softmax of what top-p kept.
 */
static void expected_kept(const float *logits, int n, int top_k, double top_p, double min_p,
                          int *kept) {
    int *order = malloc((size_t)n * sizeof *order);
    double *p = malloc((size_t)n * sizeof *p);
    rank_tokens(logits, n, order);
    int m = (top_k > 0 && top_k < n) ? top_k : n;
    float *sub = malloc((size_t)m * sizeof *sub);
    for (int r = 0; r < m; r++) sub[r] = logits[order[r]];
    if (top_p < 1.0) {
        softmax_ref(sub, m, 1.0, p);
        double cum = 0.0;
        for (int r = 0; r < m; r++) {
            cum += p[r];
            if (cum >= top_p) {
                m = r + 1;
                break;
            }
        }
    }
    softmax_ref(sub, m, 1.0, p);
    memset(kept, 0, (size_t)n * sizeof *kept);
    for (int r = 0; r < m; r++) kept[order[r]] = !(min_p > 0.0 && p[r] < min_p * p[0]);
    free(sub);
    free(p);
    free(order);
}

static int count_set(const int *kept, int n) {
    int c = 0;
    for (int i = 0; i < n; i++) c += kept[i] != 0;
    return c;
}

/* 8 probabilities put on ids in a shuffled order; logits = ln(p). */
enum { HAND_N = 8 };
static void hand_logits(float *logits) {
    static const double prob[HAND_N] = {0.40, 0.25, 0.15, 0.10, 0.05, 0.03, 0.015, 0.005};
    static const int id[HAND_N] = {3, 7, 0, 5, 1, 6, 2, 4};
    for (int r = 0; r < HAND_N; r++) logits[id[r]] = (float)log(prob[r]);
}

/* ---- greedy -------------------------------------------------------------------------- */

static int32_t greedy(const float *logits, int n) {
    ql_sampler_params p = params_off(0.0f);
    ql_sampler *s = make(&p, n);
    int32_t id = s ? ql_sampler_sample(s, logits) : -1;
    ql_sampler_free(s);
    return id;
}

static void test_greedy_returns_argmax(void) {
    float a[6] = {0.5f, -2.0f, 3.25f, 3.0f, -7.0f, 1.0f};
    CHECK_EQ_INT(greedy(a, 6), 2);
    float neg[4] = {-5.0f, -1.0f, -3.0f, -1.5f};
    CHECK_EQ_INT(greedy(neg, 4), 1);

    ql_sampler_params p = params_off(-1.0f); /* negative temperature: greedy too */
    ql_sampler *s = make(&p, 6);
    if (s) CHECK_EQ_INT(ql_sampler_sample(s, a), 2);
    ql_sampler_free(s);

    float big[5000];
    random_logits(big, 5000, 11, 2.0, 0.0);
    int order[5000];
    rank_tokens(big, 5000, order);
    CHECK_EQ_INT(greedy(big, 5000), order[0]);
}

static void test_greedy_takes_lowest_id_on_exact_ties(void) {
    float a[6] = {1.0f, 4.0f, 2.0f, 4.0f, 4.0f, 0.0f};
    CHECK_EQ_INT(greedy(a, 6), 1);
    float z[3] = {0.0f, -0.0f, 0.0f};
    z[0] = -0.0f;
    CHECK_EQ_INT(greedy(z, 3), 0); /* -0 == +0 */
    float inf[4] = {1.0f, INFINITY, 2.0f, INFINITY};
    CHECK_EQ_INT(greedy(inf, 4), 1);
}

static void test_greedy_ignores_nan(void) {
    float a[5] = {NAN, 1.0f, NAN, 2.0f, -NAN};
    CHECK_EQ_INT(greedy(a, 5), 3);
    float b[3] = {NAN, -1.0f, NAN};
    CHECK_EQ_INT(greedy(b, 3), 1);
    float all[3] = {NAN, NAN, NAN};
    CHECK_EQ_INT(greedy(all, 3), 0);

    /* The sampling chain never draws a NaN either; all NaN gives token 0 there too. */
    float c[4] = {NAN, 0.0f, NAN, 0.5f};
    ql_sampler_params p = params_off(1.0f);
    ql_sampler *s = make(&p, 4);
    int counts[4];
    if (s) draw_counts(s, c, 4, 2000, counts);
    if (s) CHECK(counts[0] == 0 && counts[2] == 0 && counts[1] > 0 && counts[3] > 0);
    float all4[4] = {NAN, NAN, NAN, NAN};
    if (s) CHECK_EQ_INT(ql_sampler_sample(s, all4), 0);
    ql_sampler_free(s);
    p.top_k = 2;
    p.top_p = 0.5f;
    s = make(&p, 3);
    if (s) CHECK_EQ_INT(ql_sampler_sample(s, all), 0);
    ql_sampler_free(s);
}

/* ---- reproducibility ----------------------------------------------------------------- */

/* 1000 samples over fresh logits each step. */
static void sample_sequence(uint64_t seed, ql_sampler *reuse, int32_t *out) {
    enum { N = 64 };
    ql_sampler_params p = ql_sampler_params_default();
    p.seed = seed;
    p.temperature = 1.0f;
    p.top_k = 0; /* wide open, so the RNG decides most */
    p.min_p = 0.0f;
    ql_sampler *s = reuse ? reuse : make(&p, N);
    float logits[N];
    for (int t = 0; t < 1000 && s; t++) {
        random_logits(logits, N, 1000 + (uint64_t)t, 1.0, 0.0);
        out[t] = ql_sampler_sample(s, logits);
    }
    if (!reuse) ql_sampler_free(s);
}

static void test_same_seed_gives_identical_sequences(void) {
    int32_t a[1000], b[1000];
    sample_sequence(42, NULL, a);
    sample_sequence(42, NULL, b);
    CHECK(memcmp(a, b, sizeof a) == 0);

    ql_sampler_params p = ql_sampler_params_default();
    p.seed = 0x5eed;
    ql_sampler_params d = ql_sampler_params_default();
    CHECK(d.seed == 0x5eed); /* reproducible by default */
    sample_sequence(0x5eed, NULL, a);
    p.temperature = 1.0f;
    p.top_k = 0;
    p.min_p = 0.0f;
    ql_sampler *s = make(&p, 64);
    if (!s) return;
    for (int i = 0; i < 3; i++) ql_sampler_accept(s, i);
    sample_sequence(0, s, b); /* dirty it */
    ql_sampler_reset(s);
    sample_sequence(0, s, b);
    CHECK(memcmp(a, b, sizeof a) == 0); /* reset reseeds */
    ql_sampler_free(s);
}

static void test_different_seeds_give_different_sequences(void) {
    int32_t a[1000], b[1000];
    sample_sequence(1, NULL, a);
    sample_sequence(2, NULL, b);
    int differ = 0;
    for (int i = 0; i < 1000; i++) differ += a[i] != b[i];
    CHECK_MSG(differ > 500, "only %d of 1000 samples differ", differ);
}

/* ---- top-k --------------------------------------------------------------------------- */

static void test_top_k_1_equals_greedy_at_any_temperature(void) {
    enum { N = 1000 };
    static const float temps[] = {0.01f, 0.5f, 1.0f, 10.0f, 1000.0f};
    float logits[N];
    for (size_t t = 0; t < sizeof temps / sizeof temps[0]; t++) {
        ql_sampler_params p = params_off(temps[t]);
        p.top_k = 1;
        ql_sampler *s = make(&p, N);
        for (int row = 0; row < 50 && s; row++) {
            random_logits(logits, N, 7 + (uint64_t)row, 1.0, 0.25); /* many ties */
            if (row % 5 == 0) logits[row] = NAN;
            CHECK_EQ_INT(ql_sampler_sample(s, logits), greedy(logits, N));
        }
        ql_sampler_free(s);
    }
}

/* Draws `draws` times at temperature 1000 and compares the drawn set with the kept set. */
static void check_kept_set(const float *logits, int n, int top_k, float top_p, float min_p,
                           int draws, const char *what) {
    ql_sampler_params p = params_off(1000.0f);
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    ql_sampler *s = make(&p, n);
    if (!s) return;
    int *kept = malloc((size_t)n * sizeof *kept);
    int *counts = malloc((size_t)n * sizeof *counts);
    expected_kept(logits, n, top_k, top_p, min_p, kept);
    draw_counts(s, logits, n, draws, counts);
    check_drawn_set(counts, kept, n, what);
    free(counts);
    free(kept);
    ql_sampler_free(s);
}

static void test_top_k_3_never_leaves_the_three_largest(void) {
    enum { N = 1000 };
    float logits[N];
    random_logits(logits, N, 3, 2.0, 0.0);
    check_kept_set(logits, N, 3, 1.0f, 0.0f, 3000, "top_k 3");

    int kept[N];
    expected_kept(logits, N, 3, 1.0, 0.0, kept);
    CHECK_EQ_INT(count_set(kept, N), 3);

    float ties[5] = {1.0f, 3.0f, 3.0f, 3.0f, 0.0f}; /* lowest ids win the tie */
    int want[5] = {0, 1, 1, 0, 0};
    ql_sampler_params p = params_off(1000.0f);
    p.top_k = 2;
    ql_sampler *s = make(&p, 5);
    int counts[5];
    if (s) draw_counts(s, ties, 5, 1000, counts);
    if (s) check_drawn_set(counts, want, 5, "top_k 2 with ties");
    ql_sampler_free(s);
}

/* Exercises both top-k paths (heap for k << n, full sort otherwise) with tied logits. */
static void test_top_k_keeps_the_k_best_with_ties_broken_by_id(void) {
    enum { BIG = 8192 };
    float *logits = malloc(BIG * sizeof *logits);
    random_logits(logits, BIG, 21, 1.0, 0.125);
    check_kept_set(logits, BIG, 40, 1.0f, 0.0f, 2000, "top_k 40 of 8k (heap)");
    random_logits(logits, 1000, 22, 1.0, 0.125);
    check_kept_set(logits, 1000, 50, 1.0f, 0.0f, 5000, "top_k 50 of 1000 (sort)");
    free(logits);
}

/* ---- top-p and min-p ----------------------------------------------------------------- */

static void test_top_p_drops_exactly_the_expected_tail(void) {
    float logits[HAND_N];
    hand_logits(logits);
    static const float ps[] = {0.3f, 0.6f, 0.85f, 0.99f};
    static const int sizes[] = {1, 2, 4, 7}; /* from the cumulative sums .40 .65 .80 .90 */
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) {
        int kept[HAND_N];
        expected_kept(logits, HAND_N, 0, ps[i], 0.0, kept);
        CHECK_EQ_INT(count_set(kept, HAND_N), sizes[i]);
        char what[32];
        snprintf(what, sizeof what, "top_p %.2f", (double)ps[i]);
        check_kept_set(logits, HAND_N, 0, ps[i], 0.0f, 5000, what);
    }
    /* After top-k 3 the nucleus is measured on the renormalised top three:
     * .40/.80 = .5, .65/.80 = .8125: top_p .6 keeps 2. */
    int kept[HAND_N];
    expected_kept(logits, HAND_N, 3, 0.6, 0.0, kept);
    CHECK_EQ_INT(count_set(kept, HAND_N), 2);
    check_kept_set(logits, HAND_N, 3, 0.6f, 0.0f, 5000, "top_k 3 then top_p .6");
}

/* Checks the size of the expected kept set (so the draws suffice to see all of it),
 * then the drawn set. */
static void check_kept_set_sized(const float *logits, int n, int top_k, float top_p,
                                 float min_p, int lo, int hi, int draws, const char *what) {
    int *kept = malloc((size_t)n * sizeof *kept);
    expected_kept(logits, n, top_k, top_p, min_p, kept);
    int size = count_set(kept, n);
    CHECK_MSG(size >= lo && size <= hi, "%s: %d kept, the test expects %d..%d", what, size,
              lo, hi);
    free(kept);
    check_kept_set(logits, n, top_k, top_p, min_p, draws, what);
}

/* Large vocabularies take the bucketed path: peaked, flat, and a nucleus that reaches
 * into the tokens more than 16 nats below the max. */
static void test_top_p_on_a_large_vocab_matches_the_definition(void) {
    enum { N = 8192 };
    float *logits = malloc(N * sizeof *logits);
    random_logits(logits, N, 5, 6.0, 0.25); /* peaked, with ties */
    check_kept_set_sized(logits, N, 0, 0.9f, 0.0f, 5, 60, 1000, "top_p .9 of 8k peaked");
    check_kept_set_sized(logits, N, 500, 0.9f, 0.0f, 5, 60, 1000,
                         "top_k 500 (sorted) then top_p .9 of 8k");

    random_logits(logits, 1000, 8, 0.5, 0.0); /* flat */
    check_kept_set_sized(logits, 1000, 0, 0.5f, 0.0f, 200, 400, 15000, "top_p .5 of 1k flat");

    /* One token at 20, 400 at -1..0: the tail holds ~5e-7 of the mass and top_p leaves
     * out 2.4e-7, so the nucleus ends among the tokens 20 nats below the max. */
    logits[0] = 20.0f;
    uint64_t seed = 77;
    for (int i = 1; i <= 400; i++) logits[i] = -(float)((test_rng_next(&seed) >> 40) * 0x1.0p-24);
    check_kept_set_sized(logits, 401, 0, 1.0f - 2.4e-7f, 0.0f, 40, 300, 10000,
                         "top_p 1 - 2.4e-7 into the far tail");
    free(logits);
}

static void test_min_p_drops_tokens_below_min_p_times_p_max(void) {
    float logits[HAND_N];
    hand_logits(logits);
    static const float mins[] = {0.05f, 0.2f, 0.5f, 0.7f};
    static const int sizes[] = {6, 4, 2, 1}; /* p >= .02, .08, .20, .28 of p_max .40 */
    for (size_t i = 0; i < sizeof mins / sizeof mins[0]; i++) {
        int kept[HAND_N];
        expected_kept(logits, HAND_N, 0, 1.0, mins[i], kept);
        CHECK_EQ_INT(count_set(kept, HAND_N), sizes[i]);
        char what[32];
        snprintf(what, sizeof what, "min_p %.2f", (double)mins[i]);
        check_kept_set(logits, HAND_N, 0, 1.0f, mins[i], 5000, what);
    }
}

static void test_top_p_is_measured_before_min_p(void) {
    float logits[HAND_N];
    hand_logits(logits);
    /* top_p .45 on the full softmax keeps .40 + .25; min_p .3 (p >= .12) keeps both.
     * min-p first and a renormalised top-p would keep one (.40 / .80 >= .45). */
    int kept[HAND_N];
    expected_kept(logits, HAND_N, 0, 0.45, 0.3, kept);
    CHECK_EQ_INT(count_set(kept, HAND_N), 2);
    check_kept_set(logits, HAND_N, 0, 0.45f, 0.3f, 5000, "top_p .45, min_p .3");
    /* top_p .99 keeps 7, min_p .2 (p >= .08) then keeps 4. */
    expected_kept(logits, HAND_N, 0, 0.99, 0.2, kept);
    CHECK_EQ_INT(count_set(kept, HAND_N), 4);
    check_kept_set(logits, HAND_N, 0, 0.99f, 0.2f, 5000, "top_p .99, min_p .2");

    enum { N = 8192 };
    float *big = malloc(N * sizeof *big);
    random_logits(big, N, 6, 4.0, 0.25);
    check_kept_set_sized(big, N, 0, 0.95f, 0.01f, 5, 60, 1500, "top_p .95, min_p .01 of 8k");
    check_kept_set_sized(big, N, 50, 0.95f, 0.05f, 2, 50, 1000, "defaults' filters on 8k");
    free(big);
}

/* ---- distributions ------------------------------------------------------------------- */

/* Each token's frequency within 4 sigma of draws * softmax(logits / t). */
static void check_distribution(float t, uint64_t logit_seed) {
    enum { N = 8, DRAWS = 200000 };
    float logits[N];
    random_logits(logits, N, logit_seed, 1.0, 0.0);
    double p[N];
    softmax_ref(logits, N, (double)t, p);

    ql_sampler_params sp = params_off(t);
    ql_sampler *s = make(&sp, N);
    if (!s) return;
    int counts[N];
    draw_counts(s, logits, N, DRAWS, counts);
    for (int i = 0; i < N; i++) {
        double mean = DRAWS * p[i], sigma = sqrt(DRAWS * p[i] * (1.0 - p[i]));
        CHECK_MSG(fabs(counts[i] - mean) <= 4.0 * sigma + 1e-9,
                  "T %g token %d: %d draws, expected %.1f +- %.1f", (double)t, i, counts[i],
                  mean, sigma);
    }
    ql_sampler_free(s);
}

static void test_distribution_at_temperature_1_matches_softmax(void) {
    check_distribution(1.0f, 100);
}

static void test_distribution_at_temperature_half_matches_softmax_of_doubled_logits(void) {
    check_distribution(0.5f, 101);
}

/* ---- repetition penalty -------------------------------------------------------------- */

static ql_sampler *greedy_penalised(int n, float penalty, int last_n) {
    ql_sampler_params p = params_off(0.0f);
    p.repeat_penalty = penalty;
    p.repeat_last_n = last_n;
    return make(&p, n);
}

static void test_repeat_penalty_divides_a_positive_max_below_the_runner_up(void) {
    float a[4] = {1.0f, 3.0f, 2.0f, 0.5f};
    ql_sampler *s = greedy_penalised(4, 2.0f, 64);
    if (!s) return;
    ql_sampler_accept(s, 1); /* 3 / 2 = 1.5 < 2 */
    CHECK_EQ_INT(ql_sampler_sample(s, a), 2);
    ql_sampler_free(s);

    /* Sampled tokens enter the history: 1 (none penalised), 2 (1 at 1.5), then 1 (1.5
     * beats 2 / 2 = 1). Reset forgets them. */
    s = greedy_penalised(4, 2.0f, 64);
    if (!s) return;
    CHECK_EQ_INT(ql_sampler_sample(s, a), 1);
    CHECK_EQ_INT(ql_sampler_sample(s, a), 2);
    CHECK_EQ_INT(ql_sampler_sample(s, a), 1);
    ql_sampler_reset(s);
    CHECK_EQ_INT(ql_sampler_sample(s, a), 1);
    ql_sampler_free(s);
}

static void test_repeat_penalty_multiplies_negative_logits(void) {
    float a[3] = {-1.0f, -1.5f, -3.0f};
    ql_sampler *s = greedy_penalised(3, 2.0f, 64);
    if (!s) return;
    ql_sampler_accept(s, 0); /* -1 * 2 = -2 < -1.5 */
    CHECK_EQ_INT(ql_sampler_sample(s, a), 1);
    ql_sampler_free(s);
}

static void test_repeat_penalty_counts_each_token_once(void) {
    float a[3] = {1.0f, 3.0f, 1.2f}; /* once: 1.5 > 1.2; twice would be .75 */
    ql_sampler *s = greedy_penalised(3, 2.0f, 64);
    if (!s) return;
    for (int i = 0; i < 5; i++) ql_sampler_accept(s, 1);
    CHECK_EQ_INT(ql_sampler_sample(s, a), 1);
    ql_sampler_free(s);
}

static void test_repeat_penalty_sees_only_the_last_n_tokens(void) {
    float a[8] = {1.0f, 3.0f, 2.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
    ql_sampler *s = greedy_penalised(8, 2.0f, 2);
    if (!s) return;
    ql_sampler_accept(s, 1);
    ql_sampler_accept(s, 5);
    ql_sampler_accept(s, 6); /* 1 has left the window */
    ql_sampler_accept(s, -3);  /* out of range: ignored */
    ql_sampler_accept(s, 100);
    CHECK_EQ_INT(ql_sampler_sample(s, a), 1);
    ql_sampler_free(s);

    s = greedy_penalised(8, 2.0f, 0); /* window 0: off */
    if (!s) return;
    ql_sampler_accept(s, 1);
    CHECK_EQ_INT(ql_sampler_sample(s, a), 1);
    ql_sampler_free(s);
}

/* ---- parameters ---------------------------------------------------------------------- */

static void check_rejected(const ql_sampler_params *p, int n_vocab, const char *field) {
    ql_sampler *s = (ql_sampler *)&s; /* not NULL, to see it cleared */
    ql_error err;
    ql_status st = ql_sampler_new(p, n_vocab, &s, &err);
    CHECK_MSG(st == QL_ERR_ARG, "%s: status %d", field, (int)st);
    CHECK_EQ_INT(err.status, QL_ERR_ARG);
    CHECK_MSG(strstr(err.message, field) != NULL, "message \"%s\" does not name %s",
              err.message, field);
    CHECK(s == NULL);
}

static void test_bad_params_are_rejected_naming_the_field(void) {
    ql_sampler_params ok = ql_sampler_params_default(), p;
    check_rejected(&ok, 0, "n_vocab");
    check_rejected(&ok, -5, "n_vocab");
    p = ok; p.temperature = NAN;             check_rejected(&p, 10, "temperature");
    p = ok; p.temperature = INFINITY;        check_rejected(&p, 10, "temperature");
    p = ok; p.top_p = 0.0f;                  check_rejected(&p, 10, "top_p");
    p = ok; p.top_p = -0.5f;                 check_rejected(&p, 10, "top_p");
    p = ok; p.top_p = NAN;                   check_rejected(&p, 10, "top_p");
    p = ok; p.min_p = 1.0f;                  check_rejected(&p, 10, "min_p");
    p = ok; p.min_p = NAN;                   check_rejected(&p, 10, "min_p");
    p = ok; p.repeat_penalty = 0.0f;         check_rejected(&p, 10, "repeat_penalty");
    p = ok; p.repeat_penalty = -1.0f;        check_rejected(&p, 10, "repeat_penalty");
    p = ok; p.repeat_penalty = NAN;          check_rejected(&p, 10, "repeat_penalty");
    p = ok; p.repeat_last_n = -1;            check_rejected(&p, 10, "repeat_last_n");
    p = ok; p.struct_size = 0;               check_rejected(&p, 10, "struct_size");
    check_rejected(NULL, 10, "params");

    ql_error err;
    CHECK_EQ_INT(ql_sampler_new(&ok, 10, NULL, &err), QL_ERR_ARG);
    CHECK(strstr(err.message, "out") != NULL);
    ql_sampler_free(NULL); /* no-op */
}

static void test_edge_params_are_accepted_as_off(void) {
    ql_sampler_params ok = ql_sampler_params_default(), p;
    CHECK(ok.temperature == 0.8f && ok.top_k == 40 && ok.top_p == 0.95f && ok.min_p == 0.05f);
    CHECK(ok.repeat_penalty == 1.0f && ok.repeat_last_n == 64);
    ql_sampler_params cases[6];
    p = ok; p.temperature = -1.0f; cases[0] = p; /* greedy */
    p = ok; p.top_k = -3;          cases[1] = p;
    p = ok; p.top_k = 1000;        cases[2] = p; /* > n_vocab */
    p = ok; p.top_p = 1.5f;        cases[3] = p;
    p = ok; p.min_p = -0.5f;       cases[4] = p;
    p = ok; p.repeat_last_n = 0;   cases[5] = p;
    float logits[10];
    random_logits(logits, 10, 9, 1.0, 0.0);
    for (int i = 0; i < 6; i++) {
        ql_sampler *s = make(&cases[i], 10);
        if (!s) continue;
        int32_t id = ql_sampler_sample(s, logits);
        CHECK(id >= 0 && id < 10);
        CHECK_EQ_INT(ql_sampler_sample(s, NULL), -1);
        ql_sampler_free(s);
    }
    CHECK_EQ_INT(ql_sampler_sample(NULL, logits), -1);
    ql_sampler_accept(NULL, 0); /* no-ops */
    ql_sampler_reset(NULL);

    ql_sampler *one = make(&ok, 1); /* a one-token vocabulary */
    if (one) CHECK_EQ_INT(ql_sampler_sample(one, logits), 0);
    ql_sampler_free(one);
}

int main(void) {
    RUN(test_greedy_returns_argmax);
    RUN(test_greedy_takes_lowest_id_on_exact_ties);
    RUN(test_greedy_ignores_nan);
    RUN(test_same_seed_gives_identical_sequences);
    RUN(test_different_seeds_give_different_sequences);
    RUN(test_top_k_1_equals_greedy_at_any_temperature);
    RUN(test_top_k_3_never_leaves_the_three_largest);
    RUN(test_top_k_keeps_the_k_best_with_ties_broken_by_id);
    RUN(test_top_p_drops_exactly_the_expected_tail);
    RUN(test_top_p_on_a_large_vocab_matches_the_definition);
    RUN(test_min_p_drops_tokens_below_min_p_times_p_max);
    RUN(test_top_p_is_measured_before_min_p);
    RUN(test_distribution_at_temperature_1_matches_softmax);
    RUN(test_distribution_at_temperature_half_matches_softmax_of_doubled_logits);
    RUN(test_repeat_penalty_divides_a_positive_max_below_the_runner_up);
    RUN(test_repeat_penalty_multiplies_negative_logits);
    RUN(test_repeat_penalty_counts_each_token_once);
    RUN(test_repeat_penalty_sees_only_the_last_n_tokens);
    RUN(test_bad_params_are_rejected_naming_the_field);
    RUN(test_edge_params_are_accepted_as_off);
    return TEST_REPORT();
}
