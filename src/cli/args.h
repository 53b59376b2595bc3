/* src/cli/args.h: small helpers shared by the subcommands' option parsers. */
#ifndef QL_CLI_ARGS_H
#define QL_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Strict number parsing: the whole string must be a number in range. */
bool ql_arg_int(const char *s, long long lo, long long hi, long long *out);
bool ql_arg_float(const char *s, double *out);
bool ql_arg_u64(const char *s, uint64_t *out);

/* Parses "1,2,3" into a malloc'd array; false on a malformed list (empty items, junk). */
bool ql_arg_ids(const char *s, int32_t **ids, size_t *n);

/* The value of option argv[*i] (argv[*i + 1]); prints an error and returns NULL when it
 * is missing. */
const char *ql_arg_value(int argc, char **argv, int *i, const char *cmd);

/* ql_arg_value parsed by ql_arg_int into *out (lo..hi); prints the error and returns false
 * when the value is missing or invalid. */
bool ql_arg_int_value(int argc, char **argv, int *i, const char *cmd, long long lo,
                      long long hi, long long *out);

/* Writes `n` bytes to `path` through a temporary file renamed into place. */
bool ql_write_file_atomic(const char *path, const void *data, size_t n, const char *cmd);

#endif
