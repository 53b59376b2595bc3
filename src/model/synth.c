/*
 * src/model/synth.c: ql_synth(), synthetic benchmark models with a real model's shapes and
 * metadata and seeded random weights (contract: include/qloop.h).
 *
 * Each model is a table row of public hyperparameters (the models' config.json facts)
 * and the tensor layout llama.cpp's converter writes for them, so that other GGUF readers
 * see an ordinary file:
 *   - Llama 3.x: llama3 RoPE scaling is stored as llama.cpp stores it, a `rope_freqs.weight`
 *     tensor of head_dim / 2 frequency divisors (Meta's formula: divisor 1 for wavelengths
 *     below orig_ctx / high_freq_factor, `factor` above orig_ctx / low_freq_factor, a
 *     smooth blend between). There is no `llama.rope.scaling.*` key in such files.
 *   - Tied embeddings (Llama 3.2 1B, Qwen2.5 0.5B): no `output.weight` tensor.
 *   - Qwen2: q/k/v biases.
 *
 * Weights are generated a chunk of rows at a time, each row from its own seed
 * (seed, tensor, row), quantized on the pool by the quantizer's row functions and streamed
 * to the writer, so memory stays small and the bytes do not depend on the thread count.
 * Round-to-nearest scales are used: the error search buys nothing on random weights.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "model/gguf.h"
#include "model/gguf_write.h"
#include "qloop.h"
#include "quant/quantize.h"
#include "quant/recipe.h"
#include "quant/types.h"
#include "runtime/error.h"
#include "runtime/pool.h"

#define CHUNK_FLOATS ((int64_t)1 << 22)
#define WEIGHT_STD 0.02f

typedef struct synth_model {
    const char *like, *arch, *name;
    int n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx;
    float rope_base, rms_eps;
    float rope_factor; /* llama3 scaling; 0 = none */
    float low_freq_factor, high_freq_factor;
    int rope_orig_ctx;
    bool tied, qkv_bias;
    const char *tok_pre;
    int first_special, bos, eos;
    bool add_bos;
} synth_model;

static const synth_model k_models[] = {
    {.like = "llama-3.2-1b", .arch = "llama", .name = "Llama 3.2 1B (synthetic)",
     .n_embd = 2048, .n_layer = 16, .n_head = 32, .n_head_kv = 8, .head_dim = 64,
     .n_ff = 8192, .n_vocab = 128256, .n_ctx = 131072, .rope_base = 500000.0f,
     .rms_eps = 1e-5f, .rope_factor = 32.0f, .low_freq_factor = 1.0f,
     .high_freq_factor = 4.0f, .rope_orig_ctx = 8192, .tied = true, .qkv_bias = false,
     .tok_pre = "llama-bpe", .first_special = 128000, .bos = 128000, .eos = 128001,
     .add_bos = true},
    {.like = "qwen2.5-0.5b", .arch = "qwen2", .name = "Qwen2.5 0.5B (synthetic)",
     .n_embd = 896, .n_layer = 24, .n_head = 14, .n_head_kv = 2, .head_dim = 64,
     .n_ff = 4864, .n_vocab = 151936, .n_ctx = 32768, .rope_base = 1000000.0f,
     .rms_eps = 1e-6f, .tied = true, .qkv_bias = true, .tok_pre = "qwen2",
     .first_special = 151643, .bos = 151643, .eos = 151643, .add_bos = false},
    {.like = "llama-3.1-8b", .arch = "llama", .name = "Llama 3.1 8B (synthetic)",
     .n_embd = 4096, .n_layer = 32, .n_head = 32, .n_head_kv = 8, .head_dim = 128,
     .n_ff = 14336, .n_vocab = 128256, .n_ctx = 131072, .rope_base = 500000.0f,
     .rms_eps = 1e-5f, .rope_factor = 8.0f, .low_freq_factor = 1.0f,
     .high_freq_factor = 4.0f, .rope_orig_ctx = 8192, .tied = false, .qkv_bias = false,
     .tok_pre = "llama-bpe", .first_special = 128000, .bos = 128000, .eos = 128001,
     .add_bos = true},
    /* not a real model: a 2-layer Llama 3 shape for tests (tied, llama3 RoPE, GQA) */
    {.like = "llama-tiny", .arch = "llama", .name = "tiny Llama (synthetic, tests)",
     .n_embd = 64, .n_layer = 2, .n_head = 4, .n_head_kv = 2, .head_dim = 16, .n_ff = 256,
     .n_vocab = 1024, .n_ctx = 1024, .rope_base = 500000.0f, .rms_eps = 1e-5f,
     .rope_factor = 8.0f, .low_freq_factor = 1.0f, .high_freq_factor = 4.0f,
     .rope_orig_ctx = 64, .tied = true, .qkv_bias = false, .tok_pre = "llama-bpe",
     .first_special = 1000, .bos = 1000, .eos = 1001, .add_bos = true},
    /* not a real model either: 256 wide, so that every matrix has whole 256-element
     * super-blocks and 16-row groups (the grouped layout's tests) */
    {.like = "llama-small", .arch = "llama", .name = "small Llama (synthetic, tests)",
     .n_embd = 256, .n_layer = 2, .n_head = 4, .n_head_kv = 2, .head_dim = 64, .n_ff = 512,
     .n_vocab = 1024, .n_ctx = 1024, .rope_base = 500000.0f, .rms_eps = 1e-5f,
     .rope_factor = 8.0f, .low_freq_factor = 1.0f, .high_freq_factor = 4.0f,
     .rope_orig_ctx = 64, .tied = true, .qkv_bias = false, .tok_pre = "llama-bpe",
     .first_special = 1000, .bos = 1000, .eos = 1001, .add_bos = true},
};

ql_synth_params ql_synth_params_default(void) {
    ql_synth_params p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.type = "f16";
    return p;
}

const char *ql_synth_names(void) { return "llama-3.2-1b|qwen2.5-0.5b|llama-3.1-8b"; }

/* ---- tensors ----------------------------------------------------------------------- */

typedef enum fill_kind { FILL_MATRIX, FILL_NORM, FILL_BIAS, FILL_ROPE_FREQS } fill_kind;

typedef struct synth_tensor {
    char name[64];
    uint32_t n_dims;
    int64_t ne[2];
    fill_kind fill;
    uint32_t type;
} synth_tensor;

typedef struct tensor_list {
    synth_tensor *t;
    int n, cap;
} tensor_list;

static bool add(tensor_list *l, fill_kind fill, int64_t ne0, int64_t ne1, const char *fmt,
                int layer) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        synth_tensor *t = realloc(l->t, (size_t)cap * sizeof *t);
        if (!t) return false;
        l->t = t;
        l->cap = cap;
    }
    synth_tensor *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, fmt, layer);
    t->n_dims = ne1 > 0 ? 2 : 1;
    t->ne[0] = ne0;
    t->ne[1] = ne1 > 0 ? ne1 : 1;
    t->fill = fill;
    return true;
}

/* llama.cpp's tensor names and shapes (ne[0] = input length). */
static bool build_tensors(const synth_model *m, tensor_list *l) {
    int64_t d = m->n_embd, q = (int64_t)m->n_head * m->head_dim,
            kv = (int64_t)m->n_head_kv * m->head_dim;
    bool ok = add(l, FILL_MATRIX, d, m->n_vocab, "token_embd.weight", 0) &&
              add(l, FILL_NORM, d, 0, "output_norm.weight", 0);
    if (ok && !m->tied) ok = add(l, FILL_MATRIX, d, m->n_vocab, "output.weight", 0);
    if (ok && m->rope_factor > 0) ok = add(l, FILL_ROPE_FREQS, m->head_dim / 2, 0,
                                           "rope_freqs.weight", 0);
    for (int i = 0; ok && i < m->n_layer; i++) {
        ok = add(l, FILL_NORM, d, 0, "blk.%d.attn_norm.weight", i) &&
             add(l, FILL_MATRIX, d, q, "blk.%d.attn_q.weight", i) &&
             add(l, FILL_MATRIX, d, kv, "blk.%d.attn_k.weight", i) &&
             add(l, FILL_MATRIX, d, kv, "blk.%d.attn_v.weight", i);
        if (ok && m->qkv_bias)
            ok = add(l, FILL_BIAS, q, 0, "blk.%d.attn_q.bias", i) &&
                 add(l, FILL_BIAS, kv, 0, "blk.%d.attn_k.bias", i) &&
                 add(l, FILL_BIAS, kv, 0, "blk.%d.attn_v.bias", i);
        ok = ok && add(l, FILL_MATRIX, q, d, "blk.%d.attn_output.weight", i) &&
             add(l, FILL_NORM, d, 0, "blk.%d.ffn_norm.weight", i) &&
             add(l, FILL_MATRIX, d, m->n_ff, "blk.%d.ffn_gate.weight", i) &&
             add(l, FILL_MATRIX, d, m->n_ff, "blk.%d.ffn_up.weight", i) &&
             add(l, FILL_MATRIX, m->n_ff, d, "blk.%d.ffn_down.weight", i);
    }
    return ok;
}

/* ---- random numbers: splitmix64 per row, Box-Muller normals ----------------------------- */

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* n values mean + std * N(0, 1), from the stream seeded by `seed`. */
static void normal_row(uint64_t seed, float mean, float std, float *x, int64_t n) {
    uint64_t s = seed;
    for (int64_t i = 0; i < n; i += 2) {
        uint64_t r = splitmix64(&s);
        /* two 32-bit uniforms in (0, 1] and [0, 1) */
        double u1 = ((double)(r >> 32) + 1.0) * (1.0 / 4294967296.0);
        double u2 = (double)(uint32_t)r * (1.0 / 4294967296.0);
        double rad = sqrt(-2.0 * log(u1)), a = 6.283185307179586 * u2;
        x[i] = mean + std * (float)(rad * cos(a));
        if (i + 1 < n) x[i + 1] = mean + std * (float)(rad * sin(a));
    }
}

/* Llama 3 frequency divisors for rope_freqs.weight (one per rotated pair). */
static void rope_freqs(const synth_model *m, float *out) {
    int half = m->head_dim / 2;
    double lo_wl = m->rope_orig_ctx / m->low_freq_factor;
    double hi_wl = m->rope_orig_ctx / m->high_freq_factor;
    for (int i = 0; i < half; i++) {
        double freq = pow(m->rope_base, -2.0 * i / m->head_dim);
        double wl = 2.0 * 3.141592653589793 / freq;
        double div;
        if (wl < hi_wl) {
            div = 1.0;
        } else if (wl > lo_wl) {
            div = m->rope_factor;
        } else {
            double smooth = (m->rope_orig_ctx / wl - m->low_freq_factor) /
                            (m->high_freq_factor - m->low_freq_factor);
            div = 1.0 / ((1.0 - smooth) / m->rope_factor + smooth);
        }
        out[i] = (float)div;
    }
}

/* ---- tokenizer ------------------------------------------------------------------------- */

/* GPT-2's byte-level alphabet: printable bytes stand for themselves, the other 68 bytes
 * for U+0100 + their rank. Writes the UTF-8 of byte b's symbol; returns its length. */
static int byte_symbol(int b, char *out) {
    int cp = b, rank = 0;
    bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    if (!printable) {
        for (int c = 0; c < b; c++)
            if (!((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174)) rank++;
        cp = 256 + rank;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

typedef struct strings {
    char **s;
    uint64_t n;
} strings;

static void strings_free(strings *v) {
    for (uint64_t i = 0; v->s && i < v->n; i++) free(v->s[i]);
    free(v->s);
}

/*
 * A byte-level BPE vocabulary of m->n_vocab tokens: the 256 byte symbols, then every
 * string over {space, a..z} of length 2, 3, ... in order until first_special tokens exist
 * (each merges its prefix with its last symbol, so the merge list is a valid BPE
 * derivation), then control tokens up to n_vocab (bos/eos named as the real ones).
 */
static ql_status gen_vocab(const synth_model *m, strings *tok, strings *merges, int32_t **types,
                           ql_error *err) {
    static const char alpha[] = " abcdefghijklmnopqrstuvwxyz";
    enum { NA = sizeof alpha - 1 };
    uint64_t n = (uint64_t)m->n_vocab;
    tok->s = calloc(n, sizeof *tok->s);
    merges->s = calloc(n, sizeof *merges->s);
    *types = malloc(n * sizeof **types);
    if (!tok->s || !merges->s || !*types) return ql_fail(err, QL_ERR_NOMEM, "synth: out of memory");
    char sym[NA][3];
    for (int a = 0; a < NA; a++) sym[a][byte_symbol(alpha[a], sym[a])] = '\0';
    for (int b = 0; b < 256; b++) {
        char s[3];
        s[byte_symbol(b, s)] = '\0';
        if (!(tok->s[tok->n++] = strdup(s))) return ql_fail(err, QL_ERR_NOMEM, "synth: oom");
    }
    /* strings of length L as base-NA numbers 0 .. NA^L - 1 */
    for (int len = 2; tok->n < (uint64_t)m->first_special; len++) {
        uint64_t count = 1;
        for (int i = 0; i < len; i++) count *= NA;
        for (uint64_t v = 0; v < count && tok->n < (uint64_t)m->first_special; v++) {
            char s[64], pre[64];
            size_t o = 0;
            uint64_t x = v;
            int digit[16];
            for (int i = len - 1; i >= 0; i--, x /= NA) digit[i] = (int)(x % NA);
            for (int i = 0; i < len; i++) {
                size_t sl = strlen(sym[digit[i]]);
                memcpy(s + o, sym[digit[i]], sl);
                o += sl;
                if (i == len - 2) {
                    memcpy(pre, s, o);
                    pre[o] = '\0';
                }
            }
            s[o] = '\0';
            char mg[80];
            snprintf(mg, sizeof mg, "%s %s", pre, sym[digit[len - 1]]);
            if (!(tok->s[tok->n++] = strdup(s)) || !(merges->s[merges->n++] = strdup(mg)))
                return ql_fail(err, QL_ERR_NOMEM, "synth: out of memory");
        }
    }
    bool llama = strcmp(m->arch, "llama") == 0;
    for (uint64_t i = tok->n; i < n; i++) {
        char s[64];
        if ((int)i == m->bos) snprintf(s, sizeof s, llama ? "<|begin_of_text|>" : "<|endoftext|>");
        else if ((int)i == m->eos) snprintf(s, sizeof s, "<|end_of_text|>");
        else snprintf(s, sizeof s, "<|reserved_special_token_%llu|>",
                      (unsigned long long)(i - (uint64_t)m->first_special));
        if (!(tok->s[tok->n++] = strdup(s))) return ql_fail(err, QL_ERR_NOMEM, "synth: oom");
    }
    for (uint64_t i = 0; i < n; i++) (*types)[i] = i < (uint64_t)m->first_special ? 1 : 3;
    return ql_ok(err);
}

static ql_status set_generated_vocab(ql_gguf_writer *w, const synth_model *m, ql_error *err) {
    strings tok = {0}, merges = {0};
    int32_t *types = NULL;
    ql_status st = gen_vocab(m, &tok, &merges, &types, err);
    if (!st) st = ql_gguf_set_str(w, "tokenizer.ggml.model", "gpt2", err);
    if (!st) st = ql_gguf_set_str(w, "tokenizer.ggml.pre", m->tok_pre, err);
    if (!st) st = ql_gguf_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok.s,
                                      tok.n, err);
    if (!st) st = ql_gguf_set_arr(w, "tokenizer.ggml.token_type", QL_GGUF_INT32, types, tok.n, err);
    if (!st) st = ql_gguf_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)merges.s,
                                      merges.n, err);
    if (!st) st = ql_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)m->bos, err);
    if (!st) st = ql_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)m->eos, err);
    if (!st) st = ql_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", m->add_bos, err);
    strings_free(&tok);
    strings_free(&merges);
    free(types);
    return st;
}

/* Copies every tokenizer.* key of `path`; tokens (and their types and scores) are padded
 * with "[PAD<i>]" user-defined tokens up to the model's vocabulary, as converters do. */
static ql_status copy_vocab(ql_gguf_writer *w, const synth_model *m, const char *path,
                            ql_error *err) {
    ql_gguf *g = NULL;
    ql_status st = ql_gguf_open(path, &g, err);
    if (st) return st;
    const ql_gguf_array *toks = NULL;
    st = ql_gguf_get_arr(g, "tokenizer.ggml.tokens", QL_GGUF_STRING, &toks, err);
    if (!st && toks->n > (uint64_t)m->n_vocab)
        st = ql_fail(err, QL_ERR_ARG, "%s: %llu tokens, more than %s's %d", path,
                     (unsigned long long)toks->n, m->like, m->n_vocab);
    uint64_t have = st ? 0 : toks->n, pad = (uint64_t)m->n_vocab - have;
    for (uint64_t i = 0; !st && i < ql_gguf_n_kv(g); i++) {
        const ql_gguf_kv *kv = ql_gguf_kv_at(g, i);
        if (kv->key.len < 10 || memcmp(kv->key.ptr, "tokenizer.", 10) != 0) continue;
        const ql_gguf_value *v = &kv->value;
        bool per_token = v->type == QL_GGUF_ARRAY && v->v.arr.n == have && pad > 0 &&
                         (ql_str_eq(kv->key, "tokenizer.ggml.tokens") ||
                          ql_str_eq(kv->key, "tokenizer.ggml.token_type") ||
                          ql_str_eq(kv->key, "tokenizer.ggml.scores"));
        if (!per_token) {
            st = ql_gguf_set_value(w, kv->key, v, err);
            continue;
        }
        ql_gguf_buf b = {0};
        ql_gguf_type et = v->v.arr.elem_type;
        ql_gguf_buf_arr(&b, et, (uint64_t)m->n_vocab);
        for (uint64_t j = 0; j < have; j++) {
            ql_gguf_value e;
            ql_gguf_arr_get(&v->v.arr, j, &e);
            if (et == QL_GGUF_STRING) ql_gguf_buf_str(&b, e.v.str.ptr, e.v.str.len);
            else ql_gguf_buf_bytes(&b, v->v.arr.data + j * ql_gguf_type_size(et),
                                   (size_t)ql_gguf_type_size(et));
        }
        for (uint64_t j = have; j < (uint64_t)m->n_vocab; j++) {
            char s[32];
            int32_t user_defined = 4;
            float zero = 0.0f;
            snprintf(s, sizeof s, "[PAD%llu]", (unsigned long long)j);
            if (et == QL_GGUF_STRING) ql_gguf_buf_str(&b, s, strlen(s));
            else if (et == QL_GGUF_INT32) ql_gguf_buf_bytes(&b, &user_defined, 4);
            else if (et == QL_GGUF_FLOAT32) ql_gguf_buf_bytes(&b, &zero, 4);
            else st = ql_fail(err, QL_ERR_UNSUPPORTED, "%s: cannot pad %.*s", path,
                              (int)kv->key.len, kv->key.ptr);
        }
        if (b.oom) st = ql_fail(err, QL_ERR_NOMEM, "synth: out of memory");
        if (!st) {
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
            st = ql_gguf_set_encoded(w, key, QL_GGUF_ARRAY, b.p, b.len, err);
        }
        ql_gguf_buf_free(&b);
    }
    ql_gguf_close(g);
    return st;
}

/* ---- metadata ---------------------------------------------------------------------------- */

static ql_status set_hparams(ql_gguf_writer *w, const synth_model *m, const ql_recipe *r,
                             uint64_t seed, ql_error *err) {
    char key[96];
    ql_status st = QL_OK;
#define ARCH_U32(suffix, v)                                                                  \
    if (!st) {                                                                               \
        snprintf(key, sizeof key, "%s." suffix, m->arch);                                    \
        st = ql_gguf_set_u32(w, key, (uint32_t)(v), err);                                    \
    }
#define ARCH_F32(suffix, v)                                                                  \
    if (!st) {                                                                               \
        snprintf(key, sizeof key, "%s." suffix, m->arch);                                    \
        st = ql_gguf_set_f32(w, key, (v), err);                                              \
    }
    st = ql_gguf_set_str(w, "general.architecture", m->arch, err);
    if (!st) st = ql_gguf_set_str(w, "general.type", "model", err);
    if (!st) st = ql_gguf_set_str(w, "general.name", m->name, err);
    if (!st) st = ql_gguf_set_u32(w, "general.file_type", r->file_type, err);
    if (!st) st = ql_gguf_set_u32(w, "general.quantization_version", 2, err);
    ARCH_U32("block_count", m->n_layer)
    ARCH_U32("context_length", m->n_ctx)
    ARCH_U32("embedding_length", m->n_embd)
    ARCH_U32("feed_forward_length", m->n_ff)
    ARCH_U32("attention.head_count", m->n_head)
    ARCH_U32("attention.head_count_kv", m->n_head_kv)
    ARCH_F32("rope.freq_base", m->rope_base)
    ARCH_F32("attention.layer_norm_rms_epsilon", m->rms_eps)
    if (!strcmp(m->arch, "llama")) {
        ARCH_U32("attention.key_length", m->head_dim)
        ARCH_U32("attention.value_length", m->head_dim)
        ARCH_U32("rope.dimension_count", m->head_dim)
        ARCH_U32("vocab_size", m->n_vocab)
    }
#undef ARCH_U32
#undef ARCH_F32
    if (!st) st = ql_gguf_set_str(w, "qloop.synth.like", m->like, err);
    if (!st) st = ql_gguf_set_str(w, "qloop.synth.type", r->name, err);
    if (!st) st = ql_gguf_set_u64(w, "qloop.synth.seed", seed, err);
    return st;
}

/* ---- data ------------------------------------------------------------------------------- */

typedef struct fill_job {
    const synth_model *m;
    const synth_tensor *t;
    uint64_t tensor_seed;
    int64_t row0;     /* first row of this chunk */
    float *x;         /* chunk rows as float */
    uint8_t *q;       /* chunk rows in the stored type */
    uint64_t row_bytes;
} fill_job;

static void fill_task(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const fill_job *j = ctx;
    int64_t k = j->t->ne[0];
    for (int64_t r = begin; r < end; r++) {
        uint64_t s = j->tensor_seed ^ ((uint64_t)(j->row0 + r) * 0xd1b54a32d192ed03ull);
        float *x = j->x + r * k;
        switch (j->t->fill) {
        case FILL_MATRIX: normal_row(s, 0.0f, WEIGHT_STD, x, k); break;
        case FILL_BIAS: normal_row(s, 0.0f, WEIGHT_STD, x, k); break;
        case FILL_NORM: normal_row(s, 1.0f, WEIGHT_STD, x, k); break;
        case FILL_ROPE_FREQS: rope_freqs(j->m, x); break;
        }
    }
    if (j->t->type != QL_TYPE_F32)
        ql_quantize_rows(j->t->type, j->x + begin * k, j->q + (uint64_t)begin * j->row_bytes,
                         end - begin, k, NULL, QL_QUANT_RTN);
}

typedef struct srun {
    const ql_synth_params *p;
    const synth_model *m;
    const ql_recipe *r;
    tensor_list l;
    ql_gguf_writer *w;
    ql_pool *pool;
    float *x;
    uint8_t *q;
    double t0;
} srun;

static ql_status write_tensor(srun *s, int i, ql_quantize_progress *pr, ql_error *err) {
    const synth_tensor *t = &s->l.t[i];
    int64_t k = t->ne[0], rows = t->ne[1];
    int64_t chunk = CHUNK_FLOATS / k > 0 ? CHUNK_FLOATS / k : 1;
    uint64_t rb;
    ql_type_row_bytes(t->type, (uint64_t)k, &rb);
    XXH3_state_t *h = XXH3_createState();
    if (!h) return ql_fail(err, QL_ERR_NOMEM, "synth: out of memory");
    XXH3_64bits_reset(h);
    fill_job j = {s->m, t, 0, 0, s->x, s->q, rb};
    uint64_t ts = s->p->seed ^ 0x5eed5eed5eedull;
    for (const char *c = t->name; *c; c++) ts = (ts ^ (uint8_t)*c) * 0x100000001b3ull;
    j.tensor_seed = splitmix64(&ts);
    ql_status st = QL_OK;
    for (int64_t r0 = 0; !st && r0 < rows; r0 += chunk) {
        int64_t nr = rows - r0 < chunk ? rows - r0 : chunk;
        j.row0 = r0;
        ql_pool_for(s->pool, nr, 1, 1, fill_task, &j);
        const void *data = t->type == QL_TYPE_F32 ? (const void *)s->x : (const void *)s->q;
        size_t nb = (size_t)((uint64_t)nr * rb);
        st = ql_gguf_write_data(s->w, data, nb, err);
        XXH3_64bits_update(h, data, nb);
    }
    char key[96];
    snprintf(key, sizeof key, "qloop.checksum.%s", t->name);
    if (!st) st = ql_gguf_writer_patch_u64(s->w, key, XXH3_64bits_digest(h), err);
    XXH3_freeState(h);
    const ql_type_traits *tt = ql_type_get(t->type);
    uint64_t bytes = (uint64_t)rows * rb;
    pr->index = (uint64_t)i;
    pr->name = t->name;
    pr->type_name = tt ? tt->name : "?";
    pr->src_type_name = "f32";
    pr->n_dims = t->n_dims;
    pr->ne[0] = t->ne[0], pr->ne[1] = t->ne[1], pr->ne[2] = pr->ne[3] = 1;
    pr->bytes_in = (uint64_t)(k * rows) * 4;
    pr->bytes_out = bytes;
    pr->done_in += pr->bytes_in;
    pr->seconds = ql_time_seconds() - s->t0;
    if (!st && s->p->progress) s->p->progress(pr, s->p->progress_user);
    return st;
}

static ql_status run(srun *s, const char *out, ql_error *err) {
    ql_status st;
    int nt = s->p->n_threads > 0 ? s->p->n_threads : ql_physical_cores();
    if (!build_tensors(s->m, &s->l)) return ql_fail(err, QL_ERR_NOMEM, "synth: out of memory");
    if ((st = ql_pool_new(nt, &s->pool, err)) || (st = ql_gguf_writer_new(&s->w, err)) ||
        (st = set_hparams(s->w, s->m, s->r, s->p->seed, err)))
        return st;
    st = s->p->vocab ? copy_vocab(s->w, s->m, s->p->vocab, err)
                     : set_generated_vocab(s->w, s->m, err);
    if (st) return st;
    ql_recipe_model rm = {s->m->n_layer, !s->m->tied};
    size_t most = 0;
    ql_quantize_progress pr;
    memset(&pr, 0, sizeof pr);
    pr.count = (uint64_t)s->l.n;
    for (int i = 0; !st && i < s->l.n; i++) {
        synth_tensor *t = &s->l.t[i];
        t->type = t->fill == FILL_MATRIX
                      ? ql_recipe_tensor_type(s->r, &rm, t->name, t->n_dims, t->ne)
                      : QL_TYPE_F32;
        int64_t ne[2] = {t->ne[0], t->ne[1]};
        char key[96];
        snprintf(key, sizeof key, "qloop.checksum.%s", t->name);
        st = ql_gguf_add_tensor(s->w, t->name, t->type, t->n_dims, ne, err);
        if (!st) st = ql_gguf_set_u64(s->w, key, 0, err);
        uint64_t rb;
        ql_type_row_bytes(t->type, (uint64_t)t->ne[0], &rb);
        int64_t chunk = CHUNK_FLOATS / t->ne[0] > 0 ? CHUNK_FLOATS / t->ne[0] : 1;
        if ((size_t)(chunk * (int64_t)rb) > most) most = (size_t)(chunk * (int64_t)rb);
        pr.total_in += (uint64_t)(t->ne[0] * t->ne[1]) * 4;
    }
    if (st) return st;
    s->x = malloc((size_t)CHUNK_FLOATS * sizeof(float) + 64 * sizeof(float));
    s->q = malloc(most);
    if (!s->x || !s->q) return ql_fail(err, QL_ERR_NOMEM, "synth: out of memory");
    if ((st = ql_gguf_writer_begin(s->w, out, err))) return st;
    for (int i = 0; !st && i < s->l.n; i++) st = write_tensor(s, i, &pr, err);
    return st ? st : ql_gguf_writer_finish(s->w, err);
}

ql_status ql_synth(const char *out, const ql_synth_params *params, ql_error *err) {
    ql_synth_params def = ql_synth_params_default();
    const ql_synth_params *p = params ? params : &def;
    if (!out || !p->like) return ql_fail(err, QL_ERR_ARG, "synth: output and model are required");
    if (p->struct_size != sizeof *p)
        return ql_fail(err, QL_ERR_ARG, "synth: params struct_size %u, expected %zu",
                       p->struct_size, sizeof *p);
    srun s;
    memset(&s, 0, sizeof s);
    s.p = p;
    for (size_t i = 0; i < sizeof k_models / sizeof k_models[0]; i++)
        if (!strcmp(k_models[i].like, p->like)) s.m = &k_models[i];
    if (!s.m)
        return ql_fail(err, QL_ERR_ARG, "synth: unknown model '%s' (one of %s)", p->like,
                       ql_synth_names());
    s.r = ql_recipe_find(p->type ? p->type : "f16");
    if (!s.r)
        return ql_fail(err, QL_ERR_ARG, "synth: unknown type '%s' (one of %s)", p->type,
                       ql_recipe_names());
    s.t0 = ql_time_seconds();
    ql_status st = run(&s, out, err);
    ql_gguf_writer_free(s.w); /* removes <out>.tmp unless finished */
    ql_pool_free(s.pool);
    free(s.l.t);
    free(s.x);
    free(s.q);
    return st;
}
