/* Equal-cost CPU burners for the workloads: BURN(name) defines `void name(long n)`.
 *
 * The volatile local gives the leaves a stack frame: gcc 12 omits the frame
 * pointer of frameless leaves even with -mno-omit-leaf-frame-pointer, and
 * the caller (work) would then vanish from frame-pointer stacks. */
#ifndef FLAMECAM_WORKLOAD_BURN_H
#define FLAMECAM_WORKLOAD_BURN_H
#include <stdint.h>

static volatile uint64_t sink;

#define BURN(name)                                              \
    __attribute__((noinline)) void name(long n)                 \
    {                                                           \
        volatile long frame = 0;                                \
        for (long i = 0; i < n; i++)                            \
            sink += i * i + frame;                              \
    }
#endif
