/*
 * src/model/file.c: the public file-inspection API (ql_file_*) over the GGUF reader.
 *
 * Keys and tensor names in the file are not NUL-terminated, so open copies them all into
 * one buffer; values are formatted to text on demand into the caller's buffer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "quant/types.h"
#include "runtime/error.h"

struct ql_file {
    ql_gguf *g;
    char *names;        /* every key, then every tensor name, each NUL-terminated */
    const char **keys;  /* n_kv pointers into names */
    const char **tnames; /* n_tensors pointers into names */
};

ql_status ql_file_open(const char *path, ql_file **out, ql_error *err) {
    if (out) *out = NULL;
    if (!path || !out) return ql_fail(err, QL_ERR_ARG, "ql_file_open: NULL argument");
    ql_gguf *g;
    ql_status st = ql_gguf_open(path, &g, err);
    if (st != QL_OK) return st;

    uint64_t n_kv = ql_gguf_n_kv(g), n_t = ql_gguf_n_tensors(g);
    /* Names lie inside the file, so their total (plus one NUL each) fits in size_t. */
    size_t total = 0;
    for (uint64_t i = 0; i < n_kv; i++) total += (size_t)ql_gguf_kv_at(g, i)->key.len + 1;
    for (uint64_t i = 0; i < n_t; i++) total += (size_t)ql_gguf_tensor_at(g, i)->name.len + 1;

    ql_file *f = calloc(1, sizeof *f);
    if (f) {
        f->g = g;
        f->names = malloc(total ? total : 1);
        f->keys = malloc((n_kv ? n_kv : 1) * sizeof *f->keys);
        f->tnames = malloc((n_t ? n_t : 1) * sizeof *f->tnames);
    }
    if (!f || !f->names || !f->keys || !f->tnames) {
        if (f) ql_file_free(f);
        else ql_gguf_close(g);
        return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path);
    }
    char *p = f->names;
    for (uint64_t i = 0; i < n_kv + n_t; i++) {
        ql_str s = i < n_kv ? ql_gguf_kv_at(g, i)->key : ql_gguf_tensor_at(g, i - n_kv)->name;
        memcpy(p, s.ptr, (size_t)s.len);
        p[s.len] = '\0';
        if (i < n_kv) f->keys[i] = p;
        else f->tnames[i - n_kv] = p;
        p += s.len + 1;
    }
    *out = f;
    return QL_OK;
}

void ql_file_free(ql_file *file) {
    if (!file) return;
    ql_gguf_close(file->g);
    free(file->names);
    free(file->keys);
    free(file->tnames);
    free(file);
}

uint32_t ql_file_version(const ql_file *file) { return ql_gguf_version(file->g); }
uint64_t ql_file_alignment(const ql_file *file) { return ql_gguf_alignment(file->g); }
uint64_t ql_file_n_meta(const ql_file *file) { return ql_gguf_n_kv(file->g); }
uint64_t ql_file_n_tensors(const ql_file *file) { return ql_gguf_n_tensors(file->g); }

/* ---- value text ----------------------------------------------------------------------- */

/* Output that silently stops at cap - 1 bytes; `full` lets loops stop early, so formatting
 * a 300k-element array into a small buffer costs O(cap), not O(n). */
typedef struct text {
    char *buf;
    size_t cap, len;
    bool full;
} text;

static void put(text *t, const char *s, size_t n) {
    if (t->full) return;
    size_t room = t->cap ? t->cap - 1 - t->len : 0;
    if (n > room) {
        n = room;
        t->full = true;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
}

static void puts_(text *t, const char *s) { put(t, s, strlen(s)); }

static void put_string(text *t, ql_str s) {
    put(t, "\"", 1);
    for (uint64_t i = 0; i < s.len && !t->full; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        char esc[8];
        switch (c) {
        case '"': put(t, "\\\"", 2); break;
        case '\\': put(t, "\\\\", 2); break;
        case '\n': put(t, "\\n", 2); break;
        case '\r': put(t, "\\r", 2); break;
        case '\t': put(t, "\\t", 2); break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(esc, sizeof esc, "\\x%02x", c);
                put(t, esc, 4);
            } else {
                put(t, (const char *)&c, 1);
            }
        }
    }
    put(t, "\"", 1);
}

/* Shortest %g text that reads back to the same value (float32 or float64). */
static void put_float(text *t, double d, bool is_f32) {
    char buf[40];
    int lo = is_f32 ? 6 : 15, hi = is_f32 ? 9 : 17;
    for (int prec = lo; prec <= hi; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (is_f32 ? strtof(buf, NULL) == (float)d : strtod(buf, NULL) == d) break;
    }
    puts_(t, buf);
}

static void put_value(text *t, const ql_gguf_value *v, size_t max_items) {
    char buf[48];
    switch (v->type) {
    case QL_GGUF_UINT8: case QL_GGUF_UINT16: case QL_GGUF_UINT32: case QL_GGUF_UINT64:
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)v->v.u64);
        puts_(t, buf);
        break;
    case QL_GGUF_INT8: case QL_GGUF_INT16: case QL_GGUF_INT32: case QL_GGUF_INT64:
        snprintf(buf, sizeof buf, "%lld", (long long)v->v.i64);
        puts_(t, buf);
        break;
    case QL_GGUF_FLOAT32: put_float(t, v->v.f64, true); break;
    case QL_GGUF_FLOAT64: put_float(t, v->v.f64, false); break;
    case QL_GGUF_BOOL: puts_(t, v->v.b ? "true" : "false"); break;
    case QL_GGUF_STRING: put_string(t, v->v.str); break;
    case QL_GGUF_ARRAY: {
        const ql_gguf_array *a = &v->v.arr;
        put(t, "[", 1);
        uint64_t shown = a->n < max_items ? a->n : max_items;
        for (uint64_t i = 0; i < shown && !t->full; i++) {
            ql_gguf_value e;
            if (i) put(t, ", ", 2);
            if (ql_gguf_arr_get(a, i, &e)) put_value(t, &e, max_items);
        }
        if (shown < a->n) {
            snprintf(buf, sizeof buf, "%s... (%llu items)", shown ? ", " : "",
                     (unsigned long long)a->n);
            puts_(t, buf);
        }
        put(t, "]", 1);
        break;
    }
    case QL_GGUF_TYPE_COUNT: break;
    }
}

static const char *meta_type_name(const ql_gguf_value *v) {
    static const char *const scalar[QL_GGUF_TYPE_COUNT] = {
        "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64",
        "f64",
    };
    static const char *const array[QL_GGUF_TYPE_COUNT] = {
        "array[u8]",   "array[i8]",     "array[u16]",   "array[i16]",  "array[u32]",
        "array[i32]",  "array[f32]",    "array[bool]",  "array[string]", "array[array]",
        "array[u64]",  "array[i64]",    "array[f64]",
    };
    if ((unsigned)v->type >= QL_GGUF_TYPE_COUNT) return "?";
    if (v->type != QL_GGUF_ARRAY) return scalar[v->type];
    unsigned e = (unsigned)v->v.arr.elem_type;
    return e < QL_GGUF_TYPE_COUNT ? array[e] : "array";
}

bool ql_file_meta(const ql_file *file, uint64_t i, const char **key, const char **type_name,
                  char *value, size_t cap, size_t max_items) {
    const ql_gguf_kv *kv = ql_gguf_kv_at(file->g, i);
    if (!kv) return false;
    if (key) *key = file->keys[i];
    if (type_name) *type_name = meta_type_name(&kv->value);
    if (value && cap) {
        text t = {.buf = value, .cap = cap};
        put_value(&t, &kv->value, max_items);
        value[t.len] = '\0';
    }
    return true;
}

bool ql_file_tensor(const ql_file *file, uint64_t i, ql_tensor_desc *desc) {
    const ql_gguf_tensor *t = ql_gguf_tensor_at(file->g, i);
    if (!t || !desc) return false;
    const ql_type_traits *tt = ql_type_get(t->type);
    desc->name = file->tnames[i];
    desc->n_dims = t->n_dims;
    memcpy(desc->ne, t->ne, sizeof desc->ne);
    desc->type_name = tt ? tt->name : "?";
    desc->offset = ql_gguf_data_offset(file->g) + t->offset;
    desc->nbytes = t->nbytes;
    return true;
}
