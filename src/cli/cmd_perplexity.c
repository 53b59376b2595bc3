/*
 * src/cli/cmd_perplexity.c: `qloop perplexity -m MODEL -f TEXT [--ctx 256] [--chunks N]
 * [-t N] [--kl-base BASE] [--json]`: perplexity of a model on a text, and with --kl-base
 * how far its next-token distributions are from a base model's (ql_perplexity()).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "qloop.h"
#include "text_file.h"

static const char k_usage[] =
    "usage: qloop perplexity -m MODEL -f TEXT [--ctx 256] [--chunks N] [-t N]\n"
    "                        [--kl-base BASE] [--json]\n"
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
    "  -h, --help         this help\n";

typedef struct ppl_opts {
    const char *model, *text, *base;
    long long ctx, chunks, threads;
    bool json, bar;
    double t0;
} ppl_opts;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int parse(int argc, char **argv, ppl_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long long *num = NULL, lo = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(k_usage, stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(o->model = ql_arg_value(argc, argv, &i, "perplexity"))) return 2;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(o->text = ql_arg_value(argc, argv, &i, "perplexity"))) return 2;
        } else if (!strcmp(a, "--kl-base")) {
            if (!(o->base = ql_arg_value(argc, argv, &i, "perplexity"))) return 2;
        } else if (!strcmp(a, "--json")) {
            o->json = true;
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
        if (num) {
            if (!(v = ql_arg_value(argc, argv, &i, "perplexity"))) return 2;
            if (!ql_arg_int(v, lo, 1 << 24, num)) {
                fprintf(stderr, "qloop perplexity: invalid value '%s' for %s\n", v, a);
                return 2;
            }
        }
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
    double dt = now_s() - o->t0;
    fprintf(stderr, "\r\033[Kwindow %llu/%llu  ppl %.4f", (unsigned long long)r->n_windows,
            (unsigned long long)total, r->ppl);
    if (r->has_base) fprintf(stderr, "  kld %.3e  top1 %.4f", r->kld_mean, r->top1);
    fprintf(stderr, "  %.1f s  ETA %.0f s", dt,
            dt / (double)r->n_windows * (double)(total - r->n_windows));
    fflush(stderr);
}

static void print_json(const ppl_opts *o, const ql_perplexity_result *r, double secs) {
    printf("{\"model\": \"%s\", \"text\": \"%s\", \"ctx\": %lld, \"windows\": %llu, "
           "\"tokens\": %llu, \"nll\": %.6f, \"ppl\": %.4f", o->model, o->text, o->ctx,
           (unsigned long long)r->n_windows, (unsigned long long)r->n_tokens, r->nll, r->ppl);
    if (r->has_base)
        printf(", \"base\": \"%s\", \"base_nll\": %.6f, \"base_ppl\": %.4f, \"kld_mean\": %.6e, "
               "\"kld_max\": %.6e, \"top1\": %.6f, \"ppl_ratio\": %.6f", o->base, r->base_nll,
               r->base_ppl, r->kld_mean, r->kld_max, r->top1, r->ppl_ratio);
    printf(", \"seconds\": %.2f}\n", secs);
}

static void print_text(const ppl_opts *o, const ql_perplexity_result *r, double secs) {
    printf("model       %s\n", o->model);
    printf("text        %s: %llu windows of %lld tokens, %llu tokens scored (%.1f s)\n",
           o->text, (unsigned long long)r->n_windows, o->ctx, (unsigned long long)r->n_tokens,
           secs);
    printf("perplexity  %.4f  (mean NLL %.6f nats)\n", r->ppl, r->nll);
    if (!r->has_base) return;
    printf("base        %s: perplexity %.4f  (mean NLL %.6f)\n", o->base, r->base_ppl,
           r->base_nll);
    printf("KL(base||model)  mean %.6e  max %.6e nats\n", r->kld_mean, r->kld_max);
    printf("top-1 agreement  %.4f%%\n", 100.0 * r->top1);
    printf("ppl ratio        %.6f\n", r->ppl_ratio);
}

int ql_cmd_perplexity(int argc, char **argv) {
    ppl_opts o = {NULL, NULL, NULL, 256, 0, 0, false, false, 0};
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    ql_error e = {0};
    ql_model *m = NULL, *b = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    rc = 1;
    ql_model_params mp = ql_model_params_default();
    if (ql_model_load(o.model, &mp, &m, &e)) goto fail;
    if (o.base && ql_model_load(o.base, &mp, &b, &e)) goto fail;
    if (!ql_cli_load_tokens(m, o.text, (size_t)(o.chunks * o.ctx), &ids, &n_ids)) goto done;
    ql_perplexity_params pp = ql_perplexity_params_default();
    pp.n_ctx = (int32_t)o.ctx;
    pp.n_chunks = (int32_t)o.chunks;
    pp.n_threads = (int32_t)o.threads;
    pp.progress = on_progress;
    pp.progress_user = &o;
    o.bar = isatty(STDERR_FILENO) != 0;
    o.t0 = now_s();
    ql_perplexity_result r;
    ql_status st = ql_perplexity(m, b, ids, n_ids, &pp, &r, &e);
    if (o.bar) fputc('\n', stderr);
    if (st) {
        rc = st == QL_ERR_ARG ? 2 : 1;
        fprintf(stderr, "qloop perplexity: %s\n", e.message);
        goto done;
    }
    if (o.json) print_json(&o, &r, now_s() - o.t0);
    else print_text(&o, &r, now_s() - o.t0);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "qloop perplexity: %s\n", e.message);
done:
    ql_model_free(m);
    ql_model_free(b);
    free(ids);
    return rc;
}
