/*
 * tests/convert/test_convert.c: `qloop convert` / ql_convert (Hugging Face folder -> GGUF).
 *  - qwen2_bf16 kept bf16: logits bit-identical to the folder loaded directly;
 *  - tiny-dense (llama, bf16): logits within 1e-5 of the folder's (the Q/K permutation
 *    reorders the q.k sums), same greedy tokens, input_text tokenized identically (and to
 *    its input_ids);
 *  - f16 conversion of llama_gqa_llama3rope: logits within 5e-3 * max |ref| of transformers,
 *    greedy tokens unchanged (measured 1.4e-3: f16 keeps 11 significant bits);
 *  - Q/K rows of a llama case permuted as llama.cpp does, qwen2's copied unchanged;
 *  - `qloop info` shows llama.cpp's key and tensor names, merged experts [k, rows, n_expert];
 *  - converting over an existing file replaces it by rename (a hard link to the old file
 *    keeps the old bytes), leaves no .tmp, and the input folder's files are unchanged;
 *  - bad inputs give clear errors: missing folder, a file, no config.json, output onto an
 *    input file; the CLI exits non-zero with the message;
 *  - `quantize HF_DIR` writes the same tensors as `quantize` of the converted file.
 */
#include <limits.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "hf/hf_common.h"

static char g_tmp[PATH_MAX];

static void shared_path(char *buf, size_t cap, const char *rel) { ql_test_shared(buf, cap, rel); }

static ql_status convert(const char *in, const char *out, const char *type, ql_error *e) {
    ql_convert_params p = ql_convert_params_default();
    p.type = type;
    return ql_convert(in, out, &p, e);
}

static ql_model *load(const char *path) {
    ql_model *m = NULL;
    ql_error e = {0};
    CHECK_MSG(ql_model_load(path, NULL, &m, &e) == QL_OK, "%s: %s", path, e.message);
    return m;
}

/* Output of a shell command (stdout + stderr), malloc'd; *rc its exit status. */
static char *run(const char *cmd, int *rc) {
    char full[7 * PATH_MAX];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *f = popen(full, "r");
    size_t n = 0, cap = 1 << 16;
    char *s = malloc(cap);
    while (f && s && n + 1 < cap) {
        size_t k = fread(s + n, 1, cap - 1 - n, f);
        if (k == 0) break;
        n += k;
    }
    if (s) s[n] = '\0';
    int st = f ? pclose(f) : -1;
    *rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return s;
}

/* Logits of `ids` from the folder and from its conversion (dtypes kept). */
static void both_logits(const char *dir, const char *out, const int32_t *ids, size_t n,
                        ql_model **a, ql_model **b, float **la, float **lb) {
    ql_error e = {0};
    CHECK_MSG(convert(dir, out, NULL, &e) == QL_OK, "%s", e.message);
    *a = load(dir);
    *b = load(out);
    *la = *a ? hf_logits(*a, ids, n, 2, false) : NULL;
    *lb = *b ? hf_logits(*b, ids, n, 2, false) : NULL;
}

/* qwen2_bf16: no row permutation, bf16 stays bf16: the same bytes, so the same logits bit
 * for bit. */
static void test_bf16_kept_bit_identical(void) {
    char dir[PATH_MAX], out[PATH_MAX + 32], path[PATH_MAX + 32];
    shared_path(dir, sizeof dir, "fixtures/hf/qwen2_bf16");
    snprintf(out, sizeof out, "%s/qwen2_bf16.gguf", g_tmp);
    snprintf(path, sizeof path, "%s/reference.json", dir);
    json_error_t je;
    json_t *ref = json_load_file(path, 0, &je);
    size_t n;
    int32_t *ids = hf_ids(json_object_get(ref, "input_ids"), &n);
    ql_model *a, *b;
    float *la, *lb;
    both_logits(dir, out, ids, n, &a, &b, &la, &lb);
    ql_model_info info;
    if (a) ql_model_get_info(a, &info);
    CHECK_MSG(la && lb && !memcmp(la, lb, n * (size_t)info.n_vocab * sizeof(float)),
              "qwen2_bf16: converted logits are not bit-identical to the folder's");
    free(la);
    free(lb);
    free(ids);
    ql_model_free(a);
    ql_model_free(b);
    json_decref(ref);
}

/* tiny-dense (llama, bf16): tokenization identical; logits equal up to the order of the
 * q.k sums (the Q/K permutation reorders each head's dimensions, so bit identity is not
 * possible for llama): measured ~1e-6 of max |logit|, checked <= 1e-5; greedy tokens equal. */
static void test_tiny_dense_converted_matches_folder(void) {
    char dir[PATH_MAX], out[PATH_MAX + 32], path[PATH_MAX + 32];
    shared_path(dir, sizeof dir, "models/tiny-dense");
    snprintf(out, sizeof out, "%s/tiny.gguf", g_tmp);
    snprintf(path, sizeof path, "%s/reference.json", dir);
    json_error_t je;
    json_t *ref = json_load_file(path, 0, &je);
    size_t n, n_prompt, n_gen;
    int32_t *ids = hf_ids(json_object_get(ref, "input_ids"), &n);
    ql_model *a, *b;
    float *la, *lb;
    both_logits(dir, out, ids, n, &a, &b, &la, &lb);
    if (!ref || !la || !lb) goto done;
    ql_model_info info;
    ql_model_get_info(a, &info);
    double max_ref, d = hf_max_diff(lb, la, n * (size_t)info.n_vocab, &max_ref);
    printf("tiny-dense: converted vs folder logits max |diff| %.3g (%.3g of max |logit|)\n", d,
           d / max_ref);
    CHECK_MSG(d <= 1e-5 * max_ref, "tiny-dense: max |diff| %.3g > 1e-5 * %.3g", d, max_ref);
    int32_t *prompt = hf_ids(json_object_get(ref, "prompt_ids"), &n_prompt);
    int32_t *want = hf_ids(json_object_get(ref, "output_ids"), &n_gen);
    int32_t *gen = calloc(n_gen, sizeof *gen);
    hf_greedy(b, prompt, n_prompt, 2, gen, n_gen);
    CHECK_MSG(!memcmp(gen, want, n_gen * sizeof *gen), "tiny-dense: converted greedy tokens differ");
    free(prompt);
    free(want);
    free(gen);
    const char *text = json_string_value(json_object_get(ref, "input_text"));
    int32_t ta[4096], tb[4096];
    size_t na = 0, nb = 0;
    ql_error e = {0};
    CHECK(text && ql_tokenize(a, text, strlen(text), true, false, ta, 4096, &na, &e) == QL_OK);
    CHECK(text && ql_tokenize(b, text, strlen(text), true, false, tb, 4096, &nb, &e) == QL_OK);
    CHECK_MSG(na == nb && na == n && !memcmp(ta, tb, na * sizeof *ta) && !memcmp(ta, ids, n * sizeof *ids),
              "tiny-dense: tokenization differs (%zu / %zu / %zu ids)", na, nb, n);
done:
    free(la);
    free(lb);
    free(ids);
    ql_model_free(a);
    ql_model_free(b);
    json_decref(ref);
}

static void test_f16_conversion_within_tolerance(void) {
    char dir[PATH_MAX], out[PATH_MAX + 32], path[PATH_MAX + 32];
    shared_path(dir, sizeof dir, "fixtures/hf/llama_gqa_llama3rope");
    snprintf(out, sizeof out, "%s/f16.gguf", g_tmp);
    ql_error e = {0};
    CHECK_MSG(convert(dir, out, "f16", &e) == QL_OK, "%s", e.message);
    ql_model *m = load(out);
    snprintf(path, sizeof path, "%s/reference.json", dir);
    json_error_t je;
    json_t *ref = json_load_file(path, 0, &je);
    snprintf(path, sizeof path, "%s/logits.f32", dir);
    size_t len;
    float *want = (float *)ql_test_read_file(path, &len);
    if (m && ref && want) {
        ql_model_info info;
        ql_model_get_info(m, &info);
        CHECK(!strcmp(info.weight_type, "f16"));
        size_t n, n_prompt, n_gen;
        int32_t *ids = hf_ids(json_object_get(ref, "input_ids"), &n);
        float *got = hf_logits(m, ids, n, 2, false);
        double max_ref, d = hf_max_diff(got, want, n * (size_t)info.n_vocab, &max_ref);
        double rel = d / (max_ref > 1 ? max_ref : 1);
        printf("llama_gqa_llama3rope f16: max |diff| %.3g, %.3g of max |ref|\n", d, rel);
        CHECK_MSG(rel <= 5e-3, "f16: max |diff| / max |ref| = %.3g > 5e-3", rel);
        int32_t *prompt = hf_ids(json_object_get(ref, "prompt_ids"), &n_prompt);
        int32_t *exp = hf_ids(json_object_get(ref, "output_ids"), &n_gen);
        int32_t *gen = calloc(n_gen, sizeof *gen);
        hf_greedy(m, prompt, n_prompt, 2, gen, n_gen);
        CHECK_MSG(!memcmp(gen, exp, n_gen * sizeof *gen), "f16: greedy tokens differ");
        free(got);
        free(ids);
        free(prompt);
        free(exp);
        free(gen);
    }
    ql_model_free(m);
    json_decref(ref);
    free(want);
}

/* The data of tensor `name` in GGUF file `path`, malloc'd; NULL when absent. */
static uint8_t *gguf_tensor(const char *path, const char *name, ql_tensor_desc *d) {
    ql_file *f = NULL;
    ql_error e = {0};
    if (ql_file_open(path, &f, &e) != QL_OK) return NULL;
    uint8_t *data = NULL;
    for (uint64_t i = 0; i < ql_file_n_tensors(f); i++) {
        if (!ql_file_tensor(f, i, d) || strcmp(d->name, name)) continue;
        FILE *fp = fopen(path, "rb");
        data = malloc(d->nbytes);
        if (fp && data && (fseek(fp, (long)d->offset, SEEK_SET) || fread(data, 1, d->nbytes, fp) != d->nbytes)) {
            free(data);
            data = NULL;
        }
        if (fp) fclose(fp);
        break;
    }
    d->name = NULL;
    d->type_name = NULL;
    ql_file_free(f);
    return data;
}

/* The float data of safetensors tensor `name` (F32 files only), malloc'd. */
static float *st_tensor(const char *dir, const char *name, size_t *n) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    size_t len;
    uint8_t *file = (uint8_t *)ql_test_read_file(path, &len);
    uint64_t hlen;
    if (!file || len < 8) return NULL;
    memcpy(&hlen, file, 8);
    json_error_t je;
    json_t *h = json_loadb((const char *)file + 8, (size_t)hlen, 0, &je);
    const json_t *off = json_object_get(json_object_get(h, name), "data_offsets");
    float *out = NULL;
    if (json_array_size(off) == 2) {
        size_t b = (size_t)json_integer_value(json_array_get(off, 0));
        size_t e = (size_t)json_integer_value(json_array_get(off, 1));
        *n = (e - b) / 4;
        out = malloc(e - b);
        memcpy(out, file + 8 + hlen + b, e - b);
    }
    json_decref(h);
    free(file);
    return out;
}

/* GGUF row h*d + 2i + j is HF row h*d + j*d/2 + i for llama; identical rows for qwen2. */
static void check_rows(const char *fixture, const char *gguf_name, const char *hf_name,
                       int64_t head_dim, bool permuted) {
    char dir[PATH_MAX], out[PATH_MAX + 64];
    snprintf(out, sizeof out, "fixtures/hf/%s", fixture);
    shared_path(dir, sizeof dir, out);
    snprintf(out, sizeof out, "%s/%s.gguf", g_tmp, fixture);
    ql_error e = {0};
    if (access(out, F_OK) != 0) CHECK_MSG(convert(dir, out, NULL, &e) == QL_OK, "%s", e.message);
    ql_tensor_desc d;
    size_t n = 0;
    float *g = (float *)gguf_tensor(out, gguf_name, &d), *h = st_tensor(dir, hf_name, &n);
    CHECK_MSG(g && h && d.nbytes == n * 4, "%s: %s / %s not found", fixture, gguf_name, hf_name);
    if (g && h && d.nbytes == n * 4) {
        int64_t k = d.n_dims == 1 ? 1 : d.ne[0], rows = (int64_t)n / k, bad = 0;
        for (int64_t r = 0; r < rows; r++) {
            int64_t w = r % head_dim, s = permuted ? r - w + (w % 2) * (head_dim / 2) + w / 2 : r;
            bad += memcmp(g + r * k, h + s * k, (size_t)k * 4) != 0;
        }
        CHECK_MSG(bad == 0, "%s %s: %lld rows not where expected", fixture, gguf_name, (long long)bad);
    }
    free(g);
    free(h);
}

static void test_qk_rows_permuted_for_llama_only(void) {
    check_rows("llama_gqa_llama3rope", "blk.1.attn_q.weight", "model.layers.1.self_attn.q_proj.weight", 16, true);
    check_rows("llama_gqa_llama3rope", "blk.1.attn_k.weight", "model.layers.1.self_attn.k_proj.weight", 16, true);
    check_rows("llama_gqa_llama3rope", "blk.1.attn_v.weight", "model.layers.1.self_attn.v_proj.weight", 16, false);
    check_rows("qwen2", "blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", 32, false);
    check_rows("qwen2", "blk.0.attn_k.bias", "model.layers.0.self_attn.k_proj.bias", 32, false);
}

static void expect_in(const char *text, const char *const *keys) {
    for (size_t i = 0; keys[i]; i++) CHECK_MSG(text && strstr(text, keys[i]), "qloop info lacks '%s'", keys[i]);
}

static void info_of(const char *fixture, const char *const *keys) {
    char dir[PATH_MAX], out[PATH_MAX + 64], cmd[6 * PATH_MAX];
    snprintf(out, sizeof out, "fixtures/hf/%s", fixture);
    shared_path(dir, sizeof dir, out);
    snprintf(out, sizeof out, "%s/%s.gguf", g_tmp, fixture);
    snprintf(cmd, sizeof cmd, "'%s' convert '%s' '%s' && '%s' info '%s'", QL_CLI_PATH, dir, out,
             QL_CLI_PATH, out);
    int rc;
    char *text = run(cmd, &rc);
    CHECK_MSG(rc == 0, "%s: exit %d: %s", cmd, rc, text ? text : "");
    expect_in(text, keys);
    free(text);
}

static void test_info_shows_llama_cpp_keys(void) {
    static const char *const llama3[] = {
        "general.architecture", "\"llama\"", "llama.context_length", "llama.embedding_length",
        "llama.block_count", "llama.feed_forward_length", "llama.attention.head_count_kv",
        "llama.rope.dimension_count", "llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon",
        /* llama3 scaling travels as llama.cpp's per-pair divisors, not as keys */
        "rope_freqs.weight", "token_embd.weight",
        "blk.0.attn_q.weight", "blk.2.ffn_down.weight", "output_norm.weight", NULL};
    static const char *const yarn[] = {"llama.rope.scaling.type", "\"yarn\"",
                                       "llama.rope.scaling.yarn_beta_fast",
                                       "llama.rope.scaling.yarn_beta_slow", "output.weight", NULL};
    static const char *const qwen3[] = {"\"qwen3\"", "qwen3.attention.head_count_kv", "blk.0.attn_q_norm.weight",
                                        "blk.0.attn_k_norm.weight", NULL};
    static const char *const mixtral[] = {"\"llama\"", "llama.expert_count", "llama.expert_used_count",
                                          "blk.0.ffn_gate_inp.weight", "blk.0.ffn_gate_exps.weight",
                                          "[64, 96, 4]", "[96, 64, 4]", NULL};
    static const char *const qwen2moe[] = {
        "\"qwen2moe\"", "qwen2moe.expert_feed_forward_length",
        "qwen2moe.expert_shared_feed_forward_length", "qwen2moe.expert_weights_norm",
        "blk.1.ffn_up_exps.weight", "blk.1.ffn_gate_inp_shexp.weight", "blk.1.ffn_down_shexp.weight",
        "blk.0.attn_q.bias", "tokenizer.ggml.model", NULL};
    info_of("llama_gqa_llama3rope", llama3);
    info_of("llama_yarn", yarn);
    info_of("qwen3", qwen3);
    info_of("mixtral", mixtral);
    info_of("qwen2_moe", qwen2moe);
    char dir[PATH_MAX], cmd[6 * PATH_MAX];
    shared_path(dir, sizeof dir, "models/tiny-dense");
    snprintf(cmd, sizeof cmd, "'%s' info '%s/tiny.gguf'", QL_CLI_PATH, g_tmp);
    static const char *const tok[] = {"tokenizer.ggml.model", "\"gpt2\"", "tokenizer.ggml.pre",
                                      "tokenizer.ggml.tokens", "tokenizer.ggml.token_type",
                                      "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id",
                                      "tokenizer.ggml.eos_token_id", "tokenizer.ggml.add_bos_token",
                                      "general.file_type", NULL};
    int rc;
    char *text = run(cmd, &rc);
    expect_in(text, tok);
    free(text);
}

static uint64_t hash_file(const char *path) {
    size_t n;
    char *s = ql_test_read_file(path, &n);
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; s && i < n; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    free(s);
    return s ? h : 0;
}

static void test_replaces_atomically_and_keeps_input(void) {
    char dir[PATH_MAX], out[PATH_MAX + 32], old[PATH_MAX + 32], tmp[PATH_MAX + 40], cmd[6 * PATH_MAX];
    shared_path(dir, sizeof dir, "fixtures/hf/qwen2");
    static const char *const files[] = {"config.json", "model.safetensors", "reference.json"};
    uint64_t before[3];
    struct stat sb[3];
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "%s/%s", dir, files[i]);
        before[i] = hash_file(cmd);
        stat(cmd, &sb[i]);
    }
    snprintf(out, sizeof out, "%s/replace.gguf", g_tmp);
    snprintf(old, sizeof old, "%s/replace.old", g_tmp);
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    FILE *f = fopen(out, "wb");
    fputs("not a gguf file", f);
    fclose(f);
    CHECK(link(out, old) == 0);
    snprintf(cmd, sizeof cmd, "'%s' convert '%s' '%s'", QL_CLI_PATH, dir, out);
    int rc;
    free(run(cmd, &rc));
    CHECK_EQ_INT(rc, 0);
    size_t n;
    char *s = ql_test_read_file(old, &n);
    CHECK_MSG(s && n == 15 && !memcmp(s, "not a gguf file", 15), "the old file was written in place");
    free(s);
    CHECK(access(tmp, F_OK) != 0);
    ql_model *m = load(out);
    ql_model_free(m);
    for (int i = 0; i < 3; i++) {
        struct stat now;
        snprintf(cmd, sizeof cmd, "%s/%s", dir, files[i]);
        CHECK_MSG(hash_file(cmd) == before[i] && stat(cmd, &now) == 0 &&
                      now.st_mtime == sb[i].st_mtime && now.st_size == sb[i].st_size,
                  "%s changed", cmd);
    }
}

static void test_bad_inputs_give_clear_errors(void) {
    char out[PATH_MAX + 32], missing[PATH_MAX + 32], empty[PATH_MAX + 32], linked[PATH_MAX + 32];
    char src[PATH_MAX], path[2 * PATH_MAX], cmd[6 * PATH_MAX];
    ql_error e = {0};
    snprintf(out, sizeof out, "%s/bad.gguf", g_tmp);
    snprintf(missing, sizeof missing, "%s/no-such-folder", g_tmp);
    CHECK_EQ_INT(convert(missing, out, NULL, &e), QL_ERR_NOT_FOUND);
    CHECK_MSG(strstr(e.message, "no-such-folder"), "%s", e.message);
    snprintf(path, sizeof path, "%s/tiny.gguf", g_tmp);
    CHECK_EQ_INT(convert(path, out, NULL, &e), QL_ERR_ARG);
    CHECK_MSG(strstr(e.message, "not a folder"), "%s", e.message);
    snprintf(empty, sizeof empty, "%s/empty", g_tmp);
    mkdir(empty, 0700);
    CHECK(convert(empty, out, NULL, &e) != QL_OK);
    CHECK_MSG(strstr(e.message, "config.json"), "%s", e.message);
    CHECK_EQ_INT(convert(empty, out, "q4_0", &e), QL_ERR_ARG);
    CHECK(access(out, F_OK) != 0);
    /* output onto one of the input folder's files */
    shared_path(src, sizeof src, "fixtures/hf/llama_mha");
    snprintf(linked, sizeof linked, "%s/linked", g_tmp);
    mkdir(linked, 0700);
    static const char *const files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        char a[2 * PATH_MAX], b[2 * PATH_MAX];
        snprintf(a, sizeof a, "%s/%s", src, files[i]);
        snprintf(b, sizeof b, "%s/%s", linked, files[i]);
        CHECK(symlink(a, b) == 0);
    }
    snprintf(path, sizeof path, "%s/config.json", linked);
    CHECK_EQ_INT(convert(linked, path, NULL, &e), QL_ERR_ARG);
    CHECK_MSG(strstr(e.message, "refusing"), "%s", e.message);
    int rc;
    snprintf(cmd, sizeof cmd, "'%s' convert '%s' '%s'", QL_CLI_PATH, missing, out);
    char *text = run(cmd, &rc);
    CHECK_MSG(rc != 0 && text && strstr(text, "qloop convert:") && strstr(text, "no-such-folder"),
              "CLI: exit %d: %s", rc, text ? text : "");
    free(text);
    snprintf(cmd, sizeof cmd, "'%s' quantize '%s' '%s' --type q8_0", QL_CLI_PATH, empty, out);
    text = run(cmd, &rc);
    CHECK_MSG(rc != 0 && text && strstr(text, "config.json"), "CLI: exit %d: %s", rc, text ? text : "");
    free(text);
}

/* quantize straight from the folder == quantize of the converted file, tensor by tensor. */
static void test_quantize_folder_matches_converted(void) {
    char dir[PATH_MAX], conv[PATH_MAX + 32], qa[PATH_MAX + 32], qb[PATH_MAX + 32];
    shared_path(dir, sizeof dir, "fixtures/hf/mixtral");
    snprintf(conv, sizeof conv, "%s/mixtral.gguf", g_tmp);
    snprintf(qa, sizeof qa, "%s/qa.gguf", g_tmp);
    snprintf(qb, sizeof qb, "%s/qb.gguf", g_tmp);
    ql_error e = {0};
    ql_quantize_params p = ql_quantize_params_default();
    p.n_threads = 2;
    CHECK_MSG(convert(dir, conv, NULL, &e) == QL_OK, "%s", e.message);
    CHECK_MSG(ql_quantize(dir, qa, &p, &e) == QL_OK, "%s", e.message);
    CHECK_MSG(ql_quantize(conv, qb, &p, &e) == QL_OK, "%s", e.message);
    ql_file *fa = NULL, *fb = NULL;
    if (ql_file_open(qa, &fa, &e) || ql_file_open(qb, &fb, &e)) {
        CHECK_MSG(0, "%s", e.message);
    } else {
        CHECK_EQ_INT(ql_file_n_tensors(fa), ql_file_n_tensors(fb));
        for (uint64_t i = 0; i < ql_file_n_tensors(fa); i++) {
            ql_tensor_desc a, b;
            ql_file_tensor(fa, i, &a);
            char name[128];
            snprintf(name, sizeof name, "%s", a.name);
            uint8_t *da = gguf_tensor(qa, name, &a), *db = gguf_tensor(qb, name, &b);
            CHECK_MSG(da && db && a.nbytes == b.nbytes && !memcmp(da, db, a.nbytes),
                      "%s differs between quantize of the folder and of the converted file", name);
            free(da);
            free(db);
        }
    }
    ql_file_free(fa);
    ql_file_free(fb);
}

int main(void) {
    if (!hf_tmpdir(g_tmp, sizeof g_tmp)) {
        fprintf(stderr, "mkdtemp failed\n");
        return 1;
    }
    RUN(test_bf16_kept_bit_identical);
    RUN(test_tiny_dense_converted_matches_folder);
    RUN(test_f16_conversion_within_tolerance);
    RUN(test_qk_rows_permuted_for_llama_only);
    RUN(test_info_shows_llama_cpp_keys);
    RUN(test_replaces_atomically_and_keeps_input);
    RUN(test_bad_inputs_give_clear_errors);
    RUN(test_quantize_folder_matches_converted);
    hf_rmdir(g_tmp);
    return TEST_REPORT();
}
