/*
 * src/model/safetensors.c: reading safetensors files and sharded indexes.
 *
 * Each file is mapped read-only and its JSON header (Jansson) checked entry by entry
 * before anything is returned; see safetensors.h for the rules. Tensor data stays in the
 * mapping except where a tensor is not aligned to its element size (possible when a
 * writer mixes dtypes), which is copied once so kernels never read misaligned floats.
 */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "quant/types.h"
#include "runtime/error.h"
#include "runtime/json_file.h"

/* The reference implementation refuses headers above 100 MB; so do we. */
#define ST_MAX_HEADER (100ull << 20)

typedef struct st_file {
    char *path;
    void *map;
    size_t size;
} st_file;

typedef struct st_entry {
    ql_st_tensor t;
    uint64_t begin, end; /* data_offsets, relative to the data section */
    void *copy;          /* aligned copy of misaligned data, or NULL */
} st_entry;

struct ql_safetensors {
    st_file *files;
    size_t n_files;
    st_entry *e;
    size_t n, cap;
};

static const struct {
    const char *name;
    uint32_t type;
    uint32_t size;
} k_dtypes[] = {
    {"F32", QL_TYPE_F32, 4},
    {"F16", QL_TYPE_F16, 2},
    {"BF16", QL_TYPE_BF16, 2},
};

void ql_safetensors_close(ql_safetensors *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n; i++) {
        free((char *)st->e[i].t.name);
        free(st->e[i].copy);
    }
    free(st->e);
    for (size_t i = 0; i < st->n_files; i++) {
        if (st->files[i].map) munmap(st->files[i].map, st->files[i].size);
        free(st->files[i].path);
    }
    free(st->files);
    free(st);
}

static int cmp_entry_name(const void *a, const void *b) {
    return strcmp(((const st_entry *)a)->t.name, ((const st_entry *)b)->t.name);
}

static int cmp_entry_ptr_begin(const void *a, const void *b) {
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : 0;
}

/* Maps `path` and appends it to st->files. */
static ql_status map_file(ql_safetensors *st, const char *path, st_file **out, ql_error *err) {
    st_file *files = realloc(st->files, (st->n_files + 1) * sizeof *files);
    if (!files) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path);
    st->files = files;
    st_file *f = &files[st->n_files];
    memset(f, 0, sizeof *f);
    if (!(f->path = strdup(path))) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path);
    st->n_files++;
    /* non-blocking: opening a FIFO would wait for a writer; fstat refuses it below */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return ql_fail(err, QL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ql_fail(err, QL_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size < 8) {
        close(fd);
        return ql_fail(err, QL_ERR_CORRUPT,
                       "%s: truncated header: the file has %lld bytes, fewer than the 8-byte "
                       "header length at offset 0",
                       path, (long long)sb.st_size);
    }
    f->size = (size_t)sb.st_size;
    void *map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return ql_fail(err, QL_ERR_IO, "%s: cannot map: %s", path, strerror(errno));
    f->map = map;
    *out = f;
    return QL_OK;
}

static bool json_u64(const json_t *v, uint64_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return false;
    *out = (uint64_t)json_integer_value(v);
    return true;
}

/* Validates one header entry and fills e (its name is set by the caller). */
static ql_status parse_entry(const st_file *f, const char *name, const json_t *v,
                             uint64_t data_start, st_entry *e, ql_error *err) {
    const char *path = f->path;
    if (!json_is_object(v))
        return ql_fail(err, QL_ERR_CORRUPT, "%s: tensor '%s': header entry is not an object", path,
                       name);
    const json_t *dtype = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
                 *offs = json_object_get(v, "data_offsets");
    if (!json_is_string(dtype) || !json_is_array(shape) || !json_is_array(offs))
        return ql_fail(err, QL_ERR_CORRUPT,
                       "%s: tensor '%s': header entry needs dtype (string), shape and "
                       "data_offsets (arrays)",
                       path, name);
    uint32_t esize = 0;
    for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; i++)
        if (!strcmp(json_string_value(dtype), k_dtypes[i].name)) {
            e->t.type = k_dtypes[i].type;
            esize = k_dtypes[i].size;
        }
    if (!esize)
        return ql_fail(err, QL_ERR_UNSUPPORTED,
                       "%s: tensor '%s' has dtype %.32s; only F32, F16 and BF16 are supported",
                       path, name, json_string_value(dtype));
    size_t nd = json_array_size(shape);
    if (nd > QL_ST_MAX_DIMS)
        return ql_fail(err, QL_ERR_UNSUPPORTED, "%s: tensor '%s' has %zu dimensions (at most %d)",
                       path, name, nd, QL_ST_MAX_DIMS);
    uint64_t elems = 1;
    for (size_t d = 0; d < nd; d++) {
        uint64_t n;
        if (!json_u64(json_array_get(shape, d), &n) || n > (uint64_t)INT64_MAX)
            return ql_fail(err, QL_ERR_CORRUPT,
                           "%s: tensor '%s': shape[%zu] is not a non-negative integer", path, name,
                           d);
        if (n && elems > UINT64_MAX / esize / n)
            return ql_fail(err, QL_ERR_CORRUPT, "%s: tensor '%s': shape overflows 64-bit sizes",
                           path, name);
        elems *= n;
        e->t.shape[d] = (int64_t)n;
    }
    e->t.n_dims = (uint32_t)nd;
    uint64_t begin, end;
    if (json_array_size(offs) != 2 || !json_u64(json_array_get(offs, 0), &begin) ||
        !json_u64(json_array_get(offs, 1), &end) || begin > end)
        return ql_fail(err, QL_ERR_CORRUPT,
                       "%s: tensor '%s': data_offsets must be [begin, end] with 0 <= begin <= end",
                       path, name);
    uint64_t data_size = f->size - data_start;
    if (end > data_size)
        return ql_fail(err, QL_ERR_CORRUPT,
                       "%s: tensor '%s': data_offsets [%llu, %llu] end at byte offset %llu, past "
                       "the end of the file (%zu bytes)",
                       path, name, (unsigned long long)begin, (unsigned long long)end,
                       (unsigned long long)(data_start + end), f->size);
    if (end - begin != elems * esize)
        return ql_fail(err, QL_ERR_CORRUPT,
                       "%s: tensor '%s' at byte offset %llu: data_offsets span %llu bytes but "
                       "its shape and dtype need %llu",
                       path, name, (unsigned long long)(data_start + begin),
                       (unsigned long long)(end - begin), (unsigned long long)(elems * esize));
    e->begin = begin;
    e->end = end;
    e->t.offset = data_start + begin;
    e->t.nbytes = end - begin;
    e->t.file = path;
    const char *p = (const char *)f->map + data_start + begin;
    if ((uintptr_t)p % esize) {
        if (!(e->copy = malloc(e->t.nbytes ? e->t.nbytes : 1)))
            return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory for '%s'", path, name);
        memcpy(e->copy, p, e->t.nbytes);
        p = e->copy;
    }
    e->t.data = p;
    return QL_OK;
}

/* Tensors of one file must not share bytes: sorted by begin, each starts at or after the
 * end of the previous one. */
static ql_status check_overlaps(const st_file *f, st_entry *e, size_t n, uint64_t data_start,
                                ql_error *err) {
    if (n < 2) return QL_OK;
    st_entry **by = malloc(n * sizeof *by);
    if (!by) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", f->path);
    for (size_t i = 0; i < n; i++) by[i] = &e[i];
    qsort(by, n, sizeof *by, cmp_entry_ptr_begin);
    ql_status st = QL_OK;
    const st_entry *last = by[0]; /* the tensor reaching furthest so far */
    for (size_t i = 1; i < n && !st; i++) {
        if (by[i]->begin < last->end && by[i]->end > by[i]->begin)
            st = ql_fail(err, QL_ERR_CORRUPT,
                         "%s: tensors '%s' and '%s' overlap at byte offset %llu", f->path,
                         last->t.name, by[i]->t.name,
                         (unsigned long long)(data_start + by[i]->begin));
        if (by[i]->end > last->end) last = by[i];
    }
    free(by);
    return st;
}

/* Maps `path`, validates its header and appends its tensors to st. */
static ql_status add_file(ql_safetensors *st, const char *path, ql_error *err) {
    st_file *f = NULL;
    ql_status s = map_file(st, path, &f, err);
    if (s) return s;
    const unsigned char *b = f->map;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | b[i];
    if (hlen > f->size - 8)
        return ql_fail(err, QL_ERR_CORRUPT,
                       "%s: header length %llu (u64 at offset 0) runs past the end of the file "
                       "(%zu bytes)",
                       path, (unsigned long long)hlen, f->size);
    if (hlen < 2 || hlen > ST_MAX_HEADER)
        return ql_fail(err, QL_ERR_CORRUPT, "%s: header length %llu at offset 0 is out of range",
                       path, (unsigned long long)hlen);
    json_error_t je;
    json_t *root = json_loadb((const char *)b + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return ql_fail(err, QL_ERR_CORRUPT, "%s: header JSON is invalid at byte offset %d: %s",
                       path, 8 + je.position, je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return ql_fail(err, QL_ERR_CORRUPT, "%s: header at offset 8 is not a JSON object", path);
    }
    uint64_t data_start = 8 + hlen;
    size_t first = st->n, need = st->n + json_object_size(root);
    if (need > st->cap) {
        st_entry *e = realloc(st->e, need * sizeof *e);
        if (!e) {
            json_decref(root);
            return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path);
        }
        st->e = e;
        st->cap = need;
    }
    const char *key;
    json_t *v;
    s = QL_OK;
    json_object_foreach(root, key, v) {
        if (!strcmp(key, "__metadata__")) continue;
        st_entry *e = &st->e[st->n];
        memset(e, 0, sizeof *e);
        if (!(e->t.name = strdup(key))) {
            s = ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        st->n++;
        if ((s = parse_entry(f, key, v, data_start, e, err))) break;
    }
    json_decref(root);
    if (!s) s = check_overlaps(f, st->e + first, st->n - first, data_start, err);
    return s;
}

/* Sorts by name for lookups and rejects a name given twice (across shards). */
static ql_status finish(ql_safetensors *st, ql_error *err) {
    if (st->n) qsort(st->e, st->n, sizeof *st->e, cmp_entry_name);
    for (size_t i = 1; i < st->n; i++)
        if (!strcmp(st->e[i].t.name, st->e[i - 1].t.name))
            return ql_fail(err, QL_ERR_CORRUPT, "%s: tensor '%s' is also in %s", st->e[i].t.file,
                           st->e[i].t.name, st->e[i - 1].t.file);
    return QL_OK;
}

ql_status ql_safetensors_open_file(const char *path, ql_safetensors **out, ql_error *err) {
    *out = NULL;
    ql_safetensors *st = calloc(1, sizeof *st);
    if (!st) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path);
    ql_status s = add_file(st, path, err);
    if (!s) s = finish(st, err);
    if (s) {
        ql_safetensors_close(st);
        return s;
    }
    *out = st;
    return QL_OK;
}

/* A shard name from an index must be a plain file name in the same folder. */
static bool plain_file_name(const char *s) {
    return *s && *s != '.' && !strchr(s, '/') && !strchr(s, '\\');
}

static ql_status open_index(ql_safetensors *st, const char *dir, const char *index,
                            ql_error *err) {
    json_error_t je;
    json_t *root = ql_json_load_regular(index, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return ql_json_fail(err, index, &je);
    const json_t *map = json_object_get(root, "weight_map");
    ql_status s = QL_OK;
    if (!json_is_object(map))
        s = ql_fail(err, QL_ERR_CORRUPT, "%s: 'weight_map' is missing or not an object", index);
    const char *key;
    json_t *v;
    char path[4096];
    /* Open each distinct shard once, in order of first mention. */
    json_object_foreach((json_t *)map, key, v) {
        if (s) break;
        if (!json_is_string(v) || !plain_file_name(json_string_value(v))) {
            s = ql_fail(err, QL_ERR_CORRUPT, "%s: weight_map['%s'] is not a file name in %s",
                        index, key, dir);
            break;
        }
        snprintf(path, sizeof path, "%s/%s", dir, json_string_value(v));
        bool seen = false;
        for (size_t i = 0; i < st->n_files && !seen; i++) seen = !strcmp(st->files[i].path, path);
        if (!seen) s = add_file(st, path, err);
    }
    if (!s) s = finish(st, err);
    json_object_foreach((json_t *)map, key, v) {
        if (s) break;
        const ql_st_tensor *t = ql_safetensors_find(st, key);
        snprintf(path, sizeof path, "%s/%s", dir, json_string_value(v));
        if (!t || strcmp(t->file, path))
            s = ql_fail(err, QL_ERR_NOT_FOUND, "%s: tensor '%s' is not in %s as the index says",
                        index, key, path);
    }
    json_decref(root);
    return s;
}

ql_status ql_safetensors_open_dir(const char *dir, ql_safetensors **out, ql_error *err) {
    *out = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    if (access(path, F_OK) != 0) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (access(path, F_OK) != 0)
            return ql_fail(err, QL_ERR_NOT_FOUND,
                           "%s: no model.safetensors or model.safetensors.index.json", dir);
        return ql_safetensors_open_file(path, out, err);
    }
    ql_safetensors *st = calloc(1, sizeof *st);
    if (!st) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", dir);
    ql_status s = open_index(st, dir, path, err);
    if (s) {
        ql_safetensors_close(st);
        return s;
    }
    *out = st;
    return QL_OK;
}

ptrdiff_t ql_safetensors_find_index(const ql_safetensors *st, const char *name) {
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, st->e[mid].t.name);
        if (!c) return (ptrdiff_t)mid;
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return -1;
}

const ql_st_tensor *ql_safetensors_find(const ql_safetensors *st, const char *name) {
    ptrdiff_t i = ql_safetensors_find_index(st, name);
    return i < 0 ? NULL : &st->e[i].t;
}

size_t ql_safetensors_count(const ql_safetensors *st) { return st->n; }

const ql_st_tensor *ql_safetensors_at(const ql_safetensors *st, size_t i) {
    return i < st->n ? &st->e[i].t : NULL;
}
