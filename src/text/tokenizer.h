/*
 * src/text/tokenizer.h: tokenizers built from GGUF metadata (internal).
 *
 * Two algorithms, chosen by `tokenizer.ggml.model`:
 *   "llama": SentencePiece BPE: score-ordered merges over UTF-8 characters, byte
 *            fallback to <0xNN> tokens, "▁" (U+2581) for spaces and a dummy prefix space.
 *   "gpt2":  byte-level BPE: text split by the pre-tokenizer regexes of
 *            `tokenizer.ggml.pre` (PCRE2, UTF + UCP), bytes mapped to the GPT-2 unicode
 *            alphabet, rank-ordered merges from `tokenizer.ggml.merges`.
 * Special (control / user-defined) tokens are matched in the text first when
 * parse_special is set.
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
const char *ql_tokenizer_kind(const ql_tokenizer *t); /* "spm" or "bpe:<pre>" */

#endif
