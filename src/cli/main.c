/* src/cli/main.c: `qloop COMMAND [options]`: dispatches to the subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "qloop.h"

typedef struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command k_commands[] = {
    {"run", ql_cmd_run, "generate text from a prompt, streaming"},
    {"info", ql_cmd_info, "print a GGUF file's metadata and tensor table"},
    {"tokenize", ql_cmd_tokenize, "print the token ids of a text"},
    {"logits", ql_cmd_logits, "write the float32 logits of every position of a token list"},
    {"quantize", ql_cmd_quantize, "write a quantized copy of a GGUF model (q8_0, q4_k_m, ...)"},
    {"verify", ql_cmd_verify, "check a GGUF file's per-tensor checksums"},
    {"bench", ql_cmd_bench, "prompt and generation tokens/s with the memory-bandwidth roofline"},
    {"convert", ql_cmd_convert, "write a Hugging Face model folder as GGUF (f32, f16, bf16)"},
    {"imatrix", ql_cmd_imatrix, "collect an importance matrix from calibration text"},
    {"perplexity", ql_cmd_perplexity, "perplexity of a text; KL divergence against a base model"},
    {"synth", ql_cmd_synth, "write a synthetic model with a real model's shapes (benchmarks)"},
};

static void usage(FILE *f) {
    fprintf(f, "qloop %s: run Llama-family language models on CPUs\n\n", ql_version());
    fprintf(f, "usage: qloop COMMAND [options]   (qloop COMMAND --help for its options)\n\n");
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
        fprintf(f, "  %-10s %s\n", k_commands[i].name, k_commands[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("qloop %s\n", ql_version());
        return 0;
    }
    for (size_t i = 0; i < sizeof k_commands / sizeof k_commands[0]; i++)
        if (!strcmp(argv[1], k_commands[i].name)) return k_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "qloop: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
