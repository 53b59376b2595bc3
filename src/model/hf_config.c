/*
 * src/model/hf_config.c: a Hugging Face config.json as qloop hyperparameters.
 *
 * Both key layouts are read: transformers 5 puts RoPE settings in `rope_parameters`
 * ({rope_type, rope_theta, <scaling keys>}); transformers 4.x has a top-level
 * `rope_theta` and `rope_scaling` ({type | rope_type, ...}, or null).
 * YaRN follows transformers 4.5x (shared/spec/rope-scaling.md 2.5 and 4): when
 * original_max_position_embeddings O is given, factor := max_position_embeddings / O.
 * HF stores q/k rows in rotate-half order, so every HF checkpoint is QL_ROPE_NEOX.
 */
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hf.h"
#include "loaders.h"
#include "loop_config.h"
#include "runtime/error.h"
#include "runtime/json_file.h"

typedef struct arch_desc {
    const char *model_type;
    ql_hf_ffn ffn;
    bool qk_norm, qkv_bias;
    float rms_eps; /* transformers' default when the key is absent */
} arch_desc;

static const arch_desc k_archs[] = {
    {"llama", QL_HF_FFN_DENSE, false, false, 1e-6f},
    {"loop_llama", QL_HF_FFN_DENSE, false, false, 1e-6f}, /* + the loop keys (loop_config.c) */
    {"mistral", QL_HF_FFN_DENSE, false, false, 1e-6f},
    {"qwen2", QL_HF_FFN_DENSE, false, true, 1e-6f},
    {"qwen3", QL_HF_FFN_DENSE, true, false, 1e-6f},
    {"mixtral", QL_HF_FFN_MIXTRAL, false, false, 1e-5f},
    {"qwen2_moe", QL_HF_FFN_QWEN2_MOE, false, true, 1e-6f},
};

typedef struct reader {
    const char *path;
    const json_t *root;
    ql_error *err;
} reader;

/* Positive int32 key; absent or null keeps *out unless required. */
static ql_status get_int(const reader *r, const json_t *obj, const char *key, bool required,
                         int32_t *out) {
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            return ql_fail(r->err, QL_ERR_CORRUPT, "%s: required key '%s' is missing", r->path, key);
        return QL_OK;
    }
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
        return ql_fail(r->err, QL_ERR_CORRUPT, "%s: '%s' must be an integer in [0, %d]", r->path,
                       key, INT32_MAX);
    *out = (int32_t)json_integer_value(v);
    return QL_OK;
}

/* Number key; absent or null keeps *out. With `falsy_default`, 0 also keeps it (yarn's
 * beta_fast / beta_slow, as transformers reads them with `or`). */
static ql_status get_num(const reader *r, const json_t *obj, const char *key, bool falsy_default,
                         float *out) {
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v) || (falsy_default && json_is_false(v))) return QL_OK;
    /* Stored as float: a double beyond FLT_MAX would become inf (rms_norm_eps 1e300 turns
     * every hidden state into zeros), so it is refused like a non-finite one. */
    if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
        fabs(json_number_value(v)) > FLT_MAX)
        return ql_fail(r->err, QL_ERR_CORRUPT, "%s: '%s' must be a finite number (float range)",
                       r->path, key);
    double x = json_number_value(v);
    if (falsy_default && x == 0.0) return QL_OK;
    *out = (float)x;
    return QL_OK;
}

static ql_status get_bool(const reader *r, const json_t *obj, const char *key, bool *out) {
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) return QL_OK;
    if (!json_is_boolean(v))
        return ql_fail(r->err, QL_ERR_CORRUPT, "%s: '%s' must be true or false", r->path, key);
    *out = json_is_true(v);
    return QL_OK;
}

static const struct {
    const char *name;
    ql_rope_scaling scaling;
} k_rope_types[] = {
    {"default", QL_ROPE_SCALING_NONE}, {"linear", QL_ROPE_SCALING_LINEAR},
    {"dynamic", QL_ROPE_SCALING_DYNAMIC}, {"llama3", QL_ROPE_SCALING_LLAMA3},
    {"yarn", QL_ROPE_SCALING_YARN},
};

/* RoPE from `rope_parameters` (transformers 5) or `rope_theta` + `rope_scaling` (4.x). */
static ql_status read_rope(const reader *r, ql_hparams *hp) {
    ql_rope_params *rp = &hp->rope;
    rp->base = 10000.0f;
    rp->factor = 1.0f;
    rp->beta_fast = 32.0f;
    rp->beta_slow = 1.0f;
    rp->low_freq_factor = 1.0f;
    rp->high_freq_factor = 4.0f;
    rp->yarn_truncate = true;
    rp->scaling = QL_ROPE_SCALING_NONE;
    const json_t *params = json_object_get(r->root, "rope_parameters");
    const char *where = "rope_parameters";
    ql_status st;
    if (params && !json_is_null(params)) {
        if (!json_is_object(params))
            return ql_fail(r->err, QL_ERR_CORRUPT, "%s: 'rope_parameters' must be an object", r->path);
    } else {
        if ((st = get_num(r, r->root, "rope_theta", false, &rp->base))) return st;
        params = json_object_get(r->root, "rope_scaling");
        where = "rope_scaling";
        if (!params || json_is_null(params)) return QL_OK;
        if (!json_is_object(params))
            return ql_fail(r->err, QL_ERR_CORRUPT, "%s: 'rope_scaling' must be an object or null",
                           r->path);
    }
    if ((st = get_num(r, params, "rope_theta", false, &rp->base))) return st;
    const json_t *type = json_object_get(params, "rope_type");
    if (!type || json_is_null(type)) type = json_object_get(params, "type");
    const char *tname = json_is_string(type) ? json_string_value(type) : "default";
    if (type && !json_is_null(type) && !json_is_string(type))
        return ql_fail(r->err, QL_ERR_CORRUPT, "%s: %s.rope_type must be a string", r->path, where);
    size_t i = 0, n = sizeof k_rope_types / sizeof k_rope_types[0];
    while (i < n && strcmp(tname, k_rope_types[i].name)) i++;
    if (i == n)
        return ql_fail(r->err, QL_ERR_UNSUPPORTED,
                       "%s: %s.rope_type '%.40s' is not supported (default, linear, dynamic, "
                       "llama3, yarn are)",
                       r->path, where, tname);
    rp->scaling = k_rope_types[i].scaling;
    if (rp->scaling == QL_ROPE_SCALING_NONE) return QL_OK;
    if ((st = get_num(r, params, "factor", false, &rp->factor)) ||
        (st = get_int(r, params, "original_max_position_embeddings", false, &rp->orig_ctx)))
        return st;
    if (rp->scaling == QL_ROPE_SCALING_LLAMA3) {
        if ((st = get_num(r, params, "low_freq_factor", false, &rp->low_freq_factor)) ||
            (st = get_num(r, params, "high_freq_factor", false, &rp->high_freq_factor)))
            return st;
        if (!(rp->high_freq_factor > rp->low_freq_factor) || !(rp->low_freq_factor > 0))
            return ql_fail(r->err, QL_ERR_CORRUPT,
                           "%s: %s: llama3 needs 0 < low_freq_factor < high_freq_factor", r->path,
                           where);
    } else if (rp->scaling == QL_ROPE_SCALING_YARN) {
        if ((st = get_num(r, params, "attention_factor", false, &rp->attn_factor)) ||
            (st = get_num(r, params, "beta_fast", true, &rp->beta_fast)) ||
            (st = get_num(r, params, "beta_slow", true, &rp->beta_slow)) ||
            (st = get_num(r, params, "mscale", false, &rp->mscale)) ||
            (st = get_num(r, params, "mscale_all_dim", false, &rp->mscale_all_dim)) ||
            (st = get_bool(r, params, "truncate", &rp->yarn_truncate)))
            return st;
        /* transformers 4.5x: an explicit O overrides the stored factor with M / O */
        if (rp->orig_ctx > 0) rp->factor = (float)hp->n_ctx_train / (float)rp->orig_ctx;
    }
    return QL_OK;
}

static ql_status read_experts(const reader *r, ql_hf_config *c) {
    ql_hparams *hp = &c->hp;
    ql_status st;
    if (c->ffn == QL_HF_FFN_MIXTRAL) {
        hp->expert_norm_topk = true; /* Mixtral always renormalises the top k */
        hp->n_ff_exp = hp->n_ff;
        if ((st = get_int(r, r->root, "num_local_experts", true, &hp->n_expert))) return st;
        return get_int(r, r->root, "num_experts_per_tok", true, &hp->n_expert_used);
    }
    int32_t sparse_step = 1;
    const json_t *mlp_only = json_object_get(r->root, "mlp_only_layers");
    if ((st = get_int(r, r->root, "num_experts", true, &hp->n_expert)) ||
        (st = get_int(r, r->root, "num_experts_per_tok", true, &hp->n_expert_used)) ||
        (st = get_int(r, r->root, "moe_intermediate_size", true, &hp->n_ff_exp)) ||
        (st = get_int(r, r->root, "shared_expert_intermediate_size", false, &hp->n_ff_shexp)) ||
        (st = get_bool(r, r->root, "norm_topk_prob", &hp->expert_norm_topk)) ||
        (st = get_int(r, r->root, "decoder_sparse_step", false, &sparse_step)))
        return st;
    if (sparse_step != 1 || json_array_size(mlp_only) > 0)
        return ql_fail(r->err, QL_ERR_UNSUPPORTED,
                       "%s: dense layers between MoE layers (decoder_sparse_step %d, "
                       "mlp_only_layers) are not supported",
                       r->path, sparse_step);
    return QL_OK;
}

static ql_status read_config(const reader *r, ql_hf_config *c) {
    ql_hparams *hp = &c->hp;
    const json_t *mt = json_object_get(r->root, "model_type");
    if (!json_is_string(mt))
        return ql_fail(r->err, QL_ERR_CORRUPT, "%s: required key 'model_type' is missing", r->path);
    const arch_desc *a = NULL;
    for (size_t i = 0; i < sizeof k_archs / sizeof k_archs[0]; i++)
        if (!strcmp(json_string_value(mt), k_archs[i].model_type)) a = &k_archs[i];
    if (!a)
        return ql_fail(r->err, QL_ERR_UNSUPPORTED,
                       "%s: model_type '%.40s' is not supported (llama, mistral, qwen2, qwen3, "
                       "mixtral, qwen2_moe are)",
                       r->path, json_string_value(mt));
    snprintf(c->model_type, sizeof c->model_type, "%s", a->model_type);
    c->ffn = a->ffn;
    c->qk_norm = a->qk_norm;
    c->qkv_bias = a->qkv_bias;
    c->eos_id = -1;
    const json_t *act = json_object_get(r->root, "hidden_act");
    if (act && !(json_is_string(act) && !strcmp(json_string_value(act), "silu")))
        return ql_fail(r->err, QL_ERR_UNSUPPORTED, "%s: hidden_act '%.40s' is not supported (silu is)",
                       r->path, json_is_string(act) ? json_string_value(act) : "?");
    bool attn_bias = false, mlp_bias = false, sliding = false;
    ql_status st;
    if ((st = get_bool(r, r->root, "attention_bias", &attn_bias)) ||
        (st = get_bool(r, r->root, "mlp_bias", &mlp_bias)) ||
        (st = get_bool(r, r->root, "use_sliding_window", &sliding)) ||
        (st = get_bool(r, r->root, "tie_word_embeddings", &c->tied)))
        return st;
    if (attn_bias && !c->qkv_bias)
        return ql_fail(r->err, QL_ERR_UNSUPPORTED, "%s: attention_bias (o_proj bias) is not supported",
                       r->path);
    if (mlp_bias || sliding)
        return ql_fail(r->err, QL_ERR_UNSUPPORTED, "%s: %s is not supported", r->path,
                       mlp_bias ? "mlp_bias" : "use_sliding_window");
    hp->rms_eps = a->rms_eps;
    hp->head_dim = 0;
    if ((st = get_int(r, r->root, "hidden_size", true, &hp->n_embd)) ||
        (st = get_int(r, r->root, "num_hidden_layers", true, &hp->n_layer)) ||
        (st = get_int(r, r->root, "num_attention_heads", true, &hp->n_head)) ||
        (st = get_int(r, r->root, "intermediate_size", c->ffn != QL_HF_FFN_QWEN2_MOE, &hp->n_ff)) ||
        (st = get_int(r, r->root, "max_position_embeddings", true, &hp->n_ctx_train)) ||
        (st = get_int(r, r->root, "vocab_size", false, &hp->n_vocab)) ||
        (st = get_int(r, r->root, "head_dim", false, &hp->head_dim)) ||
        (st = get_num(r, r->root, "rms_norm_eps", false, &hp->rms_eps)))
        return st;
    hp->n_head_kv = hp->n_head;
    if ((st = get_int(r, r->root, "num_key_value_heads", false, &hp->n_head_kv))) return st;
    if (hp->n_head <= 0 || hp->n_embd <= 0)
        return ql_fail(r->err, QL_ERR_CORRUPT, "%s: hidden_size %d and num_attention_heads %d must be > 0",
                       r->path, hp->n_embd, hp->n_head);
    if (hp->head_dim == 0) hp->head_dim = hp->n_embd / hp->n_head;
    float partial = 1.0f;
    if ((st = get_num(r, r->root, "partial_rotary_factor", false, &partial))) return st;
    if (!(partial > 0.0f && partial <= 1.0f))
        return ql_fail(r->err, QL_ERR_CORRUPT, "%s: partial_rotary_factor %g must be in (0, 1]",
                       r->path, partial);
    hp->n_rot = (int32_t)floor((double)hp->head_dim * partial);
    hp->rope_layout = QL_ROPE_NEOX;
    if ((st = read_rope(r, hp))) return st;
    if (c->ffn != QL_HF_FFN_DENSE && (st = read_experts(r, c))) return st;
    const json_t *eos = json_object_get(r->root, "eos_token_id");
    if (json_is_array(eos)) eos = json_array_get(eos, 0);
    if (json_is_integer(eos) && json_integer_value(eos) >= 0 && json_integer_value(eos) <= INT32_MAX)
        c->eos_id = (int32_t)json_integer_value(eos);
    c->loop = ql_loop_params_default();
    if (!strcmp(a->model_type, "loop_llama") &&
        (st = ql_loop_config_from_hf(r->root, &c->loop, r->err)))
        return st;
    return ql_hparams_check(r->path, hp, r->err);
}

ql_status ql_hf_read_config(const char *path, ql_hf_config *cfg, ql_error *err) {
    memset(cfg, 0, sizeof *cfg);
    json_error_t je;
    json_t *root = ql_json_load_regular(path, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (access(path, F_OK) != 0) return ql_fail(err, QL_ERR_NOT_FOUND, "%s: cannot open", path);
        return ql_json_fail(err, path, &je);
    }
    ql_status st;
    if (!json_is_object(root)) {
        st = ql_fail(err, QL_ERR_CORRUPT, "%s: not a JSON object", path);
    } else {
        reader r = {path, root, err};
        st = read_config(&r, cfg);
    }
    json_decref(root);
    return st;
}
