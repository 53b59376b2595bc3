/*
 * tests/text/test_tokenizer.c: tokenizers against llama.cpp's test vectors, and unit tests.
 *
 *   test_tokenizer            unit tests (special tokens, byte pieces, bad vocabularies)
 *   test_tokenizer NAME       shared/fixtures/tokenizer/ggml-vocab-NAME.gguf{,.inp,.out}:
 *                             every text encodes (add_special = parse_special = false) to
 *                             exactly the expected ids, and the ids decode back (below).
 *
 * Decoding: byte-level BPE vocabularies are lossless (every byte has a token), and so are
 * the SentencePiece ones here (byte fallback; the dummy-prefix space is removed by
 * remove_leading_space): decode(ids) must equal the text. WordPiece (BERT) is not: it
 * lowercases, strips accents, drops control characters, collapses whitespace into word
 * boundaries and turns unknown words into [UNK]; for it the test checks that the decoded
 * text encodes to the same ids, minus the [UNK]s (whose words are gone).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/gguf.h"
#include "test.h"
#include "text/tokenizer.h"

#define SEP "\n__ggml_vocab_test__\n"

typedef struct vocab_case {
    const char *name;
    bool lossless;
    const char *why; /* what is lost, when it is not lossless */
} vocab_case;

static const vocab_case k_vocabs[] = {
    {"llama-spm", true, NULL},
    {"phi-3", true, NULL},
    {"llama-bpe", true, NULL},
    {"gpt-2", true, NULL},
    {"deepseek-coder", true, NULL},
    {"deepseek-llm", true, NULL},
    {"falcon", true, NULL},
    {"mpt", true, NULL},
    {"refact", true, NULL},
    {"bert-bge", false,
     "WordPiece lowercases, strips accents, drops control characters, turns whitespace into "
     "word boundaries and unknown words into [UNK]"},
};

/* ---- helpers ---------------------------------------------------------------------------- */

static ql_tokenizer *load_vocab(const char *file) {
    char path[1024];
    ql_test_shared(path, sizeof path, file);
    ql_gguf *g = NULL;
    ql_error err;
    if (ql_gguf_open(path, &g, &err) != QL_OK) {
        fprintf(stderr, "cannot open %s: %s\n", path, err.message);
        return NULL;
    }
    ql_tokenizer *t = NULL;
    if (ql_tokenizer_from_gguf(g, &t, &err) != QL_OK)
        fprintf(stderr, "cannot build the tokenizer of %s: %s\n", path, err.message);
    ql_gguf_close(g);
    return t;
}

/* Encodes into a malloc'd array (sized by a first call with cap = 0). */
static int32_t *encode(const ql_tokenizer *t, const char *s, size_t len, bool add_special,
                       bool parse_special, size_t *n) {
    ql_error err;
    *n = 0;
    ql_status st = ql_tokenizer_encode(t, s, len, add_special, parse_special, NULL, 0, n, &err);
    if (st != QL_OK && st != QL_ERR_RANGE) {
        fprintf(stderr, "encode: %s\n", err.message);
        return NULL;
    }
    int32_t *ids = malloc((*n + 1) * sizeof *ids);
    if (!ids) return NULL;
    st = ql_tokenizer_encode(t, s, len, add_special, parse_special, ids, *n, n, &err);
    if (st != QL_OK) {
        fprintf(stderr, "encode: %s\n", err.message);
        free(ids);
        return NULL;
    }
    return ids;
}

static char *decode(const ql_tokenizer *t, const int32_t *ids, size_t n, bool remove_space,
                    bool show_special, size_t *len) {
    ql_error err;
    *len = 0;
    ql_status st = ql_tokenizer_decode(t, ids, n, remove_space, show_special, NULL, 0, len, &err);
    if (st != QL_OK && st != QL_ERR_RANGE) return NULL;
    char *s = malloc(*len + 1);
    if (!s) return NULL;
    if (ql_tokenizer_decode(t, ids, n, remove_space, show_special, s, *len, len, &err) != QL_OK) {
        free(s);
        return NULL;
    }
    s[*len] = '\0';
    return s;
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "  %s:", label);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", ids[i]);
    fputc('\n', stderr);
}

static bool same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

/* ---- the vectors ---------------------------------------------------------------------- */

typedef struct text_span {
    const char *p;
    size_t n;
} text_span;

/* Splits .inp as llama.cpp's read_tests does. */
static size_t split_inputs(const char *raw, size_t len, text_span *out, size_t cap) {
    size_t n = 0, pos = 0, sep = strlen(SEP);
    while (pos < len && n < cap) {
        const char *next = memmem(raw + pos, len - pos, SEP, sep);
        if (!next) {
            out[n++] = (text_span){raw + pos, len - pos};
            break;
        }
        out[n++] = (text_span){raw + pos, (size_t)(next - raw) - pos};
        pos = (size_t)(next - raw) + sep;
    }
    return n;
}

/* Parses one .out line (" 1 2 3") into ids; returns the count. */
static size_t parse_line(const char *line, size_t len, int32_t *ids, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        while (i < len && line[i] == ' ') i++;
        if (i >= len) break;
        long v = 0;
        while (i < len && line[i] >= '0' && line[i] <= '9') v = v * 10 + (line[i++] - '0');
        if (n < cap) ids[n] = (int32_t)v;
        n++;
        while (i < len && line[i] != ' ') i++; /* junk: skipped, the count will mismatch */
    }
    return n;
}

/* ids without the unknown token */
static size_t drop_unk(const ql_tokenizer *t, const int32_t *ids, size_t n, int32_t *out) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (ids[i] != ql_tokenizer_unk(t)) out[m++] = ids[i];
    return m;
}

static int run_vectors(const char *name) {
    const vocab_case *vc = NULL;
    for (size_t i = 0; i < sizeof k_vocabs / sizeof k_vocabs[0]; i++)
        if (strcmp(k_vocabs[i].name, name) == 0) vc = &k_vocabs[i];
    if (!vc) {
        fprintf(stderr, "unknown vocabulary '%s'\n", name);
        return 1;
    }
    char rel[256], path[1024];
    snprintf(rel, sizeof rel, "fixtures/tokenizer/ggml-vocab-%s.gguf", name);
    clock_t t0 = clock();
    ql_tokenizer *t = load_vocab(rel);
    double load_s = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(t != NULL);
    if (!t) return TEST_REPORT();
    printf("%s: %s, %d tokens, loaded in %.3f s\n", name, ql_tokenizer_kind(t),
           ql_tokenizer_n_vocab(t), load_s);

    size_t inp_len = 0, out_len = 0;
    snprintf(rel, sizeof rel, "fixtures/tokenizer/ggml-vocab-%s.gguf.inp", name);
    char *inp = ql_test_read_file(ql_test_shared(path, sizeof path, rel), &inp_len);
    snprintf(rel, sizeof rel, "fixtures/tokenizer/ggml-vocab-%s.gguf.out", name);
    char *out = ql_test_read_file(ql_test_shared(path, sizeof path, rel), &out_len);
    CHECK(inp && out);
    if (!inp || !out) {
        free(inp);
        free(out);
        ql_tokenizer_free(t);
        return TEST_REPORT();
    }

    text_span texts[128];
    size_t n_tests = split_inputs(inp, inp_len, texts, 128);
    int enc_ok = 0, dec_exact = 0, dec_weak = 0, n_lines = 0;
    const char *line = out;
    for (size_t k = 0; k < n_tests; k++) {
        const char *eol = memchr(line, '\n', out_len - (size_t)(line - out));
        CHECK_MSG(eol != NULL, "%s: .out has fewer lines than the %zu tests", name, n_tests);
        if (!eol) break;
        n_lines++;
        static int32_t want[4096], want_known[4096], got_known[4096];
        size_t n_want = parse_line(line, (size_t)(eol - line), want, 4096);
        line = eol + 1;

        int failed_before = ql_test_failed_checks;
        size_t n_got;
        int32_t *got = encode(t, texts[k].p, texts[k].n, false, false, &n_got);
        bool ok = got && same_ids(got, n_got, want, n_want);
        CHECK_MSG(ok, "%s: test %zu: encoding differs", name, k);
        if (ok) enc_ok++;
        else {
            fprintf(stderr, "  text: '%.*s'\n", (int)texts[k].n, texts[k].p);
            print_ids("want", want, n_want);
            if (got) print_ids("got ", got, n_got);
        }
        free(got);

        size_t n_text;
        char *text = decode(t, want, n_want, true, false, &n_text);
        CHECK(text != NULL);
        if (!text) {
            ql_test_failed++;
            continue;
        }
        bool exact = n_text == texts[k].n && memcmp(text, texts[k].p, n_text) == 0;
        if (exact) dec_exact++;
        if (vc->lossless) {
            CHECK_MSG(exact, "%s: test %zu: decode gives '%s' for '%.*s'", name, k, text,
                      (int)texts[k].n, texts[k].p);
        } else {
            /* Weaker: the decoded text tokenizes to the same ids, [UNK]s aside. */
            size_t n_again;
            int32_t *again = encode(t, text, n_text, false, false, &n_again);
            size_t nw = drop_unk(t, want, n_want, want_known);
            size_t ng = again ? drop_unk(t, again, n_again, got_known) : 0;
            bool weak = again && same_ids(got_known, ng, want_known, nw);
            CHECK_MSG(weak, "%s: test %zu: '%s' re-encodes differently", name, k, text);
            if (weak) dec_weak++;
            free(again);
        }
        free(text);
        /* Each text counts as one test in the report. */
        if (ql_test_failed_checks == failed_before) ql_test_passed++;
        else ql_test_failed++;
    }
    CHECK_EQ_INT(n_tests, 46);
    CHECK_EQ_INT(n_lines, (int)n_tests);
    printf("%s: encode %d/%zu exact; decode %d/%zu exact", name, enc_ok, n_tests, dec_exact,
           n_tests);
    if (vc->lossless) printf(" (lossless vocabulary)\n");
    else printf(", re-encode %d/%zu (not lossless: %s)\n", dec_weak, n_tests, vc->why);

    free(inp);
    free(out);
    ql_tokenizer_free(t);
    if (n_tests != 46 || n_lines != (int)n_tests) ql_test_failed++;
    return TEST_REPORT();
}

/* ---- unit tests ----------------------------------------------------------------------- */

static ql_tokenizer *g_spm, *g_bpe, *g_gpt2, *g_bert;

static void test_spm_add_special_adds_bos(void) {
    CHECK(g_spm);
    if (!g_spm) return;
    size_t n;
    int32_t *ids = encode(g_spm, "Hello world", 11, true, false, &n);
    CHECK(ids && n >= 2);
    if (ids && n >= 1) CHECK_EQ_INT(ids[0], 1);
    free(ids);
    ids = encode(g_spm, "Hello world", 11, false, false, &n);
    CHECK(ids && n >= 1 && ids[0] != 1);
    free(ids);
    ids = encode(g_spm, "", 0, true, false, &n); /* empty text: just BOS */
    CHECK(ids && n == 1 && ids[0] == 1);
    free(ids);
    CHECK_EQ_INT(ql_tokenizer_bos(g_spm), 1);
    CHECK_EQ_INT(ql_tokenizer_eos(g_spm), 2);
    CHECK(strcmp(ql_tokenizer_kind(g_spm), "spm") == 0);
}

static bool contains(const int32_t *ids, size_t n, int32_t id) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id) return true;
    return false;
}

static void test_spm_parse_special_only_when_set(void) {
    if (!g_spm) return;
    size_t n;
    int32_t *ids = encode(g_spm, "<s>", 3, false, true, &n);
    CHECK(ids && n == 1 && ids[0] == 1);
    free(ids);
    ids = encode(g_spm, "<s>", 3, false, false, &n);
    CHECK(ids && n > 1 && !contains(ids, n, 1));
    free(ids);
    /* Text after a special token gets the dummy prefix again: "<s>Hi" = [<s>, "▁Hi"]. */
    size_t n1, n2;
    int32_t *a = encode(g_spm, "<s>Hi", 5, false, true, &n1);
    int32_t *b = encode(g_spm, "Hi", 2, false, false, &n2);
    CHECK(a && b && n1 == n2 + 1 && a[0] == 1 && same_ids(a + 1, n1 - 1, b, n2));
    free(a);
    free(b);
}

static void test_stories260k_once_upon_a_time(void) {
    ql_tokenizer *t = load_vocab("models/stories260K.gguf");
    CHECK(t);
    if (!t) return;
    size_t n;
    int32_t *ids = encode(t, "Once upon a time", 16, true, false, &n);
    const int32_t want[] = {1, 403, 407, 261, 378};
    CHECK(ids && same_ids(ids, n, want, 5));
    if (ids && !same_ids(ids, n, want, 5)) print_ids("got", ids, n);
    size_t len;
    char *s = decode(t, want, 5, true, false, &len);
    CHECK(s && strcmp(s, "Once upon a time") == 0);
    free(s);
    free(ids);
    ql_tokenizer_free(t);
}

static void test_byte_token_pieces(void) {
    if (!g_spm || !g_gpt2) return;
    char buf[16];
    /* <0x0A> is id 13 in the Llama-2 vocabulary. */
    CHECK_EQ_INT(ql_tokenizer_piece(g_spm, 13, false, buf, sizeof buf), 1);
    CHECK(buf[0] == '\n');
    /* "🦙" is not a token: it falls back to its four bytes, each a <0xNN> piece. */
    const char *llama = "\xf0\x9f\xa6\x99";
    size_t n;
    int32_t *ids = encode(g_spm, llama, 4, false, false, &n);
    CHECK(ids && n == 5); /* "▁" + 4 bytes */
    if (ids && n == 5) {
        for (size_t i = 1; i < 5; i++) {
            CHECK_EQ_INT(ql_tokenizer_piece(g_spm, ids[i], false, buf, sizeof buf), 1);
            CHECK((unsigned char)buf[0] == (unsigned char)llama[i - 1]);
            CHECK_EQ_INT(ql_tokenizer_token_type(g_spm, ids[i]), QL_TOKEN_BYTE);
        }
        size_t len;
        char *s = decode(g_spm, ids, n, true, false, &len);
        CHECK(s && strcmp(s, llama) == 0);
        free(s);
    }
    free(ids);
    /* Control tokens print as "" unless show_special; the full length is returned even
     * when the buffer is too small. */
    CHECK_EQ_INT(ql_tokenizer_piece(g_spm, 1, false, buf, sizeof buf), 0);
    CHECK_EQ_INT(ql_tokenizer_piece(g_spm, 1, true, buf, 2), 3);
    CHECK(buf[0] == '<' && buf[1] == 's');
    CHECK_EQ_INT(ql_tokenizer_piece(g_spm, -1, true, buf, sizeof buf), -1);
    CHECK_EQ_INT(ql_tokenizer_piece(g_spm, 32000, true, buf, sizeof buf), -1);
    /* GPT-2: "Ġ" (id 220) is the space byte, "Ċ" (198) the newline. */
    CHECK_EQ_INT(ql_tokenizer_piece(g_gpt2, 220, false, buf, sizeof buf), 1);
    CHECK(buf[0] == ' ');
    CHECK_EQ_INT(ql_tokenizer_piece(g_gpt2, 198, false, buf, sizeof buf), 1);
    CHECK(buf[0] == '\n');
}

static void test_buffers_report_needed_size(void) {
    if (!g_gpt2) return;
    ql_error err;
    int32_t ids[2];
    size_t n = 0;
    CHECK_EQ_INT(ql_tokenizer_encode(g_gpt2, "Hello world again", 17, false, false, ids, 2, &n, &err),
                 QL_ERR_RANGE);
    CHECK_EQ_INT(n, 3);
    int32_t all[3] = {15496, 995, 757};
    char text[4];
    size_t len = 0;
    CHECK_EQ_INT(ql_tokenizer_decode(g_gpt2, all, 3, false, false, text, sizeof text, &len, &err),
                 QL_ERR_RANGE);
    CHECK_EQ_INT(len, 17);
    CHECK(memcmp(text, "Hell", 4) == 0);
    int32_t bad = 1 << 30;
    CHECK_EQ_INT(ql_tokenizer_decode(g_gpt2, &bad, 1, false, false, text, sizeof text, &len, &err),
                 QL_ERR_ARG);
    CHECK_EQ_INT(ql_tokenizer_encode(g_gpt2, NULL, 3, false, false, ids, 2, &n, &err), QL_ERR_ARG);
}

static void test_eog_set(void) {
    if (!g_bpe || !g_gpt2 || !g_spm) return;
    CHECK(ql_tokenizer_is_eog(g_bpe, 128001)); /* <|end_of_text|>: eos */
    CHECK(ql_tokenizer_is_eog(g_bpe, 128009)); /* <|eot_id|> */
    CHECK(!ql_tokenizer_is_eog(g_bpe, 128000)); /* <|begin_of_text|> */
    CHECK(!ql_tokenizer_is_eog(g_bpe, 40));
    CHECK_EQ_INT(ql_tokenizer_eot(g_bpe), 128009);
    CHECK(ql_tokenizer_is_eog(g_gpt2, 50256)); /* <|endoftext|> */
    CHECK(ql_tokenizer_is_eog(g_spm, 2));
    CHECK(!ql_tokenizer_is_eog(g_spm, 1));
    CHECK(!ql_tokenizer_is_eog(g_spm, -5));
}

static void test_llama3_bos_and_special(void) {
    if (!g_bpe) return;
    const char *s = "<|begin_of_text|>Hi<|eot_id|>";
    size_t n;
    int32_t *ids = encode(g_bpe, s, strlen(s), true, true, &n);
    /* add_special adds a BOS of its own in front of the parsed one. */
    CHECK(ids && n == 4 && ids[0] == 128000 && ids[1] == 128000 && ids[3] == 128009);
    if (ids) {
        size_t len;
        char *txt = decode(g_bpe, ids, n, false, true, &len);
        CHECK(txt && strcmp(txt, "<|begin_of_text|><|begin_of_text|>Hi<|eot_id|>") == 0);
        free(txt);
        txt = decode(g_bpe, ids, n, false, false, &len);
        CHECK(txt && strcmp(txt, "Hi") == 0);
        free(txt);
    }
    free(ids);
    ids = encode(g_bpe, s, strlen(s), false, false, &n);
    CHECK(ids && n > 4 && !contains(ids, n, 128000) && !contains(ids, n, 128009));
    free(ids);
    CHECK(strcmp(ql_tokenizer_kind(g_bpe), "bpe:llama-bpe") == 0);
}

static void test_bert_adds_cls_and_sep(void) {
    if (!g_bert) return;
    size_t n;
    int32_t *ids = encode(g_bert, "Hello world", 11, true, false, &n);
    const int32_t want[] = {101, 7592, 2088, 102};
    CHECK(ids && same_ids(ids, n, want, 4));
    free(ids);
    size_t len;
    char *s = decode(g_bert, want, 4, true, false, &len);
    CHECK(s && strcmp(s, "hello world") == 0);
    free(s);
}

/* Phi-3 (llama.cpp's rule, by general.name): whitespace after its special tokens is
 * dropped, and the text after a special token gets SentencePiece's dummy prefix again. */
static void test_phi3_special_tokens_strip_whitespace(void) {
    ql_tokenizer *t = load_vocab("fixtures/tokenizer/ggml-vocab-phi-3.gguf");
    CHECK(t);
    if (!t) return;
    const char *s = "<|user|>\nHello<|end|>\n<|assistant|>";
    size_t n;
    int32_t *ids = encode(t, s, strlen(s), false, true, &n);
    const int32_t want[] = {32010, 15043, 32007, 32001};
    CHECK(ids && same_ids(ids, n, want, 4));
    if (ids && !same_ids(ids, n, want, 4)) print_ids("got", ids, n);
    free(ids);
    CHECK(ql_tokenizer_is_eog(t, 32000) && ql_tokenizer_is_eog(t, 32007));
    ql_tokenizer_free(t);
}

static ql_str S(const char *s) { return (ql_str){s, strlen(s)}; }

static void test_malformed_vocab_is_an_error(void) {
    ql_str tokens[] = {S("a"), S("b"), S("ab")};
    ql_str merges[] = {S("a b")}, bad_merges[] = {S("ab")};
    ql_vocab_desc d;
    ql_tokenizer *t = (ql_tokenizer *)1;
    ql_error err;

    ql_vocab_desc_defaults(&d, QL_VOCAB_BPE, "gpt-2");
    d.tokens = tokens;
    d.n_tokens = 3;
    CHECK_EQ_INT(ql_tokenizer_from_desc(&d, &t, &err), QL_ERR_ARG); /* merges missing */
    CHECK(t == NULL);
    CHECK(strstr(err.message, "merges") != NULL);

    d.merges = bad_merges;
    d.n_merges = 1;
    CHECK_EQ_INT(ql_tokenizer_from_desc(&d, &t, &err), QL_ERR_CORRUPT);
    CHECK(t == NULL);

    d.merges = merges;
    d.pre = "no-such-pre";
    CHECK_EQ_INT(ql_tokenizer_from_desc(&d, &t, &err), QL_ERR_UNSUPPORTED);
    CHECK(strstr(err.message, "no-such-pre") != NULL);

    d.pre = "gpt-2";
    d.n_tokens = 0;
    CHECK_EQ_INT(ql_tokenizer_from_desc(&d, &t, &err), QL_ERR_ARG);
    CHECK_EQ_INT(ql_tokenizer_from_desc(NULL, &t, &err), QL_ERR_ARG);

    /* The same description, complete, works: "ab" merges; "c" has no token and is
     * dropped (as llama.cpp does for a byte missing from the vocabulary). */
    d.n_tokens = 3;
    CHECK_EQ_INT(ql_tokenizer_from_desc(&d, &t, &err), QL_OK);
    if (t) {
        size_t n;
        int32_t *ids = encode(t, "abc", 3, false, false, &n);
        CHECK(ids && n == 1 && ids[0] == 2);
        free(ids);
        ql_tokenizer_free(t);
    }
    ql_tokenizer_free(NULL);
}

static void test_spm_from_desc_without_byte_tokens_gives_unk(void) {
    ql_str tokens[] = {S("<unk>"), S("<s>"), S("</s>"), S("\xe2\x96\x81"), S("h"), S("i"),
                       S("hi"), S("\xe2\x96\x81hi")};
    float scores[] = {0, 0, 0, -1, -2, -2, -1.5f, -0.5f};
    int32_t types[] = {QL_TOKEN_UNKNOWN, QL_TOKEN_CONTROL, QL_TOKEN_CONTROL, 1, 1, 1, 1, 1};
    ql_vocab_desc d;
    ql_vocab_desc_defaults(&d, QL_VOCAB_SPM, NULL);
    d.tokens = tokens;
    d.scores = scores;
    d.types = types;
    d.n_tokens = 8;
    ql_tokenizer *t = NULL;
    ql_error err;
    CHECK_EQ_INT(ql_tokenizer_from_desc(&d, &t, &err), QL_OK);
    if (!t) return;
    size_t n;
    int32_t *ids = encode(t, "hi x", 4, true, false, &n);
    const int32_t want[] = {1, 7, 3, 0};
    CHECK(ids && same_ids(ids, n, want, 4));
    free(ids);
    ql_tokenizer_free(t);
}

/* ---- naive references: the heap-based merge loops against the textbook O(n^2) ones ---- */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(uint32_t n) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (uint32_t)(g_rng % n);
}

typedef struct ref_sym {
    char s[256];
    size_t n;
} ref_sym;

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Rank of "l r" in the sorted merge list (sorted[i] points at "text\0rank"), or -1. */
static long merge_rank(char **sorted, size_t n, const ref_sym *l, const ref_sym *r) {
    char key[520];
    snprintf(key, sizeof key, "%.*s %.*s", (int)l->n, l->s, (int)r->n, r->s);
    const char *k = key;
    char **hit = bsearch(&k, sorted, n, sizeof *sorted, cmp_str);
    return hit ? atol(*hit + strlen(*hit) + 1) : -1;
}

/* Byte-level BPE of one pre-tokenized word: merge the lowest-ranked pair, leftmost. */
static size_t ref_bpe(const ql_tokenizer *t, char **sorted, size_t n_merges, const char *w,
                      size_t n, int32_t *out) {
    ref_sym sym[64];
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)w[i];
        /* GPT-2 alphabet for the bytes the generator uses: ' ' is U+0120, letters are
         * themselves. */
        if (c == ' ') memcpy(sym[m].s, "\xc4\xa0", sym[m].n = 2);
        else sym[m].s[0] = (char)c, sym[m].n = 1;
        m++;
    }
    for (;;) {
        long best = -1;
        size_t at = 0;
        for (size_t i = 0; i + 1 < m; i++) {
            long r = merge_rank(sorted, n_merges, &sym[i], &sym[i + 1]);
            if (r >= 0 && (best < 0 || r < best)) best = r, at = i;
        }
        if (best < 0) break;
        memcpy(sym[at].s + sym[at].n, sym[at + 1].s, sym[at + 1].n);
        sym[at].n += sym[at + 1].n;
        memmove(&sym[at + 1], &sym[at + 2], (m - at - 2) * sizeof *sym);
        m--;
    }
    for (size_t i = 0; i < m; i++) out[i] = ql_tokenizer_find(t, sym[i].s, sym[i].n);
    return m;
}

static void test_bpe_matches_naive_reference(void) {
    if (!g_gpt2) return;
    char path[1024];
    ql_gguf *g = NULL;
    ql_error err;
    ql_test_shared(path, sizeof path, "fixtures/tokenizer/ggml-vocab-gpt-2.gguf");
    CHECK(ql_gguf_open(path, &g, &err) == QL_OK);
    if (!g) return;
    const ql_gguf_array *a = NULL;
    CHECK(ql_gguf_get_arr(g, "tokenizer.ggml.merges", QL_GGUF_STRING, &a, &err) == QL_OK);
    size_t n = a ? (size_t)a->n : 0;
    char **sorted = malloc((n + 1) * sizeof *sorted);
    for (size_t i = 0; sorted && i < n; i++) {
        ql_str m = a->items[i].v.str;
        sorted[i] = malloc(m.len + 24);
        memcpy(sorted[i], m.ptr, m.len);
        sorted[i][m.len] = '\0';
        snprintf(sorted[i] + m.len + 1, 23, "%zu", i);
    }
    if (sorted) qsort(sorted, n, sizeof *sorted, cmp_str);

    /* Words the GPT-2 regex keeps whole: an optional space, then letters. */
    int bad = 0;
    for (int k = 0; k < 3000 && sorted; k++) {
        char w[40];
        size_t len = 0;
        if (rnd(2)) w[len++] = ' ';
        size_t letters = 1 + rnd(24);
        const char *alpha = "etaoinshrdlucmfwypvbgkqjxzETAOIN";
        for (size_t i = 0; i < letters; i++) w[len++] = alpha[rnd(32)];
        int32_t want[64], *got;
        size_t n_want = ref_bpe(g_gpt2, sorted, n, w, len, want), n_got;
        got = encode(g_gpt2, w, len, false, false, &n_got);
        if (!got || !same_ids(got, n_got, want, n_want)) {
            if (bad++ < 5) {
                fprintf(stderr, "  word '%.*s'\n", (int)len, w);
                print_ids("reference", want, n_want);
                if (got) print_ids("got      ", got, n_got);
            }
        }
        free(got);
    }
    CHECK_EQ_INT(bad, 0);
    for (size_t i = 0; sorted && i < n; i++) free(sorted[i]);
    free(sorted);
    ql_gguf_close(g);
}

/* SentencePiece BPE: merge the adjacent pair whose concatenation is the best-scored
 * token, leftmost on ties; leftovers become byte tokens. */
static size_t ref_spm(const ql_tokenizer *t, const float *scores, const char *text, size_t n,
                      int32_t *out) {
    static ref_sym sym[256];
    size_t m = 0;
    memcpy(sym[m].s, "\xe2\x96\x81", sym[m].n = 3);
    m++;
    for (size_t i = 0; i < n; i++) {
        if (text[i] == ' ') memcpy(sym[m].s, "\xe2\x96\x81", sym[m].n = 3);
        else sym[m].s[0] = text[i], sym[m].n = 1;
        m++;
    }
    for (;;) {
        int32_t best = -1;
        size_t at = 0;
        for (size_t i = 0; i + 1 < m; i++) {
            char cat[512];
            memcpy(cat, sym[i].s, sym[i].n);
            memcpy(cat + sym[i].n, sym[i + 1].s, sym[i + 1].n);
            int32_t id = ql_tokenizer_find(t, cat, sym[i].n + sym[i + 1].n);
            if (id >= 0 && (best < 0 || scores[id] > scores[best])) best = id, at = i;
        }
        if (best < 0) break;
        memcpy(sym[at].s + sym[at].n, sym[at + 1].s, sym[at + 1].n);
        sym[at].n += sym[at + 1].n;
        memmove(&sym[at + 1], &sym[at + 2], (m - at - 2) * sizeof *sym);
        m--;
    }
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        int32_t id = ql_tokenizer_find(t, sym[i].s, sym[i].n);
        if (id >= 0) {
            out[k++] = id;
            continue;
        }
        for (size_t b = 0; b < sym[i].n; b++) {
            char name[8];
            snprintf(name, sizeof name, "<0x%02X>", (unsigned char)sym[i].s[b]);
            out[k++] = ql_tokenizer_find(t, name, 6);
        }
    }
    return k;
}

static void test_spm_matches_naive_reference(void) {
    if (!g_spm) return;
    char path[1024];
    ql_gguf *g = NULL;
    ql_error err;
    ql_test_shared(path, sizeof path, "fixtures/tokenizer/ggml-vocab-llama-spm.gguf");
    CHECK(ql_gguf_open(path, &g, &err) == QL_OK);
    if (!g) return;
    const ql_gguf_array *a = NULL;
    CHECK(ql_gguf_get_arr(g, "tokenizer.ggml.scores", QL_GGUF_FLOAT32, &a, &err) == QL_OK);
    size_t n = a ? (size_t)a->n : 0;
    float *scores = malloc((n + 1) * sizeof *scores);
    for (size_t i = 0; scores && i < n; i++) scores[i] = (float)ql_gguf_arr_float(a, i);

    int bad = 0;
    for (int k = 0; k < 2000 && scores; k++) {
        char text[64];
        size_t len = 1 + rnd(60);
        const char *alpha = "etaoin shrdlu cmfwyp vbgkqj xzETAO.,'\x01";
        for (size_t i = 0; i < len; i++) text[i] = alpha[rnd((uint32_t)strlen(alpha))];
        int32_t want[512], *got;
        size_t n_want = ref_spm(g_spm, scores, text, len, want), n_got;
        got = encode(g_spm, text, len, false, false, &n_got);
        if (!got || !same_ids(got, n_got, want, n_want)) {
            if (bad++ < 5) {
                fprintf(stderr, "  text '%.*s'\n", (int)len, text);
                print_ids("reference", want, n_want);
                if (got) print_ids("got      ", got, n_got);
            }
        }
        free(got);
    }
    CHECK_EQ_INT(bad, 0);
    free(scores);
    ql_gguf_close(g);
}

/* Any bytes, valid UTF-8 or not, come back from decode(encode()) unchanged: byte-level BPE
 * has a token for every byte, SentencePiece falls back to <0xNN>. */
static void test_random_bytes_round_trip(void) {
    ql_tokenizer *ts[] = {g_gpt2, g_bpe, g_spm};
    for (size_t v = 0; v < 3; v++) {
        if (!ts[v]) continue;
        int bad = 0;
        for (int k = 0; k < 300; k++) {
            char text[200];
            size_t len = rnd(200);
            for (size_t i = 0; i < len; i++) {
                uint32_t r = rnd(4);
                text[i] = r == 0 ? (char)rnd(256) : r == 1 ? " \n\t"[rnd(3)] : (char)('a' + rnd(26));
            }
            bool parse = rnd(2);
            size_t n, n_text;
            int32_t *ids = encode(ts[v], text, len, false, parse, &n);
            char *back = ids ? decode(ts[v], ids, n, true, true, &n_text) : NULL;
            if (!back || n_text != len || memcmp(back, text, len) != 0) {
                if (bad++ == 0 && back) {
                    fprintf(stderr, "  %s, parse_special %d:\n  text:", ql_tokenizer_kind(ts[v]), parse);
                    for (size_t i = 0; i < len; i++) fprintf(stderr, " %02x", (unsigned char)text[i]);
                    fprintf(stderr, "\n  back:");
                    for (size_t i = 0; i < n_text; i++) fprintf(stderr, " %02x", (unsigned char)back[i]);
                    fputc('\n', stderr);
                }
            }
            free(ids);
            free(back);
        }
        CHECK_MSG(bad == 0, "%s: %d of 300 random byte strings do not round-trip",
                  ql_tokenizer_kind(ts[v]), bad);
    }
}

/* U+180E MONGOLIAN VOWEL SEPARATOR has not been White_Space since Unicode 6.3, so \s in
 * the pre-tokenizer regexes must not match it (Hugging Face and llama.cpp do not): "x
 * \u180ey" splits into "x", " \u180e", "y". PCRE2's \s under UCP matched it and split
 * "x", " ", "\u180e", "y" (found by fuzzing against the Python regex module). */
static void test_bpe_mongolian_vowel_separator_is_not_space(void) {
    ql_tokenizer *ts[] = {g_gpt2, g_bpe};
    for (size_t v = 0; v < 2; v++) {
        if (!ts[v]) continue;
        const char *parts[] = {"x", " \xe1\xa0\x8e", "y"};
        int32_t want[16];
        size_t n_want = 0, n;
        for (size_t k = 0; k < 3; k++) {
            int32_t *ids = encode(ts[v], parts[k], strlen(parts[k]), false, false, &n);
            for (size_t i = 0; ids && i < n && n_want < 16; i++) want[n_want++] = ids[i];
            free(ids);
        }
        const char *text = "x \xe1\xa0\x8ey";
        int32_t *ids = encode(ts[v], text, strlen(text), false, false, &n);
        CHECK_MSG(ids && same_ids(ids, n, want, n_want), "%s", ql_tokenizer_kind(ts[v]));
        if (ids && !same_ids(ids, n, want, n_want)) {
            print_ids("got", ids, n);
            print_ids("want", want, n_want);
        }
        free(ids);
    }
}

static void test_llama3_loads_fast(void) {
    clock_t t0 = clock();
    ql_tokenizer *t = load_vocab("fixtures/tokenizer/ggml-vocab-llama-bpe.gguf");
    double s = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(t);
    printf("llama-bpe (128256 tokens, 280147 merges) loads in %.3f s\n", s);
#if defined(__SANITIZE_ADDRESS__)
    CHECK(s < 5.0);
#else
    CHECK(s < 1.0);
#endif
    ql_tokenizer_free(t);
}

int main(int argc, char **argv) {
    if (argc > 1) return run_vectors(argv[1]);
    g_spm = load_vocab("fixtures/tokenizer/ggml-vocab-llama-spm.gguf");
    g_bpe = load_vocab("fixtures/tokenizer/ggml-vocab-llama-bpe.gguf");
    g_gpt2 = load_vocab("fixtures/tokenizer/ggml-vocab-gpt-2.gguf");
    g_bert = load_vocab("fixtures/tokenizer/ggml-vocab-bert-bge.gguf");
    RUN(test_spm_add_special_adds_bos);
    RUN(test_spm_parse_special_only_when_set);
    RUN(test_stories260k_once_upon_a_time);
    RUN(test_byte_token_pieces);
    RUN(test_buffers_report_needed_size);
    RUN(test_eog_set);
    RUN(test_llama3_bos_and_special);
    RUN(test_bert_adds_cls_and_sep);
    RUN(test_phi3_special_tokens_strip_whitespace);
    RUN(test_malformed_vocab_is_an_error);
    RUN(test_spm_from_desc_without_byte_tokens_gives_unk);
    RUN(test_bpe_matches_naive_reference);
    RUN(test_spm_matches_naive_reference);
    RUN(test_random_bytes_round_trip);
    RUN(test_bpe_mongolian_vowel_separator_is_not_space);
    RUN(test_llama3_loads_fast);
    ql_tokenizer_free(g_spm);
    ql_tokenizer_free(g_bpe);
    ql_tokenizer_free(g_gpt2);
    ql_tokenizer_free(g_bert);
    return TEST_REPORT();
}
