/*
 * src/cli/cmd_perplexity.c: `qloop perplexity -m MODEL -f TEXT [--ctx 256] [--chunks N]
 * [-t N] [--kl-base BASE] [--json] [--stats] [--loop* ...]`: perplexity of a model on a
 * text, and with --kl-base how far its next-token distributions are from a base model's.
 *
 * Without loop options this is ql_perplexity(), whose sessions run the model's own loop
 * settings. With any --loop* option (or --stats) the CLI makes the sessions, applies the
 * loop settings with ql_loop_args_apply() and calls ql_perplexity_sessions(), which shares
 * ql_perplexity()'s windows and scoring (quant/quality.c). Each window is one batched evaluation from an empty cache (for
 * --ctx <= 512), so the window's tokens never see a previous window's K/V: with
 * `virtual` + `serial` and V = n (the default for --loop-count n) that equals the unrolled,
 * uncached model, and so does `merge` (the chunk only sees its own current iteration).
 * One cosine stop decision covers a whole window (spec section 3).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "loop_args.h"
#include "qloop.h"
#include "text_file.h"

static const char k_usage[] =
    "usage: qloop perplexity -m MODEL -f TEXT [--ctx 256] [--chunks N] [-t N]\n"
    "                        [--kl-base BASE] [--json] [--stats] [loop options]\n"
    "\n"
    "Cuts TEXT's tokens into non-overlapping windows of CTX tokens; the model sees BOS and\n"
    "the first CTX-1 of them from an empty context and all CTX are scored. Prints the\n"
    "perplexity and the mean negative log-likelihood (nats per token).\n"
    "\n"
    "  -m, --model MODEL  model (GGUF file or Hugging Face folder)\n"
    "  -f, --file TEXT    UTF-8 text\n"
    "      --ctx N        window length in tokens (default 256)\n"
    "      --chunks N     windows to evaluate (default: all)\n"
    "  -t, --threads N    threads (default: physical cores)\n"
    "      --kl-base BASE also run BASE on the same tokens: mean and max KL(BASE || MODEL),\n"
    "                     top-1 agreement and the perplexity ratio MODEL / BASE\n"
    "      --json         one JSON object on stdout\n"
    "      --stats        print loop-layer statistics to stderr at the end\n"
    "  -h, --help         this help\n"
    "\n"
    "With loop options the model runs with those loop settings (the base, if any, with its\n"
    "own); each window is one batch from an empty cache, and the mean iterations per\n"
    "token of each loop block are printed.\n";

typedef struct ppl_opts {
    const char *model, *text, *base;
    long long ctx, chunks, threads;
    bool json, bar, stats;
    double t0;
    ql_loop_args loop;
} ppl_opts;

static int parse(int argc, char **argv, ppl_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long *num = NULL, lo = 1;
        int lr = ql_loop_args_parse(&o->loop, argc, argv, &i, "perplexity");
        if (lr == 2) return 2;
        if (lr == 1) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(k_usage, stdout);
            fputs(ql_loop_args_usage, stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(o->model = ql_arg_value(argc, argv, &i, "perplexity"))) return 2;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(o->text = ql_arg_value(argc, argv, &i, "perplexity"))) return 2;
        } else if (!strcmp(a, "--kl-base")) {
            if (!(o->base = ql_arg_value(argc, argv, &i, "perplexity"))) return 2;
        } else if (!strcmp(a, "--json")) {
            o->json = true;
        } else if (!strcmp(a, "--stats")) {
            o->stats = true;
        } else if (!strcmp(a, "--ctx")) {
            num = &o->ctx, lo = 2;
        } else if (!strcmp(a, "--chunks")) {
            num = &o->chunks;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            num = &o->threads;
        } else {
            fprintf(stderr, "qloop perplexity: unknown option '%s'\n%s", a, k_usage);
            return 2;
        }
        if (num && !ql_arg_int_value(argc, argv, &i, "perplexity", lo, 1 << 24, num)) return 2;
    }
    if (!o->model || !o->text) {
        fprintf(stderr, "qloop perplexity: need -m MODEL and -f TEXT\n%s", k_usage);
        return 2;
    }
    return -1;
}

static void on_progress(const ql_perplexity_result *r, uint64_t total, void *user) {
    ppl_opts *o = user;
    if (!o->bar) return;
    double dt = ql_time_seconds() - o->t0;
    fprintf(stderr, "\r\033[Kwindow %llu/%llu  ppl %.4f", (unsigned long long)r->n_windows,
            (unsigned long long)total, r->ppl);
    if (r->has_base) fprintf(stderr, "  kld %.3e  top1 %.4f", r->kld_mean, r->top1);
    fprintf(stderr, "  %.1f s  ETA %.0f s", dt,
            dt / (double)r->n_windows * (double)(total - r->n_windows));
    fflush(stderr);
}

static const char *const k_kv[] = {"virtual", "merge"}, *const k_attn[] = {"parallel", "serial"},
                         *const k_merge[] = {"ema", "average", "last"};

/* Smallest and largest iteration count in a block's histogram. */
static void hist_range(const ql_loop_block_stats *bs, int *lo, int *hi) {
    *lo = *hi = -1;
    for (int n = 0; n < QL_LOOP_HIST; n++)
        if (bs->hist[n]) {
            if (*lo < 0) *lo = n;
            *hi = n;
        }
}

static void print_loop_text(const ql_session *s) {
    ql_loop_params p;
    ql_loop_stats st;
    ql_session_get_loop(s, &p);
    ql_session_loop_stats(s, &st);
    if (p.n_blocks == 0) {
        printf("loop        none (plain model)\n");
        return;
    }
    printf("loop        %s stop", p.strategy == QL_LOOP_DYNAMIC ? "cosine" : "fixed");
    if (p.strategy == QL_LOOP_DYNAMIC) printf(" (threshold %g)", (double)p.cosine_threshold);
    printf(", %s KV (%s)\n", k_kv[p.kv_mode],
           p.kv_mode == QL_LOOP_KV_VIRTUAL ? k_attn[p.attn] : k_merge[p.merge]);
    for (int b = 0; b < p.n_blocks && b < st.n_blocks; b++) {
        const ql_loop_block *k = &p.blocks[b];
        const ql_loop_block_stats *bs = &st.blocks[b];
        int lo, hi;
        hist_range(bs, &lo, &hi);
        printf("  block %d [%d, %d]: count %d, min %d, max %d", b, k->start, k->end, k->loop_count,
               k->min_loop_count, k->max_loop_count);
        if (p.kv_mode == QL_LOOP_KV_VIRTUAL) printf(", slots %d", k->virtual_layer_count);
        printf("; mean %.4f iterations per token (min %d, max %d)\n", bs->mean_iterations, lo, hi);
    }
}

static void print_loop_json(const ql_session *s) {
    ql_loop_params p;
    ql_loop_stats st;
    ql_session_get_loop(s, &p);
    ql_session_loop_stats(s, &st);
    printf(", \"loop\": {\"stop\": \"%s\", \"cosine_threshold\": %g, \"kv\": \"%s\", "
           "\"attn\": \"%s\", \"merge\": \"%s\", \"blocks\": [",
           p.strategy == QL_LOOP_DYNAMIC ? "cosine" : "fixed", (double)p.cosine_threshold,
           k_kv[p.kv_mode], k_attn[p.attn], k_merge[p.merge]);
    for (int b = 0; b < p.n_blocks && b < st.n_blocks; b++) {
        const ql_loop_block *k = &p.blocks[b];
        const ql_loop_block_stats *bs = &st.blocks[b];
        int lo, hi;
        hist_range(bs, &lo, &hi);
        printf("%s{\"start\": %d, \"end\": %d, \"count\": %d, \"min\": %d, \"max\": %d, "
               "\"slots\": %d, \"mean_iterations\": %.6f, \"min_iterations\": %d, "
               "\"max_iterations\": %d, \"forwards\": %llu, \"iterations\": %llu",
               b ? ", " : "", k->start, k->end, k->loop_count, k->min_loop_count,
               k->max_loop_count, k->virtual_layer_count, bs->mean_iterations, lo, hi,
               (unsigned long long)bs->forwards, (unsigned long long)bs->iterations);
        printf(", \"hist\": {");
        for (int n = 0, first = 1; n < QL_LOOP_HIST; n++)
            if (bs->hist[n]) {
                printf("%s\"%d\": %llu", first ? "" : ", ", n, (unsigned long long)bs->hist[n]);
                first = 0;
            }
        printf("}}");
    }
    printf("]}");
}

static void print_json(const ppl_opts *o, const ql_perplexity_result *r, double secs,
                       const ql_session *s) {
    printf("{\"model\": \"%s\", \"text\": \"%s\", \"ctx\": %lld, \"windows\": %llu, "
           "\"tokens\": %llu, \"nll\": %.9f, \"ppl\": %.6f", o->model, o->text, o->ctx,
           (unsigned long long)r->n_windows, (unsigned long long)r->n_tokens, r->nll, r->ppl);
    if (r->has_base)
        printf(", \"base\": \"%s\", \"base_nll\": %.6f, \"base_ppl\": %.4f, \"kld_mean\": %.6e, "
               "\"kld_max\": %.6e, \"top1\": %.6f, \"ppl_ratio\": %.6f", o->base, r->base_nll,
               r->base_ppl, r->kld_mean, r->kld_max, r->top1, r->ppl_ratio);
    if (s) print_loop_json(s);
    printf(", \"seconds\": %.2f}\n", secs);
}

static void print_text(const ppl_opts *o, const ql_perplexity_result *r, double secs,
                       const ql_session *s) {
    printf("model       %s\n", o->model);
    printf("text        %s: %llu windows of %lld tokens, %llu tokens scored (%.1f s)\n",
           o->text, (unsigned long long)r->n_windows, o->ctx, (unsigned long long)r->n_tokens,
           secs);
    if (s) print_loop_text(s);
    printf("perplexity  %.4f  (mean NLL %.6f nats)\n", r->ppl, r->nll);
    if (!r->has_base) return;
    printf("base        %s: perplexity %.4f  (mean NLL %.6f)\n", o->base, r->base_ppl,
           r->base_nll);
    printf("KL(base||model)  mean %.6e  max %.6e nats\n", r->kld_mean, r->kld_max);
    printf("top-1 agreement  %.4f%%\n", 100.0 * r->top1);
    printf("ppl ratio        %.6f\n", r->ppl_ratio);
}

int ql_cmd_perplexity(int argc, char **argv) {
    ppl_opts o = {NULL, NULL, NULL, 256, 0, 0, false, false, false, 0, {0}};
    ql_loop_args_init(&o.loop);
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    ql_error e = {0};
    ql_model *m = NULL, *b = NULL;
    ql_session *s = NULL, *sb = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    rc = 1;
    ql_model_params mp = ql_model_params_default();
    if (ql_model_load(o.model, &mp, &m, &e)) goto fail;
    if (o.base && ql_model_load(o.base, &mp, &b, &e)) goto fail;
    if (o.loop.any || o.stats) {
        /* the looped path: sessions made here, so that the loop settings can be set */
        ql_session_params sp = ql_session_params_default();
        sp.n_ctx = (int32_t)o.ctx;
        sp.n_batch = (int32_t)(o.ctx < 512 ? o.ctx : 512);
        sp.n_threads = (int32_t)o.threads;
        if (ql_session_new(m, &sp, &s, &e) || ql_loop_args_apply(&o.loop, m, s, &e) ||
            (b && ql_session_new(b, &sp, &sb, &e))) {
            fprintf(stderr, "qloop perplexity: %s\n", e.message);
            rc = 2; /* an invalid loop setting is a usage error */
            goto done;
        }
    }
    if (!ql_cli_load_tokens(m, o.text, (size_t)(o.chunks * o.ctx), &ids, &n_ids)) goto done;
    o.bar = isatty(STDERR_FILENO) != 0;
    o.t0 = ql_time_seconds();
    ql_perplexity_result r;
    ql_status st;
    ql_perplexity_params pp = ql_perplexity_params_default();
    pp.n_ctx = (int32_t)o.ctx;
    pp.n_chunks = (int32_t)o.chunks;
    pp.n_threads = (int32_t)o.threads;
    pp.progress = on_progress;
    pp.progress_user = &o;
    if (s) st = ql_perplexity_sessions(s, sb, ids, n_ids, &pp, &r, &e);
    else st = ql_perplexity(m, b, ids, n_ids, &pp, &r, &e);
    if (o.bar) fputc('\n', stderr);
    if (st) {
        rc = st == QL_ERR_ARG ? 2 : 1;
        fprintf(stderr, "qloop perplexity: %s\n", e.message);
        goto done;
    }
    if (o.json) print_json(&o, &r, ql_time_seconds() - o.t0, s);
    else print_text(&o, &r, ql_time_seconds() - o.t0, s);
    if (o.stats) ql_loop_stats_print(stderr, s);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "qloop perplexity: %s\n", e.message);
done:
    ql_session_free(s);
    ql_session_free(sb);
    ql_model_free(m);
    ql_model_free(b);
    free(ids);
    return rc;
}
