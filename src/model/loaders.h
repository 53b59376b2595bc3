/* src/model/loaders.h: the two model sources (internal). Each fills m->architecture,
 * m->name, m->hp (unless m->vocab_only), m->tok and m->src; binding is common. */
#ifndef QL_MODEL_LOADERS_H
#define QL_MODEL_LOADERS_H

#include "model.h"

/* m->path is a GGUF file. */
ql_status ql_load_gguf(ql_model *m, ql_error *err);

/* m->path is a Hugging Face folder: config.json, *.safetensors, tokenizer.json. */
ql_status ql_load_hf(ql_model *m, ql_error *err);
void ql_hf_close(struct ql_hf *hf);

/* Checks hyperparameters for consistency and range; the message names `path`. */
ql_status ql_hparams_check(const char *path, const ql_hparams *hp, ql_error *err);

#endif
