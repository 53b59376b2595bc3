/* src/cli/cmd_convert.c: `qloop convert HF_DIR OUT.gguf [--type f32|f16|bf16] [--verbose]`:
 * writes a Hugging Face model folder as GGUF through ql_convert(). */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "qloop.h"

static void convert_usage(FILE *f) {
    fprintf(f,
            "usage: qloop convert HF_DIR OUT.gguf [options]\n"
            "\n"
            "Writes the Hugging Face model folder HF_DIR (config.json, *.safetensors,\n"
            "tokenizer.json) as a GGUF file with llama.cpp's tensor names, metadata keys and\n"
            "Q/K row order (llama for llama/mistral/mixtral, qwen2, qwen3, qwen2moe).\n"
            "OUT is written to OUT.tmp and renamed when complete; HF_DIR is not modified.\n"
            "\n"
            "options:\n"
            "  --type T    f32, f16 or bf16 for the weight matrices (default: keep each\n"
            "              tensor's safetensors dtype, lossless); norms, biases and MoE\n"
            "              routers are always f32\n"
            "  --verbose   one line per tensor: name, types, shape\n"
            "  -h, --help  show this help\n"
            "\n"
            "To quantize in the same pass: qloop quantize HF_DIR OUT.gguf --type q8_0\n");
}

static void on_progress(const ql_quantize_progress *p, void *user) {
    (void)user;
    fprintf(stderr, "[%4llu/%llu] %-32s %-5s -> %-5s [%lld, %lld, %lld]\n",
            (unsigned long long)p->index + 1, (unsigned long long)p->count, p->name,
            p->src_type_name, p->type_name, (long long)p->ne[0], (long long)p->ne[1],
            (long long)p->ne[2]);
}

int ql_cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL;
    ql_convert_params p = ql_convert_params_default();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            convert_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--type")) {
            if (!(v = ql_arg_value(argc, argv, &i, "convert"))) return 2;
            if (strcmp(v, "f32") && strcmp(v, "f16") && strcmp(v, "bf16")) {
                fprintf(stderr, "qloop convert: --type must be f32, f16 or bf16, not '%s'\n", v);
                return 2;
            }
            p.type = v;
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            p.progress = on_progress;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "qloop convert: unknown option '%s'\n", a);
            convert_usage(stderr);
            return 2;
        } else if (!in) {
            in = a;
        } else if (!out) {
            out = a;
        } else {
            fprintf(stderr, "qloop convert: unexpected argument '%s'\n", a);
            return 2;
        }
    }
    if (!in || !out) {
        fprintf(stderr, "qloop convert: %s is required\n", !in ? "HF_DIR" : "OUT.gguf");
        convert_usage(stderr);
        return 2;
    }
    ql_error err;
    ql_status st = ql_convert(in, out, &p, &err);
    if (st) {
        fprintf(stderr, "qloop convert: %s\n", err.message);
        return st == QL_ERR_ARG ? 2 : 1;
    }
    fprintf(stderr, "qloop convert: wrote %s (%s)\n", out, p.type ? p.type : "source dtypes");
    return 0;
}
