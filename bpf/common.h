/* Shared by Flamecam's programs: filtering and counters.
 *
 * Only helpers and tracepoint arguments are used: the kernel headers bcc
 * compiles against may belong to another kernel, so struct layouts are
 * never trusted. */
#ifndef FLAMECAM_COMMON_H
#define FLAMECAM_COMMON_H

#define TASK_COMM_LEN 16
#define MAX_KSTACK 64
#define MAX_USTACK 127

/* The driver replaces these before compiling. */
#ifndef SELF_TGID
#define SELF_TGID 0
#endif
#ifndef FILTER_PIDS
#define FILTER_PIDS 0
#endif

/* Processes to profile when FILTER_PIDS is set (tgid -> 1). */
BPF_HASH(pid_filter, u32, u8, 4096);

/* Counters read by user space; index by the COUNT_* constants. */
enum {
    COUNT_CPU_SAMPLES = 0,
    COUNT_CPU_LOST = 1,
    COUNT_OFF_EVENTS = 2,
    COUNT_OFF_LOST = 3,
    COUNT_OFF_AGG_FULL = 4,
    COUNT_OFF_STACK_LOST = 5,
    COUNT_OFF_START_FULL = 6,
    COUNT_OFF_WALKS_SAVED = 7,
    COUNT_MAX = 8,
};
BPF_PERCPU_ARRAY(counters, u64, COUNT_MAX);

static __always_inline void count(int idx)
{
    u64 *v = counters.lookup(&idx);
    if (v)
        (*v)++;
}

static __always_inline int wanted(u32 tgid)
{
    if (tgid == 0 || tgid == SELF_TGID)
        return 0;
#if FILTER_PIDS
    if (!pid_filter.lookup(&tgid))
        return 0;
#endif
    return 1;
}

#endif
