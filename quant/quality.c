/*
 * quant/quality.c: ql_perplexity(), the measurement behind `qloop perplexity` (contract:
 * include/qloop.h). Uses only the public API: a session per model evaluates each window
 * with all logits, and the rows are scored here in double precision.
 *
 * Windows (shared/models/README.md, "Perplexities"): the token stream is cut into
 * non-overlapping windows of n_ctx tokens t_0..t_{n-1}; the model sees BOS, t_0..t_{n-2}
 * and position j is scored on t_j, so every token of the window is scored once.
 * Without a BOS token the model sees t_0..t_{n-1} and t_1..t_{n-1} are scored.
 *
 * Per scored position, with p = softmax(model logits), q = softmax(base logits):
 *   NLL = -log p(target),   KL(q || p) = sum_v q_v (log q_v - log p_v),
 *   top-1 agreement = [argmax p == argmax q] (lowest id on ties).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qloop.h"
#include "runtime/error.h"

#define QUALITY_MAX_BATCH 512

ql_perplexity_params ql_perplexity_params_default(void) {
    ql_perplexity_params p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.n_ctx = 256;
    return p;
}

/* log(sum exp(x)) over n values, and the index of the largest (lowest on ties). */
static double log_sum_exp(const float *x, int32_t n, int32_t *argmax) {
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    double m = x[best], s = 0.0;
    for (int32_t i = 0; i < n; i++) s += exp((double)x[i] - m);
    *argmax = best;
    return m + log(s);
}

/* KL(q || p) for one row: q from base logits b, p from model logits x. */
static double kl_row(const float *b, double lse_b, const float *x, double lse_x, int32_t n) {
    double kl = 0.0;
    for (int32_t i = 0; i < n; i++) {
        double lq = (double)b[i] - lse_b, lp = (double)x[i] - lse_x;
        kl += exp(lq) * (lq - lp);
    }
    return kl > 0.0 ? kl : 0.0; /* rounding can give -1e-17 for identical rows */
}

typedef struct scorer {
    double sum_nll, sum_base_nll, sum_kl, max_kl;
    uint64_t n, agree;
} scorer;

static void score_rows(scorer *sc, const float *lx, const float *lb, const int32_t *target,
                       int64_t n_rows, int32_t n_vocab) {
    for (int64_t r = 0; r < n_rows; r++) {
        const float *x = lx + (size_t)r * (size_t)n_vocab;
        int32_t ax, ab;
        double lse_x = log_sum_exp(x, n_vocab, &ax);
        sc->sum_nll += lse_x - (double)x[target[r]];
        if (lb) {
            const float *b = lb + (size_t)r * (size_t)n_vocab;
            double lse_b = log_sum_exp(b, n_vocab, &ab);
            double kl = kl_row(b, lse_b, x, lse_x, n_vocab);
            sc->sum_base_nll += lse_b - (double)b[target[r]];
            sc->sum_kl += kl;
            if (kl > sc->max_kl) sc->max_kl = kl;
            sc->agree += ax == ab;
        }
        sc->n++;
    }
}

static void fill_result(const scorer *sc, bool has_base, uint64_t windows,
                        ql_perplexity_result *r) {
    memset(r, 0, sizeof *r);
    r->n_windows = windows;
    r->n_tokens = sc->n;
    double n = sc->n ? (double)sc->n : 1.0;
    r->nll = sc->sum_nll / n;
    r->ppl = exp(r->nll);
    r->has_base = has_base;
    if (has_base) {
        r->base_nll = sc->sum_base_nll / n;
        r->base_ppl = exp(r->base_nll);
        r->kld_mean = sc->sum_kl / n;
        r->kld_max = sc->max_kl;
        r->top1 = (double)sc->agree / n;
        r->ppl_ratio = exp(r->nll - r->base_nll);
    }
}

typedef struct qrun {
    ql_session *s, *sb;
    float *lx, *lb;
    int32_t *in;
} qrun;

static void qrun_free(qrun *q) {
    ql_session_free(q->s);
    ql_session_free(q->sb);
    free(q->lx);
    free(q->lb);
    free(q->in);
}

/* The windows' evaluation and scoring on sessions the caller made (their loop settings
 * applied); `model` gives the vocabulary and BOS. */
static ql_status perplexity_run(const ql_model *model, ql_session *s, ql_session *sb,
                                const int32_t *ids, size_t n_ids,
                                const ql_perplexity_params *p, ql_perplexity_result *result,
                                ql_error *err) {
    ql_model_info mi;
    ql_model_get_info(model, &mi);
    int32_t ctx = p->n_ctx, bos = mi.bos_id;
    if (ctx < 2) return ql_fail(err, QL_ERR_ARG, "perplexity: window of %d tokens", ctx);
    if (ql_session_n_ctx(s) < ctx || (sb && ql_session_n_ctx(sb) < ctx))
        return ql_fail(err, QL_ERR_ARG, "perplexity: sessions hold fewer than %d tokens", ctx);
    uint64_t n_win = (uint64_t)n_ids / (uint64_t)ctx;
    if (p->n_chunks > 0 && (uint64_t)p->n_chunks < n_win) n_win = (uint64_t)p->n_chunks;
    if (n_win == 0)
        return ql_fail(err, QL_ERR_ARG, "perplexity: %zu tokens do not fill one window of %d",
                       n_ids, ctx);
    for (size_t i = 0; i < n_win * (uint64_t)ctx; i++)
        if (ids[i] < 0 || ids[i] >= mi.n_vocab)
            return ql_fail(err, QL_ERR_ARG, "perplexity: token %zu id %d outside the vocabulary",
                           i, ids[i]);

    int32_t nb = ctx < QUALITY_MAX_BATCH ? ctx : QUALITY_MAX_BATCH;
    qrun q;
    memset(&q, 0, sizeof q);
    size_t rows = (size_t)nb * (size_t)mi.n_vocab;
    q.lx = malloc(rows * sizeof(float));
    q.lb = sb ? malloc(rows * sizeof(float)) : NULL;
    q.in = malloc((size_t)ctx * sizeof(int32_t));
    if (!q.lx || (sb && !q.lb) || !q.in) {
        qrun_free(&q);
        return ql_fail(err, QL_ERR_NOMEM, "perplexity: out of memory for logits");
    }

    ql_status st = QL_OK;
    scorer sc;
    memset(&sc, 0, sizeof sc);
    for (uint64_t w = 0; !st && w < n_win; w++) {
        const int32_t *t = ids + w * (uint64_t)ctx;
        /* input ids and the target of each input position */
        const int32_t *target = bos >= 0 ? t : t + 1;
        int32_t n_scored = bos >= 0 ? ctx : ctx - 1;
        if (bos >= 0) {
            q.in[0] = bos;
            memcpy(q.in + 1, t, (size_t)(ctx - 1) * sizeof(int32_t));
        } else {
            memcpy(q.in, t, (size_t)ctx * sizeof(int32_t));
        }
        ql_session_reset(s);
        if (sb) ql_session_reset(sb);
        for (int32_t b0 = 0; !st && b0 < ctx; b0 += nb) {
            int32_t n = ctx - b0 < nb ? ctx - b0 : nb;
            st = ql_session_eval(s, q.in + b0, (size_t)n, q.lx, true, err);
            if (!st && sb) st = ql_session_eval(sb, q.in + b0, (size_t)n, q.lb, true, err);
            int32_t m = b0 + n <= n_scored ? n : n_scored - b0; /* rows with a target */
            if (!st && m > 0) score_rows(&sc, q.lx, q.lb, target + b0, m, mi.n_vocab);
        }
        if (!st && p->progress) {
            ql_perplexity_result part;
            fill_result(&sc, sb != NULL, w + 1, &part);
            p->progress(&part, n_win, p->progress_user);
        }
    }
    qrun_free(&q);
    if (st) return st;
    fill_result(&sc, sb != NULL, n_win, result);
    return ql_ok(err);
}

static ql_status check_call(const ql_model *model, const ql_model *base, const int32_t *ids,
                            size_t n_ids, const ql_perplexity_params *p,
                            ql_perplexity_result *result, ql_error *err) {
    if (!model || !result || (n_ids && !ids))
        return ql_fail(err, QL_ERR_ARG, "perplexity: model, ids and result are required");
    if (p->struct_size != sizeof *p)
        return ql_fail(err, QL_ERR_ARG, "perplexity: params struct_size %u, expected %zu",
                       p->struct_size, sizeof *p);
    memset(result, 0, sizeof *result);
    if (base) {
        ql_model_info mi, bi;
        ql_model_get_info(model, &mi);
        ql_model_get_info(base, &bi);
        if (bi.n_vocab != mi.n_vocab)
            return ql_fail(err, QL_ERR_ARG, "perplexity: base vocabulary %d != model's %d",
                           bi.n_vocab, mi.n_vocab);
    }
    return QL_OK;
}

ql_status ql_perplexity(const ql_model *model, const ql_model *base, const int32_t *ids,
                        size_t n_ids, const ql_perplexity_params *params,
                        ql_perplexity_result *result, ql_error *err) {
    ql_perplexity_params def = ql_perplexity_params_default();
    const ql_perplexity_params *p = params ? params : &def;
    ql_status st = check_call(model, base, ids, n_ids, p, result, err);
    if (st) return st;
    if (p->n_ctx < 2) return ql_fail(err, QL_ERR_ARG, "perplexity: window of %d tokens", p->n_ctx);
    ql_session_params sp = ql_session_params_default();
    sp.n_ctx = p->n_ctx;
    sp.n_batch = p->n_ctx < QUALITY_MAX_BATCH ? p->n_ctx : QUALITY_MAX_BATCH;
    sp.n_threads = p->n_threads;
    ql_session *s = NULL, *sb = NULL;
    st = ql_session_new(model, &sp, &s, err);
    if (!st && base) st = ql_session_new(base, &sp, &sb, err);
    if (!st) st = perplexity_run(model, s, sb, ids, n_ids, p, result, err);
    ql_session_free(s);
    ql_session_free(sb);
    return st;
}

ql_status ql_perplexity_sessions(ql_session *session, ql_session *base, const int32_t *ids,
                                 size_t n_ids, const ql_perplexity_params *params,
                                 ql_perplexity_result *result, ql_error *err) {
    ql_perplexity_params def = ql_perplexity_params_default();
    const ql_perplexity_params *p = params ? params : &def;
    if (!session) return ql_fail(err, QL_ERR_ARG, "perplexity: session is NULL");
    const ql_model *model = ql_session_model(session);
    ql_status st = check_call(model, base ? ql_session_model(base) : NULL, ids, n_ids, p,
                              result, err);
    if (st) return st;
    return perplexity_run(model, session, base, ids, n_ids, p, result, err);
}
