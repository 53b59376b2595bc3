/* src/cli/cmd_info.c: `qloop info FILE [--all]`: header, metadata and tensor table of a
 * GGUF file, through the public ql_file_* API only. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "qloop.h"

#define INFO_ITEMS 8              /* array elements shown without --all */
#define INFO_VALUE_CHARS 200      /* value text shown without --all */
#define INFO_KEY_WIDTH_MAX 40

typedef struct info_opts {
    const char *path;
    bool all;
    bool cpu;
} info_opts;

static void info_usage(FILE *out) {
    fprintf(out,
            "usage: qloop info FILE [--all]\n"
            "       qloop info --cpu\n"
            "\n"
            "Prints the header, metadata and tensor table of a GGUF file.\n"
            "\n"
            "options:\n"
            "  --cpu       print the CPU features found and the kernel chosen for each op\n"
            "  --all       print every array element and whole strings (default: first %d "
            "items, %d characters)\n"
            "  -h, --help  show this help\n",
            INFO_ITEMS, INFO_VALUE_CHARS);
}

/* Returns -1 to go on, else the exit status. */
static int info_parse(int argc, char **argv, info_opts *o) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            info_usage(stdout);
            return 0;
        } else if (strcmp(a, "--all") == 0) {
            o->all = true;
        } else if (strcmp(a, "--cpu") == 0) {
            o->cpu = true;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "qloop info: unknown option '%s'\n", a);
            info_usage(stderr);
            return 2;
        } else if (o->path) {
            fprintf(stderr, "qloop info: more than one FILE ('%s' and '%s')\n", o->path, a);
            info_usage(stderr);
            return 2;
        } else {
            o->path = a;
        }
    }
    if (!o->path && !o->cpu) {
        fprintf(stderr, "qloop info: missing FILE\n");
        info_usage(stderr);
        return 2;
    }
    return -1;
}

/* Names come from the file: keep control bytes away from the terminal. */
static void print_name(const char *s, int width) {
    int n = 0;
    for (; *s; s++, n++) putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
    for (; n < width; n++) putchar(' ');
}

/* The value text of entry i, whole (--all: the buffer grows until it fits) or cut. */
static const char *meta_value(const ql_file *f, uint64_t i, bool all, char **buf,
                              size_t *cap) {
    size_t max_items = all ? SIZE_MAX : INFO_ITEMS;
    for (;;) {
        ql_file_meta(f, i, NULL, NULL, *buf, *cap, max_items);
        size_t len = strlen(*buf);
        if (!all) {
            if (len > INFO_VALUE_CHARS) strcpy(*buf + INFO_VALUE_CHARS - 3, "...");
            return *buf;
        }
        if (len + 1 < *cap || *cap >= ((size_t)1 << 30)) return *buf;
        char *bigger = realloc(*buf, *cap * 2);
        if (!bigger) return *buf;
        *buf = bigger;
        *cap *= 2;
    }
}

static void print_meta(const ql_file *f, bool all) {
    uint64_t n = ql_file_n_meta(f);
    int width = 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *key;
        ql_file_meta(f, i, &key, NULL, NULL, 0, 0);
        int len = (int)strnlen(key, INFO_KEY_WIDTH_MAX);
        if (len > width) width = len;
    }
    size_t cap = 4096;
    char *buf = malloc(cap);
    if (!buf) return;
    printf("\nmetadata:\n");
    for (uint64_t i = 0; i < n; i++) {
        const char *key, *type;
        ql_file_meta(f, i, &key, &type, NULL, 0, 0);
        printf("  ");
        print_name(key, width);
        printf("  %-13s  %s\n", type, meta_value(f, i, all, &buf, &cap));
    }
    free(buf);
}

static void print_tensors(const ql_file *f) {
    uint64_t n = ql_file_n_tensors(f);
    if (n == 0) {
        printf("\ntensors: none\n");
        return;
    }
    int width = 4;
    ql_tensor_desc d;
    for (uint64_t i = 0; i < n; i++) {
        ql_file_tensor(f, i, &d);
        int len = (int)strnlen(d.name, INFO_KEY_WIDTH_MAX);
        if (len > width) width = len;
    }
    uint64_t params = 0, bytes = 0;
    printf("\ntensors:\n  %5s  %-*s  %-7s  %-24s  %12s  %12s\n", "index", width, "name", "type",
           "dims", "offset", "bytes");
    for (uint64_t i = 0; i < n; i++) {
        ql_file_tensor(f, i, &d);
        char dims[96];
        int k = snprintf(dims, sizeof dims, "[");
        uint64_t elems = 1;
        for (uint32_t j = 0; j < d.n_dims && j < 4; j++) {
            k += snprintf(dims + k, sizeof dims - (size_t)k, "%s%lld", j ? ", " : "",
                          (long long)d.ne[j]);
            elems *= (uint64_t)d.ne[j];
        }
        snprintf(dims + k, sizeof dims - (size_t)k, "]");
        params += elems;
        bytes += d.nbytes;
        printf("  %5llu  ", (unsigned long long)i);
        print_name(d.name, width);
        printf("  %-7s  %-24s  %12llu  %12llu\n", d.type_name, dims,
               (unsigned long long)d.offset, (unsigned long long)d.nbytes);
    }
    printf("\ntotal: %llu tensors, %llu params, %llu bytes (%.2f MiB)\n", (unsigned long long)n,
           (unsigned long long)params, (unsigned long long)bytes,
           (double)bytes / (1024.0 * 1024.0));
}

int ql_cmd_info(int argc, char **argv) {
    info_opts o = {0};
    int rc = info_parse(argc, argv, &o);
    if (rc >= 0) return rc;
    if (o.cpu) {
        char report[4096];
        ql_cpu_report(report, sizeof report);
        fputs(report, stdout);
        if (!o.path) return 0;
        putchar('\n');
    }

    ql_file *f;
    ql_error err;
    if (ql_file_open(o.path, &f, &err) != QL_OK) {
        fprintf(stderr, "qloop info: %s\n", err.message);
        return 1;
    }
    printf("file:       %s\n", o.path);
    printf("version:    GGUF v%u\n", ql_file_version(f));
    printf("alignment:  %llu\n", (unsigned long long)ql_file_alignment(f));
    printf("metadata:   %llu entries\n", (unsigned long long)ql_file_n_meta(f));
    printf("tensors:    %llu\n", (unsigned long long)ql_file_n_tensors(f));
    print_meta(f, o.all);
    print_tensors(f);
    ql_file_free(f);
    return 0;
}
