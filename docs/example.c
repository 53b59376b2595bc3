/*
 * docs/example.c: the smallest complete qloop program, using only include/qloop.h.
 *
 *   cc -Iinclude docs/example.c build/libqloop.a -lpcre2-8 -lsleef -lxxhash -lpthread -lm
 *   ./a.out ../shared/models/stories260K.gguf "Once upon a time"
 *
 * Loads a model, tokenizes the prompt, evaluates it in one batch, then samples 48 tokens
 * greedily, printing each piece as it comes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qloop.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.gguf PROMPT\n", argv[0]);
        return 2;
    }
    ql_error err;
    ql_model *model = NULL;
    ql_session *session = NULL;
    ql_sampler *sampler = NULL;
    int32_t ids[256];
    size_t n_ids = 0;
    int rc = 1;

    ql_model_params mp = ql_model_params_default();
    if (ql_model_load(argv[1], &mp, &model, &err) != QL_OK) goto fail;
    if (ql_tokenize(model, argv[2], strlen(argv[2]), true, true, ids, 256, &n_ids, &err) != QL_OK)
        goto fail;

    ql_model_info info;
    ql_model_get_info(model, &info);
    ql_session_params sp = ql_session_params_default(); /* threads: physical cores */
    ql_sampler_params smp = ql_sampler_params_default();
    smp.temperature = 0; /* greedy */
    if (ql_session_new(model, &sp, &session, &err) != QL_OK ||
        ql_sampler_new(&smp, info.n_vocab, &sampler, &err) != QL_OK)
        goto fail;

    float *logits = malloc((size_t)info.n_vocab * sizeof *logits);
    if (!logits) goto done;
    ql_status st = ql_session_eval(session, ids, n_ids, logits, false, &err);
    fputs(argv[2], stdout);
    for (int i = 0; i < 48 && st == QL_OK; i++) {
        int32_t id = ql_sampler_sample(sampler, logits);
        if (ql_token_is_eog(model, id)) break;
        char piece[64];
        int32_t len = ql_token_to_piece(model, id, false, piece, sizeof piece);
        if (len > 0) fwrite(piece, 1, (size_t)(len < 64 ? len : 64), stdout);
        st = ql_session_eval(session, &id, 1, logits, false, &err);
    }
    putchar('\n');
    free(logits);
    if (st != QL_OK) goto fail;
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "error: %s (%s)\n", err.message, ql_status_str(err.status));
done:
    ql_sampler_free(sampler);
    ql_session_free(session);
    ql_model_free(model);
    return rc;
}
