/*
 * src/model/quantize_file.c: ql_quantize(), the file quantizer behind `qloop quantize`
 * (contract: include/qloop.h).
 *
 * One pass over the input's tensors in file order: each tensor is converted to float rows
 * a chunk at a time, quantized by the recipe's type (rows split over the thread pool),
 * streamed to the GGUF writer and hashed. The checksum keys are written as placeholders
 * with the header and patched in place once every tensor's hash is known, so the whole
 * output never needs to be held in memory.
 *
 * Importance weights: a 2-D matrix takes the imatrix entry of its name with exactly k values;
 * a merged MoE tensor [k, rows, n_expert] takes, for the rows of expert e, values
 * [e*k, (e+1)*k) of its entry (all experts in one entry, as `qloop imatrix` and llama.cpp
 * write them). qloop.quantize.imatrix_weighted lists the tensors every row of which was
 * quantized with weights, so a user (and the tests) can see what the imatrix reached.
 *
 * Input kinds: `source` is the one place that knows what the input is: a GGUF file
 * (metadata copied, tensors read in place) or a Hugging Face folder, read through
 * model/convert.h as the GGUF file `qloop convert` would write (llama.cpp's names, keys
 * and Q/K row order; merged experts), its rows made a chunk at a time.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "model/convert.h"
#include "model/gguf.h"
#include "model/gguf_write.h"
#include "qloop.h"
#include "quant/imatrix.h"
#include "quant/quantize.h"
#include "quant/recipe.h"
#include "quant/types.h"
#include "runtime/error.h"
#include "runtime/pool.h"

#define CHUNK_FLOATS ((int64_t)1 << 22) /* 16 MiB of float rows per step */
#define CHECKSUM_PREFIX "qloop.checksum."
#define QUANTIZE_PREFIX "qloop.quantize."

ql_quantize_params ql_quantize_params_default(void) {
    ql_quantize_params p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.type = "q8_0";
    p.search = true;
    return p;
}

const char *ql_quantize_type_names(void) { return ql_recipe_names(); }

/* ---- input ----------------------------------------------------------------------------- */

typedef struct source {
    ql_gguf *g;     /* a GGUF file */
    ql_hf_gguf *hf; /* or a Hugging Face folder, converted as it is read */
} source;

/* One input tensor in GGUF terms. */
typedef struct src_tensor {
    char name[512];
    uint32_t type, n_dims;
    int64_t ne[4];
    uint64_t nbytes, n_elements;
    const void *data; /* all of its data in place, or NULL: rows come from src_rows */
} src_tensor;

static ql_status open_source(const char *path, source *s, ql_error *err) {
    struct stat st;
    memset(s, 0, sizeof *s);
    if (stat(path, &st) != 0)
        return ql_fail(err, QL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return ql_hf_gguf_open(path, &s->hf, err);
    return ql_gguf_open(path, &s->g, err);
}

static void close_source(source *s) {
    ql_gguf_close(s->g);
    ql_hf_gguf_close(s->hf);
}

static uint64_t src_count(const source *s) {
    return s->hf ? ql_hf_gguf_n_tensors(s->hf) : ql_gguf_n_tensors(s->g);
}

/* False when the name does not fit. */
static bool src_tensor_at(const source *s, uint64_t i, src_tensor *t) {
    memset(t, 0, sizeof *t);
    if (s->hf) {
        const ql_hf_gguf_tensor *h = ql_hf_gguf_tensor_at(s->hf, i);
        snprintf(t->name, sizeof t->name, "%s", h->name);
        t->type = h->type;
        t->n_dims = h->n_dims;
        memcpy(t->ne, h->ne, sizeof t->ne);
        t->nbytes = h->nbytes;
        t->n_elements = h->n_elements;
        t->data = h->direct;
        return true;
    }
    const ql_gguf_tensor *g = ql_gguf_tensor_at(s->g, i);
    if (g->name.len >= sizeof t->name) return false;
    memcpy(t->name, g->name.ptr, g->name.len);
    t->type = g->type;
    t->n_dims = g->n_dims;
    memcpy(t->ne, g->ne, sizeof t->ne);
    t->nbytes = g->nbytes;
    t->n_elements = g->n_elements;
    t->data = g->data;
    return true;
}

/* Rows [r0, r0 + n) of a tensor whose data is not in place (t->data NULL). */
static void src_rows(const source *s, uint64_t i, int64_t r0, int64_t n, void *dst) {
    ql_hf_gguf_rows(s->hf, i, r0, n, dst);
}

/* The file or folder name of `path`, without trailing slashes. */
static void base_name(const char *path, char *buf, size_t cap) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && path[b - 1] != '/') b--;
    snprintf(buf, cap, "%.*s", (int)(n - b), path + b);
}

/* True when `a` and `b` name the same file (same path, or same device and inode). */
static bool same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (strcmp(a, b) == 0) return true;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* ---- row quantization on the pool ------------------------------------------------------ */

typedef struct rows_job {
    uint32_t type;
    const float *x;
    uint8_t *dst;
    uint64_t row_bytes;
    int64_t k;
    const float *const *imat; /* per expert (one for a 2-D matrix); entries may be NULL */
    int64_t rows_per_imat;    /* rows of the tensor that share one imat entry */
    int64_t row0;             /* the tensor row of x's first row */
    ql_quant_method method;
} rows_job;

static void rows_task(void *ctx, int64_t begin, int64_t end, int thread) {
    (void)thread;
    const rows_job *j = ctx;
    for (int64_t r = begin; r < end;) { /* runs of rows of one expert */
        int64_t e = (j->row0 + r) / j->rows_per_imat;
        int64_t stop = (e + 1) * j->rows_per_imat - j->row0;
        if (stop > end) stop = end;
        ql_quantize_rows(j->type, j->x + r * j->k, j->dst + (uint64_t)r * j->row_bytes, stop - r,
                         j->k, j->imat[e], j->method);
        r = stop;
    }
}

/* ---- the pass ------------------------------------------------------------------------ */

typedef struct qrun {
    const ql_quantize_params *p;
    const ql_recipe *recipe;
    source src;
    ql_imatrix *imat;
    ql_gguf_writer *w;
    ql_pool *pool;
    uint32_t *types;   /* output type per tensor */
    uint8_t *rbuf;     /* input rows made by the source (folder inputs) */
    float *fbuf;       /* input rows as float */
    float *dbuf;       /* output rows decoded, for the RMSE */
    uint8_t *qbuf;     /* output rows */
    double t0;
    long slow_ms;      /* test hook: sleep after each tensor */
} qrun;

/* Matrices of tensor t: n_expert for a merged MoE tensor [k, rows, n_expert], else 1. */
static int64_t tensor_n_mats(const src_tensor *t) {
    return t->n_dims == 3 && t->ne[2] > 0 ? t->ne[2] : 1;
}

/* Fills imat[0..tensor_n_mats(t)) with the importance vector of each matrix of t (NULL
 * where the imatrix has none); returns how many were found. */
static int64_t lookup_imatrix(const ql_imatrix *m, const src_tensor *t, const float **imat) {
    int64_t n = tensor_n_mats(t), found = 0, k = t->ne[0];
    for (int64_t e = 0; e < n; e++) {
        imat[e] = !m ? NULL
                  : t->n_dims == 3 ? ql_imatrix_get_expert(m, t->name, k, n, e)
                                   : ql_imatrix_get(m, t->name, k);
        found += imat[e] != NULL;
    }
    return found;
}

static ql_quant_method quant_method(const ql_quantize_params *p) {
    return p->llamacpp_ref ? QL_QUANT_LLAMACPP : p->search ? QL_QUANT_SEARCH : QL_QUANT_RTN;
}
static const char *const method_names[] = {"rtn", "search", "llama.cpp-reference"};

static bool is_float_type(uint32_t type) {
    return type == QL_TYPE_F32 || type == QL_TYPE_F16 || type == QL_TYPE_BF16;
}

/* True when tensor t, stored as `type`, is quantized with importance weights on every row. */
static bool imatrix_weighted(const qrun *q, const src_tensor *t, uint32_t type) {
    if (!q->imat || quant_method(q->p) != QL_QUANT_SEARCH || type == t->type || is_float_type(type))
        return false;
    int64_t n = tensor_n_mats(t);
    const float **imat = malloc((size_t)n * sizeof *imat);
    bool all = imat && lookup_imatrix(q->imat, t, imat) == n;
    free(imat);
    return all;
}

static bool key_has_prefix(ql_str k, const char *prefix) {
    size_t n = strlen(prefix);
    return k.len >= n && memcmp(k.ptr, prefix, n) == 0;
}

static ql_status build_header(qrun *q, const char *in, ql_error *err) {
    const ql_gguf *g = q->src.g;
    ql_status st = q->src.hf ? ql_hf_gguf_metadata(q->src.hf, q->w, err) : QL_OK;
    for (uint64_t i = 0; !st && g && i < ql_gguf_n_kv(g); i++) {
        const ql_gguf_kv *kv = ql_gguf_kv_at(g, i);
        if (key_has_prefix(kv->key, CHECKSUM_PREFIX) || key_has_prefix(kv->key, QUANTIZE_PREFIX) ||
            ql_str_eq(kv->key, "general.file_type"))
            continue;
        st = ql_gguf_set_value(q->w, kv->key, &kv->value, err);
    }
    char base[256];
    base_name(in, base, sizeof base);
    if (!st) st = ql_gguf_set_u32(q->w, "general.file_type", q->recipe->file_type, err);
    if (!st) st = ql_gguf_set_str(q->w, QUANTIZE_PREFIX "version", ql_version(), err);
    if (!st) st = ql_gguf_set_str(q->w, QUANTIZE_PREFIX "type", q->recipe->name, err);
    if (!st) st = ql_gguf_set_str(q->w, QUANTIZE_PREFIX "method",
                                  method_names[quant_method(q->p)], err);
    if (!st) st = ql_gguf_set_str(q->w, QUANTIZE_PREFIX "source", base, err);
    if (!st && q->p->imatrix) {
        const char *ib = strrchr(q->p->imatrix, '/');
        st = ql_gguf_set_str(q->w, QUANTIZE_PREFIX "imatrix", ib ? ib + 1 : q->p->imatrix, err);
        if (!st) st = ql_gguf_set_u32(q->w, QUANTIZE_PREFIX "imatrix_entries",
                                      (uint32_t)ql_imatrix_count(q->imat), err);
    }

    /* tensors: types from the recipe; a checksum placeholder each */
    uint64_t n = src_count(&q->src);
    ql_recipe_model rm = {0, false};
    src_tensor t;
    for (uint64_t i = 0; i < n; i++)
        if (src_tensor_at(&q->src, i, &t) && !strcmp(t.name, "output.weight")) rm.has_output = true;
    ql_str arch;
    if (q->src.hf) {
        rm.n_layer = ql_hf_gguf_n_layer(q->src.hf);
    } else if (ql_gguf_get_str(g, "general.architecture", &arch, NULL) == QL_OK && arch.len < 64) {
        char key[96];
        uint32_t nl = 0;
        snprintf(key, sizeof key, "%.*s.block_count", (int)arch.len, arch.ptr);
        if (ql_gguf_get_u32(g, key, &nl, NULL) == QL_OK) rm.n_layer = (int)nl;
    }
    q->types = calloc(n ? n : 1, sizeof *q->types);
    char **weighted = calloc(n ? n : 1, sizeof *weighted); /* names, for imatrix_weighted */
    uint64_t n_weighted = 0;
    if (!q->types || !weighted) {
        free(weighted);
        return ql_fail(err, QL_ERR_NOMEM, "quantize: out of memory");
    }
    for (uint64_t i = 0; !st && i < n; i++) {
        char key[600];
        if (!src_tensor_at(&q->src, i, &t)) {
            st = ql_fail(err, QL_ERR_UNSUPPORTED, "%s: tensor name too long", in);
            break;
        }
        uint32_t type = t.type;
        if (ql_quant_can_read(t.type) && (t.type == QL_TYPE_F32 || t.type == QL_TYPE_F16 ||
                                          t.type == QL_TYPE_BF16 || t.n_dims >= 2))
            type = ql_recipe_tensor_type(q->recipe, &rm, t.name, t.n_dims, t.ne);
        q->types[i] = type; /* unreadable types (I32, other quants) are copied unchanged */
        st = ql_gguf_add_tensor(q->w, t.name, type, t.n_dims, t.ne, err);
        snprintf(key, sizeof key, CHECKSUM_PREFIX "%s", t.name);
        if (!st) st = ql_gguf_set_u64(q->w, key, 0, err);
        if (!st && imatrix_weighted(q, &t, type) && !(weighted[n_weighted++] = strdup(t.name)))
            st = ql_fail(err, QL_ERR_NOMEM, "quantize: out of memory");
    }
    if (!st && q->imat)
        st = ql_gguf_set_arr_str(q->w, QUANTIZE_PREFIX "imatrix_weighted",
                                 (const char *const *)weighted, n_weighted, err);
    for (uint64_t i = 0; i < n_weighted; i++) free(weighted[i]);
    free(weighted);
    return st;
}

/* Quantizes, writes and hashes tensor i; fills the progress fields it knows. */
static ql_status do_tensor(qrun *q, uint64_t i, ql_quantize_progress *pr, ql_error *err) {
    src_tensor ts;
    src_tensor_at(&q->src, i, &ts); /* the name fitted in build_header */
    const src_tensor *t = &ts;
    const char *name = t->name;
    uint32_t type = q->types[i];
    char key[600];
    XXH3_state_t *h = XXH3_createState();
    if (!h) return ql_fail(err, QL_ERR_NOMEM, "quantize: out of memory");
    XXH3_64bits_reset(h);
    ql_status st = QL_OK;
    double se = 0.0;
    uint64_t out_bytes = ql_gguf_writer_tensor_bytes(q->w, i);
    if (type == t->type && t->data) {
        st = ql_gguf_write_data(q->w, t->data, (size_t)t->nbytes, err);
        XXH3_64bits_update(h, t->data, (size_t)t->nbytes);
    } else if (type == t->type) { /* folder input: rows made by the source */
        int64_t k = t->ne[0], rows = (int64_t)(t->n_elements / (uint64_t)k);
        uint64_t rb = t->nbytes / (uint64_t)rows;
        int64_t chunk = (int64_t)((uint64_t)CHUNK_FLOATS * sizeof(float) / rb);
        if (chunk < 1) chunk = 1;
        uint8_t *rbuf = realloc(q->rbuf, (size_t)((uint64_t)chunk * rb));
        if (rbuf) q->rbuf = rbuf;
        else st = ql_fail(err, QL_ERR_NOMEM, "quantize: out of memory for '%s'", name);
        for (int64_t r = 0; !st && r < rows; r += chunk) {
            int64_t nr = rows - r < chunk ? rows - r : chunk;
            src_rows(&q->src, i, r, nr, q->rbuf);
            st = ql_gguf_write_data(q->w, q->rbuf, (size_t)((uint64_t)nr * rb), err);
            XXH3_64bits_update(h, q->rbuf, (size_t)((uint64_t)nr * rb));
        }
    } else {
        int64_t k = t->ne[0], rows = (int64_t)(t->n_elements / (uint64_t)k);
        int64_t chunk = CHUNK_FLOATS / k > 0 ? CHUNK_FLOATS / k : 1;
        uint64_t in_rb, out_rb;
        ql_type_row_bytes(t->type, (uint64_t)k, &in_rb);
        ql_type_row_bytes(type, (uint64_t)k, &out_rb);
        int64_t n_mats = tensor_n_mats(t);
        const float **imat = calloc((size_t)n_mats, sizeof *imat);
        if (imat) lookup_imatrix(q->imat, t, imat);
        size_t nf = (size_t)(chunk * k);
        float *fb = imat ? realloc(q->fbuf, nf * sizeof(float)) : NULL;
        if (fb) q->fbuf = fb;
        float *db = fb ? realloc(q->dbuf, nf * sizeof(float)) : NULL;
        if (db) q->dbuf = db;
        uint8_t *qb = db ? realloc(q->qbuf, (size_t)(chunk * (int64_t)out_rb)) : NULL;
        if (qb) q->qbuf = qb;
        uint8_t *rb = qb && !t->data ? realloc(q->rbuf, (size_t)((uint64_t)chunk * in_rb)) : NULL;
        if (rb) q->rbuf = rb;
        if (!qb || (!t->data && !rb)) st = ql_fail(err, QL_ERR_NOMEM, "quantize: out of memory for '%s'", name);
        for (int64_t r = 0; !st && r < rows; r += chunk) {
            int64_t nr = rows - r < chunk ? rows - r : chunk;
            const uint8_t *src = q->rbuf;
            if (t->data) src = (const uint8_t *)t->data + (uint64_t)r * in_rb;
            else src_rows(&q->src, i, r, nr, q->rbuf);
            const float *x = q->fbuf;
            if (t->type == QL_TYPE_F32) x = (const float *)src; /* aligned by the format */
            else ql_dequantize_rows(t->type, src, q->fbuf, nr, k);
            rows_job job = {type, x, q->qbuf, out_rb, k, imat, rows / n_mats, r, quant_method(q->p)};
            ql_pool_for(q->pool, nr, 1, 1, rows_task, &job);
            ql_dequantize_rows(type, q->qbuf, q->dbuf, nr, k);
            for (int64_t e = 0; e < nr * k; e++) {
                double d = (double)x[e] - (double)q->dbuf[e];
                se += d * d;
            }
            size_t nb = (size_t)((uint64_t)nr * out_rb);
            st = ql_gguf_write_data(q->w, q->qbuf, nb, err);
            XXH3_64bits_update(h, q->qbuf, nb);
        }
        free(imat);
    }
    uint64_t sum = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    snprintf(key, sizeof key, CHECKSUM_PREFIX "%s", name);
    if (!st) st = ql_gguf_writer_patch_u64(q->w, key, sum, err);
    const ql_type_traits *ti = ql_type_get(t->type), *to = ql_type_get(type);
    pr->index = i;
    pr->name = name;
    pr->type_name = to ? to->name : "?";
    pr->src_type_name = ti ? ti->name : "?";
    pr->n_dims = t->n_dims;
    memcpy(pr->ne, t->ne, sizeof pr->ne);
    pr->bytes_in = t->nbytes;
    pr->bytes_out = out_bytes;
    pr->done_in += t->nbytes;
    pr->rmse = t->n_elements ? sqrt(se / (double)t->n_elements) : 0.0;
    pr->seconds = ql_time_seconds() - q->t0;
    if (!st && q->p->progress) q->p->progress(pr, q->p->progress_user);
    if (!st && q->slow_ms > 0) usleep((useconds_t)(q->slow_ms * 1000));
    return st;
}

static ql_status run_pass(qrun *q, const char *in, const char *out, ql_error *err) {
    ql_status st = open_source(in, &q->src, err);
    if (st) return st;
    if (q->p->imatrix && (st = ql_imatrix_load(q->p->imatrix, &q->imat, err))) return st;
    int nt = q->p->n_threads > 0 ? q->p->n_threads : ql_physical_cores();
    if ((st = ql_pool_new(nt, &q->pool, err))) return st;
    if ((st = ql_gguf_writer_new(&q->w, err))) return st;
    if ((st = build_header(q, in, err))) return st;
    if ((st = ql_gguf_writer_begin(q->w, out, err))) return st;
    ql_quantize_progress pr;
    memset(&pr, 0, sizeof pr);
    pr.count = src_count(&q->src);
    src_tensor t;
    for (uint64_t i = 0; i < pr.count; i++)
        if (src_tensor_at(&q->src, i, &t)) pr.total_in += t.nbytes;
    for (uint64_t i = 0; !st && i < pr.count; i++) st = do_tensor(q, i, &pr, err);
    if (!st) st = ql_gguf_writer_finish(q->w, err);
    return st;
}

ql_status ql_quantize(const char *in, const char *out, const ql_quantize_params *params,
                      ql_error *err) {
    ql_quantize_params def = ql_quantize_params_default();
    const ql_quantize_params *p = params ? params : &def;
    if (!in || !out) return ql_fail(err, QL_ERR_ARG, "quantize: input and output are required");
    if (p->struct_size != sizeof *p)
        return ql_fail(err, QL_ERR_ARG, "quantize: params struct_size %u, expected %zu",
                       p->struct_size, sizeof *p);
    if (p->llamacpp_ref && p->imatrix)
        return ql_fail(err, QL_ERR_ARG,
                       "quantize: the llama.cpp reference quantizer takes no imatrix (%s)",
                       p->imatrix);
    const ql_recipe *r = ql_recipe_find(p->type ? p->type : "");
    if (!r)
        return ql_fail(err, QL_ERR_ARG, "quantize: unknown type '%s' (one of %s)",
                       p->type ? p->type : "", ql_recipe_names());
    if (same_file(in, out) || ql_hf_gguf_is_input_file(in, out))
        return ql_fail(err, QL_ERR_ARG, "quantize: output %s is the input file; refusing to "
                       "overwrite it", out);
    qrun q;
    memset(&q, 0, sizeof q);
    q.p = p;
    q.recipe = r;
    q.t0 = ql_time_seconds();
    const char *slow = getenv("QLOOP_TEST_SLOW_QUANTIZE");
    q.slow_ms = slow ? atol(slow) : 0;
    ql_status st = run_pass(&q, in, out, err);
    ql_gguf_writer_free(q.w); /* removes <out>.tmp unless finished */
    ql_pool_free(q.pool);
    ql_imatrix_free(q.imat);
    close_source(&q.src);
    free(q.types);
    free(q.rbuf);
    free(q.fbuf);
    free(q.dbuf);
    free(q.qbuf);
    return st;
}
