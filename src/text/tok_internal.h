/*
 * src/text/tok_internal.h: the ql_tokenizer struct and what the algorithm files share
 * (internal to src/text/tok_*.c and tokenizer.c).
 *
 * Token texts live back to back in one arena; a token is arena[off[id] .. off[id+1]).
 * Lookups go through open-addressing hash tables built once at load:
 *   text -> id            (ql_strmap; XXH3 hashes, linear probing)
 *   (left, right) -> merge (ql_pairmap; BPE merges keyed by the two token ids)
 * Encoding allocates only per call (scratch arrays), so one tokenizer may be used from
 * several threads at once.
 */
#ifndef QL_TEXT_TOK_INTERNAL_H
#define QL_TEXT_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "text/tokenizer.h"

#define QL_TOK_MAX_REGEX 8

/* Per-token attribute bits (beyond the stored type). */
enum {
    QL_TOK_ATTR_LSTRIP = QL_TOKEN_LSTRIP,
    QL_TOK_ATTR_RSTRIP = QL_TOKEN_RSTRIP,
    QL_TOK_ATTR_EOG = 4, /* ends generation */
};

typedef struct ql_strmap_slot {
    uint32_t hash_hi; /* upper 32 bits of the key's hash, to skip most memcmp calls */
    int32_t id;       /* -1: empty */
} ql_strmap_slot;

typedef struct ql_strmap {
    ql_strmap_slot *slots;
    uint64_t mask; /* capacity - 1; capacity is a power of two >= 2 * entries */
} ql_strmap;

typedef struct ql_pairmap_slot {
    uint64_t key;   /* (uint64)left << 32 | right; UINT64_MAX: empty */
    int32_t rank;   /* index in tokenizer.ggml.merges: lower merges first */
    int32_t result; /* id of the merged token */
} ql_pairmap_slot;

typedef struct ql_pairmap {
    ql_pairmap_slot *slots;
    uint64_t mask;
} ql_pairmap;

struct ql_tokenizer {
    ql_vocab_kind kind;
    char kind_name[80]; /* "spm", "wpm", "bpe:<pre>" */

    int32_t n_tokens;
    char *arena;       /* all token texts */
    uint64_t *off;     /* [n_tokens + 1] */
    float *scores;     /* [n_tokens] */
    uint8_t *types;    /* [n_tokens] QL_TOKEN_* after load-time fix-ups */
    uint8_t *attrs;    /* [n_tokens] QL_TOK_ATTR_* */
    ql_strmap vocab;
    size_t max_token_len;

    int32_t bos, eos, unk, sep, pad, eot, eom;
    bool add_bos, add_eos, add_sep, add_space_prefix;

    /* Tokens cut out of the text before tokenizing (CONTROL, USER_DEFINED, UNKNOWN),
     * longest text first. */
    int32_t *specials;
    int32_t n_specials;

    /* SPM: id of <0xNN> for each byte, or -1. */
    int32_t byte_token[256];
    /* SPM: ASCII characters that occur in no token of two or more bytes, so no merge can
     * cross them: the text is cut there into independent parts (same result, smaller
     * heaps). For Llama-2 that is '\n', which keeps long prompts in cache. */
    bool spm_barrier[128];

    /* BPE */
    ql_pairmap merges;
    int32_t byte_symbol[256];  /* id of the token that is the byte's GPT-2 character */
    char byte_utf8[256][2];    /* the GPT-2 character of each byte (1 or 2 UTF-8 bytes) */
    uint8_t byte_utf8_len[256];
    int16_t char_byte[324];    /* inverse: GPT-2 code point (< 324) -> byte, or -1 */
    pcre2_code *regex[QL_TOK_MAX_REGEX];
    int n_regex;
    bool ignore_merges;        /* a pre-split word that is itself a token is kept whole */
    bool ignore_merges_own;    /* ignore_merges is the source's, not the pre-tokenizer's */

    /* WPM */
    bool lowercase, strip_accents;
};

/* A growable array of token ids: the encoder's output. */
typedef struct ql_idvec {
    int32_t *v;
    size_t n, cap;
    bool oom; /* an append failed; the vector is unusable */
} ql_idvec;

void ql_idvec_push(ql_idvec *o, int32_t id);

/* Merge candidates: a binary min-heap on key = priority << 32 | left symbol, so ties go
 * to the leftmost pair. The right symbol is the left one's successor when popped; a and
 * b record what the pair was made of, to recognise candidates made stale by a merge. */
typedef struct ql_tok_cand {
    uint64_t key;
    int32_t a, b;
} ql_tok_cand;

static inline int32_t ql_tok_cand_left(ql_tok_cand c) { return (int32_t)(uint32_t)c.key; }

typedef struct ql_tok_heap {
    ql_tok_cand *v;
    size_t n, cap;
} ql_tok_heap;

bool ql_tok_heap_push(ql_tok_heap *h, ql_tok_cand c);
ql_tok_cand ql_tok_heap_pop(ql_tok_heap *h); /* h->n > 0 */

/* text -> id, or -1. */
int32_t ql_tok_lookup(const ql_tokenizer *t, const char *s, size_t n);
static inline const char *ql_tok_text(const ql_tokenizer *t, int32_t id, size_t *n) {
    *n = (size_t)(t->off[id + 1] - t->off[id]);
    return t->arena + t->off[id];
}

/* The algorithms: each appends the ids of one text fragment (no special tokens in it).
 * `first` is true when the fragment starts the text or follows a special token (SPM's
 * dummy prefix). They return false only when out of memory. */
bool ql_spm_encode(const ql_tokenizer *t, const char *s, size_t n, bool first, ql_idvec *o);
bool ql_bpe_encode(const ql_tokenizer *t, const char *s, size_t n, ql_idvec *o);
bool ql_wpm_encode(const ql_tokenizer *t, const char *s, size_t n, ql_idvec *o);

/* BPE set-up (tok_bpe.c): byte alphabet, merge table, pre-tokenizer regexes.
 * ql_bpe_pre_find returns false for an unknown pre-tokenizer name. */
typedef struct ql_bpe_pre ql_bpe_pre;
const ql_bpe_pre *ql_bpe_pre_find(const char *name);
bool ql_bpe_pre_add_bos(const ql_bpe_pre *p);
ql_status ql_bpe_init(ql_tokenizer *t, const ql_vocab_desc *d, const ql_bpe_pre *pre,
                      ql_error *err);
void ql_bpe_free(ql_tokenizer *t);
/* Bytes of a BPE token's text mapped back through the GPT-2 alphabet; returns the
 * length, writing at most cap bytes. */
size_t ql_bpe_decode_text(const ql_tokenizer *t, const char *s, size_t n, char *buf,
                          size_t cap);

#endif
