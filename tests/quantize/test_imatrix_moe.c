/* tests/quantize/test_imatrix_moe.c: importance weights reach every expert of a merged MoE
 * tensor. `qloop imatrix` (like llama.cpp) stores all experts of blk.L.ffn_*_exps.weight in
 * one entry of n_expert * k values; expert e of the tensor [k, rows, n_expert] must be
 * quantized with values [e*k, (e+1)*k).
 *  - ql_imatrix_get_expert on a hand-written imatrix.dat: slices, a shared k-vector, an
 *    entry covering only the first experts, bad lengths;
 *  - the mixtral fixture (4 experts, HF folder): an imatrix collected through the API from
 *    random-token windows, then ql_quantize --type q4_0 with it: every tensor, *_exps
 *    included, is listed in qloop.quantize.imatrix_weighted; each expert's rows are
 *    byte-identical to quantizing them alone with that expert's slice (and differ from the
 *    unweighted file); the file loads and runs; `qloop quantize --verbose` names them. */
#include <math.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "model/gguf.h"
#include "qloop.h"
#include "quant/imatrix.h"
#include "quant/quantize.h"
#include "quant/types.h"
#include "test.h"

static char g_dir[256], g_fixture[512], g_imat[512], g_q[512], g_q_plain[512], g_f32[512];

static void put_i32(FILE *f, int32_t v) { fwrite(&v, 4, 1, f); }

static void put_entry(FILE *f, const char *name, int32_t n, float base) {
    put_i32(f, (int32_t)strlen(name));
    fwrite(name, 1, strlen(name), f);
    put_i32(f, 1);
    put_i32(f, n);
    for (int32_t i = 0; i < n; i++) {
        float v = base + (float)i;
        fwrite(&v, 4, 1, f);
    }
}

static void test_get_expert_slices(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/hand.dat", g_dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    put_i32(f, 4);
    put_entry(f, "blk.0.ffn_up_exps.weight", 3 * 4, 0.0f);   /* 3 experts of k = 4 */
    put_entry(f, "blk.0.ffn_gate_exps.weight", 4, 100.0f);   /* one vector for all */
    put_entry(f, "blk.0.ffn_down_exps.weight", 2 * 4, 200.0f); /* only experts 0, 1 seen */
    put_entry(f, "blk.0.attn_q.weight", 6, 300.0f);          /* not a multiple of 4 */
    put_i32(f, 1);
    put_i32(f, 0);
    fclose(f);
    ql_imatrix *m = NULL;
    ql_error e = {0};
    CHECK_MSG(ql_imatrix_load(path, &m, &e) == QL_OK, "%s", e.message);
    if (!m) return;
    for (int x = 0; x < 3; x++) {
        const float *v = ql_imatrix_get_expert(m, "blk.0.ffn_up_exps.weight", 4, 3, x);
        CHECK_MSG(v && v[0] == (float)(4 * x) && v[3] == (float)(4 * x + 3), "expert %d", x);
        const float *g = ql_imatrix_get_expert(m, "blk.0.ffn_gate_exps.weight", 4, 3, x);
        CHECK(g && g[0] == 100.0f);
    }
    CHECK(ql_imatrix_get_expert(m, "blk.0.ffn_up_exps.weight", 4, 3, 3) == NULL);
    CHECK(ql_imatrix_get_expert(m, "blk.0.ffn_up_exps.weight", 4, 3, -1) == NULL);
    /* more experts in the entry than the tensor has: not this tensor's */
    CHECK(ql_imatrix_get_expert(m, "blk.0.ffn_up_exps.weight", 4, 2, 0) == NULL);
    const float *d1 = ql_imatrix_get_expert(m, "blk.0.ffn_down_exps.weight", 4, 4, 1);
    CHECK(d1 && d1[0] == 204.0f);
    CHECK(ql_imatrix_get_expert(m, "blk.0.ffn_down_exps.weight", 4, 4, 2) == NULL);
    CHECK(ql_imatrix_get_expert(m, "blk.0.attn_q.weight", 4, 1, 0) == NULL);
    CHECK(ql_imatrix_get_expert(m, "nope", 4, 1, 0) == NULL);
    /* the dense lookup still wants exactly k values */
    CHECK(ql_imatrix_get(m, "blk.0.ffn_up_exps.weight", 4) == NULL);
    CHECK(ql_imatrix_get(m, "blk.0.attn_q.weight", 6) != NULL);
    ql_imatrix_free(m);
    unlink(path);
}

/* An imatrix of the fixture from 3 windows of 48 random tokens. */
static bool collect_imatrix(void) {
    ql_model *m = NULL;
    ql_error e = {0};
    CHECK_MSG(ql_model_load(g_fixture, NULL, &m, &e) == QL_OK, "%s: %s", g_fixture, e.message);
    if (!m) return false;
    ql_model_info info;
    ql_model_get_info(m, &info);
    ql_session_params sp = ql_session_params_default();
    sp.n_ctx = 64;
    sp.n_threads = 2;
    ql_session *s = NULL;
    ql_imatrix_collector *c = NULL;
    CHECK_MSG(ql_session_new(m, &sp, &s, &e) == QL_OK, "%s", e.message);
    CHECK(ql_imatrix_collector_new(&c, &e) == QL_OK);
    bool ok = s && c;
    if (ok) ql_imatrix_collector_attach(c, s);
    uint64_t rng = 12345;
    for (int w = 0; ok && w < 3; w++) {
        int32_t ids[48];
        for (int i = 0; i < 48; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            ids[i] = (int32_t)((rng >> 33) % (uint64_t)info.n_vocab);
        }
        ql_session_reset(s);
        ok = ql_session_eval(s, ids, 48, NULL, false, &e) == QL_OK;
        CHECK_MSG(ok, "%s", e.message);
        ql_imatrix_collector_end_chunk(c);
    }
    if (ok) {
        printf("imatrix: %d tensors observed\n", ql_imatrix_collector_count(c));
        ok = ql_imatrix_collector_save(c, g_imat, "random tokens", &e) == QL_OK;
        CHECK_MSG(ok, "%s", e.message);
    }
    ql_imatrix_collector_free(c);
    ql_session_free(s);
    ql_model_free(m);
    return ok;
}

static bool quantize(const char *out, const char *imatrix) {
    ql_quantize_params p = ql_quantize_params_default();
    p.type = "q4_0";
    p.imatrix = imatrix;
    p.n_threads = 2;
    ql_error e = {0};
    ql_status st = ql_quantize(g_fixture, out, &p, &e);
    CHECK_MSG(st == QL_OK, "quantize: %s", e.message);
    return st == QL_OK;
}

static bool listed(const ql_gguf_array *a, const char *name) {
    for (uint64_t i = 0; a && i < a->n; i++)
        if (ql_str_eq(a->items[i].v.str, name)) return true;
    return false;
}

static const ql_gguf_tensor *find(const ql_gguf *g, const char *name) {
    return ql_gguf_find_tensor(g, name);
}

static void test_mixtral_experts_weighted(void) {
    if (!collect_imatrix() || !quantize(g_q, g_imat) || !quantize(g_q_plain, NULL)) return;
    ql_convert_params cp = ql_convert_params_default();
    cp.type = "f32";
    ql_error e = {0};
    CHECK_MSG(ql_convert(g_fixture, g_f32, &cp, &e) == QL_OK, "convert: %s", e.message);
    ql_gguf *q = NULL, *plain = NULL, *f32 = NULL;
    ql_imatrix *im = NULL;
    CHECK_MSG(ql_gguf_open(g_q, &q, &e) == QL_OK, "%s", e.message);
    CHECK_MSG(ql_gguf_open(g_q_plain, &plain, &e) == QL_OK, "%s", e.message);
    CHECK_MSG(ql_gguf_open(g_f32, &f32, &e) == QL_OK, "%s", e.message);
    CHECK_MSG(ql_imatrix_load(g_imat, &im, &e) == QL_OK, "%s", e.message);
    const ql_gguf_array *wl = NULL;
    if (q) CHECK(ql_gguf_get_arr(q, "qloop.quantize.imatrix_weighted", QL_GGUF_STRING, &wl, &e) == QL_OK);
    if (!q || !plain || !f32 || !im || !wl) goto out;
    int n_exps = 0, n_quant = 0;
    for (uint64_t i = 0; i < ql_gguf_n_tensors(q); i++) {
        const ql_gguf_tensor *t = ql_gguf_tensor_at(q, i);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        if (t->type == QL_TYPE_F32 || t->type == QL_TYPE_F16) continue;
        CHECK_MSG(!strstr(name, "ffn_gate_inp"), "%s: a router is quantized", name);
        /* token_embd is looked up, not multiplied, and the forward pass reports no
         * activations for output.weight: neither has an imatrix entry */
        if (!strcmp(name, "token_embd.weight") || !strcmp(name, "output.weight")) {
            CHECK_MSG(!listed(wl, name), "%s listed without an imatrix entry", name);
            continue;
        }
        n_quant++;
        CHECK_MSG(listed(wl, name), "%s (quantized) is not in imatrix_weighted", name);
        if (!strstr(name, "_exps.")) continue;
        n_exps++;
        const ql_gguf_tensor *src = find(f32, name), *pt = find(plain, name);
        CHECK_MSG(src && src->type == QL_TYPE_F32 && t->n_dims == 3 && pt, "%s", name);
        if (!src || src->type != QL_TYPE_F32 || t->n_dims != 3 || !pt) continue;
        int64_t k = t->ne[0], rows = t->ne[1], n_exp = t->ne[2];
        uint64_t rb;
        ql_type_row_bytes(t->type, (uint64_t)k, &rb);
        size_t slice = (size_t)(rb * (uint64_t)rows);
        uint8_t *buf = malloc(slice);
        int n_same_as_plain = 0;
        for (int64_t x = 0; buf && x < n_exp; x++) {
            const float *w = ql_imatrix_get_expert(im, name, k, n_exp, x);
            CHECK_MSG(w != NULL, "%s expert %lld: no slice", name, (long long)x);
            const float *xf = (const float *)src->data + x * rows * k;
            CHECK(ql_quantize_rows(t->type, xf, buf, rows, k, w, QL_QUANT_SEARCH));
            const uint8_t *got = (const uint8_t *)t->data + (size_t)x * slice;
            CHECK_MSG(memcmp(buf, got, slice) == 0,
                      "%s expert %lld: not quantized with its imatrix slice", name, (long long)x);
            n_same_as_plain += memcmp(got, (const uint8_t *)pt->data + (size_t)x * slice, slice) == 0;
        }
        CHECK_MSG(n_same_as_plain == 0, "%s: %d experts identical to the unweighted file", name,
                  n_same_as_plain);
        printf("%s [%lld x %lld x %lld] %s: every expert weighted by its slice\n", name,
               (long long)k, (long long)rows, (long long)n_exp, ql_type_get(t->type)->name);
        free(buf);
    }
    printf("imatrix_weighted lists %llu tensors; %d quantized, %d merged expert tensors\n",
           (unsigned long long)wl->n, n_quant, n_exps);
    CHECK_EQ_INT((int)wl->n, n_quant);
    CHECK_MSG(n_exps == 6, "%d *_exps tensors (2 layers x gate/up/down expected)", n_exps);
out:
    ql_imatrix_free(im);
    ql_gguf_close(q);
    ql_gguf_close(plain);
    ql_gguf_close(f32);
}

static void test_weighted_file_runs(void) {
    ql_model *m = NULL;
    ql_error e = {0};
    CHECK_MSG(ql_model_load(g_q, NULL, &m, &e) == QL_OK, "%s: %s", g_q, e.message);
    if (!m) return;
    ql_model_info info;
    ql_model_get_info(m, &info);
    ql_session_params sp = ql_session_params_default();
    sp.n_ctx = 32;
    sp.n_threads = 2;
    ql_session *s = NULL;
    CHECK_MSG(ql_session_new(m, &sp, &s, &e) == QL_OK, "%s", e.message);
    float *logits = malloc((size_t)info.n_vocab * sizeof *logits);
    int32_t tok = 1;
    int finite = 1;
    for (int i = 0; s && logits && i < 8; i++) {
        CHECK_MSG(ql_session_eval(s, &tok, 1, logits, false, &e) == QL_OK, "%s", e.message);
        int32_t best = 0;
        for (int32_t v = 0; v < info.n_vocab; v++) {
            finite &= isfinite(logits[v]) != 0;
            if (logits[v] > logits[best]) best = v;
        }
        tok = best;
    }
    CHECK(finite);
    printf("weighted q4_0 mixtral runs: 8 greedy steps, logits finite\n");
    free(logits);
    ql_session_free(s);
    ql_model_free(m);
}

static void test_cli_verbose_names_experts(void) {
    char cmd[2048], out[1 << 15];
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s/cli.gguf' --type q4_0 --imatrix '%s' "
             "--verbose -t 2 2>&1", QL_CLI_PATH, g_fixture, g_dir, g_imat);
    FILE *p = popen(cmd, "r");
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = '\0';
    int st = p ? pclose(p) : -1;
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s\n%s", cmd, out);
    const char *line = strstr(out, "imatrix weighted:");
    CHECK_MSG(line != NULL, "no 'imatrix weighted:' line in\n%s", out);
    if (line) {
        CHECK(strstr(line, "blk.0.ffn_gate_exps.weight") && strstr(line, "blk.1.ffn_down_exps.weight"));
        const char *end = strchr(line, '\n');
        printf("%.*s\n", end ? (int)(end - line) : (int)strlen(line), line);
    }
    snprintf(cmd, sizeof cmd, "%s/cli.gguf", g_dir);
    unlink(cmd);
}

int main(void) {
    const char *t = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/qloop-imoe-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    ql_test_shared(g_fixture, sizeof g_fixture, "fixtures/hf/mixtral");
    snprintf(g_imat, sizeof g_imat, "%s/imatrix.dat", g_dir);
    snprintf(g_q, sizeof g_q, "%s/q4_0-imatrix.gguf", g_dir);
    snprintf(g_q_plain, sizeof g_q_plain, "%s/q4_0.gguf", g_dir);
    snprintf(g_f32, sizeof g_f32, "%s/f32.gguf", g_dir);
    RUN(test_get_expert_slices);
    RUN(test_mixtral_experts_weighted);
    RUN(test_weighted_file_runs);
    RUN(test_cli_verbose_names_experts);
    unlink(g_imat);
    unlink(g_q);
    unlink(g_q_plain);
    unlink(g_f32);
    rmdir(g_dir);
    return TEST_REPORT();
}
