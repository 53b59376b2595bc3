/*
 * src/text/tokenizer.h: tokenizers built from GGUF metadata (internal).
 *
 * Three algorithms, chosen by `tokenizer.ggml.model`:
 *   "llama": SentencePiece BPE: score-ordered merges over UTF-8 characters, byte
 *            fallback to <0xNN> tokens, "▁" (U+2581) for spaces and a dummy prefix space.
 *   "gpt2":  byte-level BPE: text split by the pre-tokenizer regexes of
 *            `tokenizer.ggml.pre` (PCRE2, UTF + UCP), bytes mapped to the GPT-2 unicode
 *            alphabet, rank-ordered merges from `tokenizer.ggml.merges`.
 *   "bert":  WordPiece: BERT normalisation (lowercase, accents stripped, split on
 *            whitespace / punctuation / CJK), greedy longest match; llama.cpp stores word
 *            starts with a "▁" prefix and continuations bare (no "##").
 * Special tokens are cut out of the text before the algorithm runs, longest first:
 * control and unknown tokens only when parse_special is set, user-defined tokens always
 * (as Hugging Face tokenizers and llama.cpp do for added tokens).
 *
 * The vocabulary is described by a plain struct (ql_vocab_desc) so that other sources
 * (a Hugging Face tokenizer.json) can build the same tokenizer.
 */
#ifndef QL_TEXT_TOKENIZER_H
#define QL_TEXT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/gguf.h"
#include "qloop.h"

typedef struct ql_tokenizer ql_tokenizer;

/* Token types as stored in tokenizer.ggml.token_type. */
enum {
    QL_TOKEN_UNDEFINED = 0,
    QL_TOKEN_NORMAL = 1,
    QL_TOKEN_UNKNOWN = 2,
    QL_TOKEN_CONTROL = 3,
    QL_TOKEN_USER_DEFINED = 4,
    QL_TOKEN_UNUSED = 5,
    QL_TOKEN_BYTE = 6,
};

/* Per-token flags of special tokens (Hugging Face added tokens' lstrip / rstrip). */
enum {
    QL_TOKEN_LSTRIP = 1, /* whitespace before the token in the text is dropped */
    QL_TOKEN_RSTRIP = 2, /* whitespace after it is dropped */
};

/* The three algorithms. */
typedef enum ql_vocab_kind {
    QL_VOCAB_SPM = 0, /* tokenizer.ggml.model "llama" */
    QL_VOCAB_BPE = 1, /* "gpt2" */
    QL_VOCAB_WPM = 2, /* "bert" */
} ql_vocab_kind;

/*
 * A vocabulary independent of the file it came from: what ql_tokenizer_from_desc needs.
 * Arrays are borrowed for the duration of the call only (the tokenizer copies them).
 * Start from ql_vocab_desc_defaults(), then set the arrays and what the source states.
 */
typedef struct ql_vocab_desc {
    ql_vocab_kind kind;
    const char *pre;         /* BPE pre-tokenizer name (tokenizer.ggml.pre); NULL: "default" */
    int32_t n_tokens;
    const ql_str *tokens;    /* [n_tokens] token texts (UTF-8, as stored: "▁" / GPT-2 bytes) */
    const float *scores;     /* [n_tokens] SPM merge scores, or NULL (all 0) */
    const int32_t *types;    /* [n_tokens] QL_TOKEN_* values, or NULL (all NORMAL) */
    const uint8_t *flags;    /* [n_tokens] QL_TOKEN_LSTRIP | QL_TOKEN_RSTRIP, or NULL (none) */
    uint64_t n_merges;
    const ql_str *merges;    /* [n_merges] "left right", rank = index; required for BPE */
    int32_t bos_id, eos_id, unk_id, sep_id, pad_id, eot_id, eom_id; /* -1: none */
    bool add_bos, add_eos;   /* what add_special adds: BOS first, EOS last */
    bool add_sep;            /* WPM: add_special also appends SEP (BERT: [CLS] text [SEP]) */
    bool add_space_prefix;   /* SPM dummy prefix: " " before the text and after specials */
    bool lowercase, strip_accents; /* WPM normalisation (BERT's BasicTokenizer) */
    int8_t ignore_merges;    /* BPE: 1 = a pre-split word that is itself a token stays whole,
                                0 = always merge, -1 = what the pre-tokenizer `pre` does */
} ql_vocab_desc;

/* Fills every field with llama.cpp's defaults for `kind` and, for BPE, the pre-tokenizer
 * `pre` (e.g. Llama-3's "llama-bpe" adds BOS); arrays are NULL, counts 0. */
void ql_vocab_desc_defaults(ql_vocab_desc *d, ql_vocab_kind kind, const char *pre);

/* Builds a tokenizer from a description (hash maps, merge table, PCRE2 patterns).
 * Errors: QL_ERR_ARG (no tokens, BPE without merges, NULL arrays), QL_ERR_CORRUPT (a
 * merge without a separating space), QL_ERR_UNSUPPORTED (unknown pre-tokenizer, named),
 * QL_ERR_NOMEM. */
ql_status ql_tokenizer_from_desc(const ql_vocab_desc *d, ql_tokenizer **out, ql_error *err);

/* Builds the tokenizer from a GGUF file's tokenizer.ggml.* keys. The tokenizer copies
 * what it needs, so the ql_gguf may be closed afterwards.
 * Errors: QL_ERR_NOT_FOUND / QL_ERR_CORRUPT naming the key, QL_ERR_UNSUPPORTED for an
 * unknown tokenizer.ggml.model or pre-tokenizer. */
ql_status ql_tokenizer_from_gguf(const ql_gguf *g, ql_tokenizer **out, ql_error *err);
void ql_tokenizer_free(ql_tokenizer *t);

/* Same contract as ql_tokenize() in qloop.h. */
ql_status ql_tokenizer_encode(const ql_tokenizer *t, const char *text, size_t len,
                              bool add_special, bool parse_special, int32_t *ids, size_t cap,
                              size_t *n_ids, ql_error *err);

/* Same contract as ql_token_to_piece() in qloop.h. */
int32_t ql_tokenizer_piece(const ql_tokenizer *t, int32_t id, bool show_special, char *buf,
                           size_t cap);

/* Same contract as ql_detokenize() in qloop.h. */
ql_status ql_tokenizer_decode(const ql_tokenizer *t, const int32_t *ids, size_t n_ids,
                              bool remove_leading_space, bool show_special, char *text,
                              size_t cap, size_t *n_bytes, ql_error *err);

int32_t ql_tokenizer_n_vocab(const ql_tokenizer *t);
int32_t ql_tokenizer_bos(const ql_tokenizer *t); /* -1 if none */
int32_t ql_tokenizer_eos(const ql_tokenizer *t); /* -1 if none */
bool ql_tokenizer_is_eog(const ql_tokenizer *t, int32_t id);
const char *ql_tokenizer_kind(const ql_tokenizer *t); /* "spm", "wpm" or "bpe:<pre>" */
/* Token facts; -1 / NULL / QL_TOKEN_UNDEFINED for an id outside the vocabulary. */
int32_t ql_tokenizer_unk(const ql_tokenizer *t); /* -1 if none */
int32_t ql_tokenizer_eot(const ql_tokenizer *t); /* -1 if none */
int32_t ql_tokenizer_token_type(const ql_tokenizer *t, int32_t id);
/* The stored token text (not NUL-terminated; *len receives its length). */
const char *ql_tokenizer_token_text(const ql_tokenizer *t, int32_t id, size_t *len);
/* Id of a token whose stored text is exactly text[0..len), or -1. */
int32_t ql_tokenizer_find(const ql_tokenizer *t, const char *text, size_t len);

#endif
