/* src/runtime/cores.c: counting physical cores (distinct (package, core) pairs). */
#include <stdio.h>
#include <unistd.h>

#include "qloop.h"

int32_t ql_physical_cores(void) {
    long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
    if (n_cpu < 1) n_cpu = 1;
    enum { MAX_CPU = 1024 };
    long keys[MAX_CPU];
    int n_keys = 0;
    for (long c = 0; c < n_cpu && c < MAX_CPU; c++) {
        char path[128];
        long core = -1, pkg = -1;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/core_id", c);
        FILE *f = fopen(path, "r");
        if (!f) return (int32_t)n_cpu;
        if (fscanf(f, "%ld", &core) != 1) core = -1;
        fclose(f);
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%ld/topology/physical_package_id", c);
        f = fopen(path, "r");
        if (f) {
            if (fscanf(f, "%ld", &pkg) != 1) pkg = -1;
            fclose(f);
        }
        if (core < 0) return (int32_t)n_cpu;
        long key = pkg * 1000000 + core;
        int seen = 0;
        for (int i = 0; i < n_keys; i++) seen |= keys[i] == key;
        if (!seen) keys[n_keys++] = key;
    }
    return n_keys > 0 ? n_keys : 1;
}
