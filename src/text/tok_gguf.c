/*
 * src/text/tok_gguf.c: the GGUF front end. Reads the tokenizer.ggml.* keys into a
 * ql_vocab_desc and hands it to ql_tokenizer_from_desc.
 *
 * Keys (all under tokenizer.ggml.): model (required), pre, tokens (required), scores,
 * token_type, merges (required for "gpt2"), cls/bos/eos/unknown/seperator/padding/eot/eom
 * _token_id, add_bos_token, add_eos_token, add_sep_token, add_space_prefix,
 * normalizer.lowercase / normalizer.strip_accents (BERT). A special id
 * outside the vocabulary keeps the default, as llama.cpp does (stories260K stores
 * 0xFFFFFFFF for "none").
 */
#include <stdlib.h>
#include <string.h>

#include "runtime/error.h"
#include "text/tok_internal.h"

#define KEY(k) "tokenizer.ggml." k

static void read_id(const ql_gguf *g, const char *key, int32_t n_tokens, int32_t *id) {
    const ql_gguf_value *v = ql_gguf_get(g, key);
    if (!v) return;
    int64_t x;
    switch (v->type) {
    case QL_GGUF_UINT8: case QL_GGUF_UINT16: case QL_GGUF_UINT32: case QL_GGUF_UINT64:
        x = v->v.u64 > INT32_MAX ? -1 : (int64_t)v->v.u64;
        break;
    case QL_GGUF_INT8: case QL_GGUF_INT16: case QL_GGUF_INT32: case QL_GGUF_INT64:
        x = v->v.i64;
        break;
    default: return;
    }
    if (x >= 0 && x < n_tokens) *id = (int32_t)x;
}

static void read_flag(const ql_gguf *g, const char *key, bool *flag) {
    const ql_gguf_value *v = ql_gguf_get(g, key);
    if (v && v->type == QL_GGUF_BOOL) *flag = v->v.b;
}

/* A string key as a NUL-terminated copy in buf (truncated to cap - 1). */
static ql_status read_cstr(const ql_gguf *g, const char *key, char *buf, size_t cap,
                           ql_error *err) {
    ql_str s;
    ql_status st = ql_gguf_get_str(g, key, &s, err);
    if (st != QL_OK) return st;
    size_t n = s.len < cap - 1 ? (size_t)s.len : cap - 1;
    memcpy(buf, s.ptr, n);
    buf[n] = '\0';
    return QL_OK;
}

/* Copies the strings of an array value into a ql_str array. */
static ql_str *string_array(const ql_gguf_array *a) {
    ql_str *s = malloc((a->n ? a->n : 1) * sizeof *s);
    if (!s) return NULL;
    for (uint64_t i = 0; i < a->n; i++) s[i] = a->items[i].v.str;
    return s;
}

static bool str_is(ql_str s, const char *c) { return s.len == strlen(c) && !memcmp(s.ptr, c, s.len); }

/* Per-token flags. GGUF has no key for them; llama.cpp sets rstrip on Phi-3's special
 * tokens (found by general.name) except <unk>, <s> and <|endoftext|>, so that the
 * newline after "<|user|>" in its chat template is not tokenized. Returns NULL only when
 * out of memory (an all-zero array otherwise). */
static uint8_t *phi3_flags(const ql_gguf *g, const ql_vocab_desc *d) {
    uint8_t *f = calloc((size_t)d->n_tokens, 1);
    if (!f) return NULL;
    ql_str name;
    if (ql_gguf_get_str(g, "general.name", &name, NULL) != QL_OK || !d->types) return f;
    char low[256];
    size_t n = name.len < sizeof low - 1 ? (size_t)name.len : sizeof low - 1;
    for (size_t i = 0; i < n; i++) {
        char c = name.ptr[i];
        low[i] = c >= 'A' && c <= 'Z' ? (char)(c + 32) : c;
    }
    low[n] = '\0';
    if (!strstr(low, "phi-3") && !strstr(low, "phi3")) return f;
    for (int32_t i = 0; i < d->n_tokens; i++) {
        int32_t ty = d->types[i];
        ql_str s = d->tokens[i];
        bool special = ty == QL_TOKEN_CONTROL || ty == QL_TOKEN_USER_DEFINED || ty == QL_TOKEN_UNKNOWN;
        if (special && !str_is(s, "<unk>") && !str_is(s, "<s>") && !str_is(s, "<|endoftext|>"))
            f[i] = QL_TOKEN_RSTRIP;
    }
    return f;
}

ql_status ql_tokenizer_from_gguf(const ql_gguf *g, ql_tokenizer **out, ql_error *err) {
    if (!out) return ql_fail(err, QL_ERR_ARG, "tokenizer: out is NULL");
    *out = NULL;
    if (!g) return ql_fail(err, QL_ERR_ARG, "tokenizer: gguf is NULL");
    const char *path = ql_gguf_path(g);

    char model[64], pre[64] = "";
    ql_status st = read_cstr(g, KEY("model"), model, sizeof model, err);
    if (st != QL_OK) return st;
    if (ql_gguf_get(g, KEY("pre")) && (st = read_cstr(g, KEY("pre"), pre, sizeof pre, err)) != QL_OK)
        return st;

    ql_vocab_kind kind;
    if (strcmp(model, "llama") == 0) kind = QL_VOCAB_SPM;
    else if (strcmp(model, "gpt2") == 0) kind = QL_VOCAB_BPE;
    else if (strcmp(model, "bert") == 0) kind = QL_VOCAB_WPM;
    else
        return ql_fail(err, QL_ERR_UNSUPPORTED, "%s: tokenizer model '%s' (%s) is not supported",
                       path, model, KEY("model"));

    ql_vocab_desc d;
    ql_vocab_desc_defaults(&d, kind, pre[0] ? pre : NULL);

    const ql_gguf_array *tokens, *merges = NULL, *arr;
    if ((st = ql_gguf_get_arr(g, KEY("tokens"), QL_GGUF_STRING, &tokens, err)) != QL_OK) return st;
    if (tokens->n == 0 || tokens->n > INT32_MAX)
        return ql_fail(err, QL_ERR_CORRUPT, "%s: %s has %llu entries", path, KEY("tokens"),
                       (unsigned long long)tokens->n);
    d.n_tokens = (int32_t)tokens->n;

    float *scores = NULL;
    int32_t *types = NULL;
    ql_str *tok_strs = NULL, *merge_strs = NULL;
    uint8_t *flags = NULL;
    if (ql_gguf_get(g, KEY("scores"))) {
        if ((st = ql_gguf_get_arr(g, KEY("scores"), QL_GGUF_FLOAT32, &arr, err)) != QL_OK) goto done;
        if (arr->n < tokens->n) {
            st = ql_fail(err, QL_ERR_CORRUPT, "%s: %s has %llu entries for %d tokens", path,
                         KEY("scores"), (unsigned long long)arr->n, d.n_tokens);
            goto done;
        }
        if (!(scores = malloc(tokens->n * sizeof *scores))) goto oom;
        for (uint64_t i = 0; i < tokens->n; i++) scores[i] = (float)ql_gguf_arr_float(arr, i);
        d.scores = scores;
    }
    if (ql_gguf_get(g, KEY("token_type"))) {
        if ((st = ql_gguf_get_arr(g, KEY("token_type"), QL_GGUF_TYPE_COUNT, &arr, err)) != QL_OK)
            goto done;
        if (arr->n < tokens->n || !arr->data || arr->elem_type == QL_GGUF_FLOAT32 ||
            arr->elem_type == QL_GGUF_FLOAT64 || arr->elem_type == QL_GGUF_BOOL) {
            st = ql_fail(err, QL_ERR_CORRUPT, "%s: %s is not %d integers", path, KEY("token_type"),
                         d.n_tokens);
            goto done;
        }
        if (!(types = malloc(tokens->n * sizeof *types))) goto oom;
        for (uint64_t i = 0; i < tokens->n; i++) {
            int64_t ty = ql_gguf_arr_int(arr, i);
            types[i] = ty >= 0 && ty <= QL_TOKEN_BYTE ? (int32_t)ty : QL_TOKEN_UNDEFINED;
        }
        d.types = types;
    }
    if (kind == QL_VOCAB_BPE) {
        if ((st = ql_gguf_get_arr(g, KEY("merges"), QL_GGUF_STRING, &merges, err)) != QL_OK)
            goto done;
        if (!(merge_strs = string_array(merges))) goto oom;
        d.merges = merge_strs;
        d.n_merges = merges->n;
    }
    if (!(tok_strs = string_array(tokens))) goto oom;
    d.tokens = tok_strs;

    read_id(g, KEY("cls_token_id"), d.n_tokens, &d.bos_id); /* BERT's [CLS] opens the text */
    read_id(g, KEY("bos_token_id"), d.n_tokens, &d.bos_id);
    read_id(g, KEY("eos_token_id"), d.n_tokens, &d.eos_id);
    read_id(g, KEY("unknown_token_id"), d.n_tokens, &d.unk_id);
    read_id(g, KEY("seperator_token_id"), d.n_tokens, &d.sep_id); /* sic: the GGUF key */
    read_id(g, KEY("padding_token_id"), d.n_tokens, &d.pad_id);
    read_id(g, KEY("eot_token_id"), d.n_tokens, &d.eot_id);
    read_id(g, KEY("eom_token_id"), d.n_tokens, &d.eom_id);
    read_flag(g, KEY("add_bos_token"), &d.add_bos);
    read_flag(g, KEY("add_eos_token"), &d.add_eos);
    read_flag(g, KEY("add_sep_token"), &d.add_sep);
    read_flag(g, KEY("add_space_prefix"), &d.add_space_prefix);
    read_flag(g, KEY("normalizer.lowercase"), &d.lowercase);
    d.strip_accents = d.lowercase;
    read_flag(g, KEY("normalizer.strip_accents"), &d.strip_accents);
    /* qloop's key for a BPE file whose ignore_merges differs from its pre-tokenizer's */
    const ql_gguf_value *im = ql_gguf_get(g, "qloop.tokenizer.ignore_merges");
    if (im && im->type == QL_GGUF_BOOL) d.ignore_merges = im->v.b ? 1 : 0;

    if (!(flags = phi3_flags(g, &d))) goto oom;
    d.flags = flags;

    st = ql_tokenizer_from_desc(&d, out, err);
    if (st != QL_OK && err) {
        /* Name the file in front of the builder's message. */
        char msg[sizeof err->message];
        memcpy(msg, err->message, sizeof msg);
        ql_fail(err, st, "%s: %s", path, msg);
    }
    goto done;
oom:
    st = ql_fail(err, QL_ERR_NOMEM, "%s: out of memory reading the vocabulary", path);
done:
    free(scores);
    free(types);
    free(tok_strs);
    free(merge_strs);
    free(flags);
    return st;
}
