/*
 * src/text/tok_export.h: a loaded tokenizer described in llama.cpp's tokenizer.ggml.* terms,
 * for writers of GGUF files (internal). Reading the keys back with ql_tokenizer_from_gguf
 * gives a tokenizer that encodes every text the same way.
 */
#ifndef QL_TEXT_TOK_EXPORT_H
#define QL_TEXT_TOK_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "text/tokenizer.h"

/* The scalar tokenizer.ggml.* facts. Ids are -1 when the vocabulary has none. */
typedef struct ql_tok_export {
    const char *model;  /* tokenizer.ggml.model: "llama" (SPM), "gpt2" (BPE), "bert" (WPM) */
    const char *pre;    /* tokenizer.ggml.pre ("default" for SPM and WPM) */
    bool has_scores;    /* SPM: tokenizer.ggml.scores carries the merge order */
    int32_t bos_id, eos_id, unk_id, sep_id, pad_id, eot_id, eom_id;
    bool add_bos, add_eos, add_sep, add_space_prefix;
    bool lowercase, strip_accents; /* WPM normalisation */
    int8_t ignore_merges; /* BPE: the source's setting where it differs from the
                             pre-tokenizer's (qloop.tokenizer.ignore_merges); else -1 */
} ql_tok_export;

void ql_tokenizer_export(const ql_tokenizer *t, ql_tok_export *x);

/* SPM score of token id (0 outside the vocabulary). */
float ql_tokenizer_score(const ql_tokenizer *t, int32_t id);

/* BPE merges in rank order as (left, right) token-id pairs: *pairs receives 2 * *n ids
 * (malloc'd; the caller frees). Merges the tokenizer dropped at load (a part or the result
 * not in the vocabulary) never apply and are not listed. *n = 0 for SPM/WPM.
 * Errors: QL_ERR_NOMEM. */
ql_status ql_tokenizer_export_merges(const ql_tokenizer *t, int32_t **pairs, uint64_t *n,
                                     ql_error *err);

#endif
