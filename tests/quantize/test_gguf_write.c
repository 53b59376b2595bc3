/* tests/quantize/test_gguf_write.c: the GGUF writer round-trips through the reader:
 * every value type (nested arrays, arrays of strings), tensor bytes, alignment padding,
 * and the OUT.tmp + rename contract. */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/gguf.h"
#include "model/gguf_write.h"
#include "quant/types.h"
#include "test.h"

static char g_dir[256];

static const char *tmp_path(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", g_dir, name);
    return buf;
}

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* Writes a file with every value type and three tensors of different types. */
static ql_status write_sample(const char *path, uint32_t alignment, uint8_t *t0, uint8_t *t1,
                              uint8_t *t2, ql_error *err) {
    ql_gguf_writer *w;
    ql_status st = ql_gguf_writer_new(&w, err);
    if (st) return st;
    if (alignment) ql_gguf_set_u32(w, "general.alignment", alignment, err);
    ql_gguf_set_str(w, "general.architecture", "llama", err);
    ql_gguf_set_u8(w, "t.u8", 200, err);
    ql_gguf_set_i8(w, "t.i8", -100, err);
    ql_gguf_set_u16(w, "t.u16", 60000, err);
    ql_gguf_set_i16(w, "t.i16", -30000, err);
    ql_gguf_set_u32(w, "t.u32", 4000000000u, err);
    ql_gguf_set_i32(w, "t.i32", -2000000000, err);
    ql_gguf_set_u64(w, "t.u64", 0xfedcba9876543210ull, err);
    ql_gguf_set_i64(w, "t.i64", -((int64_t)1 << 60), err);
    ql_gguf_set_f32(w, "t.f32", 1.5f, err);
    ql_gguf_set_f64(w, "t.f64", -2.25e300, err);
    ql_gguf_set_bool(w, "t.bool", true, err);
    ql_gguf_set_u32(w, "t.replaced", 1, err);
    ql_gguf_set_u32(w, "t.replaced", 2, err); /* replaces in place */
    float fa[3] = {1.0f, -2.0f, 3.5f};
    ql_gguf_set_arr(w, "t.arr_f32", QL_GGUF_FLOAT32, fa, 3, err);
    const char *strs[3] = {"a", "", "h\xc3\xa9llo"};
    ql_gguf_set_arr_str(w, "t.arr_str", strs, 3, err);
    /* [[1, 2], [], [3]] of i32, then [["x"], ["y", "z"]] */
    ql_gguf_buf b = {0};
    ql_gguf_buf_arr(&b, QL_GGUF_ARRAY, 3);
    int32_t v1[2] = {1, 2}, v3 = 3;
    ql_gguf_buf_arr(&b, QL_GGUF_INT32, 2);
    ql_gguf_buf_bytes(&b, v1, sizeof v1);
    ql_gguf_buf_arr(&b, QL_GGUF_INT32, 0);
    ql_gguf_buf_arr(&b, QL_GGUF_INT32, 1);
    ql_gguf_buf_bytes(&b, &v3, 4);
    ql_gguf_set_encoded(w, "t.nested", QL_GGUF_ARRAY, b.p, b.len, err);
    ql_gguf_buf_free(&b);
    ql_gguf_buf_arr(&b, QL_GGUF_ARRAY, 2);
    ql_gguf_buf_arr(&b, QL_GGUF_STRING, 1);
    ql_gguf_buf_str(&b, "x", 1);
    ql_gguf_buf_arr(&b, QL_GGUF_STRING, 2);
    ql_gguf_buf_str(&b, "y", 1);
    ql_gguf_buf_str(&b, "z", 1);
    ql_gguf_set_encoded(w, "t.nested_str", QL_GGUF_ARRAY, b.p, b.len, err);
    ql_gguf_buf_free(&b);
    ql_gguf_set_u64(w, "t.patched", 0, err);

    int64_t ne0[2] = {3, 5}, ne1[1] = {64}, ne2[2] = {32, 3};
    st = ql_gguf_add_tensor(w, "a", QL_TYPE_F32, 2, ne0, err); /* 60 bytes: needs padding */
    if (!st) st = ql_gguf_add_tensor(w, "b", QL_TYPE_F16, 1, ne1, err);
    if (!st) st = ql_gguf_add_tensor(w, "c", QL_TYPE_Q8_0, 2, ne2, err);
    if (!st) st = ql_gguf_writer_begin(w, path, err);
    if (!st) st = ql_gguf_write_data(w, t0, 60, err);
    /* tensor b in two chunks, c in one call spanning b's end */
    if (!st) st = ql_gguf_write_data(w, t1, 100, err);
    if (!st) st = ql_gguf_write_data(w, t1 + 100, 28, err);
    if (!st) st = ql_gguf_write_data(w, t2, 102, err);
    if (!st) st = ql_gguf_writer_patch_u64(w, "t.patched", 0x1122334455667788ull, err);
    if (!st) st = ql_gguf_writer_finish(w, err);
    ql_gguf_writer_free(w);
    return st;
}

static void fill(uint8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (uint8_t)(seed >> 24);
    }
}

static void check_roundtrip(uint32_t alignment) {
    char path[512], tmp[600];
    tmp_path(path, sizeof path, "rt.gguf");
    uint8_t t0[60], t1[128], t2[102];
    fill(t0, sizeof t0, 1);
    fill(t1, sizeof t1, 2);
    fill(t2, sizeof t2, 3);
    for (int b = 0; b < 3; b++) t2[b * 34 + 1] &= 0x3b; /* finite f16 scales */
    ql_error err;
    ql_status st = write_sample(path, alignment, t0, t1, t2, &err);
    CHECK_MSG(st == QL_OK, "%s", err.message);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(!exists(tmp));
    ql_gguf *g = NULL;
    st = ql_gguf_open(path, &g, &err);
    CHECK_MSG(st == QL_OK, "%s", err.message);
    if (st) return;
    CHECK_EQ_INT(ql_gguf_alignment(g), alignment ? alignment : 32);
    CHECK_EQ_INT(ql_gguf_data_offset(g) % ql_gguf_alignment(g), 0);
    uint32_t u32;
    uint64_t u64;
    float f;
    bool bo;
    ql_str s;
    CHECK(ql_gguf_get_u32(g, "t.u32", &u32, &err) == QL_OK && u32 == 4000000000u);
    CHECK(ql_gguf_get_u32(g, "t.replaced", &u32, &err) == QL_OK && u32 == 2);
    CHECK(ql_gguf_get_u64(g, "t.u64", &u64, &err) == QL_OK && u64 == 0xfedcba9876543210ull);
    CHECK(ql_gguf_get_u64(g, "t.patched", &u64, &err) == QL_OK && u64 == 0x1122334455667788ull);
    CHECK(ql_gguf_get_f32(g, "t.f32", &f, &err) == QL_OK && f == 1.5f);
    CHECK(ql_gguf_get_bool(g, "t.bool", &bo, &err) == QL_OK && bo);
    CHECK(ql_gguf_get_str(g, "general.architecture", &s, &err) == QL_OK && ql_str_eq(s, "llama"));
    const ql_gguf_value *v = ql_gguf_get(g, "t.u8");
    CHECK(v && v->type == QL_GGUF_UINT8 && v->v.u64 == 200);
    v = ql_gguf_get(g, "t.i8");
    CHECK(v && v->type == QL_GGUF_INT8 && v->v.i64 == -100);
    v = ql_gguf_get(g, "t.u16");
    CHECK(v && v->type == QL_GGUF_UINT16 && v->v.u64 == 60000);
    v = ql_gguf_get(g, "t.i16");
    CHECK(v && v->type == QL_GGUF_INT16 && v->v.i64 == -30000);
    v = ql_gguf_get(g, "t.i32");
    CHECK(v && v->type == QL_GGUF_INT32 && v->v.i64 == -2000000000);
    v = ql_gguf_get(g, "t.i64");
    CHECK(v && v->type == QL_GGUF_INT64 && v->v.i64 == -((int64_t)1 << 60));
    v = ql_gguf_get(g, "t.f64");
    CHECK(v && v->type == QL_GGUF_FLOAT64 && v->v.f64 == -2.25e300);
    const ql_gguf_array *a;
    CHECK(ql_gguf_get_arr(g, "t.arr_f32", QL_GGUF_FLOAT32, &a, &err) == QL_OK && a->n == 3 &&
          ql_gguf_arr_float(a, 2) == 3.5);
    CHECK(ql_gguf_get_arr(g, "t.arr_str", QL_GGUF_STRING, &a, &err) == QL_OK && a->n == 3 &&
          ql_str_eq(a->items[0].v.str, "a") && a->items[1].v.str.len == 0 &&
          ql_str_eq(a->items[2].v.str, "h\xc3\xa9llo"));
    CHECK(ql_gguf_get_arr(g, "t.nested", QL_GGUF_ARRAY, &a, &err) == QL_OK && a->n == 3);
    if (a && a->n == 3) {
        CHECK(a->items[0].v.arr.n == 2 && ql_gguf_arr_int(&a->items[0].v.arr, 1) == 2);
        CHECK(a->items[1].v.arr.n == 0);
        CHECK(a->items[2].v.arr.n == 1 && ql_gguf_arr_int(&a->items[2].v.arr, 0) == 3);
    }
    CHECK(ql_gguf_get_arr(g, "t.nested_str", QL_GGUF_ARRAY, &a, &err) == QL_OK && a->n == 2 &&
          a->items[1].v.arr.n == 2 && ql_str_eq(a->items[1].v.arr.items[1].v.str, "z"));
    CHECK_EQ_INT(ql_gguf_n_tensors(g), 3);
    const ql_gguf_tensor *t = ql_gguf_find_tensor(g, "a");
    CHECK(t && t->nbytes == 60 && memcmp(t->data, t0, 60) == 0 && t->ne[1] == 5);
    t = ql_gguf_find_tensor(g, "b");
    CHECK(t && t->nbytes == 128 && memcmp(t->data, t1, 128) == 0 && t->n_dims == 1);
    t = ql_gguf_find_tensor(g, "c");
    CHECK(t && t->nbytes == 102 && memcmp(t->data, t2, 102) == 0 && t->type == QL_TYPE_Q8_0);

    /* a second writer copying every kv of the first through ql_gguf_set_value */
    char path2[512];
    tmp_path(path2, sizeof path2, "copy.gguf");
    ql_gguf_writer *w;
    CHECK(ql_gguf_writer_new(&w, &err) == QL_OK);
    for (uint64_t i = 0; i < ql_gguf_n_kv(g); i++) {
        const ql_gguf_kv *kv = ql_gguf_kv_at(g, i);
        CHECK(ql_gguf_set_value(w, kv->key, &kv->value, &err) == QL_OK);
    }
    CHECK(ql_gguf_writer_begin(w, path2, &err) == QL_OK);
    CHECK(ql_gguf_writer_finish(w, &err) == QL_OK);
    ql_gguf_writer_free(w);
    ql_gguf *g2 = NULL;
    CHECK(ql_gguf_open(path2, &g2, &err) == QL_OK);
    if (g2) {
        CHECK_EQ_INT(ql_gguf_n_kv(g2), ql_gguf_n_kv(g));
        size_t n1, n2;
        /* same metadata bytes: both files are header + kv with no tensors in the copy, so
         * compare each value's encoding instead */
        for (uint64_t i = 0; i < ql_gguf_n_kv(g); i++) {
            const ql_gguf_kv *kv = ql_gguf_kv_at(g, i), *kv2 = ql_gguf_kv_at(g2, i);
            ql_gguf_buf b1 = {0}, b2 = {0};
            ql_gguf_buf_value(&b1, &kv->value);
            ql_gguf_buf_value(&b2, &kv2->value);
            CHECK(kv->key.len == kv2->key.len && !memcmp(kv->key.ptr, kv2->key.ptr, kv->key.len));
            CHECK(b1.len == b2.len && !memcmp(b1.p, b2.p, b1.len));
            ql_gguf_buf_free(&b1);
            ql_gguf_buf_free(&b2);
        }
        (void)n1;
        (void)n2;
        ql_gguf_close(g2);
    }
    ql_gguf_close(g);
    unlink(path);
    unlink(path2);
}

static void test_gguf_write_roundtrip_default_alignment(void) { check_roundtrip(0); }
static void test_gguf_write_roundtrip_alignment_64(void) { check_roundtrip(64); }

static void test_gguf_write_unfinished_leaves_nothing(void) {
    char path[512], tmp[600];
    tmp_path(path, sizeof path, "partial.gguf");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    ql_error err;
    ql_gguf_writer *w;
    int64_t ne[1] = {16};
    CHECK(ql_gguf_writer_new(&w, &err) == QL_OK);
    CHECK(ql_gguf_add_tensor(w, "x", QL_TYPE_F32, 1, ne, &err) == QL_OK);
    CHECK(ql_gguf_writer_begin(w, path, &err) == QL_OK);
    CHECK(exists(tmp));
    float x[8] = {0};
    CHECK(ql_gguf_write_data(w, x, sizeof x, &err) == QL_OK);
    CHECK(ql_gguf_writer_finish(w, &err) == QL_ERR_ARG); /* half the data is missing */
    CHECK(!exists(tmp) && !exists(path));
    ql_gguf_writer_free(w);
    /* abandoned without finish */
    CHECK(ql_gguf_writer_new(&w, &err) == QL_OK);
    CHECK(ql_gguf_writer_begin(w, path, &err) == QL_OK);
    ql_gguf_writer_free(w);
    CHECK(!exists(tmp) && !exists(path));
}

static void test_gguf_write_rejects_bad_args(void) {
    ql_error err;
    ql_gguf_writer *w;
    int64_t ne[2] = {33, 2};
    CHECK(ql_gguf_writer_new(&w, &err) == QL_OK);
    CHECK(ql_gguf_add_tensor(w, "q", QL_TYPE_Q8_0, 2, ne, &err) == QL_ERR_ARG);
    ne[0] = 32;
    CHECK(ql_gguf_add_tensor(w, "q", QL_TYPE_Q8_0, 2, ne, &err) == QL_OK);
    CHECK(ql_gguf_add_tensor(w, "q", QL_TYPE_Q8_0, 2, ne, &err) == QL_ERR_ARG);
    CHECK(ql_gguf_set_u32(w, "", 1, &err) == QL_ERR_ARG);
    CHECK(ql_gguf_set_u32(w, "general.alignment", 48, &err) == QL_OK);
    char path[512];
    CHECK(ql_gguf_writer_begin(w, tmp_path(path, sizeof path, "bad.gguf"), &err) == QL_ERR_ARG);
    ql_gguf_writer_free(w);
    CHECK(!exists(path));
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/ql_gguf_write_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    RUN(test_gguf_write_roundtrip_default_alignment);
    RUN(test_gguf_write_roundtrip_alignment_64);
    RUN(test_gguf_write_unfinished_leaves_nothing);
    RUN(test_gguf_write_rejects_bad_args);
    rmdir(g_dir);
    return TEST_REPORT();
}
