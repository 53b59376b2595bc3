/* tests/model/test_model_verify.c: loading with verify = true checks tensor checksums. */
#include <stdint.h>
#include <unistd.h>

#include "qloop.h"
#include "test.h"

static char g_dir[64] = "/tmp/qloop-verify-XXXXXX";
static char g_q8[256];

static void test_verified_load_accepts_intact_file(void) {
    ql_model_params mp = ql_model_params_default();
    mp.verify = true;
    ql_model *m = NULL;
    ql_error e = {0};
    CHECK_MSG(ql_model_load(g_q8, &mp, &m, &e) == QL_OK, "%s", e.message);
    ql_model_free(m);
}

static void test_verified_load_names_the_corrupted_tensor(void) {
    char bad[300];
    snprintf(bad, sizeof bad, "%s/bad.gguf", g_dir);
    size_t n = 0;
    char *data = ql_test_read_file(g_q8, &n);
    CHECK(data != NULL);
    if (!data) return;
    data[n - 1000] ^= 0x10; /* inside the last tensors' data */
    FILE *f = fopen(bad, "wb");
    CHECK(f && fwrite(data, 1, n, f) == n);
    if (f) fclose(f);
    free(data);
    ql_model_params mp = ql_model_params_default();
    ql_model *m = NULL;
    ql_error e = {0};
    CHECK(ql_model_load(bad, &mp, &m, &e) == QL_OK); /* without verify it loads */
    ql_model_free(m);
    m = NULL;
    mp.verify = true;
    CHECK(ql_model_load(bad, &mp, &m, &e) == QL_ERR_CORRUPT);
    CHECK(m == NULL);
    CHECK_MSG(strstr(e.message, "bad.gguf") && strstr(e.message, "tensor '"), "%s", e.message);
    unlink(bad);
}

static void test_verified_load_refuses_file_without_checksums(void) {
    char path[1024];
    ql_model_params mp = ql_model_params_default();
    mp.verify = true;
    ql_model *m = NULL;
    ql_error e = {0};
    CHECK(ql_model_load(ql_test_shared(path, sizeof path, "models/stories260K.gguf"), &mp, &m, &e) ==
          QL_ERR_NOT_FOUND);
    CHECK(strstr(e.message, "checksum") != NULL);
}

int main(void) {
    if (!mkdtemp(g_dir)) return 1;
    snprintf(g_q8, sizeof g_q8, "%s/q8.gguf", g_dir);
    char src[1024];
    ql_quantize_params qp = ql_quantize_params_default();
    qp.type = "q8_0";
    ql_error e = {0};
    if (ql_quantize(ql_test_shared(src, sizeof src, "models/stories260K.gguf"), g_q8, &qp, &e) != QL_OK) {
        fprintf(stderr, "quantize: %s\n", e.message);
        return 1;
    }
    RUN(test_verified_load_accepts_intact_file);
    RUN(test_verified_load_names_the_corrupted_tensor);
    RUN(test_verified_load_refuses_file_without_checksums);
    unlink(g_q8);
    rmdir(g_dir);
    return TEST_REPORT();
}
