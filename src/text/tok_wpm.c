/*
 * src/text/tok_wpm.c: WordPiece (tokenizer.ggml.model "bert").
 *
 * Normalisation as BERT's BasicTokenizer: canonical decomposition and removal of
 * non-spacing marks (strip_accents), lowercase, control characters dropped; words end
 * at whitespace, and every punctuation character, ASCII symbol and CJK ideograph is a
 * word of its own. Each word is then cut greedily into the longest vocabulary pieces.
 * llama.cpp's GGUF stores the pieces that start a word with a "▁" prefix and the
 * continuations bare (BERT's "##" removed), so the word is looked up as "▁" + word. A
 * word with any part not in the vocabulary becomes one unk token.
 */
#include <stdlib.h>
#include <string.h>

#include "text/tok_internal.h"
#include "text/unicode.h"

typedef struct charbuf {
    char *v;
    size_t n, cap;
} charbuf;

static bool buf_reserve(charbuf *b, size_t extra) {
    if (b->n + extra <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra) cap *= 2;
    char *v = realloc(b->v, cap);
    if (!v) return false;
    b->v = v;
    b->cap = cap;
    return true;
}

/* The CJK Unified Ideographs blocks BERT treats as one-character words (its
 * _is_chinese_char; 0x2B920 rather than 0x2B820 as in the Hugging Face Rust code). */
static bool is_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Greedy longest-match-first over "▁" + word (w[0..n) holds the "▁" already). */
static void wordpiece(const ql_tokenizer *t, const char *w, size_t n, ql_idvec *o) {
    size_t mark = o->n;
    for (size_t i = 0; i < n;) {
        size_t j = n - i > t->max_token_len ? i + t->max_token_len : n;
        int32_t id = -1;
        for (; j > i; j--)
            if ((id = ql_tok_lookup(t, w + i, j - i)) >= 0) break;
        if (id < 0) {
            if (!o->oom) o->n = mark; /* the whole word is unknown */
            break;
        }
        ql_idvec_push(o, id);
        i = j;
    }
    if (o->n == mark && t->unk >= 0) ql_idvec_push(o, t->unk);
}

typedef struct wpm_state {
    charbuf word; /* "▁" + the word being built */
} wpm_state;

static void end_word(const ql_tokenizer *t, wpm_state *st, ql_idvec *o) {
    if (st->word.n > 3) wordpiece(t, st->word.v, st->word.n, o);
    st->word.n = 3;
}

/* Handles one code point of the (decomposed) text. */
static bool feed(const ql_tokenizer *t, wpm_state *st, uint32_t cp, ql_idvec *o) {
    if (ql_unicode_is_space(cp)) {
        end_word(t, st, o);
        return true;
    }
    ql_uclass cls = ql_unicode_class(cp);
    if (cp == 0 || cp == QL_UTF8_REPLACEMENT || cls == QL_UC_OTHER) return true;
    if (t->strip_accents && cls == QL_UC_MARK_NONSPACING) return true;
    uint32_t c = t->lowercase ? ql_unicode_tolower(cp) : cp;
    bool alone = cls == QL_UC_PUNCT || (cp < 0x7F && cls == QL_UC_SYMBOL) || is_cjk(cp);
    if (alone) end_word(t, st, o);
    if (!buf_reserve(&st->word, 4)) return false;
    st->word.n += ql_utf8_encode(c, st->word.v + st->word.n);
    if (alone) end_word(t, st, o);
    return true;
}

bool ql_wpm_encode(const ql_tokenizer *t, const char *s, size_t n, ql_idvec *o) {
    wpm_state st = {0};
    if (!buf_reserve(&st.word, 64)) return false;
    memcpy(st.word.v, "\xe2\x96\x81", 3);
    st.word.n = 3;
    bool ok = true;
    for (size_t i = 0; i < n && ok;) {
        uint32_t cp, parts[4];
        i += ql_utf8_decode(s + i, n - i, &cp);
        size_t k = t->strip_accents ? ql_unicode_nfd(cp, parts) : (parts[0] = cp, 1);
        for (size_t p = 0; p < k && ok; p++) ok = feed(t, &st, parts[p], o);
    }
    if (ok) end_word(t, &st, o);
    free(st.word.v);
    return ok && !o->oom;
}
