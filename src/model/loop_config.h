/*
 * src/model/loop_config.h: loop-layer settings (shared/spec/loop-layers.md section 2)
 * read from GGUF metadata (qloop.loop.*) or a loop_llama config.json, and written back
 * to GGUF (internal).
 *
 * GGUF keys, each optional except loop_layers (absent: a plain model):
 *   qloop.loop.loop_layers           array of [start, end] int arrays, or a flat int array
 *                                    start0, end0, start1, end1, ...
 *   qloop.loop.loop_count            int, or int array (one per block)
 *   qloop.loop.max_loop_count        int or int array
 *   qloop.loop.min_loop_count        int or int array
 *   qloop.loop.virtual_layer_count   int or int array
 *   qloop.loop.loop_strategy         "fixed_count" | "dynamic_stop"
 *   qloop.loop.kv_cache_mode         "virtual_layers" | "merge_strategy"
 *   qloop.loop.virtual_attention_mode "parallel" | "serial"
 *   qloop.loop.merge_strategy        "ema" | "average" | "last"
 *   qloop.loop.cosine_threshold, qloop.loop.kl_threshold, qloop.loop.merge_ema_alpha  f32
 * config.json uses the same names without the prefix.
 */
#ifndef QL_MODEL_LOOP_CONFIG_H
#define QL_MODEL_LOOP_CONFIG_H

#include "model/gguf.h"
#include "model/gguf_write.h"
#include "qloop.h"

/* Reads the qloop.loop.* keys of a GGUF file into *out (defaults for absent keys) and
 * validates them against {arch}.block_count. No loop_layers key: *out has no blocks.
 * Errors: QL_ERR_CORRUPT (a key of the wrong type or shape, or settings the spec's
 * validation rejects; the message names the key). */
ql_status ql_loop_config_from_gguf(const ql_gguf *g, ql_loop_params *out, ql_error *err);

/* The same for a config.json object (a jansson json_t *), validated against its
 * num_hidden_layers. Training-only keys are ignored. */
ql_status ql_loop_config_from_hf(const void *config_json, ql_loop_params *out, ql_error *err);

/* Writes `p` as qloop.loop.* keys (nothing when it has no blocks). */
ql_status ql_loop_config_to_gguf(ql_gguf_writer *w, const ql_loop_params *p, ql_error *err);

/* Names of the enum values as the config files spell them; NULL when out of range. */
const char *ql_loop_strategy_name(ql_loop_strategy s);
const char *ql_loop_kv_mode_name(ql_loop_kv_mode m);
const char *ql_loop_attn_name(ql_loop_attn a);
const char *ql_loop_merge_name(ql_loop_merge m);

#endif
