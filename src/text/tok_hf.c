/*
 * src/text/tok_hf.c: a Hugging Face tokenizer.json as a ql_vocab_desc.
 *
 * Two shapes of tokenizer.json are understood:
 *  - byte-level BPE (GPT-2, Llama 3, Qwen2): model.type "BPE" with a ByteLevel
 *    pre-tokenizer, either alone (use_regex: the GPT-2 pattern) or after a Split whose
 *    regex is one of the patterns the BPE module knows (table below);
 *  - SentencePiece-style BPE (Llama 2, Mistral): byte_fallback, "▁" for spaces via a
 *    Metaspace pre-tokenizer or a Prepend/Replace normalizer. SPM merges by score, so a
 *    token's score is minus the rank of the merge that makes it (same order as BPE ranks).
 * BOS/EOS come from the post_processor (TemplateProcessing: a special token before $A is
 * BOS, after it EOS), else from tokenizer_config.json (add_bos_token, bos_token, ...).
 */
#include "text/tok_hf.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runtime/error.h"
#include "runtime/json_file.h"

/* Split regexes of known tokenizer.json files and the pre-tokenizer they select. */
static const struct {
    const char *regex;
    const char *pre;
} k_split_regex[] = {
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+"
     "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     "llama-bpe"},
    {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+"
     "[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
     "qwen2"},
    {"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)", "gpt-2"},
};

typedef struct hf_tok {
    const char *path; /* tokenizer.json, for messages */
    json_t *root, *config; /* tokenizer.json, tokenizer_config.json (or NULL) */
    ql_vocab_desc d;
    ql_str *tokens;
    int32_t *types;
    uint8_t *flags;
    float *scores;
    ql_str *merges;
    char *arena; /* texts made here: hole names, joined merge pairs */
    size_t arena_len, arena_cap;
    ql_error *err;
} hf_tok;

static const char *type_of(const json_t *o) {
    const json_t *t = json_object_get(o, "type");
    return json_is_string(t) ? json_string_value(t) : "";
}

/* Reserves n bytes in the arena; texts are referenced by offset until it stops growing. */
static ql_status arena_reserve(hf_tok *h, size_t n) {
    if (h->arena_len + n <= h->arena_cap) return QL_OK;
    size_t cap = h->arena_cap ? h->arena_cap : 4096;
    while (cap < h->arena_len + n) cap *= 2;
    char *a = realloc(h->arena, cap);
    if (!a) return ql_fail(h->err, QL_ERR_NOMEM, "%s: out of memory", h->path);
    h->arena = a;
    h->arena_cap = cap;
    return QL_OK;
}

/* ---- pre-tokenizer and normalizer -------------------------------------------------- */

/* SentencePiece-style normalizer steps qloop performs itself: "▁" prepended, spaces
 * replaced by "▁" (and NFC, assumed of the input). Any other step (Lowercase, NFKC, a
 * Replace of something else) would be skipped silently and give different tokens. */
static bool spm_norm_step_ok(const json_t *n) {
    const char *t = type_of(n);
    if (!strcmp(t, "NFC")) return true;
    if (!strcmp(t, "Prepend")) {
        const json_t *p = json_object_get(n, "prepend");
        return json_is_string(p) && !strcmp(json_string_value(p), "\u2581");
    }
    if (!strcmp(t, "Replace")) {
        const json_t *from = json_object_get(json_object_get(n, "pattern"), "String");
        const json_t *to = json_object_get(n, "content");
        return json_is_string(from) && !strcmp(json_string_value(from), " ") &&
               json_is_string(to) && !strcmp(json_string_value(to), "\u2581");
    }
    return false;
}

/* The first normalizer step of an SPM file qloop cannot honour, or NULL when all are fine. */
static const json_t *spm_bad_norm(const json_t *norm) {
    if (!json_is_object(norm)) return NULL; /* null: no normalizer */
    if (strcmp(type_of(norm), "Sequence")) return spm_norm_step_ok(norm) ? NULL : norm;
    const json_t *list = json_object_get(norm, "normalizers");
    if (!json_is_array(list)) return norm;
    for (size_t i = 0; i < json_array_size(list); i++)
        if (!spm_norm_step_ok(json_array_get(list, i))) return json_array_get(list, i);
    return NULL;
}

/* qloop's pre-tokenizers keep every match and every gap as its own word: a Split step
 * must say so (behavior Isolated, not inverted), else its regex means something else. */
static bool split_isolates(const json_t *p) {
    const json_t *b = json_object_get(p, "behavior");
    return (!b || (json_is_string(b) && !strcmp(json_string_value(b), "Isolated"))) &&
           !json_is_true(json_object_get(p, "invert"));
}

/* Byte-level BPE: the pre-tokenizer name for ql_vocab_desc, or NULL with *spm set when
 * the file is SentencePiece-style. */
static ql_status classify(hf_tok *h, const char **pre, bool *spm) {
    const json_t *model = json_object_get(h->root, "model");
    const json_t *pt = json_object_get(h->root, "pre_tokenizer");
    const json_t *norm = json_object_get(h->root, "normalizer");
    *pre = NULL;
    *spm = false;
    const char *ptype = json_is_object(pt) ? type_of(pt) : "";
    if (!strcmp(ptype, "ByteLevel")) {
        if (json_is_true(json_object_get(pt, "add_prefix_space")))
            return ql_fail(h->err, QL_ERR_UNSUPPORTED,
                           "%s: ByteLevel pre-tokenizer with add_prefix_space is not supported", h->path);
        if (json_is_false(json_object_get(pt, "use_regex")))
            return ql_fail(h->err, QL_ERR_UNSUPPORTED,
                           "%s: ByteLevel pre-tokenizer without use_regex is not supported", h->path);
        *pre = "gpt-2";
    } else if (!strcmp(ptype, "Sequence")) {
        const json_t *list = json_object_get(pt, "pretokenizers");
        const char *regex = NULL;
        bool byte_level = false;
        for (size_t i = 0; i < json_array_size(list); i++) {
            const json_t *p = json_array_get(list, i);
            const char *t = type_of(p);
            if (!strcmp(t, "Split") && !regex) {
                if (!split_isolates(p))
                    return ql_fail(h->err, QL_ERR_UNSUPPORTED,
                                   "%s: pre_tokenizer step %zu (Split) with a behavior other than "
                                   "Isolated, or invert, is not supported", h->path, i);
                const json_t *pat = json_object_get(json_object_get(p, "pattern"), "Regex");
                regex = json_is_string(pat) ? json_string_value(pat) : "";
            } else if (!strcmp(t, "ByteLevel") &&
                       !json_is_true(json_object_get(p, "use_regex")) &&
                       !json_is_true(json_object_get(p, "add_prefix_space"))) {
                byte_level = true;
            } else {
                return ql_fail(h->err, QL_ERR_UNSUPPORTED,
                               "%s: pre_tokenizer step %zu (%.40s) is not supported", h->path, i, t);
            }
        }
        for (size_t i = 0; regex && i < sizeof k_split_regex / sizeof k_split_regex[0]; i++)
            if (!strcmp(regex, k_split_regex[i].regex)) *pre = k_split_regex[i].pre;
        if (!byte_level || !*pre)
            return ql_fail(h->err, QL_ERR_UNSUPPORTED,
                           "%s: pre_tokenizer Split regex '%.120s' is not one qloop knows",
                           h->path, regex ? regex : "(none)");
    } else if (!strcmp(ptype, "Metaspace") || (!json_is_object(pt) && json_is_object(norm))) {
        /* qloop's SPM always writes spaces as "\u2581" */
        const json_t *rep = json_object_get(pt, "replacement");
        if (rep && !(json_is_string(rep) && !strcmp(json_string_value(rep), "\u2581")))
            return ql_fail(h->err, QL_ERR_UNSUPPORTED,
                           "%s: Metaspace replacement other than \"\u2581\" is not supported",
                           h->path);
        *spm = true;
    } else {
        return ql_fail(h->err, QL_ERR_UNSUPPORTED, "%s: pre_tokenizer '%.40s' is not supported",
                       h->path, json_is_object(pt) ? ptype : "null");
    }
    if (*spm && !json_is_true(json_object_get(model, "byte_fallback")))
        return ql_fail(h->err, QL_ERR_UNSUPPORTED,
                       "%s: SentencePiece-style BPE without byte_fallback is not supported", h->path);
    const json_t *bad = *spm ? spm_bad_norm(norm) : NULL;
    if (bad)
        return ql_fail(h->err, QL_ERR_UNSUPPORTED,
                       "%s: normalizer step '%.40s' is not supported for SentencePiece-style BPE "
                       "(Prepend and Replace of \"\u2581\", NFC are)",
                       h->path, json_is_object(bad) ? type_of(bad) : "?");
    /* Byte-level files carry no normalizer (or NFC, which qloop assumes of its input). */
    if (!*spm && json_is_object(norm) && strcmp(type_of(norm), "NFC"))
        return ql_fail(h->err, QL_ERR_UNSUPPORTED, "%s: normalizer '%.40s' is not supported",
                       h->path, type_of(norm));
    return QL_OK;
}

/* SentencePiece-style: is "▁" prepended to the text (dummy prefix)? */
static bool spm_space_prefix(const json_t *root) {
    const json_t *pt = json_object_get(root, "pre_tokenizer");
    if (json_is_object(pt) && !strcmp(type_of(pt), "Metaspace")) {
        const json_t *scheme = json_object_get(pt, "prepend_scheme");
        if (json_is_string(scheme)) return strcmp(json_string_value(scheme), "never") != 0;
        return !json_is_false(json_object_get(pt, "add_prefix_space"));
    }
    const json_t *norm = json_object_get(root, "normalizer");
    const json_t *list = json_object_get(norm, "normalizers");
    if (!strcmp(type_of(norm), "Prepend")) return true;
    for (size_t i = 0; i < json_array_size(list); i++)
        if (!strcmp(type_of(json_array_get(list, i)), "Prepend")) return true;
    return false;
}

/* ---- vocabulary ----------------------------------------------------------------------- */

static ql_status read_vocab(hf_tok *h) {
    const json_t *vocab = json_object_get(json_object_get(h->root, "model"), "vocab");
    const json_t *added = json_object_get(h->root, "added_tokens");
    if (!json_is_object(vocab) || json_object_size(vocab) == 0)
        return ql_fail(h->err, QL_ERR_CORRUPT, "%s: model.vocab is missing or empty", h->path);
    int64_t n = 0;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)vocab, key, v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= (1 << 24))
            return ql_fail(h->err, QL_ERR_CORRUPT, "%s: model.vocab['%.60s'] is not a token id",
                           h->path, key);
        if (json_integer_value(v) >= n) n = json_integer_value(v) + 1;
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        const json_t *a = json_array_get(added, i), *id = json_object_get(a, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0 || json_integer_value(id) >= (1 << 24) ||
            !json_is_string(json_object_get(a, "content")))
            return ql_fail(h->err, QL_ERR_CORRUPT, "%s: added_tokens[%zu] needs an id and a content",
                           h->path, i);
        if (json_integer_value(id) >= n) n = json_integer_value(id) + 1;
    }
    /* Unnamed ids get placeholders below; a lone id near 1 << 24 would make a file of a
     * few tokens cost ~1 GB and seconds before anything checks it. Real vocabularies
     * name (nearly) every id, so ids reaching far past the entry count are refused. */
    size_t named = json_object_size(vocab) + json_array_size(added);
    if ((uint64_t)n > 2 * (uint64_t)named + 1024)
        return ql_fail(h->err, QL_ERR_CORRUPT,
                       "%s: token ids reach %lld but model.vocab and added_tokens name only %zu",
                       h->path, (long long)n - 1, named);
    h->tokens = calloc((size_t)n, sizeof *h->tokens);
    h->types = calloc((size_t)n, sizeof *h->types);
    h->flags = calloc((size_t)n, sizeof *h->flags);
    h->scores = calloc((size_t)n, sizeof *h->scores);
    if (!h->tokens || !h->types || !h->flags || !h->scores)
        return ql_fail(h->err, QL_ERR_NOMEM, "%s: out of memory", h->path);
    h->d.n_tokens = (int32_t)n;
    json_object_foreach((json_t *)vocab, key, v) {
        int64_t id = json_integer_value(v);
        if (h->tokens[id].ptr)
            return ql_fail(h->err, QL_ERR_CORRUPT, "%s: token id %lld is given twice in model.vocab",
                           h->path, (long long)id);
        h->tokens[id] = (ql_str){key, strlen(key)};
        h->types[id] = QL_TOKEN_NORMAL;
    }
    for (size_t i = 0; i < json_array_size(added); i++) {
        const json_t *a = json_array_get(added, i);
        int64_t id = json_integer_value(json_object_get(a, "id"));
        const char *text = json_string_value(json_object_get(a, "content"));
        h->tokens[id] = (ql_str){text, strlen(text)};
        h->types[id] = json_is_true(json_object_get(a, "special")) ? QL_TOKEN_CONTROL
                                                                   : QL_TOKEN_USER_DEFINED;
        h->flags[id] = (json_is_true(json_object_get(a, "lstrip")) ? QL_TOKEN_LSTRIP : 0) |
                       (json_is_true(json_object_get(a, "rstrip")) ? QL_TOKEN_RSTRIP : 0);
    }
    /* Ids no entry names get a placeholder text, so every id has a token. */
    size_t holes = 0;
    for (int64_t id = 0; id < n; id++) holes += !h->tokens[id].ptr;
    if (holes) {
        ql_status st = arena_reserve(h, holes * 24);
        if (st) return st;
        for (int64_t id = 0; id < n; id++) {
            if (h->tokens[id].ptr) continue;
            int len = snprintf(h->arena + h->arena_len, 24, "[qloop-unused-%lld]", (long long)id);
            h->tokens[id] = (ql_str){(const char *)(uintptr_t)h->arena_len, (uint64_t)len};
            h->types[id] = QL_TOKEN_UNUSED;
            h->arena_len += (size_t)len + 1;
        }
    }
    return QL_OK;
}

/* Merges as "left right" strings or [left, right] pairs. Pair texts are joined in the
 * arena; offsets are turned into pointers once the arena is final (fix_arena). */
static ql_status read_merges(hf_tok *h) {
    const json_t *merges = json_object_get(json_object_get(h->root, "model"), "merges");
    size_t n = json_array_size(merges);
    if (!n) return QL_OK;
    if (!(h->merges = calloc(n, sizeof *h->merges)))
        return ql_fail(h->err, QL_ERR_NOMEM, "%s: out of memory", h->path);
    for (size_t i = 0; i < n; i++) {
        const json_t *m = json_array_get(merges, i);
        if (json_is_string(m)) {
            h->merges[i] = (ql_str){json_string_value(m), json_string_length(m)};
            continue;
        }
        const json_t *a = json_array_get(m, 0), *b = json_array_get(m, 1);
        if (json_array_size(m) != 2 || !json_is_string(a) || !json_is_string(b))
            return ql_fail(h->err, QL_ERR_CORRUPT,
                           "%s: model.merges[%zu] is neither \"a b\" nor [a, b]", h->path, i);
        size_t la = json_string_length(a), lb = json_string_length(b);
        ql_status st = arena_reserve(h, la + lb + 2);
        if (st) return st;
        char *p = h->arena + h->arena_len;
        memcpy(p, json_string_value(a), la);
        p[la] = ' ';
        memcpy(p + la + 1, json_string_value(b), lb);
        p[la + lb + 1] = '\0';
        h->merges[i] = (ql_str){NULL, la + lb + 1};
        h->merges[i].ptr = (const char *)(uintptr_t)h->arena_len;
        h->arena_len += la + lb + 2;
    }
    h->d.n_merges = n;
    return QL_OK;
}

/* Arena texts were stored as offsets (the arena moves while it grows): point them now. */
static void fix_arena(hf_tok *h) {
    for (int32_t id = 0; id < h->d.n_tokens; id++)
        if (h->types[id] == QL_TOKEN_UNUSED)
            h->tokens[id].ptr = h->arena + (uintptr_t)h->tokens[id].ptr;
    const json_t *merges = json_object_get(json_object_get(h->root, "model"), "merges");
    for (uint64_t i = 0; i < h->d.n_merges; i++)
        if (!json_is_string(json_array_get(merges, i)))
            h->merges[i].ptr = h->arena + (uintptr_t)h->merges[i].ptr;
}

/* Id of model.vocab entry `text` (a hash lookup), or -1. */
static int32_t vocab_id(const hf_tok *h, const char *text) {
    const json_t *vocab = json_object_get(json_object_get(h->root, "model"), "vocab");
    const json_t *v = json_object_get(vocab, text);
    return json_is_integer(v) ? (int32_t)json_integer_value(v) : -1;
}

/* Id of the token with text `text` (added tokens included), or -1. */
static int32_t find_token(const hf_tok *h, const char *text) {
    size_t len = strlen(text);
    int32_t id = vocab_id(h, text);
    if (id >= 0 && h->tokens[id].len == len && !memcmp(h->tokens[id].ptr, text, len)) return id;
    for (int32_t id = 0; id < h->d.n_tokens; id++)
        if (h->tokens[id].len == len && !memcmp(h->tokens[id].ptr, text, len)) return id;
    return -1;
}

/* SentencePiece-style scores: -rank of the merge that makes the token; byte tokens
 * <0xNN> are BYTE. Tokens no merge makes (single characters) score lowest. */
static void spm_scores(hf_tok *h) {
    for (int32_t id = 0; id < h->d.n_tokens; id++) {
        h->scores[id] = -1e9f;
        const ql_str *t = &h->tokens[id];
        if (h->types[id] == QL_TOKEN_NORMAL && t->len == 6 && !memcmp(t->ptr, "<0x", 3) &&
            t->ptr[5] == '>')
            h->types[id] = QL_TOKEN_BYTE;
    }
    char buf[512];
    for (uint64_t i = 0; i < h->d.n_merges; i++) {
        const ql_str *m = &h->merges[i];
        const char *sp = memchr(m->ptr, ' ', m->len);
        if (!sp || m->len >= sizeof buf) continue;
        size_t la = (size_t)(sp - m->ptr);
        memcpy(buf, m->ptr, la);
        memcpy(buf + la, sp + 1, m->len - la - 1);
        buf[m->len - 1] = '\0';
        int32_t id = vocab_id(h, buf);
        if (id >= 0 && h->scores[id] < -(float)i) h->scores[id] = -(float)i;
    }
}

/* ---- special tokens ------------------------------------------------------------------ */

/* tokenizer_config.json's bos_token / eos_token: a string or {"content": ...}. */
static int32_t config_token(const hf_tok *h, const char *key) {
    const json_t *v = json_object_get(h->config, key);
    if (json_is_object(v)) v = json_object_get(v, "content");
    return json_is_string(v) ? find_token(h, json_string_value(v)) : -1;
}

static void read_specials(hf_tok *h) {
    ql_vocab_desc *d = &h->d;
    d->bos_id = config_token(h, "bos_token");
    d->eos_id = config_token(h, "eos_token");
    d->pad_id = config_token(h, "pad_token");
    d->unk_id = config_token(h, "unk_token");
    const json_t *unk = json_object_get(json_object_get(h->root, "model"), "unk_token");
    if (json_is_string(unk)) d->unk_id = find_token(h, json_string_value(unk));
    d->add_bos = json_is_true(json_object_get(h->config, "add_bos_token"));
    d->add_eos = json_is_true(json_object_get(h->config, "add_eos_token"));
    const json_t *pp = json_object_get(h->root, "post_processor");
    if (!json_is_object(pp) || strcmp(type_of(pp), "TemplateProcessing")) return;
    /* single: [SpecialToken?, Sequence $A, SpecialToken?] decides what add_special adds */
    const json_t *single = json_object_get(pp, "single");
    bool seen_a = false;
    d->add_bos = d->add_eos = false;
    for (size_t i = 0; i < json_array_size(single); i++) {
        const json_t *item = json_array_get(single, i);
        if (json_object_get(item, "Sequence")) {
            seen_a = true;
            continue;
        }
        const json_t *sp = json_object_get(json_object_get(item, "SpecialToken"), "id");
        int32_t id = json_is_string(sp) ? find_token(h, json_string_value(sp)) : -1;
        if (id < 0) continue;
        if (!seen_a) {
            d->bos_id = id;
            d->add_bos = true;
        } else {
            d->eos_id = id;
            d->add_eos = true;
        }
    }
}

/* ---- entry point ---------------------------------------------------------------------- */

/* When nothing named an EOS: config.json's eos_token_id, else a conventional text. */
static void fallback_eos(hf_tok *h, const char *dir) {
    static const char *const texts[] = {"</s>", "<|endoftext|>", "<|end_of_text|>", "<|eos|>",
                                        "<|im_end|>", "<eos>"};
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_t *cfg = ql_json_load_regular(path, 0, NULL);
    const json_t *v = json_object_get(cfg, "eos_token_id");
    if (json_is_array(v)) v = json_array_get(v, 0);
    if (json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) < h->d.n_tokens)
        h->d.eos_id = (int32_t)json_integer_value(v);
    json_decref(cfg);
    for (size_t i = 0; h->d.eos_id < 0 && i < sizeof texts / sizeof texts[0]; i++)
        h->d.eos_id = find_token(h, texts[i]);
}

static ql_status build(hf_tok *h, const char *dir, ql_tokenizer **out) {
    const json_t *model = json_object_get(h->root, "model");
    if (!json_is_object(model) || strcmp(type_of(model), "BPE"))
        return ql_fail(h->err, QL_ERR_UNSUPPORTED, "%s: model.type '%.40s' is not supported (BPE is)",
                       h->path, json_is_object(model) ? type_of(model) : "?");
    /* WordPiece-like affixes change what the merges mean; qloop's BPE has none. */
    static const char *const affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *a = json_object_get(model, affixes[i]);
        if (a && !json_is_null(a) && !(json_is_string(a) && !*json_string_value(a)))
            return ql_fail(h->err, QL_ERR_UNSUPPORTED, "%s: model.%s is not supported", h->path,
                           affixes[i]);
    }
    const char *pre;
    bool spm;
    ql_status st;
    if ((st = classify(h, &pre, &spm))) return st;
    ql_vocab_desc_defaults(&h->d, spm ? QL_VOCAB_SPM : QL_VOCAB_BPE, pre);
    /* the file's own setting wins over the one of the pre-tokenizer its regex matched */
    const json_t *im = json_object_get(model, "ignore_merges");
    if (!spm && json_is_boolean(im)) h->d.ignore_merges = json_is_true(im) ? 1 : 0;
    if ((st = read_vocab(h)) || (st = read_merges(h))) return st;
    fix_arena(h);
    ql_vocab_desc *d = &h->d;
    d->tokens = h->tokens;
    d->types = h->types;
    d->flags = h->flags;
    d->merges = h->merges;
    if (spm) {
        spm_scores(h);
        d->scores = h->scores;
        d->add_space_prefix = spm_space_prefix(h->root);
    }
    read_specials(h);
    if (d->eos_id < 0) fallback_eos(h, dir);
    return ql_tokenizer_from_desc(d, out, h->err);
}

ql_status ql_tokenizer_from_hf(const char *dir, ql_tokenizer **out, ql_error *err) {
    *out = NULL;
    char path[4096], cpath[4096];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    snprintf(cpath, sizeof cpath, "%s/tokenizer_config.json", dir);
    if (access(path, F_OK) != 0) return ql_fail(err, QL_ERR_NOT_FOUND, "%s: no tokenizer.json", dir);
    hf_tok h;
    memset(&h, 0, sizeof h);
    h.path = path;
    h.err = err;
    json_error_t je;
    if (!(h.root = ql_json_load_regular(path, JSON_REJECT_DUPLICATES, &je)))
        return ql_json_fail(err, path, &je);
    h.config = ql_json_load_regular(cpath, 0, &je); /* optional */
    ql_status st = build(&h, dir, out);
    json_decref(h.root);
    json_decref(h.config);
    free(h.tokens);
    free(h.types);
    free(h.flags);
    free(h.scores);
    free(h.merges);
    free(h.arena);
    return st;
}
