/*
 * tests/loop/test_loop_config.c: loop settings: defaults, the spec's validation list
 * (spec test 8), config.json (loop_llama) and GGUF qloop.loop.* import and round trip.
 */
#include <jansson.h>
#include <unistd.h>

#include "model/gguf.h"
#include "model/gguf_write.h"
#include "model/loop_config.h"
#include "qloop.h"
#include "test.h"

static ql_loop_params one_block(int32_t s, int32_t e, int32_t v) {
    ql_loop_params p = ql_loop_params_default();
    p.n_blocks = 1;
    p.blocks[0] = ql_loop_block_default(s, e);
    p.blocks[0].loop_count = p.blocks[0].virtual_layer_count = p.blocks[0].min_loop_count = v;
    return p;
}

static void test_defaults_follow_the_spec(void) {
    ql_loop_params p = ql_loop_params_default();
    CHECK_EQ_INT(p.n_blocks, 0);
    CHECK_EQ_INT(p.strategy, QL_LOOP_FIXED);
    CHECK_EQ_INT(p.kv_mode, QL_LOOP_KV_VIRTUAL);
    CHECK_EQ_INT(p.attn, QL_LOOP_ATTN_PARALLEL);
    CHECK_EQ_INT(p.merge, QL_LOOP_MERGE_EMA);
    CHECK_NEAR(p.ema_alpha, 0.7, 1e-7);
    CHECK_NEAR(p.cosine_threshold, 0.95, 1e-7);
    ql_loop_block b = ql_loop_block_default(1, 2);
    CHECK_EQ_INT(b.loop_count, 5);
    CHECK_EQ_INT(b.max_loop_count, 20);
    CHECK_EQ_INT(b.min_loop_count, 5);
    CHECK_EQ_INT(b.virtual_layer_count, 5);
    ql_error e;
    CHECK(ql_loop_params_check(&p, 4, &e) == QL_OK); /* no blocks: plain */
    p.n_blocks = 1;
    p.blocks[0] = b;
    CHECK(ql_loop_params_check(&p, 4, &e) == QL_OK);
}

static void expect_invalid(const ql_loop_params *p, int32_t n_layer, const char *needle) {
    ql_error e = {0};
    CHECK(ql_loop_params_check(p, n_layer, &e) == QL_ERR_ARG);
    CHECK_MSG(strstr(e.message, needle) != NULL, "'%s' lacks '%s'", e.message, needle);
}

static void test_validation_rejects_bad_settings(void) {
    ql_loop_params p = one_block(1, 2, 3);
    p.n_blocks = 2;
    p.blocks[1] = p.blocks[0];
    p.blocks[1].start = 2; /* overlaps block 0 */
    p.blocks[1].end = 3;
    expect_invalid(&p, 6, "overlaps");
    p.blocks[1].start = 0; /* before block 0 */
    p.blocks[1].end = 0;
    expect_invalid(&p, 6, "overlaps");
    p = one_block(3, 6, 3);
    expect_invalid(&p, 6, "end < 6");
    p = one_block(-1, 2, 3);
    expect_invalid(&p, 6, "0 <= start");
    p = one_block(3, 2, 3);
    expect_invalid(&p, 6, "start <= end");
    p = one_block(1, 2, 3);
    p.blocks[0].virtual_layer_count = 4; /* V > min_loop_count */
    p.blocks[0].loop_count = 4;
    expect_invalid(&p, 6, "min_loop_count 3 must be >= virtual_layer_count 4");
    p = one_block(1, 2, 3);
    p.blocks[0].loop_count = 2;
    expect_invalid(&p, 6, "loop_count 2 must equal virtual_layer_count 3");
    p = one_block(1, 2, 3);
    p.blocks[0].max_loop_count = 2;
    expect_invalid(&p, 6, "max_loop_count 2 must be >= min_loop_count 3");
    p = one_block(1, 2, 3);
    p.blocks[0].virtual_layer_count = 0;
    expect_invalid(&p, 6, "virtual_layer_count 0");
    p = one_block(1, 2, 3);
    p.kv_mode = QL_LOOP_KV_MERGE;
    p.ema_alpha = 1.0f;
    expect_invalid(&p, 6, "merge_ema_alpha 1 must be in (0, 1)");
    p.ema_alpha = 0.0f;
    expect_invalid(&p, 6, "merge_ema_alpha");
    p.merge = QL_LOOP_MERGE_AVERAGE; /* alpha only matters for ema */
    CHECK(ql_loop_params_check(&p, 6, NULL) == QL_OK);
    /* dynamic stop in virtual mode: loop_count is not tied to V */
    p = one_block(1, 2, 3);
    p.strategy = QL_LOOP_DYNAMIC;
    p.blocks[0].loop_count = 9;
    CHECK(ql_loop_params_check(&p, 6, NULL) == QL_OK);
}

static void test_session_rejects_invalid_settings_before_computing(void) {
    char path[512];
    ql_model *m = NULL;
    ql_error e = {0};
    CHECK(ql_model_load(ql_test_shared(path, sizeof path, "models/stories260K.gguf"), NULL, &m, &e) == QL_OK);
    if (!m) return;
    ql_session *s = NULL;
    CHECK(ql_session_new(m, NULL, &s, &e) == QL_OK);
    int32_t ids[2] = {1, 403};
    CHECK(ql_session_eval(s, ids, 2, NULL, false, &e) == QL_OK);
    ql_loop_params p = one_block(1, 5, 2); /* stories260K has layers 0..4 */
    CHECK(ql_session_set_loop(s, &p, &e) == QL_ERR_ARG);
    CHECK(strstr(e.message, "end < 5") != NULL);
    CHECK_EQ_INT(ql_session_pos(s), 2); /* nothing changed */
    ql_loop_params got;
    ql_session_get_loop(s, &got);
    CHECK_EQ_INT(got.n_blocks, 0);
    p = one_block(1, 2, 2);
    CHECK(ql_session_set_loop(s, &p, &e) == QL_OK);
    CHECK_EQ_INT(ql_session_pos(s), 0); /* new settings forget the tokens */
    ql_session_get_loop(s, &got);
    CHECK_EQ_INT(got.n_blocks, 1);
    ql_session_free(s);
    ql_model_free(m);
}

static void test_tiny_loop_config_json_is_read(void) {
    char path[512];
    json_error_t je;
    json_t *root = json_load_file(ql_test_shared(path, sizeof path, "models/tiny-loop/config.json"), 0, &je);
    CHECK(root != NULL);
    if (!root) return;
    ql_loop_params p;
    ql_error e = {0};
    CHECK_MSG(ql_loop_config_from_hf(root, &p, &e) == QL_OK, "%s", e.message);
    CHECK_EQ_INT(p.n_blocks, 1);
    CHECK_EQ_INT(p.blocks[0].start, 2);
    CHECK_EQ_INT(p.blocks[0].end, 3);
    CHECK_EQ_INT(p.blocks[0].loop_count, 4);
    CHECK_EQ_INT(p.blocks[0].max_loop_count, 8);
    CHECK_EQ_INT(p.blocks[0].min_loop_count, 4);
    CHECK_EQ_INT(p.blocks[0].virtual_layer_count, 4);
    CHECK_EQ_INT(p.strategy, QL_LOOP_FIXED);
    CHECK_EQ_INT(p.kv_mode, QL_LOOP_KV_VIRTUAL);
    CHECK_EQ_INT(p.attn, QL_LOOP_ATTN_SERIAL);
    CHECK_EQ_INT(p.merge, QL_LOOP_MERGE_EMA);
    CHECK_NEAR(p.ema_alpha, 0.7, 1e-7);
    CHECK_NEAR(p.cosine_threshold, 0.95, 1e-7);
    /* list forms, broadcast, and errors that name the key */
    json_object_set_new(root, "loop_layers", json_loads("[[0,1],[3,4]]", 0, NULL));
    json_object_set_new(root, "loop_count", json_loads("[2,3]", 0, NULL));
    json_object_set_new(root, "virtual_layer_count", json_loads("[2,3]", 0, NULL));
    json_object_set_new(root, "min_loop_count", json_integer(3));
    CHECK_MSG(ql_loop_config_from_hf(root, &p, &e) == QL_OK, "%s", e.message);
    CHECK_EQ_INT(p.n_blocks, 2);
    CHECK_EQ_INT(p.blocks[1].start, 3);
    CHECK_EQ_INT(p.blocks[1].loop_count, 3);
    CHECK_EQ_INT(p.blocks[0].min_loop_count, 3);
    CHECK_EQ_INT(p.blocks[1].min_loop_count, 3);
    json_object_set_new(root, "loop_count", json_loads("[2,3,4]", 0, NULL));
    CHECK(ql_loop_config_from_hf(root, &p, &e) == QL_ERR_CORRUPT);
    CHECK(strstr(e.message, "loop_count has 3 entries for 2 loop blocks") != NULL);
    json_object_set_new(root, "loop_count", json_loads("[2,3]", 0, NULL));
    json_object_set_new(root, "kv_cache_mode", json_string("paged"));
    CHECK(ql_loop_config_from_hf(root, &p, &e) == QL_ERR_CORRUPT);
    CHECK(strstr(e.message, "kv_cache_mode 'paged'") != NULL);
    json_object_set_new(root, "kv_cache_mode", json_string("virtual_layers"));
    json_object_set_new(root, "loop_layers", json_loads("[[0,1],[5,6]]", 0, NULL)); /* 6 layers */
    CHECK(ql_loop_config_from_hf(root, &p, &e) == QL_ERR_CORRUPT);
    CHECK(strstr(e.message, "end < 6") != NULL);
    json_object_set_new(root, "loop_layers", json_null());
    CHECK(ql_loop_config_from_hf(root, &p, &e) == QL_OK);
    CHECK_EQ_INT(p.n_blocks, 0);
    json_decref(root);
}

static void test_gguf_keys_round_trip(void) {
    char path[] = "/tmp/ql_loop_cfg_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    ql_loop_params p = one_block(1, 2, 3), q;
    p.n_blocks = 2;
    p.blocks[1] = ql_loop_block_default(4, 6);
    p.strategy = QL_LOOP_DYNAMIC;
    p.kv_mode = QL_LOOP_KV_MERGE;
    p.merge = QL_LOOP_MERGE_AVERAGE;
    p.attn = QL_LOOP_ATTN_SERIAL;
    p.cosine_threshold = 0.9f;
    p.ema_alpha = 0.25f;
    ql_error e = {0};
    ql_gguf_writer *w = NULL;
    CHECK(ql_gguf_writer_new(&w, &e) == QL_OK);
    CHECK(ql_gguf_set_str(w, "general.architecture", "llama", &e) == QL_OK);
    CHECK(ql_gguf_set_u32(w, "llama.block_count", 8, &e) == QL_OK);
    CHECK_MSG(ql_loop_config_to_gguf(w, &p, &e) == QL_OK, "%s", e.message);
    CHECK(ql_gguf_writer_begin(w, path, &e) == QL_OK);
    CHECK(ql_gguf_writer_finish(w, &e) == QL_OK);
    ql_gguf_writer_free(w);
    ql_gguf *g = NULL;
    CHECK_MSG(ql_gguf_open(path, &g, &e) == QL_OK, "%s", e.message);
    if (g) {
        CHECK_MSG(ql_loop_config_from_gguf(g, &q, &e) == QL_OK, "%s", e.message);
        CHECK_EQ_INT(q.n_blocks, 2);
        CHECK(memcmp(q.blocks, p.blocks, 2 * sizeof p.blocks[0]) == 0);
        CHECK_EQ_INT(q.strategy, p.strategy);
        CHECK_EQ_INT(q.kv_mode, p.kv_mode);
        CHECK_EQ_INT(q.merge, p.merge);
        CHECK_EQ_INT(q.attn, p.attn);
        CHECK(q.cosine_threshold == p.cosine_threshold && q.ema_alpha == p.ema_alpha);
        ql_gguf_close(g);
    }
    /* a plain GGUF has no loop blocks */
    char sp[512];
    CHECK(ql_gguf_open(ql_test_shared(sp, sizeof sp, "models/stories260K.gguf"), &g, &e) == QL_OK);
    if (g) {
        CHECK(ql_loop_config_from_gguf(g, &q, &e) == QL_OK);
        CHECK_EQ_INT(q.n_blocks, 0);
        ql_gguf_close(g);
    }
    unlink(path);
}

int main(void) {
    RUN(test_defaults_follow_the_spec);
    RUN(test_validation_rejects_bad_settings);
    RUN(test_session_rejects_invalid_settings_before_computing);
    RUN(test_tiny_loop_config_json_is_read);
    RUN(test_gguf_keys_round_trip);
    return TEST_REPORT();
}
