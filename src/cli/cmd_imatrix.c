/*
 * src/cli/cmd_imatrix.c: `qloop imatrix -m MODEL -f TEXT -o FILE [--ctx 512] [--chunks N]
 * [-t N]`: collects importance vectors (mean squared matmul input per column) from
 * calibration text and writes them as imatrix.dat for `qloop quantize --imatrix`.
 *
 * The text is cut into non-overlapping chunks of ctx tokens, each evaluated from an empty
 * context as BOS + its first ctx - 1 tokens (the perplexity windows), with all logits so
 * that the output matrix sees every row too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "text_file.h"
#include "cli.h"
#include "qloop.h"

static const char k_usage[] =
    "usage: qloop imatrix -m MODEL -f TEXT -o FILE [--ctx 512] [--chunks N] [-t N]\n"
    "\n"
    "Evaluates TEXT in chunks of CTX tokens (BOS + CTX-1 tokens of the text, from an empty\n"
    "context) and writes, for every weight matrix, the mean squared input activation per\n"
    "column to FILE (imatrix.dat, via FILE.tmp), for qloop quantize --imatrix FILE.\n"
    "\n"
    "  -m, --model MODEL  model (GGUF file or Hugging Face folder)\n"
    "  -f, --file TEXT    calibration text (UTF-8)\n"
    "  -o, --output FILE  where to write the importance matrix\n"
    "      --ctx N        tokens per chunk (default 512)\n"
    "      --chunks N     chunks to evaluate (default: all the text holds)\n"
    "  -t, --threads N    threads (default: physical cores)\n"
    "  -h, --help         this help\n";

typedef struct imatrix_opts {
    const char *model, *text, *out;
    long long ctx, chunks, threads;
} imatrix_opts;

static int parse(int argc, char **argv, imatrix_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        long long *num = NULL, lo = 1;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(k_usage, stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(o->model = ql_arg_value(argc, argv, &i, "imatrix"))) return 2;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(o->text = ql_arg_value(argc, argv, &i, "imatrix"))) return 2;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (!(o->out = ql_arg_value(argc, argv, &i, "imatrix"))) return 2;
        } else if (!strcmp(a, "--ctx")) {
            num = &o->ctx, lo = 2;
        } else if (!strcmp(a, "--chunks")) {
            num = &o->chunks;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            num = &o->threads;
        } else {
            fprintf(stderr, "qloop imatrix: unknown option '%s'\n%s", a, k_usage);
            return 2;
        }
        if (num && !ql_arg_int_value(argc, argv, &i, "imatrix", lo, 1 << 24, num)) return 2;
    }
    if (!o->model || !o->text || !o->out) {
        fprintf(stderr, "qloop imatrix: need -m MODEL, -f TEXT and -o FILE\n%s", k_usage);
        return 2;
    }
    return -1;
}

int ql_cmd_imatrix(int argc, char **argv) {
    imatrix_opts o = {NULL, NULL, NULL, 512, 0, 0};
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    ql_error e = {0};
    ql_model *m = NULL;
    ql_session *s = NULL;
    ql_imatrix_collector *c = NULL;
    int32_t *ids = NULL, *in = NULL;
    float *logits = NULL;
    size_t n_ids = 0;
    rc = 1;
    ql_model_params mp = ql_model_params_default();
    if (ql_model_load(o.model, &mp, &m, &e)) goto fail;
    ql_model_info info;
    ql_model_get_info(m, &info);
    if (!ql_cli_load_tokens(m, o.text, (size_t)(o.chunks * o.ctx), &ids, &n_ids)) goto done;
    long long n_chunks = (long long)n_ids / o.ctx;
    if (o.chunks > 0 && o.chunks < n_chunks) n_chunks = o.chunks;
    if (n_chunks == 0) {
        fprintf(stderr, "qloop imatrix: %s has %zu tokens, fewer than one chunk of %lld\n",
                o.text, n_ids, o.ctx);
        goto done;
    }
    int32_t nb = o.ctx < 512 ? (int32_t)o.ctx : 512;
    ql_session_params sp = ql_session_params_default();
    sp.n_ctx = (int32_t)o.ctx;
    sp.n_batch = nb;
    sp.n_threads = (int32_t)o.threads;
    if (ql_session_new(m, &sp, &s, &e) || ql_imatrix_collector_new(&c, &e)) goto fail;
    ql_imatrix_collector_attach(c, s);
    logits = malloc((size_t)nb * (size_t)info.n_vocab * sizeof *logits);
    in = malloc((size_t)o.ctx * sizeof *in);
    if (!logits || !in) {
        fprintf(stderr, "qloop imatrix: out of memory\n");
        goto done;
    }
    fprintf(stderr, "qloop imatrix: %s, %zu tokens, %lld chunks of %lld\n", o.text, n_ids,
            n_chunks, o.ctx);
    double t0 = ql_time_seconds();
    for (long long ch = 0; ch < n_chunks; ch++) {
        const int32_t *t = ids + ch * o.ctx;
        size_t skip = info.bos_id >= 0 ? 1 : 0;
        in[0] = info.bos_id;
        memcpy(in + skip, t, (size_t)(o.ctx - (long long)skip) * sizeof *in);
        ql_session_reset(s);
        for (long long b0 = 0; b0 < o.ctx; b0 += nb) {
            size_t n = (size_t)(o.ctx - b0 < nb ? o.ctx - b0 : nb);
            if (ql_session_eval(s, in + b0, n, logits, true, &e)) goto fail;
        }
        ql_imatrix_collector_end_chunk(c);
        double dt = ql_time_seconds() - t0;
        fprintf(stderr, "\rchunk %lld/%lld  %.1f s  ETA %.0f s   ", ch + 1, n_chunks, dt,
                dt / (double)(ch + 1) * (double)(n_chunks - ch - 1));
        fflush(stderr);
    }
    fputc('\n', stderr);
    const char *base = strrchr(o.text, '/');
    if (ql_imatrix_collector_save(c, o.out, base ? base + 1 : o.text, &e)) goto fail;
    fprintf(stderr, "qloop imatrix: wrote %s (%d tensors, %lld chunks)\n", o.out,
            ql_imatrix_collector_count(c), n_chunks);
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "qloop imatrix: %s\n", e.message);
done:
    ql_session_free(s);
    ql_imatrix_collector_free(c);
    ql_model_free(m);
    free(ids);
    free(in);
    free(logits);
    return rc;
}
