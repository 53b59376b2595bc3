/* src/model/hf.c: Hugging Face folders (placeholder until the safetensors loader lands). */
#include "loaders.h"
#include "runtime/error.h"

ql_status ql_load_hf(ql_model *m, ql_error *err) {
    return ql_fail(err, QL_ERR_UNSUPPORTED, "%s: Hugging Face folders are not supported yet",
                   m->path);
}

void ql_hf_close(struct ql_hf *hf) { (void)hf; }
