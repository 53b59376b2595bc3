/*
 * src/text/sampler.c: picks the next token from one row of logits.
 *
 * The chain, in llama.cpp's default order (each step optional, see ql_sampler_params):
 *
 *   logits ─ sanitise ─ repetition penalty ─┬─ temperature <= 0: argmax ───────────► id
 *                                           └─ top-k → top-p → min-p → temperature
 *                                              → softmax → one draw from the RNG ──► id
 *
 *  - Sanitise: a NaN logit becomes -inf (it can never be chosen unless every logit is
 *    NaN or -inf, and then token 0 is returned); +inf becomes FLT_MAX so that
 *    `logit - max` stays finite; -0 becomes +0 so equal logits compare and sort alike.
 *  - Repetition penalty (CTRL, Keskar et al. 2019, sec. 4.1): each distinct token among
 *    the last repeat_last_n accepted ones, once: logit > 0 → logit / penalty, otherwise
 *    logit * penalty. Ids outside [0, n_vocab) given to ql_sampler_accept are ignored.
 *  - Greedy: argmax of the penalised logits, lowest id on ties. Uses no randomness.
 *  - Candidates are ordered by (logit descending, id ascending), a strict total order:
 *    where a filter cuts between equal logits, the lower id is kept, whichever selection
 *    algorithm ran.
 *  - top-k: the k best candidates.
 *  - top-p (Holtzman et al. 2019, "nucleus"): on p_i = softmax(un-tempered logits of the
 *    candidates left by top-k), keep the shortest best-first prefix whose mass is
 *    >= top_p (at least one token).
 *  - min-p: drop tokens with p_i < min_p * p_max (p over what top-p kept), i.e. logit <
 *    max + ln(min_p): the ratio p_i / p_max does not change when top-p renormalises, so
 *    min-p needs no order and runs in the same pass as top-p (see top_p_filter).
 *  - Temperature T: weights w_i = exp((logit_i - max) / T), the softmax of logits / T
 *    without overflow for tiny T; the token is drawn by walking the candidates with
 *    u * sum(w), u uniform in [0, 1) from 53 random bits. Every non-greedy sample takes
 *    exactly one 64-bit number from the RNG, however many candidates survive.
 *  - RNG: xoshiro256** (Blackman & Vigna 2018), its state seeded from `seed` by
 *    splitmix64. Nothing global: two samplers with the same seed and logits agree.
 *    ql_sampler_reset reseeds it and clears the history.
 *  - exp is libm's expf rather than the kernel table's vectorised softmax, so the
 *    tokens do not change with the ISA level the table picked (QLOOP_ISA).
 *  - ql_sampler_sample returns -1 when the sampler or the logits are NULL.
 *
 * Cost per token (n = n_vocab): one pass to copy and sanitise the logits, one for the
 * max. top-k: a k-entry heap (n comparisons with its root, few insertions on logits in
 * no particular order), or a radix sort of all n when k is a large share of n. top-p
 * without top-k: one pass of expf histograms the mass, then only the tokens of one
 * histogram bucket are sorted. Every buffer is allocated in ql_sampler_new:
 * ql_sampler_sample does not allocate.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qloop.h"
#include "runtime/error.h"

typedef struct ql_candidate {
    int32_t id;
    float logit;
} ql_candidate;

struct ql_sampler {
    ql_sampler_params params;
    int32_t n_vocab;
    ql_candidate *cand;     /* (n_vocab) the working list; cand[i].id == i after the copy */
    ql_candidate *sort_tmp; /* (n_vocab) radix sort ping-pong buffer */
    float *weight;          /* (n_vocab) softmax weights of cand[i], same index */
    uint8_t *seen;          /* (n_vocab) all zero between calls; marks penalised ids */
    int32_t *history;       /* (repeat_last_n) ring of accepted ids */
    int32_t n_history;      /* filled entries, <= repeat_last_n */
    int32_t history_next;   /* slot the next accepted id goes to */
    uint64_t rng[4];        /* xoshiro256** state, never all zero */
};

/* top-k uses the heap when k * QL_HEAP_RATIO < n, otherwise sorts all n: at n = 256k the
 * heap costs as much as the radix sort (1.4 ms on the development VM) near k = 2000, at
 * n = 32k near k = 250. */
enum { QL_HEAP_RATIO = 128, QL_INSERTION_SORT_MAX = 32 };

/* top-p's histogram of probability mass by distance from the max logit. */
enum { QL_MASS_BUCKETS = 64, QL_MASS_BUCKETS_PER_NAT = 4 };

/* ---- parameters ---------------------------------------------------------------------- */

ql_sampler_params ql_sampler_params_default(void) {
    ql_sampler_params p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.seed = 0x5eed;
    return p;
}

static ql_status check_params(const ql_sampler_params *p, int32_t n_vocab, ql_error *err) {
    if (n_vocab <= 0)
        return ql_fail(err, QL_ERR_ARG, "sampler: n_vocab must be > 0 (got %d)", (int)n_vocab);
    /* Only one layout exists yet; when fields are added, older sizes are accepted here
     * and their missing fields defaulted. */
    if (p->struct_size < sizeof *p)
        return ql_fail(err, QL_ERR_ARG,
                       "sampler: params.struct_size is %u; initialise the params with "
                       "ql_sampler_params_default()", (unsigned)p->struct_size);
    if (!isfinite(p->temperature))
        return ql_fail(err, QL_ERR_ARG, "sampler: temperature must be finite (got %g)",
                       (double)p->temperature);
    if (!(p->top_p > 0.0f))
        return ql_fail(err, QL_ERR_ARG, "sampler: top_p must be > 0 (>= 1: off; got %g)",
                       (double)p->top_p);
    if (!(p->min_p < 1.0f))
        return ql_fail(err, QL_ERR_ARG, "sampler: min_p must be < 1 (<= 0: off; got %g)",
                       (double)p->min_p);
    if (!(p->repeat_penalty > 0.0f) || !isfinite(p->repeat_penalty))
        return ql_fail(err, QL_ERR_ARG,
                       "sampler: repeat_penalty must be finite and > 0 (1: off; got %g)",
                       (double)p->repeat_penalty);
    if (p->repeat_last_n < 0)
        return ql_fail(err, QL_ERR_ARG, "sampler: repeat_last_n must be >= 0 (got %d)",
                       (int)p->repeat_last_n);
    return QL_OK;
}

/* ---- RNG: splitmix64 seeding, xoshiro256** ------------------------------------------ */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(uint64_t s[4], uint64_t seed) {
    for (int i = 0; i < 4; i++) s[i] = splitmix64(&seed);
    /* splitmix64 is a bijection of its counter, so four successive outputs are never
     * all zero; xoshiro's only forbidden state cannot occur. */
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t s[4]) {
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Uniform in [0, 1): the top 53 bits, the full precision of a double. */
static double rng_uniform(uint64_t s[4]) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

/* ---- life cycle ---------------------------------------------------------------------- */

void ql_sampler_free(ql_sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s->sort_tmp);
    free(s->weight);
    free(s->seen);
    free(s->history);
    free(s);
}

ql_status ql_sampler_new(const ql_sampler_params *params, int32_t n_vocab, ql_sampler **out,
                         ql_error *err) {
    if (!out) return ql_fail(err, QL_ERR_ARG, "sampler: out is NULL");
    *out = NULL;
    if (!params) return ql_fail(err, QL_ERR_ARG, "sampler: params is NULL");
    ql_status st = check_params(params, n_vocab, err);
    if (st != QL_OK) return st;

    ql_sampler *s = calloc(1, sizeof *s);
    if (!s) return ql_fail(err, QL_ERR_NOMEM, "sampler: out of memory");
    s->params = *params;
    s->params.struct_size = sizeof s->params;
    s->n_vocab = n_vocab;
    size_t n = (size_t)n_vocab;
    s->cand = malloc(n * sizeof *s->cand);
    s->sort_tmp = malloc(n * sizeof *s->sort_tmp);
    s->weight = malloc(n * sizeof *s->weight);
    s->seen = calloc(n, 1);
    if (params->repeat_last_n > 0)
        s->history = malloc((size_t)params->repeat_last_n * sizeof *s->history);
    if (!s->cand || !s->sort_tmp || !s->weight || !s->seen ||
        (params->repeat_last_n > 0 && !s->history)) {
        ql_sampler_free(s);
        return ql_fail(err, QL_ERR_NOMEM, "sampler: out of memory for n_vocab %d",
                       (int)n_vocab);
    }
    rng_seed(s->rng, params->seed);
    *out = s;
    return ql_ok(err);
}

void ql_sampler_reset(ql_sampler *s) {
    if (!s) return;
    s->n_history = 0;
    s->history_next = 0;
    rng_seed(s->rng, s->params.seed);
}

void ql_sampler_accept(ql_sampler *s, int32_t id) {
    if (!s || id < 0 || id >= s->n_vocab) return;
    int32_t cap = s->params.repeat_last_n;
    if (cap == 0) return;
    s->history[s->history_next] = id;
    s->history_next = (s->history_next + 1) % cap;
    if (s->n_history < cap) s->n_history++;
}

/* ---- candidate list ------------------------------------------------------------------ */

/* NaN → -inf, +inf → FLT_MAX, -0 → +0. On the bits, so that the copy loop vectorises
 * (float compares are branches under the default -ftrapping-math). */
static float sanitise(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u = (u & 0x7fffffffu) > 0x7f800000u ? 0xff800000u : u;
    u = u == 0x7f800000u ? 0x7f7fffffu : u;
    u = u == 0x80000000u ? 0u : u;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* True when a comes before b: higher logit, then lower id. A strict total order. */
static int better(ql_candidate a, ql_candidate b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

static void apply_penalty(ql_sampler *s) {
    float penalty = s->params.repeat_penalty;
    if (penalty == 1.0f || s->n_history == 0) return;
    for (int32_t i = 0; i < s->n_history; i++) {
        int32_t id = s->history[i];
        if (s->seen[id]) continue;
        s->seen[id] = 1;
        float x = s->cand[id].logit;
        x = x > 0.0f ? x / penalty : x * penalty;
        s->cand[id].logit = sanitise(x);
    }
    for (int32_t i = 0; i < s->n_history; i++) s->seen[s->history[i]] = 0;
}

/* Eight running maxima: a single one is a chain of dependent max instructions, each
 * waiting for the last (greedy at n = 256k went from 0.40 to 0.26 ms). */
static float max_logit(const ql_candidate *cand, int32_t m) {
    float mx[8] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
                   -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    int32_t i = 0;
    for (; i + 8 <= m; i += 8)
        for (int j = 0; j < 8; j++) mx[j] = cand[i + j].logit > mx[j] ? cand[i + j].logit : mx[j];
    for (; i < m; i++) mx[0] = cand[i].logit > mx[0] ? cand[i].logit : mx[0];
    for (int j = 1; j < 8; j++) mx[0] = mx[j] > mx[0] ? mx[j] : mx[0];
    return mx[0];
}

/* First of cand[0..m) whose logit is x: the lowest id when the list is in id order, the
 * best when it is sorted. */
static int32_t first_with_logit(const ql_candidate *cand, int32_t m, float x) {
    int32_t i = 0;
    while (i < m - 1 && cand[i].logit != x) i++;
    return i;
}

/* Bucket of a logit x <= max: floor((max - x) * 4), the last bucket for everything
 * 15.75 nats or more below the max (max - x may be +inf). The clamp is an integer min
 * on the bits (d >= 0, and non-negative floats order as their bits): a float compare
 * here compiles to a branch, mispredicted for a third of a wide vocabulary. */
static int mass_bucket(float max, float x) {
    float d = (max - x) * (float)QL_MASS_BUCKETS_PER_NAT, top = QL_MASS_BUCKETS - 1;
    uint32_t u, cap;
    memcpy(&u, &d, sizeof u);
    memcpy(&cap, &top, sizeof cap);
    u = u < cap ? u : cap;
    memcpy(&d, &u, sizeof d);
    return (int)d;
}

/* ---- top-k: a heap whose root is the worst of the k best seen so far ----------------- */

static void heap_sift_down(ql_candidate *h, int32_t k, int32_t i) {
    ql_candidate x = h[i];
    for (;;) {
        int32_t c = 2 * i + 1;
        if (c >= k) break;
        if (c + 1 < k && better(h[c], h[c + 1])) c++; /* the worse child */
        if (!better(x, h[c])) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

/* Leaves the k best of cand[0..n) in cand[0..k), best first. 0 < k < n. */
static void top_k_heap(ql_candidate *cand, int32_t n, int32_t k) {
    for (int32_t i = k / 2 - 1; i >= 0; i--) heap_sift_down(cand, k, i);
    for (int32_t j = k; j < n; j++) {
        if (better(cand[j], cand[0])) {
            cand[0] = cand[j];
            heap_sift_down(cand, k, 0);
        }
    }
    for (int32_t end = k - 1; end > 0; end--) { /* heapsort: the worst goes last */
        ql_candidate t = cand[0];
        cand[0] = cand[end];
        cand[end] = t;
        heap_sift_down(cand, end, 0);
    }
}

/* ---- sorting: best first ------------------------------------------------------------- */

/* A logit's bits → a key whose ascending unsigned order is descending logit order, and
 * back. Positive floats order as their bits; negative ones in reverse. */
static uint32_t desc_key(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return (u & 0x80000000u) ? u : ~u & 0x7fffffffu;
}

static float from_desc_key(uint32_t k) {
    uint32_t u = (k & 0x80000000u) ? k : ~k & 0x7fffffffu;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

static void insertion_sort(ql_candidate *a, int32_t m) {
    for (int32_t i = 1; i < m; i++) {
        ql_candidate x = a[i];
        int32_t j = i;
        for (; j > 0 && better(x, a[j - 1]); j--) a[j] = a[j - 1];
        a[j] = x;
    }
}

/* Sorts a[0..m) best first. LSD radix sort in 11 + 11 + 10 bit digits; it is stable, so
 * equal logits stay in the order they came in, which must be ascending id (it is: the
 * list is in id order, or compacted from it, whenever this runs). The logit field holds
 * the key's bits while sorting. */
static void sort_candidates(ql_candidate *a, ql_candidate *tmp, int32_t m) {
    if (m <= QL_INSERTION_SORT_MAX) {
        insertion_sort(a, m);
        return;
    }
    enum { BINS = 2048 };
    static const int shift[3] = {0, 11, 22};
    uint32_t count[3][BINS];
    memset(count, 0, sizeof count);
    for (int32_t i = 0; i < m; i++) {
        uint32_t k = desc_key(a[i].logit);
        memcpy(&a[i].logit, &k, sizeof k);
        count[0][k & 2047]++;
        count[1][(k >> 11) & 2047]++;
        count[2][k >> 22]++;
    }
    ql_candidate *src = a, *dst = tmp;
    for (int pass = 0; pass < 3; pass++) {
        uint32_t *c = count[pass], k0;
        memcpy(&k0, &src[0].logit, sizeof k0);
        if (c[(k0 >> shift[pass]) & 2047] == (uint32_t)m) continue; /* one digit for all */
        uint32_t sum = 0;
        for (int d = 0; d < BINS; d++) {
            uint32_t n = c[d];
            c[d] = sum;
            sum += n;
        }
        for (int32_t i = 0; i < m; i++) {
            uint32_t k;
            memcpy(&k, &src[i].logit, sizeof k);
            dst[c[(k >> shift[pass]) & 2047]++] = src[i];
        }
        ql_candidate *t = src;
        src = dst;
        dst = t;
    }
    for (int32_t i = 0; i < m; i++) {
        uint32_t k;
        memcpy(&k, &src[i].logit, sizeof k);
        a[i].id = src[i].id;
        a[i].logit = from_desc_key(k);
    }
}

/* ---- the non-greedy chain ------------------------------------------------------------ */

/* min-p: keeps, in order, the candidates with logit >= min_logit; returns how many. */
static int32_t keep_min_p(ql_candidate *cand, int32_t m, float min_logit) {
    int32_t kept = 0;
    for (int32_t i = 0; i < m; i++) { /* branch-free: which tokens pass is unpredictable */
        ql_candidate c = cand[i];
        cand[kept] = c;
        kept += c.logit >= min_logit;
    }
    return kept;
}

/*
 * top-p, then min-p. The nucleus is a best-first prefix, but sorting a whole unsorted
 * list costs ~2 ms at n = 256k. So one pass histograms the mass exp(logit - max) by
 * distance from the max (mass_bucket) and finds the bucket `edge` where the cumulative
 * mass reaches top_p * Z: tokens in nearer buckets are all in the nucleus, farther ones
 * are not, and only the edge bucket's tokens are sorted and scanned. The nucleus ends up
 * as the nearer tokens in their incoming order, then the edge's prefix best first.
 * The bucket sums and the scan add in different orders; should rounding leave the scan
 * short of top_p * Z (by a relative 1e-11 at most), the whole edge bucket is kept.
 * min-p needs no order (p_i / p_max is the same before and after top-p renormalises):
 * it is applied in the same pass.
 */
static int32_t top_p_filter(ql_sampler *s, int32_t m, int sorted, float max,
                            float min_logit) {
    ql_candidate *cand = s->cand, *edge_tmp = s->sort_tmp;
    double mass[QL_MASS_BUCKETS] = {0}, z = 0.0;
    for (int32_t i = 0; i < m; i++)
        mass[mass_bucket(max, cand[i].logit)] += expf(cand[i].logit - max);
    for (int b = 0; b < QL_MASS_BUCKETS; b++) z += mass[b];
    double target = (double)s->params.top_p * z, nearer = 0.0; /* z >= 1: max has 1 */
    int edge = 0;
    while (edge < QL_MASS_BUCKETS - 1 && nearer + mass[edge] < target) nearer += mass[edge++];

    int32_t n_near = 0, n_edge = 0;
    for (int32_t i = 0; i < m; i++) { /* branch-free split, order kept */
        ql_candidate c = cand[i];
        int b = mass_bucket(max, c.logit), pass_min_p = c.logit >= min_logit;
        cand[n_near] = c;
        edge_tmp[n_edge] = c;
        n_near += (b < edge) & pass_min_p;
        n_edge += (b == edge) & pass_min_p;
    }
    ql_candidate *e = cand + n_near;
    memcpy(e, edge_tmp, (size_t)n_edge * sizeof *e);
    if (!sorted) sort_candidates(e, edge_tmp, n_edge);
    double cum = nearer;
    for (int32_t i = 0; i < n_edge; i++) {
        cum += expf(e[i].logit - max);
        if (cum >= target) return n_near + i + 1;
    }
    return n_near + n_edge;
}

/* Draws from cand[0..m) with weights exp((logit - max) / T). */
static int32_t draw(ql_sampler *s, int32_t m, float max) {
    const ql_candidate *cand = s->cand;
    float t = s->params.temperature; /* divided, not multiplied by 1/T: 1/T may be inf */
    double total = 0.0;
    for (int32_t i = 0; i < m; i++) {
        s->weight[i] = expf((cand[i].logit - max) / t);
        total += s->weight[i];
    }
    double u = rng_uniform(s->rng);
    double target = u * total, cum = 0.0;
    int32_t last = 0;
    for (int32_t i = 0; i < m; i++) {
        if (s->weight[i] <= 0.0f) continue;
        cum += s->weight[i];
        last = i;
        if (target < cum) return cand[i].id;
    }
    return cand[last].id; /* rounding put target at the very top (total >= 1: max has w 1) */
}

static int32_t sample_chain(ql_sampler *s) {
    const ql_sampler_params *p = &s->params;
    ql_candidate *cand = s->cand;
    int32_t m = s->n_vocab;
    int sorted = 0;

    if (p->top_k > 0 && p->top_k < m) {
        if ((int64_t)p->top_k * QL_HEAP_RATIO < m) {
            top_k_heap(cand, m, p->top_k);
        } else {
            sort_candidates(cand, s->sort_tmp, m);
        }
        m = p->top_k;
        sorted = 1;
    }
    float max = sorted ? cand[0].logit : max_logit(cand, m);
    if (max == -INFINITY) { /* every logit NaN or -inf: logit - max would be NaN */
        rng_next(s->rng);
        return cand[0].id;
    }
    /* min-p: p_i >= min_p * p_max  <=>  logit_i >= max + ln(min_p) */
    float min_logit = p->min_p > 0.0f ? max + logf(p->min_p) : -INFINITY;
    if (p->top_p < 1.0f) {
        m = top_p_filter(s, m, sorted, max, min_logit);
    } else if (p->min_p > 0.0f) {
        m = keep_min_p(cand, m, min_logit);
    }
    return draw(s, m, max);
}

int32_t ql_sampler_sample(ql_sampler *s, const float *logits) {
    if (!s || !logits) return -1;
    ql_candidate *cand = s->cand;
    int32_t n = s->n_vocab; /* a local, so the loop need not reload it after each store */
    for (int32_t i = 0; i < n; i++) {
        cand[i].id = i;
        cand[i].logit = sanitise(logits[i]);
    }
    apply_penalty(s);
    int32_t id;
    if (s->params.temperature <= 0.0f) {
        id = cand[first_with_logit(cand, s->n_vocab, max_logit(cand, s->n_vocab))].id;
    } else {
        id = sample_chain(s);
    }
    ql_sampler_accept(s, id);
    return id;
}
