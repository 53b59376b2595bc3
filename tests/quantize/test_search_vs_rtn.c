/* tests/quantize/test_search_vs_rtn.c: the error-minimising quantizer gives a lower RMSE
 * than round-to-nearest, and than llama.cpp's reference quantizer (what llama.cpp writes
 * without an imatrix; quant/llamacpp_ref.c), on every tensor of a model, through ql_quantize
 * (the file path a user takes): a synthetic llama-tiny in F32 (ql_synth) for every quantized
 * recipe, and the trained ../shared/models/tiny-dense (HF folder, bf16) for q4_0 and q4_k_m
 * against round-to-nearest and every recipe against llama.cpp's. Each tensor is quantized
 * by both methods and the per-tensor RMSE that the progress callback reports is compared:
 * strictly lower with the search wherever the tensor is quantized, equal where it stays
 * F32/F16/BF16. Prints the per-tensor table.
 * `test_quantize_search_vs_rtn` runs the synthetic model; with the argument `tiny-dense`
 * (ctest test_quantize_search_vs_rtn_tiny_dense) the trained one, which a sanitizer build
 * skips: its 7.7M weights take minutes unoptimised and exercise the same code. */
#include <stdint.h>
#include <unistd.h>

#include "qloop.h"
#include "test.h"

#define MAX_TENSORS 128

typedef struct row {
    char name[96], type[16], src[16];
    double rmse;
} row;

typedef struct table {
    row r[MAX_TENSORS];
    int n;
} table;

static char g_dir[256];

static void on_tensor(const ql_quantize_progress *p, void *user) {
    table *t = user;
    if (t->n >= MAX_TENSORS) return;
    row *r = &t->r[t->n++];
    snprintf(r->name, sizeof r->name, "%s", p->name);
    snprintf(r->type, sizeof r->type, "%s", p->type_name);
    snprintf(r->src, sizeof r->src, "%s", p->src_type_name);
    r->rmse = p->rmse;
}

enum method { SEARCH, RTN, LLAMACPP };
static const char *const method_name[] = {"search", "rtn", "llama.cpp"};

static bool quantize(const char *in, const char *type, enum method m, table *t) {
    char out[512];
    snprintf(out, sizeof out, "%s/%s-%d.gguf", g_dir, type, (int)m);
    ql_quantize_params p = ql_quantize_params_default();
    p.type = type;
    p.search = m == SEARCH;
    p.llamacpp_ref = m == LLAMACPP;
    p.n_threads = 2;
    p.progress = on_tensor;
    p.progress_user = t;
    t->n = 0;
    ql_error e = {0};
    ql_status st = ql_quantize(in, out, &p, &e);
    CHECK_MSG(st == QL_OK, "quantize %s %s: %s", in, type, e.message);
    unlink(out);
    return st == QL_OK;
}

static bool is_float(const char *type) {
    return !strcmp(type, "f32") || !strcmp(type, "f16") || !strcmp(type, "bf16");
}

/* Quantizes `in` as `type` with the search and with `base` (round-to-nearest, or llama.cpp's
 * reference quantizer); every tensor must do at least as well with the search, and strictly
 * better when it is quantized. */
static void compare(const char *label, const char *in, const char *type, enum method base) {
    static table s, r;
    if (!quantize(in, type, SEARCH, &s) || !quantize(in, type, base, &r)) return;
    const char *bn = method_name[base];
    CHECK_EQ_INT(s.n, r.n);
    if (s.n != r.n) return;
    int n_quant = 0, n_better = 0;
    double worst = 0.0, sum_gain = 0.0;
    printf("%s --type %s, search vs %s\n  %-28s %-5s %11s %11s %7s\n", label, type, bn, "tensor",
           "type", "base rmse", "search rmse", "lower");
    for (int i = 0; i < s.n; i++) {
        const row *a = &s.r[i], *b = &r.r[i];
        CHECK_MSG(!strcmp(a->name, b->name) && !strcmp(a->type, b->type),
                  "%s: tensor %d is %s/%s with the search, %s/%s with rtn", type, i, a->name,
                  a->type, b->name, b->type);
        if (is_float(a->type)) {
            CHECK_MSG(a->rmse == b->rmse, "%s %s (%s): rmse %.6g search vs %.6g %s", type,
                      a->name, a->type, a->rmse, b->rmse, bn);
            continue;
        }
        double gain = b->rmse > 0 ? 1.0 - a->rmse / b->rmse : 0.0;
        printf("  %-28s %-5s %11.4e %11.4e %6.2f%%\n", a->name, a->type, b->rmse, a->rmse,
               100.0 * gain);
        n_quant++;
        n_better += a->rmse < b->rmse;
        sum_gain += gain;
        if (n_quant == 1 || gain < worst) worst = gain;
        CHECK_MSG(a->rmse < b->rmse, "%s %s (%s): search rmse %.6g is not below %s %.6g", type,
                  a->name, a->type, a->rmse, bn, b->rmse);
    }
    printf("  => %d/%d quantized tensors lower with the search than %s; mean %.2f%%, least %.2f%% "
           "lower\n", n_better, n_quant, bn, n_quant ? 100.0 * sum_gain / n_quant : 0.0,
           100.0 * worst);
    CHECK_MSG(n_quant > 0, "%s: no tensor was quantized", type);
}

static void test_synthetic_llama_tiny(void) {
    char model[512];
    snprintf(model, sizeof model, "%s/llama-tiny-f32.gguf", g_dir);
    ql_synth_params sp = ql_synth_params_default();
    sp.like = "llama-tiny";
    sp.type = "f32";
    sp.seed = 7;
    sp.n_threads = 2;
    ql_error e = {0};
    CHECK_MSG(ql_synth(model, &sp, &e) == QL_OK, "synth: %s", e.message);
    static const char *const types[] = {"q8_0", "q4_0", "q4_1", "q4_k_s", "q4_k_m", "q5_k_m",
                                        "q6_k"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        compare("synthetic llama-tiny (f32)", model, types[i], RTN);
        compare("synthetic llama-tiny (f32)", model, types[i], LLAMACPP);
    }
    unlink(model);
}

static void test_trained_tiny_dense(void) {
    char dir[512];
    ql_test_shared(dir, sizeof dir, "models/tiny-dense");
    if (access(dir, R_OK) != 0) {
        printf("skip: %s not found\n", dir);
        return;
    }
    static const char *const types[] = {"q8_0", "q4_0", "q4_1", "q4_k_m", "q5_k_m", "q6_k"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (i == 1 || i == 3) compare("trained tiny-dense (HF folder, bf16)", dir, types[i], RTN);
        compare("trained tiny-dense (HF folder, bf16)", dir, types[i], LLAMACPP);
    }
}

#if defined(__SANITIZE_ADDRESS__)
#define QL_TEST_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QL_TEST_SANITIZED 1
#endif
#endif

int main(int argc, char **argv) {
    bool tiny_dense = argc > 1 && !strcmp(argv[1], "tiny-dense");
    const char *t = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/qloop-srtn-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    if (!tiny_dense) {
        RUN(test_synthetic_llama_tiny);
    } else {
#ifdef QL_TEST_SANITIZED
        (void)test_trained_tiny_dense;
        printf("skip: tiny-dense in a sanitizer build (minutes unoptimised)\n");
#else
        RUN(test_trained_tiny_dense);
#endif
    }
    rmdir(g_dir);
    return TEST_REPORT();
}
