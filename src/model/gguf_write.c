/*
 * src/model/gguf_write.c: GGUF v3 writer. Contract: gguf_write.h; layout: gguf.h.
 *
 * Each metadata value is kept in its file encoding, so writing the header is a
 * concatenation and patching a fixed-size value after the header was written is one
 * pwrite at the offset remembered while writing.
 */
#include "model/gguf_write.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quant/types.h"
#include "runtime/error.h"

#define GGUF_VERSION 3u
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_KEY_LEN 65535u
#define WRITE_BUF_BYTES ((size_t)1 << 20)

typedef struct wkv {
    char *key;
    ql_gguf_type type;
    uint8_t *enc; /* value encoding */
    size_t len;
    uint64_t file_offset; /* of the value, once written */
} wkv;

typedef struct wtensor {
    char *name;
    uint32_t type, n_dims;
    int64_t ne[4];
    uint64_t nbytes, offset; /* offset relative to the data section */
} wtensor;

struct ql_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    uint64_t alignment;

    /* streaming state */
    bool begun, finished;
    int fd;
    char *path, *tmp;
    uint8_t *buf;
    size_t buf_len;
    uint64_t pos;          /* file bytes written or buffered */
    uint64_t data_start;   /* file offset of the data section */
    size_t cur;            /* tensor being written */
    uint64_t cur_done;     /* its bytes written */
};

/* ---- encoding buffer ----------------------------------------------------------------- */

void ql_gguf_buf_free(ql_gguf_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

void ql_gguf_buf_bytes(ql_gguf_buf *b, const void *p, size_t n) {
    if (b->oom || n == 0) return;
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len < n) {
            if (cap > SIZE_MAX / 2) { b->oom = true; return; }
            cap *= 2;
        }
        uint8_t *q = realloc(b->p, cap);
        if (!q) { b->oom = true; return; }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void ql_gguf_buf_u32(ql_gguf_buf *b, uint32_t v) { ql_gguf_buf_bytes(b, &v, 4); }
void ql_gguf_buf_u64(ql_gguf_buf *b, uint64_t v) { ql_gguf_buf_bytes(b, &v, 8); }

void ql_gguf_buf_str(ql_gguf_buf *b, const char *s, uint64_t len) {
    ql_gguf_buf_u64(b, len);
    ql_gguf_buf_bytes(b, s, (size_t)len);
}

void ql_gguf_buf_arr(ql_gguf_buf *b, ql_gguf_type elem_type, uint64_t n) {
    ql_gguf_buf_u32(b, (uint32_t)elem_type);
    ql_gguf_buf_u64(b, n);
}

void ql_gguf_buf_value(ql_gguf_buf *b, const ql_gguf_value *v) {
    switch (v->type) {
    case QL_GGUF_UINT8: case QL_GGUF_UINT16: case QL_GGUF_UINT32: case QL_GGUF_UINT64:
        ql_gguf_buf_bytes(b, &v->v.u64, (size_t)ql_gguf_type_size(v->type));
        break;
    case QL_GGUF_INT8: case QL_GGUF_INT16: case QL_GGUF_INT32: case QL_GGUF_INT64:
        ql_gguf_buf_bytes(b, &v->v.i64, (size_t)ql_gguf_type_size(v->type));
        break;
    case QL_GGUF_FLOAT32: {
        float f = (float)v->v.f64;
        ql_gguf_buf_bytes(b, &f, 4);
        break;
    }
    case QL_GGUF_FLOAT64: ql_gguf_buf_bytes(b, &v->v.f64, 8); break;
    case QL_GGUF_BOOL: {
        uint8_t x = v->v.b ? 1 : 0;
        ql_gguf_buf_bytes(b, &x, 1);
        break;
    }
    case QL_GGUF_STRING: ql_gguf_buf_str(b, v->v.str.ptr, v->v.str.len); break;
    case QL_GGUF_ARRAY: {
        const ql_gguf_array *a = &v->v.arr;
        ql_gguf_buf_arr(b, a->elem_type, a->n);
        if (a->items) {
            for (uint64_t i = 0; i < a->n; i++) ql_gguf_buf_value(b, &a->items[i]);
        } else if (a->n) {
            ql_gguf_buf_bytes(b, a->data, (size_t)(a->n * ql_gguf_type_size(a->elem_type)));
        }
        break;
    }
    default: b->oom = true; break; /* unknown type: refuse rather than write garbage */
    }
}

/* ---- metadata ------------------------------------------------------------------------ */

ql_status ql_gguf_writer_new(ql_gguf_writer **out, ql_error *err) {
    *out = NULL;
    ql_gguf_writer *w = calloc(1, sizeof *w);
    if (!w) return ql_fail(err, QL_ERR_NOMEM, "gguf writer: out of memory");
    w->fd = -1;
    w->alignment = GGUF_DEFAULT_ALIGNMENT;
    *out = w;
    return ql_ok(err);
}

void ql_gguf_writer_free(ql_gguf_writer *w) {
    if (!w) return;
    if (w->fd >= 0) close(w->fd);
    if (w->tmp && !w->finished) unlink(w->tmp);
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].enc);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w->buf);
    free(w->path);
    free(w->tmp);
    free(w);
}

static wkv *find_kv(const ql_gguf_writer *w, const char *key, size_t len) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (strlen(w->kv[i].key) == len && memcmp(w->kv[i].key, key, len) == 0) return &w->kv[i];
    return NULL;
}

static ql_status set_kv(ql_gguf_writer *w, const char *key, size_t key_len, ql_gguf_type type,
                        const void *enc, size_t len, ql_error *err) {
    if (w->begun) return ql_fail(err, QL_ERR_ARG, "gguf writer: metadata set after begin");
    if (key_len == 0 || key_len > GGUF_MAX_KEY_LEN || memchr(key, '\0', key_len))
        return ql_fail(err, QL_ERR_ARG, "gguf writer: invalid key (length %zu)", key_len);
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) return ql_fail(err, QL_ERR_NOMEM, "gguf writer: out of memory");
    if (len) memcpy(copy, enc, len);
    wkv *kv = find_kv(w, key, key_len);
    if (!kv) {
        if (w->n_kv == w->cap_kv) {
            size_t cap = w->cap_kv ? 2 * w->cap_kv : 32;
            wkv *n = realloc(w->kv, cap * sizeof *n);
            if (!n) { free(copy); return ql_fail(err, QL_ERR_NOMEM, "gguf writer: out of memory"); }
            w->kv = n;
            w->cap_kv = cap;
        }
        kv = &w->kv[w->n_kv];
        memset(kv, 0, sizeof *kv);
        kv->key = strndup(key, key_len);
        if (!kv->key) { free(copy); return ql_fail(err, QL_ERR_NOMEM, "gguf writer: out of memory"); }
        w->n_kv++;
    }
    free(kv->enc);
    kv->enc = copy;
    kv->len = len;
    kv->type = type;
    return ql_ok(err);
}

ql_status ql_gguf_set_encoded(ql_gguf_writer *w, const char *key, ql_gguf_type type,
                              const void *enc, size_t len, ql_error *err) {
    if ((unsigned)type >= QL_GGUF_TYPE_COUNT)
        return ql_fail(err, QL_ERR_ARG, "gguf writer: key '%s': unknown value type %u", key,
                       (unsigned)type);
    return set_kv(w, key, strlen(key), type, enc, len, err);
}

#define SCALAR_SETTER(fn, ctype, gtype)                                                     \
    ql_status fn(ql_gguf_writer *w, const char *key, ctype v, ql_error *err) {              \
        return ql_gguf_set_encoded(w, key, gtype, &v, sizeof v, err);                       \
    }
SCALAR_SETTER(ql_gguf_set_u8, uint8_t, QL_GGUF_UINT8)
SCALAR_SETTER(ql_gguf_set_i8, int8_t, QL_GGUF_INT8)
SCALAR_SETTER(ql_gguf_set_u16, uint16_t, QL_GGUF_UINT16)
SCALAR_SETTER(ql_gguf_set_i16, int16_t, QL_GGUF_INT16)
SCALAR_SETTER(ql_gguf_set_u32, uint32_t, QL_GGUF_UINT32)
SCALAR_SETTER(ql_gguf_set_i32, int32_t, QL_GGUF_INT32)
SCALAR_SETTER(ql_gguf_set_u64, uint64_t, QL_GGUF_UINT64)
SCALAR_SETTER(ql_gguf_set_i64, int64_t, QL_GGUF_INT64)
SCALAR_SETTER(ql_gguf_set_f32, float, QL_GGUF_FLOAT32)
SCALAR_SETTER(ql_gguf_set_f64, double, QL_GGUF_FLOAT64)

ql_status ql_gguf_set_bool(ql_gguf_writer *w, const char *key, bool v, ql_error *err) {
    uint8_t b = v ? 1 : 0;
    return ql_gguf_set_encoded(w, key, QL_GGUF_BOOL, &b, 1, err);
}

static ql_status set_buf(ql_gguf_writer *w, const char *key, size_t key_len, ql_gguf_type type,
                         ql_gguf_buf *b, ql_error *err) {
    ql_status st = b->oom ? ql_fail(err, QL_ERR_NOMEM, "gguf writer: cannot encode '%.*s'",
                                    (int)key_len, key)
                          : set_kv(w, key, key_len, type, b->p, b->len, err);
    ql_gguf_buf_free(b);
    return st;
}

ql_status ql_gguf_set_str(ql_gguf_writer *w, const char *key, const char *v, ql_error *err) {
    ql_gguf_buf b = {0};
    ql_gguf_buf_str(&b, v, strlen(v));
    return set_buf(w, key, strlen(key), QL_GGUF_STRING, &b, err);
}

ql_status ql_gguf_set_arr(ql_gguf_writer *w, const char *key, ql_gguf_type elem_type,
                          const void *data, uint64_t n, ql_error *err) {
    uint64_t es = ql_gguf_type_size(elem_type);
    if (es == 0) return ql_fail(err, QL_ERR_ARG, "gguf writer: key '%s': element type %s is "
                                "not fixed-size", key, ql_gguf_type_name(elem_type));
    if (n > SIZE_MAX / es) return ql_fail(err, QL_ERR_ARG, "gguf writer: key '%s': too many "
                                          "elements", key);
    ql_gguf_buf b = {0};
    ql_gguf_buf_arr(&b, elem_type, n);
    ql_gguf_buf_bytes(&b, data, (size_t)(n * es));
    return set_buf(w, key, strlen(key), QL_GGUF_ARRAY, &b, err);
}

ql_status ql_gguf_set_arr_str(ql_gguf_writer *w, const char *key, const char *const *v,
                              uint64_t n, ql_error *err) {
    ql_gguf_buf b = {0};
    ql_gguf_buf_arr(&b, QL_GGUF_STRING, n);
    for (uint64_t i = 0; i < n; i++) ql_gguf_buf_str(&b, v[i], strlen(v[i]));
    return set_buf(w, key, strlen(key), QL_GGUF_ARRAY, &b, err);
}

ql_status ql_gguf_set_value(ql_gguf_writer *w, ql_str key, const ql_gguf_value *v,
                            ql_error *err) {
    ql_gguf_buf b = {0};
    ql_gguf_buf_value(&b, v);
    return set_buf(w, key.ptr, (size_t)key.len, v->type, &b, err);
}

void ql_gguf_remove(ql_gguf_writer *w, const char *key) {
    wkv *kv = w->begun ? NULL : find_kv(w, key, strlen(key));
    if (!kv) return;
    free(kv->key);
    free(kv->enc);
    size_t i = (size_t)(kv - w->kv);
    memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - i - 1) * sizeof *kv);
    w->n_kv--;
}

uint64_t ql_gguf_writer_n_kv(const ql_gguf_writer *w) { return w->n_kv; }

/* ---- tensors ------------------------------------------------------------------------- */

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

ql_status ql_gguf_add_tensor(ql_gguf_writer *w, const char *name, uint32_t type,
                             uint32_t n_dims, const int64_t *ne, ql_error *err) {
    if (w->begun) return ql_fail(err, QL_ERR_ARG, "gguf writer: tensor added after begin");
    size_t len = strlen(name);
    if (len == 0 || len > GGUF_MAX_KEY_LEN)
        return ql_fail(err, QL_ERR_ARG, "gguf writer: invalid tensor name");
    if (n_dims < 1 || n_dims > 4)
        return ql_fail(err, QL_ERR_ARG, "gguf writer: tensor '%s': %u dims", name, n_dims);
    for (size_t i = 0; i < w->n_t; i++)
        if (strcmp(w->t[i].name, name) == 0)
            return ql_fail(err, QL_ERR_ARG, "gguf writer: duplicate tensor '%s'", name);
    uint64_t rows = 1, row_bytes;
    for (uint32_t d = 1; d < n_dims; d++) {
        if (ne[d] < 1 || (uint64_t)ne[d] > (UINT64_MAX >> 2) / rows)
            return ql_fail(err, QL_ERR_ARG, "gguf writer: tensor '%s': bad dim %u", name, d);
        rows *= (uint64_t)ne[d];
    }
    if (ne[0] < 1 || !ql_type_row_bytes(type, (uint64_t)ne[0], &row_bytes) ||
        (row_bytes && rows > (UINT64_MAX >> 2) / row_bytes))
        return ql_fail(err, QL_ERR_ARG, "gguf writer: tensor '%s': row of %lld elements does "
                       "not fit type %u", name, (long long)ne[0], type);
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 64;
        wtensor *n = realloc(w->t, cap * sizeof *n);
        if (!n) return ql_fail(err, QL_ERR_NOMEM, "gguf writer: out of memory");
        w->t = n;
        w->cap_t = cap;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name) return ql_fail(err, QL_ERR_NOMEM, "gguf writer: out of memory");
    t->type = type;
    t->n_dims = n_dims;
    for (uint32_t d = 0; d < 4; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->nbytes = rows * row_bytes;
    w->n_t++;
    return ql_ok(err);
}

uint64_t ql_gguf_writer_n_tensors(const ql_gguf_writer *w) { return w->n_t; }

uint64_t ql_gguf_writer_tensor_bytes(const ql_gguf_writer *w, uint64_t i) {
    return i < w->n_t ? w->t[i].nbytes : 0;
}

/* ---- streaming ----------------------------------------------------------------------- */

static ql_status flush_buf(ql_gguf_writer *w, ql_error *err) {
    const uint8_t *p = w->buf;
    size_t left = w->buf_len;
    while (left > 0) {
        ssize_t n = write(w->fd, p, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return ql_fail(err, QL_ERR_IO, "%s: write failed: %s", w->tmp,
                           n < 0 ? strerror(errno) : "no progress");
        p += n;
        left -= (size_t)n;
    }
    w->buf_len = 0;
    return QL_OK;
}

static ql_status put(ql_gguf_writer *w, const void *data, size_t n, ql_error *err) {
    const uint8_t *p = data;
    while (n > 0) {
        size_t take = WRITE_BUF_BYTES - w->buf_len;
        if (take > n) take = n;
        if (p) memcpy(w->buf + w->buf_len, p, take);
        else memset(w->buf + w->buf_len, 0, take); /* NULL: zero padding */
        w->buf_len += take;
        w->pos += take;
        if (p) p += take;
        n -= take;
        if (w->buf_len == WRITE_BUF_BYTES) {
            ql_status st = flush_buf(w, err);
            if (st) return st;
        }
    }
    return QL_OK;
}

static ql_status put_str(ql_gguf_writer *w, const char *s, ql_error *err) {
    uint64_t len = strlen(s);
    ql_status st = put(w, &len, 8, err);
    return st ? st : put(w, s, (size_t)len, err);
}

/* general.alignment, when set, must be a u32 power of two. */
static ql_status read_alignment(ql_gguf_writer *w, ql_error *err) {
    wkv *kv = find_kv(w, "general.alignment", strlen("general.alignment"));
    if (!kv) return QL_OK;
    uint32_t a = 0;
    if (kv->type != QL_GGUF_UINT32 || kv->len != 4 ||
        (memcpy(&a, kv->enc, 4), a == 0 || (a & (a - 1)) != 0))
        return ql_fail(err, QL_ERR_ARG, "gguf writer: general.alignment must be a non-zero "
                       "power-of-two u32");
    w->alignment = a;
    return QL_OK;
}

static ql_status write_header(ql_gguf_writer *w, ql_error *err) {
    uint32_t ver = GGUF_VERSION;
    uint64_t n_t = w->n_t, n_kv = w->n_kv;
    ql_status st = put(w, "GGUF", 4, err);
    if (!st) st = put(w, &ver, 4, err);
    if (!st) st = put(w, &n_t, 8, err);
    if (!st) st = put(w, &n_kv, 8, err);
    for (size_t i = 0; !st && i < w->n_kv; i++) {
        uint32_t type = (uint32_t)w->kv[i].type;
        st = put_str(w, w->kv[i].key, err);
        if (!st) st = put(w, &type, 4, err);
        w->kv[i].file_offset = w->pos;
        if (!st) st = put(w, w->kv[i].enc, w->kv[i].len, err);
    }
    uint64_t off = 0;
    for (size_t i = 0; !st && i < w->n_t; i++) {
        wtensor *t = &w->t[i];
        off = align_up(off, w->alignment);
        t->offset = off;
        off += t->nbytes;
        st = put_str(w, t->name, err);
        if (!st) st = put(w, &t->n_dims, 4, err);
        if (!st) st = put(w, t->ne, 8 * (size_t)t->n_dims, err);
        if (!st) st = put(w, &t->type, 4, err);
        if (!st) st = put(w, &t->offset, 8, err);
    }
    if (st) return st;
    w->data_start = align_up(w->pos, w->alignment);
    return put(w, NULL, (size_t)(w->data_start - w->pos), err);
}

ql_status ql_gguf_writer_begin(ql_gguf_writer *w, const char *path, ql_error *err) {
    if (w->begun) return ql_fail(err, QL_ERR_ARG, "gguf writer: begin called twice");
    ql_status st = read_alignment(w, err);
    if (st) return st;
    size_t len = strlen(path);
    w->path = strdup(path);
    w->tmp = malloc(len + 5);
    w->buf = malloc(WRITE_BUF_BYTES);
    if (!w->path || !w->tmp || !w->buf) return ql_fail(err, QL_ERR_NOMEM, "gguf writer: out of memory");
    memcpy(w->tmp, path, len);
    memcpy(w->tmp + len, ".tmp", 5);
    w->begun = true;
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        int e = errno;
        free(w->tmp);
        w->tmp = NULL; /* nothing of ours to remove */
        return ql_fail(err, QL_ERR_IO, "%s.tmp: cannot create: %s", path, strerror(e));
    }
    st = write_header(w, err);
    if (st) return st;
    return ql_ok(err);
}

/* Pads after each completed tensor, so the next one starts at its aligned offset. */
static ql_status advance_tensors(ql_gguf_writer *w, ql_error *err) {
    while (w->cur < w->n_t && w->cur_done == w->t[w->cur].nbytes) {
        w->cur++;
        w->cur_done = 0;
        uint64_t next = w->cur < w->n_t ? w->data_start + w->t[w->cur].offset
                                        : align_up(w->pos, w->alignment);
        ql_status st = put(w, NULL, (size_t)(next - w->pos), err);
        if (st) return st;
    }
    return QL_OK;
}

ql_status ql_gguf_write_data(ql_gguf_writer *w, const void *data, size_t n, ql_error *err) {
    if (!w->begun || w->fd < 0) return ql_fail(err, QL_ERR_ARG, "gguf writer: data before begin");
    const uint8_t *p = data;
    ql_status st = advance_tensors(w, err); /* zero-byte tensors cannot occur, but be safe */
    while (!st && n > 0) {
        if (w->cur >= w->n_t)
            return ql_fail(err, QL_ERR_ARG, "%s: more tensor data than the table holds", w->tmp);
        uint64_t left = w->t[w->cur].nbytes - w->cur_done;
        size_t take = left < n ? (size_t)left : n;
        st = put(w, p, take, err);
        w->cur_done += take;
        p += take;
        n -= take;
        if (!st) st = advance_tensors(w, err);
    }
    return st ? st : ql_ok(err);
}

ql_status ql_gguf_writer_patch_u64(ql_gguf_writer *w, const char *key, uint64_t v,
                                   ql_error *err) {
    wkv *kv = find_kv(w, key, strlen(key));
    if (!kv || kv->type != QL_GGUF_UINT64)
        return ql_fail(err, QL_ERR_ARG, "gguf writer: no u64 key '%s' to patch", key);
    memcpy(kv->enc, &v, 8);
    if (!w->begun) return ql_ok(err);
    if (w->fd < 0) return ql_fail(err, QL_ERR_ARG, "gguf writer: file already closed");
    ql_status st = flush_buf(w, err); /* the value may still sit in the buffer */
    if (st) return st;
    if (pwrite(w->fd, &v, 8, (off_t)kv->file_offset) != 8)
        return ql_fail(err, QL_ERR_IO, "%s: cannot patch '%s': %s", w->tmp, key, strerror(errno));
    return ql_ok(err);
}

/* Makes the rename durable: fsync of the folder that holds `path`. */
static void fsync_dir_of(const char *path) {
    char *copy = strdup(path);
    if (!copy) return;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(copy);
}

ql_status ql_gguf_writer_finish(ql_gguf_writer *w, ql_error *err) {
    if (!w->begun || w->fd < 0 || w->finished)
        return ql_fail(err, QL_ERR_ARG, "gguf writer: finish without begin");
    ql_status st = advance_tensors(w, err);
    if (st) goto fail;
    if (w->cur < w->n_t) {
        st = ql_fail(err, QL_ERR_ARG, "%s: tensor '%s' has %llu of %llu bytes written", w->tmp,
                     w->t[w->cur].name, (unsigned long long)w->cur_done,
                     (unsigned long long)w->t[w->cur].nbytes);
        goto fail;
    }
    if ((st = flush_buf(w, err))) goto fail;
    if (fsync(w->fd) != 0) {
        st = ql_fail(err, QL_ERR_IO, "%s: fsync failed: %s", w->tmp, strerror(errno));
        goto fail;
    }
    int rc = close(w->fd);
    w->fd = -1;
    if (rc != 0) {
        st = ql_fail(err, QL_ERR_IO, "%s: close failed: %s", w->tmp, strerror(errno));
        goto fail;
    }
    if (rename(w->tmp, w->path) != 0) {
        st = ql_fail(err, QL_ERR_IO, "%s: cannot rename to %s: %s", w->tmp, w->path,
                     strerror(errno));
        goto fail;
    }
    w->finished = true;
    fsync_dir_of(w->path);
    return ql_ok(err);
fail:
    if (w->fd >= 0) close(w->fd);
    w->fd = -1;
    unlink(w->tmp);
    return st;
}
