/* src/cli/cmd_verify.c: `qloop verify FILE`: recomputes the per-tensor XXH3-64 checksums
 * that `qloop quantize` stored and names every tensor whose data changed.
 * Exit status: 0 all match, 1 a mismatch (or a read error), 2 usage error. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "qloop.h"

static void verify_usage(FILE *f) {
    fprintf(f, "usage: qloop verify FILE [--verbose]\n\n"
               "Checks each tensor of FILE against its qloop.checksum.* key (XXH3-64).\n");
}

static void on_tensor(const char *name, ql_verify_state state, uint64_t stored,
                      uint64_t actual, void *user) {
    bool verbose = *(const bool *)user;
    if (state == QL_VERIFY_MISMATCH)
        printf("MISMATCH %s (stored %016llx, data %016llx)\n", name,
               (unsigned long long)stored, (unsigned long long)actual);
    else if (state == QL_VERIFY_MISSING)
        printf("NO CHECKSUM %s\n", name);
    else if (verbose)
        printf("ok %s\n", name);
}

int ql_cmd_verify(int argc, char **argv) {
    const char *path = NULL;
    bool verbose = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            verify_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
            verbose = true;
        } else if (argv[i][0] == '-' || path) {
            fprintf(stderr, "qloop verify: unexpected argument '%s'\n", argv[i]);
            verify_usage(stderr);
            return 2;
        } else {
            path = argv[i];
        }
    }
    if (!path) {
        verify_usage(stderr);
        return 2;
    }
    ql_error err;
    ql_verify_result r;
    ql_status st = ql_verify(path, on_tensor, &verbose, &r, &err);
    if (st) {
        fprintf(stderr, "qloop verify: %s\n", err.message);
        return 1;
    }
    if (r.n_mismatch) {
        printf("%s: %llu of %llu tensors do NOT match their checksums\n", path,
               (unsigned long long)r.n_mismatch, (unsigned long long)r.n_tensors);
        return 1;
    }
    printf("%s: all %llu checksummed tensors match", path, (unsigned long long)r.n_ok);
    if (r.n_missing) printf(" (%llu tensors have no checksum)", (unsigned long long)r.n_missing);
    printf("\n");
    return 0;
}
