/*
 * src/model/model.c: building a ql_model from a GGUF file.
 *
 * Reads the hyperparameters ({arch}.* keys), binds every weight tensor by its GGUF name
 * and checks its type and shape against the hyperparameters, so that the forward pass
 * never meets a tensor it cannot use. Also hosts the public tokenizer wrappers.
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "simd/dispatch.h"

static char *dup_str(ql_str s) {
    char *p = malloc(s.len + 1);
    if (!p) return NULL;
    memcpy(p, s.ptr, s.len);
    p[s.len] = '\0';
    return p;
}

/* Reads "{arch}.suffix" as u32 into *out; absent keys keep *out when `optional`. */
static ql_status get_arch_u32(const ql_model *m, const char *suffix, bool optional,
                              int32_t *out, ql_error *err) {
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

static ql_status get_arch_f32(const ql_model *m, const char *suffix, float *out,
                              ql_error *err) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", m->architecture, suffix);
    ql_status st = ql_gguf_get_f32(m->gguf, key, out, err);
    if (st == QL_ERR_NOT_FOUND) return ql_ok(err);
    return st;
}

static ql_status read_hparams(ql_model *m, ql_error *err) {
    ql_hparams *hp = &m->hp;
    ql_status st;
    if ((st = get_arch_u32(m, "embedding_length", false, &hp->n_embd, err)) ||
        (st = get_arch_u32(m, "block_count", false, &hp->n_layer, err)) ||
        (st = get_arch_u32(m, "feed_forward_length", false, &hp->n_ff, err)) ||
        (st = get_arch_u32(m, "attention.head_count", false, &hp->n_head, err)))
        return st;
    hp->n_ctx_train = 2048;
    hp->n_head_kv = hp->n_head;
    if ((st = get_arch_u32(m, "context_length", true, &hp->n_ctx_train, err)) ||
        (st = get_arch_u32(m, "attention.head_count_kv", true, &hp->n_head_kv, err)))
        return st;
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_ff <= 0 || hp->n_head <= 0 ||
        hp->n_head_kv <= 0 || hp->n_ctx_train <= 0)
        return ql_fail(err, QL_ERR_CORRUPT,
                       "%s: hyperparameters must be positive (embd %d, layers %d, ff %d, "
                       "heads %d/%d, ctx %d)",
                       m->path, hp->n_embd, hp->n_layer, hp->n_ff, hp->n_head, hp->n_head_kv,
                       hp->n_ctx_train);
    if (hp->n_head % hp->n_head_kv != 0)
        return ql_fail(err, QL_ERR_CORRUPT, "%s: head_count %d is not a multiple of head_count_kv %d",
                       m->path, hp->n_head, hp->n_head_kv);
    hp->head_dim = hp->n_embd / hp->n_head;
    int32_t key_len = hp->head_dim, value_len = hp->head_dim;
    if ((st = get_arch_u32(m, "attention.key_length", true, &key_len, err)) ||
        (st = get_arch_u32(m, "attention.value_length", true, &value_len, err)))
        return st;
    if (key_len != value_len || key_len <= 0)
        return ql_fail(err, QL_ERR_UNSUPPORTED, "%s: key_length %d != value_length %d",
                       m->path, key_len, value_len);
    hp->head_dim = key_len;
    hp->n_rot = hp->head_dim;
    if ((st = get_arch_u32(m, "rope.dimension_count", true, &hp->n_rot, err))) return st;
    if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return ql_fail(err, QL_ERR_CORRUPT, "%s: rope.dimension_count %d must be even and <= head dim %d",
                       m->path, hp->n_rot, hp->head_dim);
    hp->rope_base = 10000.0f;
    hp->rms_eps = 1e-5f;
    if ((st = get_arch_f32(m, "rope.freq_base", &hp->rope_base, err)) ||
        (st = get_arch_f32(m, "attention.layer_norm_rms_epsilon", &hp->rms_eps, err)))
        return st;
    if (!(hp->rope_base > 0.0f) || !(hp->rms_eps >= 0.0f))
        return ql_fail(err, QL_ERR_CORRUPT, "%s: rope.freq_base %g / rms epsilon %g out of range",
                       m->path, hp->rope_base, hp->rms_eps);
    hp->rope_layout = QL_ROPE_INTERLEAVED;
    return QL_OK;
}

/* Binds tensor `name` as a matrix of `rows` rows of `k` elements of a type the kernels
 * support. A missing optional tensor leaves w->data NULL. */
static ql_status bind_matrix(ql_model *m, const char *name, int64_t k, int64_t rows,
                             bool optional, ql_weight *w, ql_error *err) {
    const ql_gguf_tensor *t = ql_gguf_find_tensor(m->gguf, name);
    memset(w, 0, sizeof *w);
    if (!t) {
        if (optional) return QL_OK;
        return ql_fail(err, QL_ERR_NOT_FOUND, "%s: tensor '%s' is missing", m->path, name);
    }
    if (t->n_dims > 2 || t->ne[0] != k || t->ne[1] != rows)
        return ql_fail(err, QL_ERR_CORRUPT,
                       "%s: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
                       m->path, name, (long long)t->ne[0], (long long)t->ne[1],
                       (long long)t->ne[2], (long long)t->ne[3], (long long)k, (long long)rows);
    const ql_kernel_table *kt = ql_kernels();
    uint64_t act_row = 0;
    if (!kt->matmul[t->type] || !kt->to_float[t->type] ||
        !ql_type_row_bytes(kt->act_type[t->type], (uint64_t)k, &act_row) ||
        (kt->act_type[t->type] != QL_TYPE_F32 && !kt->from_float[kt->act_type[t->type]])) {
        const ql_type_traits *tt = ql_type_get(t->type);
        return ql_fail(err, QL_ERR_UNSUPPORTED, "%s: tensor '%s' has type %s, not supported yet",
                       m->path, name, tt ? tt->name : "?");
    }
    w->data = t->data;
    w->type = t->type;
    w->k = k;
    w->rows = rows;
    w->row_bytes = (size_t)(t->nbytes / (uint64_t)rows);
    w->name = t->name.ptr; /* names in the mapping are followed by more data: print with len */
    m->n_params += t->n_elements;
    m->weight_bytes += t->nbytes;
    return QL_OK;
}

/* Binds a 1-D tensor of n elements and converts it to an owned float array. */
static ql_status bind_vector(ql_model *m, const char *name, int64_t n, float **out,
                             ql_error *err) {
    ql_weight w;
    ql_status st = bind_matrix(m, name, n, 1, false, &w, err);
    if (st) return st;
    float *v = malloc((size_t)n * sizeof(float));
    if (!v) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory for '%s'", m->path, name);
    ql_kernels()->to_float[w.type](w.data, v, n);
    *out = v;
    return QL_OK;
}

static ql_status bind_weights(ql_model *m, ql_error *err) {
    const ql_hparams *hp = &m->hp;
    int64_t d = hp->n_embd, q_dim = (int64_t)hp->n_head * hp->head_dim,
            kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    ql_status st;
    const ql_gguf_tensor *emb = ql_gguf_find_tensor(m->gguf, "token_embd.weight");
    if (!emb)
        return ql_fail(err, QL_ERR_NOT_FOUND, "%s: tensor 'token_embd.weight' is missing", m->path);
    if (emb->ne[1] <= 0 || emb->ne[1] > INT32_MAX)
        return ql_fail(err, QL_ERR_CORRUPT, "%s: token_embd.weight has %lld rows", m->path,
                       (long long)emb->ne[1]);
    m->hp.n_vocab = (int32_t)emb->ne[1];
    if (m->tok && ql_tokenizer_n_vocab(m->tok) > m->hp.n_vocab)
        return ql_fail(err, QL_ERR_CORRUPT, "%s: vocabulary has %d tokens but token_embd.weight only %d rows",
                       m->path, ql_tokenizer_n_vocab(m->tok), m->hp.n_vocab);
    if ((st = bind_matrix(m, "token_embd.weight", d, hp->n_vocab, false, &m->tok_embd, err)) ||
        (st = bind_vector(m, "output_norm.weight", d, &m->output_norm, err)) ||
        (st = bind_matrix(m, "output.weight", d, hp->n_vocab, true, &m->output, err)))
        return st;
    if (!m->output.data) m->output = m->tok_embd; /* tied embeddings */
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", m->path);
    for (int32_t l = 0; l < hp->n_layer; l++) {
        ql_layer *L = &m->layers[l];
        char n[9][64];
        static const char *const suffix[9] = {"attn_norm", "attn_q", "attn_k", "attn_v",
                                              "attn_output", "ffn_norm", "ffn_gate", "ffn_up",
                                              "ffn_down"};
        for (int i = 0; i < 9; i++) snprintf(n[i], sizeof n[i], "blk.%d.%s.weight", l, suffix[i]);
        if ((st = bind_vector(m, n[0], d, &L->attn_norm, err)) ||
            (st = bind_matrix(m, n[1], d, q_dim, false, &L->wq, err)) ||
            (st = bind_matrix(m, n[2], d, kv_dim, false, &L->wk, err)) ||
            (st = bind_matrix(m, n[3], d, kv_dim, false, &L->wv, err)) ||
            (st = bind_matrix(m, n[4], q_dim, d, false, &L->wo, err)) ||
            (st = bind_vector(m, n[5], d, &L->ffn_norm, err)) ||
            (st = bind_matrix(m, n[6], d, hp->n_ff, false, &L->w_gate, err)) ||
            (st = bind_matrix(m, n[7], d, hp->n_ff, false, &L->w_up, err)) ||
            (st = bind_matrix(m, n[8], hp->n_ff, d, false, &L->w_down, err)))
            return st;
    }
    return QL_OK;
}

ql_model_params ql_model_params_default(void) {
    ql_model_params p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    return p;
}

void ql_model_free(ql_model *m) {
    if (!m) return;
    if (m->layers) {
        for (int32_t l = 0; l < m->hp.n_layer; l++) {
            free(m->layers[l].attn_norm);
            free(m->layers[l].ffn_norm);
        }
        free(m->layers);
    }
    free(m->output_norm);
    ql_tokenizer_free(m->tok);
    ql_gguf_close(m->gguf);
    free(m->architecture);
    free(m->name);
    free(m->path);
    free(m);
}

ql_status ql_model_load(const char *path, const ql_model_params *params, ql_model **out,
                        ql_error *err) {
    if (!out) return ql_fail(err, QL_ERR_ARG, "ql_model_load: out is NULL");
    *out = NULL;
    if (!path) return ql_fail(err, QL_ERR_ARG, "ql_model_load: path is NULL");
    ql_model_params p = ql_model_params_default();
    if (params) p = *params;
    ql_status st = ql_kernels_check(err);
    if (st) return st;
    ql_model *m = calloc(1, sizeof *m);
    if (!m || !(m->path = strdup(path))) {
        free(m);
        return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path);
    }
    m->vocab_only = p.vocab_only;
    if ((st = ql_gguf_open(path, &m->gguf, err))) goto fail;
    ql_str arch, name = {"", 0};
    if ((st = ql_gguf_get_str(m->gguf, "general.architecture", &arch, err))) goto fail;
    if (ql_gguf_get(m->gguf, "general.name")) ql_gguf_get_str(m->gguf, "general.name", &name, NULL);
    if (!(m->architecture = dup_str(arch)) || !(m->name = dup_str(name))) {
        st = ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    if ((st = ql_tokenizer_from_gguf(m->gguf, &m->tok, err))) goto fail;
    if (m->vocab_only) {
        m->hp.n_vocab = ql_tokenizer_n_vocab(m->tok);
        *out = m;
        return ql_ok(err);
    }
    if (strcmp(m->architecture, "llama") != 0) {
        st = ql_fail(err, QL_ERR_UNSUPPORTED, "%s: architecture '%s' is not supported (llama is)",
                     path, m->architecture);
        goto fail;
    }
    if ((st = read_hparams(m, err)) || (st = bind_weights(m, err))) goto fail;
    *out = m;
    return ql_ok(err);
fail:
    ql_model_free(m);
    return st;
}

void ql_model_get_info(const ql_model *m, ql_model_info *info) {
    memset(info, 0, sizeof *info);
    info->architecture = m->architecture;
    info->name = m->name;
    info->n_vocab = m->hp.n_vocab;
    info->n_ctx_train = m->hp.n_ctx_train;
    info->n_embd = m->hp.n_embd;
    info->n_layer = m->hp.n_layer;
    info->n_head = m->hp.n_head;
    info->n_head_kv = m->hp.n_head_kv;
    info->head_dim = m->hp.head_dim;
    info->n_ff = m->hp.n_ff;
    info->n_params = m->n_params;
    info->weight_bytes = m->weight_bytes;
    info->bos_id = m->tok ? ql_tokenizer_bos(m->tok) : -1;
    info->eos_id = m->tok ? ql_tokenizer_eos(m->tok) : -1;
}

/* ---- public tokenizer API: thin wrappers over src/text ---------------------------- */

ql_status ql_tokenize(const ql_model *m, const char *text, size_t len, bool add_special,
                      bool parse_special, int32_t *ids, size_t cap, size_t *n_ids,
                      ql_error *err) {
    if (!m || (!text && len) || !n_ids || (!ids && cap))
        return ql_fail(err, QL_ERR_ARG, "ql_tokenize: NULL argument");
    return ql_tokenizer_encode(m->tok, text ? text : "", len, add_special, parse_special, ids,
                               cap, n_ids, err);
}

int32_t ql_token_to_piece(const ql_model *m, int32_t id, bool show_special, char *buf,
                          size_t cap) {
    if (!m || (!buf && cap)) return -1;
    return ql_tokenizer_piece(m->tok, id, show_special, buf, cap);
}

ql_status ql_detokenize(const ql_model *m, const int32_t *ids, size_t n_ids,
                        bool remove_leading_space, bool show_special, char *text, size_t cap,
                        size_t *n_bytes, ql_error *err) {
    if (!m || (!ids && n_ids) || (!text && cap) || !n_bytes)
        return ql_fail(err, QL_ERR_ARG, "ql_detokenize: NULL argument");
    return ql_tokenizer_decode(m->tok, ids, n_ids, remove_leading_space, show_special, text, cap,
                               n_bytes, err);
}

bool ql_token_is_eog(const ql_model *m, int32_t id) {
    return m && ql_tokenizer_is_eog(m->tok, id);
}
