/* tests/runtime/test_isa_forced.c: QLOOP_ISA names a level; one that this CPU or this build
 * cannot run stops qloop with a message that says which of the two it is, and an unknown
 * name is refused as unknown. `amx` is a known, opt-in level: never chosen unless named, and
 * named on a CPU without AMX (or without the tile data permission) it is refused as
 * unsupported, never as unknown. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "qloop.h"
#include "test.h"

/* Runs `QLOOP_ISA=isa qloop ARGS`, stdout and stderr into out; returns the exit status. */
static int run_forced(const char *isa, const char *args, char *out, size_t cap) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "QLOOP_ISA=%s %s %s 2>&1", isa, QL_CLI_PATH, args);
    return ql_test_run_capture(cmd, out, cap);
}

static void test_amx_is_known(void) {
    char out[8192], model[512], args[1024];
    run_forced("amx", "info --cpu", out, sizeof out);
    CHECK_MSG(strstr(out, "amx (") != NULL, "levels line lists amx: %s", out);
    CHECK_MSG(strstr(out, "unknown level") == NULL, "%s", out);
    int usable = strstr(out, "in use:      amx\n") != NULL;
    /* opt-in: without QLOOP_ISA the table in use is never amx */
    char plain[8192], cmd[1024];
    snprintf(cmd, sizeof cmd, "env -u QLOOP_ISA %s info --cpu 2>&1", QL_CLI_PATH);
    ql_test_run_capture(cmd, plain, sizeof plain);
    CHECK_MSG(strstr(plain, "in use:      amx") == NULL, "%s", plain);
    ql_test_shared(model, sizeof model, "models/stories260K.gguf");
    snprintf(args, sizeof args, "run -m '%s' -p Once -n 2", model);
    int rc = run_forced("amx", args, out, sizeof out);
    if (usable) {
        CHECK_MSG(rc == 0, "QLOOP_ISA=amx: %s", out);
        return;
    }
    CHECK(rc != 0);
    CHECK_MSG(strstr(out, "QLOOP_ISA=amx: this CPU does not support it") != NULL ||
                  strstr(out, "QLOOP_ISA=amx: not built into this binary") != NULL,
              "%s", out);
}

static void test_unknown_level(void) {
    char out[8192], model[512], args[1024];
    ql_test_shared(model, sizeof model, "models/stories260K.gguf");
    snprintf(args, sizeof args, "run -m '%s' -p Once -n 2", model);
    int rc = run_forced("avx1024", args, out, sizeof out);
    CHECK(rc != 0);
    CHECK_MSG(strstr(out, "QLOOP_ISA=avx1024: unknown level") != NULL, "%s", out);
}

/* The levels `qloop info --cpu` reports as runnable here are the ones a forced run accepts. */
static void test_supported_levels_run(void) {
    static const char *levels[] = {"scalar", "avx2", "avx512", "amx", "neon"};
    char info[8192], out[8192], model[512], args[1024];
    ql_test_shared(model, sizeof model, "models/stories260K.gguf");
    snprintf(args, sizeof args, "run -m '%s' -p Once -n 2 --seed 1", model);
    for (size_t i = 0; i < sizeof levels / sizeof *levels; i++) {
        run_forced(levels[i], "info --cpu", info, sizeof info);
        char want[64];
        snprintf(want, sizeof want, "in use:      %s\n", levels[i]);
        int usable = strstr(info, want) != NULL;
        int rc = run_forced(levels[i], args, out, sizeof out);
        CHECK_MSG(usable ? rc == 0 : rc != 0, "QLOOP_ISA=%s: info says %s, run exited %d: %s",
                  levels[i], usable ? "usable" : "not usable", rc, out);
    }
}

int main(void) {
    RUN(test_amx_is_known);
    RUN(test_unknown_level);
    RUN(test_supported_levels_run);
    return TEST_REPORT();
}
