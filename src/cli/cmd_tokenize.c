/* src/cli/cmd_tokenize.c: `qloop tokenize -m MODEL (-p TEXT | -f FILE)`: the token ids of
 * a text, through the public API only (the model is loaded vocab_only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "qloop.h"

typedef struct tok_opts {
    const char *model, *prompt, *file;
    bool special; /* add_special and parse_special */
    bool pieces;
} tok_opts;

static void tok_usage(FILE *out) {
    fprintf(out,
            "usage: qloop tokenize -m MODEL (-p TEXT | -f FILE) [--no-special] [--pieces]\n"
            "\n"
            "Prints the token ids of a text, separated by spaces.\n"
            "\n"
            "options:\n"
            "  -m, --model MODEL  GGUF file (only its vocabulary is loaded)\n"
            "  -p, --prompt TEXT  the text\n"
            "  -f, --file FILE    read the text from FILE (bytes as they are)\n"
            "  --no-special       add no BOS/EOS and read \"<s>\" etc. as plain text\n"
            "                     (default: add them as the vocabulary asks, and parse them)\n"
            "  --pieces           one token per line: the id, a tab and its piece quoted\n"
            "  -h, --help         show this help\n");
}

static int tok_usage_error(const char *fmt, const char *a) {
    fprintf(stderr, "qloop tokenize: ");
    fprintf(stderr, fmt, a);
    fputc('\n', stderr);
    tok_usage(stderr);
    return 2;
}

/* Returns -1 to go on, else the exit status. */
static int tok_parse(int argc, char **argv, tok_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            tok_usage(stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (!(o->model = ql_arg_value(argc, argv, &i, "tokenize"))) return 2;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            if (!(o->prompt = ql_arg_value(argc, argv, &i, "tokenize"))) return 2;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            if (!(o->file = ql_arg_value(argc, argv, &i, "tokenize"))) return 2;
        } else if (!strcmp(a, "--no-special")) {
            o->special = false;
        } else if (!strcmp(a, "--pieces")) {
            o->pieces = true;
        } else {
            return tok_usage_error("unexpected argument '%s'", a);
        }
    }
    if (!o->model) return tok_usage_error("%s", "missing -m MODEL");
    if (!o->prompt == !o->file) return tok_usage_error("%s", "give exactly one of -p TEXT and -f FILE");
    return -1;
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *b = realloc(buf, cap *= 2);
        if (!b) free(buf);
        buf = b;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

/* A piece between quotes, with control bytes, quotes and backslashes escaped. */
static void print_piece(const char *s, int32_t n) {
    putchar('\'');
    for (int32_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\'' || c == '\\') printf("\\%c", c);
        else if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
        else putchar(c);
    }
    putchar('\'');
}

static void print_tokens(const ql_model *m, const int32_t *ids, size_t n, bool pieces) {
    if (!pieces) {
        for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
        return;
    }
    char small[256];
    for (size_t i = 0; i < n; i++) {
        int32_t len = ql_token_to_piece(m, ids[i], true, small, sizeof small);
        char *buf = small;
        if (len > (int32_t)sizeof small && (buf = malloc((size_t)len)))
            ql_token_to_piece(m, ids[i], true, buf, (size_t)len);
        printf("%d\t", ids[i]);
        if (buf) print_piece(buf, len < 0 ? 0 : len);
        putchar('\n');
        if (buf != small) free(buf);
    }
}

int ql_cmd_tokenize(int argc, char **argv) {
    tok_opts o = {.special = true};
    int rc = tok_parse(argc, argv, &o);
    if (rc >= 0) return rc;

    size_t len = 0;
    char *text = NULL;
    if (o.file) {
        if (!(text = read_all(o.file, &len))) {
            fprintf(stderr, "qloop tokenize: cannot read '%s'\n", o.file);
            return 1;
        }
    } else {
        len = strlen(o.prompt);
    }
    const char *input = text ? text : o.prompt;

    ql_model_params mp = ql_model_params_default();
    mp.vocab_only = true;
    ql_model *m = NULL;
    ql_error err;
    ql_status st = ql_model_load(o.model, &mp, &m, &err);
    if (st != QL_OK) {
        fprintf(stderr, "qloop tokenize: %s\n", err.message);
        free(text);
        return 1;
    }

    size_t n = 0;
    int32_t *ids = NULL;
    st = ql_tokenize(m, input, len, o.special, o.special, NULL, 0, &n, &err);
    if (st == QL_ERR_RANGE) {
        ids = malloc((n ? n : 1) * sizeof *ids);
        st = ids ? ql_tokenize(m, input, len, o.special, o.special, ids, n, &n, &err)
                 : QL_ERR_NOMEM;
        if (!ids) snprintf(err.message, sizeof err.message, "out of memory");
    }
    if (st == QL_OK) print_tokens(m, ids, n, o.pieces);
    else fprintf(stderr, "qloop tokenize: %s\n", err.message);

    free(ids);
    ql_model_free(m);
    free(text);
    return st == QL_OK ? 0 : 1;
}
