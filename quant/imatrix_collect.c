/*
 * quant/imatrix_collect.c: collecting importance vectors from a session's matmul inputs
 * and writing them as imatrix.dat (contract: include/qloop.h, format: quant/imatrix.h).
 *
 * For every weight matrix W (k input columns) and, for MoE tensors, every expert e, the
 * collector keeps S[e][i] = sum over input rows x of x_i^2 and R[e] = the number of rows
 * seen. The file stores, as llama.cpp's legacy writer does, (S / R) * n_call with n_call
 * the number of chunks: a reader that divides by n_call gets the mean squared activation
 * E[x_i^2], and a reader that only uses relative sizes (ours) sees the same vector.
 * Experts are laid out one after another in one entry of k * n_expert values.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qloop.h"
#include "runtime/error.h"

typedef struct stat_entry {
    char *name;
    int64_t k;
    int32_t n_expert; /* experts seen so far (highest index + 1); 1 for dense */
    double *sum;      /* [n_expert][k]: sum of x_i^2 */
    uint64_t *rows;   /* [n_expert]: rows accumulated */
} stat_entry;

struct ql_imatrix_collector {
    stat_entry *e;
    int n, cap;
    int last;          /* index of the last entry hit: consecutive calls often repeat */
    int32_t n_chunks;  /* ql_imatrix_collector_end_chunk calls */
    uint64_t n_rows;   /* rows observed over all calls */
    bool oom;          /* an allocation failed inside the observer */
    char bad_name[96]; /* a tensor whose row length changed between calls */
};

ql_status ql_imatrix_collector_new(ql_imatrix_collector **out, ql_error *err) {
    *out = calloc(1, sizeof **out);
    if (!*out) return ql_fail(err, QL_ERR_NOMEM, "imatrix: out of memory");
    return ql_ok(err);
}

void ql_imatrix_collector_free(ql_imatrix_collector *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) {
        free(c->e[i].name);
        free(c->e[i].sum);
        free(c->e[i].rows);
    }
    free(c->e);
    free(c);
}

static stat_entry *find_or_add(ql_imatrix_collector *c, const char *name, int64_t k) {
    if (c->last < c->n && strcmp(c->e[c->last].name, name) == 0) return &c->e[c->last];
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->e[i].name, name) == 0) return &c->e[c->last = i];
    if (c->n == c->cap) {
        int cap = c->cap ? 2 * c->cap : 64;
        stat_entry *e = realloc(c->e, (size_t)cap * sizeof *e);
        if (!e) return NULL;
        c->e = e;
        c->cap = cap;
    }
    stat_entry *e = &c->e[c->n];
    memset(e, 0, sizeof *e);
    e->name = strdup(name);
    e->k = k;
    if (!e->name) return NULL;
    c->last = c->n++;
    return e;
}

/* Grows entry e to hold expert index `expert`. */
static bool ensure_expert(stat_entry *e, int32_t expert) {
    if (expert < e->n_expert) return true;
    int32_t n = expert + 1;
    double *sum = realloc(e->sum, (size_t)n * (size_t)e->k * sizeof *sum);
    if (!sum) return false;
    e->sum = sum;
    uint64_t *rows = realloc(e->rows, (size_t)n * sizeof *rows);
    if (!rows) return false;
    e->rows = rows;
    memset(sum + (size_t)e->n_expert * (size_t)e->k, 0,
           (size_t)(n - e->n_expert) * (size_t)e->k * sizeof *sum);
    memset(rows + e->n_expert, 0, (size_t)(n - e->n_expert) * sizeof *rows);
    e->n_expert = n;
    return true;
}

void ql_imatrix_collector_observe(void *user, const char *name, int32_t expert, const float *x,
                                  int64_t n_tok, int64_t k) {
    ql_imatrix_collector *c = user;
    if (c->oom || k <= 0 || n_tok <= 0) return;
    stat_entry *e = find_or_add(c, name, k);
    if (!e) { c->oom = true; return; }
    if (e->k != k) {
        snprintf(c->bad_name, sizeof c->bad_name, "%s", name);
        return;
    }
    int32_t ex = expert < 0 ? 0 : expert;
    if (!ensure_expert(e, ex)) { c->oom = true; return; }
    double *s = e->sum + (size_t)ex * (size_t)k;
    for (int64_t t = 0; t < n_tok; t++) {
        const float *row = x + t * k;
        for (int64_t i = 0; i < k; i++) s[i] += (double)row[i] * (double)row[i];
    }
    e->rows[ex] += (uint64_t)n_tok;
    c->n_rows += (uint64_t)n_tok;
}

void ql_imatrix_collector_attach(ql_imatrix_collector *c, ql_session *session) {
    ql_session_set_activation_observer(session, c ? ql_imatrix_collector_observe : NULL, c);
}

void ql_imatrix_collector_end_chunk(ql_imatrix_collector *c) {
    if (c) c->n_chunks++;
}

int32_t ql_imatrix_collector_count(const ql_imatrix_collector *c) { return c ? c->n : 0; }

static bool put_i32(FILE *f, int32_t v) { return fwrite(&v, 4, 1, f) == 1; }

/* Entry i in the file layout: i32 name_len, name, i32 n_call, i32 n_val, f32 values. */
static bool write_entry(FILE *f, const stat_entry *e, int32_t n_call, float *buf) {
    size_t len = strlen(e->name);
    int64_t n_val = e->k * e->n_expert;
    for (int32_t x = 0; x < e->n_expert; x++) {
        /* An expert no token reached gets 1s: no information, equal weights. */
        for (int64_t i = 0; i < e->k; i++) {
            const double *s = e->sum + (size_t)x * (size_t)e->k;
            buf[x * e->k + i] = e->rows[x] ? (float)(s[i] / (double)e->rows[x] * n_call)
                                           : (float)n_call;
        }
    }
    return put_i32(f, (int32_t)len) && fwrite(e->name, 1, len, f) == len &&
           put_i32(f, n_call) && put_i32(f, (int32_t)n_val) &&
           fwrite(buf, sizeof(float), (size_t)n_val, f) == (size_t)n_val;
}

ql_status ql_imatrix_collector_save(const ql_imatrix_collector *c, const char *path,
                                    const char *dataset, ql_error *err) {
    if (!c || !path) return ql_fail(err, QL_ERR_ARG, "imatrix: collector and path are required");
    if (c->oom) return ql_fail(err, QL_ERR_NOMEM, "imatrix: out of memory while collecting");
    if (c->bad_name[0])
        return ql_fail(err, QL_ERR_ARG, "imatrix: tensor '%s' was seen with two row lengths",
                       c->bad_name);
    if (c->n == 0) return ql_fail(err, QL_ERR_ARG, "imatrix: no activations were observed");
    int64_t most = 0;
    for (int i = 0; i < c->n; i++) {
        int64_t nv = c->e[i].k * c->e[i].n_expert;
        if (nv > INT32_MAX || strlen(c->e[i].name) > 65535)
            return ql_fail(err, QL_ERR_UNSUPPORTED, "imatrix: entry '%s' too large for the format",
                           c->e[i].name);
        if (nv > most) most = nv;
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 5);
    float *buf = malloc((size_t)most * sizeof *buf);
    if (!tmp || !buf) {
        free(tmp);
        free(buf);
        return ql_fail(err, QL_ERR_NOMEM, "imatrix: out of memory");
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    ql_status st = QL_OK;
    if (!f) {
        st = ql_fail(err, QL_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    int32_t n_call = c->n_chunks > 0 ? c->n_chunks : 1;
    bool ok = put_i32(f, c->n);
    for (int i = 0; ok && i < c->n; i++) ok = write_entry(f, &c->e[i], n_call, buf);
    /* trailer as llama.cpp writes it: chunk count, then the calibration data's name */
    const char *ds = dataset ? dataset : "";
    size_t dl = strlen(ds);
    ok = ok && put_i32(f, n_call) && put_i32(f, (int32_t)dl) && fwrite(ds, 1, dl, f) == dl;
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (fclose(f) != 0) ok = false;
    if (!ok || rename(tmp, path) != 0) {
        st = ql_fail(err, QL_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
    }
out:
    free(tmp);
    free(buf);
    return st ? st : ql_ok(err);
}
