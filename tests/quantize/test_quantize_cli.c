/* tests/quantize/test_quantize_cli.c: `qloop quantize` and `qloop verify` end to end on
 * stories260K: quantized files run, q8_0 keeps F32's greedy tokens, checksums catch one
 * flipped byte, IN == OUT is refused, and a SIGKILL mid-way leaves no OUT. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qloop.h"
#include "test.h"

static char g_dir[256];
static char g_model[512];

static bool exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* Runs a shell command; returns its exit status, its stdout+stderr in out (cap bytes). */
static int run_cmd(const char *cmd, char *out, size_t cap) {
    char full[4096];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t n = 0;
    if (out && cap) {
        n = fread(out, 1, cap - 1, p);
        out[n] = '\0';
    }
    char sink[4096];
    while (fread(sink, 1, sizeof sink, p) > 0) {}
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int quantize(const char *in, const char *out, const char *type, char *log, size_t cap) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s quantize '%s' '%s' --type %s", QL_CLI_PATH, in, out, type);
    return run_cmd(cmd, log, cap);
}

/* Greedy ids of 32 tokens after the fixed prompt, parsed from --print-ids. */
static int greedy_ids(const char *model, int *ids, int cap) {
    char cmd[2048], out[8192];
    snprintf(cmd, sizeof cmd, "%s run -m '%s' --temp 0 -n 32 --ids 1,403,407,261,378 "
             "--print-ids 2>/dev/null", QL_CLI_PATH, model);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) return -1;
    int k = 0;
    for (char *s = out; *s && k < cap;) {
        if (*s >= '0' && *s <= '9') ids[k++] = (int)strtol(s, &s, 10);
        else s++;
    }
    return k;
}

static void path_in(char *buf, size_t cap, const char *name) {
    snprintf(buf, cap, "%s/%s", g_dir, name);
}

static void test_quantize_q8_0_and_q4_0_run(void) {
    static const char *types[2] = {"q8_0", "q4_0"};
    for (int t = 0; t < 2; t++) {
        char out[512], log[8192], cmd[2048], fname[32];
        snprintf(fname, sizeof fname, "s-%s.gguf", types[t]);
        path_in(out, sizeof out, fname);
        CHECK_MSG(quantize(g_model, out, types[t], log, sizeof log) == 0, "%s", log);
        CHECK(exists(out));
        snprintf(cmd, sizeof cmd, "%s run -m '%s' --temp 0 -n 32 --ids 1,403,407,261,378",
                 QL_CLI_PATH, out);
        CHECK_MSG(run_cmd(cmd, log, sizeof log) == 0, "%s", log);
        snprintf(cmd, sizeof cmd, "%s verify '%s'", QL_CLI_PATH, out);
        CHECK_MSG(run_cmd(cmd, log, sizeof log) == 0, "%s", log);
        CHECK(strstr(log, "all 48 checksummed tensors match") != NULL);
    }
}

static void test_q8_0_greedy_tokens_match_f32(void) {
    char q8[512];
    path_in(q8, sizeof q8, "s-q8_0.gguf");
    if (!exists(q8)) CHECK(quantize(g_model, q8, "q8_0", NULL, 0) == 0);
    int a[64], b[64];
    int na = greedy_ids(g_model, a, 64), nb = greedy_ids(q8, b, 64);
    CHECK(na >= 32 + 5 || na == nb);
    CHECK_EQ_INT(na, nb);
    int diverge = -1;
    for (int i = 0; i < na && i < nb; i++)
        if (a[i] != b[i]) {
            diverge = i;
            break;
        }
    CHECK_MSG(diverge < 0, "q8_0 greedy tokens diverge from f32 at output id index %d", diverge);
}

static bool copy_file(const char *from, const char *to) {
    size_t n;
    char *data = ql_test_read_file(from, &n);
    if (!data) return false;
    FILE *f = fopen(to, "wb");
    bool ok = f && fwrite(data, 1, n, f) == n;
    if (f) ok = fclose(f) == 0 && ok;
    free(data);
    return ok;
}

static void test_verify_names_flipped_tensor(void) {
    char q8[512], bad[512], log[16384], cmd[2048];
    path_in(q8, sizeof q8, "s-q8_0.gguf");
    path_in(bad, sizeof bad, "flipped.gguf");
    if (!exists(q8)) CHECK(quantize(g_model, q8, "q8_0", NULL, 0) == 0);
    CHECK(copy_file(q8, bad));
    /* find blk.2.attn_q.weight through the public API */
    ql_file *f = NULL;
    ql_error err;
    CHECK(ql_file_open(bad, &f, &err) == QL_OK);
    uint64_t off = 0;
    for (uint64_t i = 0; f && i < ql_file_n_tensors(f); i++) {
        ql_tensor_desc d;
        if (ql_file_tensor(f, i, &d) && strcmp(d.name, "blk.2.attn_q.weight") == 0)
            off = d.offset + d.nbytes / 2;
    }
    ql_file_free(f);
    CHECK(off > 0);
    int fd = open(bad, O_RDWR);
    unsigned char byte = 0;
    CHECK(fd >= 0 && pread(fd, &byte, 1, (off_t)off) == 1);
    byte ^= 0x01;
    CHECK(pwrite(fd, &byte, 1, (off_t)off) == 1);
    close(fd);
    snprintf(cmd, sizeof cmd, "%s verify '%s'", QL_CLI_PATH, bad);
    CHECK_EQ_INT(run_cmd(cmd, log, sizeof log), 1);
    CHECK_MSG(strstr(log, "MISMATCH blk.2.attn_q.weight") != NULL, "%s", log);
    CHECK(strstr(log, "1 of 48 tensors") != NULL);
    /* a file without checksums: exit 1 and a clear message */
    snprintf(cmd, sizeof cmd, "%s verify '%s'", QL_CLI_PATH, g_model);
    CHECK_EQ_INT(run_cmd(cmd, log, sizeof log), 1);
    CHECK_MSG(strstr(log, "no qloop.checksum") != NULL, "%s", log);
    unlink(bad);
}

static void test_quantize_refuses_in_equals_out(void) {
    char copy[512], link_path[512], log[4096];
    path_in(copy, sizeof copy, "input-copy.gguf");
    path_in(link_path, sizeof link_path, "hardlink.gguf");
    CHECK(copy_file(g_model, copy));
    struct stat before, after;
    CHECK(stat(copy, &before) == 0);
    CHECK(quantize(copy, copy, "q8_0", log, sizeof log) != 0);
    CHECK(strstr(log, "refusing") != NULL);
    CHECK(link(copy, link_path) == 0);
    CHECK(quantize(copy, link_path, "q8_0", log, sizeof log) != 0); /* same inode */
    CHECK_MSG(strstr(log, "refusing") != NULL, "%s", log);
    CHECK(stat(copy, &after) == 0);
    CHECK(before.st_size == after.st_size && before.st_mtime == after.st_mtime);
    unlink(link_path);
    unlink(copy);
}

static void test_sigkill_leaves_no_output(void) {
    char out[512], tmp[600];
    path_in(out, sizeof out, "killed.gguf");
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("QLOOP_TEST_SLOW_QUANTIZE", "100", 1); /* 48 tensors: ~5 s */
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        execl(QL_CLI_PATH, "qloop", "quantize", g_model, out, "--type", "q4_0", (char *)NULL);
        _exit(127);
    }
    CHECK(pid > 0);
    /* wait until it is writing (the .tmp exists), then kill it mid-way */
    for (int i = 0; i < 200 && !exists(tmp); i++) usleep(20000);
    CHECK(exists(tmp));
    usleep(300000);
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    CHECK(!exists(out));
    unlink(tmp);
}

static void test_quantize_imatrix_and_provenance(void) {
    char imat[512], out[512], log[4096];
    path_in(imat, sizeof imat, "imatrix.dat");
    path_in(out, sizeof out, "s-imat.gguf");
    FILE *f = fopen(imat, "wb");
    CHECK(f != NULL);
    if (!f) return;
    int32_t n = 1, len = (int32_t)strlen("blk.0.attn_q.weight"), ncall = 10, nval = 64;
    fwrite(&n, 4, 1, f);
    fwrite(&len, 4, 1, f);
    fwrite("blk.0.attn_q.weight", 1, (size_t)len, f);
    fwrite(&ncall, 4, 1, f);
    fwrite(&nval, 4, 1, f);
    for (int i = 0; i < 64; i++) {
        float v = 1.0f + (float)(i % 7);
        fwrite(&v, 4, 1, f);
    }
    fclose(f);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s quantize '%s' '%s' --type q4_k_m --imatrix '%s'",
             QL_CLI_PATH, g_model, out, imat);
    CHECK_MSG(run_cmd(cmd, log, sizeof log) == 0, "%s", log);
    ql_file *qf = NULL;
    ql_error err;
    CHECK(ql_file_open(out, &qf, &err) == QL_OK);
    bool have_type = false, have_imat = false, have_ftype = false;
    for (uint64_t i = 0; qf && i < ql_file_n_meta(qf); i++) {
        const char *key, *tn;
        char val[256];
        ql_file_meta(qf, i, &key, &tn, val, sizeof val, 4);
        if (!strcmp(key, "qloop.quantize.type")) have_type = strstr(val, "q4_k_m") != NULL;
        if (!strcmp(key, "qloop.quantize.imatrix")) have_imat = strstr(val, "imatrix.dat") != NULL;
        if (!strcmp(key, "general.file_type")) have_ftype = !strcmp(val, "15");
    }
    CHECK(have_type && have_imat && have_ftype);
    ql_file_free(qf);
    unlink(out);
    /* llama.cpp's reference quantizer has no imatrix path: refused, naming the file */
    snprintf(cmd, sizeof cmd, "%s quantize '%s' '%s' --type q4_k_m --llamacpp-ref --imatrix '%s'",
             QL_CLI_PATH, g_model, out, imat);
    CHECK(run_cmd(cmd, log, sizeof log) != 0);
    CHECK_MSG(strstr(log, "imatrix") && strstr(log, "imatrix.dat"), "%s", log);
    CHECK(!exists(out));
    /* without one it writes a file that records the method */
    snprintf(cmd, sizeof cmd, "%s quantize '%s' '%s' --type q4_k_m --llamacpp-ref", QL_CLI_PATH,
             g_model, out);
    CHECK_MSG(run_cmd(cmd, log, sizeof log) == 0, "%s", log);
    bool have_method = false;
    CHECK(ql_file_open(out, &qf, &err) == QL_OK);
    for (uint64_t i = 0; qf && i < ql_file_n_meta(qf); i++) {
        const char *key, *tn;
        char val[256];
        ql_file_meta(qf, i, &key, &tn, val, sizeof val, 4);
        if (!strcmp(key, "qloop.quantize.method")) have_method = strstr(val, "llama.cpp") != NULL;
    }
    CHECK(have_method);
    ql_file_free(qf);
    unlink(out);
    unlink(imat);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/ql_quantize_cli_XXXXXX");
    if (!mkdtemp(g_dir)) return 1;
    ql_test_shared(g_model, sizeof g_model, "models/stories260K.gguf");
    RUN(test_quantize_q8_0_and_q4_0_run);
    RUN(test_q8_0_greedy_tokens_match_f32);
    RUN(test_verify_names_flipped_tensor);
    RUN(test_quantize_refuses_in_equals_out);
    RUN(test_sigkill_leaves_no_output);
    RUN(test_quantize_imatrix_and_provenance);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    return TEST_REPORT();
}
