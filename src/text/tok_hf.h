/* src/text/tok_hf.h: tokenizers from a Hugging Face tokenizer.json (internal). */
#ifndef QL_TEXT_TOK_HF_H
#define QL_TEXT_TOK_HF_H

#include "text/tokenizer.h"

/* Builds the tokenizer of folder `dir` from its tokenizer.json (and tokenizer_config.json
 * when present, for BOS/EOS). Byte-level BPE (ByteLevel pre-tokenizer, optionally after a
 * Split regex that names one of the known pre-tokenizers) and SentencePiece-style BPE
 * (Metaspace / "▁" normalizer with byte_fallback) are supported.
 * Errors: QL_ERR_NOT_FOUND (no tokenizer.json), QL_ERR_CORRUPT (invalid JSON, a bad vocab
 * or merge entry, named), QL_ERR_UNSUPPORTED (model type, pre-tokenizer or normalizer,
 * named), QL_ERR_NOMEM. */
ql_status ql_tokenizer_from_hf(const char *dir, ql_tokenizer **out, ql_error *err);

#endif
