/* tests/runtime/test_bench_cli.c: `qloop bench --json` reports every field issue 5 names
 * (plus the bandwidth sampled between tg tokens) with plausible values, and the reusable
 * bandwidth probe keeps its totals. Speeds are not checked: a test is no benchmark. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "qloop.h"
#include "test.h"

/* The number after "key": in a one-line JSON object; NAN-free: -1 when absent. */
static double json_number(const char *json, const char *key) {
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(json, pat);
    return p ? strtod(p + strlen(pat), NULL) : -1.0;
}

static void test_bench_json_has_every_field(void) {
    char model[512], cmd[2048], out[8192];
    ql_test_shared(model, sizeof model, "models/stories260K.gguf");
    snprintf(cmd, sizeof cmd, "%s bench -m '%s' -p 8 -n 9 -r 2 -t 2 --json", QL_CLI_PATH, model);
    CHECK(ql_test_run_capture(cmd, out, sizeof out) == 0);
    static const char *positive[] = {"pp_tps", "pp_min", "pp_max", "tg_tps", "tg_min", "tg_max",
                                     "bandwidth_gbps", "bytes_per_token", "tg_roofline_pct",
                                     "bandwidth_during_gbps", "tg_during_pct"};
    for (size_t i = 0; i < sizeof positive / sizeof *positive; i++)
        CHECK_MSG(json_number(out, positive[i]) > 0, "%s in %s", positive[i], out);
    CHECK(json_number(out, "threads") == 2);
    CHECK(json_number(out, "pp_min") <= json_number(out, "pp_tps"));
    CHECK(json_number(out, "pp_tps") <= json_number(out, "pp_max"));
    CHECK(json_number(out, "tg_min") <= json_number(out, "tg_tps"));
    CHECK(json_number(out, "tg_tps") <= json_number(out, "tg_max"));
    CHECK(json_number(out, "tg_during_pct_min") <= json_number(out, "tg_during_pct_max"));
    CHECK(strstr(out, "\"isa\": \"") != NULL);
}

/* --profile adds the tg time by weight role to the same one-line object */
static void test_bench_json_profile(void) {
    char model[512], cmd[2048], out[16384];
    ql_test_shared(model, sizeof model, "models/stories260K.gguf");
    snprintf(cmd, sizeof cmd, "%s bench -m '%s' -p 0 -n 9 -r 2 -t 2 --json --profile", QL_CLI_PATH, model);
    CHECK(ql_test_run_capture(cmd, out, sizeof out) == 0);
    const char *nl = strchr(out, '\n');
    CHECK_MSG(out[0] == '{' && nl && nl[-1] == '}' && nl[1] == '\0', "one object, one line: %s", out);
    CHECK(strstr(out, "\"profile\": [{\"weights\": \"attn_q.weight+attn_k.weight+attn_v.weight\"") != NULL);
    CHECK(strstr(out, "\"weights\": \"output.weight\", \"calls_per_token\": 1.000") != NULL);
    double rest = json_number(out, "outside_matmuls_pct");
    CHECK_MSG(rest >= 0 && rest < 100, "outside_matmuls_pct %g", rest);
    CHECK(json_number(out, "tg_tps") > 0);
}

static void test_bandwidth_probe_totals(void) {
    ql_bandwidth_probe *bp = ql_bandwidth_probe_new((size_t)8 << 20, 2);
    CHECK(bp != NULL);
    if (!bp) return;
    CHECK(ql_bandwidth_probe_mean(bp, false) == 0.0);
    double a = ql_bandwidth_probe_pass(bp), b = ql_bandwidth_probe_pass(bp);
    CHECK(a > 0 && b > 0);
    double mean = ql_bandwidth_probe_mean(bp, true);
    /* bytes / seconds over two equal passes lies between the two rates */
    CHECK(mean >= (a < b ? a : b) * 0.999 && mean <= (a > b ? a : b) * 1.001);
    CHECK(ql_bandwidth_probe_mean(bp, false) == 0.0);
    ql_bandwidth_probe_free(bp);
    ql_bandwidth_probe_free(NULL);
}

int main(void) {
    RUN(test_bench_json_has_every_field);
    RUN(test_bench_json_profile);
    RUN(test_bandwidth_probe_totals);
    return TEST_REPORT();
}
