/*
 * src/model/hf.c: a Hugging Face folder (config.json, *.safetensors, tokenizer.json) as a
 * qloop model.
 *
 * The tensor source answers GGUF names by translating them to the HF names of the
 * model_type ("blk.3.attn_q.weight" -> "model.layers.3.self_attn.q_proj.weight"). An HF
 * Linear weight [out, in] is GGUF ne = {in, out}: the same bytes, shape reversed. Q/K
 * rows are not permuted: HF stores them for rotate-half RoPE, so the model is
 * QL_ROPE_NEOX. Before binding, every tensor the config implies is checked here under
 * its HF name, so a wrong shape is reported as "tensor X has shape A, config.json
 * implies B", and a tensor the forward pass would ignore (a bias it lacks) is refused.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hf.h"
#include "loaders.h"
#include "model/safetensors.h"
#include "runtime/error.h"
#include "text/tok_hf.h"

struct ql_hf {
    ql_hf_config cfg;
    ql_safetensors *st;
};

void ql_hf_close(struct ql_hf *hf) {
    if (!hf) return;
    ql_safetensors_close(hf->st);
    free(hf);
}

/* ---- GGUF name -> HF name ------------------------------------------------------------ */

typedef struct name_map {
    const char *gguf; /* suffix after "blk.L." */
    const char *hf;   /* suffix after "model.layers.L."; %d = expert for *_exps */
} name_map;

static const name_map k_layer_names[] = {
    {"attn_norm.weight", "input_layernorm.weight"},
    {"ffn_norm.weight", "post_attention_layernorm.weight"},
    {"attn_q.weight", "self_attn.q_proj.weight"},
    {"attn_k.weight", "self_attn.k_proj.weight"},
    {"attn_v.weight", "self_attn.v_proj.weight"},
    {"attn_output.weight", "self_attn.o_proj.weight"},
    {"attn_q.bias", "self_attn.q_proj.bias"},
    {"attn_k.bias", "self_attn.k_proj.bias"},
    {"attn_v.bias", "self_attn.v_proj.bias"},
    {"attn_q_norm.weight", "self_attn.q_norm.weight"},
    {"attn_k_norm.weight", "self_attn.k_norm.weight"},
    {"ffn_gate.weight", "mlp.gate_proj.weight"},
    {"ffn_up.weight", "mlp.up_proj.weight"},
    {"ffn_down.weight", "mlp.down_proj.weight"},
};

static const name_map k_mixtral_names[] = {
    {"ffn_gate_inp.weight", "block_sparse_moe.gate.weight"},
    {"ffn_gate_exps.weight", "block_sparse_moe.experts.%d.w1.weight"},
    {"ffn_up_exps.weight", "block_sparse_moe.experts.%d.w3.weight"},
    {"ffn_down_exps.weight", "block_sparse_moe.experts.%d.w2.weight"},
};

static const name_map k_qwen2_moe_names[] = {
    {"ffn_gate_inp.weight", "mlp.gate.weight"},
    {"ffn_gate_exps.weight", "mlp.experts.%d.gate_proj.weight"},
    {"ffn_up_exps.weight", "mlp.experts.%d.up_proj.weight"},
    {"ffn_down_exps.weight", "mlp.experts.%d.down_proj.weight"},
    {"ffn_gate_shexp.weight", "mlp.shared_expert.gate_proj.weight"},
    {"ffn_up_shexp.weight", "mlp.shared_expert.up_proj.weight"},
    {"ffn_down_shexp.weight", "mlp.shared_expert.down_proj.weight"},
    {"ffn_gate_inp_shexp.weight", "mlp.shared_expert_gate.weight"},
};

static const char *lookup(const name_map *map, size_t n, const char *gguf) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(map[i].gguf, gguf)) return map[i].hf;
    return NULL;
}

/* The HF name of GGUF tensor `gguf` (expert slice `expert`, or -1); false if none. */
static bool hf_name(const ql_hf_config *c, const char *gguf, int expert, char *buf, size_t cap) {
    const char *top = NULL;
    if (!strcmp(gguf, "token_embd.weight")) top = "model.embed_tokens.weight";
    else if (!strcmp(gguf, "output_norm.weight")) top = "model.norm.weight";
    else if (!strcmp(gguf, "output.weight")) top = c->tied ? NULL : "lm_head.weight";
    if (top) {
        if (expert >= 0) return false;
        snprintf(buf, cap, "%s", top);
        return true;
    }
    int layer, len = 0;
    if (sscanf(gguf, "blk.%d.%n", &layer, &len) != 1 || len == 0 || layer < 0) return false;
    const char *suffix = gguf + len;
    const char *hf = lookup(k_layer_names, sizeof k_layer_names / sizeof k_layer_names[0], suffix);
    if (!hf && c->ffn == QL_HF_FFN_MIXTRAL)
        hf = lookup(k_mixtral_names, sizeof k_mixtral_names / sizeof k_mixtral_names[0], suffix);
    if (!hf && c->ffn == QL_HF_FFN_QWEN2_MOE)
        hf = lookup(k_qwen2_moe_names, sizeof k_qwen2_moe_names / sizeof k_qwen2_moe_names[0],
                    suffix);
    if (!hf || (strstr(hf, "%d") != NULL) != (expert >= 0)) return false;
    char tail[96];
    snprintf(tail, sizeof tail, hf, expert); /* hf is one of the literals above */
    snprintf(buf, cap, "model.layers.%d.%s", layer, tail);
    return true;
}

static bool hf_find(void *ctx, const char *name, int expert, ql_tensor_view *out) {
    const struct ql_hf *hf = ctx;
    char buf[160];
    if (!hf_name(&hf->cfg, name, expert, buf, sizeof buf)) return false;
    const ql_st_tensor *t = ql_safetensors_find(hf->st, buf);
    if (!t) return false;
    memset(out, 0, sizeof *out);
    out->data = t->data;
    out->type = t->type;
    out->nbytes = t->nbytes;
    out->n_dims = t->n_dims ? t->n_dims : 1;
    for (int d = 0; d < 4; d++) out->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) out->ne[d] = t->shape[t->n_dims - 1 - d];
    /* shared_expert_gate [1, H] is a vector */
    if (out->n_dims == 2 && out->ne[1] == 1) out->n_dims = 1;
    return true;
}

/* ---- shapes against config.json ----------------------------------------------------- */

typedef struct checker {
    const char *path; /* the folder */
    const ql_safetensors *st;
    bool *used;       /* [count]: tensors some layer reads */
    ql_error *err;
} checker;

static void fmt_shape(char *buf, size_t cap, const int64_t *s, uint32_t n) {
    size_t len = (size_t)snprintf(buf, cap, "[");
    for (uint32_t d = 0; d < n && len < cap; d++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%lld", d ? ", " : "", (long long)s[d]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

/* Tensor `name` must have HF shape [d0] (d1 < 0) or [d0, d1]; d0 = 0 accepts any size. */
static ql_status expect(const checker *k, bool required, int64_t d0, int64_t d1,
                        const char *fmt, ...) QL_PRINTF(5, 6);
static ql_status expect(const checker *k, bool required, int64_t d0, int64_t d1,
                        const char *fmt, ...) {
    char name[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    ptrdiff_t i = ql_safetensors_find_index(k->st, name);
    if (i < 0) {
        if (!required) return QL_OK;
        return ql_fail(k->err, QL_ERR_NOT_FOUND, "%s: tensor '%s' is missing from the safetensors",
                       k->path, name);
    }
    k->used[i] = true;
    const ql_st_tensor *t = ql_safetensors_at(k->st, (size_t)i);
    int64_t want[2] = {d0, d1};
    uint32_t nd = d1 < 0 ? 1 : 2;
    bool ok = t->n_dims == nd && (d0 == 0 || t->shape[0] == d0) && (nd == 1 || t->shape[1] == d1);
    if (!ok) {
        char have[96], need[64];
        fmt_shape(have, sizeof have, t->shape, t->n_dims);
        if (d0 == 0) want[0] = t->n_dims ? t->shape[0] : 0;
        fmt_shape(need, sizeof need, want, nd);
        return ql_fail(k->err, QL_ERR_CORRUPT,
                       "%s: tensor '%s' has shape %s but config.json implies %s", t->file, name,
                       have, need);
    }
    return QL_OK;
}

static ql_status check_layer(const checker *k, const ql_hf_config *c, int l) {
    const ql_hparams *hp = &c->hp;
    int64_t H = hp->n_embd, q = (int64_t)hp->n_head * hp->head_dim,
            kv = (int64_t)hp->n_head_kv * hp->head_dim, hd = hp->head_dim;
    const char *L = "model.layers";
    ql_status st;
    if ((st = expect(k, true, H, -1, "%s.%d.input_layernorm.weight", L, l)) ||
        (st = expect(k, true, H, -1, "%s.%d.post_attention_layernorm.weight", L, l)) ||
        (st = expect(k, true, q, H, "%s.%d.self_attn.q_proj.weight", L, l)) ||
        (st = expect(k, true, kv, H, "%s.%d.self_attn.k_proj.weight", L, l)) ||
        (st = expect(k, true, kv, H, "%s.%d.self_attn.v_proj.weight", L, l)) ||
        (st = expect(k, true, H, q, "%s.%d.self_attn.o_proj.weight", L, l)) ||
        (st = expect(k, c->qkv_bias, q, -1, "%s.%d.self_attn.q_proj.bias", L, l)) ||
        (st = expect(k, c->qkv_bias, kv, -1, "%s.%d.self_attn.k_proj.bias", L, l)) ||
        (st = expect(k, c->qkv_bias, kv, -1, "%s.%d.self_attn.v_proj.bias", L, l)) ||
        (st = expect(k, c->qk_norm, hd, -1, "%s.%d.self_attn.q_norm.weight", L, l)) ||
        (st = expect(k, c->qk_norm, hd, -1, "%s.%d.self_attn.k_norm.weight", L, l)))
        return st;
    int64_t F = hp->n_ff, Fe = hp->n_ff_exp, Fs = hp->n_ff_shexp, E = hp->n_expert;
    switch (c->ffn) {
    case QL_HF_FFN_DENSE:
        if ((st = expect(k, true, F, H, "%s.%d.mlp.gate_proj.weight", L, l)) ||
            (st = expect(k, true, F, H, "%s.%d.mlp.up_proj.weight", L, l)) ||
            (st = expect(k, true, H, F, "%s.%d.mlp.down_proj.weight", L, l)))
            return st;
        break;
    case QL_HF_FFN_MIXTRAL:
        if ((st = expect(k, true, E, H, "%s.%d.block_sparse_moe.gate.weight", L, l))) return st;
        for (int64_t e = 0; e < E; e++)
            if ((st = expect(k, true, Fe, H, "%s.%d.block_sparse_moe.experts.%lld.w1.weight", L, l, (long long)e)) ||
                (st = expect(k, true, Fe, H, "%s.%d.block_sparse_moe.experts.%lld.w3.weight", L, l, (long long)e)) ||
                (st = expect(k, true, H, Fe, "%s.%d.block_sparse_moe.experts.%lld.w2.weight", L, l, (long long)e)))
                return st;
        break;
    case QL_HF_FFN_QWEN2_MOE:
        if ((st = expect(k, true, E, H, "%s.%d.mlp.gate.weight", L, l))) return st;
        for (int64_t e = 0; e < E; e++)
            if ((st = expect(k, true, Fe, H, "%s.%d.mlp.experts.%lld.gate_proj.weight", L, l, (long long)e)) ||
                (st = expect(k, true, Fe, H, "%s.%d.mlp.experts.%lld.up_proj.weight", L, l, (long long)e)) ||
                (st = expect(k, true, H, Fe, "%s.%d.mlp.experts.%lld.down_proj.weight", L, l, (long long)e)))
                return st;
        if (Fs > 0 &&
            ((st = expect(k, true, Fs, H, "%s.%d.mlp.shared_expert.gate_proj.weight", L, l)) ||
             (st = expect(k, true, Fs, H, "%s.%d.mlp.shared_expert.up_proj.weight", L, l)) ||
             (st = expect(k, true, H, Fs, "%s.%d.mlp.shared_expert.down_proj.weight", L, l)) ||
             (st = expect(k, true, 1, H, "%s.%d.mlp.shared_expert_gate.weight", L, l))))
            return st;
        break;
    }
    return QL_OK;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* Every tensor config.json implies, with its shape; then no tensor left unread. */
static ql_status check_tensors(const char *path, ql_hf_config *c, const ql_safetensors *st,
                               ql_error *err) {
    size_t n = ql_safetensors_count(st);
    checker k = {path, st, calloc(n ? n : 1, sizeof(bool)), err};
    if (!k.used) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path);
    ql_hparams *hp = &c->hp;
    ptrdiff_t ie = ql_safetensors_find_index(st, "model.embed_tokens.weight");
    if (hp->n_vocab == 0 && ie >= 0) {
        const ql_st_tensor *t = ql_safetensors_at(st, (size_t)ie);
        if (t->n_dims == 2 && t->shape[0] > 0 && t->shape[0] <= INT32_MAX)
            hp->n_vocab = (int32_t)t->shape[0];
    }
    int64_t V = hp->n_vocab, H = hp->n_embd;
    ql_status s;
    if (!(s = expect(&k, true, V, H, "model.embed_tokens.weight")) &&
        !(s = expect(&k, true, H, -1, "model.norm.weight")) &&
        !(s = c->tied ? QL_OK : expect(&k, true, V, H, "lm_head.weight")))
        for (int l = 0; l < hp->n_layer && !s; l++) s = check_layer(&k, c, l);
    for (size_t i = 0; i < n && !s; i++) {
        const ql_st_tensor *t = ql_safetensors_at(st, i);
        if (k.used[i] || ends_with(t->name, "rotary_emb.inv_freq") ||
            (c->tied && !strcmp(t->name, "lm_head.weight")))
            continue;
        s = ql_fail(err, QL_ERR_UNSUPPORTED,
                    "%s: tensor '%s' is not part of a %s model as config.json describes it "
                    "(qloop would ignore it)",
                    t->file, t->name, c->model_type);
    }
    free(k.used);
    return s;
}

/* ---- loading ------------------------------------------------------------------------ */

static char *folder_name(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    char *s = malloc(n - b + 1);
    if (s) {
        memcpy(s, path + b, n - b);
        s[n - b] = '\0';
    }
    return s;
}

ql_status ql_load_hf(ql_model *m, ql_error *err) {
    char cfg_path[4096];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.json", m->path);
    struct ql_hf *hf = calloc(1, sizeof *hf);
    if (!hf || !(m->name = folder_name(m->path))) {
        free(hf);
        return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", m->path);
    }
    m->hf = hf;
    ql_status st = ql_tokenizer_from_hf(m->path, &m->tok, err);
    if (st == QL_ERR_NOT_FOUND && !m->vocab_only) st = ql_ok(err); /* tokenize will say so */
    if (st) return st;
    st = ql_hf_read_config(cfg_path, &hf->cfg, err);
    if (m->vocab_only) {
        /* only the vocabulary is wanted: a config this loader cannot run is no error */
        m->architecture = strdup(st ? "hf" : hf->cfg.model_type);
        m->hp.n_vocab = ql_tokenizer_n_vocab(m->tok);
        return m->architecture ? ql_ok(err) : ql_fail(err, QL_ERR_NOMEM, "out of memory");
    }
    if (st) return st;
    if (!(m->architecture = strdup(hf->cfg.model_type)))
        return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", m->path);
    if ((st = ql_safetensors_open_dir(m->path, &hf->st, err)) ||
        (st = check_tensors(m->path, &hf->cfg, hf->st, err)))
        return st;
    m->hp = hf->cfg.hp;
    m->loop = hf->cfg.loop;
    m->src.ctx = hf;
    m->src.find = hf_find;
    return QL_OK;
}
