/*
 * src/text/tokenizer.c: building a tokenizer from a ql_vocab_desc, cutting special tokens
 * out of the text, and decoding. The merge algorithms live in tok_spm.c, tok_bpe.c and
 * tok_wpm.c; the GGUF front end in tok_gguf.c.
 *
 * Conventions follow llama.cpp (llama-vocab.cpp) where it defines behaviour, since its
 * test vectors (shared/fixtures/tokenizer) are what this code is checked against.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "runtime/error.h"
#include "text/tok_internal.h"

/* ---- token text -> id ---------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n) { return XXH3_64bits(s, n); }

static ql_status strmap_build(ql_tokenizer *t) {
    uint64_t cap = 16;
    while (cap < 2 * (uint64_t)t->n_tokens) cap <<= 1;
    t->vocab.slots = malloc(cap * sizeof *t->vocab.slots);
    if (!t->vocab.slots) return QL_ERR_NOMEM;
    t->vocab.mask = cap - 1;
    for (uint64_t i = 0; i < cap; i++) t->vocab.slots[i].id = -1;

    for (int32_t id = 0; id < t->n_tokens; id++) {
        size_t n;
        const char *s = ql_tok_text(t, id, &n);
        if (n == 0) continue; /* an empty token can never be matched */
        uint64_t h = hash_bytes(s, n);
        uint32_t hi = (uint32_t)(h >> 32);
        for (uint64_t i = h & t->vocab.mask;; i = (i + 1) & t->vocab.mask) {
            ql_strmap_slot *slot = &t->vocab.slots[i];
            if (slot->id < 0) {
                slot->hash_hi = hi;
                slot->id = id;
                break;
            }
            size_t m;
            const char *o = ql_tok_text(t, slot->id, &m);
            if (slot->hash_hi == hi && m == n && memcmp(o, s, n) == 0) {
                slot->id = id; /* a duplicate text: the later id wins, as in llama.cpp */
                break;
            }
        }
    }
    return QL_OK;
}

int32_t ql_tok_lookup(const ql_tokenizer *t, const char *s, size_t n) {
    if (n == 0 || n > t->max_token_len) return -1;
    uint64_t h = hash_bytes(s, n);
    uint32_t hi = (uint32_t)(h >> 32);
    for (uint64_t i = h & t->vocab.mask;; i = (i + 1) & t->vocab.mask) {
        const ql_strmap_slot *slot = &t->vocab.slots[i];
        if (slot->id < 0) return -1;
        if (slot->hash_hi != hi) continue;
        size_t m;
        const char *o = ql_tok_text(t, slot->id, &m);
        if (m == n && memcmp(o, s, n) == 0) return slot->id;
    }
}

/* ---- small containers ------------------------------------------------------------------ */

void ql_idvec_push(ql_idvec *o, int32_t id) {
    if (o->oom) return;
    if (o->n == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        int32_t *v = realloc(o->v, cap * sizeof *v);
        if (!v) {
            o->oom = true;
            return;
        }
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = id;
}

static bool cand_less(const ql_tok_cand *a, const ql_tok_cand *b) { return a->key < b->key; }

bool ql_tok_heap_push(ql_tok_heap *h, ql_tok_cand c) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? 2 * h->cap : 64;
        ql_tok_cand *v = realloc(h->v, cap * sizeof *v);
        if (!v) return false;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = c;
    return true;
}

ql_tok_cand ql_tok_heap_pop(ql_tok_heap *h) {
    ql_tok_cand top = h->v[0];
    ql_tok_cand last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && cand_less(&h->v[c + 1], &h->v[c])) c++;
        if (!cand_less(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0) h->v[i] = last;
    return top;
}

/* ---- construction ---------------------------------------------------------------------- */

void ql_vocab_desc_defaults(ql_vocab_desc *d, ql_vocab_kind kind, const char *pre) {
    memset(d, 0, sizeof *d);
    d->kind = kind;
    d->pre = pre;
    d->bos_id = d->eos_id = d->unk_id = d->sep_id = d->pad_id = d->eot_id = d->eom_id = -1;
    d->ignore_merges = -1;
    switch (kind) {
    case QL_VOCAB_SPM:
        d->bos_id = 1;
        d->eos_id = 2;
        d->unk_id = 0;
        d->add_bos = true;
        d->add_space_prefix = true;
        break;
    case QL_VOCAB_BPE: {
        d->bos_id = 11; /* llama.cpp's defaults (Falcon's <|endoftext|>) */
        d->eos_id = 11;
        const ql_bpe_pre *p = ql_bpe_pre_find(pre && *pre ? pre : "default");
        d->add_bos = p && ql_bpe_pre_add_bos(p);
        break;
    }
    case QL_VOCAB_WPM:
        d->bos_id = 101; /* [CLS] */
        d->unk_id = 100;
        d->sep_id = 102;
        d->pad_id = 0;
        d->add_bos = true;
        d->add_sep = true;
        d->lowercase = true;
        d->strip_accents = true;
        break;
    }
}

/* Texts that mark end-of-turn / end-of-generation tokens in the vocabularies in use
 * (llama.cpp detects them the same way: the metadata rarely lists them). */
static const char *const k_eot_texts[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|end_of_text|>", "<EOT>", "<\uFF5Cend\u2581of\u2581sentence\uFF5C>", /* DeepSeek */
};

static void mark_eog(ql_tokenizer *t, int32_t id) {
    if (id >= 0 && id < t->n_tokens) t->attrs[id] |= QL_TOK_ATTR_EOG;
}

/* EOT / EOM detection by text, and the end-of-generation set. A token found by text is
 * made CONTROL so that it prints as "" and is only parsed with parse_special. */
static void find_eog(ql_tokenizer *t) {
    size_t n_eot = sizeof k_eot_texts / sizeof k_eot_texts[0];
    for (size_t k = 0; k < n_eot; k++) {
        int32_t id = ql_tok_lookup(t, k_eot_texts[k], strlen(k_eot_texts[k]));
        if (id < 0) continue;
        if (t->eot < 0) t->eot = id;
        t->types[id] = QL_TOKEN_CONTROL;
        mark_eog(t, id);
    }
    int32_t eom = ql_tok_lookup(t, "<|eom_id|>", 10);
    if (eom >= 0) {
        if (t->eom < 0) t->eom = eom;
        t->types[eom] = QL_TOKEN_CONTROL;
        mark_eog(t, eom);
    }
    mark_eog(t, t->eos);
    mark_eog(t, t->eot);
    mark_eog(t, t->eom);
}

typedef struct special_key {
    size_t len;
    int32_t id;
} special_key;

static int special_cmp(const void *a, const void *b) {
    const special_key *x = a, *y = b;
    if (x->len != y->len) return x->len < y->len ? 1 : -1; /* longest first */
    return (x->id > y->id) - (x->id < y->id);
}

static ql_status collect_specials(ql_tokenizer *t) {
    size_t n = 0;
    for (int32_t id = 0; id < t->n_tokens; id++) {
        uint8_t ty = t->types[id];
        if ((ty == QL_TOKEN_CONTROL || ty == QL_TOKEN_USER_DEFINED || ty == QL_TOKEN_UNKNOWN) &&
            t->off[id + 1] > t->off[id])
            n++;
    }
    if (n == 0) return QL_OK;
    special_key *keys = malloc(n * sizeof *keys);
    t->specials = malloc(n * sizeof *t->specials);
    if (!keys || !t->specials) {
        free(keys);
        return QL_ERR_NOMEM;
    }
    size_t k = 0;
    for (int32_t id = 0; id < t->n_tokens; id++) {
        uint8_t ty = t->types[id];
        size_t len = (size_t)(t->off[id + 1] - t->off[id]);
        if ((ty == QL_TOKEN_CONTROL || ty == QL_TOKEN_USER_DEFINED || ty == QL_TOKEN_UNKNOWN) &&
            len > 0)
            keys[k++] = (special_key){len, id};
    }
    qsort(keys, n, sizeof *keys, special_cmp);
    for (size_t i = 0; i < n; i++) t->specials[i] = keys[i].id;
    t->n_specials = (int32_t)n;
    free(keys);
    return QL_OK;
}

static void find_spm_barriers(ql_tokenizer *t) {
    bool seen[128] = {false};
    for (int32_t id = 0; id < t->n_tokens; id++) {
        size_t n;
        const char *s = ql_tok_text(t, id, &n);
        if (n < 2) continue;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)s[i] < 128) seen[(unsigned char)s[i]] = true;
    }
    for (int c = 0; c < 128; c++) t->spm_barrier[c] = !seen[c];
}

static int32_t checked_id(const ql_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n_tokens ? id : -1;
}

static ql_status copy_tokens(ql_tokenizer *t, const ql_vocab_desc *d, ql_error *err) {
    uint64_t total = 0;
    for (int32_t i = 0; i < d->n_tokens; i++) {
        if (d->tokens[i].len > 0 && !d->tokens[i].ptr)
            return ql_fail(err, QL_ERR_ARG, "tokenizer: token %d has no text", i);
        total += d->tokens[i].len;
        if (total > ((uint64_t)1 << 40))
            return ql_fail(err, QL_ERR_CORRUPT, "tokenizer: token texts too long");
    }
    if (d->n_tokens <= 0) return ql_fail(err, QL_ERR_ARG, "tokenizer: no tokens");
    size_t n = (size_t)(uint32_t)d->n_tokens;
    t->arena = malloc(total ? (size_t)total : 1);
    t->off = malloc((n + 1) * sizeof *t->off);
    t->scores = malloc(n * sizeof *t->scores);
    t->types = malloc(n);
    t->attrs = calloc(n, 1);
    if (!t->arena || !t->off || !t->scores || !t->types || !t->attrs)
        return ql_fail(err, QL_ERR_NOMEM, "tokenizer: out of memory for %d tokens", d->n_tokens);
    uint64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = (size_t)d->tokens[i].len;
        t->off[i] = pos;
        if (len) memcpy(t->arena + pos, d->tokens[i].ptr, len);
        pos += len;
        if (len > t->max_token_len) t->max_token_len = len;
        t->scores[i] = d->scores ? d->scores[i] : 0.0f;
        if (d->flags) t->attrs[i] = d->flags[i] & (QL_TOK_ATTR_LSTRIP | QL_TOK_ATTR_RSTRIP);
        int32_t ty = d->types ? d->types[i] : QL_TOKEN_NORMAL;
        t->types[i] = (uint8_t)(ty >= QL_TOKEN_UNDEFINED && ty <= QL_TOKEN_BYTE ? ty
                                                                               : QL_TOKEN_UNDEFINED);
    }
    t->off[n] = pos;
    return QL_OK;
}

ql_status ql_tokenizer_from_desc(const ql_vocab_desc *d, ql_tokenizer **out, ql_error *err) {
    if (!out) return ql_fail(err, QL_ERR_ARG, "tokenizer: out is NULL");
    *out = NULL;
    if (!d) return ql_fail(err, QL_ERR_ARG, "tokenizer: description is NULL");
    if (d->kind != QL_VOCAB_SPM && d->kind != QL_VOCAB_BPE && d->kind != QL_VOCAB_WPM)
        return ql_fail(err, QL_ERR_UNSUPPORTED, "tokenizer: unknown kind %d", (int)d->kind);
    if (d->n_tokens <= 0 || !d->tokens)
        return ql_fail(err, QL_ERR_ARG, "tokenizer: the vocabulary has no tokens");

    const char *pre_name = d->pre && *d->pre ? d->pre : "default";
    const ql_bpe_pre *pre = NULL;
    if (d->kind == QL_VOCAB_BPE) {
        pre = ql_bpe_pre_find(pre_name);
        if (!pre)
            return ql_fail(err, QL_ERR_UNSUPPORTED,
                           "tokenizer: unknown pre-tokenizer '%s' (tokenizer.ggml.pre)", pre_name);
        if (!d->merges || d->n_merges == 0)
            return ql_fail(err, QL_ERR_ARG,
                           "tokenizer: BPE vocabulary without merges (tokenizer.ggml.merges)");
    }

    ql_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return ql_fail(err, QL_ERR_NOMEM, "tokenizer: out of memory");
    t->kind = d->kind;
    t->n_tokens = d->n_tokens;
    ql_status st = copy_tokens(t, d, err);
    if (st != QL_OK) goto fail;
    if ((st = strmap_build(t)) != QL_OK) {
        ql_fail(err, st, "tokenizer: out of memory for the vocabulary index");
        goto fail;
    }

    t->bos = checked_id(t, d->bos_id);
    t->eos = checked_id(t, d->eos_id);
    t->unk = checked_id(t, d->unk_id);
    t->sep = checked_id(t, d->sep_id);
    t->pad = checked_id(t, d->pad_id);
    t->eot = checked_id(t, d->eot_id);
    t->eom = checked_id(t, d->eom_id);
    t->add_bos = d->add_bos;
    t->add_eos = d->add_eos;
    t->add_sep = d->add_sep;
    t->add_space_prefix = d->add_space_prefix;
    t->lowercase = d->lowercase;
    t->strip_accents = d->strip_accents;
    find_eog(t);
    if ((st = collect_specials(t)) != QL_OK) {
        ql_fail(err, st, "tokenizer: out of memory for the special tokens");
        goto fail;
    }

    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_token[b] = ql_tok_lookup(t, name, 6);
    }

    switch (t->kind) {
    case QL_VOCAB_SPM:
        snprintf(t->kind_name, sizeof t->kind_name, "spm");
        find_spm_barriers(t);
        break;
    case QL_VOCAB_WPM: snprintf(t->kind_name, sizeof t->kind_name, "wpm"); break;
    case QL_VOCAB_BPE:
        snprintf(t->kind_name, sizeof t->kind_name, "bpe:%.70s", pre_name);
        if ((st = ql_bpe_init(t, d, pre, err)) != QL_OK) goto fail;
        break;
    }
    *out = t;
    return ql_ok(err);

fail:
    ql_tokenizer_free(t);
    return st;
}

void ql_tokenizer_free(ql_tokenizer *t) {
    if (!t) return;
    ql_bpe_free(t);
    free(t->specials);
    free(t->vocab.slots);
    free(t->attrs);
    free(t->types);
    free(t->scores);
    free(t->off);
    free(t->arena);
    free(t);
}

/* ---- encoding -------------------------------------------------------------------------- */

/* A piece of the input: a special token (id >= 0) or raw text to tokenize (id < 0). */
typedef struct fragment {
    int32_t id;
    size_t off, len;
} fragment;

typedef struct fragvec {
    fragment *v;
    size_t n, cap;
} fragvec;

static bool frag_push(fragvec *f, fragment x) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 16;
        fragment *v = realloc(f->v, cap * sizeof *v);
        if (!v) return false;
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = x;
    return true;
}

static bool is_space_byte(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Cuts every occurrence of each special token out of the raw fragments, longest token
 * first (llama.cpp's tokenizer_st_partition); lstrip / rstrip tokens also take the
 * whitespace next to them. */
static bool partition(const ql_tokenizer *t, const char *text, size_t len, bool parse_special,
                      fragvec *frags) {
    frags->n = 0;
    if (len > 0 && !frag_push(frags, (fragment){-1, 0, len})) return false;
    fragvec next = {0};
    for (int32_t k = 0; k < t->n_specials; k++) {
        int32_t id = t->specials[k];
        uint8_t ty = t->types[id];
        if (!parse_special && ty != QL_TOKEN_USER_DEFINED) continue;
        size_t slen;
        const char *s = ql_tok_text(t, id, &slen);
        bool found = false;
        for (size_t i = 0; i < frags->n && !found; i++) {
            const fragment *f = &frags->v[i];
            found = f->id < 0 && f->len >= slen && memmem(text + f->off, f->len, s, slen);
        }
        if (!found) continue;
        next.n = 0;
        for (size_t i = 0; i < frags->n; i++) {
            fragment f = frags->v[i];
            while (f.id < 0 && f.len >= slen) {
                const char *m = memmem(text + f.off, f.len, s, slen);
                if (!m) break;
                size_t at = (size_t)(m - text), left = at - f.off;
                if (t->attrs[id] & QL_TOK_ATTR_LSTRIP)
                    while (left > 0 && is_space_byte(text[f.off + left - 1])) left--;
                if (left > 0 && !frag_push(&next, (fragment){-1, f.off, left})) goto oom;
                if (!frag_push(&next, (fragment){id, at, slen})) goto oom;
                f.len -= at + slen - f.off;
                f.off = at + slen;
                if (t->attrs[id] & QL_TOK_ATTR_RSTRIP)
                    while (f.len > 0 && is_space_byte(text[f.off])) f.off++, f.len--;
            }
            if (f.len > 0 && !frag_push(&next, f)) goto oom;
        }
        fragvec tmp = *frags;
        *frags = next;
        next = tmp;
    }
    free(next.v);
    return true;
oom:
    free(next.v);
    return false;
}

ql_status ql_tokenizer_encode(const ql_tokenizer *t, const char *text, size_t len,
                              bool add_special, bool parse_special, int32_t *ids, size_t cap,
                              size_t *n_ids, ql_error *err) {
    if (n_ids) *n_ids = 0;
    if (!t || !n_ids || (len > 0 && !text) || (cap > 0 && !ids))
        return ql_fail(err, QL_ERR_ARG, "tokenize: NULL argument");

    fragvec frags = {0};
    ql_idvec o = {0};
    if (!partition(t, text, len, parse_special, &frags)) goto oom;

    if (add_special && t->add_bos && t->bos >= 0) ql_idvec_push(&o, t->bos);
    bool first = true; /* at the start, or just after a special token */
    for (size_t i = 0; i < frags.n && !o.oom; i++) {
        const fragment *f = &frags.v[i];
        if (f->id >= 0) {
            ql_idvec_push(&o, f->id);
            first = true;
            continue;
        }
        bool ok = true;
        switch (t->kind) {
        case QL_VOCAB_SPM: ok = ql_spm_encode(t, text + f->off, f->len, first, &o); break;
        case QL_VOCAB_BPE: ok = ql_bpe_encode(t, text + f->off, f->len, &o); break;
        case QL_VOCAB_WPM: ok = ql_wpm_encode(t, text + f->off, f->len, &o); break;
        }
        if (!ok) goto oom;
        first = false;
    }
    if (add_special && t->add_eos && t->eos >= 0) ql_idvec_push(&o, t->eos);
    if (add_special && t->kind == QL_VOCAB_WPM && t->add_sep && t->sep >= 0)
        ql_idvec_push(&o, t->sep);
    if (o.oom) goto oom;

    free(frags.v);
    *n_ids = o.n;
    if (o.n > cap) {
        free(o.v);
        return ql_fail(err, QL_ERR_RANGE, "tokenize: %zu tokens do not fit in %zu", o.n, cap);
    }
    if (o.n) memcpy(ids, o.v, o.n * sizeof *ids);
    free(o.v);
    return ql_ok(err);

oom:
    free(frags.v);
    free(o.v);
    return ql_fail(err, QL_ERR_NOMEM, "tokenize: out of memory for %zu bytes of text", len);
}

/* ---- decoding -------------------------------------------------------------------------- */

static bool hidden_type(uint8_t ty) {
    /* llama.cpp prints only NORMAL, BYTE and USER_DEFINED tokens without show_special. */
    return ty == QL_TOKEN_CONTROL || ty == QL_TOKEN_UNKNOWN || ty == QL_TOKEN_UNUSED ||
           ty == QL_TOKEN_UNDEFINED;
}

static size_t put(char *buf, size_t cap, size_t at, const char *s, size_t n) {
    if (at < cap) memcpy(buf + at, s, n < cap - at ? n : cap - at);
    return at + n;
}

/* "▁" (U+2581) -> " " */
static size_t unescape_spaces(const char *s, size_t n, char *buf, size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (i + 3 <= n && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
            o = put(buf, cap, o, " ", 1);
            i += 3;
        } else {
            o = put(buf, cap, o, s + i, 1);
            i++;
        }
    }
    return o;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* The byte of a "<0xNN>" token, or -1 for any other text. */
static int byte_value(const char *s, size_t n) {
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

int32_t ql_tokenizer_piece(const ql_tokenizer *t, int32_t id, bool show_special, char *buf,
                           size_t cap) {
    if (!t || id < 0 || id >= t->n_tokens) return -1;
    if (!buf) cap = 0;
    size_t n;
    const char *s = ql_tok_text(t, id, &n);
    uint8_t ty = t->types[id];
    size_t len;
    if (hidden_type(ty)) {
        len = show_special ? put(buf, cap, 0, s, n) : 0;
    } else if (ty == QL_TOKEN_USER_DEFINED) {
        len = put(buf, cap, 0, s, n);
    } else if (ty == QL_TOKEN_BYTE && byte_value(s, n) >= 0) {
        char c = (char)byte_value(s, n);
        len = put(buf, cap, 0, &c, 1);
    } else if (t->kind == QL_VOCAB_BPE) {
        len = ql_bpe_decode_text(t, s, n, buf, cap);
    } else {
        len = unescape_spaces(s, n, buf, cap);
    }
    return len > INT32_MAX ? INT32_MAX : (int32_t)len;
}

ql_status ql_tokenizer_decode(const ql_tokenizer *t, const int32_t *ids, size_t n_ids,
                              bool remove_leading_space, bool show_special, char *text,
                              size_t cap, size_t *n_bytes, ql_error *err) {
    if (n_bytes) *n_bytes = 0;
    if (!t || !n_bytes || (n_ids > 0 && !ids) || (cap > 0 && !text))
        return ql_fail(err, QL_ERR_ARG, "detokenize: NULL argument");
    /* The space SPM tokenization put in front of the text (and WPM's word-start "▁") sits
     * at the start of the first text token. */
    bool strip = remove_leading_space && (t->kind == QL_VOCAB_SPM ? t->add_space_prefix
                                                                 : t->kind == QL_VOCAB_WPM);
    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_tokens)
            return ql_fail(err, QL_ERR_ARG, "detokenize: token %d at %zu is outside the vocabulary",
                           id, i);
        if (strip && !hidden_type(t->types[id])) {
            /* A piece is never longer than its token text (or 1 byte for <0xNN>). */
            strip = false;
            char *tmp = malloc(t->max_token_len + 1);
            if (!tmp) return ql_fail(err, QL_ERR_NOMEM, "detokenize: out of memory");
            size_t n = (size_t)ql_tokenizer_piece(t, id, show_special, tmp, t->max_token_len + 1);
            size_t skip = n > 0 && tmp[0] == ' ';
            total = put(text, cap, total, tmp + skip, n - skip);
            free(tmp);
            continue;
        }
        char *dst = total < cap ? text + total : NULL;
        total += (size_t)ql_tokenizer_piece(t, id, show_special, dst, dst ? cap - total : 0);
    }
    *n_bytes = total;
    if (total > cap)
        return ql_fail(err, QL_ERR_RANGE, "detokenize: %zu bytes do not fit in %zu", total, cap);
    return ql_ok(err);
}

/* ---- facts ----------------------------------------------------------------------------- */

int32_t ql_tokenizer_n_vocab(const ql_tokenizer *t) { return t ? t->n_tokens : 0; }
int32_t ql_tokenizer_bos(const ql_tokenizer *t) { return t ? t->bos : -1; }
int32_t ql_tokenizer_eos(const ql_tokenizer *t) { return t ? t->eos : -1; }
int32_t ql_tokenizer_unk(const ql_tokenizer *t) { return t ? t->unk : -1; }
int32_t ql_tokenizer_eot(const ql_tokenizer *t) { return t ? t->eot : -1; }
const char *ql_tokenizer_kind(const ql_tokenizer *t) { return t ? t->kind_name : ""; }

bool ql_tokenizer_is_eog(const ql_tokenizer *t, int32_t id) {
    return t && id >= 0 && id < t->n_tokens && (t->attrs[id] & QL_TOK_ATTR_EOG);
}

int32_t ql_tokenizer_token_type(const ql_tokenizer *t, int32_t id) {
    return t && id >= 0 && id < t->n_tokens ? t->types[id] : QL_TOKEN_UNDEFINED;
}

const char *ql_tokenizer_token_text(const ql_tokenizer *t, int32_t id, size_t *len) {
    if (!t || id < 0 || id >= t->n_tokens) {
        if (len) *len = 0;
        return NULL;
    }
    size_t n;
    const char *s = ql_tok_text(t, id, &n);
    if (len) *len = n;
    return s;
}

int32_t ql_tokenizer_find(const ql_tokenizer *t, const char *text, size_t len) {
    return t && text ? ql_tok_lookup(t, text, len) : -1;
}
