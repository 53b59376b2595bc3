/* quant/imatrix.c: reader of imatrix.dat files (format: imatrix.h). */
#include "imatrix.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"

#define IMATRIX_MAX_ENTRIES (1 << 20)
#define IMATRIX_MAX_VALUES (1 << 28)

typedef struct entry {
    char *name;
    int32_t n;
    float *v;
} entry;

struct ql_imatrix {
    entry *e;
    int n;
};

void ql_imatrix_free(ql_imatrix *m) {
    if (!m) return;
    for (int i = 0; i < m->n; i++) {
        free(m->e[i].name);
        free(m->e[i].v);
    }
    free(m->e);
    free(m);
}

static bool read_i32(FILE *f, int32_t *v) { return fread(v, 4, 1, f) == 1; }

ql_status ql_imatrix_load(const char *path, ql_imatrix **out, ql_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return ql_fail(err, QL_ERR_IO, "%s: cannot open imatrix", path);
    ql_imatrix *m = calloc(1, sizeof *m);
    int32_t n;
    ql_status st = QL_OK;
    if (!m) { fclose(f); return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path); }
    if (!read_i32(f, &n) || n < 0 || n > IMATRIX_MAX_ENTRIES) {
        st = ql_fail(err, QL_ERR_CORRUPT, "%s: bad entry count", path);
        goto done;
    }
    m->e = calloc((size_t)n + 1, sizeof *m->e);
    if (!m->e) { st = ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path); goto done; }
    for (int i = 0; i < n; i++) {
        int32_t len, ncall, nval;
        entry *e = &m->e[i];
        if (!read_i32(f, &len) || len <= 0 || len > 65535) goto corrupt;
        e->name = malloc((size_t)len + 1);
        m->n = i + 1;
        if (!e->name) { st = ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path); goto done; }
        if (fread(e->name, 1, (size_t)len, f) != (size_t)len) goto corrupt;
        e->name[len] = '\0';
        if (!read_i32(f, &ncall) || !read_i32(f, &nval) || nval <= 0 || nval > IMATRIX_MAX_VALUES)
            goto corrupt;
        e->n = nval;
        e->v = malloc((size_t)nval * sizeof(float));
        if (!e->v) { st = ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path); goto done; }
        if (fread(e->v, sizeof(float), (size_t)nval, f) != (size_t)nval) goto corrupt;
        for (int32_t j = 0; j < nval; j++)
            if (!isfinite(e->v[j]) || e->v[j] < 0.0f) {
                st = ql_fail(err, QL_ERR_CORRUPT, "%s: entry '%s' value %d is %g", path,
                             e->name, j, (double)e->v[j]);
                goto done;
            }
    }
    goto done;
corrupt:
    st = ql_fail(err, QL_ERR_CORRUPT, "%s: truncated or malformed entry %d", path, m->n - 1);
done:
    fclose(f);
    if (st) {
        ql_imatrix_free(m);
        return st;
    }
    *out = m;
    return ql_ok(err);
}

const float *ql_imatrix_get(const ql_imatrix *m, const char *name, int64_t k) {
    for (int i = 0; m && i < m->n; i++)
        if (m->e[i].n == k && strcmp(m->e[i].name, name) == 0) return m->e[i].v;
    return NULL;
}

const float *ql_imatrix_get_expert(const ql_imatrix *m, const char *name, int64_t k,
                                   int64_t n_expert, int64_t expert) {
    if (k <= 0 || expert < 0 || expert >= n_expert) return NULL;
    for (int i = 0; m && i < m->n; i++) {
        const entry *e = &m->e[i];
        if (strcmp(e->name, name) != 0) continue;
        if (e->n == k) return e->v; /* one vector shared by all experts */
        if (e->n % k != 0) return NULL;
        int64_t m_exp = e->n / k;
        return expert < m_exp && m_exp <= n_expert ? e->v + expert * k : NULL;
    }
    return NULL;
}

int ql_imatrix_count(const ql_imatrix *m) { return m ? m->n : 0; }
