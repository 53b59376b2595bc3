/*
 * qloop.h: the one public header of qloop.
 *
 * qloop runs Llama-family language models on CPUs. This header is the whole contract
 * between the library and its users (the `qloop` command-line tool uses nothing else).
 *
 * Conventions
 *  - Handles (ql_model, ql_session, ql_sampler) are opaque. Freeing NULL is a no-op.
 *  - Every fallible call returns a ql_status and, when `err` is not NULL, fills it with a
 *    message that names the file, tensor or byte offset concerned. On failure the output
 *    handle is set to NULL and nothing leaks.
 *  - Params structs are initialised with their *_default() function and then edited, so
 *    that fields added later get sensible values in old callers.
 *  - Token ids are int32_t. Text is UTF-8 bytes with an explicit length.
 *  - A ql_model is read-only after loading and may be shared by several sessions; a
 *    ql_session or ql_sampler must be used by one thread at a time.
 */
#ifndef QLOOP_H
#define QLOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QL_VERSION_MAJOR 0
#define QL_VERSION_MINOR 1
#define QL_VERSION_PATCH 0

/* Result codes. The list only grows at the end. */
typedef enum ql_status {
    QL_OK = 0,
    QL_ERR_IO = 1,          /* a file could not be opened, read, mapped or written */
    QL_ERR_CORRUPT = 2,     /* a file is malformed: truncated, inconsistent, out of range */
    QL_ERR_UNSUPPORTED = 3, /* well-formed but not handled: unknown architecture, type */
    QL_ERR_NOMEM = 4,       /* an allocation failed */
    QL_ERR_ARG = 5,         /* a caller passed an invalid argument */
    QL_ERR_RANGE = 6,       /* a limit was reached: context full, output buffer too small */
    QL_ERR_NOT_FOUND = 7,   /* a named key, tensor or file does not exist */
} ql_status;

/* Filled by fallible calls. `message` is always NUL-terminated. */
typedef struct ql_error {
    ql_status status;
    char message[512];
} ql_error;

/* A short constant string for a status code ("ok", "I/O error", ...). */
const char *ql_status_str(ql_status status);

/* "0.1.0" */
const char *ql_version(void);

/* ------------------------------------------------------------------------------------ */
/* Models                                                                               */
/* ------------------------------------------------------------------------------------ */

typedef struct ql_model ql_model;

typedef struct ql_model_params {
    uint32_t struct_size; /* sizeof(ql_model_params); set by the _default() function */
    bool vocab_only;      /* load only the tokenizer (vocab GGUF files have no tensors) */
    bool verify;          /* GGUF: check every tensor against its qloop.checksum.* key
                             first; a mismatch fails the load with QL_ERR_CORRUPT naming
                             the tensor (a file without checksums also fails) */
} ql_model_params;

ql_model_params ql_model_params_default(void);

/*
 * Loads a model from a GGUF file (memory-mapped, never modified).
 * Errors: QL_ERR_IO (cannot open/map), QL_ERR_CORRUPT (malformed file; the message names
 * the field or tensor and the byte offset), QL_ERR_UNSUPPORTED (architecture, tensor
 * type or tokenizer not handled), QL_ERR_NOMEM.
 */
ql_status ql_model_load(const char *path, const ql_model_params *params, ql_model **out,
                        ql_error *err);
void ql_model_free(ql_model *model);

/* Hyperparameters and vocabulary facts. */
typedef struct ql_model_info {
    const char *architecture; /* "llama", ... */
    const char *name;         /* general.name, or "" */
    int32_t n_vocab;
    int32_t n_ctx_train;      /* context length the file declares */
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim;
    int32_t n_ff;
    uint64_t n_params;        /* total elements over all weight tensors */
    uint64_t weight_bytes;    /* bytes of tensor data */
    int32_t bos_id;           /* -1 when the vocabulary has none */
    int32_t eos_id;           /* -1 when the vocabulary has none */
    uint64_t decode_bytes;    /* weight bytes one generated token reads: every matrix once,
                                 one embedding row, the routed experts' share for MoE */
    const char *weight_type;  /* type of the attention/FFN matrices ("f32", "q4_0", ...) */
} ql_model_info;

void ql_model_get_info(const ql_model *model, ql_model_info *info);

/* ------------------------------------------------------------------------------------ */
/* Tokenizer                                                                            */
/* ------------------------------------------------------------------------------------ */

/*
 * Tokenizes `len` bytes of UTF-8 text.
 *   add_special:   add BOS (and EOS) as the vocabulary's metadata asks.
 *   parse_special: text such as "<s>" or "<|eot_id|>" becomes the special token; when
 *                  false it is tokenized as ordinary text.
 * Writes at most `cap` ids to `ids` and the count needed to *n_ids. When the count
 * exceeds `cap` the call returns QL_ERR_RANGE and *n_ids says how many are needed, so a
 * caller may call once with cap = 0 to size the buffer.
 */
ql_status ql_tokenize(const ql_model *model, const char *text, size_t len, bool add_special,
                      bool parse_special, int32_t *ids, size_t cap, size_t *n_ids,
                      ql_error *err);

/*
 * The bytes that token `id` contributes to the text. Byte tokens (<0xNN>) give their one
 * byte, so a multi-byte character may span several pieces: concatenate pieces before
 * treating them as UTF-8. Control tokens (BOS, EOS, ...) give "" unless `show_special`.
 * SentencePiece's "▁" becomes a space; byte-level BPE symbols become their bytes.
 * Returns the piece length, or -1 for an id outside the vocabulary. The piece is
 * truncated to `cap` bytes but the full length is returned.
 */
int32_t ql_token_to_piece(const ql_model *model, int32_t id, bool show_special, char *buf,
                          size_t cap);

/*
 * Detokenizes a whole sequence: the pieces concatenated; for SentencePiece vocabularies
 * the leading space that tokenization added is removed when `remove_leading_space`.
 * Same buffer convention as ql_tokenize (QL_ERR_RANGE with *n_bytes = bytes needed).
 */
ql_status ql_detokenize(const ql_model *model, const int32_t *ids, size_t n_ids,
                        bool remove_leading_space, bool show_special, char *text, size_t cap,
                        size_t *n_bytes, ql_error *err);

/* True when `id` ends generation (EOS, EOT, ...). */
bool ql_token_is_eog(const ql_model *model, int32_t id);

/* ------------------------------------------------------------------------------------ */
/* Sessions: a KV cache and scratch buffers for evaluating one sequence                 */
/* ------------------------------------------------------------------------------------ */

typedef struct ql_session ql_session;

typedef struct ql_session_params {
    uint32_t struct_size;
    int32_t n_ctx;     /* KV cache length in tokens; 0 = the model's n_ctx_train */
    int32_t n_threads; /* worker threads; 0 = number of physical cores */
    int32_t n_batch;   /* most tokens per batched evaluation step; 0 = 512 */
} ql_session_params;

ql_session_params ql_session_params_default(void);

ql_status ql_session_new(const ql_model *model, const ql_session_params *params,
                         ql_session **out, ql_error *err);
void ql_session_free(ql_session *session);

/*
 * Evaluates `n` tokens appended at the current position (prompt tokens in one batched
 * pass, or one token at a time during generation) and advances the position by n.
 * If `logits` is not NULL it receives float logits, n_vocab per row: the rows of all n
 * tokens when `all_logits`, else only the last token's row.
 * Errors: QL_ERR_RANGE (context full: nothing is evaluated), QL_ERR_ARG (id outside the
 * vocabulary; nothing is evaluated).
 * Results do not depend on the thread count or on how a sequence is split into calls
 * beyond float32 rounding of the matmul order (see docs/).
 */
ql_status ql_session_eval(ql_session *session, const int32_t *ids, size_t n, float *logits,
                          bool all_logits, ql_error *err);

/* Tokens evaluated so far (the next token's position). */
int32_t ql_session_pos(const ql_session *session);
int32_t ql_session_n_ctx(const ql_session *session);
int32_t ql_session_n_threads(const ql_session *session);

/* Forgets every token: the next eval starts at position 0. */
void ql_session_reset(ql_session *session);

/* Called before every matrix multiplication of an eval with its input activations: `x`
 * holds n_tok rows of k floats (for an expert, only the tokens routed to it). `name` is
 * the weight's GGUF tensor name ("blk.0.attn_q.weight"), `expert` its expert index or -1.
 * Used by `qloop imatrix` to collect activation statistics. fn = NULL removes it. The
 * callback runs on the evaluating thread, between the pool's parallel steps. */
typedef void (*ql_activation_fn)(void *user, const char *name, int32_t expert, const float *x,
                                 int64_t n_tok, int64_t k);
void ql_session_set_activation_observer(ql_session *session, ql_activation_fn fn, void *user);

/* ------------------------------------------------------------------------------------ */
/* Sampling                                                                             */
/* ------------------------------------------------------------------------------------ */

typedef struct ql_sampler ql_sampler;

typedef struct ql_sampler_params {
    uint32_t struct_size;
    float temperature;    /* <= 0: greedy (argmax, lowest id on ties) */
    int32_t top_k;        /* keep the k most likely; <= 0: off */
    float top_p;          /* nucleus: smallest set with probability >= p; >= 1: off */
    float min_p;          /* drop tokens with p < min_p * p_max; <= 0: off */
    float repeat_penalty; /* CTRL-style penalty on the last repeat_last_n tokens; 1: off */
    int32_t repeat_last_n;
    uint64_t seed;        /* same seed, same logits: same tokens */
} ql_sampler_params;

ql_sampler_params ql_sampler_params_default(void);

ql_status ql_sampler_new(const ql_sampler_params *params, int32_t n_vocab, ql_sampler **out,
                         ql_error *err);
void ql_sampler_free(ql_sampler *sampler);

/*
 * Picks a token from one row of n_vocab logits. `logits` is not modified. The returned
 * token is remembered for the repetition penalty. Prompt tokens may be fed to
 * ql_sampler_accept so the penalty sees them too.
 */
int32_t ql_sampler_sample(ql_sampler *sampler, const float *logits);
void ql_sampler_accept(ql_sampler *sampler, int32_t id);
void ql_sampler_reset(ql_sampler *sampler);

/* ------------------------------------------------------------------------------------ */
/* File inspection: the metadata and tensor table of any GGUF file                      */
/* ------------------------------------------------------------------------------------ */

typedef struct ql_file ql_file;

/* Maps and validates a GGUF file without building a model from it (any architecture).
 * Errors as for ql_model_load. */
ql_status ql_file_open(const char *path, ql_file **out, ql_error *err);
void ql_file_free(ql_file *file);

uint32_t ql_file_version(const ql_file *file);
uint64_t ql_file_alignment(const ql_file *file);
uint64_t ql_file_n_meta(const ql_file *file);
uint64_t ql_file_n_tensors(const ql_file *file);

/* Metadata entry i: its key (NUL-terminated copy, valid until ql_file_free), its type
 * name ("u32", "string", "array[string]", ...) and its value as text. Arrays print their
 * first `max_items` elements then "... (N items)"; strings are printed with C escapes.
 * The text is truncated to `cap` bytes; returns false when i is out of range. */
bool ql_file_meta(const ql_file *file, uint64_t i, const char **key, const char **type_name,
                  char *value, size_t cap, size_t max_items);

typedef struct ql_tensor_desc {
    const char *name; /* NUL-terminated copy, valid until ql_file_free */
    uint32_t n_dims;
    int64_t ne[4];    /* ne[0] = row length */
    const char *type_name; /* "f32", "q4_0", ... */
    uint64_t offset;  /* absolute offset in the file */
    uint64_t nbytes;
} ql_tensor_desc;

/* Tensor i; false when out of range. */
bool ql_file_tensor(const ql_file *file, uint64_t i, ql_tensor_desc *desc);

/* ------------------------------------------------------------------------------------ */
/* Machine                                                                              */
/* ------------------------------------------------------------------------------------ */

/* Measures this machine's memory read bandwidth in GB/s (1e9 bytes/s): `n_threads` threads
 * (0 = physical cores) stream a buffer of `bytes` (0 = 1 GiB) several times with
 * independent accumulators; the best pass counts. Returns a negative value when the
 * buffer cannot be allocated. */
double ql_read_bandwidth_gbps(size_t bytes, int32_t n_threads);

/* Physical cores of this machine (at least 1). */
int32_t ql_physical_cores(void);

/* Writes a human-readable report of the CPU features found, the instruction-set levels
 * this binary has, the level in use, and which level's kernel serves each operation.
 * Truncated to cap bytes (NUL-terminated); returns the full length. */
size_t ql_cpu_report(char *buf, size_t cap);

/* The instruction-set level whose kernels are in use ("scalar", "avx2", ...). */
const char *ql_isa_name(void);

/* ------------------------------------------------------------------------------------ */
/* Quantization and checksums                                                           */
/* ------------------------------------------------------------------------------------ */

/* Reported after each tensor is written. Strings are valid during the callback only. */
typedef struct ql_quantize_progress {
    uint64_t index, count;   /* this tensor (0-based) of count */
    const char *name;
    const char *type_name;   /* stored type: "q4_k", ... */
    const char *src_type_name;
    uint32_t n_dims;
    int64_t ne[4];
    uint64_t bytes_in, bytes_out; /* this tensor's data, input and output */
    uint64_t done_in, total_in;   /* input bytes of the tensors done so far, of all */
    double rmse;             /* RMS difference of the stored values from the input's */
    double seconds;          /* since ql_quantize started */
} ql_quantize_progress;

typedef void (*ql_quantize_progress_fn)(const ql_quantize_progress *p, void *user);

typedef struct ql_quantize_params {
    uint32_t struct_size;
    const char *type;        /* recipe: "q8_0", "q4_0", "q4_1", "q4_k_s", "q4_k_m",
                                "q5_k_m", "q6_k", "f16", "bf16", "f32"; default "q8_0" */
    const char *imatrix;     /* imatrix.dat path weighting the error search, or NULL */
    int32_t n_threads;       /* 0 = physical cores */
    bool search;             /* error-minimising scales (default); false: round-to-nearest */
    ql_quantize_progress_fn progress; /* may be NULL */
    void *progress_user;
} ql_quantize_params;

ql_quantize_params ql_quantize_params_default(void);

/* The recipe names accepted by ql_quantize_params.type, '|'-separated. */
const char *ql_quantize_type_names(void);

/*
 * Writes a quantized copy of the GGUF model `in` to `out`: all metadata is copied,
 * general.file_type set, qloop.quantize.* keys record how, and qloop.checksum.<tensor>
 * holds the XXH3-64 of each tensor's data. The file is written to "<out>.tmp", fsynced and
 * renamed, so `out` never holds a partial file. `in` is never modified.
 * Errors: QL_ERR_ARG (unknown type, `out` is `in` (same path or same file)),
 * QL_ERR_UNSUPPORTED (input kind or tensor type not handled), errors of ql_file_open for
 * `in` and of the imatrix, QL_ERR_IO (writing), QL_ERR_NOMEM.
 */
ql_status ql_quantize(const char *in, const char *out, const ql_quantize_params *params,
                      ql_error *err);

typedef enum ql_verify_state {
    QL_VERIFY_OK = 0,
    QL_VERIFY_MISMATCH = 1, /* the data's XXH3-64 differs from the stored checksum */
    QL_VERIFY_MISSING = 2,  /* the tensor has no qloop.checksum.* key */
} ql_verify_state;

typedef struct ql_verify_result {
    uint64_t n_tensors, n_ok, n_mismatch, n_missing;
} ql_verify_result;

/* Called once per tensor, in file order; `name` is valid during the call. */
typedef void (*ql_verify_fn)(const char *name, ql_verify_state state, uint64_t stored,
                             uint64_t actual, void *user);

/*
 * Recomputes the XXH3-64 checksum of every tensor of a GGUF file and compares it with its
 * qloop.checksum.<name> key. QL_OK when the file could be checked (mismatches are counted
 * in *result, which may be NULL); QL_ERR_NOT_FOUND when the file has no checksum keys at
 * all; errors of ql_file_open.
 */
ql_status ql_verify(const char *path, ql_verify_fn fn, void *user, ql_verify_result *result,
                    ql_error *err);

#ifdef __cplusplus
}
#endif

#endif /* QLOOP_H */
