/* src/cli/loop_args.c: parsing and applying the --loop* options; printing loop statistics. */
#include "loop_args.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"

const char ql_loop_args_usage[] =
    "  loop layers (shared/spec/loop-layers.md; default: the model's own settings):\n"
    "      --loop S:E[,S:E]   loop blocks of layers S..E (inclusive); 'none' = plain model\n"
    "      --loop-count N     iterations per block (fixed stop); in virtual KV mode also\n"
    "                         the slot count unless --loop-slots is given\n"
    "      --loop-max N       iteration cap       --loop-min N   floor (virtual, cosine)\n"
    "      --loop-stop fixed|cosine   stop rule   --loop-cos T   cosine threshold\n"
    "      --loop-kv virtual|merge    KV mode     --loop-slots V slots per looped layer\n"
    "      --loop-attn parallel|serial            --loop-merge ema|average|last\n"
    "      --loop-alpha A     EMA weight of the running merge, in (0, 1)\n";

void ql_loop_args_init(ql_loop_args *a) {
    memset(a, 0, sizeof *a);
    a->count = a->max = a->min = a->slots = -1;
    a->stop = a->kv = a->attn = a->merge = -1;
    a->cos = a->alpha = NAN;
}

static int pick(const char *v, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i])) return i;
    return -1;
}

static bool valid_layers(const char *v) {
    if (!strcmp(v, "none")) return true;
    int n = 0;
    for (const char *p = v; *p;) {
        char *end;
        long s = strtol(p, &end, 10), e;
        if (end == p || *end != ':' || s < 0) return false;
        p = end + 1;
        e = strtol(p, &end, 10);
        if (end == p || e < 0 || (*end && *end != ',') || (*end == ',' && !end[1])) return false;
        p = *end ? end + 1 : end;
        if (++n > QL_LOOP_MAX_BLOCKS) return false;
    }
    return n > 0;
}

int ql_loop_args_parse(ql_loop_args *a, int argc, char **argv, int *i, const char *cmd) {
    static const char *const stops[] = {"fixed", "cosine"}, *const kvs[] = {"virtual", "merge"},
                             *const attns[] = {"parallel", "serial"},
                             *const merges[] = {"ema", "average", "last"};
    const char *opt = argv[*i];
    if (strncmp(opt, "--loop", 6) != 0) return 0;
    static const char *const known[] = {"--loop",       "--loop-count", "--loop-max", "--loop-min",
                                        "--loop-stop",  "--loop-cos",   "--loop-kv",  "--loop-slots",
                                        "--loop-attn",  "--loop-merge", "--loop-alpha"};
    if (pick(opt, known, (int)(sizeof known / sizeof known[0])) < 0) return 0;
    const char *v = ql_arg_value(argc, argv, i, cmd);
    if (!v) return 2;
    bool ok = true;
    if (!strcmp(opt, "--loop")) ok = valid_layers(v), a->layers = v;
    else if (!strcmp(opt, "--loop-count")) ok = ql_arg_int(v, 0, 1 << 20, &a->count);
    else if (!strcmp(opt, "--loop-max")) ok = ql_arg_int(v, 0, 1 << 20, &a->max);
    else if (!strcmp(opt, "--loop-min")) ok = ql_arg_int(v, 0, 1 << 20, &a->min);
    else if (!strcmp(opt, "--loop-slots")) ok = ql_arg_int(v, 1, 1024, &a->slots);
    else if (!strcmp(opt, "--loop-stop")) ok = (a->stop = pick(v, stops, 2)) >= 0;
    else if (!strcmp(opt, "--loop-kv")) ok = (a->kv = pick(v, kvs, 2)) >= 0;
    else if (!strcmp(opt, "--loop-attn")) ok = (a->attn = pick(v, attns, 2)) >= 0;
    else if (!strcmp(opt, "--loop-merge")) ok = (a->merge = pick(v, merges, 3)) >= 0;
    else if (!strcmp(opt, "--loop-cos")) ok = ql_arg_float(v, &a->cos);
    else ok = ql_arg_float(v, &a->alpha);
    if (!ok) {
        fprintf(stderr, "qloop %s: invalid value '%s' for %s\n", cmd, v, opt);
        return 2;
    }
    a->any = true;
    return 1;
}

static void set_blocks(ql_loop_params *p, const char *v) {
    ql_loop_block proto = p->n_blocks > 0 ? p->blocks[0] : ql_loop_block_default(0, 0);
    p->n_blocks = 0;
    if (!strcmp(v, "none")) return;
    for (const char *s = v; *s;) {
        char *end;
        long st = strtol(s, &end, 10);
        long en = strtol(end + 1, &end, 10);
        ql_loop_block b = proto;
        b.start = (int32_t)st;
        b.end = (int32_t)en;
        p->blocks[p->n_blocks++] = b;
        s = *end ? end + 1 : end;
    }
}

ql_status ql_loop_args_apply(const ql_loop_args *a, const ql_model *m, ql_session *s,
                             ql_error *err) {
    if (!a->any) return QL_OK;
    ql_loop_params p;
    ql_model_get_loop(m, &p);
    if (a->layers) set_blocks(&p, a->layers);
    if (a->stop >= 0) p.strategy = (ql_loop_strategy)a->stop;
    if (a->kv >= 0) p.kv_mode = (ql_loop_kv_mode)a->kv;
    if (a->attn >= 0) p.attn = (ql_loop_attn)a->attn;
    if (a->merge >= 0) p.merge = (ql_loop_merge)a->merge;
    if (!isnan(a->cos)) p.cosine_threshold = (float)a->cos;
    if (!isnan(a->alpha)) p.ema_alpha = (float)a->alpha;
    bool virt_fixed = p.kv_mode == QL_LOOP_KV_VIRTUAL && p.strategy == QL_LOOP_FIXED;
    for (int b = 0; b < p.n_blocks; b++) {
        ql_loop_block *k = &p.blocks[b];
        if (a->count >= 0) k->loop_count = (int32_t)a->count;
        if (a->slots >= 0) k->virtual_layer_count = (int32_t)a->slots;
        else if (a->count >= 0 && virt_fixed && a->count > 0) k->virtual_layer_count = (int32_t)a->count;
        if (a->min >= 0) k->min_loop_count = (int32_t)a->min;
        if (a->max >= 0) k->max_loop_count = (int32_t)a->max;
        if (p.kv_mode == QL_LOOP_KV_VIRTUAL) {
            if (a->min < 0 && k->min_loop_count < k->virtual_layer_count)
                k->min_loop_count = k->virtual_layer_count;
            if (a->max < 0 && k->max_loop_count < k->min_loop_count)
                k->max_loop_count = k->min_loop_count;
        }
        if (a->max < 0 && a->count >= 0 && p.strategy == QL_LOOP_FIXED && k->max_loop_count < k->loop_count)
            k->max_loop_count = k->loop_count;
    }
    return ql_session_set_loop(s, &p, err);
}

void ql_loop_stats_print(FILE *f, const ql_session *s) {
    ql_loop_params p;
    ql_loop_stats st;
    ql_session_get_loop(s, &p);
    ql_session_loop_stats(s, &st);
    if (p.n_blocks == 0) {
        fprintf(f, "loop stats: no loop blocks (plain model)\n");
        return;
    }
    static const char *const kv[] = {"virtual", "merge"}, *const attn[] = {"parallel", "serial"},
                             *const merge[] = {"ema", "average", "last"};
    fprintf(f, "loop stats: %s stop, %s KV", p.strategy == QL_LOOP_DYNAMIC ? "cosine" : "fixed",
            kv[p.kv_mode]);
    if (p.kv_mode == QL_LOOP_KV_VIRTUAL) fprintf(f, " (%s)", attn[p.attn]);
    else fprintf(f, " (%s)", merge[p.merge]);
    fprintf(f, "; %llu forwards, %llu tokens; KV cache %.2f MiB\n", (unsigned long long)st.forwards,
            (unsigned long long)st.tokens, (double)st.kv_bytes / 1048576.0);
    for (int b = 0; b < st.n_blocks; b++) {
        const ql_loop_block_stats *bs = &st.blocks[b];
        fprintf(f,
                "  block %d [%d, %d]: mean %.3f iterations per token (last forward %d); "
                "slots written %llu; KV %.2f MiB per looped layer\n    iterations: tokens",
                b, p.blocks[b].start, p.blocks[b].end, bs->mean_iterations, bs->last_iterations,
                (unsigned long long)bs->slots_written, (double)bs->kv_bytes_per_layer / 1048576.0);
        for (int n = 0; n < QL_LOOP_HIST; n++)
            if (bs->hist[n])
                fprintf(f, "  %s%d: %llu", n == QL_LOOP_HIST - 1 ? ">=" : "", n,
                        (unsigned long long)bs->hist[n]);
        fprintf(f, "\n");
    }
}
