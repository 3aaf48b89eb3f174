/* The loop of the system-call-heavy workloads: op(i) for i = 0, 1, ... until
 * `seconds` have passed, the clock read once every `batch` calls (so that it
 * costs the loop nothing). Returns the calls made, or -1 as soon as op fails
 * (returns nonzero). Static inline: op is inlined, no indirect call. */
#ifndef FLAMECAM_WORKLOAD_REPEAT_H
#define FLAMECAM_WORKLOAD_REPEAT_H
#include <stdint.h>
#include <time.h>

static inline int64_t repeat_for(double seconds, int batch, int (*op)(uint64_t))
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t n = 0;
    for (;;) {
        for (int k = 0; k < batch; k++, n++)
            if (op(n) != 0)
                return -1;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) + (now.tv_nsec - t0.tv_nsec) / 1e9 >= seconds)
            return (int64_t)n;
    }
}
#endif
