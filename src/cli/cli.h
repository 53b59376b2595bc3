/* src/cli/cli.h: the subcommands of the `qloop` tool. Each returns the process exit
 * status (0 ok, 1 runtime failure, 2 usage error) and uses only include/qloop.h. */
#ifndef QL_CLI_H
#define QL_CLI_H

int ql_cmd_run(int argc, char **argv);
int ql_cmd_info(int argc, char **argv);
int ql_cmd_tokenize(int argc, char **argv);
int ql_cmd_logits(int argc, char **argv);
int ql_cmd_quantize(int argc, char **argv);
int ql_cmd_verify(int argc, char **argv);
int ql_cmd_bench(int argc, char **argv);
int ql_cmd_convert(int argc, char **argv);
int ql_cmd_imatrix(int argc, char **argv);
int ql_cmd_perplexity(int argc, char **argv);
int ql_cmd_synth(int argc, char **argv);

#endif
