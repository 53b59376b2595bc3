/*
 * src/cli/cmd_bench.c: `qloop bench`: prompt (pp) and generation (tg) tokens/s, with the
 * memory-bandwidth roofline measured in the same run.
 *
 * pp: one batched evaluation of P tokens from an empty context, computing the last token's
 *     logits (as a prompt before generation, and llama-bench's pp, do).
 * tg: N single-token evaluations from an empty context, each computing its logits (as
 *     generation and llama-bench's tg do; decode_bytes counts the output matrix).
 * Tokens are seeded pseudo-random ids. Each is repeated R times; median, min and max are
 * reported. The roofline for tg is bandwidth / decode_bytes (the weight bytes one token
 * reads), and tg is given as a percentage of it. The read-bandwidth probe runs right before
 * each tg repetition and that repetition is rated against it: on a shared machine the
 * bandwidth available drifts between seconds (28-56 GB/s seen on one VM), so a probe taken
 * once, at another moment, would rate the kernels by the neighbours' load. Reported: the
 * median probe and the median of the per-repetition percentages (with min and max).
 * Besides, one pass of a smaller read probe runs before the first token of each tg
 * repetition, after every PROBE_EVERY tokens and after the last (outside the timed token
 * evaluations): the bandwidth sampled at the moments the tokens ran, and tg as a percentage
 * of that ("during"). Single passes, not the best of several: this compares decode with a
 * plain read at the same moments; the best-of-5 probe before the repetition stays the
 * conservative roofline.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "loop_args.h"
#include "qloop.h"

/* tg: tokens between two passes of the bandwidth sampler (256 MiB: 5-10 ms a pass here,
 * a tenth of the time of 8 tokens of a 1B model at 4 bits) */
enum { PROBE_EVERY = 8 };

static const char k_usage[] =
    "usage: qloop bench -m MODEL [-p 512] [-n 128] [-t N] [-r 3] [--json] [--profile]\n"
    "                   [--plain-layout]\n"
    "\n"
    "Measures prompt processing (pp: P tokens in one batch) and generation (tg: N tokens\n"
    "one at a time) from an empty context, R times each, and the memory read bandwidth\n"
    "(the decode roofline) in the same run.\n"
    "\n"
    "  -m, --model FILE   model (GGUF file or Hugging Face folder)\n"
    "  -p N               prompt tokens (default 512; 0 skips pp)\n"
    "  -n N               generated tokens (default 128; 0 skips tg)\n"
    "  -t, --threads N    threads (default: physical cores)\n"
    "  -r N               repetitions (default 3)\n"
    "      --json         one JSON object on stdout instead of the table\n"
    "      --plain-layout keep the weights in the file's layout (default: the matrices the\n"
    "                     kernels group are copied into their layout at load)\n"
    "      --profile      also the tg time by weight: each role's share of a token, its\n"
    "                     weight bytes per second and that against the bandwidth read\n"
    "                     between the tokens\n"
    "  -h, --help         this help\n";

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct stats {
    double median, min, max;
} stats;

static stats summarize(double *v, int n) {
    stats s = {0, 0, 0};
    if (n <= 0) return s;
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    s.min = v[0];
    s.max = v[n - 1];
    s.median = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    return s;
}

/* --profile: the tg tokens' time by weight role (ql_session_profile) over all repetitions:
 * tokens evaluated in `seconds`; `gbps` the bandwidth read between them (each repetition's
 * weighted by its tg time). JSON: the members "profile" (an array) and
 * "outside_matmuls_*" of the one object. */
static void print_profile(const ql_session *s, bool json, double tokens, double seconds,
                          double gbps) {
    ql_matmul_profile pr[QL_PROFILE_ENTRIES];
    int np = ql_session_profile(s, pr, QL_PROFILE_ENTRIES); /* at most QL_PROFILE_ENTRIES */
    double in_matmuls = 0.0;
    if (json) printf(", \"profile\": [");
    else
        printf("  tg time by weight (all repetitions; GB/s of weight bytes, and against the %.2f GB/s\n"
               "  read between the tokens, the repetitions weighted by their time):\n"
               "    %-44s %7s %9s %7s %8s %8s\n",
               gbps, "weights", "calls/tok", "ms/tok", "% token", "GB/s", "% bw");
    for (int i = 0; i < np; i++) {
        const ql_matmul_profile *p = &pr[i];
        double rate = p->seconds > 0 ? p->weight_bytes / p->seconds * 1e-9 : 0.0;
        double share = seconds > 0 ? 100.0 * p->seconds / seconds : 0.0;
        double of_bw = gbps > 0 ? 100.0 * rate / gbps : 0.0;
        in_matmuls += p->seconds;
        if (json)
            printf("%s{\"weights\": \"%s\", \"calls_per_token\": %.3f, \"ms_per_token\": %.4f, "
                   "\"pct_of_token\": %.2f, \"gbps\": %.3f, \"pct_of_bandwidth_during\": %.2f}",
                   i ? ", " : "", p->name, (double)p->calls / tokens, 1e3 * p->seconds / tokens, share,
                   rate, of_bw);
        else
            printf("    %-44s %9.2f %9.3f %6.1f%% %8.2f %7.1f%%\n", p->name, (double)p->calls / tokens,
                   1e3 * p->seconds / tokens, share, rate, of_bw);
    }
    double rest = seconds - in_matmuls;
    if (json)
        printf("], \"outside_matmuls_ms_per_token\": %.4f, \"outside_matmuls_pct\": %.2f",
               1e3 * rest / tokens, seconds > 0 ? 100.0 * rest / seconds : 0.0);
    else
        printf("    %-44s %9s %9.3f %6.1f%%\n", "outside the matmuls", "", 1e3 * rest / tokens,
               seconds > 0 ? 100.0 * rest / seconds : 0.0);
}

int ql_cmd_bench(int argc, char **argv) {
    const char *model = NULL;
    long long p = 512, n = 128, threads = 0, reps = 3;
    bool json = false, profile = false, plain_layout = false;
    ql_loop_args loop;
    ql_loop_args_init(&loop);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int lr = ql_loop_args_parse(&loop, argc, argv, &i, "bench");
        if (lr == 2) return 2;
        if (lr == 1) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(k_usage, stdout);
            fputs(ql_loop_args_usage, stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--profile")) {
            profile = true;
        } else if (!strcmp(a, "--plain-layout")) {
            plain_layout = true;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(model = ql_arg_value(argc, argv, &i, "bench"))) return 2;
        } else if (!strcmp(a, "-p") || !strcmp(a, "-n") || !strcmp(a, "-t") ||
                   !strcmp(a, "--threads") || !strcmp(a, "-r")) {
            long long *dst = a[1] == 'p' ? &p : a[1] == 'n' ? &n : a[1] == 'r' ? &reps : &threads;
            long long lo = a[1] == 'r' || a[1] == 't' || a[2] == 't' ? 1 : 0;
            if (!ql_arg_int_value(argc, argv, &i, "bench", lo, 1 << 20, dst)) return 2;
        } else {
            fprintf(stderr, "qloop bench: unknown option '%s'\n%s", a, k_usage);
            return 2;
        }
    }
    if (!model) {
        fprintf(stderr, "qloop bench: need -m MODEL\n%s", k_usage);
        return 2;
    }
    ql_error e = {0};
    ql_model *m = NULL;
    ql_session *s = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    double *pp = NULL, *tg = NULL, *bw = NULL, *pct = NULL, *bwd = NULL, *pctd = NULL;
    ql_bandwidth_probe *bp = NULL;
    int rc = 1;
    ql_model_params mp = ql_model_params_default();
    mp.plain_layout = plain_layout;
    if (ql_model_load(model, &mp, &m, &e)) goto fail;
    ql_model_info info;
    ql_model_get_info(m, &info);
    ql_session_params sp = ql_session_params_default();
    sp.n_threads = (int32_t)threads;
    sp.n_ctx = (int32_t)(p > n ? p : n) + 1;
    sp.n_batch = (int32_t)(p > 0 ? p : 1);
    if (ql_session_new(m, &sp, &s, &e) || ql_loop_args_apply(&loop, m, s, &e)) goto fail;
    size_t n_ids = (size_t)(p > n ? p : n) + 1;
    ids = malloc(n_ids * sizeof *ids);
    pp = calloc((size_t)reps, sizeof *pp);
    tg = calloc((size_t)reps, sizeof *tg);
    bw = calloc((size_t)reps, sizeof *bw);
    pct = calloc((size_t)reps, sizeof *pct);
    bwd = calloc((size_t)reps, sizeof *bwd);
    pctd = calloc((size_t)reps, sizeof *pctd);
    logits = malloc((size_t)info.n_vocab * sizeof *logits);
    if (!ids || !pp || !tg || !bw || !pct || !bwd || !pctd || !logits) goto done;
    if (n > 0 && !(bp = ql_bandwidth_probe_new(0, ql_session_n_threads(s)))) goto done;
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < n_ids; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ids[i] = (int32_t)(x % (uint64_t)info.n_vocab);
    }
    /* --profile: all tg repetitions' time, and the between-token bandwidth weighted by it */
    double tg_seconds = 0.0, bw_time = 0.0;
    /* warm-up: page in the weights, the output matrix included */
    if (ql_session_eval(s, ids, 1, logits, false, &e)) goto fail;
    for (long long r = 0; r < reps; r++) {
        if (p > 0) {
            ql_session_reset(s);
            double t0 = ql_time_seconds();
            if (ql_session_eval(s, ids, (size_t)p, logits, false, &e)) goto fail;
            pp[r] = (double)p / (ql_time_seconds() - t0);
        }
        if (n > 0 || r == 0) bw[r] = ql_read_bandwidth_gbps(0, ql_session_n_threads(s));
        if (n > 0) {
            ql_session_reset(s);
            double t_tok = 0.0;
            ql_bandwidth_probe_pass(bp);
            if (profile && ql_session_set_profiling(s, true, &e)) goto fail;
            for (long long i = 0; i < n; i++) {
                double t0 = ql_time_seconds();
                if (ql_session_eval(s, &ids[i], 1, logits, false, &e)) goto fail;
                t_tok += ql_time_seconds() - t0;
                if ((i + 1) % PROBE_EVERY == 0 || i + 1 == n) ql_bandwidth_probe_pass(bp);
            }
            ql_session_set_profiling(s, false, NULL);
            tg[r] = (double)n / t_tok;
            bwd[r] = ql_bandwidth_probe_mean(bp, true);
            tg_seconds += t_tok;
            bw_time += bwd[r] * t_tok;
        }
    }
    int nt = ql_session_n_threads(s);
    for (long long r = 0; r < reps; r++) {
        pct[r] = bw[r] > 0 && info.decode_bytes ? 100.0 * tg[r] * (double)info.decode_bytes / (bw[r] * 1e9) : 0;
        pctd[r] = bwd[r] > 0 && info.decode_bytes ? 100.0 * tg[r] * (double)info.decode_bytes / (bwd[r] * 1e9) : 0;
    }
    stats spp = summarize(pp, (int)reps), stg = summarize(tg, (int)reps);
    stats sbw = summarize(bw, n > 0 ? (int)reps : 1), spct = summarize(pct, (int)reps);
    stats sbwd = summarize(bwd, (int)reps), spctd = summarize(pctd, (int)reps);
    double roofline = sbw.median > 0 && info.decode_bytes ? sbw.median * 1e9 / (double)info.decode_bytes : 0;
    if (json) {
        printf("{\"model\": \"%s\", \"weight_type\": \"%s\", \"isa\": \"%s\", \"threads\": %d, "
               "\"pp_tokens\": %lld, \"tg_tokens\": %lld, \"repetitions\": %lld, "
               "\"pp_tps\": %.3f, \"pp_min\": %.3f, \"pp_max\": %.3f, "
               "\"tg_tps\": %.3f, \"tg_min\": %.3f, \"tg_max\": %.3f, "
               "\"bandwidth_gbps\": %.3f, \"bandwidth_min\": %.3f, \"bandwidth_max\": %.3f, "
               "\"bytes_per_token\": %llu, \"tg_roofline_tps\": %.3f, "
               "\"tg_roofline_pct\": %.2f, \"tg_roofline_pct_min\": %.2f, "
               "\"tg_roofline_pct_max\": %.2f, \"bandwidth_during_gbps\": %.3f, "
               "\"tg_during_pct\": %.2f, \"tg_during_pct_min\": %.2f, \"tg_during_pct_max\": %.2f",
               model, info.weight_type, ql_isa_name(), nt, p, n, reps, spp.median, spp.min,
               spp.max, stg.median, stg.min, stg.max, sbw.median, sbw.min, sbw.max,
               (unsigned long long)info.decode_bytes, roofline, spct.median, spct.min, spct.max,
               n > 0 ? sbwd.median : 0.0, n > 0 ? spctd.median : 0.0, n > 0 ? spctd.min : 0.0,
               n > 0 ? spctd.max : 0.0);
        if (profile && n > 0) print_profile(s, true, (double)(n * reps), tg_seconds, bw_time / tg_seconds);
        printf("}\n");
    } else {
        printf("model %s (%s), isa %s, %d threads, %lld repetitions\n", model, info.weight_type,
               ql_isa_name(), nt, reps);
        if (p > 0)
            printf("  pp%-5lld %10.2f tokens/s  (min %.2f, max %.2f)\n", p, spp.median, spp.min,
                   spp.max);
        if (n > 0)
            printf("  tg%-5lld %10.2f tokens/s  (min %.2f, max %.2f)\n", n, stg.median, stg.min,
                   stg.max);
        printf("  read bandwidth %.2f GB/s (min %.2f, max %.2f; probed before each tg run), "
               "%.1f MB per token -> roofline %.2f tokens/s\n",
               sbw.median, sbw.min, sbw.max, (double)info.decode_bytes / 1e6, roofline);
        if (n > 0)
            printf("  tg at %.1f%% of the roofline of its own probe (min %.1f%%, max %.1f%%)\n"
                   "  tg at %.1f%% of the bandwidth read between its tokens, %.2f GB/s "
                   "(min %.1f%%, max %.1f%%)\n",
                   spct.median, spct.min, spct.max, spctd.median, sbwd.median, spctd.min, spctd.max);
        if (profile && n > 0) print_profile(s, false, (double)(n * reps), tg_seconds, bw_time / tg_seconds);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "qloop bench: %s\n", e.message);
done:
    free(ids);
    free(logits);
    free(pp);
    free(tg);
    free(bw);
    free(pct);
    free(bwd);
    free(pctd);
    ql_bandwidth_probe_free(bp);
    ql_session_free(s);
    ql_model_free(m);
    return rc;
}
