/* src/cli/loop_args.h: the --loop* options shared by run, logits and bench. */
#ifndef QL_CLI_LOOP_ARGS_H
#define QL_CLI_LOOP_ARGS_H

#include <stdbool.h>
#include <stdio.h>

#include "qloop.h"

/* Loop options as given on the command line; unset fields are -1 (NAN for floats). */
typedef struct ql_loop_args {
    bool any;
    const char *layers; /* "S:E[,S:E]" or "none" */
    long long count, max, min, slots;
    int stop, kv, attn, merge;
    double cos, alpha;
} ql_loop_args;

/* Help lines for the options, for a command's usage text. */
extern const char ql_loop_args_usage[];

void ql_loop_args_init(ql_loop_args *a);

/* If argv[*i] is a loop option, consumes it and its value: 1. Not a loop option: 0.
 * A bad value: prints the error (prefixed "qloop CMD: ") and returns 2. */
int ql_loop_args_parse(ql_loop_args *a, int argc, char **argv, int *i, const char *cmd);

/* The session's loop settings: the model's own, overridden by the options, validated and
 * applied (nothing happens when no option was given). In virtual_layers mode with
 * fixed_count, --loop-count N also sets V = N unless --loop-slots is given, and min/max
 * counts not given are raised to fit V. */
ql_status ql_loop_args_apply(const ql_loop_args *a, const ql_model *m, ql_session *s,
                             ql_error *err);

/* Prints the session's loop statistics (`--stats`). */
void ql_loop_stats_print(FILE *f, const ql_session *s);

#endif
