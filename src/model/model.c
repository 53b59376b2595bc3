/*
 * src/model/model.c: building a ql_model.
 *
 * A model comes from a GGUF file (load_gguf.c) or a Hugging Face folder (hf_*.c); each
 * loader fills the hyperparameters, the tokenizer and a tensor source that answers GGUF
 * tensor names. Binding, here, then looks up every weight the architecture needs and
 * checks its type and shape against the hyperparameters, so the forward pass never meets
 * a tensor it cannot use. Also hosts the public tokenizer wrappers.
 */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "loaders.h"
#include "runtime/error.h"
#include "simd/dispatch.h"
#include "simd/g16.h"

static const char *type_name(uint32_t type) {
    const ql_type_traits *t = ql_type_get(type);
    return t ? t->name : "?";
}

/* Room for a grouped copy of `bytes` bytes. The copies are placed one after the other in
 * binding order (a layer's q, k, v, then o, gate, up, down), in one anonymous mapping the
 * size of the file, reserved at the first copy with 2 MiB pages: a thread whose share of a
 * q/k/v job runs from one matrix into the next keeps reading one ascending stream (the
 * hardware prefetchers follow it), and a first touch of a fresh 4 KiB page cost ~10 us on
 * the VM of docs/PERFORMANCE.md. A copy that does not fit gets its own allocation. */
static void *packed_room(ql_model *m, size_t bytes) {
    size_t size = (bytes + 63) / 64 * 64;
    if (!m->arena && m->gguf) {
        uint64_t file = ql_gguf_file_size(m->gguf);
        if (file > 0) {
            size_t cap = ((size_t)file + ((size_t)2 << 20) - 1) / ((size_t)2 << 20) * ((size_t)2 << 20);
            void *a = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (a != MAP_FAILED) {
                madvise(a, cap, MADV_HUGEPAGE);
                m->arena = a;
                m->arena_cap = cap;
            }
        }
    }
    if (m->arena && m->arena_cap - m->arena_used >= size) {
        void *p = m->arena + m->arena_used;
        m->arena_used += size;
        return p;
    }
    if (m->n_packed == m->cap_packed) {
        size_t cap = m->cap_packed ? 2 * m->cap_packed : 16;
        void **p = realloc(m->packed, cap * sizeof *p);
        if (!p) return NULL;
        m->packed = p;
        m->cap_packed = cap;
    }
    void *dst = NULL;
    if (posix_memalign(&dst, 64, size)) return NULL;
    m->packed[m->n_packed++] = dst;
    return dst;
}

/* Replaces w's data by a copy in the grouped layout (simd/g16.h), owned by m. The mapped
 * file's whole pages inside the matrix are handed back to the page cache (MADV_DONTNEED on
 * a read-only private file mapping: a later read maps them again), so the copy does not
 * double the resident size. Only GGUF data is mapped: other sources keep their bytes. */
static ql_status pack_grouped(ql_model *m, ql_weight *w, ql_error *err) {
    size_t bytes = w->row_bytes * (size_t)w->rows;
    void *dst = packed_room(m, bytes);
    if (!dst) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory for '%s'", m->path, w->name);
    size_t unit = ql_g16_unit_bytes(ql_kernels(), w->type);
    ql_g16_pack(unit, w->data, dst, w->rows, w->row_bytes);
    if (m->gguf) {
        uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE), a = (uintptr_t)w->data;
        uintptr_t lo = (a + page - 1) / page * page, hi = (a + bytes) / page * page;
        if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
    }
    w->data = dst;
    w->g16_unit = unit;
    return QL_OK;
}

/* Binds tensor `name` (expert slice `expert`, or -1) as a matrix of `rows` rows of `k`
 * elements of a type the kernels support. A missing optional tensor leaves w->data NULL. */
static ql_status bind_matrix(ql_model *m, const char *name, int expert, int64_t k,
                             int64_t rows, bool optional, ql_weight *w, ql_error *err) {
    ql_tensor_view t;
    memset(w, 0, sizeof *w);
    if (!m->src.find(m->src.ctx, name, expert, &t)) {
        if (optional) return QL_OK;
        if (expert >= 0)
            return ql_fail(err, QL_ERR_NOT_FOUND, "%s: tensor '%s' (expert %d) is missing", m->path,
                           name, expert);
        return ql_fail(err, QL_ERR_NOT_FOUND, "%s: tensor '%s' is missing", m->path, name);
    }
    bool shape_ok = t.ne[0] == k && t.ne[1] == rows;
    for (uint32_t d = 2; d < 4; d++) shape_ok = shape_ok && t.ne[d] == 1;
    if (!shape_ok)
        return ql_fail(err, QL_ERR_CORRUPT,
                       "%s: tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]",
                       m->path, name, (long long)t.ne[0], (long long)t.ne[1], (long long)t.ne[2],
                       (long long)t.ne[3], (long long)k, (long long)rows);
    const ql_kernel_table *kt = ql_kernels();
    uint64_t act_row = 0, row = 0;
    uint32_t act = kt->act_type[t.type < QL_TYPE_COUNT ? t.type : 0];
    if (t.type >= QL_TYPE_COUNT || !kt->matmul[t.type] || !kt->to_float[t.type] ||
        !ql_type_row_bytes(act, (uint64_t)k, &act_row) ||
        (act != QL_TYPE_F32 && !kt->from_float[act]) ||
        !ql_type_row_bytes(t.type, (uint64_t)k, &row))
        return ql_fail(err, QL_ERR_UNSUPPORTED,
                       "%s: tensor '%s' has type %s with rows of %lld, not supported", m->path,
                       name, type_name(t.type), (long long)k);
    if (row * (uint64_t)rows != t.nbytes)
        return ql_fail(err, QL_ERR_CORRUPT, "%s: tensor '%s' has %llu bytes, expected %llu",
                       m->path, name, (unsigned long long)t.nbytes,
                       (unsigned long long)(row * (uint64_t)rows));
    w->data = t.data;
    snprintf(w->name, sizeof w->name, "%s", name);
    w->expert = expert;
    w->type = t.type;
    w->k = k;
    w->rows = rows;
    w->row_bytes = (size_t)row;
    m->n_params += (uint64_t)(k * rows);
    m->weight_bytes += t.nbytes;
    if (!m->plain_layout && ql_g16_fits(kt, t.type, k, rows)) return pack_grouped(m, w, err);
    return QL_OK;
}

/* Binds a 1-D tensor of n elements and converts it to an owned float array; a missing
 * optional one leaves *out NULL. */
static ql_status bind_vector(ql_model *m, const char *name, int64_t n, bool optional,
                             float **out, ql_error *err) {
    ql_weight w;
    *out = NULL;
    ql_status st = bind_matrix(m, name, -1, n, 1, optional, &w, err);
    if (st || !w.data) return st;
    float *v = malloc((size_t)n * sizeof(float));
    if (!v) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory for '%s'", m->path, name);
    ql_kernels()->to_float[w.type](w.data, v, n);
    *out = v;
    return QL_OK;
}

static ql_status bind_experts(ql_model *m, ql_layer *L, int l, ql_error *err) {
    const ql_hparams *hp = &m->hp;
    int64_t d = hp->n_embd, e_ff = hp->n_ff_exp;
    char name[96];
    ql_status st;
    snprintf(name, sizeof name, "blk.%d.ffn_gate_inp.weight", l);
    if ((st = bind_matrix(m, name, -1, d, hp->n_expert, false, &L->router, err))) return st;
    L->exp_gate = calloc((size_t)hp->n_expert, sizeof *L->exp_gate);
    L->exp_up = calloc((size_t)hp->n_expert, sizeof *L->exp_up);
    L->exp_down = calloc((size_t)hp->n_expert, sizeof *L->exp_down);
    if (!L->exp_gate || !L->exp_up || !L->exp_down)
        return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", m->path);
    for (int e = 0; e < hp->n_expert; e++) {
        snprintf(name, sizeof name, "blk.%d.ffn_gate_exps.weight", l);
        if ((st = bind_matrix(m, name, e, d, e_ff, false, &L->exp_gate[e], err))) return st;
        snprintf(name, sizeof name, "blk.%d.ffn_up_exps.weight", l);
        if ((st = bind_matrix(m, name, e, d, e_ff, false, &L->exp_up[e], err))) return st;
        snprintf(name, sizeof name, "blk.%d.ffn_down_exps.weight", l);
        if ((st = bind_matrix(m, name, e, e_ff, d, false, &L->exp_down[e], err))) return st;
    }
    snprintf(name, sizeof name, "blk.%d.ffn_gate_shexp.weight", l);
    ql_tensor_view sh;
    if (hp->n_ff_shexp <= 0 && m->src.find(m->src.ctx, name, -1, &sh))
        return ql_fail(err, QL_ERR_CORRUPT,
                       "%s: tensor '%s' is present but the model has no shared expert width",
                       m->path, name);
    if (hp->n_ff_shexp > 0) {
        int64_t s_ff = hp->n_ff_shexp; /* `name` is still blk.l.ffn_gate_shexp.weight */
        if ((st = bind_matrix(m, name, -1, d, s_ff, false, &L->sh_gate, err))) return st;
        snprintf(name, sizeof name, "blk.%d.ffn_up_shexp.weight", l);
        if ((st = bind_matrix(m, name, -1, d, s_ff, false, &L->sh_up, err))) return st;
        snprintf(name, sizeof name, "blk.%d.ffn_down_shexp.weight", l);
        if ((st = bind_matrix(m, name, -1, s_ff, d, false, &L->sh_down, err))) return st;
        snprintf(name, sizeof name, "blk.%d.ffn_gate_inp_shexp.weight", l);
        if ((st = bind_vector(m, name, d, true, &L->sh_gate_inp, err))) return st;
    }
    return QL_OK;
}

static ql_status bind_layer(ql_model *m, int l, ql_error *err) {
    const ql_hparams *hp = &m->hp;
    ql_layer *L = &m->layers[l];
    int64_t d = hp->n_embd, q_dim = (int64_t)hp->n_head * hp->head_dim,
            kv_dim = (int64_t)hp->n_head_kv * hp->head_dim;
    char n[64];
    ql_status st;
#define NAME(suffix) (snprintf(n, sizeof n, "blk.%d." suffix, l), n)
    if ((st = bind_vector(m, NAME("attn_norm.weight"), d, false, &L->attn_norm, err)) ||
        (st = bind_matrix(m, NAME("attn_q.weight"), -1, d, q_dim, false, &L->wq, err)) ||
        (st = bind_matrix(m, NAME("attn_k.weight"), -1, d, kv_dim, false, &L->wk, err)) ||
        (st = bind_matrix(m, NAME("attn_v.weight"), -1, d, kv_dim, false, &L->wv, err)) ||
        (st = bind_matrix(m, NAME("attn_output.weight"), -1, q_dim, d, false, &L->wo, err)) ||
        (st = bind_vector(m, NAME("attn_q.bias"), q_dim, true, &L->bq, err)) ||
        (st = bind_vector(m, NAME("attn_k.bias"), kv_dim, true, &L->bk, err)) ||
        (st = bind_vector(m, NAME("attn_v.bias"), kv_dim, true, &L->bv, err)) ||
        (st = bind_vector(m, NAME("attn_q_norm.weight"), hp->head_dim, true, &L->q_norm, err)) ||
        (st = bind_vector(m, NAME("attn_k_norm.weight"), hp->head_dim, true, &L->k_norm, err)) ||
        (st = bind_vector(m, NAME("ffn_norm.weight"), d, false, &L->ffn_norm, err)))
        return st;
    if (!L->q_norm != !L->k_norm)
        return ql_fail(err, QL_ERR_CORRUPT, "%s: layer %d has only one of attn_q_norm / attn_k_norm",
                       m->path, l);
    if (hp->n_expert > 0) return bind_experts(m, L, l, err);
    if ((st = bind_matrix(m, NAME("ffn_gate.weight"), -1, d, hp->n_ff, false, &L->w_gate, err)) ||
        (st = bind_matrix(m, NAME("ffn_up.weight"), -1, d, hp->n_ff, false, &L->w_up, err)) ||
        (st = bind_matrix(m, NAME("ffn_down.weight"), -1, hp->n_ff, d, false, &L->w_down, err)))
        return st;
#undef NAME
    return QL_OK;
}

ql_status ql_model_bind_weights(ql_model *m, ql_error *err) {
    ql_hparams *hp = &m->hp;
    ql_tensor_view emb;
    if (!m->src.find(m->src.ctx, "token_embd.weight", -1, &emb))
        return ql_fail(err, QL_ERR_NOT_FOUND, "%s: tensor 'token_embd.weight' is missing", m->path);
    if (emb.ne[1] <= 0 || emb.ne[1] > INT32_MAX)
        return ql_fail(err, QL_ERR_CORRUPT, "%s: token_embd.weight has %lld rows", m->path,
                       (long long)emb.ne[1]);
    if (hp->n_vocab == 0) hp->n_vocab = (int32_t)emb.ne[1];
    if (m->tok && ql_tokenizer_n_vocab(m->tok) > hp->n_vocab)
        return ql_fail(err, QL_ERR_CORRUPT, "%s: vocabulary has %d tokens but the model only %d",
                       m->path, ql_tokenizer_n_vocab(m->tok), hp->n_vocab);
    ql_status st;
    if ((st = bind_matrix(m, "token_embd.weight", -1, hp->n_embd, hp->n_vocab, false, &m->tok_embd, err)) ||
        (st = bind_vector(m, "output_norm.weight", hp->n_embd, false, &m->output_norm, err)) ||
        (st = bind_matrix(m, "output.weight", -1, hp->n_embd, hp->n_vocab, true, &m->output, err)))
        return st;
    uint64_t embd_bytes = m->tok_embd.row_bytes * (uint64_t)m->tok_embd.rows;
    bool tied = !m->output.data;
    if (tied) m->output = m->tok_embd;
    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", m->path);
    uint64_t expert_bytes = 0;
    for (int32_t l = 0; l < hp->n_layer; l++) {
        if ((st = bind_layer(m, l, err))) return st;
        for (int32_t e = 0; e < hp->n_expert; e++) {
            const ql_layer *L = &m->layers[l];
            expert_bytes += L->exp_gate[e].row_bytes * (uint64_t)L->exp_gate[e].rows +
                            L->exp_up[e].row_bytes * (uint64_t)L->exp_up[e].rows +
                            L->exp_down[e].row_bytes * (uint64_t)L->exp_down[e].rows;
        }
    }
    /* A layer past the block count means the count is wrong, not that the layer is spare:
     * running without it would give a plausible but wrong model. */
    char extra[64];
    snprintf(extra, sizeof extra, "blk.%d.attn_norm.weight", (int)hp->n_layer);
    ql_tensor_view unused;
    if (m->src.find(m->src.ctx, extra, -1, &unused))
        return ql_fail(err, QL_ERR_CORRUPT, "%s: tensor '%s' is past the model's %d layers",
                       m->path, extra, (int)hp->n_layer);
    /* one token reads one embedding row, the output matrix, every layer matrix and k of
     * the n_expert experts */
    m->decode_bytes = m->weight_bytes - embd_bytes + m->tok_embd.row_bytes +
                      (tied ? embd_bytes : 0);
    if (hp->n_expert > 0)
        m->decode_bytes -= expert_bytes / (uint64_t)hp->n_expert *
                           (uint64_t)(hp->n_expert - hp->n_expert_used);
    return QL_OK;
}

/* The scaling parameters the RoPE formulas divide by or scale with (spec/rope.md): a NaN or
 * infinity there would give every position the same garbage angles, silently. Zero or
 * negative yarn betas, attention factor and mscales mean "use the default". */
static ql_status rope_scaling_check(const char *path, const ql_rope_params *r, ql_error *err) {
    if (r->scaling == QL_ROPE_SCALING_NONE) return QL_OK;
    if (!(r->factor > 0.0f && isfinite(r->factor)))
        return ql_fail(err, QL_ERR_CORRUPT, "%s: rope scaling factor %g must be > 0", path, r->factor);
    if (r->scaling == QL_ROPE_SCALING_LLAMA3 &&
        !(r->low_freq_factor > 0.0f && r->high_freq_factor > r->low_freq_factor &&
          isfinite(r->high_freq_factor)))
        return ql_fail(err, QL_ERR_CORRUPT,
                       "%s: llama3 rope low_freq_factor %g / high_freq_factor %g must satisfy "
                       "0 < low < high",
                       path, r->low_freq_factor, r->high_freq_factor);
    if (r->scaling == QL_ROPE_SCALING_YARN &&
        !(isfinite(r->beta_fast) && isfinite(r->beta_slow) && isfinite(r->attn_factor) &&
          isfinite(r->mscale) && isfinite(r->mscale_all_dim)))
        return ql_fail(err, QL_ERR_CORRUPT,
                       "%s: yarn rope parameters are not finite (beta_fast %g, beta_slow %g, "
                       "attn_factor %g, mscale %g, mscale_all_dim %g)",
                       path, r->beta_fast, r->beta_slow, r->attn_factor, r->mscale,
                       r->mscale_all_dim);
    return QL_OK;
}

ql_status ql_hparams_check(const char *path, const ql_hparams *hp, ql_error *err) {
    if (hp->n_embd <= 0 || hp->n_layer <= 0 || hp->n_head <= 0 || hp->n_head_kv <= 0 ||
        hp->n_ctx_train <= 0 || hp->head_dim <= 0 || (hp->n_expert == 0 && hp->n_ff <= 0))
        return ql_fail(err, QL_ERR_CORRUPT,
                       "%s: hyperparameters must be positive (embd %d, layers %d, ff %d, "
                       "heads %d/%d, head_dim %d, ctx %d)",
                       path, hp->n_embd, hp->n_layer, hp->n_ff, hp->n_head, hp->n_head_kv,
                       hp->head_dim, hp->n_ctx_train);
    if (hp->n_embd > (1 << 20) || hp->n_layer > 4096 || hp->n_head > 4096 ||
        hp->head_dim > 4096 || hp->n_ff > (1 << 22))
        return ql_fail(err, QL_ERR_CORRUPT, "%s: hyperparameters out of range", path);
    if (hp->n_head % hp->n_head_kv != 0)
        return ql_fail(err, QL_ERR_CORRUPT, "%s: %d attention heads are not a multiple of %d KV heads",
                       path, hp->n_head, hp->n_head_kv);
    if (hp->n_rot <= 0 || hp->n_rot > hp->head_dim || hp->n_rot % 2)
        return ql_fail(err, QL_ERR_CORRUPT, "%s: rotary dimensions %d must be even and <= head dim %d",
                       path, hp->n_rot, hp->head_dim);
    if (!(hp->rope.base > 0.0f && isfinite(hp->rope.base)) ||
        !(hp->rms_eps >= 0.0f && isfinite(hp->rms_eps)))
        return ql_fail(err, QL_ERR_CORRUPT, "%s: rope base %g / rms epsilon %g out of range", path,
                       hp->rope.base, hp->rms_eps);
    ql_status st = rope_scaling_check(path, &hp->rope, err);
    if (st != QL_OK) return st;
    if (hp->n_expert < 0 || hp->n_expert > 1024 ||
        (hp->n_expert > 0 && (hp->n_expert_used <= 0 || hp->n_expert_used > hp->n_expert ||
                              hp->n_ff_exp <= 0)))
        return ql_fail(err, QL_ERR_CORRUPT, "%s: experts %d, used %d, width %d are inconsistent",
                       path, hp->n_expert, hp->n_expert_used, hp->n_ff_exp);
    return QL_OK;
}

typedef struct verify_first {
    char name[128];
    uint64_t bad;
} verify_first;

static void note_mismatch(const char *name, ql_verify_state state, uint64_t stored,
                          uint64_t actual, void *user) {
    (void)stored;
    (void)actual;
    verify_first *v = user;
    if (state != QL_VERIFY_MISMATCH) return;
    if (v->bad++ == 0) snprintf(v->name, sizeof v->name, "%s", name);
}

/* --verify: every tensor's XXH3-64 against its qloop.checksum.* key. */
static ql_status verify_checksums(const char *path, ql_error *err) {
    verify_first v = {{0}, 0};
    ql_verify_result r;
    ql_status st = ql_verify(path, note_mismatch, &v, &r, err);
    if (st) return st;
    if (v.bad)
        return ql_fail(err, QL_ERR_CORRUPT,
                       "%s: tensor '%s' does not match its checksum (%llu of %llu tensors differ)",
                       path, v.name, (unsigned long long)v.bad, (unsigned long long)r.n_tensors);
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
            ql_layer *L = &m->layers[l];
            free(L->attn_norm);
            free(L->ffn_norm);
            free(L->bq);
            free(L->bk);
            free(L->bv);
            free(L->q_norm);
            free(L->k_norm);
            free(L->exp_gate);
            free(L->exp_up);
            free(L->exp_down);
            free(L->sh_gate_inp);
        }
        free(m->layers);
    }
    free(m->output_norm);
    free(m->rope_freq_factors);
    for (size_t i = 0; i < m->n_packed; i++) free(m->packed[i]);
    free(m->packed);
    if (m->arena) munmap(m->arena, m->arena_cap);
    ql_tokenizer_free(m->tok);
    ql_gguf_close(m->gguf);
    ql_hf_close(m->hf);
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
    m->plain_layout = p.plain_layout;
    struct stat sb;
    bool is_dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (p.verify && !is_dir && (st = verify_checksums(path, err))) {
        ql_model_free(m);
        return st;
    }
    st = is_dir ? ql_load_hf(m, err) : ql_load_gguf(m, err);
    if (st == QL_OK && !m->vocab_only) st = ql_model_bind_weights(m, err);
    if (st != QL_OK) {
        ql_model_free(m);
        return st;
    }
    *out = m;
    return ql_ok(err);
}

void ql_model_get_info(const ql_model *m, ql_model_info *info) {
    memset(info, 0, sizeof *info);
    info->architecture = m->architecture;
    info->name = m->name ? m->name : "";
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
    info->decode_bytes = m->decode_bytes;
    const ql_type_traits *tt = m->layers ? ql_type_get(m->layers[0].wq.type) : NULL;
    info->weight_type = tt ? tt->name : "";
}

/* ---- public tokenizer API: thin wrappers over src/text ---------------------------- */

ql_status ql_tokenize(const ql_model *m, const char *text, size_t len, bool add_special,
                      bool parse_special, int32_t *ids, size_t cap, size_t *n_ids,
                      ql_error *err) {
    if (!m || (!text && len) || !n_ids || (!ids && cap))
        return ql_fail(err, QL_ERR_ARG, "ql_tokenize: NULL argument");
    if (!m->tok) return ql_fail(err, QL_ERR_UNSUPPORTED, "%s: the model has no tokenizer", m->path);
    return ql_tokenizer_encode(m->tok, text ? text : "", len, add_special, parse_special, ids,
                               cap, n_ids, err);
}

int32_t ql_token_to_piece(const ql_model *m, int32_t id, bool show_special, char *buf,
                          size_t cap) {
    if (!m || !m->tok || (!buf && cap)) return -1;
    return ql_tokenizer_piece(m->tok, id, show_special, buf, cap);
}

ql_status ql_detokenize(const ql_model *m, const int32_t *ids, size_t n_ids,
                        bool remove_leading_space, bool show_special, char *text, size_t cap,
                        size_t *n_bytes, ql_error *err) {
    if (!m || (!ids && n_ids) || (!text && cap) || !n_bytes)
        return ql_fail(err, QL_ERR_ARG, "ql_detokenize: NULL argument");
    if (!m->tok) return ql_fail(err, QL_ERR_UNSUPPORTED, "%s: the model has no tokenizer", m->path);
    return ql_tokenizer_decode(m->tok, ids, n_ids, remove_leading_space, show_special, text, cap,
                               n_bytes, err);
}

bool ql_token_is_eog(const ql_model *m, int32_t id) {
    return m && m->tok && ql_tokenizer_is_eog(m->tok, id);
}
