/*
 * src/cli/cmd_run.c: `qloop run`: tokenize the prompt, evaluate it in one batch, then
 * sample and stream one token at a time. stdout gets only the generated text (or ids);
 * timings go to stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "loop_args.h"
#include "qloop.h"

static const char k_usage[] =
    "usage: qloop run -m MODEL (-p PROMPT | --ids 1,2,3) [options]\n"
    "\n"
    "Generates text after the prompt and streams it to stdout; prompt and generation\n"
    "speed (tokens/s) go to stderr.\n"
    "\n"
    "  -m, --model FILE     GGUF model\n"
    "  -p, --prompt TEXT    prompt text (BOS is added as the vocabulary asks)\n"
    "      --ids LIST       prompt as comma-separated token ids, used as given\n"
    "  -n, --n-predict N    tokens to generate (default 128); stops early at end-of-text\n"
    "      --temp T         temperature; 0 = greedy (default 0.8)\n"
    "      --top-k K        keep the K most likely tokens; 0 = off (default 40)\n"
    "      --top-p P        nucleus sampling; 1 = off (default 0.95)\n"
    "      --min-p P        drop tokens below P x the top probability; 0 = off (default 0.05)\n"
    "      --repeat-penalty R  penalise the last 64 tokens; 1 = off (default 1)\n"
    "      --seed S         random seed (default fixed: the same seed gives the same text)\n"
    "  -t, --threads N      threads (default: physical cores)\n"
    "      --ctx N          context length (default: what the prompt and -n need, at\n"
    "                       least 4096, at most the model's)\n"
    "      --print-ids      print generated token ids instead of text\n"
    "      --ignore-eos     keep generating past end-of-text tokens\n"
    "      --verify         check the file's tensor checksums before loading\n"
    "      --plain-layout   run the weights in the file's layout, memory-mapped (default:\n"
    "                       the matrices the kernels group are copied into their layout)\n"
    "      --stats          print loop-layer statistics to stderr at the end\n"
    "  -h, --help           this help\n";

typedef struct run_opts {
    const char *model, *prompt, *ids_arg;
    long long n_predict, threads, ctx;
    bool print_ids, ignore_eos, stats, verify, plain_layout;
    ql_sampler_params sp;
    ql_loop_args loop;
} run_opts;

/* The KV cache is allocated for the whole context up front, and a model's declared context
 * can be 128K tokens (34 GB of f32 K and V for an 8B model). By default a run gets what its
 * prompt and -n need, at least 4096 tokens, at most the model's length. */
static int64_t default_ctx(const ql_model_info *info, size_t n_prompt, long long n_predict) {
    int64_t need = (int64_t)n_prompt + n_predict, ctx = need > 4096 ? need : 4096;
    return ctx < info->n_ctx_train ? ctx : info->n_ctx_train;
}

/* 0 ok, 2 usage error, -1 help printed */
static int parse(int argc, char **argv, run_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        long long n;
        double f;
        uint64_t u;
#define VALUE() \
    if (!(v = ql_arg_value(argc, argv, &i, "run"))) return 2
#define BAD()                                                                  \
    do {                                                                       \
        fprintf(stderr, "qloop run: invalid value '%s' for %s\n", v, a);       \
        return 2;                                                              \
    } while (0)
        int lr = ql_loop_args_parse(&o->loop, argc, argv, &i, "run");
        if (lr == 2) return 2;
        if (lr == 1) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(k_usage, stdout);
            fputs(ql_loop_args_usage, stdout);
            return -1;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            VALUE();
            o->model = v;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            VALUE();
            o->prompt = v;
        } else if (!strcmp(a, "--ids")) {
            VALUE();
            o->ids_arg = v;
        } else if (!strcmp(a, "-n") || !strcmp(a, "--n-predict")) {
            VALUE();
            if (!ql_arg_int(v, 0, 1 << 30, &o->n_predict)) BAD();
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            VALUE();
            if (!ql_arg_int(v, 1, 1024, &o->threads)) BAD();
        } else if (!strcmp(a, "--ctx")) {
            VALUE();
            if (!ql_arg_int(v, 1, 1 << 24, &o->ctx)) BAD();
        } else if (!strcmp(a, "--temp")) {
            VALUE();
            if (!ql_arg_float(v, &f)) BAD();
            o->sp.temperature = (float)f;
        } else if (!strcmp(a, "--top-k")) {
            VALUE();
            if (!ql_arg_int(v, 0, 1 << 30, &n)) BAD();
            o->sp.top_k = (int32_t)n;
        } else if (!strcmp(a, "--top-p")) {
            VALUE();
            if (!ql_arg_float(v, &f)) BAD();
            o->sp.top_p = (float)f;
        } else if (!strcmp(a, "--min-p")) {
            VALUE();
            if (!ql_arg_float(v, &f)) BAD();
            o->sp.min_p = (float)f;
        } else if (!strcmp(a, "--repeat-penalty")) {
            VALUE();
            if (!ql_arg_float(v, &f)) BAD();
            o->sp.repeat_penalty = (float)f;
        } else if (!strcmp(a, "--seed")) {
            VALUE();
            if (!ql_arg_u64(v, &u)) BAD();
            o->sp.seed = u;
        } else if (!strcmp(a, "--print-ids")) {
            o->print_ids = true;
        } else if (!strcmp(a, "--ignore-eos")) {
            o->ignore_eos = true;
        } else if (!strcmp(a, "--verify")) {
            o->verify = true;
        } else if (!strcmp(a, "--plain-layout")) {
            o->plain_layout = true;
        } else if (!strcmp(a, "--stats")) {
            o->stats = true;
        } else {
            fprintf(stderr, "qloop run: unknown option '%s'\n%s", a, k_usage);
            return 2;
        }
#undef VALUE
#undef BAD
    }
    if (!o->model || (!o->prompt && !o->ids_arg) || (o->prompt && o->ids_arg)) {
        fprintf(stderr, "qloop run: need -m MODEL and one of -p PROMPT or --ids LIST\n%s", k_usage);
        return 2;
    }
    return 0;
}

static int fail(const ql_error *e) {
    fprintf(stderr, "qloop run: %s\n", e->message);
    return 1;
}

/* The prompt's token ids (malloc'd). */
static ql_status prompt_ids(const ql_model *m, const run_opts *o, int32_t **ids, size_t *n,
                            ql_error *e) {
    if (o->ids_arg) {
        if (!ql_arg_ids(o->ids_arg, ids, n)) {
            snprintf(e->message, sizeof e->message, "malformed --ids list '%s'", o->ids_arg);
            return QL_ERR_ARG;
        }
        return QL_OK;
    }
    size_t len = strlen(o->prompt), need = 0;
    ql_status st = ql_tokenize(m, o->prompt, len, true, true, NULL, 0, &need, e);
    if (st != QL_OK && st != QL_ERR_RANGE) return st;
    *ids = malloc((need ? need : 1) * sizeof **ids);
    if (!*ids) return QL_ERR_NOMEM;
    return ql_tokenize(m, o->prompt, len, true, true, *ids, need, n, e);
}

int ql_cmd_run(int argc, char **argv) {
    run_opts o = {.n_predict = 128, .sp = ql_sampler_params_default()};
    ql_loop_args_init(&o.loop);
    int rc = parse(argc, argv, &o);
    if (rc) return rc < 0 ? 0 : rc;

    ql_error e = {0};
    ql_model *m = NULL;
    ql_session *s = NULL;
    ql_sampler *smp = NULL;
    int32_t *ids = NULL;
    float *logits = NULL;
    size_t n_ids = 0;
    rc = 1;
    ql_model_params mp = ql_model_params_default();
    mp.verify = o.verify;
    mp.plain_layout = o.plain_layout;
    if (ql_model_load(o.model, &mp, &m, &e) || prompt_ids(m, &o, &ids, &n_ids, &e)) {
        fail(&e);
        goto done;
    }
    ql_model_info info;
    ql_model_get_info(m, &info);
    if (n_ids == 0) {
        fprintf(stderr, "qloop run: the prompt is empty\n");
        goto done;
    }
    ql_session_params sp = ql_session_params_default();
    sp.n_ctx = (int32_t)(o.ctx ? o.ctx : default_ctx(&info, n_ids, o.n_predict));
    sp.n_threads = (int32_t)o.threads;
    if (ql_session_new(m, &sp, &s, &e) || ql_loop_args_apply(&o.loop, m, s, &e) ||
        ql_sampler_new(&o.sp, info.n_vocab, &smp, &e)) {
        fail(&e);
        goto done;
    }
    logits = malloc((size_t)info.n_vocab * sizeof *logits);
    if (!logits) goto done;
    for (size_t i = 0; i < n_ids; i++) ql_sampler_accept(smp, ids[i]);

    double t0 = ql_time_seconds();
    if (ql_session_eval(s, ids, n_ids, logits, false, &e)) {
        fail(&e);
        goto done;
    }
    double t1 = ql_time_seconds();
    long long generated = 0;
    char piece[256];
    while (generated < o.n_predict) {
        int32_t id = ql_sampler_sample(smp, logits);
        if (!o.ignore_eos && ql_token_is_eog(m, id)) break;
        if (o.print_ids) {
            printf(generated ? " %d" : "%d", id);
        } else {
            int32_t len = ql_token_to_piece(m, id, false, piece, sizeof piece);
            if (len > (int32_t)sizeof piece) len = (int32_t)sizeof piece;
            if (len > 0) fwrite(piece, 1, (size_t)len, stdout);
        }
        fflush(stdout);
        generated++;
        if (generated == o.n_predict) break;
        if (ql_session_pos(s) >= ql_session_n_ctx(s)) {
            fprintf(stderr, "\nqloop run: context of %d tokens is full", ql_session_n_ctx(s));
            if (ql_session_n_ctx(s) < info.n_ctx_train)
                fprintf(stderr, " (--ctx N allows up to the model's %d)", info.n_ctx_train);
            fprintf(stderr, "\n");
            break;
        }
        if (ql_session_eval(s, &id, 1, logits, false, &e)) {
            fail(&e);
            goto done;
        }
    }
    double t2 = ql_time_seconds();
    printf("\n");
    /* decode time counts the evaluations between samples: generated - 1 of them */
    double gen_time = t2 - t1;
    fprintf(stderr,
            "\nqloop run: %s, %d threads, isa %s, ctx %d\n"
            "  prompt: %zu tokens in %.3f s (%.1f tokens/s)\n"
            "  generation: %lld tokens in %.3f s (%.1f tokens/s)\n",
            o.model, ql_session_n_threads(s), ql_isa_name(), ql_session_n_ctx(s), n_ids, t1 - t0,
            (double)n_ids / (t1 - t0), generated, gen_time,
            gen_time > 0 ? (double)generated / gen_time : 0.0);
    if (o.stats) ql_loop_stats_print(stderr, s);
    rc = 0;
done:
    free(logits);
    free(ids);
    ql_sampler_free(smp);
    ql_session_free(s);
    ql_model_free(m);
    return rc;
}
