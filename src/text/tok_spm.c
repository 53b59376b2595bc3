/*
 * src/text/tok_spm.c: SentencePiece BPE (tokenizer.ggml.model "llama").
 *
 * Spaces become "▁" (U+2581), with one more in front of the fragment (the dummy prefix)
 * when it starts the text or follows a special token. The text is split into UTF-8
 * characters; repeatedly the adjacent pair whose concatenation is the vocabulary token
 * with the highest score is merged (ties: leftmost first). A final symbol that is not a
 * token is emitted as <0xNN> byte tokens (or unk when the vocabulary has none).
 *
 * Cost: symbols are a doubly linked list over the text and candidates sit in a heap, so
 * a fragment of n characters takes O(n log n) hash lookups and heap operations. ASCII
 * characters that no multi-byte token contains (Llama-2: '\n') cut the text into parts
 * merged separately: no merge can cross them, so the result is the same and the heap
 * stays small (shared/data/corpus/valid.txt, 1 MB: 0.77 s as one part, 0.15 s in parts).
 */
#include <stdlib.h>
#include <string.h>

#include "text/tok_internal.h"
#include "text/unicode.h"

#define SPACE_ESC "\xe2\x96\x81" /* U+2581 */

typedef struct spm_sym {
    size_t start; /* byte offset in the escaped text */
    size_t len;   /* 0: merged into its left neighbour */
    int32_t prev, next;
} spm_sym;

/* Heap priority of a merge: higher scores first, as an order-preserving uint32 of -score. */
static uint32_t score_order(float score) {
    float f = -score;
    if (f == 0.0f) f = 0.0f; /* -0.0 and 0.0 tie */
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u & 0x80000000u ? ~u : u | 0x80000000u;
}

static bool try_pair(const ql_tokenizer *t, const char *text, const spm_sym *sym, int32_t l,
                     int32_t r, ql_tok_heap *h) {
    if (l < 0 || r < 0) return true;
    size_t len = sym[l].len + sym[r].len;
    int32_t id = ql_tok_lookup(t, text + sym[l].start, len);
    if (id < 0) return true;
    ql_tok_cand c = {.key = (uint64_t)score_order(t->scores[id]) << 32 | (uint32_t)l,
                     .a = (int32_t)len};
    return ql_tok_heap_push(h, c);
}

static void emit_symbol(const ql_tokenizer *t, const char *s, size_t n, ql_idvec *o) {
    int32_t id = ql_tok_lookup(t, s, n);
    if (id >= 0) {
        ql_idvec_push(o, id);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        int32_t b = t->byte_token[(unsigned char)s[i]];
        if (b >= 0) ql_idvec_push(o, b);
        else if (t->unk >= 0) ql_idvec_push(o, t->unk);
    }
}

static bool is_barrier(const ql_tokenizer *t, char c) {
    return (unsigned char)c < 128 && t->spm_barrier[(unsigned char)c];
}

/* Merges the m bytes at text (symbols and heap are scratch space of at least m entries)
 * and appends the tokens. */
static bool merge_part(const ql_tokenizer *t, const char *text, size_t m, spm_sym *sym,
                       ql_tok_heap *heap, ql_idvec *o) {
    int32_t n_sym = 0;
    for (size_t i = 0; i < m;) {
        /* One character per symbol; a byte of invalid UTF-8 is a symbol of its own, so
         * that it cannot swallow the "▁" after it (llama.cpp trusts the lead byte). */
        uint32_t cp;
        size_t len = ql_utf8_decode(text + i, m - i, &cp);
        sym[n_sym] = (spm_sym){i, len, n_sym - 1, -1};
        if (n_sym > 0) sym[n_sym - 1].next = n_sym;
        n_sym++;
        i += len;
    }
    heap->n = 0;
    for (int32_t i = 1; i < n_sym; i++)
        if (!try_pair(t, text, sym, i - 1, i, heap)) return false;

    while (heap->n > 0) {
        ql_tok_cand c = ql_tok_heap_pop(heap);
        int32_t left = ql_tok_cand_left(c);
        spm_sym *l = &sym[left];
        /* Stale: the left symbol was merged away, or one side grew since the pair was
         * queued (a symbol only ever absorbs its right neighbour). */
        if (l->len == 0 || l->next < 0 || l->len + sym[l->next].len != (size_t)c.a) continue;
        spm_sym *r = &sym[l->next];
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = left;
        if (!try_pair(t, text, sym, l->prev, left, heap) ||
            !try_pair(t, text, sym, left, l->next, heap))
            return false;
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) emit_symbol(t, text + sym[i].start, sym[i].len, o);
    return !o->oom;
}

bool ql_spm_encode(const ql_tokenizer *t, const char *s, size_t n, bool first, ql_idvec *o) {
    bool prefix = first && t->add_space_prefix;
    size_t n_spaces = 0;
    for (size_t i = 0; i < n; i++) n_spaces += s[i] == ' ';
    size_t m = n + 2 * n_spaces + (prefix ? 3 : 0);
    if (m == 0) return true;

    char *text = malloc(m);
    spm_sym *sym = malloc(m * sizeof *sym); /* at most one symbol per byte */
    ql_tok_heap heap = {0};
    bool ok = text && sym;
    if (!ok) goto done;

    size_t w = 0;
    if (prefix) {
        memcpy(text, SPACE_ESC, 3);
        w = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(text + w, SPACE_ESC, 3);
            w += 3;
        } else {
            text[w++] = s[i];
        }
    }

    for (size_t part = 0; ok && part < m;) {
        /* [part, end): a run without barrier characters, or one barrier character. */
        size_t end = part;
        while (end < m && !is_barrier(t, text[end])) end++;
        if (end == part) end++;
        ok = merge_part(t, text + part, end - part, sym, &heap, o);
        part = end;
    }

done:
    free(heap.v);
    free(sym);
    free(text);
    return ok;
}
