/*
 * src/model/loop_config.c: loop-layer settings from GGUF metadata and config.json, their
 * defaults and validation (shared/spec/loop-layers.md section 2).
 *
 * Per-block counts may be one number (broadcast to every block) or a list with one entry
 * per block. Validation follows the spec's list; the messages use the config key names.
 */
#include "loop_config.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "runtime/error.h"

static const char *const k_strategy[] = {"fixed_count", "dynamic_stop"};
static const char *const k_kv_mode[] = {"virtual_layers", "merge_strategy"};
static const char *const k_attn[] = {"parallel", "serial"};
static const char *const k_merge[] = {"ema", "average", "last"};

#define NAME_OF(table, v) ((unsigned)(v) < sizeof table / sizeof table[0] ? table[v] : NULL)
const char *ql_loop_strategy_name(ql_loop_strategy s) { return NAME_OF(k_strategy, s); }
const char *ql_loop_kv_mode_name(ql_loop_kv_mode m) { return NAME_OF(k_kv_mode, m); }
const char *ql_loop_attn_name(ql_loop_attn a) { return NAME_OF(k_attn, a); }
const char *ql_loop_merge_name(ql_loop_merge m) { return NAME_OF(k_merge, m); }
#undef NAME_OF

ql_loop_block ql_loop_block_default(int32_t start, int32_t end) {
    ql_loop_block b = {start, end, 5, 20, 5, 5};
    return b;
}

ql_loop_params ql_loop_params_default(void) {
    ql_loop_params p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    for (int i = 0; i < QL_LOOP_MAX_BLOCKS; i++) p.blocks[i] = ql_loop_block_default(0, 0);
    p.strategy = QL_LOOP_FIXED;
    p.cosine_threshold = 0.95f;
    p.kl_threshold = 0.01f;
    p.kv_mode = QL_LOOP_KV_VIRTUAL;
    p.attn = QL_LOOP_ATTN_PARALLEL;
    p.merge = QL_LOOP_MERGE_EMA;
    p.ema_alpha = 0.7f;
    return p;
}

ql_status ql_loop_params_check(const ql_loop_params *p, int32_t n_layer, ql_error *err) {
    if (!p) return ql_ok(err);
    if (p->n_blocks < 0 || p->n_blocks > QL_LOOP_MAX_BLOCKS)
        return ql_fail(err, QL_ERR_ARG, "loop_layers: %d blocks (at most %d)", p->n_blocks,
                       QL_LOOP_MAX_BLOCKS);
    if (p->n_blocks == 0) return ql_ok(err);
    if (!ql_loop_strategy_name(p->strategy) || !ql_loop_kv_mode_name(p->kv_mode) ||
        !ql_loop_attn_name(p->attn) || !ql_loop_merge_name(p->merge))
        return ql_fail(err, QL_ERR_ARG, "loop settings: unknown strategy/mode value");
    if (!isfinite(p->cosine_threshold) || p->cosine_threshold < 0.0f)
        return ql_fail(err, QL_ERR_ARG, "cosine_threshold %g must be a finite number >= 0",
                       (double)p->cosine_threshold);
    bool virt = p->kv_mode == QL_LOOP_KV_VIRTUAL;
    for (int i = 0; i < p->n_blocks; i++) {
        const ql_loop_block *b = &p->blocks[i];
        if (b->start < 0 || b->start > b->end || b->end >= n_layer)
            return ql_fail(err, QL_ERR_ARG,
                           "loop_layers: block %d [%d, %d] must satisfy 0 <= start <= end < %d "
                           "(the model's layers)",
                           i, b->start, b->end, n_layer);
        if (i > 0 && b->start <= p->blocks[i - 1].end)
            return ql_fail(err, QL_ERR_ARG,
                           "loop_layers: block %d [%d, %d] overlaps or precedes block %d [%d, %d] "
                           "(blocks must be sorted and disjoint)",
                           i, b->start, b->end, i - 1, p->blocks[i - 1].start, p->blocks[i - 1].end);
        if (b->max_loop_count < 0 || b->min_loop_count < 0 || b->max_loop_count > 1 << 20 ||
            b->loop_count > 1 << 20)
            return ql_fail(err, QL_ERR_ARG,
                           "block %d: max_loop_count %d, min_loop_count %d must be in [0, 2^20], "
                           "loop_count %d <= 2^20",
                           i, b->max_loop_count, b->min_loop_count, b->loop_count);
        if (!virt) continue;
        int32_t v = b->virtual_layer_count;
        if (v <= 0 || v > 1024)
            return ql_fail(err, QL_ERR_ARG, "block %d: virtual_layer_count %d must be in [1, 1024]",
                           i, v);
        if (b->min_loop_count < v)
            return ql_fail(err, QL_ERR_ARG,
                           "block %d: min_loop_count %d must be >= virtual_layer_count %d in "
                           "virtual_layers mode",
                           i, b->min_loop_count, v);
        if (b->max_loop_count < b->min_loop_count)
            return ql_fail(err, QL_ERR_ARG, "block %d: max_loop_count %d must be >= min_loop_count %d",
                           i, b->max_loop_count, b->min_loop_count);
        if (p->strategy == QL_LOOP_FIXED && b->loop_count != v)
            return ql_fail(err, QL_ERR_ARG,
                           "block %d: loop_count %d must equal virtual_layer_count %d with "
                           "fixed_count in virtual_layers mode",
                           i, b->loop_count, v);
    }
    if (!virt && p->merge == QL_LOOP_MERGE_EMA && !(p->ema_alpha > 0.0f && p->ema_alpha < 1.0f))
        return ql_fail(err, QL_ERR_ARG, "merge_ema_alpha %g must be in (0, 1)", (double)p->ema_alpha);
    return ql_ok(err);
}

/* ---- shared by both readers ------------------------------------------------------- */

typedef enum count_field { F_LOOP, F_MAX, F_MIN, F_SLOTS } count_field;

static int32_t *count_ref(ql_loop_block *b, count_field f) {
    switch (f) {
    case F_LOOP: return &b->loop_count;
    case F_MAX: return &b->max_loop_count;
    case F_MIN: return &b->min_loop_count;
    default: return &b->virtual_layer_count;
    }
}

/* vals[0..n): one value (broadcast, when !is_list) or one per block. */
static ql_status set_counts(ql_loop_params *p, count_field f, const int64_t *vals, size_t n,
                            bool is_list, const char *src, const char *key, ql_error *err) {
    if (is_list && n != (size_t)p->n_blocks)
        return ql_fail(err, QL_ERR_CORRUPT, "%s: %s has %zu entries for %d loop blocks", src, key,
                       n, p->n_blocks);
    for (int i = 0; i < p->n_blocks; i++) {
        int64_t v = vals[is_list ? i : 0];
        if (v < INT32_MIN || v > INT32_MAX)
            return ql_fail(err, QL_ERR_CORRUPT, "%s: %s value %lld is out of range", src, key,
                           (long long)v);
        *count_ref(&p->blocks[i], f) = (int32_t)v;
    }
    return QL_OK;
}

static ql_status parse_enum(const char *s, size_t len, const char *const *names, int n_names,
                            int *out, const char *src, const char *key, ql_error *err) {
    for (int i = 0; i < n_names; i++)
        if (strlen(names[i]) == len && !memcmp(names[i], s, len)) {
            *out = i;
            return QL_OK;
        }
    return ql_fail(err, QL_ERR_CORRUPT, "%s: %s '%.*s' is not one of %s%s%s%s%s", src, key,
                   (int)(len > 40 ? 40 : len), s, names[0], n_names > 1 ? ", " : "",
                   n_names > 1 ? names[1] : "", n_names > 2 ? ", " : "", n_names > 2 ? names[2] : "");
}

static ql_status add_block(ql_loop_params *p, int64_t s, int64_t e, const char *src,
                           ql_error *err) {
    if (p->n_blocks >= QL_LOOP_MAX_BLOCKS)
        return ql_fail(err, QL_ERR_CORRUPT, "%s: loop_layers has more than %d blocks", src,
                       QL_LOOP_MAX_BLOCKS);
    if (s < INT32_MIN || s > INT32_MAX || e < INT32_MIN || e > INT32_MAX)
        return ql_fail(err, QL_ERR_CORRUPT, "%s: loop_layers entry out of range", src);
    ql_loop_block *b = &p->blocks[p->n_blocks++];
    b->start = (int32_t)s;
    b->end = (int32_t)e;
    return QL_OK;
}

/* Validation failures of a file's settings are corrupt input, not a caller's error. */
static ql_status check_file(const ql_loop_params *p, int32_t n_layer, const char *src,
                            ql_error *err) {
    ql_error e = {0};
    if (ql_loop_params_check(p, n_layer, &e) == QL_OK) return QL_OK;
    return ql_fail(err, QL_ERR_CORRUPT, "%s: loop settings: %s", src, e.message);
}

/* ---- GGUF -------------------------------------------------------------------------- */

#define GGUF_PREFIX "qloop.loop."

static bool gguf_is_int(ql_gguf_type t) {
    return t <= QL_GGUF_INT32 || t == QL_GGUF_UINT64 || t == QL_GGUF_INT64;
}

static int64_t gguf_int(const ql_gguf_value *v) {
    bool is_unsigned = v->type == QL_GGUF_UINT8 || v->type == QL_GGUF_UINT16 ||
                       v->type == QL_GGUF_UINT32 || v->type == QL_GGUF_UINT64;
    if (is_unsigned) return v->v.u64 > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v->v.u64;
    return v->v.i64;
}

static ql_status gguf_layers(const ql_gguf *g, ql_loop_params *p, const char *src, ql_error *err) {
    const ql_gguf_value *v = ql_gguf_get(g, GGUF_PREFIX "loop_layers");
    if (!v) return QL_OK;
    if (v->type != QL_GGUF_ARRAY) goto bad;
    const ql_gguf_array *a = &v->v.arr;
    if (a->elem_type == QL_GGUF_ARRAY) {
        for (uint64_t i = 0; i < a->n; i++) {
            const ql_gguf_array *pair = &a->items[i].v.arr;
            if (pair->n != 2 || !gguf_is_int(pair->elem_type)) goto bad;
            ql_status st = add_block(p, ql_gguf_arr_int(pair, 0), ql_gguf_arr_int(pair, 1), src, err);
            if (st) return st;
        }
        return QL_OK;
    }
    if (!gguf_is_int(a->elem_type) || a->n % 2) goto bad;
    for (uint64_t i = 0; i < a->n; i += 2) {
        ql_status st = add_block(p, ql_gguf_arr_int(a, i), ql_gguf_arr_int(a, i + 1), src, err);
        if (st) return st;
    }
    return QL_OK;
bad:
    return ql_fail(err, QL_ERR_CORRUPT,
                   "%s: " GGUF_PREFIX "loop_layers must be an array of [start, end] integer "
                   "pairs or a flat integer array of even length",
                   src);
}

static ql_status gguf_counts(const ql_gguf *g, ql_loop_params *p, count_field f,
                             const char *name, const char *src, ql_error *err) {
    char key[96];
    snprintf(key, sizeof key, GGUF_PREFIX "%s", name);
    const ql_gguf_value *v = ql_gguf_get(g, key);
    if (!v) return QL_OK;
    int64_t vals[QL_LOOP_MAX_BLOCKS];
    if (gguf_is_int(v->type)) {
        vals[0] = gguf_int(v);
        return set_counts(p, f, vals, 1, false, src, key, err);
    }
    if (v->type == QL_GGUF_ARRAY && gguf_is_int(v->v.arr.elem_type)) {
        size_t n = v->v.arr.n > QL_LOOP_MAX_BLOCKS ? QL_LOOP_MAX_BLOCKS + 1 : (size_t)v->v.arr.n;
        for (size_t i = 0; i < n && i < QL_LOOP_MAX_BLOCKS; i++) vals[i] = ql_gguf_arr_int(&v->v.arr, i);
        return set_counts(p, f, vals, n, true, src, key, err);
    }
    return ql_fail(err, QL_ERR_CORRUPT, "%s: %s must be an integer or an integer array", src, key);
}

static ql_status gguf_enum(const ql_gguf *g, const char *name, const char *const *names,
                           int n_names, int *out, const char *src, ql_error *err) {
    char key[96];
    snprintf(key, sizeof key, GGUF_PREFIX "%s", name);
    if (!ql_gguf_get(g, key)) return QL_OK;
    ql_str s;
    ql_error e;
    if (ql_gguf_get_str(g, key, &s, &e))
        return ql_fail(err, QL_ERR_CORRUPT, "%s: %s must be a string", src, key);
    return parse_enum(s.ptr, (size_t)s.len, names, n_names, out, src, key, err);
}

static ql_status gguf_float(const ql_gguf *g, const char *name, float *out, const char *src,
                            ql_error *err) {
    char key[96];
    snprintf(key, sizeof key, GGUF_PREFIX "%s", name);
    if (!ql_gguf_get(g, key)) return QL_OK;
    ql_error e;
    if (ql_gguf_get_f32(g, key, out, &e))
        return ql_fail(err, QL_ERR_CORRUPT, "%s: %s must be a float", src, key);
    return QL_OK;
}

ql_status ql_loop_config_from_gguf(const ql_gguf *g, ql_loop_params *out, ql_error *err) {
    *out = ql_loop_params_default();
    const char *src = ql_gguf_path(g);
    ql_status st;
    if ((st = gguf_layers(g, out, src, err))) return st;
    if (out->n_blocks == 0) return ql_ok(err);
    int strategy = out->strategy, kv = out->kv_mode, attn = out->attn, merge = out->merge;
    if ((st = gguf_counts(g, out, F_LOOP, "loop_count", src, err)) ||
        (st = gguf_counts(g, out, F_MAX, "max_loop_count", src, err)) ||
        (st = gguf_counts(g, out, F_MIN, "min_loop_count", src, err)) ||
        (st = gguf_counts(g, out, F_SLOTS, "virtual_layer_count", src, err)) ||
        (st = gguf_enum(g, "loop_strategy", k_strategy, 2, &strategy, src, err)) ||
        (st = gguf_enum(g, "kv_cache_mode", k_kv_mode, 2, &kv, src, err)) ||
        (st = gguf_enum(g, "virtual_attention_mode", k_attn, 2, &attn, src, err)) ||
        (st = gguf_enum(g, "merge_strategy", k_merge, 3, &merge, src, err)) ||
        (st = gguf_float(g, "cosine_threshold", &out->cosine_threshold, src, err)) ||
        (st = gguf_float(g, "kl_threshold", &out->kl_threshold, src, err)) ||
        (st = gguf_float(g, "merge_ema_alpha", &out->ema_alpha, src, err)))
        return st;
    out->strategy = (ql_loop_strategy)strategy;
    out->kv_mode = (ql_loop_kv_mode)kv;
    out->attn = (ql_loop_attn)attn;
    out->merge = (ql_loop_merge)merge;
    ql_str arch;
    uint32_t n_layer = 0;
    char key[96];
    ql_error e;
    if (ql_gguf_get_str(g, "general.architecture", &arch, &e) == QL_OK) {
        snprintf(key, sizeof key, "%.*s.block_count", (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
        ql_gguf_get_u32(g, key, &n_layer, &e);
    }
    if ((st = check_file(out, n_layer > INT32_MAX ? INT32_MAX : (int32_t)n_layer, src, err)))
        return st;
    return ql_ok(err);
}

ql_status ql_loop_config_to_gguf(ql_gguf_writer *w, const ql_loop_params *p, ql_error *err) {
    if (!p || p->n_blocks <= 0) return ql_ok(err);
    int32_t layers[2 * QL_LOOP_MAX_BLOCKS], c[4][QL_LOOP_MAX_BLOCKS];
    for (int i = 0; i < p->n_blocks; i++) {
        layers[2 * i] = p->blocks[i].start;
        layers[2 * i + 1] = p->blocks[i].end;
        c[0][i] = p->blocks[i].loop_count;
        c[1][i] = p->blocks[i].max_loop_count;
        c[2][i] = p->blocks[i].min_loop_count;
        c[3][i] = p->blocks[i].virtual_layer_count;
    }
    uint64_t n = (uint64_t)p->n_blocks;
    ql_status st;
    if ((st = ql_gguf_set_arr(w, GGUF_PREFIX "loop_layers", QL_GGUF_INT32, layers, 2 * n, err)) ||
        (st = ql_gguf_set_arr(w, GGUF_PREFIX "loop_count", QL_GGUF_INT32, c[0], n, err)) ||
        (st = ql_gguf_set_arr(w, GGUF_PREFIX "max_loop_count", QL_GGUF_INT32, c[1], n, err)) ||
        (st = ql_gguf_set_arr(w, GGUF_PREFIX "min_loop_count", QL_GGUF_INT32, c[2], n, err)) ||
        (st = ql_gguf_set_arr(w, GGUF_PREFIX "virtual_layer_count", QL_GGUF_INT32, c[3], n, err)) ||
        (st = ql_gguf_set_str(w, GGUF_PREFIX "loop_strategy", ql_loop_strategy_name(p->strategy), err)) ||
        (st = ql_gguf_set_str(w, GGUF_PREFIX "kv_cache_mode", ql_loop_kv_mode_name(p->kv_mode), err)) ||
        (st = ql_gguf_set_str(w, GGUF_PREFIX "virtual_attention_mode", ql_loop_attn_name(p->attn), err)) ||
        (st = ql_gguf_set_str(w, GGUF_PREFIX "merge_strategy", ql_loop_merge_name(p->merge), err)) ||
        (st = ql_gguf_set_f32(w, GGUF_PREFIX "cosine_threshold", p->cosine_threshold, err)) ||
        (st = ql_gguf_set_f32(w, GGUF_PREFIX "kl_threshold", p->kl_threshold, err)) ||
        (st = ql_gguf_set_f32(w, GGUF_PREFIX "merge_ema_alpha", p->ema_alpha, err)))
        return st;
    return ql_ok(err);
}

/* ---- config.json ------------------------------------------------------------------- */

static ql_status hf_layers(const json_t *root, ql_loop_params *p, ql_error *err) {
    const json_t *v = json_object_get(root, "loop_layers");
    if (!v || json_is_null(v)) return QL_OK;
    if (!json_is_array(v)) goto bad;
    /* the older single (start, end) form */
    if (json_array_size(v) == 2 && json_is_integer(json_array_get(v, 0)))
        return add_block(p, json_integer_value(json_array_get(v, 0)),
                         json_integer_value(json_array_get(v, 1)), "config.json", err);
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *pair = json_array_get(v, i);
        if (!json_is_array(pair) || json_array_size(pair) != 2 ||
            !json_is_integer(json_array_get(pair, 0)) || !json_is_integer(json_array_get(pair, 1)))
            goto bad;
        ql_status st = add_block(p, json_integer_value(json_array_get(pair, 0)),
                                 json_integer_value(json_array_get(pair, 1)), "config.json", err);
        if (st) return st;
    }
    return QL_OK;
bad:
    return ql_fail(err, QL_ERR_CORRUPT,
                   "config.json: loop_layers must be a list of [start, end] integer pairs");
}

static ql_status hf_counts(const json_t *root, ql_loop_params *p, count_field f, const char *key,
                           ql_error *err) {
    const json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return QL_OK;
    int64_t vals[QL_LOOP_MAX_BLOCKS];
    if (json_is_integer(v)) {
        vals[0] = json_integer_value(v);
        return set_counts(p, f, vals, 1, false, "config.json", key, err);
    }
    if (json_is_array(v)) {
        size_t n = json_array_size(v);
        if (n > QL_LOOP_MAX_BLOCKS) n = QL_LOOP_MAX_BLOCKS + 1;
        for (size_t i = 0; i < n && i < QL_LOOP_MAX_BLOCKS; i++) {
            const json_t *x = json_array_get(v, i);
            if (!json_is_integer(x)) goto bad;
            vals[i] = json_integer_value(x);
        }
        return set_counts(p, f, vals, n, true, "config.json", key, err);
    }
bad:
    return ql_fail(err, QL_ERR_CORRUPT, "config.json: %s must be an integer or a list of integers", key);
}

static ql_status hf_enum(const json_t *root, const char *key, const char *const *names,
                         int n_names, int *out, ql_error *err) {
    const json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return QL_OK;
    if (!json_is_string(v)) return ql_fail(err, QL_ERR_CORRUPT, "config.json: %s must be a string", key);
    return parse_enum(json_string_value(v), json_string_length(v), names, n_names, out,
                      "config.json", key, err);
}

static ql_status hf_float(const json_t *root, const char *key, float *out, ql_error *err) {
    const json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return QL_OK;
    if (!json_is_number(v) || !isfinite(json_number_value(v)))
        return ql_fail(err, QL_ERR_CORRUPT, "config.json: %s must be a finite number", key);
    *out = (float)json_number_value(v);
    return QL_OK;
}

ql_status ql_loop_config_from_hf(const void *config_json, ql_loop_params *out, ql_error *err) {
    const json_t *root = config_json;
    *out = ql_loop_params_default();
    if (!json_is_object(root)) return ql_fail(err, QL_ERR_CORRUPT, "config.json: not an object");
    ql_status st;
    if ((st = hf_layers(root, out, err))) return st;
    if (out->n_blocks == 0) return ql_ok(err);
    int strategy = out->strategy, kv = out->kv_mode, attn = out->attn, merge = out->merge;
    if ((st = hf_counts(root, out, F_LOOP, "loop_count", err)) ||
        (st = hf_counts(root, out, F_MAX, "max_loop_count", err)) ||
        (st = hf_counts(root, out, F_MIN, "min_loop_count", err)) ||
        (st = hf_counts(root, out, F_SLOTS, "virtual_layer_count", err)) ||
        (st = hf_enum(root, "loop_strategy", k_strategy, 2, &strategy, err)) ||
        (st = hf_enum(root, "kv_cache_mode", k_kv_mode, 2, &kv, err)) ||
        (st = hf_enum(root, "virtual_attention_mode", k_attn, 2, &attn, err)) ||
        (st = hf_enum(root, "merge_strategy", k_merge, 3, &merge, err)) ||
        (st = hf_float(root, "cosine_threshold", &out->cosine_threshold, err)) ||
        (st = hf_float(root, "kl_threshold", &out->kl_threshold, err)) ||
        (st = hf_float(root, "merge_ema_alpha", &out->ema_alpha, err)))
        return st;
    out->strategy = (ql_loop_strategy)strategy;
    out->kv_mode = (ql_loop_kv_mode)kv;
    out->attn = (ql_loop_attn)attn;
    out->merge = (ql_loop_merge)merge;
    const json_t *nl = json_object_get(root, "num_hidden_layers");
    int32_t n_layer = json_is_integer(nl) && json_integer_value(nl) >= 0 &&
                              json_integer_value(nl) <= INT32_MAX
                          ? (int32_t)json_integer_value(nl)
                          : 0;
    if ((st = check_file(out, n_layer, "config.json", err))) return st;
    return ql_ok(err);
}
