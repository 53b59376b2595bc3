/*
 * src/model/gguf.c: GGUF v3 (and v2) reader over a read-only memory mapping.
 *
 * The file is parsed once at open by a bounds-checked cursor (`reader`): every count,
 * length and offset is compared with the bytes that are left before it is used or
 * multiplied, so a hostile file yields a ql_status and a message naming the file, the
 * field and its byte offset, never a read outside the mapping.
 *
 * Memory: the kv and tensor tables are sized from the header after the counts were checked
 * against the file size; STRING/ARRAY array elements go into an arena (one allocation per
 * array, never one per element); keys and tensor names each get an open-addressing hash
 * index so lookups are O(1).
 */
#include "model/gguf.h"

#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quant/types.h"
#include "runtime/error.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader assumes a little-endian host"
#endif

#define GGUF_MAGIC "GGUF"
#define GGUF_HEADER_BYTES 24u /* magic, version, n_tensors, n_kv */
#define GGUF_DEFAULT_ALIGNMENT 32u
/* Smallest encodings, used to reject counts before allocating:
 * kv = key length (8) + type (4) + 1-byte value; tensor info = name length (8) +
 * n_dims (4) + one dim (8) + type (4) + offset (8). */
#define GGUF_MIN_KV_BYTES 13u
#define GGUF_MIN_TENSOR_BYTES 32u
#define GGUF_MIN_STRING_BYTES 8u
#define GGUF_MIN_ARRAY_BYTES 12u
#define GGUF_MAX_KEY_LEN 65535u /* the spec's limit on key length */

/* ---- arena: elements of STRING / ARRAY arrays ---------------------------------------- */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    _Alignas(16) unsigned char data[];
} arena_chunk;

#define ARENA_CHUNK_BYTES ((size_t)64 * 1024)

static void *arena_alloc(arena_chunk **head, size_t n) {
    n = (n + 15u) & ~(size_t)15u;
    arena_chunk *c = *head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK_BYTES ? n : ARENA_CHUNK_BYTES;
        c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->used = 0;
        c->cap = cap;
        /* A large request gets its own chunk behind the current one, so the current
         * chunk's free space stays usable for small arrays. */
        if (*head && cap == n) {
            c->next = (*head)->next;
            (*head)->next = c;
            c->used = n;
            return c->data;
        }
        c->next = *head;
        *head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

static void arena_free(arena_chunk *c) {
    while (c) {
        arena_chunk *next = c->next;
        free(c);
        c = next;
    }
}

/* ---- name index: open addressing over the kv keys or the tensor names ----------------- */

typedef struct name_index {
    uint32_t *slots; /* entry index + 1; 0 = empty */
    uint64_t mask;
    const void *base; /* entries; each begins with its ql_str name */
    size_t stride;
} name_index;

static uint64_t hash_bytes(const char *p, uint64_t n) {
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a 64 */
    for (uint64_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

static const ql_str *index_name(const name_index *ix, uint32_t i) {
    return (const ql_str *)(const void *)((const char *)ix->base + (size_t)i * ix->stride);
}

static bool index_init(name_index *ix, uint64_t n, const void *base, size_t stride) {
    uint64_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    ix->slots = calloc(cap, sizeof *ix->slots);
    ix->mask = cap - 1;
    ix->base = base;
    ix->stride = stride;
    return ix->slots != NULL;
}

/* Index of the entry named (p, n), or -1. */
static int64_t index_find(const name_index *ix, const char *p, uint64_t n) {
    if (!ix->slots) return -1;
    for (uint64_t h = hash_bytes(p, n) & ix->mask;; h = (h + 1) & ix->mask) {
        uint32_t s = ix->slots[h];
        if (s == 0) return -1;
        const ql_str *name = index_name(ix, s - 1);
        if (name->len == n && memcmp(name->ptr, p, n) == 0) return s - 1;
    }
}

/* Adds entry i; returns the index of an entry with the same name instead, if any. */
static int64_t index_add(name_index *ix, uint32_t i) {
    const ql_str *name = index_name(ix, i);
    for (uint64_t h = hash_bytes(name->ptr, name->len) & ix->mask;; h = (h + 1) & ix->mask) {
        uint32_t s = ix->slots[h];
        if (s == 0) {
            ix->slots[h] = i + 1;
            return -1;
        }
        const ql_str *other = index_name(ix, s - 1);
        if (other->len == name->len && memcmp(other->ptr, name->ptr, name->len) == 0)
            return s - 1;
    }
}

/* ---- the parsed file ------------------------------------------------------------------ */

struct ql_gguf {
    char *path;
    const uint8_t *map;
    uint64_t size;
    uint32_t version;
    uint64_t alignment;
    uint64_t data_offset;
    uint64_t n_kv;
    ql_gguf_kv *kv;
    uint64_t n_tensors;
    ql_gguf_tensor *tensors;
    name_index kv_index;
    name_index tensor_index;
    arena_chunk *arena;
};

/* A cursor over the mapping. `ctx` names what is being read ("header", "key 'x'",
 * "tensor 'y'") for error messages. */
typedef struct reader {
    const uint8_t *p;
    uint64_t size;
    uint64_t pos;
    const char *path;
    ql_error *err;
    char ctx[128];
} reader;

/* Copies at most 64 bytes of a name from the file, replacing non-printable bytes. */
static void printable(char *dst, size_t cap, const char *p, uint64_t n) {
    size_t k = 0;
    for (uint64_t i = 0; i < n && k + 4 < cap; i++) {
        if (i == 64) {
            memcpy(dst + k, "...", 3);
            k += 3;
            break;
        }
        unsigned char c = (unsigned char)p[i];
        dst[k++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[k] = '\0';
}

static void set_ctx(reader *r, const char *what, ql_str name) {
    char buf[80];
    printable(buf, sizeof buf, name.ptr, name.len);
    snprintf(r->ctx, sizeof r->ctx, "%s '%s'", what, buf);
}

typedef unsigned long long ull; /* for printf */

static ql_status need(reader *r, uint64_t n, const char *what) {
    if (n <= r->size - r->pos) return QL_OK;
    return ql_fail(r->err, QL_ERR_CORRUPT,
                   "%s: %s: %s truncated at offset %llu (needs %llu bytes, %llu left)", r->path,
                   r->ctx, what, (ull)r->pos, (ull)n, (ull)(r->size - r->pos));
}

static ql_status read_u32(reader *r, const char *what, uint32_t *out) {
    ql_status st = need(r, 4, what);
    if (st != QL_OK) return st;
    memcpy(out, r->p + r->pos, 4);
    r->pos += 4;
    return QL_OK;
}

static ql_status read_u64(reader *r, const char *what, uint64_t *out) {
    ql_status st = need(r, 8, what);
    if (st != QL_OK) return st;
    memcpy(out, r->p + r->pos, 8);
    r->pos += 8;
    return QL_OK;
}

static ql_status read_str(reader *r, const char *what, ql_str *out) {
    uint64_t at = r->pos;
    uint64_t len;
    ql_status st = read_u64(r, what, &len);
    if (st != QL_OK) return st;
    if (len > r->size - r->pos)
        return ql_fail(r->err, QL_ERR_CORRUPT,
                       "%s: %s: %s length %llu at offset %llu runs past the end of the file "
                       "(%llu bytes left)",
                       r->path, r->ctx, what, (ull)len, (ull)at, (ull)(r->size - r->pos));
    out->ptr = (const char *)(r->p + r->pos);
    out->len = len;
    r->pos += len;
    return QL_OK;
}

uint64_t ql_gguf_type_size(ql_gguf_type t) {
    switch (t) {
    case QL_GGUF_UINT8: case QL_GGUF_INT8: case QL_GGUF_BOOL: return 1;
    case QL_GGUF_UINT16: case QL_GGUF_INT16: return 2;
    case QL_GGUF_UINT32: case QL_GGUF_INT32: case QL_GGUF_FLOAT32: return 4;
    case QL_GGUF_UINT64: case QL_GGUF_INT64: case QL_GGUF_FLOAT64: return 8;
    case QL_GGUF_STRING: case QL_GGUF_ARRAY: case QL_GGUF_TYPE_COUNT: return 0;
    }
    return 0;
}

/* Decodes one fixed-size element at p (already bounds-checked). */
static void decode_fixed(ql_gguf_type t, const uint8_t *p, ql_gguf_value *out) {
    out->type = t;
    switch (t) {
    case QL_GGUF_UINT8: out->v.u64 = p[0]; break;
    case QL_GGUF_INT8: out->v.i64 = (int8_t)p[0]; break;
    case QL_GGUF_BOOL: out->v.b = p[0] != 0; break;
    case QL_GGUF_UINT16: { uint16_t x; memcpy(&x, p, 2); out->v.u64 = x; break; }
    case QL_GGUF_INT16: { int16_t x; memcpy(&x, p, 2); out->v.i64 = x; break; }
    case QL_GGUF_UINT32: { uint32_t x; memcpy(&x, p, 4); out->v.u64 = x; break; }
    case QL_GGUF_INT32: { int32_t x; memcpy(&x, p, 4); out->v.i64 = x; break; }
    case QL_GGUF_FLOAT32: { float x; memcpy(&x, p, 4); out->v.f64 = x; break; }
    case QL_GGUF_UINT64: memcpy(&out->v.u64, p, 8); break;
    case QL_GGUF_INT64: memcpy(&out->v.i64, p, 8); break;
    case QL_GGUF_FLOAT64: memcpy(&out->v.f64, p, 8); break;
    case QL_GGUF_STRING: case QL_GGUF_ARRAY: case QL_GGUF_TYPE_COUNT: break;
    }
}

static ql_status read_value(reader *r, arena_chunk **arena, uint32_t type, ql_gguf_value *out,
                            int depth);

static ql_status read_array(reader *r, arena_chunk **arena, ql_gguf_array *a, int depth) {
    uint64_t at = r->pos;
    if (depth > QL_GGUF_MAX_DEPTH)
        return ql_fail(r->err, QL_ERR_CORRUPT,
                       "%s: %s: arrays nested deeper than %d levels at offset %llu", r->path,
                       r->ctx, QL_GGUF_MAX_DEPTH, (ull)at);
    uint32_t elem;
    uint64_t n;
    ql_status st = read_u32(r, "array element type", &elem);
    if (st == QL_OK) st = read_u64(r, "array length", &n);
    if (st != QL_OK) return st;
    if (elem >= QL_GGUF_TYPE_COUNT)
        return ql_fail(r->err, QL_ERR_UNSUPPORTED,
                       "%s: %s: unknown array element type %u at offset %llu", r->path, r->ctx,
                       elem, (ull)at);
    a->elem_type = (ql_gguf_type)elem;
    a->n = n;
    a->data = NULL;
    a->items = NULL;

    uint64_t esz = ql_gguf_type_size(a->elem_type);
    uint64_t min = esz ? esz : (elem == QL_GGUF_STRING ? GGUF_MIN_STRING_BYTES
                                                        : GGUF_MIN_ARRAY_BYTES);
    uint64_t left = r->size - r->pos;
    if (n > left / min)
        return ql_fail(r->err, QL_ERR_CORRUPT,
                       "%s: %s: array of %llu %s elements at offset %llu runs past the end of "
                       "the file (%llu bytes left)",
                       r->path, r->ctx, (ull)n, ql_gguf_type_name(a->elem_type), (ull)at,
                       (ull)left);
    if (esz) {
        a->data = r->p + r->pos;
        if (elem == QL_GGUF_BOOL) {
            for (uint64_t i = 0; i < n; i++)
                if (a->data[i] > 1)
                    return ql_fail(r->err, QL_ERR_CORRUPT,
                                   "%s: %s: bool array element %llu is %u (not 0 or 1) at "
                                   "offset %llu",
                                   r->path, r->ctx, (ull)i, a->data[i], (ull)(r->pos + i));
        }
        r->pos += n * esz; /* n * esz <= left: no overflow */
        return QL_OK;
    }
    if (n == 0) return QL_OK;
    /* n <= left / 8 and left < 2^63, so the product fits only after this check. */
    size_t bytes;
    if (__builtin_mul_overflow(n, sizeof(ql_gguf_value), &bytes))
        return ql_fail(r->err, QL_ERR_NOMEM, "%s: %s: array of %llu elements is too large",
                       r->path, r->ctx, (ull)n);
    ql_gguf_value *items = arena_alloc(arena, bytes);
    if (!items)
        return ql_fail(r->err, QL_ERR_NOMEM, "%s: %s: out of memory for %llu array elements",
                       r->path, r->ctx, (ull)n);
    for (uint64_t i = 0; i < n; i++) {
        st = read_value(r, arena, elem, &items[i], depth);
        if (st != QL_OK) return st;
    }
    a->items = items;
    return QL_OK;
}

/* `depth` is the nesting level of the array this value sits in (0 at top level). */
static ql_status read_value(reader *r, arena_chunk **arena, uint32_t type, ql_gguf_value *out,
                            int depth) {
    memset(out, 0, sizeof *out);
    out->file_offset = r->pos;
    if (type >= QL_GGUF_TYPE_COUNT)
        return ql_fail(r->err, QL_ERR_UNSUPPORTED, "%s: %s: unknown value type %u at offset %llu",
                       r->path, r->ctx, type, (ull)r->pos);
    out->type = (ql_gguf_type)type;
    if (type == QL_GGUF_STRING) return read_str(r, "string", &out->v.str);
    if (type == QL_GGUF_ARRAY) return read_array(r, arena, &out->v.arr, depth + 1);

    uint64_t esz = ql_gguf_type_size(out->type);
    ql_status st = need(r, esz, ql_gguf_type_name(out->type));
    if (st != QL_OK) return st;
    const uint8_t *p = r->p + r->pos;
    if (type == QL_GGUF_BOOL && p[0] > 1)
        return ql_fail(r->err, QL_ERR_CORRUPT, "%s: %s: bool value %u (not 0 or 1) at offset %llu",
                       r->path, r->ctx, p[0], (ull)r->pos);
    decode_fixed(out->type, p, out);
    r->pos += esz;
    return QL_OK;
}

/* ---- header, metadata, tensor infos --------------------------------------------------- */

static ql_status parse_header(reader *r, ql_gguf *g) {
    snprintf(r->ctx, sizeof r->ctx, "header");
    ql_status st = need(r, 4, "magic");
    if (st != QL_OK) return st;
    if (memcmp(r->p, GGUF_MAGIC, 4) != 0)
        return ql_fail(r->err, QL_ERR_CORRUPT,
                       "%s: not a GGUF file (magic %02x %02x %02x %02x at offset 0, expected "
                       "\"GGUF\")",
                       r->path, r->p[0], r->p[1], r->p[2], r->p[3]);
    r->pos = 4;
    st = read_u32(r, "version", &g->version);
    if (st != QL_OK) return st;
    if (g->version != 2 && g->version != 3)
        return ql_fail(r->err, QL_ERR_UNSUPPORTED,
                       "%s: GGUF version %u at offset 4 is not supported (only 2 and 3)", r->path,
                       g->version);
    st = read_u64(r, "n_tensors", &g->n_tensors);
    if (st == QL_OK) st = read_u64(r, "n_kv", &g->n_kv);
    if (st != QL_OK) return st;

    /* Counts against the bytes that are left, before anything is allocated. */
    uint64_t left = r->size - r->pos;
    if (g->n_kv > left / GGUF_MIN_KV_BYTES || g->n_kv > UINT32_MAX - 1)
        return ql_fail(r->err, QL_ERR_CORRUPT,
                       "%s: n_kv %llu at offset 16 cannot fit in the %llu bytes left", r->path,
                       (ull)g->n_kv, (ull)left);
    left -= g->n_kv * GGUF_MIN_KV_BYTES;
    if (g->n_tensors > left / GGUF_MIN_TENSOR_BYTES || g->n_tensors > UINT32_MAX - 1)
        return ql_fail(r->err, QL_ERR_CORRUPT,
                       "%s: n_tensors %llu at offset 8 cannot fit in the %llu bytes left after "
                       "%llu metadata entries",
                       r->path, (ull)g->n_tensors, (ull)left, (ull)g->n_kv);
    return QL_OK;
}

static ql_status parse_kv(reader *r, ql_gguf *g) {
    g->kv = calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kv);
    if (!g->kv || !index_init(&g->kv_index, g->n_kv, g->kv, sizeof *g->kv))
        return ql_fail(r->err, QL_ERR_NOMEM, "%s: out of memory for %llu metadata entries",
                       r->path, (ull)g->n_kv);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        ql_gguf_kv *kv = &g->kv[i];
        uint64_t at = r->pos;
        snprintf(r->ctx, sizeof r->ctx, "metadata entry %llu", (ull)i);
        ql_status st = read_str(r, "key", &kv->key);
        if (st != QL_OK) return st;
        if (kv->key.len == 0 || kv->key.len > GGUF_MAX_KEY_LEN)
            return ql_fail(r->err, QL_ERR_CORRUPT,
                           "%s: metadata entry %llu: key length %llu at offset %llu is not in "
                           "1..%u",
                           r->path, (ull)i, (ull)kv->key.len, (ull)at, GGUF_MAX_KEY_LEN);
        set_ctx(r, "key", kv->key);
        int64_t dup = index_add(&g->kv_index, (uint32_t)i);
        if (dup >= 0)
            return ql_fail(r->err, QL_ERR_CORRUPT,
                           "%s: %s: duplicate metadata key at offset %llu (first at %llu)",
                           r->path, r->ctx, (ull)at,
                           (ull)(g->kv[dup].value.file_offset - 4 - 8 - g->kv[dup].key.len));
        uint32_t type;
        st = read_u32(r, "value type", &type);
        if (st == QL_OK) st = read_value(r, &g->arena, type, &kv->value, 0);
        if (st != QL_OK) return st;
    }
    return QL_OK;
}

static ql_status parse_alignment(reader *r, ql_gguf *g) {
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    const ql_gguf_value *v = ql_gguf_get(g, "general.alignment");
    if (!v) return QL_OK;
    if (v->type != QL_GGUF_UINT32)
        return ql_fail(r->err, QL_ERR_CORRUPT,
                       "%s: key 'general.alignment' at offset %llu has type %s (expected uint32)",
                       r->path, (ull)v->file_offset, ql_gguf_type_name(v->type));
    /* The GGUF spec asks for a multiple of 8 and ggml for a power of two. Below 8 the tensor
     * data would sit at addresses the block structs (f16 fields) and float rows may not be
     * read from, so both rules are enforced. */
    uint64_t a = v->v.u64;
    if (a < 8 || (a & (a - 1)) != 0)
        return ql_fail(r->err, QL_ERR_CORRUPT,
                       "%s: key 'general.alignment' = %llu at offset %llu is not a power of two "
                       "of at least 8",
                       r->path, (ull)a, (ull)v->file_offset);
    g->alignment = a;
    return QL_OK;
}

/* Shape, type and byte size of one tensor info; `at` is where the info starts. */
static ql_status check_tensor_shape(reader *r, ql_gguf_tensor *t, uint64_t at) {
    uint64_t rows = 1;
    for (uint32_t d = 1; d < 4; d++) {
        if (__builtin_mul_overflow(rows, (uint64_t)t->ne[d], &rows))
            rows = UINT64_MAX;
    }
    uint64_t n;
    if (__builtin_mul_overflow(rows, (uint64_t)t->ne[0], &n) || rows == UINT64_MAX ||
        n > QL_GGUF_MAX_ELEMENTS)
        return ql_fail(r->err, QL_ERR_CORRUPT,
                       "%s: %s: shape [%lld, %lld, %lld, %lld] at offset %llu has more than 2^62 "
                       "elements",
                       r->path, r->ctx, (long long)t->ne[0], (long long)t->ne[1],
                       (long long)t->ne[2], (long long)t->ne[3], (ull)at);
    t->n_elements = n;
    const ql_type_traits *tt = ql_type_get(t->type);
    if (!tt)
        return ql_fail(r->err, QL_ERR_UNSUPPORTED, "%s: %s: unknown tensor type %u at offset %llu",
                       r->path, r->ctx, t->type, (ull)at);
    uint64_t row_bytes;
    if (!ql_type_row_bytes(t->type, (uint64_t)t->ne[0], &row_bytes))
        return ql_fail(r->err, QL_ERR_CORRUPT,
                       "%s: %s: row length %lld at offset %llu is not a multiple of the %s block "
                       "size %d",
                       r->path, r->ctx, (long long)t->ne[0], (ull)at, tt->name, tt->blck_size);
    if (__builtin_mul_overflow(row_bytes, rows, &t->nbytes))
        return ql_fail(r->err, QL_ERR_CORRUPT, "%s: %s: byte size at offset %llu overflows",
                       r->path, r->ctx, (ull)at);
    return QL_OK;
}

static ql_status parse_tensor_info(reader *r, ql_gguf *g, uint64_t i) {
    ql_gguf_tensor *t = &g->tensors[i];
    uint64_t at = r->pos;
    snprintf(r->ctx, sizeof r->ctx, "tensor %llu", (ull)i);
    ql_status st = read_str(r, "name", &t->name);
    if (st != QL_OK) return st;
    set_ctx(r, "tensor", t->name);
    int64_t dup = index_add(&g->tensor_index, (uint32_t)i);
    if (dup >= 0)
        return ql_fail(r->err, QL_ERR_CORRUPT, "%s: %s: duplicate tensor name at offset %llu",
                       r->path, r->ctx, (ull)at);
    uint64_t dims_at = r->pos;
    st = read_u32(r, "n_dims", &t->n_dims);
    if (st != QL_OK) return st;
    if (t->n_dims == 0 || t->n_dims > 4)
        return ql_fail(r->err, QL_ERR_CORRUPT, "%s: %s: n_dims %u at offset %llu is not in 1..4",
                       r->path, r->ctx, t->n_dims, (ull)dims_at);
    for (uint32_t d = 0; d < 4; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t ne_at = r->pos, ne;
        st = read_u64(r, "dimension", &ne);
        if (st != QL_OK) return st;
        if (ne > (uint64_t)INT64_MAX)
            return ql_fail(r->err, QL_ERR_CORRUPT,
                           "%s: %s: dimension %u is negative (%lld) at offset %llu", r->path,
                           r->ctx, d, (long long)(int64_t)ne, (ull)ne_at);
        t->ne[d] = (int64_t)ne;
    }
    st = read_u32(r, "type", &t->type);
    if (st == QL_OK) st = read_u64(r, "data offset", &t->offset);
    if (st != QL_OK) return st;
    st = check_tensor_shape(r, t, at);
    if (st != QL_OK) return st;
    if (t->offset % g->alignment != 0)
        return ql_fail(r->err, QL_ERR_CORRUPT,
                       "%s: %s: data offset %llu (in the info at offset %llu) is not a multiple "
                       "of the alignment %llu",
                       r->path, r->ctx, (ull)t->offset, (ull)(r->pos - 8), (ull)g->alignment);
    return QL_OK;
}

typedef struct extent {
    uint64_t begin, end;
    uint32_t index;
} extent;

static int extent_cmp(const void *a, const void *b) {
    const extent *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Data ranges: inside the file and pairwise disjoint. */
static ql_status check_tensor_data(reader *r, ql_gguf *g) {
    if (g->n_tensors == 0) return QL_OK;
    extent *ex = malloc(g->n_tensors * sizeof *ex);
    if (!ex) return ql_fail(r->err, QL_ERR_NOMEM, "%s: out of memory", r->path);
    ql_status st = QL_OK;
    for (uint64_t i = 0; i < g->n_tensors && st == QL_OK; i++) {
        ql_gguf_tensor *t = &g->tensors[i];
        uint64_t begin, end;
        if (__builtin_add_overflow(g->data_offset, t->offset, &begin) ||
            __builtin_add_overflow(begin, t->nbytes, &end) || end > g->size) {
            set_ctx(r, "tensor", t->name);
            st = ql_fail(r->err, QL_ERR_CORRUPT,
                         "%s: %s: %llu data bytes at offset %llu of the data section (at file "
                         "offset %llu) run past the end of the file (%llu bytes)",
                         r->path, r->ctx, (ull)t->nbytes, (ull)t->offset, (ull)g->data_offset,
                         (ull)g->size);
            break;
        }
        t->data = g->map + begin;
        ex[i] = (extent){begin, end, (uint32_t)i};
    }
    if (st == QL_OK) {
        qsort(ex, g->n_tensors, sizeof *ex, extent_cmp);
        uint64_t prev = UINT64_MAX; /* last nonempty extent */
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            if (ex[i].begin == ex[i].end) continue;
            if (prev != UINT64_MAX && ex[prev].end > ex[i].begin) {
                char a[80], b[80];
                const ql_gguf_tensor *ta = &g->tensors[ex[prev].index];
                const ql_gguf_tensor *tb = &g->tensors[ex[i].index];
                printable(a, sizeof a, ta->name.ptr, ta->name.len);
                printable(b, sizeof b, tb->name.ptr, tb->name.len);
                st = ql_fail(r->err, QL_ERR_CORRUPT,
                             "%s: tensors '%s' and '%s' overlap at offset %llu", r->path, a, b,
                             (ull)ex[i].begin);
                break;
            }
            prev = i;
        }
    }
    free(ex);
    return st;
}

static ql_status parse_tensors(reader *r, ql_gguf *g) {
    g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    if (!g->tensors ||
        !index_init(&g->tensor_index, g->n_tensors, g->tensors, sizeof *g->tensors))
        return ql_fail(r->err, QL_ERR_NOMEM, "%s: out of memory for %llu tensors", r->path,
                       (ull)g->n_tensors);
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        ql_status st = parse_tensor_info(r, g, i);
        if (st != QL_OK) return st;
    }
    /* The data section starts at the next multiple of the alignment (pos < 2^63 and the
     * alignment is at most 2^31: no overflow). A file without tensors may end unpadded. */
    g->data_offset = (r->pos + g->alignment - 1) / g->alignment * g->alignment;
    if (g->n_tensors > 0 && g->data_offset > g->size)
        return ql_fail(r->err, QL_ERR_CORRUPT,
                       "%s: data section at offset %llu starts past the end of the file (%llu "
                       "bytes)",
                       r->path, (ull)g->data_offset, (ull)g->size);
    return check_tensor_data(r, g);
}

/* ---- open / close --------------------------------------------------------------------- */

static ql_status map_file(const char *path, ql_gguf *g, ql_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ql_fail(err, QL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return ql_fail(err, QL_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ql_fail(err, QL_ERR_IO, "%s: not a regular file%s", path,
                       S_ISDIR(sb.st_mode) ? " (a directory)" : "");
    }
    if (sb.st_size == 0) {
        close(fd);
        return ql_fail(err, QL_ERR_CORRUPT, "%s: empty file (no GGUF header at offset 0)", path);
    }
    if ((uint64_t)sb.st_size > SIZE_MAX) {
        close(fd);
        return ql_fail(err, QL_ERR_IO, "%s: too large to map", path);
    }
    void *m = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (m == MAP_FAILED) return ql_fail(err, QL_ERR_IO, "%s: cannot map: %s", path, strerror(e));
    g->map = m;
    g->size = (uint64_t)sb.st_size;
    return QL_OK;
}

ql_status ql_gguf_open(const char *path, ql_gguf **out, ql_error *err) {
    if (out) *out = NULL;
    if (!path || !out) return ql_fail(err, QL_ERR_ARG, "ql_gguf_open: NULL argument");
    ql_gguf *g = calloc(1, sizeof *g);
    size_t plen = strlen(path);
    char *pcopy = malloc(plen + 1);
    if (!g || !pcopy) {
        free(g);
        free(pcopy);
        return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path);
    }
    memcpy(pcopy, path, plen + 1);
    g->path = pcopy;
    ql_status st = map_file(path, g, err);
    if (st == QL_OK) {
        reader r = {.p = g->map, .size = g->size, .path = path, .err = err};
        st = parse_header(&r, g);
        if (st == QL_OK) st = parse_kv(&r, g);
        if (st == QL_OK) st = parse_alignment(&r, g);
        if (st == QL_OK) st = parse_tensors(&r, g);
    }
    if (st != QL_OK) {
        ql_gguf_close(g);
        return st;
    }
    *out = g;
    return ql_ok(err);
}

void ql_gguf_close(ql_gguf *g) {
    if (!g) return;
    if (g->map) munmap((void *)g->map, (size_t)g->size);
    arena_free(g->arena);
    free(g->kv_index.slots);
    free(g->tensor_index.slots);
    free(g->kv);
    free(g->tensors);
    free(g->path);
    free(g);
}

/* ---- accessors ------------------------------------------------------------------------ */

const char *ql_gguf_path(const ql_gguf *g) { return g->path; }
uint32_t ql_gguf_version(const ql_gguf *g) { return g->version; }
uint64_t ql_gguf_alignment(const ql_gguf *g) { return g->alignment; }
uint64_t ql_gguf_data_offset(const ql_gguf *g) { return g->data_offset; }
uint64_t ql_gguf_file_size(const ql_gguf *g) { return g->size; }
uint64_t ql_gguf_n_kv(const ql_gguf *g) { return g->n_kv; }
uint64_t ql_gguf_n_tensors(const ql_gguf *g) { return g->n_tensors; }

const ql_gguf_kv *ql_gguf_kv_at(const ql_gguf *g, uint64_t i) {
    return i < g->n_kv ? &g->kv[i] : NULL;
}

const ql_gguf_tensor *ql_gguf_tensor_at(const ql_gguf *g, uint64_t i) {
    return i < g->n_tensors ? &g->tensors[i] : NULL;
}

const ql_gguf_value *ql_gguf_get(const ql_gguf *g, const char *key) {
    int64_t i = index_find(&g->kv_index, key, strlen(key));
    return i < 0 ? NULL : &g->kv[i].value;
}

const ql_gguf_tensor *ql_gguf_find_tensor(const ql_gguf *g, const char *name) {
    int64_t i = index_find(&g->tensor_index, name, strlen(name));
    return i < 0 ? NULL : &g->tensors[i];
}

bool ql_str_eq(ql_str s, const char *cstr) {
    size_t n = strlen(cstr);
    return s.len == n && memcmp(s.ptr, cstr, n) == 0;
}

const char *ql_gguf_type_name(ql_gguf_type t) {
    static const char *const names[QL_GGUF_TYPE_COUNT] = {
        "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
        "bool", "string", "array", "uint64", "int64", "float64",
    };
    return (unsigned)t < QL_GGUF_TYPE_COUNT ? names[t] : "unknown";
}

/* ---- typed getters -------------------------------------------------------------------- */

static bool is_signed_int(ql_gguf_type t) {
    return t == QL_GGUF_INT8 || t == QL_GGUF_INT16 || t == QL_GGUF_INT32 || t == QL_GGUF_INT64;
}

static bool is_unsigned_int(ql_gguf_type t) {
    return t == QL_GGUF_UINT8 || t == QL_GGUF_UINT16 || t == QL_GGUF_UINT32 ||
           t == QL_GGUF_UINT64;
}

static const ql_gguf_value *get_or_fail(const ql_gguf *g, const char *key, ql_error *err) {
    const ql_gguf_value *v = ql_gguf_get(g, key);
    if (!v) ql_fail(err, QL_ERR_NOT_FOUND, "%s: metadata key '%s' not found", g->path, key);
    return v;
}

static ql_status bad_type(const ql_gguf *g, const char *key, const ql_gguf_value *v,
                          const char *want, ql_error *err) {
    return ql_fail(err, QL_ERR_CORRUPT, "%s: key '%s' at offset %llu has type %s (expected %s)",
                   g->path, key, (ull)v->file_offset, ql_gguf_type_name(v->type), want);
}

/* Any integer value within [lo, hi] (hi <= INT64_MAX unless lo == 0). */
static ql_status get_int_in(const ql_gguf *g, const char *key, int64_t lo, uint64_t hi,
                            const char *want, uint64_t *u, int64_t *s, ql_error *err) {
    *u = 0;
    *s = 0;
    const ql_gguf_value *v = get_or_fail(g, key, err);
    if (!v) return QL_ERR_NOT_FOUND;
    bool ok;
    if (is_unsigned_int(v->type)) {
        ok = v->v.u64 <= hi;
        *u = v->v.u64;
        *s = (int64_t)v->v.u64;
    } else if (is_signed_int(v->type)) {
        ok = v->v.i64 >= lo && (v->v.i64 < 0 || (uint64_t)v->v.i64 <= hi);
        *u = (uint64_t)v->v.i64;
        *s = v->v.i64;
    } else {
        return bad_type(g, key, v, want, err);
    }
    if (!ok) {
        if (is_signed_int(v->type))
            return ql_fail(err, QL_ERR_CORRUPT, "%s: key '%s' = %lld at offset %llu is not a %s",
                           g->path, key, (long long)v->v.i64, (ull)v->file_offset, want);
        return ql_fail(err, QL_ERR_CORRUPT, "%s: key '%s' = %llu at offset %llu is not a %s",
                       g->path, key, (ull)v->v.u64, (ull)v->file_offset, want);
    }
    return ql_ok(err);
}

ql_status ql_gguf_get_u32(const ql_gguf *g, const char *key, uint32_t *out, ql_error *err) {
    uint64_t u;
    int64_t s;
    ql_status st = get_int_in(g, key, 0, UINT32_MAX, "uint32", &u, &s, err);
    if (st == QL_OK) *out = (uint32_t)u;
    return st;
}

ql_status ql_gguf_get_i32(const ql_gguf *g, const char *key, int32_t *out, ql_error *err) {
    uint64_t u;
    int64_t s;
    ql_status st = get_int_in(g, key, INT32_MIN, INT32_MAX, "int32", &u, &s, err);
    if (st == QL_OK) *out = (int32_t)s;
    return st;
}

ql_status ql_gguf_get_u64(const ql_gguf *g, const char *key, uint64_t *out, ql_error *err) {
    uint64_t u;
    int64_t s;
    ql_status st = get_int_in(g, key, 0, UINT64_MAX, "uint64", &u, &s, err);
    if (st == QL_OK) *out = u;
    return st;
}

ql_status ql_gguf_get_f32(const ql_gguf *g, const char *key, float *out, ql_error *err) {
    const ql_gguf_value *v = get_or_fail(g, key, err);
    if (!v) return QL_ERR_NOT_FOUND;
    if (v->type != QL_GGUF_FLOAT32 && v->type != QL_GGUF_FLOAT64)
        return bad_type(g, key, v, "float32", err);
    double d = v->v.f64;
    if (isfinite(d) && fabs(d) > FLT_MAX)
        return ql_fail(err, QL_ERR_CORRUPT,
                       "%s: key '%s' = %g at offset %llu is out of the float32 range", g->path,
                       key, d, (ull)v->file_offset);
    *out = (float)d;
    return ql_ok(err);
}

ql_status ql_gguf_get_bool(const ql_gguf *g, const char *key, bool *out, ql_error *err) {
    const ql_gguf_value *v = get_or_fail(g, key, err);
    if (!v) return QL_ERR_NOT_FOUND;
    if (v->type != QL_GGUF_BOOL) return bad_type(g, key, v, "bool", err);
    *out = v->v.b;
    return ql_ok(err);
}

ql_status ql_gguf_get_str(const ql_gguf *g, const char *key, ql_str *out, ql_error *err) {
    const ql_gguf_value *v = get_or_fail(g, key, err);
    if (!v) return QL_ERR_NOT_FOUND;
    if (v->type != QL_GGUF_STRING) return bad_type(g, key, v, "string", err);
    *out = v->v.str;
    return ql_ok(err);
}

ql_status ql_gguf_get_arr(const ql_gguf *g, const char *key, ql_gguf_type elem_type,
                          const ql_gguf_array **out, ql_error *err) {
    const ql_gguf_value *v = get_or_fail(g, key, err);
    if (!v) return QL_ERR_NOT_FOUND;
    if (v->type != QL_GGUF_ARRAY) return bad_type(g, key, v, "array", err);
    if (elem_type != QL_GGUF_TYPE_COUNT && v->v.arr.elem_type != elem_type)
        return ql_fail(err, QL_ERR_CORRUPT,
                       "%s: key '%s' at offset %llu is an array of %s (expected %s)", g->path, key,
                       (ull)v->file_offset, ql_gguf_type_name(v->v.arr.elem_type),
                       ql_gguf_type_name(elem_type));
    *out = &v->v.arr;
    return ql_ok(err);
}

/* ---- array elements ------------------------------------------------------------------- */

bool ql_gguf_arr_get(const ql_gguf_array *a, uint64_t i, ql_gguf_value *out) {
    if (i >= a->n) return false;
    if (a->items) {
        *out = a->items[i];
        return true;
    }
    uint64_t esz = ql_gguf_type_size(a->elem_type);
    if (!esz || !a->data) return false;
    memset(out, 0, sizeof *out);
    decode_fixed(a->elem_type, a->data + i * esz, out);
    return true;
}

int64_t ql_gguf_arr_int(const ql_gguf_array *a, uint64_t i) {
    ql_gguf_value v;
    if (!ql_gguf_arr_get(a, i, &v)) return 0;
    if (is_signed_int(v.type)) return v.v.i64;
    if (is_unsigned_int(v.type)) return (int64_t)v.v.u64;
    if (v.type == QL_GGUF_BOOL) return v.v.b;
    if (v.type == QL_GGUF_FLOAT32 || v.type == QL_GGUF_FLOAT64) {
        double d = v.v.f64;
        if (!(d == d)) return 0;
        if (d >= 9.2233720368547758e18) return INT64_MAX;
        if (d <= -9.2233720368547758e18) return INT64_MIN;
        return (int64_t)d;
    }
    return 0;
}

double ql_gguf_arr_float(const ql_gguf_array *a, uint64_t i) {
    ql_gguf_value v;
    if (!ql_gguf_arr_get(a, i, &v)) return 0.0;
    if (v.type == QL_GGUF_FLOAT32 || v.type == QL_GGUF_FLOAT64) return v.v.f64;
    if (is_signed_int(v.type)) return (double)v.v.i64;
    if (is_unsigned_int(v.type)) return (double)v.v.u64;
    if (v.type == QL_GGUF_BOOL) return v.v.b;
    return 0.0;
}
