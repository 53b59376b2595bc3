/*
 * bench/layout_ab.c: decode speed of one model in its file's (plain) layout against the
 * grouped layout (ql_model_params.plain_layout), measured side by side in one process.
 *
 * The model is loaded twice; each generated position is evaluated by both sessions, the
 * order alternating, so the two see the same moments of a host whose memory bandwidth
 * drifts by 2x between seconds (docs/PERFORMANCE.md): separate runs cannot resolve a few
 * percent there, alternating tokens can. Every step also checks that the two sessions'
 * logits are equal bit for bit (the layouts must not change results).
 *
 *   build/bench/qloop-layout-ab MODEL.gguf [-t THREADS] [-r ROUNDS] [-n TOKENS]
 *
 * Prints tg tokens/s of each layout over all rounds (the first round is warm-up, not
 * counted), their ratio, and the pp64 tokens/s of each (one 64-token prompt per round).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qloop.h"

int main(int argc, char **argv) {
    const char *path = NULL;
    int threads = 2, rounds = 4, n = 96;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-n") && i + 1 < argc) n = atoi(argv[++i]);
        else if (argv[i][0] != '-' && !path) path = argv[i];
        else {
            fprintf(stderr, "usage: qloop-layout-ab MODEL [-t THREADS] [-r ROUNDS] [-n TOKENS]\n");
            return 2;
        }
    }
    if (!path || threads < 1 || rounds < 2 || n < 1 || n > 4096) {
        fprintf(stderr, "usage: qloop-layout-ab MODEL [-t THREADS] [-r ROUNDS >= 2] [-n TOKENS]\n");
        return 2;
    }
    ql_error e = {0};
    ql_model *m[2] = {NULL, NULL};
    ql_session *s[2] = {NULL, NULL};
    float *lg[2] = {NULL, NULL};
    int rc = 1;
    enum { P = 64 };
    for (int v = 0; v < 2; v++) {
        ql_model_params mp = ql_model_params_default();
        mp.plain_layout = v == 0;
        ql_session_params sp = ql_session_params_default();
        sp.n_threads = threads;
        sp.n_ctx = P + n + 1;
        sp.n_batch = P;
        if (ql_model_load(path, &mp, &m[v], &e) || ql_session_new(m[v], &sp, &s[v], &e)) goto fail;
    }
    ql_model_info info;
    ql_model_get_info(m[0], &info);
    size_t nv = (size_t)info.n_vocab;
    lg[0] = malloc(nv * sizeof(float));
    lg[1] = malloc(nv * sizeof(float));
    if (!lg[0] || !lg[1]) goto done;
    int32_t prompt[P];
    for (int i = 0; i < P; i++) prompt[i] = (int32_t)((i * 7919 + 13) % info.n_vocab);
    double tg[2] = {0, 0}, pp[2] = {0, 0};
    long counted = 0, mismatches = 0;
    for (int r = 0; r < rounds; r++) {
        for (int v = 0; v < 2; v++) {
            ql_session_reset(s[v]);
            double t0 = ql_time_seconds();
            if (ql_session_eval(s[v], prompt, P, lg[v], false, &e)) goto fail;
            if (r > 0) pp[v] += ql_time_seconds() - t0;
        }
        mismatches += memcmp(lg[0], lg[1], nv * sizeof(float)) != 0;
        int32_t id = 1;
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < 2; k++) {
                int v = (i + k + r) % 2;
                double t0 = ql_time_seconds();
                if (ql_session_eval(s[v], &id, 1, lg[v], false, &e)) goto fail;
                if (r > 0) tg[v] += ql_time_seconds() - t0;
            }
            mismatches += memcmp(lg[0], lg[1], nv * sizeof(float)) != 0;
            id = (int32_t)((id * 7 + 13) % info.n_vocab);
        }
        if (r > 0) counted += n;
    }
    printf("%s (%s), %s, %d threads, %d rounds of %d tokens (first not counted)\n", path,
           info.weight_type, ql_isa_name(), ql_session_n_threads(s[0]), rounds, n);
    printf("  tg  plain layout %.2f tokens/s, grouped layout %.2f tokens/s: grouped/plain %.3f\n",
           counted / tg[0], counted / tg[1], tg[0] / tg[1]);
    printf("  pp%d plain layout %.1f tokens/s, grouped layout %.1f tokens/s\n", P,
           P * (rounds - 1) / pp[0], P * (rounds - 1) / pp[1]);
    printf("  logits differing between the layouts: %ld of %ld evaluations\n", mismatches,
           (long)rounds * (n + 1));
    rc = mismatches ? 1 : 0;
    goto done;
fail:
    fprintf(stderr, "qloop-layout-ab: %s\n", e.message);
done:
    for (int v = 0; v < 2; v++) {
        free(lg[v]);
        ql_session_free(s[v]);
        ql_model_free(m[v]);
    }
    return rc;
}
