/*
 * src/model/convert.c: Hugging Face folder -> GGUF (`qloop convert`, ql_convert in
 * include/qloop.h; the folder-as-GGUF view in convert.h).
 *
 * The folder is loaded as a model first (hf.c: config.json checked, every tensor's shape
 * checked, the tokenizer built), so conversion only renames, reorders and re-types what
 * the loader already accepted. Names and keys are llama.cpp's, so that its loader and
 * qloop's read the same file:
 *   model_type llama, mistral, mixtral -> general.architecture "llama" (Mixtral with the
 *   expert keys), qwen2 -> "qwen2", qwen3 -> "qwen3", qwen2_moe -> "qwen2moe".
 * What GGUF has no key for goes under qloop.* (llama3's low/high_freq_factor); llama3
 * also gets llama.cpp's rope_freqs.weight (per-pair divisors of the frequencies).
 *
 * Stored types: 1-D tensors (norms, biases, rope_freqs) and MoE routers are F32; the
 * other matrices take the requested type, or keep their safetensors dtype when none is
 * requested (lossless: f32 stays f32, bf16 stays bf16).
 */
#include "model/convert.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "model/model.h"
#include "quant/quantize.h"
#include "quant/types.h"
#include "runtime/error.h"
#include "text/tok_export.h"

#define CHUNK_BYTES ((int64_t)1 << 24) /* rows converted per write step, about 16 MiB */

struct ql_hf_gguf {
    ql_model *m;
    const char *arch;  /* general.architecture */
    bool permute;      /* llama: Q/K rows to the interleaved RoPE order */
    ql_hf_gguf_tensor *t;
    uint64_t n, cap;
};

/* ---- model_type -> GGUF architecture -------------------------------------------------- */

static const struct {
    const char *model_type, *arch;
    bool permute;
} k_archs[] = {
    {"llama", "llama", true},   {"mistral", "llama", true}, {"mixtral", "llama", true},
    {"qwen2", "qwen2", false},  {"qwen3", "qwen3", false},  {"qwen2_moe", "qwen2moe", false},
};

/* Per-layer tensors in the order llama.cpp's converter emits them. */
static const char *const k_layer_tensors[] = {
    "attn_norm.weight",     "attn_q.weight",          "attn_q.bias",
    "attn_k.weight",        "attn_k.bias",            "attn_v.weight",
    "attn_v.bias",          "attn_output.weight",     "attn_q_norm.weight",
    "attn_k_norm.weight",   "ffn_norm.weight",        "ffn_gate.weight",
    "ffn_up.weight",        "ffn_down.weight",        "ffn_gate_inp.weight",
    "ffn_gate_exps.weight", "ffn_up_exps.weight",     "ffn_down_exps.weight",
    "ffn_gate_inp_shexp.weight", "ffn_gate_shexp.weight", "ffn_up_shexp.weight",
    "ffn_down_shexp.weight",
};

/* ---- planning ----------------------------------------------------------------------- */

static uint64_t elem_bytes(uint32_t type) {
    uint64_t b = 0;
    ql_type_row_bytes(type, 1, &b);
    return b;
}

static ql_hf_gguf_tensor *push(ql_hf_gguf *c, ql_error *err) {
    if (c->n == c->cap) {
        uint64_t cap = c->cap ? 2 * c->cap : 64;
        ql_hf_gguf_tensor *t = realloc(c->t, cap * sizeof *t);
        if (!t) {
            ql_fail(err, QL_ERR_NOMEM, "convert: out of memory");
            return NULL;
        }
        c->t = t;
        c->cap = cap;
    }
    ql_hf_gguf_tensor *t = &c->t[c->n++];
    memset(t, 0, sizeof *t);
    return t;
}

static void finish_sizes(ql_hf_gguf_tensor *t) {
    t->n_elements = 1;
    for (int d = 0; d < 4; d++) t->n_elements *= (uint64_t)t->ne[d];
    t->nbytes = t->n_elements * elem_bytes(t->type);
}

/* Adds GGUF tensor `name` if the folder has it; `merged` stacks the expert slices. */
static ql_status plan(ql_hf_gguf *c, const char *name, bool merged, int32_t perm_heads,
                      ql_error *err) {
    const ql_model *m = c->m;
    int32_t n_exp = merged ? m->hp.n_expert : 0;
    ql_tensor_view v;
    if (!m->src.find(m->src.ctx, name, merged ? 0 : -1, &v)) return QL_OK;
    if (v.type != QL_TYPE_F32 && v.type != QL_TYPE_F16 && v.type != QL_TYPE_BF16)
        return ql_fail(err, QL_ERR_UNSUPPORTED, "%s: tensor '%s' has a type convert cannot read",
                       m->path, name);
    ql_hf_gguf_tensor *t = push(c, err);
    if (!t) return QL_ERR_NOMEM;
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->src, sizeof t->src, "%s", name);
    t->type = v.type;
    t->n_dims = v.n_dims;
    memcpy(t->ne, v.ne, sizeof t->ne);
    t->n_expert = n_exp;
    t->perm_heads = perm_heads;
    t->parts = calloc(n_exp > 0 ? (size_t)n_exp : 1, sizeof *t->parts);
    if (!t->parts) return ql_fail(err, QL_ERR_NOMEM, "convert: out of memory");
    t->parts[0] = v.data;
    if (n_exp > 0) {
        if (v.n_dims != 2)
            return ql_fail(err, QL_ERR_CORRUPT, "%s: expert tensor '%s' is not a matrix", m->path, name);
        for (int32_t e = 1; e < n_exp; e++) {
            ql_tensor_view x;
            if (!m->src.find(m->src.ctx, name, e, &x))
                return ql_fail(err, QL_ERR_NOT_FOUND, "%s: tensor '%s' lacks expert %d", m->path,
                               name, e);
            if (x.type != v.type || x.ne[0] != v.ne[0] || x.ne[1] != v.ne[1])
                return ql_fail(err, QL_ERR_CORRUPT,
                               "%s: expert %d of '%s' differs in type or shape from expert 0",
                               m->path, e, name);
            t->parts[e] = x.data;
        }
        t->n_dims = 3;
        t->ne[2] = n_exp;
    }
    if (perm_heads > 0) {
        int64_t len = t->n_dims == 1 ? t->ne[0] : t->ne[1]; /* rows, or bias elements */
        int64_t d = len / perm_heads;
        if (len % perm_heads || d % 2 || d != m->hp.head_dim)
            return ql_fail(err, QL_ERR_CORRUPT, "%s: '%s' has %lld rows, not %d heads of %d",
                           m->path, name, (long long)len, perm_heads, m->hp.head_dim);
    }
    finish_sizes(t);
    if (n_exp == 0 && perm_heads == 0) t->direct = v.data;
    return QL_OK;
}

/* llama3's per-pair divisors of the RoPE frequencies, as llama.cpp's rope_freqs.weight
 * (shared/spec/rope-scaling.md 2.4): 1 above the high-frequency wavelength, `factor` below
 * the low one, 1 / ((1 - s) / factor + s) in between. */
static ql_status plan_rope_freqs(ql_hf_gguf *c, ql_error *err) {
    const ql_hparams *hp = &c->m->hp;
    const ql_rope_params *r = &hp->rope;
    int64_t n = hp->n_rot / 2;
    ql_hf_gguf_tensor *t = push(c, err);
    if (!t) return QL_ERR_NOMEM;
    snprintf(t->name, sizeof t->name, "rope_freqs.weight");
    t->type = QL_TYPE_F32;
    t->n_dims = 1;
    t->ne[0] = n;
    t->ne[1] = t->ne[2] = t->ne[3] = 1;
    if (!(t->owned = malloc((size_t)n * sizeof(float))))
        return ql_fail(err, QL_ERR_NOMEM, "convert: out of memory");
    double orig = r->orig_ctx, lw = orig / r->low_freq_factor, hw = orig / r->high_freq_factor;
    for (int64_t i = 0; i < n; i++) {
        double f = pow((double)r->base, -2.0 * (double)i / (double)hp->n_rot);
        double wl = 6.283185307179586 / f, div; /* 2 pi / f */
        if (wl < hw) div = 1.0;
        else if (wl > lw) div = r->factor;
        else {
            double s = (orig / wl - r->low_freq_factor) / (r->high_freq_factor - r->low_freq_factor);
            div = 1.0 / ((1.0 - s) / r->factor + s);
        }
        t->owned[i] = (float)div;
    }
    finish_sizes(t);
    t->direct = t->owned;
    return QL_OK;
}

/* Settings the GGUF keys qloop reads back cannot hold: refuse rather than change the model. */
static ql_status check_expressible(const ql_model *m, bool permute, ql_error *err) {
    const ql_hparams *hp = &m->hp;
    const ql_rope_params *r = &hp->rope;
    if (permute && hp->n_rot != hp->head_dim)
        return ql_fail(err, QL_ERR_UNSUPPORTED,
                       "%s: partial rotary (%d of %d dims) cannot be stored for architecture llama",
                       m->path, hp->n_rot, hp->head_dim);
    if (r->scaling == QL_ROPE_SCALING_YARN &&
        (r->mscale != 0 || r->mscale_all_dim != 0 || !r->yarn_truncate))
        return ql_fail(err, QL_ERR_UNSUPPORTED,
                       "%s: YaRN with mscale, mscale_all_dim or truncate=false has no GGUF key",
                       m->path);
    if (r->scaling == QL_ROPE_SCALING_LLAMA3 &&
        (r->orig_ctx <= 0 || !(r->high_freq_factor > r->low_freq_factor)))
        return ql_fail(err, QL_ERR_UNSUPPORTED, "%s: llama3 RoPE scaling needs "
                       "original_max_position_embeddings and high_freq_factor > low_freq_factor",
                       m->path);
    return QL_OK;
}

static ql_status plan_all(ql_hf_gguf *c, ql_error *err) {
    const ql_hparams *hp = &c->m->hp;
    ql_status st;
    if ((st = plan(c, "token_embd.weight", false, 0, err))) return st;
    if (hp->rope.scaling == QL_ROPE_SCALING_LLAMA3 && (st = plan_rope_freqs(c, err))) return st;
    for (int32_t l = 0; l < hp->n_layer; l++) {
        for (size_t i = 0; i < sizeof k_layer_tensors / sizeof k_layer_tensors[0]; i++) {
            const char *s = k_layer_tensors[i];
            char name[96];
            snprintf(name, sizeof name, "blk.%d.%s", l, s);
            int32_t heads = 0;
            if (c->permute && !strncmp(s, "attn_q.", 7)) heads = hp->n_head;
            if (c->permute && !strncmp(s, "attn_k.", 7)) heads = hp->n_head_kv;
            if ((st = plan(c, name, strstr(s, "_exps.") != NULL, heads, err))) return st;
        }
    }
    if ((st = plan(c, "output_norm.weight", false, 0, err)) ||
        (st = plan(c, "output.weight", false, 0, err)))
        return st;
    return QL_OK;
}

ql_status ql_hf_gguf_open(const char *dir, ql_hf_gguf **out, ql_error *err) {
    *out = NULL;
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return ql_fail(err, errno == ENOENT ? QL_ERR_NOT_FOUND : QL_ERR_IO, "%s: %s", dir,
                       strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return ql_fail(err, QL_ERR_ARG,
                       "%s: not a folder (give a Hugging Face model folder with config.json, "
                       "*.safetensors and tokenizer.json)", dir);
    ql_hf_gguf *c = calloc(1, sizeof *c);
    if (!c) return ql_fail(err, QL_ERR_NOMEM, "convert: out of memory");
    ql_status st = ql_model_load(dir, NULL, &c->m, err);
    if (!st && !c->m->hf)
        st = ql_fail(err, QL_ERR_ARG, "%s: not a Hugging Face folder", dir);
    for (size_t i = 0; !st && i < sizeof k_archs / sizeof k_archs[0]; i++)
        if (!strcmp(c->m->architecture, k_archs[i].model_type)) {
            c->arch = k_archs[i].arch;
            c->permute = k_archs[i].permute;
        }
    if (!st && !c->arch)
        st = ql_fail(err, QL_ERR_UNSUPPORTED, "%s: model_type '%s' has no GGUF conversion", dir,
                     c->m->architecture);
    if (!st) st = check_expressible(c->m, c->permute, err);
    if (!st) st = plan_all(c, err);
    if (st) {
        ql_hf_gguf_close(c);
        return st;
    }
    *out = c;
    return QL_OK;
}

void ql_hf_gguf_close(ql_hf_gguf *c) {
    if (!c) return;
    for (uint64_t i = 0; i < c->n; i++) {
        free(c->t[i].parts);
        free(c->t[i].owned);
    }
    free(c->t);
    ql_model_free(c->m);
    free(c);
}

const char *ql_hf_gguf_arch(const ql_hf_gguf *c) { return c->arch; }
int32_t ql_hf_gguf_n_layer(const ql_hf_gguf *c) { return c->m->hp.n_layer; }
uint64_t ql_hf_gguf_n_tensors(const ql_hf_gguf *c) { return c->n; }
const ql_hf_gguf_tensor *ql_hf_gguf_tensor_at(const ql_hf_gguf *c, uint64_t i) {
    return i < c->n ? &c->t[i] : NULL;
}

/* ---- rows --------------------------------------------------------------------------- */

/* HF index of GGUF row (or bias element) j of a head of d: interleaved <- rotate-half. */
static int64_t perm_src(int64_t j, int64_t d) {
    int64_t h = j / d, w = j % d;
    return h * d + (w % 2) * (d / 2) + w / 2;
}

void ql_hf_gguf_rows(const ql_hf_gguf *c, uint64_t i, int64_t r0, int64_t n, void *dst) {
    const ql_hf_gguf_tensor *t = &c->t[i];
    uint64_t eb = elem_bytes(t->type), rb = (uint64_t)t->ne[0] * eb;
    uint8_t *o = dst;
    if (t->direct) {
        memcpy(o, (const uint8_t *)t->direct + (uint64_t)r0 * rb, (size_t)((uint64_t)n * rb));
        return;
    }
    if (t->perm_heads > 0 && t->n_dims == 1) { /* a bias: one row, elements permuted */
        int64_t d = t->ne[0] / t->perm_heads;
        for (int64_t j = 0; j < t->ne[0]; j++)
            memcpy(o + (uint64_t)j * eb, (const uint8_t *)t->parts[0] + (uint64_t)perm_src(j, d) * eb,
                   (size_t)eb);
        return;
    }
    int64_t rows = t->ne[1], d = t->perm_heads > 0 ? rows / t->perm_heads : 0;
    for (int64_t r = r0; r < r0 + n; r++) {
        int64_t e = r / rows, w = r % rows;
        int64_t s = d ? perm_src(w, d) : w;
        memcpy(o + (uint64_t)(r - r0) * rb, (const uint8_t *)t->parts[e] + (uint64_t)s * rb,
               (size_t)rb);
    }
}

/* ---- metadata ----------------------------------------------------------------------- */

typedef struct meta {
    ql_gguf_writer *w;
    const char *arch;
    ql_error *err;
    ql_status st;
} meta;

static const char *arch_key(const meta *k, const char *suffix, char *buf, size_t cap) {
    snprintf(buf, cap, "%s.%s", k->arch, suffix);
    return buf;
}

static void put_u32(meta *k, const char *suffix, int64_t v) {
    char key[128];
    if (!k->st) k->st = ql_gguf_set_u32(k->w, arch_key(k, suffix, key, sizeof key), (uint32_t)v, k->err);
}

static void put_f32(meta *k, const char *suffix, float v) {
    char key[128];
    if (!k->st) k->st = ql_gguf_set_f32(k->w, arch_key(k, suffix, key, sizeof key), v, k->err);
}

static void put_str(meta *k, const char *suffix, const char *v) {
    char key[128];
    if (!k->st) k->st = ql_gguf_set_str(k->w, arch_key(k, suffix, key, sizeof key), v, k->err);
}

static void put_rope(meta *k, const ql_hparams *hp) {
    const ql_rope_params *r = &hp->rope;
    static const char *const names[] = {"none", "linear", "dynamic", "llama3", "yarn"};
    put_u32(k, "rope.dimension_count", hp->n_rot);
    put_f32(k, "rope.freq_base", r->base);
    if (r->scaling == QL_ROPE_SCALING_NONE || (unsigned)r->scaling >= 5) return;
    if (r->scaling == QL_ROPE_SCALING_LLAMA3) return; /* rope_freqs.weight carries it, as llama.cpp */
    if (r->scaling == QL_ROPE_SCALING_DYNAMIC) {
        /* llama.cpp has no dynamic NTK: it reads plain RoPE; qloop reads its own keys */
        if (!k->st) k->st = ql_gguf_set_str(k->w, "qloop.rope.scaling.type", "dynamic", k->err);
        if (!k->st) k->st = ql_gguf_set_f32(k->w, "qloop.rope.scaling.factor", r->factor, k->err);
        return;
    }
    put_str(k, "rope.scaling.type", names[r->scaling]);
    put_f32(k, "rope.scaling.factor", r->factor);
    if (r->orig_ctx > 0) put_u32(k, "rope.scaling.original_context_length", r->orig_ctx);
    if (r->scaling == QL_ROPE_SCALING_YARN) {
        if (r->attn_factor != 0) put_f32(k, "rope.scaling.attn_factor", r->attn_factor);
        put_f32(k, "rope.scaling.yarn_beta_fast", r->beta_fast);
        put_f32(k, "rope.scaling.yarn_beta_slow", r->beta_slow);
    }
}

static void put_hparams(meta *k, const ql_model *m) {
    const ql_hparams *hp = &m->hp;
    put_u32(k, "vocab_size", hp->n_vocab);
    put_u32(k, "context_length", hp->n_ctx_train);
    put_u32(k, "embedding_length", hp->n_embd);
    put_u32(k, "block_count", hp->n_layer);
    if (hp->n_ff > 0) put_u32(k, "feed_forward_length", hp->n_ff);
    else if (hp->n_expert > 0) put_u32(k, "feed_forward_length", hp->n_ff_exp);
    put_u32(k, "attention.head_count", hp->n_head);
    put_u32(k, "attention.head_count_kv", hp->n_head_kv);
    if ((int64_t)hp->head_dim * hp->n_head != hp->n_embd) {
        put_u32(k, "attention.key_length", hp->head_dim);
        put_u32(k, "attention.value_length", hp->head_dim);
    }
    put_f32(k, "attention.layer_norm_rms_epsilon", hp->rms_eps);
    put_rope(k, hp);
    if (hp->n_expert > 0) {
        char key[128];
        put_u32(k, "expert_count", hp->n_expert);
        put_u32(k, "expert_used_count", hp->n_expert_used);
        put_u32(k, "expert_feed_forward_length", hp->n_ff_exp);
        if (hp->n_ff_shexp > 0) put_u32(k, "expert_shared_feed_forward_length", hp->n_ff_shexp);
        if (!k->st)
            k->st = ql_gguf_set_bool(k->w, arch_key(k, "expert_weights_norm", key, sizeof key),
                                     hp->expert_norm_topk, k->err);
    }
}

#define TOK(s) "tokenizer.ggml." s

static ql_status put_id(ql_gguf_writer *w, const char *key, int32_t id, ql_error *err) {
    return id >= 0 ? ql_gguf_set_u32(w, key, (uint32_t)id, err) : QL_OK;
}

/* tokenizer.ggml.tokens / token_type / scores, padded with "[PADn]" (UNUSED) up to the
 * model's n_vocab as llama.cpp's converter does. */
static ql_status put_vocab(ql_gguf_writer *w, const ql_tokenizer *tok, int32_t n_vocab,
                           bool scores, ql_error *err) {
    int32_t n_tok = ql_tokenizer_n_vocab(tok), n = n_vocab > n_tok ? n_vocab : n_tok;
    ql_gguf_buf b = {0};
    int32_t *types = malloc((size_t)n * sizeof *types);
    float *sc = malloc((size_t)n * sizeof *sc);
    ql_status st = QL_OK;
    if (!types || !sc) st = ql_fail(err, QL_ERR_NOMEM, "convert: out of memory for the vocabulary");
    ql_gguf_buf_arr(&b, QL_GGUF_STRING, (uint64_t)n);
    for (int32_t i = 0; !st && i < n; i++) {
        char pad[32];
        size_t len;
        const char *s = i < n_tok ? ql_tokenizer_token_text(tok, i, &len) : NULL;
        if (!s) len = (size_t)snprintf(pad, sizeof pad, "[PAD%d]", i);
        ql_gguf_buf_str(&b, s ? s : pad, len);
        types[i] = i < n_tok ? ql_tokenizer_token_type(tok, i) : QL_TOKEN_UNUSED;
        sc[i] = i < n_tok ? ql_tokenizer_score(tok, i) : 0.0f;
    }
    if (!st && b.oom) st = ql_fail(err, QL_ERR_NOMEM, "convert: out of memory for the vocabulary");
    if (!st) st = ql_gguf_set_encoded(w, TOK("tokens"), QL_GGUF_ARRAY, b.p, b.len, err);
    if (!st) st = ql_gguf_set_arr(w, TOK("token_type"), QL_GGUF_INT32, types, (uint64_t)n, err);
    if (!st && scores) st = ql_gguf_set_arr(w, TOK("scores"), QL_GGUF_FLOAT32, sc, (uint64_t)n, err);
    ql_gguf_buf_free(&b);
    free(types);
    free(sc);
    return st;
}

static ql_status put_merges(ql_gguf_writer *w, const ql_tokenizer *tok, ql_error *err) {
    int32_t *pairs;
    uint64_t n;
    ql_status st = ql_tokenizer_export_merges(tok, &pairs, &n, err);
    if (st) return st;
    ql_gguf_buf b = {0};
    char *tmp = NULL;
    size_t tcap = 0;
    ql_gguf_buf_arr(&b, QL_GGUF_STRING, n);
    for (uint64_t i = 0; i < n && !b.oom; i++) {
        size_t la, lr;
        const char *a = ql_tokenizer_token_text(tok, pairs[2 * i], &la);
        const char *r = ql_tokenizer_token_text(tok, pairs[2 * i + 1], &lr);
        if (la + lr + 1 > tcap) {
            char *p = realloc(tmp, tcap = 2 * (la + lr + 1));
            if (!p) {
                b.oom = true;
                break;
            }
            tmp = p;
        }
        memcpy(tmp, a, la);
        tmp[la] = ' ';
        memcpy(tmp + la + 1, r, lr);
        ql_gguf_buf_str(&b, tmp, la + 1 + lr);
    }
    st = b.oom ? ql_fail(err, QL_ERR_NOMEM, "convert: out of memory for the merges")
               : ql_gguf_set_encoded(w, TOK("merges"), QL_GGUF_ARRAY, b.p, b.len, err);
    ql_gguf_buf_free(&b);
    free(tmp);
    free(pairs);
    return st;
}

/* A folder without tokenizer.json gets llama.cpp's "no_vocab" model (no tokenizer). */
static ql_status put_tokenizer(ql_gguf_writer *w, const ql_model *m, ql_error *err) {
    if (!m->tok) return ql_gguf_set_str(w, TOK("model"), "no_vocab", err);
    ql_tok_export x;
    ql_tokenizer_export(m->tok, &x);
    ql_status st;
    if ((st = ql_gguf_set_str(w, TOK("model"), x.model, err)) ||
        (st = ql_gguf_set_str(w, TOK("pre"), x.pre, err)) ||
        (st = put_vocab(w, m->tok, m->hp.n_vocab, x.has_scores, err)) ||
        (st = put_merges(w, m->tok, err)) ||
        (st = put_id(w, TOK("bos_token_id"), x.bos_id, err)) ||
        (st = put_id(w, TOK("eos_token_id"), x.eos_id, err)) ||
        (st = put_id(w, TOK("unknown_token_id"), x.unk_id, err)) ||
        (st = put_id(w, TOK("seperator_token_id"), x.sep_id, err)) || /* sic: the GGUF key */
        (st = put_id(w, TOK("padding_token_id"), x.pad_id, err)) ||
        (st = put_id(w, TOK("eot_token_id"), x.eot_id, err)) ||
        (st = put_id(w, TOK("eom_token_id"), x.eom_id, err)) ||
        (st = ql_gguf_set_bool(w, TOK("add_bos_token"), x.add_bos, err)) ||
        (st = ql_gguf_set_bool(w, TOK("add_eos_token"), x.add_eos, err)))
        return st;
    if (!strcmp(x.model, "llama") &&
        (st = ql_gguf_set_bool(w, TOK("add_space_prefix"), x.add_space_prefix, err)))
        return st;
    /* GGUF has no key for it: llama.cpp derives it from tokenizer.ggml.pre */
    if (x.ignore_merges >= 0 &&
        (st = ql_gguf_set_bool(w, "qloop.tokenizer.ignore_merges", x.ignore_merges != 0, err)))
        return st;
    if (!strcmp(x.model, "bert") &&
        ((st = ql_gguf_set_bool(w, TOK("add_sep_token"), x.add_sep, err)) ||
         (st = ql_gguf_set_bool(w, TOK("normalizer.lowercase"), x.lowercase, err)) ||
         (st = ql_gguf_set_bool(w, TOK("normalizer.strip_accents"), x.strip_accents, err))))
        return st;
    return QL_OK;
}

ql_status ql_hf_gguf_metadata(const ql_hf_gguf *c, ql_gguf_writer *w, ql_error *err) {
    meta k = {w, c->arch, err, QL_OK};
    if ((k.st = ql_gguf_set_str(w, "general.architecture", c->arch, err)) ||
        (k.st = ql_gguf_set_str(w, "general.name", c->m->name ? c->m->name : "", err)))
        return k.st;
    put_hparams(&k, c->m);
    if (k.st) return k.st;
    return put_tokenizer(w, c->m, err);
}

/* ---- ql_convert ---------------------------------------------------------------------- */

ql_convert_params ql_convert_params_default(void) {
    ql_convert_params p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    return p;
}

/* The stored type of t when matrices are asked to be `want` (0 = keep). */
static uint32_t out_type(const ql_hf_gguf_tensor *t, uint32_t want, bool keep) {
    size_t n = strlen(t->name), m = strlen("ffn_gate_inp.weight");
    if (t->n_dims == 1 || (n >= m && !strcmp(t->name + n - m, "ffn_gate_inp.weight")))
        return QL_TYPE_F32;
    return keep ? t->type : want;
}

/* general.file_type: llama.cpp's llama_ftype of the main matrices. */
static uint32_t file_type(uint32_t type) {
    return type == QL_TYPE_F16 ? 1u : type == QL_TYPE_BF16 ? 32u : 0u;
}

typedef struct cbuf {
    uint8_t *raw;   /* rows in the source type */
    float *f;       /* as float */
    uint8_t *o;     /* in the stored type */
    size_t raw_cap, f_cap, o_cap;
} cbuf;

static bool grow(void *pp, size_t *cap, size_t need) {
    if (need <= *cap) return true;
    void *p = realloc(*(void **)pp, need);
    if (!p) return false;
    *(void **)pp = p;
    *cap = need;
    return true;
}

static ql_status write_tensor(const ql_hf_gguf *c, uint64_t i, uint32_t type, ql_gguf_writer *w,
                              cbuf *b, ql_error *err) {
    const ql_hf_gguf_tensor *t = &c->t[i];
    int64_t k = t->ne[0], rows = (int64_t)(t->n_elements / (uint64_t)k);
    uint64_t in_rb = (uint64_t)k * elem_bytes(t->type), out_rb = (uint64_t)k * elem_bytes(type);
    if (type == t->type && t->direct) return ql_gguf_write_data(w, t->direct, (size_t)t->nbytes, err);
    int64_t chunk = CHUNK_BYTES / (int64_t)(in_rb > out_rb ? in_rb : out_rb);
    if (chunk < 1) chunk = 1;
    if (chunk > rows) chunk = rows;
    if (!grow(&b->raw, &b->raw_cap, (size_t)((uint64_t)chunk * in_rb)) ||
        !grow(&b->f, &b->f_cap, (size_t)chunk * (size_t)k * sizeof(float)) ||
        !grow(&b->o, &b->o_cap, (size_t)((uint64_t)chunk * out_rb)))
        return ql_fail(err, QL_ERR_NOMEM, "convert: out of memory for '%s'", t->name);
    ql_status st = QL_OK;
    for (int64_t r = 0; !st && r < rows; r += chunk) {
        int64_t n = rows - r < chunk ? rows - r : chunk;
        ql_hf_gguf_rows(c, i, r, n, b->raw);
        const void *out = b->raw;
        if (type != t->type) {
            const float *x = b->f;
            if (t->type == QL_TYPE_F32) x = (const float *)b->raw;
            else ql_dequantize_rows(t->type, b->raw, b->f, n, k);
            ql_quantize_rows(type, x, b->o, n, k, NULL, QL_QUANT_RTN);
            out = b->o;
        }
        st = ql_gguf_write_data(w, out, (size_t)((uint64_t)n * out_rb), err);
    }
    return st;
}

bool ql_hf_gguf_is_input_file(const char *dir, const char *out) {
    char rd[PATH_MAX], rp[PATH_MAX], parent[PATH_MAX];
    struct stat sb;
    if (lstat(out, &sb) != 0 || !realpath(dir, rd)) return false;
    snprintf(parent, sizeof parent, "%s", out);
    char *slash = strrchr(parent, '/');
    const char *base = slash ? slash + 1 : out;
    if (slash) *slash = '\0';
    if (!realpath(slash ? (parent[0] ? parent : "/") : ".", rp) || strcmp(rp, rd) != 0) return false;
    size_t n = strlen(base);
    return (n > 5 && !strcmp(base + n - 5, ".json")) ||
           (n > 12 && !strcmp(base + n - 12, ".safetensors"));
}

static ql_status convert_pass(const ql_hf_gguf *c, const char *out, const ql_convert_params *p,
                              uint32_t want, bool keep, ql_gguf_writer *w, ql_error *err) {
    ql_status st;
    uint32_t *types = calloc(c->n ? c->n : 1, sizeof *types);
    if (!types) return ql_fail(err, QL_ERR_NOMEM, "convert: out of memory");
    uint32_t main_type = QL_TYPE_F32;
    st = ql_hf_gguf_metadata(c, w, err);
    for (uint64_t i = 0; !st && i < c->n; i++) {
        types[i] = out_type(&c->t[i], want, keep);
        if (!strcmp(c->t[i].name, "token_embd.weight")) main_type = types[i];
        st = ql_gguf_add_tensor(w, c->t[i].name, types[i], c->t[i].n_dims, c->t[i].ne, err);
    }
    if (!st) st = ql_gguf_set_u32(w, "general.file_type", file_type(main_type), err);
    if (!st) st = ql_gguf_writer_begin(w, out, err);
    cbuf b = {0};
    ql_quantize_progress pr;
    memset(&pr, 0, sizeof pr);
    pr.count = c->n;
    for (uint64_t i = 0; i < c->n; i++) pr.total_in += c->t[i].nbytes;
    double t0 = ql_time_seconds();
    for (uint64_t i = 0; !st && i < c->n; i++) {
        const ql_hf_gguf_tensor *t = &c->t[i];
        st = write_tensor(c, i, types[i], w, &b, err);
        const ql_type_traits *ti = ql_type_get(t->type), *to = ql_type_get(types[i]);
        pr.index = i;
        pr.name = t->name;
        pr.type_name = to ? to->name : "?";
        pr.src_type_name = ti ? ti->name : "?";
        pr.n_dims = t->n_dims;
        memcpy(pr.ne, t->ne, sizeof pr.ne);
        pr.bytes_in = t->nbytes;
        pr.bytes_out = ql_gguf_writer_tensor_bytes(w, i);
        pr.done_in += t->nbytes;
        pr.seconds = ql_time_seconds() - t0;
        if (!st && p->progress) p->progress(&pr, p->progress_user);
    }
    if (!st) st = ql_gguf_writer_finish(w, err);
    free(b.raw);
    free(b.f);
    free(b.o);
    free(types);
    return st;
}

ql_status ql_convert(const char *hf_dir, const char *out, const ql_convert_params *params,
                     ql_error *err) {
    ql_convert_params def = ql_convert_params_default();
    const ql_convert_params *p = params ? params : &def;
    if (!hf_dir || !out) return ql_fail(err, QL_ERR_ARG, "convert: input and output are required");
    if (p->struct_size != sizeof *p)
        return ql_fail(err, QL_ERR_ARG, "convert: params struct_size %u, expected %zu",
                       p->struct_size, sizeof *p);
    bool keep = !p->type || !*p->type;
    uint32_t want = QL_TYPE_F32;
    if (!keep) {
        if (!strcmp(p->type, "f32")) want = QL_TYPE_F32;
        else if (!strcmp(p->type, "f16")) want = QL_TYPE_F16;
        else if (!strcmp(p->type, "bf16")) want = QL_TYPE_BF16;
        else
            return ql_fail(err, QL_ERR_ARG, "convert: unknown type '%s' (f32, f16 or bf16)", p->type);
    }
    if (ql_hf_gguf_is_input_file(hf_dir, out))
        return ql_fail(err, QL_ERR_ARG, "convert: output %s is one of the input folder's files; "
                       "refusing to overwrite it", out);
    ql_hf_gguf *c = NULL;
    ql_gguf_writer *w = NULL;
    ql_status st = ql_hf_gguf_open(hf_dir, &c, err);
    if (!st) st = ql_gguf_writer_new(&w, err);
    if (!st) st = convert_pass(c, out, p, want, keep, w, err);
    ql_gguf_writer_free(w); /* removes <out>.tmp unless finished */
    ql_hf_gguf_close(c);
    return st;
}
