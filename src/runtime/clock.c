/* src/runtime/clock.c: the monotonic clock every timing in qloop reads. */
#include <time.h>

#include "qloop.h"

double ql_time_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
