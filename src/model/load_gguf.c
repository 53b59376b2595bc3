/*
 * src/model/load_gguf.c: hyperparameters and tensors of a GGUF model.
 *
 * Keys are llama.cpp's: {arch}.embedding_length, .block_count, .feed_forward_length,
 * .attention.head_count(_kv), .attention.key_length, .rope.*, .expert_*.
 * RoPE layout follows llama.cpp: `llama` files store Q/K rows permuted for interleaved
 * pairs; qwen2/qwen3/qwen2moe files keep the rotate-half (NeoX) order.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loaders.h"
#include "loop_config.h"
#include "quant/types.h"
#include "runtime/error.h"

typedef struct arch_desc {
    const char *name;
    ql_rope_layout rope;
} arch_desc;

static const arch_desc k_archs[] = {
    {"llama", QL_ROPE_INTERLEAVED},
    {"mistral", QL_ROPE_INTERLEAVED},
    {"qwen2", QL_ROPE_NEOX},
    {"qwen3", QL_ROPE_NEOX},
    {"qwen2moe", QL_ROPE_NEOX},
};

static char *dup_str(ql_str s) {
    char *p = malloc(s.len + 1);
    if (!p) return NULL;
    memcpy(p, s.ptr, s.len);
    p[s.len] = '\0';
    return p;
}

/* "{arch}.suffix" as a non-negative int32; absent keys keep *out when `optional`. */
static ql_status arch_i32(const ql_model *m, const char *suffix, bool optional, int32_t *out,
                          ql_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", m->architecture, suffix);
    uint32_t v;
    ql_status st = ql_gguf_get_u32(m->gguf, key, &v, err);
    if (st == QL_ERR_NOT_FOUND && optional) return ql_ok(err);
    if (st != QL_OK) return st;
    if (v > (uint32_t)INT32_MAX)
        return ql_fail(err, QL_ERR_CORRUPT, "%s: %s = %u is out of range", m->path, key, v);
    *out = (int32_t)v;
    return QL_OK;
}

static ql_status arch_f32(const ql_model *m, const char *suffix, float *out, ql_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", m->architecture, suffix);
    ql_status st = ql_gguf_get_f32(m->gguf, key, out, err);
    return st == QL_ERR_NOT_FOUND ? ql_ok(err) : st;
}

static ql_status arch_bool(const ql_model *m, const char *suffix, bool *out, ql_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", m->architecture, suffix);
    ql_status st = ql_gguf_get_bool(m->gguf, key, out, err);
    return st == QL_ERR_NOT_FOUND ? ql_ok(err) : st;
}

static ql_status read_rope(ql_model *m, ql_error *err) {
    ql_rope_params *r = &m->hp.rope;
    r->base = 10000.0f;
    r->factor = 1.0f;
    r->beta_fast = 32.0f;
    r->beta_slow = 1.0f;
    r->yarn_truncate = true;
    ql_status st;
    if ((st = arch_f32(m, "rope.freq_base", &r->base, err)) ||
        (st = arch_f32(m, "rope.scaling.factor", &r->factor, err)) ||
        (st = arch_i32(m, "rope.scaling.original_context_length", true, &r->orig_ctx, err)) ||
        (st = arch_f32(m, "rope.scaling.attn_factor", &r->attn_factor, err)) ||
        (st = arch_f32(m, "rope.scaling.yarn_beta_fast", &r->beta_fast, err)) ||
        (st = arch_f32(m, "rope.scaling.yarn_beta_slow", &r->beta_slow, err)))
        return st;
    /* qloop's own keys for what GGUF has no key for */
    float low = 1.0f, high = 4.0f;
    if ((st = ql_gguf_get_f32(m->gguf, "qloop.rope.low_freq_factor", &low, err)) == QL_ERR_CORRUPT ||
        (st = ql_gguf_get_f32(m->gguf, "qloop.rope.high_freq_factor", &high, err)) == QL_ERR_CORRUPT)
        return st;
    r->low_freq_factor = low;
    r->high_freq_factor = high;
    /* qloop.rope.scaling.* describe scalings llama.cpp has no key for (dynamic NTK); they
     * take precedence over the {arch} keys, which then say "none" for other readers */
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", m->architecture);
    if (ql_gguf_get(m->gguf, "qloop.rope.scaling.type")) {
        snprintf(key, sizeof key, "qloop.rope.scaling.type");
        if ((st = ql_gguf_get_f32(m->gguf, "qloop.rope.scaling.factor", &r->factor, err)) == QL_ERR_CORRUPT)
            return st;
    }
    ql_str type;
    st = ql_gguf_get_str(m->gguf, key, &type, err);
    if (st == QL_ERR_NOT_FOUND) {
        r->scaling = QL_ROPE_SCALING_NONE;
    } else if (st != QL_OK) {
        return st;
    } else if (ql_str_eq(type, "none")) {
        r->scaling = QL_ROPE_SCALING_NONE;
    } else if (ql_str_eq(type, "linear")) {
        r->scaling = QL_ROPE_SCALING_LINEAR;
    } else if (ql_str_eq(type, "yarn")) {
        r->scaling = QL_ROPE_SCALING_YARN;
    } else if (ql_str_eq(type, "dynamic")) {
        r->scaling = QL_ROPE_SCALING_DYNAMIC;
    } else if (ql_str_eq(type, "llama3")) {
        r->scaling = QL_ROPE_SCALING_LLAMA3;
    } else {
        return ql_fail(err, QL_ERR_UNSUPPORTED, "%s: %s = '%.*s' is not supported", m->path, key,
                       (int)(type.len > 64 ? 64 : type.len), type.ptr);
    }
    return ql_ok(err);
}

/* llama.cpp stores Llama 3's frequency scaling as a tensor of per-pair divisors
 * (rope_freqs.weight, [n_rot / 2]) rather than as keys. */
static ql_status read_freq_factors(ql_model *m, ql_error *err) {
    const ql_gguf_tensor *t = ql_gguf_find_tensor(m->gguf, "rope_freqs.weight");
    if (!t) return QL_OK;
    int64_t n = m->hp.n_rot / 2;
    if (t->type != QL_TYPE_F32 || t->n_elements != (uint64_t)n)
        return ql_fail(err, QL_ERR_CORRUPT, "%s: tensor 'rope_freqs.weight' must be f32 [%lld]",
                       m->path, (long long)n);
    if (!(m->rope_freq_factors = malloc((size_t)n * sizeof(float))))
        return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", m->path);
    memcpy(m->rope_freq_factors, t->data, (size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        if (!(m->rope_freq_factors[i] > 0.0f && isfinite(m->rope_freq_factors[i])))
            return ql_fail(err, QL_ERR_CORRUPT, "%s: rope_freqs.weight[%lld] = %g must be > 0",
                           m->path, (long long)i, m->rope_freq_factors[i]);
    m->hp.rope.freq_factors = m->rope_freq_factors;
    if (m->hp.rope.scaling == QL_ROPE_SCALING_LLAMA3) /* the tensor already holds it */
        m->hp.rope.scaling = QL_ROPE_SCALING_NONE;
    return QL_OK;
}

static ql_status read_hparams(ql_model *m, ql_error *err) {
    ql_hparams *hp = &m->hp;
    ql_status st;
    hp->n_ctx_train = 2048;
    if ((st = arch_i32(m, "embedding_length", false, &hp->n_embd, err)) ||
        (st = arch_i32(m, "block_count", false, &hp->n_layer, err)) ||
        (st = arch_i32(m, "attention.head_count", false, &hp->n_head, err)) ||
        (st = arch_i32(m, "context_length", true, &hp->n_ctx_train, err)) ||
        (st = arch_i32(m, "expert_count", true, &hp->n_expert, err)))
        return st;
    hp->n_head_kv = hp->n_head;
    hp->head_dim = hp->n_head > 0 ? hp->n_embd / hp->n_head : 0;
    int32_t key_len = hp->head_dim, value_len = -1;
    if ((st = arch_i32(m, "feed_forward_length", hp->n_expert > 0, &hp->n_ff, err)) ||
        (st = arch_i32(m, "attention.head_count_kv", true, &hp->n_head_kv, err)) ||
        (st = arch_i32(m, "attention.key_length", true, &key_len, err)) ||
        (st = arch_i32(m, "attention.value_length", true, &value_len, err)))
        return st;
    if (value_len >= 0 && value_len != key_len)
        return ql_fail(err, QL_ERR_UNSUPPORTED, "%s: key_length %d != value_length %d", m->path,
                       key_len, value_len);
    hp->head_dim = key_len;
    hp->n_rot = hp->head_dim;
    hp->rms_eps = 1e-5f;
    if ((st = arch_i32(m, "rope.dimension_count", true, &hp->n_rot, err)) ||
        (st = arch_f32(m, "attention.layer_norm_rms_epsilon", &hp->rms_eps, err)) ||
        (st = read_rope(m, err)))
        return st;
    if (hp->n_expert > 0) {
        hp->n_ff_exp = hp->n_ff;
        hp->expert_norm_topk = strcmp(m->architecture, "qwen2moe") != 0; /* llama.cpp's default */
        if ((st = arch_i32(m, "expert_used_count", false, &hp->n_expert_used, err)) ||
            (st = arch_i32(m, "expert_feed_forward_length", true, &hp->n_ff_exp, err)) ||
            (st = arch_i32(m, "expert_shared_feed_forward_length", true, &hp->n_ff_shexp, err)) ||
            (st = arch_bool(m, "expert_weights_norm", &hp->expert_norm_topk, err)))
            return st;
        /* A file with the shared expert's tensors but no (or a zero) width key: the width
         * is the gate's row count. Without it the shared expert would be left out. */
        const ql_gguf_tensor *sh = ql_gguf_find_tensor(m->gguf, "blk.0.ffn_gate_shexp.weight");
        if (hp->n_ff_shexp <= 0 && sh && sh->ne[1] > 0 && sh->ne[1] <= INT32_MAX)
            hp->n_ff_shexp = (int32_t)sh->ne[1];
    }
    if ((st = ql_hparams_check(m->path, hp, err))) return st;
    return read_freq_factors(m, err);
}

/* The tensor source over a GGUF file. Expert slices index the last dimension of a 3-D
 * tensor [k, rows, n_expert]. */
static bool gguf_find(void *ctx, const char *name, int expert, ql_tensor_view *out) {
    const ql_gguf_tensor *t = ql_gguf_find_tensor(ctx, name);
    if (!t) return false;
    memset(out, 0, sizeof *out);
    out->type = t->type;
    for (int d = 0; d < 4; d++) out->ne[d] = t->ne[d];
    out->n_dims = t->n_dims;
    out->data = t->data;
    out->nbytes = t->nbytes;
    if (expert >= 0) {
        if (t->n_dims != 3 || expert >= t->ne[2]) return false;
        out->nbytes = t->nbytes / (uint64_t)t->ne[2];
        out->data = (const char *)t->data + out->nbytes * (uint64_t)expert;
        out->ne[2] = 1;
        out->n_dims = 2;
    }
    return true;
}

ql_status ql_load_gguf(ql_model *m, ql_error *err) {
    ql_status st;
    if ((st = ql_gguf_open(m->path, &m->gguf, err))) return st;
    ql_str arch, name = {"", 0};
    if ((st = ql_gguf_get_str(m->gguf, "general.architecture", &arch, err))) return st;
    if (ql_gguf_get(m->gguf, "general.name")) ql_gguf_get_str(m->gguf, "general.name", &name, NULL);
    if (!(m->architecture = dup_str(arch)) || !(m->name = dup_str(name)))
        return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", m->path);
    /* llama.cpp writes tokenizer.ggml.model = "no_vocab" for models without a tokenizer:
     * such a model runs on token ids and tokenizing reports that it has none */
    ql_str tm;
    bool no_vocab = ql_gguf_get_str(m->gguf, "tokenizer.ggml.model", &tm, NULL) == QL_OK &&
                    (ql_str_eq(tm, "no_vocab") || ql_str_eq(tm, "none"));
    if (no_vocab && m->vocab_only)
        return ql_fail(err, QL_ERR_UNSUPPORTED, "%s: the file has no vocabulary", m->path);
    if (!no_vocab && (st = ql_tokenizer_from_gguf(m->gguf, &m->tok, err))) return st;
    m->src.ctx = m->gguf;
    m->src.find = gguf_find;
    if (m->vocab_only) {
        m->hp.n_vocab = ql_tokenizer_n_vocab(m->tok);
        return QL_OK;
    }
    const arch_desc *a = NULL;
    for (size_t i = 0; i < sizeof k_archs / sizeof k_archs[0]; i++)
        if (!strcmp(m->architecture, k_archs[i].name)) a = &k_archs[i];
    if (!a)
        return ql_fail(err, QL_ERR_UNSUPPORTED,
                       "%s: architecture '%s' is not supported (llama, mistral, qwen2, qwen3, qwen2moe are)",
                       m->path, m->architecture);
    m->hp.rope_layout = a->rope;
    if ((st = read_hparams(m, err))) return st;
    return ql_loop_config_from_gguf(m->gguf, &m->loop, err);
}
