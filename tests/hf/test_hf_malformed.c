/*
 * tests/hf/test_hf_malformed.c: hostile and inconsistent Hugging Face folders, made here in
 * temporary folders, each loaded through ql_model_load: the status and a message naming
 * the file, tensor, key or dtype concerned, never a crash (run it under ASan/UBSan).
 * Also: a sharded copy of llama_mha (model.safetensors.index.json) loads and computes the
 * same logits as the single file, and a folder without tokenizer.json loads but cannot
 * tokenize.
 */
#include <limits.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "hf_common.h"

static char g_fixture[PATH_MAX]; /* shared/fixtures/hf/llama_mha */

/* The fixture's safetensors: header object and data section. */
static json_t *g_header;
static char *g_file;
static const char *g_data;
static size_t g_data_len;

static void write_file(const char *dir, const char *name, const void *p, size_t n) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(p, 1, n, f) == n);
    if (f) fclose(f);
}

/* A safetensors file: u64 header length, the header text, then `data`. */
static void write_st(const char *dir, const char *name, const char *header, uint64_t header_len,
                     const void *data, size_t n) {
    size_t hl = strlen(header);
    char *buf = malloc(8 + hl + n + 1);
    for (int i = 0; i < 8; i++) buf[i] = (char)(header_len >> (8 * i));
    memcpy(buf + 8, header, hl);
    if (n) memcpy(buf + 8 + hl, data, n);
    write_file(dir, name, buf, 8 + hl + n);
    free(buf);
}

/* The fixture's tensors selected by keep(name) (NULL: all), repacked, plus `extra`
 * (a name -> F32 vector of n_extra zeros) when not NULL. */
static void write_subset(const char *dir, const char *name, bool (*keep)(const char *),
                         const char *extra, size_t n_extra) {
    json_t *h = json_object();
    char *data = malloc(g_data_len + n_extra * 4 + 1);
    size_t off = 0;
    const char *key;
    json_t *v;
    json_object_foreach(g_header, key, v) {
        if (!strcmp(key, "__metadata__") || (keep && !keep(key))) continue;
        const json_t *o = json_object_get(v, "data_offsets");
        size_t b = (size_t)json_integer_value(json_array_get(o, 0)),
               e = (size_t)json_integer_value(json_array_get(o, 1));
        memcpy(data + off, g_data + b, e - b);
        json_t *t = json_deep_copy(v);
        json_object_set_new(t, "data_offsets", json_pack("[II]", (json_int_t)off, (json_int_t)(off + e - b)));
        json_object_set_new(h, key, t);
        off += e - b;
    }
    if (extra) {
        memset(data + off, 0, n_extra * 4);
        json_object_set_new(h, extra,
                            json_pack("{s:s, s:[I], s:[II]}", "dtype", "F32", "shape",
                                      (json_int_t)n_extra, "data_offsets", (json_int_t)off,
                                      (json_int_t)(off + n_extra * 4)));
        off += n_extra * 4;
    }
    char *text = json_dumps(h, JSON_COMPACT);
    write_st(dir, name, text, strlen(text), data, off);
    free(text);
    free(data);
    json_decref(h);
}

/* A folder with the fixture's config.json (or `config` text) and `st` as model.safetensors
 * (NULL: a link to the fixture's). */
static char *make_dir(char *buf, size_t cap, const char *config) {
    if (!hf_tmpdir(buf, cap)) return NULL;
    char src[PATH_MAX + 64], dst[PATH_MAX + 64];
    if (config) {
        write_file(buf, "config.json", config, strlen(config));
    } else {
        snprintf(src, sizeof src, "%s/config.json", g_fixture);
        snprintf(dst, sizeof dst, "%s/config.json", buf);
        CHECK(symlink(src, dst) == 0);
    }
    return buf;
}

static void link_weights(const char *dir) {
    char src[PATH_MAX + 64], dst[PATH_MAX + 64];
    snprintf(src, sizeof src, "%s/model.safetensors", g_fixture);
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    CHECK(symlink(src, dst) == 0);
}

/* Loads dir and expects `status` with a message containing each of the NULL-ended words. */
static void expect_error(const char *dir, ql_status status, ...) {
    ql_model *m = NULL;
    ql_error e = {0};
    ql_status st = ql_model_load(dir, NULL, &m, &e);
    CHECK_MSG(st == status, "status %d (%s), expected %d", st, e.message, status);
    CHECK(m == NULL);
    ql_model_free(m);
    va_list ap;
    va_start(ap, status);
    for (const char *w; (w = va_arg(ap, const char *));)
        CHECK_MSG(strstr(e.message, w), "message '%s' lacks '%s'", e.message, w);
    va_end(ap);
    printf("  %s\n", e.message);
}

/* The fixture's config with one key changed (value NULL: removed). */
static char *config_with(const char *key, json_t *value) {
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/config.json", g_fixture);
    json_t *c = json_load_file(path, 0, NULL);
    if (value) json_object_set_new(c, key, value);
    else json_object_del(c, key);
    char *text = json_dumps(c, JSON_INDENT(1));
    json_decref(c);
    return text;
}

static void test_truncated_header(void) {
    char d[PATH_MAX];
    if (!make_dir(d, sizeof d, NULL)) return;
    write_file(d, "model.safetensors", "\x10\x00\x00", 3);
    expect_error(d, QL_ERR_CORRUPT, "model.safetensors", "truncated", NULL);
    hf_rmdir(d);
}

static void test_header_length_past_eof(void) {
    char d[PATH_MAX];
    if (!make_dir(d, sizeof d, NULL)) return;
    write_st(d, "model.safetensors", "{}", 1000, NULL, 0);
    expect_error(d, QL_ERR_CORRUPT, "model.safetensors", "header length 1000", "past the end", NULL);
    hf_rmdir(d);
}

static void test_corrupt_header_json(void) {
    char d[PATH_MAX];
    if (!make_dir(d, sizeof d, NULL)) return;
    write_st(d, "model.safetensors", "{\"a\": [", 7, NULL, 0);
    expect_error(d, QL_ERR_CORRUPT, "model.safetensors", "header JSON", NULL);
    hf_rmdir(d);
}

static void test_data_offsets_past_eof(void) {
    char d[PATH_MAX];
    if (!make_dir(d, sizeof d, NULL)) return;
    const char *h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    write_st(d, "model.safetensors", h, strlen(h), "01234567", 8);
    expect_error(d, QL_ERR_CORRUPT, "model.safetensors", "'w'", "past the end", NULL);
    hf_rmdir(d);
}

static void test_offsets_disagree_with_shape(void) {
    char d[PATH_MAX];
    if (!make_dir(d, sizeof d, NULL)) return;
    const char *h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,12]}}";
    write_st(d, "model.safetensors", h, strlen(h), "0123456789abcdef", 16);
    expect_error(d, QL_ERR_CORRUPT, "'w'", "12 bytes", "need 16", NULL);
    hf_rmdir(d);
}

static void test_overflowing_shape(void) {
    char d[PATH_MAX];
    if (!make_dir(d, sizeof d, NULL)) return;
    const char *h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],"
                    "\"data_offsets\":[0,0]}}";
    write_st(d, "model.safetensors", h, strlen(h), NULL, 0);
    expect_error(d, QL_ERR_CORRUPT, "'w'", "overflow", NULL);
    hf_rmdir(d);
}

static void test_overlapping_tensors(void) {
    char d[PATH_MAX];
    if (!make_dir(d, sizeof d, NULL)) return;
    const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}";
    char data[24] = {0};
    write_st(d, "model.safetensors", h, strlen(h), data, sizeof data);
    expect_error(d, QL_ERR_CORRUPT, "'a'", "'b'", "overlap", NULL);
    hf_rmdir(d);
}

static void test_unsupported_dtype_named(void) {
    char d[PATH_MAX];
    if (!make_dir(d, sizeof d, NULL)) return;
    const char *h = "{\"__metadata__\":{\"format\":\"pt\"},"
                    "\"position_ids\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    write_st(d, "model.safetensors", h, strlen(h), "\0\0\0\0\1\0\0\0", 8);
    expect_error(d, QL_ERR_UNSUPPORTED, "position_ids", "I32", NULL);
    hf_rmdir(d);
}

static bool not_up_proj_1(const char *name) {
    return strcmp(name, "model.layers.1.mlp.up_proj.weight") != 0;
}

static void test_missing_tensor_named(void) {
    char d[PATH_MAX];
    if (!make_dir(d, sizeof d, NULL)) return;
    write_subset(d, "model.safetensors", not_up_proj_1, NULL, 0);
    expect_error(d, QL_ERR_NOT_FOUND, "model.layers.1.mlp.up_proj.weight", "missing", NULL);
    hf_rmdir(d);
}

static void test_tensor_the_forward_pass_lacks(void) {
    char d[PATH_MAX];
    if (!make_dir(d, sizeof d, NULL)) return;
    write_subset(d, "model.safetensors", NULL, "model.layers.0.self_attn.o_proj.bias", 64);
    expect_error(d, QL_ERR_UNSUPPORTED, "model.layers.0.self_attn.o_proj.bias", NULL);
    hf_rmdir(d);
}

/* A folder whose config.json has `key` set to `value` (NULL: removed) loads with `status`
 * and a message naming config.json and `word`. */
static void expect_config_error(const char *key, json_t *value, ql_status status,
                                const char *word) {
    char d[PATH_MAX];
    char *cfg = config_with(key, value);
    if (make_dir(d, sizeof d, cfg)) {
        link_weights(d);
        expect_error(d, status, "config.json", word, NULL);
        hf_rmdir(d);
    }
    free(cfg);
}

static void test_shape_contradicting_config_named(void) {
    char d[PATH_MAX];
    char *cfg = config_with("intermediate_size", json_integer(160));
    if (make_dir(d, sizeof d, cfg)) {
        link_weights(d);
        expect_error(d, QL_ERR_CORRUPT, "model.layers.0.mlp.gate_proj.weight", "[176, 64]",
                     "config.json", "[160, 64]", NULL);
        hf_rmdir(d);
    }
    free(cfg);
    cfg = config_with("num_key_value_heads", json_integer(2));
    if (make_dir(d, sizeof d, cfg)) {
        link_weights(d);
        expect_error(d, QL_ERR_CORRUPT, "model.layers.0.self_attn.k_proj.weight", "config.json", NULL);
        hf_rmdir(d);
    }
    free(cfg);
}

static void test_unknown_model_type_named(void) {
    expect_config_error("model_type", json_string("gpt_neox"), QL_ERR_UNSUPPORTED, "gpt_neox");
}

static void test_missing_config_key_named(void) {
    expect_config_error("num_hidden_layers", NULL, QL_ERR_CORRUPT, "num_hidden_layers");
    expect_config_error("rope_parameters",
                        json_pack("{s:s, s:f}", "rope_type", "longrope", "rope_theta", 10000.0),
                        QL_ERR_UNSUPPORTED, "longrope");
}

/* A number beyond float range would be stored as inf and accepted (rms_norm_eps inf makes
 * every normalised state zero): refused, naming the key. */
static void test_config_float_out_of_range(void) {
    expect_config_error("rms_norm_eps", json_real(1e300), QL_ERR_CORRUPT, "rms_norm_eps");
    expect_config_error("rope_parameters",
                        json_pack("{s:s, s:f}", "rope_type", "default", "rope_theta", 1e300),
                        QL_ERR_CORRUPT, "rope_theta");
}

static void test_corrupt_config_json(void) {
    char d[PATH_MAX];
    if (!make_dir(d, sizeof d, "{\"model_type\": \"llama\", ")) return;
    link_weights(d);
    expect_error(d, QL_ERR_CORRUPT, "config.json", "invalid JSON", NULL);
    hf_rmdir(d);
}

static void test_no_weights(void) {
    char d[PATH_MAX];
    if (!make_dir(d, sizeof d, NULL)) return;
    expect_error(d, QL_ERR_NOT_FOUND, "model.safetensors", NULL);
    hf_rmdir(d);
}

static bool in_layer_0(const char *name) { return strstr(name, "layers.0.") != NULL; }
static bool not_in_layer_0(const char *name) { return !in_layer_0(name); }

/* Two shards and an index load as the single file does, to the bit. */
static void test_sharded_index_loads(void) {
    char d[PATH_MAX];
    if (!make_dir(d, sizeof d, NULL)) return;
    write_subset(d, "model-00001-of-00002.safetensors", in_layer_0, NULL, 0);
    write_subset(d, "model-00002-of-00002.safetensors", not_in_layer_0, NULL, 0);
    json_t *map = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(g_header, key, v) {
        if (strcmp(key, "__metadata__"))
            json_object_set_new(map, key, json_string(in_layer_0(key) ? "model-00001-of-00002.safetensors"
                                                                       : "model-00002-of-00002.safetensors"));
    }
    json_t *index = json_pack("{s:{s:i}, s:o}", "metadata", "total_size", 0, "weight_map", map);
    char *text = json_dumps(index, JSON_INDENT(1));
    write_file(d, "model.safetensors.index.json", text, strlen(text));
    free(text);
    ql_model *a = NULL, *b = NULL;
    ql_error e = {0};
    CHECK_MSG(ql_model_load(d, NULL, &a, &e) == QL_OK, "%s", e.message);
    CHECK_MSG(ql_model_load(g_fixture, NULL, &b, &e) == QL_OK, "%s", e.message);
    if (a && b) {
        const int32_t ids[] = {1, 5, 77, 300, 12, 9};
        float *la = hf_logits(a, ids, 6, 1, false), *lb = hf_logits(b, ids, 6, 1, false);
        ql_model_info info;
        ql_model_get_info(a, &info);
        CHECK(la && lb && !memcmp(la, lb, 6 * (size_t)info.n_vocab * sizeof(float)));
        free(la);
        free(lb);
    }
    ql_model_free(a);
    ql_model_free(b);
    /* an index naming the wrong shard for a tensor */
    json_object_set_new(map, "model.norm.weight", json_string("model-00001-of-00002.safetensors"));
    text = json_dumps(index, JSON_INDENT(1));
    write_file(d, "model.safetensors.index.json", text, strlen(text));
    free(text);
    expect_error(d, QL_ERR_NOT_FOUND, "model.norm.weight", "model-00001-of-00002.safetensors", NULL);
    /* and one escaping the folder */
    json_object_set_new(map, "model.norm.weight", json_string("../model.safetensors"));
    text = json_dumps(index, JSON_INDENT(1));
    write_file(d, "model.safetensors.index.json", text, strlen(text));
    free(text);
    expect_error(d, QL_ERR_CORRUPT, "model.norm.weight", NULL);
    json_decref(index);
    hf_rmdir(d);
}

/* A SentencePiece-style tokenizer.json (byte_fallback BPE, 16 tokens) with the given
 * normalizer and pre_tokenizer (stolen references; NULL: JSON null). */
static json_t *spm_tokenizer(json_t *normalizer, json_t *pre_tokenizer) {
    json_t *vocab = json_object();
    const char *texts[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", "ab", "\xe2\x96\x81" "ab"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        json_object_set_new(vocab, texts[i], json_integer((json_int_t)i));
    for (int b = 0; b < 8; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", 0x41 + b);
        json_object_set_new(vocab, name, json_integer(8 + b));
    }
    json_t *model = json_pack("{s:s, s:b, s:s, s:o, s:[s, s]}", "type", "BPE", "byte_fallback", 1,
                              "unk_token", "<unk>", "vocab", vocab, "merges", "a b",
                              "\xe2\x96\x81 ab");
    return json_pack("{s:o, s:o, s:o}", "model", model, "normalizer",
                     normalizer ? normalizer : json_null(), "pre_tokenizer",
                     pre_tokenizer ? pre_tokenizer : json_null());
}

static void write_json(const char *dir, const char *name, json_t *j) {
    char *text = json_dumps(j, JSON_INDENT(1));
    write_file(dir, name, text, strlen(text));
    free(text);
    json_decref(j);
}

/* SentencePiece-style files: a normalizer step qloop does not perform (Lowercase), or a
 * Metaspace replacement other than U+2581, used to be ignored and tokenize differently
 * from Hugging Face; they are refused. Llama 2's own normalizer still loads. */
static void test_spm_normalizer_qloop_lacks(void) {
    char d[PATH_MAX];
    if (!make_dir(d, sizeof d, NULL)) return;
    link_weights(d);
    json_t *prepend = json_pack("{s:s, s:s}", "type", "Prepend", "prepend", "\xe2\x96\x81");
    json_t *replace = json_pack("{s:s, s:{s:s}, s:s}", "type", "Replace", "pattern", "String", " ",
                                "content", "\xe2\x96\x81");
    write_json(d, "tokenizer.json",
               spm_tokenizer(json_pack("{s:s, s:[O, O]}", "type", "Sequence", "normalizers", prepend,
                                       replace),
                             NULL));
    ql_model *m = NULL;
    ql_error e = {0};
    CHECK_MSG(ql_model_load(d, NULL, &m, &e) == QL_OK, "%s", e.message);
    ql_model_free(m);
    write_json(d, "tokenizer.json",
               spm_tokenizer(json_pack("{s:s, s:[{s:s}, O, O]}", "type", "Sequence", "normalizers",
                                       "type", "Lowercase", prepend, replace),
                             NULL));
    expect_error(d, QL_ERR_UNSUPPORTED, "tokenizer.json", "Lowercase", NULL);
    write_json(d, "tokenizer.json",
               spm_tokenizer(json_pack("{s:s, s:s, s:{s:s}}", "type", "Replace", "content", "_",
                                       "pattern", "String", " "),
                             NULL));
    expect_error(d, QL_ERR_UNSUPPORTED, "tokenizer.json", "Replace", NULL);
    write_json(d, "tokenizer.json",
               spm_tokenizer(NULL, json_pack("{s:s, s:s}", "type", "Metaspace", "replacement", "_")));
    expect_error(d, QL_ERR_UNSUPPORTED, "tokenizer.json", "Metaspace", NULL);
    json_decref(prepend);
    json_decref(replace);
    hf_rmdir(d);
}

/* Llama 3's Split regex as its tokenizer.json spells it (one qloop knows). */
static const char k_llama3_regex[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
    "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/* Settings that change what a BPE file means and used to be ignored: a Split step that
 * removes or merges its matches instead of isolating them, and merge affixes. */
static void test_bpe_settings_qloop_lacks(void) {
    char d[PATH_MAX];
    if (!make_dir(d, sizeof d, NULL)) return;
    link_weights(d);
    json_t *pre = json_pack("{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b}]}", "type", "Sequence",
                            "pretokenizers", "type", "Split", "pattern", "Regex", k_llama3_regex,
                            "behavior", "Removed", "invert", 0, "type", "ByteLevel", "use_regex", 0);
    write_json(d, "tokenizer.json", spm_tokenizer(NULL, pre));
    expect_error(d, QL_ERR_UNSUPPORTED, "tokenizer.json", "Split", "Isolated", NULL);
    json_t *tok = spm_tokenizer(NULL, json_pack("{s:s}", "type", "Metaspace"));
    json_object_set_new(json_object_get(tok, "model"), "end_of_word_suffix", json_string("</w>"));
    write_json(d, "tokenizer.json", tok);
    expect_error(d, QL_ERR_UNSUPPORTED, "tokenizer.json", "end_of_word_suffix", NULL);
    hf_rmdir(d);
}

/* One added token with id 2^24 - 1 in a 16-token file used to cost ~1 GB of placeholder
 * tokens (and ~25 s under ASan) before the vocabulary size was checked against the
 * model; such ids are refused at once. */
static void test_sparse_token_ids(void) {
    char d[PATH_MAX];
    if (!make_dir(d, sizeof d, NULL)) return;
    link_weights(d);
    json_t *tok = spm_tokenizer(NULL, json_pack("{s:s}", "type", "Metaspace"));
    json_object_set_new(tok, "added_tokens",
                        json_pack("[{s:i, s:s, s:b}]", "id", (1 << 24) - 1, "content", "<|x|>",
                                  "special", 1));
    write_json(d, "tokenizer.json", tok);
    expect_error(d, QL_ERR_CORRUPT, "tokenizer.json", "16777215", NULL);
    hf_rmdir(d);
}

/* A FIFO in place of a folder file used to block the load forever (open and fopen wait
 * for a writer); each is refused as not a regular file. */
static void test_fifo_files(void) {
    static const char *const names[] = {"tokenizer.json", "config.json", "model.safetensors"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char d[PATH_MAX], path[PATH_MAX + 64];
        if (!hf_tmpdir(d, sizeof d)) return;
        char src[PATH_MAX + 64];
        for (size_t k = 1; k < 3; k++) { /* config.json and weights from the fixture */
            snprintf(src, sizeof src, "%s/%s", g_fixture, names[k]);
            snprintf(path, sizeof path, "%s/%s", d, names[k]);
            if (k != i) CHECK(symlink(src, path) == 0);
        }
        snprintf(path, sizeof path, "%s/%s", d, names[i]);
        CHECK(mkfifo(path, 0600) == 0);
        expect_error(d, i == 2 ? QL_ERR_IO : QL_ERR_CORRUPT, names[i], "not a regular file", NULL);
        hf_rmdir(d);
    }
}

/* The ids of "abc" (no special tokens) under the model at path. */
static size_t abc_ids(const char *path, int32_t *ids, size_t cap) {
    ql_model *m = NULL;
    ql_error e = {0};
    size_t n = 0;
    CHECK_MSG(ql_model_load(path, NULL, &m, &e) == QL_OK, "%s: %s", path, e.message);
    if (m) CHECK_MSG(ql_tokenize(m, "abc", 3, false, false, ids, cap, &n, &e) == QL_OK, "%s", e.message);
    ql_model_free(m);
    return n;
}

/* model.ignore_merges of a byte-level BPE file is the file's, not the pre-tokenizer's:
 * "abc" is a token that the merges ("a b" only) cannot build, so it is one id with
 * ignore_merges and two (ab, c) without. A GGUF conversion keeps the setting
 * (qloop.tokenizer.ignore_merges; GGUF has no key of its own for it). */
static void test_bpe_ignore_merges_from_the_file(void) {
    char d[PATH_MAX], gguf[PATH_MAX + 16];
    if (!make_dir(d, sizeof d, NULL)) return;
    link_weights(d);
    snprintf(gguf, sizeof gguf, "%s.gguf", d);
    for (int im = 0; im < 2; im++) {
        json_t *tok = json_pack(
            "{s:{s:s, s:{s:i, s:i, s:i, s:i, s:i}, s:[s], s:b}, s:n, s:{s:s, s:b, s:b}}",
            "model", "type", "BPE", "vocab", "a", 0, "b", 1, "c", 2, "ab", 3, "abc", 4, "merges",
            "a b", "ignore_merges", im, "normalizer", "pre_tokenizer", "type", "ByteLevel",
            "add_prefix_space", 0, "use_regex", 1);
        write_json(d, "tokenizer.json", tok);
        int32_t ids[8];
        size_t n = abc_ids(d, ids, 8);
        CHECK_MSG(im ? n == 1 && ids[0] == 4 : n == 2 && ids[0] == 3 && ids[1] == 2,
                  "ignore_merges %d: %zu ids, first %d", im, n, n ? ids[0] : -1);
        ql_error e = {0};
        CHECK_MSG(ql_convert(d, gguf, NULL, &e) == QL_OK, "%s", e.message);
        int32_t g[8];
        size_t ng = abc_ids(gguf, g, 8);
        CHECK_MSG(ng == n && memcmp(g, ids, n * sizeof *ids) == 0, "GGUF of ignore_merges %d: %zu ids",
                  im, ng);
        unlink(gguf);
    }
    hf_rmdir(d);
}

/* llama_mha has no tokenizer.json: it loads, and tokenizing says why it cannot. */
static void test_folder_without_tokenizer(void) {
    ql_model *m = NULL;
    ql_error e = {0};
    CHECK_MSG(ql_model_load(g_fixture, NULL, &m, &e) == QL_OK, "%s", e.message);
    if (!m) return;
    int32_t ids[8];
    size_t n = 0;
    CHECK(ql_tokenize(m, "hi", 2, true, true, ids, 8, &n, &e) != QL_OK);
    CHECK_MSG(strstr(e.message, "tokenizer"), "%s", e.message);
    ql_model_free(m);
}

int main(void) {
    ql_test_shared(g_fixture, sizeof g_fixture, "fixtures/hf/llama_mha");
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/model.safetensors", g_fixture);
    size_t len = 0;
    g_file = ql_test_read_file(path, &len);
    if (!g_file || len < 8) {
        fprintf(stderr, "%s: cannot read\n", path);
        return 1;
    }
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | (unsigned char)g_file[i];
    g_header = json_loadb(g_file + 8, (size_t)hl, 0, NULL);
    g_data = g_file + 8 + hl;
    g_data_len = len - 8 - (size_t)hl;
    if (!g_header) return 1;
    RUN(test_truncated_header);
    RUN(test_header_length_past_eof);
    RUN(test_corrupt_header_json);
    RUN(test_data_offsets_past_eof);
    RUN(test_offsets_disagree_with_shape);
    RUN(test_overflowing_shape);
    RUN(test_overlapping_tensors);
    RUN(test_unsupported_dtype_named);
    RUN(test_missing_tensor_named);
    RUN(test_tensor_the_forward_pass_lacks);
    RUN(test_shape_contradicting_config_named);
    RUN(test_unknown_model_type_named);
    RUN(test_missing_config_key_named);
    RUN(test_config_float_out_of_range);
    RUN(test_corrupt_config_json);
    RUN(test_no_weights);
    RUN(test_sharded_index_loads);
    RUN(test_spm_normalizer_qloop_lacks);
    RUN(test_bpe_settings_qloop_lacks);
    RUN(test_sparse_token_ids);
    RUN(test_fifo_files);
    RUN(test_folder_without_tokenizer);
    RUN(test_bpe_ignore_merges_from_the_file);
    json_decref(g_header);
    free(g_file);
    return TEST_REPORT();
}
