/*
 * src/cli/cmd_logits.c: `qloop logits`: float32 logits of every position of a token list,
 * from one batched pass or (--incremental) one token at a time through the KV cache.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "loop_args.h"
#include "qloop.h"

static const char k_usage[] =
    "usage: qloop logits -m MODEL --ids 1,2,3 [--out FILE] [--incremental] [-t N] [--ctx N]\n"
    "\n"
    "Writes the logits of every position as raw little-endian float32, shape\n"
    "[n_ids, n_vocab] row-major, to FILE (written to FILE.tmp, then renamed) or stdout.\n"
    "\n"
    "  -m, --model FILE   GGUF model\n"
    "      --ids LIST     comma-separated token ids (used as given: no BOS is added)\n"
    "      --out FILE     output file (default: stdout)\n"
    "      --incremental  evaluate token by token through the KV cache\n"
    "  -t, --threads N    threads (default: physical cores)\n"
    "      --ctx N        context length (default: the number of ids)\n"
    "  -h, --help         this help\n";

int ql_cmd_logits(int argc, char **argv) {
    const char *model = NULL, *ids_arg = NULL, *out = NULL;
    long long threads = 0, ctx = 0;
    bool incremental = false;
    ql_loop_args loop;
    ql_loop_args_init(&loop);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        int lr = ql_loop_args_parse(&loop, argc, argv, &i, "logits");
        if (lr == 2) return 2;
        if (lr == 1) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(k_usage, stdout);
            fputs(ql_loop_args_usage, stdout);
            return 0;
        } else if (!strcmp(a, "--incremental")) {
            incremental = true;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model") || !strcmp(a, "--ids") ||
                   !strcmp(a, "--out") || !strcmp(a, "-t") || !strcmp(a, "--threads") ||
                   !strcmp(a, "--ctx")) {
            if (!(v = ql_arg_value(argc, argv, &i, "logits"))) return 2;
            if (a[1] == 'm' || !strcmp(a, "--model")) model = v;
            else if (!strcmp(a, "--ids")) ids_arg = v;
            else if (!strcmp(a, "--out")) out = v;
            else if (!strcmp(a, "--ctx")) {
                if (!ql_arg_int(v, 1, 1 << 24, &ctx)) goto bad;
            } else if (!ql_arg_int(v, 1, 1024, &threads)) goto bad;
            continue;
        bad:
            fprintf(stderr, "qloop logits: invalid value '%s' for %s\n", v, a);
            return 2;
        } else {
            fprintf(stderr, "qloop logits: unknown option '%s'\n%s", a, k_usage);
            return 2;
        }
    }
    if (!model || !ids_arg) {
        fprintf(stderr, "qloop logits: need -m MODEL and --ids LIST\n%s", k_usage);
        return 2;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    if (!ql_arg_ids(ids_arg, &ids, &n)) {
        fprintf(stderr, "qloop logits: malformed --ids list '%s'\n", ids_arg);
        return 2;
    }
    ql_error e = {0};
    ql_model *m = NULL;
    ql_session *s = NULL;
    float *logits = NULL;
    int rc = 1;
    ql_model_params mp = ql_model_params_default();
    if (ql_model_load(model, &mp, &m, &e)) goto fail;
    ql_model_info info;
    ql_model_get_info(m, &info);
    ql_session_params sp = ql_session_params_default();
    sp.n_threads = (int32_t)threads;
    sp.n_ctx = (int32_t)(ctx ? ctx : (long long)n); /* the KV cache for the ids, no more */
    if (ql_session_new(m, &sp, &s, &e) || ql_loop_args_apply(&loop, m, s, &e)) goto fail;
    size_t row = (size_t)info.n_vocab;
    logits = malloc(n * row * sizeof *logits);
    if (!logits) {
        fprintf(stderr, "qloop logits: out of memory\n");
        goto done;
    }
    if (incremental) {
        for (size_t i = 0; i < n; i++)
            if (ql_session_eval(s, &ids[i], 1, logits + i * row, false, &e)) goto fail;
    } else if (ql_session_eval(s, ids, n, logits, true, &e)) {
        goto fail;
    }
    if (out) {
        if (!ql_write_file_atomic(out, logits, n * row * sizeof *logits, "logits")) goto done;
    } else if (fwrite(logits, sizeof *logits, n * row, stdout) != n * row) {
        fprintf(stderr, "qloop logits: write to stdout failed\n");
        goto done;
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "qloop logits: %s\n", e.message);
done:
    free(logits);
    free(ids);
    ql_session_free(s);
    ql_model_free(m);
    return rc;
}
