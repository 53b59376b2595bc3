/*
 * src/text/tok_export.c: what a GGUF writer needs to store a loaded tokenizer
 * (contract: tok_export.h). The merge table is a hash map keyed by the pair; its ranks are
 * the indices of the original merge list, so sorting the occupied slots by rank restores
 * the list (minus merges that could never apply).
 */
#include "text/tok_export.h"

#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "text/tok_internal.h"

void ql_tokenizer_export(const ql_tokenizer *t, ql_tok_export *x) {
    memset(x, 0, sizeof *x);
    switch (t->kind) {
    case QL_VOCAB_SPM: x->model = "llama"; x->pre = "default"; x->has_scores = true; break;
    case QL_VOCAB_WPM: x->model = "bert"; x->pre = "default"; break;
    case QL_VOCAB_BPE:
        x->model = "gpt2";
        x->pre = strncmp(t->kind_name, "bpe:", 4) == 0 ? t->kind_name + 4 : "default";
        break;
    }
    x->bos_id = t->bos;
    x->eos_id = t->eos;
    x->unk_id = t->unk;
    x->sep_id = t->sep;
    x->pad_id = t->pad;
    x->eot_id = t->eot;
    x->eom_id = t->eom;
    x->add_bos = t->add_bos;
    x->add_eos = t->add_eos;
    x->add_sep = t->add_sep;
    x->add_space_prefix = t->add_space_prefix;
    x->lowercase = t->lowercase;
    x->strip_accents = t->strip_accents;
    x->ignore_merges = t->kind == QL_VOCAB_BPE && t->ignore_merges_own ? t->ignore_merges : -1;
}

float ql_tokenizer_score(const ql_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_tokens && t->scores ? t->scores[id] : 0.0f;
}

static int by_rank(const void *a, const void *b) {
    int32_t ra = ((const ql_pairmap_slot *)a)->rank, rb = ((const ql_pairmap_slot *)b)->rank;
    return (ra > rb) - (ra < rb);
}

ql_status ql_tokenizer_export_merges(const ql_tokenizer *t, int32_t **pairs, uint64_t *n,
                                     ql_error *err) {
    *pairs = NULL;
    *n = 0;
    if (t->kind != QL_VOCAB_BPE || !t->merges.slots) return QL_OK;
    uint64_t cap = t->merges.mask + 1, used = 0;
    for (uint64_t i = 0; i < cap; i++) used += t->merges.slots[i].key != UINT64_MAX;
    ql_pairmap_slot *s = malloc((used ? used : 1) * sizeof *s);
    int32_t *p = malloc((used ? used : 1) * 2 * sizeof *p);
    if (!s || !p) {
        free(s);
        free(p);
        return ql_fail(err, QL_ERR_NOMEM, "tokenizer: out of memory exporting merges");
    }
    uint64_t k = 0;
    for (uint64_t i = 0; i < cap; i++)
        if (t->merges.slots[i].key != UINT64_MAX) s[k++] = t->merges.slots[i];
    qsort(s, used, sizeof *s, by_rank);
    for (uint64_t i = 0; i < used; i++) {
        p[2 * i] = (int32_t)(s[i].key >> 32);
        p[2 * i + 1] = (int32_t)(uint32_t)s[i].key;
    }
    free(s);
    *pairs = p;
    *n = used;
    return QL_OK;
}
