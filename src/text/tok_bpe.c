/*
 * src/text/tok_bpe.c: byte-level BPE (tokenizer.ggml.model "gpt2").
 *
 *  1. Pre-tokenizer: the text is split by the regexes of `tokenizer.ggml.pre`, applied
 *     one after the other; each regex cuts every current chunk into its matches and the
 *     gaps between them (llama.cpp's unicode_regex_split). PCRE2 with UTF + UCP gives
 *     \p{L}, \p{N}, \s their Unicode meaning, as the Hugging Face (Rust) regexes have.
 *  2. Every byte of a chunk becomes its GPT-2 character (the printable bytes stand for
 *     themselves, the other 68 map to U+0100.. in byte order), i.e. one symbol per byte.
 *  3. Merges: repeatedly the adjacent pair with the lowest rank in tokenizer.ggml.merges
 *     is merged (ties: leftmost). Pairs are looked up by their two token ids in a hash
 *     table built at load, so the loop never touches strings.
 *
 * Cost: O(n log n) per chunk of n bytes (heap of candidate pairs over a linked list).
 * Loading Llama-3 (128256 tokens, 280147 merges) builds the tables in a few tens of ms.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "text/tok_internal.h"
#include "text/unicode.h"

/* ---- pre-tokenizers -------------------------------------------------------------------- */

/* Pattern strings as llama.cpp (llama-vocab.cpp) and the models' tokenizer.json define
 * them. The case-insensitive contractions (?i:'s|'t|...) are spelled out as classes. */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3                                                                          \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*" \
                    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                           \
    RE_CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"    \
                    "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_TEKKEN                                                                          \
    "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+"                    \
    "|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*"                   \
    "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* CJK ideographs, U+0800..U+4E00 (sic, as in the DeepSeek tokenizer.json) and Hangul. */
#define RE_CJK "[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+"
#define RE_GPT4O                                                                           \
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+" \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"                              \
    "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*" \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"                              \
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

struct ql_bpe_pre {
    const char *names[8]; /* tokenizer.ggml.pre values that select this entry */
    const char *regex[QL_TOK_MAX_REGEX];
    bool ignore_merges;
    bool add_bos; /* llama.cpp's default when tokenizer.ggml.add_bos_token is absent */
};

static const ql_bpe_pre k_pre[] = {
    {.names = {"default"},
     .regex = {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}},
    {.names = {"llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral"},
     .regex = {RE_LLAMA3},
     .ignore_merges = true,
     .add_bos = true},
    {.names = {"dbrx", "smaug-bpe"}, .regex = {RE_LLAMA3}},
    {.names = {"deepseek-llm"},
     .regex = {"[\r\n]",
               "\\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293"
               "\u0295-\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A"
               "\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556"
               "\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B"
               "\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D"
               "\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE"
               "\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4"
               "\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128"
               "\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184"
               "\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B"
               "\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17"
               "\uFF21-\uFF3A\uFF41-\uFF5A\U00010400-\U0001044F\U000104B0-\U000104D3"
               "\U000104D8-\U000104FB\U00010C80-\U00010CB2\U00010CC0-\U00010CF2"
               "\U000118A0-\U000118DF\U0001E900-\U0001E943]+",
               "\\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+",
               "\\s+$",
               RE_CJK,
               "\\p{N}+"}},
    {.names = {"deepseek-coder"},
     .regex = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+",
               RE_CJK, "\\p{N}"}},
    {.names = {"falcon"},
     .regex = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}},
    {.names = {"gpt-2", "mpt", "olmo", "jais", "phi-2", "trillion", "exaone4"},
     .regex = {RE_GPT2}},
    {.names = {"starcoder", "refact", "command-r", "smollm", "codeshell", "exaone",
               "minerva-7b"},
     .regex = {"\\p{N}", RE_GPT2}},
    {.names = {"qwen2", "stablelm2", "deepseek-r1-qwen", "megrez", "hunyuan"},
     .regex = {RE_QWEN2}},
    {.names = {"tekken"}, .regex = {RE_TEKKEN}, .ignore_merges = true, .add_bos = true},
    {.names = {"gpt-4o", "llama4"}, .regex = {RE_GPT4O}},
};

const ql_bpe_pre *ql_bpe_pre_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < sizeof k_pre / sizeof k_pre[0]; i++)
        for (size_t k = 0; k < 8 && k_pre[i].names[k]; k++)
            if (strcmp(k_pre[i].names[k], name) == 0) return &k_pre[i];
    return NULL;
}

bool ql_bpe_pre_add_bos(const ql_bpe_pre *p) { return p->add_bos; }

/* ---- merge table ----------------------------------------------------------------------- */

#define PAIR_EMPTY UINT64_MAX

static uint64_t pair_key(int32_t l, int32_t r) { return (uint64_t)(uint32_t)l << 32 | (uint32_t)r; }
static uint64_t pair_slot(uint64_t key, uint64_t mask) {
    return (key * 0x9E3779B97F4A7C15ull >> 17) & mask;
}

/* Returns the slot of `key` or the empty slot where it belongs. */
static ql_pairmap_slot *pair_find(const ql_pairmap *m, uint64_t key) {
    for (uint64_t i = pair_slot(key, m->mask);; i = (i + 1) & m->mask)
        if (m->slots[i].key == key || m->slots[i].key == PAIR_EMPTY) return &m->slots[i];
}

static ql_status build_merges(ql_tokenizer *t, const ql_vocab_desc *d, ql_error *err) {
    uint64_t cap = 16;
    while (cap < 2 * d->n_merges) cap <<= 1;
    t->merges.slots = malloc(cap * sizeof *t->merges.slots);
    if (!t->merges.slots) return ql_fail(err, QL_ERR_NOMEM, "tokenizer: out of memory for merges");
    t->merges.mask = cap - 1;
    for (uint64_t i = 0; i < cap; i++) t->merges.slots[i].key = PAIR_EMPTY;

    char *cat = malloc(2 * t->max_token_len + 1);
    if (!cat) return ql_fail(err, QL_ERR_NOMEM, "tokenizer: out of memory for merges");
    for (uint64_t i = 0; i < d->n_merges; i++) {
        const char *s = d->merges[i].ptr;
        size_t n = (size_t)d->merges[i].len;
        /* "left right": the first space after the first byte separates them. */
        const char *sp = n > 1 && s ? memchr(s + 1, ' ', n - 1) : NULL;
        if (!sp) {
            free(cat);
            return ql_fail(err, QL_ERR_CORRUPT,
                           "tokenizer: merge %llu has no space between its two tokens",
                           (unsigned long long)i);
        }
        size_t ln = (size_t)(sp - s), rn = n - ln - 1;
        int32_t l = ql_tok_lookup(t, s, ln), r = ql_tok_lookup(t, sp + 1, rn);
        if (l < 0 || r < 0) continue; /* can never apply: a side is not a token */
        memcpy(cat, s, ln);
        memcpy(cat + ln, sp + 1, rn);
        int32_t res = ql_tok_lookup(t, cat, ln + rn);
        if (res < 0) continue; /* Hugging Face rejects these; the pair never merges here */
        ql_pairmap_slot *slot = pair_find(&t->merges, pair_key(l, r));
        if (slot->key != PAIR_EMPTY) continue; /* a repeated pair keeps its first rank */
        *slot = (ql_pairmap_slot){pair_key(l, r), (int32_t)(i > INT32_MAX ? INT32_MAX : i), res};
    }
    free(cat);
    return QL_OK;
}

/* ---- byte alphabet ------------------------------------------------------------------- */

/* GPT-2's bytes_to_unicode(): '!'..'~', U+00A1..U+00AC and U+00AE..U+00FF stand for
 * themselves; the remaining bytes, in increasing order, get U+0100, U+0101, ... */
static void build_alphabet(ql_tokenizer *t) {
    for (int i = 0; i < 324; i++) t->char_byte[i] = -1;
    uint32_t next = 256;
    for (int b = 0; b < 256; b++) {
        bool self = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        uint32_t cp = self ? (uint32_t)b : next++;
        char buf[4];
        size_t n = ql_utf8_encode(cp, buf);
        memcpy(t->byte_utf8[b], buf, n);
        t->byte_utf8_len[b] = (uint8_t)n;
        t->char_byte[cp] = (int16_t)b;
        t->byte_symbol[b] = ql_tok_lookup(t, buf, n);
    }
}

size_t ql_bpe_decode_text(const ql_tokenizer *t, const char *s, size_t n, char *buf,
                          size_t cap) {
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = ql_utf8_decode(s + i, n - i, &cp);
        if (cp < 324 && t->char_byte[cp] >= 0 && cp != QL_UTF8_REPLACEMENT) {
            if (o < cap) buf[o] = (char)t->char_byte[cp];
            o++;
        } else {
            /* Not a GPT-2 character (added tokens may hold raw text): copy it. */
            for (size_t k = 0; k < len; k++, o++)
                if (o < cap) buf[o] = s[i + k];
        }
        i += len;
    }
    return o;
}

/* ---- set-up ---------------------------------------------------------------------------- */

ql_status ql_bpe_init(ql_tokenizer *t, const ql_vocab_desc *d, const ql_bpe_pre *pre,
                      ql_error *err) {
    build_alphabet(t);
    t->ignore_merges = d->ignore_merges >= 0 ? d->ignore_merges != 0 : pre->ignore_merges;
    t->ignore_merges_own = t->ignore_merges != pre->ignore_merges;
    ql_status st = build_merges(t, d, err);
    if (st != QL_OK) return st;

    for (int i = 0; i < QL_TOK_MAX_REGEX && pre->regex[i]; i++) {
        int code;
        PCRE2_SIZE at;
        uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_DOLLAR_ENDONLY;
        /* \s as Unicode White_Space: PCRE2's also matches U+180E (see unicode.h). */
        size_t len = ql_regex_white_space(pre->regex[i], NULL, 0);
        if (len == 0)
            return ql_fail(err, QL_ERR_UNSUPPORTED, "tokenizer: pre-tokenizer regex %d has \\S in a class",
                           i);
        char *pat = malloc(len + 1);
        if (!pat) return ql_fail(err, QL_ERR_NOMEM, "tokenizer: out of memory for a regex");
        ql_regex_white_space(pre->regex[i], pat, len + 1);
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, len, opts, &code, &at, NULL);
        free(pat);
        if (!re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(code, msg, sizeof msg);
            return ql_fail(err, QL_ERR_UNSUPPORTED,
                           "tokenizer: pre-tokenizer regex %d does not compile at %zu: %s", i,
                           (size_t)at, (const char *)msg);
        }
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* optional: the interpreter is the fallback */
        t->regex[t->n_regex++] = re;
    }
    return QL_OK;
}

void ql_bpe_free(ql_tokenizer *t) {
    for (int i = 0; i < t->n_regex; i++) pcre2_code_free(t->regex[i]);
    t->n_regex = 0;
    free(t->merges.slots);
    t->merges.slots = NULL;
}

/* ---- encoding -------------------------------------------------------------------------- */

typedef struct span {
    size_t off, len;
} span;

typedef struct spanvec {
    span *v;
    size_t n, cap;
} spanvec;

static bool span_push(spanvec *s, size_t off, size_t len) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        span *v = realloc(s->v, cap * sizeof *v);
        if (!v) return false;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (span){off, len};
    return true;
}

static int regex_match(const pcre2_code *re, const char *s, size_t n, size_t pos,
                       pcre2_match_data *md) {
    int rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, 0, md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) /* very long runs: the interpreter has no limit */
        rc = pcre2_match(re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_JIT, md, NULL);
    return rc;
}

/* Cuts chunk [off, off+len) of s into the regex's matches and the gaps between them. The
 * chunk alone is the subject, so lookarounds and $ see the chunk's ends. */
static bool split_chunk(const pcre2_code *re, const char *s, span c, pcre2_match_data *md,
                        spanvec *out) {
    const char *sub = s + c.off;
    size_t pos = 0, last = 0;
    while (pos < c.len) {
        if (regex_match(re, sub, c.len, pos, md) < 0) break;
        const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = (size_t)ov[0], me = (size_t)ov[1];
        if (me <= ms) { /* empty match: step over one character */
            pos = ms + ql_utf8_len((unsigned char)sub[ms]);
            continue;
        }
        if (ms > last && !span_push(out, c.off + last, ms - last)) return false;
        if (!span_push(out, c.off + ms, me - ms)) return false;
        last = pos = me;
    }
    return last >= c.len || span_push(out, c.off + last, c.len - last);
}

typedef struct bpe_scratch {
    int32_t *id, *prev, *next;
    size_t cap;
    ql_tok_heap heap;
    char *enc; /* GPT-2 characters of the word, for ignore_merges */
} bpe_scratch;

static bool scratch_reserve(bpe_scratch *b, size_t n) {
    if (n <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < n) cap *= 2;
    int32_t *id = realloc(b->id, cap * sizeof *id);
    if (id) b->id = id;
    int32_t *prev = realloc(b->prev, cap * sizeof *prev);
    if (prev) b->prev = prev;
    int32_t *next = realloc(b->next, cap * sizeof *next);
    if (next) b->next = next;
    char *enc = realloc(b->enc, 2 * cap);
    if (enc) b->enc = enc;
    if (!id || !prev || !next || !enc) return false;
    b->cap = cap;
    return true;
}

static bool push_pair(const ql_tokenizer *t, bpe_scratch *b, int32_t l, int32_t r) {
    if (l < 0 || r < 0 || b->id[l] < 0 || b->id[r] < 0) return true;
    const ql_pairmap_slot *m = pair_find(&t->merges, pair_key(b->id[l], b->id[r]));
    if (m->key == PAIR_EMPTY) return true;
    ql_tok_cand c = {.key = (uint64_t)(uint32_t)m->rank << 32 | (uint32_t)l, .a = b->id[l],
                     .b = b->id[r]};
    return ql_tok_heap_push(&b->heap, c);
}

/* One pre-tokenized word of n bytes. */
static bool bpe_word(const ql_tokenizer *t, const unsigned char *s, size_t n, bpe_scratch *b,
                     ql_idvec *o) {
    if (!scratch_reserve(b, n)) return false;
    if (t->ignore_merges) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            memcpy(b->enc + m, t->byte_utf8[s[i]], t->byte_utf8_len[s[i]]);
            m += t->byte_utf8_len[s[i]];
        }
        int32_t id = ql_tok_lookup(t, b->enc, m);
        if (id >= 0) {
            ql_idvec_push(o, id);
            return true;
        }
    }
    for (size_t i = 0; i < n; i++) {
        b->id[i] = t->byte_symbol[s[i]];
        b->prev[i] = (int32_t)i - 1;
        b->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    b->heap.n = 0;
    for (size_t i = 1; i < n; i++)
        if (!push_pair(t, b, (int32_t)i - 1, (int32_t)i)) return false;

    while (b->heap.n > 0) {
        ql_tok_cand c = ql_tok_heap_pop(&b->heap);
        int32_t l = ql_tok_cand_left(c), r = b->next[l];
        /* Stale when either side has merged since (a merge changes the left id). */
        if (b->id[l] != c.a || r < 0 || b->id[r] != c.b) continue;
        const ql_pairmap_slot *m = pair_find(&t->merges, pair_key(c.a, c.b));
        b->id[l] = m->result;
        b->id[r] = -1;
        b->next[l] = b->next[r];
        if (b->next[r] >= 0) b->prev[b->next[r]] = l;
        if (!push_pair(t, b, b->prev[l], l) || !push_pair(t, b, l, b->next[l])) return false;
    }
    /* Symbol 0 is never merged away (merges keep the left symbol). A byte whose GPT-2
     * character is not in the vocabulary has no token and is dropped, as in llama.cpp. */
    for (int32_t i = 0; i >= 0; i = b->next[i])
        if (b->id[i] >= 0) ql_idvec_push(o, b->id[i]);
    return !o->oom;
}

bool ql_bpe_encode(const ql_tokenizer *t, const char *s, size_t n, ql_idvec *o) {
    if (n == 0) return true;
    spanvec cur = {0}, next = {0};
    bpe_scratch b = {0};
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    bool ok = md && span_push(&cur, 0, n);
    for (int r = 0; ok && r < t->n_regex; r++) {
        next.n = 0;
        for (size_t i = 0; ok && i < cur.n; i++) ok = split_chunk(t->regex[r], s, cur.v[i], md, &next);
        spanvec tmp = cur;
        cur = next;
        next = tmp;
    }
    for (size_t i = 0; ok && i < cur.n; i++)
        ok = bpe_word(t, (const unsigned char *)s + cur.v[i].off, cur.v[i].len, &b, o);
    pcre2_match_data_free(md);
    free(cur.v);
    free(next.v);
    free(b.id);
    free(b.prev);
    free(b.next);
    free(b.enc);
    free(b.heap.v);
    return ok;
}
