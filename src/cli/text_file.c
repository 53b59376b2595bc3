/* src/cli/text_file.c: reading a text file as a token stream (imatrix, perplexity). */
#include "text_file.h"

#include <stdio.h>
#include <stdlib.h>

/* Reads `path` and tokenizes it without BOS. When `max_tokens` > 0 only a prefix of the
 * text big enough for that many tokens is tokenized (cut at a line break, with a wide
 * margin, so the tokens kept are those of the whole text). */
bool ql_cli_load_tokens(const ql_model *m, const char *path, size_t max_tokens, int32_t **ids,
                        size_t *n_ids) {
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long len = -1;
    if (f && fseek(f, 0, SEEK_END) == 0) len = ftell(f);
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)len + 1)) &&
        fread(text, 1, (size_t)len, f) != (size_t)len)
        len = -1;
    if (f) fclose(f);
    if (!text || len < 0) {
        fprintf(stderr, "qloop: cannot read %s\n", path);
        free(text);
        return false;
    }
    size_t n = (size_t)len;
    if (max_tokens > 0 && max_tokens < n / 64) { /* byte tokens: at most 1 per byte */
        n = max_tokens * 32;
        while (n < (size_t)len && text[n] != '\n') n++;
    }
    ql_error e;
    size_t need = 0;
    ql_status st = ql_tokenize(m, text, n, false, false, NULL, 0, &need, &e);
    *ids = NULL;
    if (st == QL_ERR_RANGE || (st == QL_OK && need == 0)) {
        *ids = malloc((need ? need : 1) * sizeof **ids);
        st = *ids ? ql_tokenize(m, text, n, false, false, *ids, need, n_ids, &e) : QL_ERR_NOMEM;
        if (st == QL_ERR_NOMEM) snprintf(e.message, sizeof e.message, "out of memory");
    }
    free(text);
    if (st) {
        fprintf(stderr, "qloop: tokenizing %s: %s\n", path, e.message);
        free(*ids);
        *ids = NULL;
        return false;
    }
    return true;
}
