/* CPU burners for the workloads: BURN(name) defines `void name(long n)`, and
 * BURN_FOR(name, ns) runs it until this thread has had `ns` of CPU inside it.
 *
 * A split of the CPU between burners is made by CPU time (BURN_FOR), not by
 * iterations: two copies of the same loop are not equal-cost on a loaded host
 * (a 7:3 split by iterations measured 0.76 : 0.24 in a clean-clone run, and
 * 0.73 and 0.68 under two spinners with perf), so the known answer moved with
 * the load. The thread's own CPU clock excludes preemption, and the clock
 * reads fall in the caller, outside both burners, so they shift no share.
 *
 * The volatile local gives the leaves a stack frame: gcc 12 omits the frame
 * pointer of frameless leaves even with -mno-omit-leaf-frame-pointer, and
 * the caller (work) would then vanish from frame-pointer stacks. */
#ifndef FLAMECAM_WORKLOAD_BURN_H
#define FLAMECAM_WORKLOAD_BURN_H
#include <stdint.h>
#include <time.h>

static volatile uint64_t sink;

#define BURN(name)                                              \
    __attribute__((noinline)) void name(long n)                 \
    {                                                           \
        volatile long frame = 0;                                \
        for (long i = 0; i < n; i++)                            \
            sink += i * i + frame;                              \
    }

/* Iterations between two reads of the CPU clock: about 9 us here, so a
 * burner overshoots its CPU time by ~5 us on average, which moves a 7:3 split
 * of 1 ms cycles by under 0.002 (20,000 moved it by 0.007); each read costs
 * well under 1 us, outside both burners. */
#define BURN_SLICE 5000

static inline uint64_t burn_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

#define BURN_FOR(name, ns)                                      \
    do {                                                        \
        uint64_t burn_t0_ = burn_cpu_ns();                      \
        while (burn_cpu_ns() - burn_t0_ < (uint64_t)(ns))       \
            name(BURN_SLICE);                                   \
    } while (0)
#endif
