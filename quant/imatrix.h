/*
 * quant/imatrix.h: importance vectors (mean squared activation per input column of each
 * weight matrix) for `qloop quantize --imatrix FILE`.
 *
 * File format: llama.cpp's original imatrix.dat (all little-endian):
 *   i32 n_entries, then per entry: i32 name_len, name bytes, i32 n_call, i32 n_val,
 *   f32 values[n_val]; anything after the entries (dataset name) is ignored.
 * Only the relative size of the values within a vector matters to the quantizer.
 */
#ifndef QL_QUANT_IMATRIX_H
#define QL_QUANT_IMATRIX_H

#include <stdint.h>

#include "qloop.h"

typedef struct ql_imatrix ql_imatrix;

/* QL_ERR_IO, QL_ERR_CORRUPT (truncated, negative or oversized counts, non-finite or
 * negative values), QL_ERR_NOMEM. */
ql_status ql_imatrix_load(const char *path, ql_imatrix **out, ql_error *err);
void ql_imatrix_free(ql_imatrix *m);
/* The vector for tensor `name` when it has exactly k values, else NULL. */
const float *ql_imatrix_get(const ql_imatrix *m, const char *name, int64_t k);

/* The k values for expert `expert` of a merged MoE tensor `name` (n_expert matrices of row
 * length k, stored [k, rows, n_expert]). `qloop imatrix` (like llama.cpp) writes all experts
 * of such a tensor into one entry, expert e at values [e*k, (e+1)*k); a collector sizes the
 * entry by the highest expert it saw, so an entry of m*k values (m < n_expert) serves the
 * experts below m and leaves the others NULL. An entry of exactly k values (one vector for
 * the whole tensor) serves every expert. NULL when there is no entry, its length is not a
 * multiple of k, or expert is out of range. */
const float *ql_imatrix_get_expert(const ql_imatrix *m, const char *name, int64_t k,
                                   int64_t n_expert, int64_t expert);
int ql_imatrix_count(const ql_imatrix *m);

#endif
