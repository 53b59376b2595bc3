/*
 * tests/test.h: the minimal harness every qloop test uses.
 *
 * A test file defines `static void test_name(void)` functions that use CHECK* macros and
 * lists them in main() with RUN(test_name). The program prints one line per failed
 * check, then "N passed, N failed" and exits non-zero on any failure.
 * Fixtures are read from the folder in $QLOOP_SHARED (set by ctest; default ../shared).
 */
#ifndef QL_TEST_H
#define QL_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static int ql_test_failed_checks;
static int ql_test_passed, ql_test_failed;

#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);     \
            ql_test_failed_checks++;                                                      \
        }                                                                                 \
    } while (0)

#define CHECK_MSG(cond, ...)                                                              \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                                 \
            fputc('\n', stderr);                                                          \
            ql_test_failed_checks++;                                                      \
        }                                                                                 \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                \
    do {                                                                                  \
        long long ql_a_ = (long long)(a), ql_b_ = (long long)(b);                         \
        if (ql_a_ != ql_b_) {                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld vs %lld)\n", __FILE__,   \
                    __LINE__, #a, #b, ql_a_, ql_b_);                                      \
            ql_test_failed_checks++;                                                      \
        }                                                                                 \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                             \
    do {                                                                                  \
        double ql_a_ = (double)(a), ql_b_ = (double)(b);                                  \
        if (!(fabs(ql_a_ - ql_b_) <= (double)(tol))) {                                    \
            fprintf(stderr, "%s:%d: CHECK failed: |%s - %s| <= %s (%.9g vs %.9g)\n",      \
                    __FILE__, __LINE__, #a, #b, #tol, ql_a_, ql_b_);                      \
            ql_test_failed_checks++;                                                      \
        }                                                                                 \
    } while (0)

#define RUN(fn)                                                                           \
    do {                                                                                  \
        int ql_before_ = ql_test_failed_checks;                                           \
        fn();                                                                             \
        if (ql_test_failed_checks == ql_before_) {                                        \
            ql_test_passed++;                                                             \
        } else {                                                                          \
            ql_test_failed++;                                                             \
            fprintf(stderr, "FAIL %s\n", #fn);                                            \
        }                                                                                 \
    } while (0)

#define TEST_REPORT()                                                                     \
    (printf("%d passed, %d failed\n", ql_test_passed, ql_test_failed),                    \
     ql_test_failed ? 1 : 0)

/* Path of a file under the shared data folder, in a static buffer per call site. */
static inline const char *ql_test_shared(char *buf, size_t cap, const char *rel) {
    const char *root = getenv("QLOOP_SHARED");
    if (!root || !*root) root = "../shared";
    snprintf(buf, cap, "%s/%s", root, rel);
    return buf;
}

/* Runs the shell command cmd, its output into out (cut at cap - 1 bytes, NUL-terminated);
 * returns its exit status, -1 when it could not run or did not exit normally. */
static inline int ql_test_run_capture(const char *cmd, char *out, size_t cap) {
    out[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Reads a whole file into a malloc'd buffer (NUL-terminated); NULL on failure. */
static inline char *ql_test_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return NULL; }
    long n = ftell(f);
    if (n < 0) { fclose(f); return NULL; }
    rewind(f);
    char *buf = (char *)malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    fclose(f);
    if (buf) { buf[n] = '\0'; if (len) *len = (size_t)n; }
    return buf;
}

#endif
