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
    bool plain_layout;    /* keep quantized weights in the file's layout, memory-mapped.
                             By default the matrices the CPU's kernels can run in their
                             grouped layout (16 rows interleaved, so that decode reads one
                             stream) are copied into it at load: the mapped file's pages of
                             those matrices are released and the copy takes their place
                             in memory. Results are the same bit for bit either way. */
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
/* The model the session evaluates. */
const ql_model *ql_session_model(const ql_session *session);

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

/* Where an eval's time goes, by weight: while profiling is on, every matrix multiplication
 * adds its wall time (the activations' conversion and the threads' barrier included) and
 * the bytes of its weight matrix to the entry of the weight's name without the block
 * prefix ("blk.3.attn_q.weight" counts as "attn_q.weight"), so one entry sums a role over
 * the layers. A decode step that multiplies several weights by one input as one job (q, k
 * and v; gate and up) counts once, under the names joined by '+'. At most
 * QL_PROFILE_ENTRIES entries; further names count under "other". Time outside the
 * multiplications (attention, norms, RoPE, sampling) is what the caller's own clock shows
 * beyond the sum. Profiling costs two clock reads per multiplication. */
enum { QL_PROFILE_ENTRIES = 32 };
typedef struct ql_matmul_profile {
    char name[128];
    uint64_t calls;      /* multiplications (jobs) */
    uint64_t tokens;     /* token rows multiplied, summed over calls */
    double seconds;      /* wall time, summed over calls */
    double weight_bytes; /* bytes of the weight matrices read, summed over calls */
} ql_matmul_profile;
/* Starts (on) or stops counting; the counts are kept until ql_session_profile_reset.
 * Errors: QL_ERR_NOMEM (the first start allocates the table). */
ql_status ql_session_set_profiling(ql_session *session, bool on, ql_error *err);
void ql_session_profile_reset(ql_session *session);
/* Copies up to max entries, in the order their names were first seen, and returns how
 * many there are. */
int ql_session_profile(const ql_session *session, ql_matmul_profile *out, int max);

/* ------------------------------------------------------------------------------------ */
/* Loop layers: blocks of layers run several times per token (shared/spec/loop-layers.md) */
/* ------------------------------------------------------------------------------------ */

#define QL_LOOP_MAX_BLOCKS 8
#define QL_LOOP_HIST 64 /* histogram buckets of iteration counts; the last holds >= 63 */

typedef enum ql_loop_strategy {
    QL_LOOP_FIXED = 0,   /* fixed_count: loop_count iterations (capped by max_loop_count) */
    QL_LOOP_DYNAMIC = 1, /* dynamic_stop: until the block output's mean cosine to the previous
                            iteration reaches cosine_threshold, within [min, max] */
} ql_loop_strategy;

typedef enum ql_loop_kv_mode {
    QL_LOOP_KV_VIRTUAL = 0, /* virtual_layers: V K/V slots per looped layer */
    QL_LOOP_KV_MERGE = 1,   /* merge_strategy: one cache; a token's iterations merged */
} ql_loop_kv_mode;

typedef enum ql_loop_attn {
    QL_LOOP_ATTN_PARALLEL = 0, /* a query reads all V slots (per-slot causal limit) */
    QL_LOOP_ATTN_SERIAL = 1,   /* iteration i writes and reads slot i mod V only */
} ql_loop_attn;

typedef enum ql_loop_merge {
    QL_LOOP_MERGE_EMA = 0,     /* m_1 = k_1, m_i = alpha m_{i-1} + (1 - alpha) k_i */
    QL_LOOP_MERGE_AVERAGE = 1, /* (1/n) sum k_i */
    QL_LOOP_MERGE_LAST = 2,    /* k_n */
} ql_loop_merge;

/* One loop block: physical layers start..end (inclusive) run as a unit. */
typedef struct ql_loop_block {
    int32_t start, end;
    int32_t loop_count;          /* iterations under QL_LOOP_FIXED; <= 0 skips the block */
    int32_t max_loop_count;      /* hard cap, both strategies */
    int32_t min_loop_count;      /* floor of QL_LOOP_DYNAMIC in virtual_layers mode */
    int32_t virtual_layer_count; /* V: K/V slots per looped layer (virtual_layers mode) */
} ql_loop_block;

/* Loop settings: the keys of the spec's section 2 (GGUF qloop.loop.*, config.json of
 * model_type loop_llama). n_blocks = 0 runs the plain model. Validation rules (checked by
 * ql_session_set_loop and the loaders): 0 <= start <= end < n_layer; each block starts
 * after the previous one ends; in virtual_layers mode V > 0, min_loop_count >= V,
 * max_loop_count >= min_loop_count and, under QL_LOOP_FIXED, loop_count == V; in merge
 * mode with ema 0 < ema_alpha < 1; 0 <= cosine_threshold is finite. */
typedef struct ql_loop_params {
    uint32_t struct_size;
    int32_t n_blocks;
    ql_loop_block blocks[QL_LOOP_MAX_BLOCKS];
    ql_loop_strategy strategy;
    float cosine_threshold; /* default 0.95 */
    float kl_threshold;     /* declared by the format, unused (default 0.01) */
    ql_loop_kv_mode kv_mode;
    ql_loop_attn attn;
    ql_loop_merge merge;
    float ema_alpha;        /* default 0.7 */
} ql_loop_params;

/* No blocks; every other field at the spec's default (counts 5 / 20 / 5, V 5, cosine
 * 0.95, virtual_layers, parallel, ema 0.7). ql_loop_block_default() gives a block with
 * those counts. */
ql_loop_params ql_loop_params_default(void);
ql_loop_block ql_loop_block_default(int32_t start, int32_t end);

/* The loop settings the model file declares (n_blocks = 0 for a plain model). A new
 * session starts with them. */
void ql_model_get_loop(const ql_model *model, ql_loop_params *out);

/* Checks `p` against the spec's validation list for a model of n_layer layers. The
 * message names the offending key and value. QL_ERR_ARG when invalid. */
ql_status ql_loop_params_check(const ql_loop_params *p, int32_t n_layer, ql_error *err);

/*
 * Replaces the session's loop settings (NULL = none: the plain model). The settings are
 * validated first (ql_loop_params_check); on error nothing changes. On success the KV
 * cache is re-laid out for the new settings and every token is forgotten, as by
 * ql_session_reset. Errors: QL_ERR_ARG (invalid settings), QL_ERR_NOMEM (the session keeps
 * its old settings). In parallel and merge_strategy modes the logits depend on how a
 * sequence is split into evaluations (tokens of one batch see each other's K/V of the
 * current iteration; spec test 4); virtual_layers + serial with loop_count <= V does not.
 */
ql_status ql_session_set_loop(ql_session *session, const ql_loop_params *p, ql_error *err);
void ql_session_get_loop(const ql_session *session, ql_loop_params *out);

/* Per-block counters. One "forward" is one batch of ql_session_eval (a prompt longer than
 * n_batch is several); one stop decision covers all tokens of a forward. */
typedef struct ql_loop_block_stats {
    int32_t last_iterations;   /* iterations in the most recent forward */
    uint64_t forwards;         /* forwards that ran this block */
    uint64_t iterations;       /* sum over forwards */
    uint64_t token_iterations; /* sum over tokens of the iterations each went through */
    uint64_t tokens;           /* tokens that went through the block */
    double mean_iterations;    /* token_iterations / tokens (0 when none) */
    uint64_t hist[QL_LOOP_HIST]; /* tokens by iteration count (last bucket: >= 63) */
    uint64_t slots_written;    /* K/V rows (token x looped layer x iteration) written */
    uint64_t kv_bytes_per_layer; /* K+V cache bytes of one looped layer of the block */
} ql_loop_block_stats;

typedef struct ql_loop_stats {
    int32_t n_blocks;
    uint64_t forwards, tokens;  /* evaluations since the last ql_session_loop_stats_reset */
    uint64_t kv_bytes;          /* K+V cache bytes of the whole session */
    ql_loop_block_stats blocks[QL_LOOP_MAX_BLOCKS];
} ql_loop_stats;

/* Counters since the session was created, its loop settings changed, or the last
 * ql_session_loop_stats_reset (ql_session_reset keeps them). */
void ql_session_loop_stats(const ql_session *session, ql_loop_stats *out);
void ql_session_loop_stats_reset(ql_session *session);

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

/* A read-bandwidth probe kept for repeated single passes (its buffer allocated and
 * touched once): for sampling the bandwidth between other work, e.g. between the tokens of
 * a decode benchmark, at the moments that work runs. */
typedef struct ql_bandwidth_probe ql_bandwidth_probe;

/* `bytes` (0 = 256 MiB) read by `n_threads` threads (0 = physical cores); NULL when out of
 * memory. */
ql_bandwidth_probe *ql_bandwidth_probe_new(size_t bytes, int32_t n_threads);
/* One pass over the buffer; adds its bytes and seconds to the probe's totals and returns
 * its GB/s. */
double ql_bandwidth_probe_pass(ql_bandwidth_probe *probe);
/* Bytes / seconds over every pass since the last reset (GB/s; 0 before any pass), then,
 * when `reset`, starts the totals again. */
double ql_bandwidth_probe_mean(ql_bandwidth_probe *probe, bool reset);
void ql_bandwidth_probe_free(ql_bandwidth_probe *probe);

/* Seconds on a monotonic clock (an arbitrary origin): for timing. */
double ql_time_seconds(void);

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
    bool llamacpp_ref;       /* instead: llama.cpp's reference quantizer (what it writes
                                without an imatrix), to compare with; excludes imatrix */
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

/* ------------------------------------------------------------------------------------ */
/* Quality tools: importance matrices, perplexity and KL divergence, synthetic models   */
/* ------------------------------------------------------------------------------------ */

/* Collects importance vectors: for each weight matrix (and each expert of an MoE tensor)
 * the mean of x_i^2 over every input row x that met it, per input column i. */
typedef struct ql_imatrix_collector ql_imatrix_collector;

ql_status ql_imatrix_collector_new(ql_imatrix_collector **out, ql_error *err);
void ql_imatrix_collector_free(ql_imatrix_collector *c);
/* Installs the collector as `session`'s activation observer (c = NULL removes it). The
 * collector must outlive the session's evals while attached. */
void ql_imatrix_collector_attach(ql_imatrix_collector *c, ql_session *session);
/* The observer itself (a ql_activation_fn; `user` is the collector), for callers that
 * chain observers. */
void ql_imatrix_collector_observe(void *user, const char *name, int32_t expert, const float *x,
                                  int64_t n_tok, int64_t k);
/* Counts one chunk of calibration text (stored as the file's n_call). */
void ql_imatrix_collector_end_chunk(ql_imatrix_collector *c);
/* Tensors seen so far. */
int32_t ql_imatrix_collector_count(const ql_imatrix_collector *c);
/*
 * Writes the vectors in imatrix.dat layout (quant/imatrix.h; what ql_quantize_params.imatrix
 * reads): per tensor (mean x_i^2) * n_call, experts one after another in one entry, then
 * the chunk count and `dataset` (may be NULL). Written to "<path>.tmp", fsynced, renamed.
 * Errors: QL_ERR_ARG (nothing observed, a tensor seen with two row lengths), QL_ERR_NOMEM
 * (an allocation failed while observing), QL_ERR_IO, QL_ERR_UNSUPPORTED (entry too big).
 */
ql_status ql_imatrix_collector_save(const ql_imatrix_collector *c, const char *path,
                                    const char *dataset, ql_error *err);

typedef struct ql_perplexity_result {
    uint64_t n_windows, n_tokens; /* windows evaluated, positions scored */
    double nll, ppl;              /* model: mean negative log-likelihood (nats), exp(nll) */
    bool has_base;                /* the fields below are set (a base model was given) */
    double base_nll, base_ppl;    /* the base model on the same tokens */
    double kld_mean, kld_max;     /* KL(base || model) per position, nats: mean and max */
    double top1;                  /* fraction of positions where both argmaxes agree */
    double ppl_ratio;             /* ppl / base_ppl */
} ql_perplexity_result;

/* Called after each window with the totals so far. */
typedef void (*ql_perplexity_progress_fn)(const ql_perplexity_result *so_far,
                                          uint64_t n_windows_total, void *user);

typedef struct ql_perplexity_params {
    uint32_t struct_size;
    int32_t n_ctx;     /* window length in tokens, >= 2 (default 256) */
    int32_t n_chunks;  /* windows to evaluate; <= 0: every whole window of the tokens */
    int32_t n_threads; /* 0 = physical cores */
    ql_perplexity_progress_fn progress; /* may be NULL */
    void *progress_user;
} ql_perplexity_params;

ql_perplexity_params ql_perplexity_params_default(void);

/*
 * Perplexity of `model` on the token stream ids[0..n_ids) (tokenized without BOS), as
 * shared/models/README.md defines it: non-overlapping windows of n_ctx tokens; the model
 * sees BOS + the first n_ctx - 1 and all n_ctx tokens are scored (a vocabulary without
 * BOS sees the n_ctx tokens and the last n_ctx - 1 are scored). A trailing partial window
 * is dropped. With `base` (may be NULL), the base model is evaluated on the same inputs
 * and the KL divergence, top-1 agreement and perplexity ratio are filled in.
 * Errors: QL_ERR_ARG (fewer tokens than one window, id outside the vocabulary, vocab sizes
 * differ, n_ctx < 2, bad struct_size), errors of ql_session_new and ql_session_eval.
 */
ql_status ql_perplexity(const ql_model *model, const ql_model *base, const int32_t *ids,
                        size_t n_ids, const ql_perplexity_params *params,
                        ql_perplexity_result *result, ql_error *err);

/* The same on sessions the caller made, e.g. with loop settings applied
 * (ql_session_set_loop); their n_ctx must hold a window. params->n_threads is not used. */
ql_status ql_perplexity_sessions(ql_session *session, ql_session *base, const int32_t *ids,
                                 size_t n_ids, const ql_perplexity_params *params,
                                 ql_perplexity_result *result, ql_error *err);

typedef struct ql_synth_params {
    uint32_t struct_size;
    const char *like;   /* "llama-3.2-1b", "qwen2.5-0.5b", "llama-3.1-8b" (ql_synth_names) */
    const char *type;   /* a ql_quantize recipe ("q4_k_m", "f16", ...); default "f16" */
    const char *vocab;  /* GGUF whose tokenizer.ggml.* keys are copied, or NULL for a
                           generated byte-level BPE vocabulary of the model's size */
    uint64_t seed;      /* same seed, same bytes */
    int32_t n_threads;  /* 0 = physical cores */
    ql_quantize_progress_fn progress; /* after each tensor; may be NULL */
    void *progress_user;
} ql_synth_params;

ql_synth_params ql_synth_params_default(void);

/* The model names ql_synth accepts, '|'-separated (it also takes "llama-tiny" and
 * "llama-small", 2-layer Llama 3 shapes 64 and 256 wide, for tests). */
const char *ql_synth_names(void);

/*
 * Writes a synthetic model to `out`: the real model's tensor names, shapes and metadata
 * keys with seeded random weights (matrices N(0, 0.02^2), norms 1 + N(0, 0.02^2), biases
 * N(0, 0.02^2)), stored as the recipe says, one tensor at a time (memory stays at a few
 * rows per thread whatever the model size). Written to "<out>.tmp", fsynced, renamed;
 * per-tensor checksums as ql_quantize writes them.
 * Errors: QL_ERR_ARG (unknown name or type; a vocab file with more tokens than the model),
 * errors of ql_file_open for `vocab`, QL_ERR_IO, QL_ERR_NOMEM.
 */
ql_status ql_synth(const char *out, const ql_synth_params *params, ql_error *err);

/* ------------------------------------------------------------------------------------ */
/* Conversion: Hugging Face folder -> GGUF                                              */
/* ------------------------------------------------------------------------------------ */

typedef struct ql_convert_params {
    uint32_t struct_size;    /* sizeof(ql_convert_params); set by the _default() function */
    const char *type;        /* matrices as "f32", "f16" or "bf16"; NULL or "": each keeps its
                                safetensors dtype (lossless). 1-D tensors (norms, biases) and
                                MoE routers are always f32. */
    ql_quantize_progress_fn progress; /* after each tensor (rmse 0); may be NULL */
    void *progress_user;
} ql_convert_params;

ql_convert_params ql_convert_params_default(void);

/*
 * Writes the Hugging Face model folder `hf_dir` (config.json, *.safetensors, tokenizer.json
 * when present) as the GGUF file `out`, with llama.cpp's tensor names, metadata keys and
 * Q/K row order for the same architecture (llama for llama/mistral/mixtral, qwen2, qwen3,
 * qwen2moe), so that qloop and llama.cpp read it alike. What GGUF has no key for is stored
 * under qloop.* keys. The file is written to "<out>.tmp", fsynced and renamed, so `out` is
 * replaced atomically and never holds a partial file; `hf_dir` is never modified.
 * Errors: QL_ERR_ARG (bad type, `hf_dir` not a folder, `out` one of the folder's files),
 * errors of ql_model_load for the folder (QL_ERR_NOT_FOUND, QL_ERR_CORRUPT,
 * QL_ERR_UNSUPPORTED, named), QL_ERR_UNSUPPORTED for settings GGUF cannot hold, QL_ERR_IO
 * (writing), QL_ERR_NOMEM. A NULL params means the defaults.
 */
ql_status ql_convert(const char *hf_dir, const char *out, const ql_convert_params *params,
                     ql_error *err);

#ifdef __cplusplus
}
#endif

#endif /* QLOOP_H */
