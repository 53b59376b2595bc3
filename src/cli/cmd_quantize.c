/* src/cli/cmd_quantize.c: `qloop quantize IN OUT --type T [--imatrix FILE] [--rtn]
 * [--verbose] [-t N]`: writes a quantized copy of a GGUF model or a Hugging Face model
 * folder through ql_quantize(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "qloop.h"

typedef struct quantize_opts {
    const char *in, *out;
    bool verbose, bar;
} quantize_opts;

static void quantize_usage(FILE *f) {
    fprintf(f,
            "usage: qloop quantize IN OUT --type T [options]\n"
            "\n"
            "Writes a quantized copy of the model IN to OUT (via OUT.tmp, renamed when\n"
            "complete) as GGUF, with an XXH3-64 checksum per tensor (check it with qloop\n"
            "verify). IN is a GGUF file or a Hugging Face model folder (config.json and\n"
            "*.safetensors; converted as qloop convert would, in the same pass).\n"
            "\n"
            "options:\n"
            "  --type T        %s\n"
            "                  (_s/_m keep output, attn_v and ffn_down of some layers at\n"
            "                  higher precision; norms and 1-D tensors stay f32)\n"
            "  --imatrix FILE  importance matrix (imatrix.dat) weighting the error search\n"
            "  --rtn           round-to-nearest scales instead of the error-minimising search\n"
            "  --llamacpp-ref  llama.cpp's reference quantizer instead (what it writes\n"
            "                  without an imatrix), to compare the two on the same model\n"
            "  --verbose       one line per tensor: name, type, size, RMSE vs the input;\n"
            "                  with --imatrix, the tensors the importance weights reached\n"
            "  -t N            threads (default: physical cores)\n"
            "  -h, --help      show this help\n",
            ql_quantize_type_names());
}

static void fmt_eta(char *buf, size_t cap, double s) {
    if (s < 0 || s > 359999) snprintf(buf, cap, "--:--");
    else if (s >= 3600) snprintf(buf, cap, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else snprintf(buf, cap, "%02d:%02d", (int)s / 60, (int)s % 60);
}

static void on_progress(const ql_quantize_progress *p, void *user) {
    const quantize_opts *o = user;
    if (o->verbose) {
        if (o->bar) fprintf(stderr, "\r\033[K");
        fprintf(stderr, "[%4llu/%llu] %-32s %-5s -> %-5s %9.2f MiB -> %9.2f MiB  rmse %.3e\n",
                (unsigned long long)p->index + 1, (unsigned long long)p->count, p->name,
                p->src_type_name, p->type_name, (double)p->bytes_in / 1048576.0,
                (double)p->bytes_out / 1048576.0, p->rmse);
    }
    if (o->bar) {
        double frac = p->total_in ? (double)p->done_in / (double)p->total_in : 1.0;
        double mbs = p->seconds > 0 ? (double)p->done_in / 1e6 / p->seconds : 0.0;
        char eta[32];
        fmt_eta(eta, sizeof eta, frac > 0 ? p->seconds * (1.0 - frac) / frac : -1);
        enum { W = 30 };
        char bar[W + 1];
        int fill = (int)(frac * W + 0.5);
        for (int i = 0; i < W; i++) bar[i] = i < fill ? '#' : '.';
        bar[W] = '\0';
        fprintf(stderr, "\r\033[K[%s] %3.0f%%  tensor %llu/%llu  %.1f MB/s  ETA %s", bar,
                100.0 * frac, (unsigned long long)p->index + 1, (unsigned long long)p->count,
                mbs, eta);
        if (p->index + 1 == p->count) fputc('\n', stderr);
        fflush(stderr);
    }
}

/* Prints the output's qloop.quantize.imatrix_weighted list: the tensors quantized with
 * importance weights on every row (merged MoE tensors: every expert). */
static void print_imatrix_weighted(const char *path) {
    ql_file *f = NULL;
    ql_error err;
    if (ql_file_open(path, &f, &err) != QL_OK) return;
    enum { CAP = 1 << 16 };
    char *value = malloc(CAP);
    for (uint64_t i = 0; value && i < ql_file_n_meta(f); i++) {
        const char *key, *type;
        if (ql_file_meta(f, i, &key, &type, value, CAP, 4096) &&
            !strcmp(key, "qloop.quantize.imatrix_weighted"))
            fprintf(stderr, "imatrix weighted: %s\n", value);
    }
    free(value);
    ql_file_free(f);
}

int ql_cmd_quantize(int argc, char **argv) {
    quantize_opts o = {0};
    ql_quantize_params p = ql_quantize_params_default();
    p.type = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long long n;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            quantize_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--type")) {
            if (!(v = ql_arg_value(argc, argv, &i, "quantize"))) return 2;
            p.type = v;
        } else if (!strcmp(a, "--imatrix")) {
            if (!(v = ql_arg_value(argc, argv, &i, "quantize"))) return 2;
            p.imatrix = v;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            if (!(v = ql_arg_value(argc, argv, &i, "quantize"))) return 2;
            if (!ql_arg_int(v, 1, 4096, &n)) {
                fprintf(stderr, "qloop quantize: bad thread count '%s'\n", v);
                return 2;
            }
            p.n_threads = (int32_t)n;
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            o.verbose = true;
        } else if (!strcmp(a, "--rtn")) {
            p.search = false;
        } else if (!strcmp(a, "--llamacpp-ref")) {
            p.llamacpp_ref = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "qloop quantize: unknown option '%s'\n", a);
            quantize_usage(stderr);
            return 2;
        } else if (!o.in) {
            o.in = a;
        } else if (!o.out) {
            o.out = a;
        } else {
            fprintf(stderr, "qloop quantize: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!o.in || !o.out || !p.type) {
        fprintf(stderr, "qloop quantize: %s is required\n",
                !o.in ? "IN" : !o.out ? "OUT" : "--type");
        quantize_usage(stderr);
        return 2;
    }
    o.bar = isatty(STDERR_FILENO) != 0;
    p.progress = on_progress;
    p.progress_user = &o;
    ql_error err;
    ql_status st = ql_quantize(o.in, o.out, &p, &err);
    if (st) {
        if (o.bar) fprintf(stderr, "\n");
        fprintf(stderr, "qloop quantize: %s\n", err.message);
        return st == QL_ERR_ARG ? 2 : 1;
    }
    if (o.verbose && p.imatrix) print_imatrix_weighted(o.out);
    fprintf(stderr, "qloop quantize: wrote %s (%s)\n", o.out, p.type);
    return 0;
}
