/* src/cli/text_file.h: reading a text file as a token stream (imatrix, perplexity). */
#ifndef QL_CLI_TEXT_FILE_H
#define QL_CLI_TEXT_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qloop.h"

/* Reads `path` and tokenizes it without BOS into a malloc'd array. When `max_tokens` > 0
 * only a prefix of the text big enough for that many tokens is tokenized (cut at a line
 * break with a wide margin, so the tokens used are those of the whole text). Prints the
 * reason and returns false on failure. */
bool ql_cli_load_tokens(const ql_model *m, const char *path, size_t max_tokens, int32_t **ids,
                        size_t *n_ids);

#endif
