/*
 * tests/format/test_gguf.c: the GGUF reader on a synthetic file built byte by byte here,
 * on hostile variants of it (truncations, overflowing counts and lengths, bad types,
 * duplicates, misalignment, random mutations), on the shared real files, and the public
 * ql_file_* API on top of it.
 */
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/gguf.h"
#include "qloop.h"
#include "quant/types.h"
#include "test.h"

/* ---- a GGUF byte writer ---------------------------------------------------------------- */

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

static void b_bytes(buf *b, const void *src, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) abort();
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, src, n);
    b->len += n;
}
static void b_u8(buf *b, uint8_t v) { b_bytes(b, &v, 1); }
static void b_u16(buf *b, uint16_t v) { b_bytes(b, &v, 2); }
static void b_u32(buf *b, uint32_t v) { b_bytes(b, &v, 4); }
static void b_u64(buf *b, uint64_t v) { b_bytes(b, &v, 8); }
static void b_f32(buf *b, float v) { b_bytes(b, &v, 4); }
static void b_f64(buf *b, double v) { b_bytes(b, &v, 8); }
static void b_str(buf *b, const char *s) {
    b_u64(b, strlen(s));
    b_bytes(b, s, strlen(s));
}
static void b_pad(buf *b, size_t align) {
    while (b->len % align) b_u8(b, 0);
}
static void b_free(buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

static void gguf_header(buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b_bytes(b, "GGUF", 4);
    b_u32(b, version);
    b_u64(b, n_tensors);
    b_u64(b, n_kv);
}
static void kv_head(buf *b, const char *key, uint32_t type) {
    b_str(b, key);
    b_u32(b, type);
}
static void kv_u32(buf *b, const char *key, uint32_t v) {
    kv_head(b, key, QL_GGUF_UINT32);
    b_u32(b, v);
}
static void kv_str(buf *b, const char *key, const char *v) {
    kv_head(b, key, QL_GGUF_STRING);
    b_str(b, v);
}
static void arr_head(buf *b, uint32_t elem, uint64_t n) {
    b_u32(b, elem);
    b_u64(b, n);
}
static void tensor_info(buf *b, const char *name, uint32_t n_dims, const int64_t *ne,
                        uint32_t type, uint64_t offset) {
    b_str(b, name);
    b_u32(b, n_dims);
    for (uint32_t d = 0; d < n_dims; d++) b_u64(b, (uint64_t)ne[d]);
    b_u32(b, type);
    b_u64(b, offset);
}
/* Pads to `align` and appends `n` bytes of data (pattern i * 7 + 1). */
static void data_section(buf *b, size_t align, size_t n) {
    b_pad(b, align);
    for (size_t i = 0; i < n; i++) b_u8(b, (uint8_t)(i * 7 + 1));
}

/* ---- files in a temporary folder ------------------------------------------------------ */

static char g_dir[64];
static char g_path[256];

static const char *write_file(const char *name, const void *p, size_t n) {
    snprintf(g_path, sizeof g_path, "%s/%s", g_dir, name);
    FILE *f = fopen(g_path, "wb");
    if (!f) {
        perror(g_path);
        abort();
    }
    if (n && fwrite(p, 1, n, f) != n) abort();
    fclose(f);
    return g_path;
}

/* Writes `b`, opens it and returns the status (closing on success). */
static ql_status open_buf(const buf *b, const char *name, ql_error *err) {
    const char *path = write_file(name, b->p, b->len);
    ql_gguf *g = NULL;
    ql_status st = ql_gguf_open(path, &g, err);
    if (st == QL_OK) CHECK(g != NULL);
    else CHECK(g == NULL);
    ql_gguf_close(g);
    return st;
}

/* The file must fail with `code`, and the message must name the file and `needle`. */
#define EXPECT_FAIL(b, name, code, needle)                                                 \
    do {                                                                                   \
        ql_error e_;                                                                       \
        ql_status st_ = open_buf((b), (name), &e_);                                        \
        CHECK_EQ_INT(st_, (code));                                                         \
        if (getenv("QL_TEST_VERBOSE")) printf("  %s\n", e_.message);                       \
        if (st_ != QL_OK) {                                                                \
            CHECK_EQ_INT(e_.status, (code));                                               \
            CHECK_MSG(strstr(e_.message, g_path) != NULL, "message: %s", e_.message);      \
            CHECK_MSG(strstr(e_.message, (needle)) != NULL, "want '%s' in: %s", (needle),  \
                      e_.message);                                                         \
        }                                                                                  \
    } while (0)

/* ---- the valid synthetic file --------------------------------------------------------- */

#define SYN_ALIGN 64
#define SYN_N_TENSORS 4

typedef struct syn_tensor {
    const char *name;
    uint32_t n_dims;
    int64_t ne[4];
    uint32_t type;
    uint64_t offset, nbytes;
} syn_tensor;

static const syn_tensor k_syn_tensors[SYN_N_TENSORS] = {
    {"blk.0.f32", 2, {8, 3, 1, 1}, QL_TYPE_F32, 0, 96},
    {"blk.0.f16", 1, {16, 1, 1, 1}, QL_TYPE_F16, 128, 32},
    {"blk.0.q8_0", 2, {64, 2, 1, 1}, QL_TYPE_Q8_0, 192, 136},
    {"blk.0.q4_0", 4, {32, 1, 2, 3}, QL_TYPE_Q4_0, 384, 108},
};
#define SYN_DATA_BYTES (384 + 108)
#define SYN_STRING "hello \"world\"\n\t\x01"
#define SYN_N_KV 31

typedef struct syn_layout {
    size_t info_end;    /* end of the tensor-info section */
    size_t data_offset; /* start of the data section */
} syn_layout;

/* Every metadata type, arrays of each, nested arrays, alignment 64, four tensors. */
static void build_valid(buf *b, syn_layout *lay) {
    gguf_header(b, 3, SYN_N_TENSORS, SYN_N_KV);
    kv_str(b, "general.architecture", "llama");
    kv_u32(b, "general.alignment", SYN_ALIGN);
    kv_head(b, "k.u8", QL_GGUF_UINT8), b_u8(b, 200);
    kv_head(b, "k.i8", QL_GGUF_INT8), b_u8(b, (uint8_t)-100);
    kv_head(b, "k.u16", QL_GGUF_UINT16), b_u16(b, 60000);
    kv_head(b, "k.i16", QL_GGUF_INT16), b_u16(b, (uint16_t)-30000);
    kv_head(b, "k.u32", QL_GGUF_UINT32), b_u32(b, 4000000000u);
    kv_head(b, "k.i32", QL_GGUF_INT32), b_u32(b, (uint32_t)-2000000000);
    kv_head(b, "k.f32", QL_GGUF_FLOAT32), b_f32(b, 1.5f);
    kv_head(b, "k.bool", QL_GGUF_BOOL), b_u8(b, 1);
    kv_str(b, "k.string", SYN_STRING);
    kv_head(b, "k.u64", QL_GGUF_UINT64), b_u64(b, ((uint64_t)1 << 63) + 5);
    kv_head(b, "k.i64", QL_GGUF_INT64), b_u64(b, (uint64_t)-((int64_t)1 << 62));
    kv_head(b, "k.f64", QL_GGUF_FLOAT64), b_f64(b, 0.1);
    /* arrays of each fixed type: 3 elements */
    kv_head(b, "a.u8", QL_GGUF_ARRAY), arr_head(b, QL_GGUF_UINT8, 3);
    b_u8(b, 1), b_u8(b, 2), b_u8(b, 255);
    kv_head(b, "a.i8", QL_GGUF_ARRAY), arr_head(b, QL_GGUF_INT8, 3);
    b_u8(b, (uint8_t)-1), b_u8(b, 0), b_u8(b, 127);
    kv_head(b, "a.u16", QL_GGUF_ARRAY), arr_head(b, QL_GGUF_UINT16, 3);
    b_u16(b, 1), b_u16(b, 2), b_u16(b, 65535);
    kv_head(b, "a.i16", QL_GGUF_ARRAY), arr_head(b, QL_GGUF_INT16, 3);
    b_u16(b, (uint16_t)-2), b_u16(b, 0), b_u16(b, 2);
    kv_head(b, "a.u32", QL_GGUF_ARRAY), arr_head(b, QL_GGUF_UINT32, 3);
    b_u32(b, 7), b_u32(b, 8), b_u32(b, 4294967295u);
    kv_head(b, "a.i32", QL_GGUF_ARRAY), arr_head(b, QL_GGUF_INT32, 3);
    b_u32(b, (uint32_t)-7), b_u32(b, 0), b_u32(b, 7);
    kv_head(b, "a.f32", QL_GGUF_ARRAY), arr_head(b, QL_GGUF_FLOAT32, 3);
    b_f32(b, 0.5f), b_f32(b, -2.0f), b_f32(b, 1e-5f);
    kv_head(b, "a.bool", QL_GGUF_ARRAY), arr_head(b, QL_GGUF_BOOL, 3);
    b_u8(b, 1), b_u8(b, 0), b_u8(b, 1);
    kv_head(b, "a.u64", QL_GGUF_ARRAY), arr_head(b, QL_GGUF_UINT64, 3);
    b_u64(b, 0), b_u64(b, 1), b_u64(b, UINT64_MAX);
    kv_head(b, "a.i64", QL_GGUF_ARRAY), arr_head(b, QL_GGUF_INT64, 3);
    b_u64(b, (uint64_t)INT64_MIN), b_u64(b, 0), b_u64(b, (uint64_t)INT64_MAX);
    kv_head(b, "a.f64", QL_GGUF_ARRAY), arr_head(b, QL_GGUF_FLOAT64, 3);
    b_f64(b, -0.25), b_f64(b, 1e300), b_f64(b, 0.1);
    kv_head(b, "a.string", QL_GGUF_ARRAY), arr_head(b, QL_GGUF_STRING, 3);
    b_str(b, "a"), b_str(b, ""), b_str(b, "ccc");
    kv_head(b, "a.empty", QL_GGUF_ARRAY), arr_head(b, QL_GGUF_UINT32, 0);
    /* [[1, 2], [3]] of u32 */
    kv_head(b, "a.nested", QL_GGUF_ARRAY), arr_head(b, QL_GGUF_ARRAY, 2);
    arr_head(b, QL_GGUF_UINT32, 2), b_u32(b, 1), b_u32(b, 2);
    arr_head(b, QL_GGUF_UINT32, 1), b_u32(b, 3);
    /* [["x"], ["y", "z"]] */
    kv_head(b, "a.nested_str", QL_GGUF_ARRAY), arr_head(b, QL_GGUF_ARRAY, 2);
    arr_head(b, QL_GGUF_STRING, 1), b_str(b, "x");
    arr_head(b, QL_GGUF_STRING, 2), b_str(b, "y"), b_str(b, "z");
    /* 20 elements, for abbreviation */
    kv_head(b, "a.long", QL_GGUF_ARRAY), arr_head(b, QL_GGUF_INT32, 20);
    for (int i = 0; i < 20; i++) b_u32(b, (uint32_t)i);
    kv_str(b, "k.empty_string", "");
    for (int i = 0; i < SYN_N_TENSORS; i++) {
        const syn_tensor *t = &k_syn_tensors[i];
        tensor_info(b, t->name, t->n_dims, t->ne, t->type, t->offset);
    }
    lay->info_end = b->len;
    b_pad(b, SYN_ALIGN);
    lay->data_offset = b->len;
    data_section(b, SYN_ALIGN, SYN_DATA_BYTES);
}

static void check_fixed_array(const ql_gguf *g, const char *key, ql_gguf_type t,
                              const double *want) {
    const ql_gguf_array *a = NULL;
    ql_error err;
    CHECK_EQ_INT(ql_gguf_get_arr(g, key, t, &a, &err), QL_OK);
    if (!a) return;
    CHECK_EQ_INT(a->n, 3);
    CHECK(a->data != NULL && a->items == NULL);
    for (uint64_t i = 0; i < 3 && i < a->n; i++) CHECK_NEAR(ql_gguf_arr_float(a, i), want[i], 0);
}

static void test_valid_file_parses_exactly(void) {
    buf b = {0};
    syn_layout lay;
    build_valid(&b, &lay);
    const char *path = write_file("valid.gguf", b.p, b.len);
    ql_gguf *g = NULL;
    ql_error err;
    CHECK_EQ_INT(ql_gguf_open(path, &g, &err), QL_OK);
    if (!g) {
        fprintf(stderr, "%s\n", err.message);
        b_free(&b);
        return;
    }
    CHECK(strcmp(ql_gguf_path(g), path) == 0);
    CHECK_EQ_INT(ql_gguf_version(g), 3);
    CHECK_EQ_INT(ql_gguf_alignment(g), SYN_ALIGN);
    CHECK_EQ_INT(ql_gguf_data_offset(g), lay.data_offset);
    CHECK_EQ_INT(ql_gguf_file_size(g), b.len);
    CHECK_EQ_INT(ql_gguf_n_kv(g), SYN_N_KV);
    CHECK_EQ_INT(ql_gguf_n_tensors(g), SYN_N_TENSORS);
    CHECK(ql_gguf_kv_at(g, SYN_N_KV) == NULL);
    CHECK(ql_gguf_tensor_at(g, SYN_N_TENSORS) == NULL);
    CHECK(ql_str_eq(ql_gguf_kv_at(g, 0)->key, "general.architecture"));
    CHECK(ql_str_eq(ql_gguf_kv_at(g, SYN_N_KV - 1)->key, "k.empty_string"));

    /* scalars */
    const ql_gguf_value *v;
    v = ql_gguf_get(g, "k.u8");
    CHECK(v && v->type == QL_GGUF_UINT8 && v->v.u64 == 200);
    v = ql_gguf_get(g, "k.i8");
    CHECK(v && v->type == QL_GGUF_INT8 && v->v.i64 == -100);
    v = ql_gguf_get(g, "k.u16");
    CHECK(v && v->type == QL_GGUF_UINT16 && v->v.u64 == 60000);
    v = ql_gguf_get(g, "k.i16");
    CHECK(v && v->type == QL_GGUF_INT16 && v->v.i64 == -30000);
    v = ql_gguf_get(g, "k.u32");
    CHECK(v && v->type == QL_GGUF_UINT32 && v->v.u64 == 4000000000u);
    v = ql_gguf_get(g, "k.i32");
    CHECK(v && v->v.i64 == -2000000000);
    v = ql_gguf_get(g, "k.f32");
    CHECK(v && v->type == QL_GGUF_FLOAT32 && v->v.f64 == 1.5);
    v = ql_gguf_get(g, "k.bool");
    CHECK(v && v->type == QL_GGUF_BOOL && v->v.b);
    v = ql_gguf_get(g, "k.u64");
    CHECK(v && v->v.u64 == ((uint64_t)1 << 63) + 5);
    v = ql_gguf_get(g, "k.i64");
    CHECK(v && v->v.i64 == -((int64_t)1 << 62));
    v = ql_gguf_get(g, "k.f64");
    CHECK(v && v->type == QL_GGUF_FLOAT64 && v->v.f64 == 0.1);
    CHECK(ql_gguf_get(g, "k.missing") == NULL);
    CHECK(ql_gguf_get(g, "k.u") == NULL); /* a prefix is not a match */

    ql_str s;
    CHECK_EQ_INT(ql_gguf_get_str(g, "k.string", &s, &err), QL_OK);
    CHECK(s.len == strlen(SYN_STRING) && memcmp(s.ptr, SYN_STRING, s.len) == 0);
    CHECK_EQ_INT(ql_gguf_get_str(g, "k.empty_string", &s, &err), QL_OK);
    CHECK_EQ_INT(s.len, 0);
    CHECK_EQ_INT(ql_gguf_get_str(g, "general.architecture", &s, &err), QL_OK);
    CHECK(ql_str_eq(s, "llama") && !ql_str_eq(s, "llam") && !ql_str_eq(s, "llamas"));

    /* fixed-size arrays point into the mapping */
    check_fixed_array(g, "a.u8", QL_GGUF_UINT8, (const double[]){1, 2, 255});
    check_fixed_array(g, "a.i8", QL_GGUF_INT8, (const double[]){-1, 0, 127});
    check_fixed_array(g, "a.u16", QL_GGUF_UINT16, (const double[]){1, 2, 65535});
    check_fixed_array(g, "a.i16", QL_GGUF_INT16, (const double[]){-2, 0, 2});
    check_fixed_array(g, "a.u32", QL_GGUF_UINT32, (const double[]){7, 8, 4294967295.0});
    check_fixed_array(g, "a.i32", QL_GGUF_INT32, (const double[]){-7, 0, 7});
    check_fixed_array(g, "a.f32", QL_GGUF_FLOAT32, (const double[]){0.5, -2.0, (double)1e-5f});
    check_fixed_array(g, "a.bool", QL_GGUF_BOOL, (const double[]){1, 0, 1});
    check_fixed_array(g, "a.f64", QL_GGUF_FLOAT64, (const double[]){-0.25, 1e300, 0.1});
    const ql_gguf_array *a = NULL;
    CHECK_EQ_INT(ql_gguf_get_arr(g, "a.i64", QL_GGUF_INT64, &a, &err), QL_OK);
    CHECK(a && ql_gguf_arr_int(a, 0) == INT64_MIN && ql_gguf_arr_int(a, 2) == INT64_MAX);
    CHECK_EQ_INT(ql_gguf_get_arr(g, "a.u64", QL_GGUF_UINT64, &a, &err), QL_OK);
    ql_gguf_value e;
    CHECK(a && ql_gguf_arr_get(a, 2, &e) && e.type == QL_GGUF_UINT64 && e.v.u64 == UINT64_MAX);
    CHECK(a && !ql_gguf_arr_get(a, 3, &e));
    CHECK_EQ_INT(ql_gguf_get_arr(g, "a.i32", QL_GGUF_INT32, &a, &err), QL_OK);
    CHECK(a && ql_gguf_arr_int(a, 0) == -7);
    CHECK_EQ_INT(ql_gguf_get_arr(g, "a.empty", QL_GGUF_UINT32, &a, &err), QL_OK);
    CHECK(a && a->n == 0);
    CHECK_EQ_INT(ql_gguf_get_arr(g, "a.u8", QL_GGUF_TYPE_COUNT, &a, &err), QL_OK);
    CHECK_EQ_INT(ql_gguf_get_arr(g, "a.u8", QL_GGUF_UINT16, &a, &err), QL_ERR_CORRUPT);
    CHECK(strstr(err.message, "a.u8") != NULL);

    /* arrays of strings and of arrays are parsed into items */
    CHECK_EQ_INT(ql_gguf_get_arr(g, "a.string", QL_GGUF_STRING, &a, &err), QL_OK);
    if (a && a->n == 3 && a->items) {
        CHECK(a->data == NULL);
        CHECK(ql_str_eq(a->items[0].v.str, "a"));
        CHECK(ql_str_eq(a->items[1].v.str, ""));
        CHECK(ql_str_eq(a->items[2].v.str, "ccc"));
        CHECK(a->items[0].type == QL_GGUF_STRING);
    } else {
        CHECK(!"a.string has 3 items");
    }
    CHECK_EQ_INT(ql_gguf_get_arr(g, "a.nested", QL_GGUF_ARRAY, &a, &err), QL_OK);
    if (a && a->n == 2 && a->items) {
        const ql_gguf_array *x = &a->items[0].v.arr, *y = &a->items[1].v.arr;
        CHECK(a->items[0].type == QL_GGUF_ARRAY && x->elem_type == QL_GGUF_UINT32);
        CHECK(x->n == 2 && ql_gguf_arr_int(x, 0) == 1 && ql_gguf_arr_int(x, 1) == 2);
        CHECK(y->n == 1 && ql_gguf_arr_int(y, 0) == 3);
    } else {
        CHECK(!"a.nested has 2 items");
    }
    CHECK_EQ_INT(ql_gguf_get_arr(g, "a.nested_str", QL_GGUF_ARRAY, &a, &err), QL_OK);
    if (a && a->n == 2 && a->items) {
        const ql_gguf_array *y = &a->items[1].v.arr;
        CHECK(y->elem_type == QL_GGUF_STRING && y->n == 2 && y->items);
        CHECK(y->items && ql_str_eq(y->items[1].v.str, "z"));
    } else {
        CHECK(!"a.nested_str has 2 items");
    }

    /* tensors: shape, type, offset, size, data */
    const uint8_t *data0 = NULL;
    for (int i = 0; i < SYN_N_TENSORS; i++) {
        const syn_tensor *w = &k_syn_tensors[i];
        const ql_gguf_tensor *t = ql_gguf_tensor_at(g, (uint64_t)i);
        CHECK(t != NULL && ql_gguf_find_tensor(g, w->name) == t);
        if (!t) continue;
        CHECK(ql_str_eq(t->name, w->name));
        CHECK_EQ_INT(t->n_dims, w->n_dims);
        for (int d = 0; d < 4; d++) CHECK_EQ_INT(t->ne[d], w->ne[d]);
        CHECK_EQ_INT(t->type, w->type);
        CHECK_EQ_INT(t->offset, w->offset);
        CHECK_EQ_INT(t->nbytes, w->nbytes);
        CHECK_EQ_INT(t->n_elements, w->ne[0] * w->ne[1] * w->ne[2] * w->ne[3]);
        CHECK_EQ_INT((uintptr_t)t->data % SYN_ALIGN, 0);
        if (i == 0) data0 = t->data;
        CHECK((const uint8_t *)t->data - data0 == (ptrdiff_t)w->offset);
        CHECK(memcmp(t->data, b.p + lay.data_offset + w->offset, w->nbytes) == 0);
    }
    CHECK(ql_gguf_find_tensor(g, "blk.0") == NULL);
    ql_gguf_close(g);

    /* version 2 has the same layout */
    memcpy(b.p + 4, &(uint32_t){2}, 4);
    ql_error e2;
    CHECK_EQ_INT(open_buf(&b, "v2.gguf", &e2), QL_OK);
    b_free(&b);
}

static void test_typed_getters_convert_and_range_check(void) {
    buf b = {0};
    syn_layout lay;
    build_valid(&b, &lay);
    const char *path = write_file("getters.gguf", b.p, b.len);
    ql_gguf *g = NULL;
    ql_error err;
    CHECK_EQ_INT(ql_gguf_open(path, &g, &err), QL_OK);
    if (!g) {
        b_free(&b);
        return;
    }
    uint32_t u32;
    int32_t i32;
    uint64_t u64;
    float f;
    bool bo;
    CHECK_EQ_INT(ql_gguf_get_u32(g, "k.u8", &u32, &err), QL_OK);
    CHECK_EQ_INT(u32, 200);
    CHECK_EQ_INT(ql_gguf_get_u32(g, "k.u32", &u32, &err), QL_OK);
    CHECK_EQ_INT(u32, 4000000000u);
    CHECK_EQ_INT(ql_gguf_get_u32(g, "k.i8", &u32, &err), QL_ERR_CORRUPT); /* negative */
    CHECK(strstr(err.message, "k.i8") && strstr(err.message, path));
    CHECK_EQ_INT(ql_gguf_get_u32(g, "k.u64", &u32, &err), QL_ERR_CORRUPT); /* too big */
    CHECK_EQ_INT(ql_gguf_get_i32(g, "k.i16", &i32, &err), QL_OK);
    CHECK_EQ_INT(i32, -30000);
    CHECK_EQ_INT(ql_gguf_get_i32(g, "k.u32", &i32, &err), QL_ERR_CORRUPT);
    CHECK_EQ_INT(ql_gguf_get_u64(g, "k.u64", &u64, &err), QL_OK);
    CHECK(u64 == ((uint64_t)1 << 63) + 5);
    CHECK_EQ_INT(ql_gguf_get_u64(g, "k.i64", &u64, &err), QL_ERR_CORRUPT);
    CHECK_EQ_INT(ql_gguf_get_f32(g, "k.f32", &f, &err), QL_OK);
    CHECK(f == 1.5f);
    CHECK_EQ_INT(ql_gguf_get_f32(g, "k.f64", &f, &err), QL_OK);
    CHECK(f == 0.1f);
    CHECK_EQ_INT(ql_gguf_get_f32(g, "k.u8", &f, &err), QL_ERR_CORRUPT);
    CHECK_EQ_INT(ql_gguf_get_bool(g, "k.bool", &bo, &err), QL_OK);
    CHECK(bo);
    CHECK_EQ_INT(ql_gguf_get_bool(g, "k.u8", &bo, &err), QL_ERR_CORRUPT);
    CHECK_EQ_INT(ql_gguf_get_u32(g, "no.such.key", &u32, &err), QL_ERR_NOT_FOUND);
    CHECK(strstr(err.message, "no.such.key") != NULL);
    CHECK_EQ_INT(err.status, QL_ERR_NOT_FOUND);
    ql_str s;
    CHECK_EQ_INT(ql_gguf_get_str(g, "k.u8", &s, &err), QL_ERR_CORRUPT);
    ql_gguf_close(g);
    b_free(&b);
}

/* ---- hostile files -------------------------------------------------------------------- */

static void test_truncated_at_every_length_fails(void) {
    buf b = {0};
    syn_layout lay;
    build_valid(&b, &lay);
    /* The last tensor ends at the end of the file, so every proper prefix is invalid. */
    for (size_t n = 0; n < b.len; n++) {
        buf t = {b.p, n, n};
        ql_error err;
        ql_status st = open_buf(&t, "trunc.gguf", &err);
        CHECK_MSG(st != QL_OK, "prefix of %zu bytes opened", n);
        if (st != QL_OK && n > 0) CHECK_MSG(strstr(err.message, g_path) != NULL, "%s", err.message);
    }
    b_free(&b);
}

static void test_bad_magic_is_corrupt(void) {
    buf b = {0};
    syn_layout lay;
    build_valid(&b, &lay);
    b.p[0] = 'g';
    EXPECT_FAIL(&b, "magic.gguf", QL_ERR_CORRUPT, "magic");
    b_free(&b);
}

static void test_version_1_and_4_are_unsupported(void) {
    buf b = {0};
    syn_layout lay;
    build_valid(&b, &lay);
    memcpy(b.p + 4, &(uint32_t){1}, 4);
    EXPECT_FAIL(&b, "v1.gguf", QL_ERR_UNSUPPORTED, "version 1");
    memcpy(b.p + 4, &(uint32_t){4}, 4);
    EXPECT_FAIL(&b, "v4.gguf", QL_ERR_UNSUPPORTED, "version 4");
    b_free(&b);
}

static void test_counts_of_2_pow_63_are_corrupt(void) {
    buf b = {0};
    gguf_header(&b, 3, 0, (uint64_t)1 << 63);
    kv_u32(&b, "a", 1);
    EXPECT_FAIL(&b, "nkv.gguf", QL_ERR_CORRUPT, "n_kv");
    b_free(&b);
    gguf_header(&b, 3, (uint64_t)1 << 63, 0);
    EXPECT_FAIL(&b, "ntensors.gguf", QL_ERR_CORRUPT, "n_tensors");
    b_free(&b);
    gguf_header(&b, 3, UINT64_MAX, UINT64_MAX);
    EXPECT_FAIL(&b, "nmax.gguf", QL_ERR_CORRUPT, "n_kv");
    b_free(&b);
    /* one kv more than the bytes hold */
    gguf_header(&b, 3, 0, 2);
    kv_u32(&b, "a", 1);
    EXPECT_FAIL(&b, "nkv2.gguf", QL_ERR_CORRUPT, "n_kv");
    b_free(&b);
}

static void test_string_lengths_past_eof_are_corrupt(void) {
    buf b = {0};
    gguf_header(&b, 3, 0, 1);
    b_u64(&b, (uint64_t)1 << 63); /* key length */
    b_bytes(&b, "abcdefghijklmnop", 16);
    EXPECT_FAIL(&b, "keylen.gguf", QL_ERR_CORRUPT, "key length");
    b_free(&b);

    gguf_header(&b, 3, 0, 1);
    kv_head(&b, "my.key", QL_GGUF_STRING);
    b_u64(&b, (uint64_t)1 << 63);
    b_bytes(&b, "xyz", 3);
    EXPECT_FAIL(&b, "strlen63.gguf", QL_ERR_CORRUPT, "my.key");
    b_free(&b);

    gguf_header(&b, 3, 0, 1);
    kv_head(&b, "my.key", QL_GGUF_STRING);
    b_u64(&b, 4); /* one byte past the end */
    b_bytes(&b, "xyz", 3);
    EXPECT_FAIL(&b, "strlen1.gguf", QL_ERR_CORRUPT, "my.key");
    b_free(&b);

    /* tensor name */
    gguf_header(&b, 3, 1, 0);
    b_u64(&b, UINT64_MAX - 3);
    b_bytes(&b, "namenamenamenamenamenamenamename", 32);
    EXPECT_FAIL(&b, "tname.gguf", QL_ERR_CORRUPT, "name length");
    b_free(&b);
}

static void test_array_lengths_that_overflow_are_corrupt(void) {
    const uint32_t elems[] = {QL_GGUF_UINT8, QL_GGUF_UINT32, QL_GGUF_UINT64, QL_GGUF_STRING,
                              QL_GGUF_ARRAY};
    const uint64_t lens[] = {UINT64_MAX, (uint64_t)1 << 61, ((uint64_t)1 << 62) + 1, 1000};
    for (size_t i = 0; i < sizeof elems / sizeof elems[0]; i++) {
        for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
            buf b = {0};
            gguf_header(&b, 3, 0, 1);
            kv_head(&b, "big.array", QL_GGUF_ARRAY);
            arr_head(&b, elems[i], lens[j]);
            for (int k = 0; k < 8; k++) b_u64(&b, 0);
            EXPECT_FAIL(&b, "arrlen.gguf", QL_ERR_CORRUPT, "big.array");
            b_free(&b);
        }
    }
}

static void test_unknown_value_type_is_unsupported(void) {
    buf b = {0};
    gguf_header(&b, 3, 0, 1);
    kv_head(&b, "odd.type", 13);
    b_u64(&b, 0);
    EXPECT_FAIL(&b, "vtype.gguf", QL_ERR_UNSUPPORTED, "odd.type");
    b_free(&b);
    gguf_header(&b, 3, 0, 1);
    kv_head(&b, "odd.elem", QL_GGUF_ARRAY);
    arr_head(&b, 0xffffffffu, 1);
    b_u64(&b, 0);
    EXPECT_FAIL(&b, "etype.gguf", QL_ERR_UNSUPPORTED, "odd.elem");
    b_free(&b);
}

static void test_bool_other_than_0_or_1_is_corrupt(void) {
    buf b = {0};
    gguf_header(&b, 3, 0, 1);
    kv_head(&b, "flag", QL_GGUF_BOOL);
    b_u8(&b, 2);
    EXPECT_FAIL(&b, "bool2.gguf", QL_ERR_CORRUPT, "flag");
    b_free(&b);
    gguf_header(&b, 3, 0, 1);
    kv_head(&b, "flags", QL_GGUF_ARRAY);
    arr_head(&b, QL_GGUF_BOOL, 3);
    b_u8(&b, 0), b_u8(&b, 1), b_u8(&b, 2);
    EXPECT_FAIL(&b, "boolarr.gguf", QL_ERR_CORRUPT, "flags");
    b_free(&b);
}

/* An array nested `depth` levels deep: [[[...[]...]]] with a u8 innermost. */
static void nested_file(buf *b, int depth) {
    gguf_header(b, 3, 0, 1);
    kv_head(b, "deep", QL_GGUF_ARRAY);
    for (int d = 1; d < depth; d++) arr_head(b, QL_GGUF_ARRAY, 1);
    arr_head(b, QL_GGUF_UINT8, 1);
    b_u8(b, 9);
}

static void test_nesting_deeper_than_the_limit_is_corrupt(void) {
    buf b = {0};
    nested_file(&b, QL_GGUF_MAX_DEPTH);
    ql_error err;
    CHECK_EQ_INT(open_buf(&b, "deep_ok.gguf", &err), QL_OK);
    b_free(&b);
    nested_file(&b, QL_GGUF_MAX_DEPTH + 1);
    EXPECT_FAIL(&b, "deep.gguf", QL_ERR_CORRUPT, "nested");
    b_free(&b);
    nested_file(&b, 100000); /* would overflow the stack if recursion were unbounded */
    EXPECT_FAIL(&b, "deeper.gguf", QL_ERR_CORRUPT, "deep");
    b_free(&b);
}

static void test_duplicate_keys_are_corrupt(void) {
    buf b = {0};
    gguf_header(&b, 3, 0, 3);
    kv_u32(&b, "x.a", 1);
    kv_u32(&b, "x.b", 2);
    kv_str(&b, "x.a", "again");
    EXPECT_FAIL(&b, "dupkey.gguf", QL_ERR_CORRUPT, "x.a");
    CHECK(strstr(ql_status_str(QL_ERR_CORRUPT), "corrupt") != NULL);
    b_free(&b);
}

/* One kv (general.alignment = align when align != 0) and the given tensors, then data. */
typedef struct tspec {
    const char *name;
    uint32_t n_dims;
    int64_t ne[5];
    uint32_t type;
    uint64_t offset;
} tspec;

static void tensor_file(buf *b, uint32_t align, const tspec *ts, int n, size_t data_bytes) {
    gguf_header(b, 3, (uint64_t)n, align ? 1 : 0);
    if (align) kv_u32(b, "general.alignment", align);
    for (int i = 0; i < n; i++)
        tensor_info(b, ts[i].name, ts[i].n_dims, ts[i].ne, ts[i].type, ts[i].offset);
    data_section(b, align && (align & (align - 1)) == 0 ? align : 32, data_bytes);
}

static void test_tensor_shapes_are_checked(void) {
    buf b = {0};
    tspec ok = {"w.ok", 2, {4, 2}, QL_TYPE_F32, 0};
    tensor_file(&b, 0, &ok, 1, 32);
    ql_error err;
    CHECK_EQ_INT(open_buf(&b, "shape_ok.gguf", &err), QL_OK);
    b_free(&b);

    tspec t0 = {"w.zero_dims", 0, {0}, QL_TYPE_F32, 0};
    tensor_file(&b, 0, &t0, 1, 32);
    EXPECT_FAIL(&b, "ndims0.gguf", QL_ERR_CORRUPT, "w.zero_dims");
    b_free(&b);

    tspec t5 = {"w.five_dims", 5, {1, 1, 1, 1, 1}, QL_TYPE_F32, 0};
    tensor_file(&b, 0, &t5, 1, 32);
    EXPECT_FAIL(&b, "ndims5.gguf", QL_ERR_CORRUPT, "w.five_dims");
    b_free(&b);

    tspec neg = {"w.negative", 2, {4, -1}, QL_TYPE_F32, 0};
    tensor_file(&b, 0, &neg, 1, 32);
    EXPECT_FAIL(&b, "negdim.gguf", QL_ERR_CORRUPT, "w.negative");
    b_free(&b);

    tspec ovf = {"w.overflow", 3, {(int64_t)1 << 32, (int64_t)1 << 32, 4}, QL_TYPE_F32, 0};
    tensor_file(&b, 0, &ovf, 1, 32);
    EXPECT_FAIL(&b, "overflow.gguf", QL_ERR_CORRUPT, "w.overflow");
    b_free(&b);

    /* fits in int64 but not in the element limit */
    tspec big = {"w.big", 2, {(int64_t)1 << 40, (int64_t)1 << 23}, QL_TYPE_F32, 0};
    tensor_file(&b, 0, &big, 1, 32);
    EXPECT_FAIL(&b, "big.gguf", QL_ERR_CORRUPT, "w.big");
    b_free(&b);

    tspec blk = {"w.q4_0_rows", 2, {33, 2}, QL_TYPE_Q4_0, 0};
    tensor_file(&b, 0, &blk, 1, 128);
    EXPECT_FAIL(&b, "block.gguf", QL_ERR_CORRUPT, "w.q4_0_rows");
    b_free(&b);
}

static void test_unknown_tensor_type_is_unsupported(void) {
    const uint32_t types[] = {4, 31, 1000, 0xffffffffu};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        buf b = {0};
        tspec t = {"w.odd_type", 1, {32}, types[i], 0};
        tensor_file(&b, 0, &t, 1, 256);
        EXPECT_FAIL(&b, "ttype.gguf", QL_ERR_UNSUPPORTED, "w.odd_type");
        b_free(&b);
    }
}

static void test_tensor_data_must_be_inside_and_aligned(void) {
    buf b = {0};
    tspec past = {"w.past_end", 1, {16}, QL_TYPE_F32, 32};
    tensor_file(&b, 0, &past, 1, 64); /* needs 32 + 64 bytes */
    EXPECT_FAIL(&b, "past.gguf", QL_ERR_CORRUPT, "w.past_end");
    b_free(&b);

    tspec far = {"w.far", 1, {16}, QL_TYPE_F32, UINT64_MAX - 31};
    tensor_file(&b, 0, &far, 1, 64);
    EXPECT_FAIL(&b, "far.gguf", QL_ERR_CORRUPT, "w.far");
    b_free(&b);

    tspec mis = {"w.misaligned", 1, {4}, QL_TYPE_F32, 16};
    tensor_file(&b, 0, &mis, 1, 64);
    EXPECT_FAIL(&b, "misaligned.gguf", QL_ERR_CORRUPT, "w.misaligned");
    b_free(&b);

    tspec mis64 = {"w.mis64", 1, {4}, QL_TYPE_F32, 32}; /* aligned to 32, not 64 */
    tensor_file(&b, 64, &mis64, 1, 128);
    EXPECT_FAIL(&b, "mis64.gguf", QL_ERR_CORRUPT, "w.mis64");
    b_free(&b);

    tspec two[2] = {{"w.first", 1, {16}, QL_TYPE_F32, 0}, {"w.second", 1, {16}, QL_TYPE_F32, 32}};
    tensor_file(&b, 0, two, 2, 96); /* first is 64 bytes: overlaps the second */
    EXPECT_FAIL(&b, "overlap.gguf", QL_ERR_CORRUPT, "overlap");
    b_free(&b);

    tspec dup[2] = {{"w.same", 1, {8}, QL_TYPE_F32, 0}, {"w.same", 1, {8}, QL_TYPE_F32, 32}};
    tensor_file(&b, 0, dup, 2, 64);
    EXPECT_FAIL(&b, "duptensor.gguf", QL_ERR_CORRUPT, "w.same");
    b_free(&b);
}

static void test_alignment_must_be_a_power_of_two_of_at_least_8(void) {
    const uint32_t aligns[] = {0, 1, 2, 3, 4, 48, 0x80000001u};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        buf b = {0};
        gguf_header(&b, 3, 0, 1);
        kv_u32(&b, "general.alignment", aligns[i]);
        EXPECT_FAIL(&b, "align.gguf", QL_ERR_CORRUPT, "general.alignment");
        b_free(&b);
    }
    buf b = {0};
    gguf_header(&b, 3, 0, 1);
    kv_str(&b, "general.alignment", "32");
    EXPECT_FAIL(&b, "aligntype.gguf", QL_ERR_CORRUPT, "general.alignment");
    b_free(&b);
}

static void test_empty_file_directory_and_missing_file_fail(void) {
    buf b = {0};
    EXPECT_FAIL(&b, "empty.gguf", QL_ERR_CORRUPT, "empty");
    ql_gguf *g = (ql_gguf *)&b; /* must be reset to NULL */
    ql_error err;
    CHECK_EQ_INT(ql_gguf_open(g_dir, &g, &err), QL_ERR_IO);
    CHECK(g == NULL);
    CHECK(strstr(err.message, "directory") != NULL);
    char missing[128];
    snprintf(missing, sizeof missing, "%s/no-such-file.gguf", g_dir);
    CHECK_EQ_INT(ql_gguf_open(missing, &g, &err), QL_ERR_IO);
    CHECK(strstr(err.message, missing) != NULL);
    ql_file *f = (ql_file *)&b;
    CHECK_EQ_INT(ql_file_open(missing, &f, &err), QL_ERR_IO);
    CHECK(f == NULL);
    ql_gguf_close(NULL);
    ql_file_free(NULL);
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Opens a file that parsed, and touches everything it points at. */
static void walk_file(const char *path) {
    ql_file *f = NULL;
    ql_error err;
    if (ql_file_open(path, &f, &err) != QL_OK) return;
    char text[256];
    for (uint64_t i = 0; i < ql_file_n_meta(f); i++) {
        const char *key, *type;
        CHECK(ql_file_meta(f, i, &key, &type, text, sizeof text, 4));
    }
    volatile uint8_t sink = 0;
    for (uint64_t i = 0; i < ql_file_n_tensors(f); i++) {
        ql_tensor_desc d;
        CHECK(ql_file_tensor(f, i, &d));
    }
    ql_file_free(f);
    ql_gguf *g = NULL;
    if (ql_gguf_open(path, &g, &err) != QL_OK) return;
    for (uint64_t i = 0; i < ql_gguf_n_tensors(g); i++) {
        const ql_gguf_tensor *t = ql_gguf_tensor_at(g, i);
        if (t->nbytes) sink ^= ((const uint8_t *)t->data)[0] ^ ((const uint8_t *)t->data)[t->nbytes - 1];
    }
    (void)sink;
    ql_gguf_close(g);
}

static void test_random_mutations_never_crash(void) {
    buf b = {0};
    syn_layout lay;
    build_valid(&b, &lay);
    uint8_t *m = malloc(b.len);
    uint64_t seed = 0x9e3779b97f4a7c15ull;
    int n_ok = 0;
    const int iters = 3000;
    for (int it = 0; it < iters; it++) {
        memcpy(m, b.p, b.len);
        int flips = 1 + (int)(rng_next(&seed) % 4);
        for (int k = 0; k < flips; k++) {
            uint64_t r = rng_next(&seed);
            /* mostly inside the header, metadata and tensor infos */
            size_t at = (r & 3) ? (size_t)((r >> 8) % lay.info_end) : (size_t)((r >> 8) % b.len);
            switch ((r >> 4) & 3) {
            case 0: m[at] ^= (uint8_t)(1u << ((r >> 40) & 7)); break;
            case 1: m[at] = 0xff; break;
            case 2: m[at] = 0; break;
            default: m[at] = (uint8_t)(r >> 48); break;
            }
        }
        const char *path = write_file("mutant.gguf", m, b.len);
        ql_gguf *g = NULL;
        ql_error err;
        ql_status st = ql_gguf_open(path, &g, &err);
        if (st == QL_OK) {
            n_ok++;
            ql_gguf_close(g);
            walk_file(path);
        } else {
            CHECK(g == NULL);
            CHECK_MSG(strstr(err.message, path) != NULL, "%s", err.message);
        }
    }
    CHECK(n_ok > 0 && n_ok < iters); /* both outcomes were exercised */
    free(m);
    b_free(&b);
}

/* ---- the public API and real files ---------------------------------------------------- */

static void test_public_api_formats_values(void) {
    buf b = {0};
    syn_layout lay;
    build_valid(&b, &lay);
    const char *path = write_file("public.gguf", b.p, b.len);
    ql_file *f = NULL;
    ql_error err;
    CHECK_EQ_INT(ql_file_open(path, &f, &err), QL_OK);
    if (!f) {
        b_free(&b);
        return;
    }
    CHECK_EQ_INT(ql_file_version(f), 3);
    CHECK_EQ_INT(ql_file_alignment(f), SYN_ALIGN);
    CHECK_EQ_INT(ql_file_n_meta(f), SYN_N_KV);
    CHECK_EQ_INT(ql_file_n_tensors(f), SYN_N_TENSORS);
    struct {
        const char *key, *type, *text;
        size_t max_items;
    } want[] = {
        {"general.architecture", "string", "\"llama\"", 8},
        {"k.i8", "i8", "-100", 8},
        {"k.u64", "u64", "9223372036854775813", 8},
        {"k.f32", "f32", "1.5", 8},
        {"k.f64", "f64", "0.1", 8},
        {"k.bool", "bool", "true", 8},
        {"k.string", "string", "\"hello \\\"world\\\"\\n\\t\\x01\"", 8},
        {"a.f32", "array[f32]", "[0.5, -2, 1e-05]", 8},
        {"a.bool", "array[bool]", "[true, false, true]", 8},
        {"a.string", "array[string]", "[\"a\", \"\", \"ccc\"]", 8},
        {"a.nested", "array[array]", "[[1, 2], [3]]", 8},
        {"a.nested_str", "array[array]", "[[\"x\"], [\"y\", \"z\"]]", 8},
        {"a.empty", "array[u32]", "[]", 8},
        {"a.long", "array[i32]", "[0, 1, 2, ... (20 items)]", 3},
        {"a.long", "array[i32]", "[... (20 items)]", 0},
        {"a.nested", "array[array]", "[[1, ... (2 items)], ... (2 items)]", 1},
    };
    for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
        bool found = false;
        for (uint64_t i = 0; i < ql_file_n_meta(f); i++) {
            const char *key, *type;
            char text[256];
            CHECK(ql_file_meta(f, i, &key, &type, text, sizeof text, want[w].max_items));
            if (strcmp(key, want[w].key) != 0) continue;
            found = true;
            CHECK_MSG(strcmp(type, want[w].type) == 0, "%s: %s", key, type);
            CHECK_MSG(strcmp(text, want[w].text) == 0, "%s: %s", key, text);
        }
        CHECK_MSG(found, "%s", want[w].key);
    }
    /* truncation to cap */
    char small[6];
    const char *key;
    CHECK(ql_file_meta(f, 0, &key, NULL, small, sizeof small, 8));
    CHECK(strcmp(small, "\"llam") == 0);
    CHECK(!ql_file_meta(f, SYN_N_KV, &key, NULL, small, sizeof small, 8));

    ql_tensor_desc d;
    CHECK(ql_file_tensor(f, 3, &d));
    CHECK(strcmp(d.name, "blk.0.q4_0") == 0 && strcmp(d.type_name, "q4_0") == 0);
    CHECK_EQ_INT(d.n_dims, 4);
    CHECK(d.ne[0] == 32 && d.ne[1] == 1 && d.ne[2] == 2 && d.ne[3] == 3);
    CHECK_EQ_INT(d.offset, lay.data_offset + 384);
    CHECK_EQ_INT(d.nbytes, 108);
    CHECK(!ql_file_tensor(f, SYN_N_TENSORS, &d));
    ql_file_free(f);
    b_free(&b);
}

static void test_stories260k_opens(void) {
    char path[512];
    ql_test_shared(path, sizeof path, "models/stories260K.gguf");
    ql_gguf *g = NULL;
    ql_error err;
    CHECK_EQ_INT(ql_gguf_open(path, &g, &err), QL_OK);
    if (!g) {
        fprintf(stderr, "%s\n", err.message);
        return;
    }
    CHECK_EQ_INT(ql_gguf_n_tensors(g), 48);
    ql_str arch;
    CHECK_EQ_INT(ql_gguf_get_str(g, "general.architecture", &arch, &err), QL_OK);
    CHECK(ql_str_eq(arch, "llama"));
    uint32_t n_embd = 0;
    CHECK_EQ_INT(ql_gguf_get_u32(g, "llama.embedding_length", &n_embd, &err), QL_OK);
    CHECK_EQ_INT(n_embd, 64);
    const ql_gguf_tensor *t = ql_gguf_find_tensor(g, "token_embd.weight");
    CHECK(t != NULL);
    if (t) {
        CHECK_EQ_INT(t->n_dims, 2);
        CHECK(t->ne[0] == 64 && t->ne[1] == 512);
        CHECK_EQ_INT(t->type, QL_TYPE_F32);
        CHECK_EQ_INT(t->nbytes, 64 * 512 * 4);
    }
    const ql_gguf_array *tokens = NULL;
    CHECK_EQ_INT(ql_gguf_get_arr(g, "tokenizer.ggml.tokens", QL_GGUF_STRING, &tokens, &err),
                 QL_OK);
    CHECK(tokens && tokens->n == 512);
    ql_gguf_close(g);
}

static void test_public_api_on_stories260k(void) {
    char path[512];
    ql_test_shared(path, sizeof path, "models/stories260K.gguf");
    ql_file *f = NULL;
    ql_error err;
    CHECK_EQ_INT(ql_file_open(path, &f, &err), QL_OK);
    if (!f) return;
    CHECK_EQ_INT(ql_file_n_tensors(f), 48);
    bool seen_embd = false, seen_arch = false;
    for (uint64_t i = 0; i < ql_file_n_tensors(f); i++) {
        ql_tensor_desc d;
        CHECK(ql_file_tensor(f, i, &d));
        if (strcmp(d.name, "token_embd.weight") != 0) continue;
        seen_embd = true;
        CHECK(strcmp(d.type_name, "f32") == 0);
        CHECK(d.n_dims == 2 && d.ne[0] == 64 && d.ne[1] == 512);
        CHECK_EQ_INT(d.nbytes, 64 * 512 * 4);
        CHECK_EQ_INT(d.offset % ql_file_alignment(f), 0);
    }
    for (uint64_t i = 0; i < ql_file_n_meta(f); i++) {
        const char *key, *type;
        char text[128];
        CHECK(ql_file_meta(f, i, &key, &type, text, sizeof text, 8));
        if (strcmp(key, "general.architecture") == 0) {
            seen_arch = true;
            CHECK(strcmp(type, "string") == 0 && strcmp(text, "\"llama\"") == 0);
        }
        if (strcmp(key, "tokenizer.ggml.tokens") == 0) {
            CHECK(strcmp(type, "array[string]") == 0);
            CHECK_MSG(strstr(text, "... (512 items)]") != NULL, "%s", text);
        }
    }
    CHECK(seen_embd && seen_arch);
    ql_file_free(f);
}

static void test_vocab_fixtures_open(void) {
    char dir[512], path[1024];
    ql_test_shared(dir, sizeof dir, "fixtures/tokenizer");
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "%s", dir);
    if (!d) return;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (fnmatch("ggml-vocab-*.gguf", e->d_name, 0) != 0) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ql_gguf *g = NULL;
        ql_error err;
        ql_status st = ql_gguf_open(path, &g, &err);
        CHECK_MSG(st == QL_OK, "%s", err.message);
        if (g) {
            const ql_gguf_array *tokens = NULL;
            CHECK_EQ_INT(ql_gguf_get_arr(g, "tokenizer.ggml.tokens", QL_GGUF_STRING, &tokens,
                                         &err), QL_OK);
            CHECK(tokens && tokens->n > 1000);
        }
        ql_gguf_close(g);
        n++;
    }
    closedir(d);
    CHECK(n >= 8);
}

static void remove_dir(void) {
    DIR *d = opendir(g_dir);
    if (!d) return;
    struct dirent *e;
    char path[512];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", g_dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(g_dir);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/qloop-gguf-XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_valid_file_parses_exactly);
    RUN(test_typed_getters_convert_and_range_check);
    RUN(test_truncated_at_every_length_fails);
    RUN(test_bad_magic_is_corrupt);
    RUN(test_version_1_and_4_are_unsupported);
    RUN(test_counts_of_2_pow_63_are_corrupt);
    RUN(test_string_lengths_past_eof_are_corrupt);
    RUN(test_array_lengths_that_overflow_are_corrupt);
    RUN(test_unknown_value_type_is_unsupported);
    RUN(test_bool_other_than_0_or_1_is_corrupt);
    RUN(test_nesting_deeper_than_the_limit_is_corrupt);
    RUN(test_duplicate_keys_are_corrupt);
    RUN(test_tensor_shapes_are_checked);
    RUN(test_unknown_tensor_type_is_unsupported);
    RUN(test_tensor_data_must_be_inside_and_aligned);
    RUN(test_alignment_must_be_a_power_of_two_of_at_least_8);
    RUN(test_empty_file_directory_and_missing_file_fail);
    RUN(test_random_mutations_never_crash);
    RUN(test_public_api_formats_values);
    RUN(test_stories260k_opens);
    RUN(test_public_api_on_stories260k);
    RUN(test_vocab_fixtures_open);
    remove_dir();
    return TEST_REPORT();
}
