#include "common.h"

/* Process life cycle: which processes exec'd a new program.
 *
 * A pid first seen as a shell or launcher may exec into Python or a JVM;
 * user space keeps per-pid state (its maps, whether it is Python) from the
 * first sighting, so it must hear of the exec to look at the pid again. */

BPF_RINGBUF_OUTPUT(exec_events, 8);

TRACEPOINT_PROBE(sched, sched_process_exec)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    /* A Flamecam process that exec'd runs another program now (the child
     * `flamecam record -- COMMAND` forks is Flamecam until it execs COMMAND):
     * profile it from its first instruction; user space decides again. */
    self_tgids.delete(&tgid);
    if (!wanted(tgid))
        return 0;
    exec_events.ringbuf_output(&tgid, sizeof(tgid), 0);
    return 0;
}

#if FILTER_PIDS && FOLLOW_CHILDREN
/* `flamecam record -- COMMAND`: the command's children are profiled from
 * their first instruction. The tracepoint fires for new threads too (their
 * ids are never a tgid, so they only take room until they exit, below). */
TRACEPOINT_PROBE(sched, sched_process_fork)
{
    u32 parent = bpf_get_current_pid_tgid() >> 32;
    if (!pid_filter.lookup(&parent))
        return 0;
    u32 child = args->child_pid;
    u8 one = 1;
    pid_filter.update(&child, &one);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exit)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tid = id;
    if (tid != (u32)(id >> 32))
        pid_filter.delete(&tid);
    return 0;
}
#endif

#if FLAMECAM_TRACE_LINKS
/* Thread-context tables (docs/TRACE_CONTEXT.md, "Discovery").
 *
 * A writer announces its mapped, filled table by renaming one of its threads
 * to the name it already has: prctl(PR_SET_NAME, own name, base, nslots,
 * TRACECTX_MAGIC), or, where a runtime cannot pass those arguments, a write
 * of the thread's own name to /proc/thread-self/comm. task_rename fires only
 * at renames, never on a system call path: no other system call of the host
 * pays for this (a syscalls:* tracepoint, even an empty one, sends every
 * system call of every task through the kernel's slow path).
 *
 * - Every same-name rename of a thread by itself: user space is told
 *   (table_events, whose records wake its epoll) and looks at the process's
 *   maps at once instead of at its next rescan.
 * - The prctl form also carries the table's address, read from the system
 *   call's arguments saved at kernel entry (user registers, not a kernel
 *   struct): registered here, in the writer's own system call, so the very
 *   next sample is linked; user space then checks the table and completes
 *   (pid namespace) or drops the entry. An entry user space already made is
 *   kept. A process can only register its own memory, which only its own
 *   samples read. */
BPF_RINGBUF_OUTPUT(table_events, 8);

/* A rename without the address tells user space at most once per
 * ANNOUNCE_GAP_NS per process: a program that renames its threads to their
 * own names in a loop must not wake the agent at every call. */
#define ANNOUNCE_GAP_NS 10000000ULL
BPF_TABLE("lru_hash", u32, u64, announced_at, 1024);

#define TRACECTX_MAGIC 0x3145434152544346ULL  /* "FCTRACE1", little-endian */
#define TRACECTX_MAX_SLOTS (1ULL << 24)
#define NR_PRCTL 157                            /* x86-64 */
#define PR_SET_NAME 15

/* 0x80 in each byte of x that is zero, 0 elsewhere (no branch per byte). */
static __always_inline u64 zero_bytes(u64 x)
{
    const u64 low7 = 0x7f7f7f7f7f7f7f7fULL;
    return ~(((x & low7) + low7) | x | low7);
}

/* Bytes 0..k of a word whose first zero byte is k (all of it if none). */
static __always_inline u64 through_first_zero(u64 x)
{
    u64 z = zero_bytes(x);
    return z ? ((z & -z) << 1) - 1 : ~0ULL;
}

TRACEPOINT_PROBE(task, task_rename)
{
    u64 id = bpf_get_current_pid_tgid();
    if ((u32)args->pid != (u32)id)
        return 0;
    /* The same name, compared a word at a time (this runs at every rename):
     * oldcomm is zero-padded, newcomm only NUL-terminated, so only the bytes
     * through oldcomm's NUL count. */
    u64 o0, o1, n0, n1;
    __builtin_memcpy(&o0, &args->oldcomm[0], 8);
    __builtin_memcpy(&o1, &args->oldcomm[8], 8);
    __builtin_memcpy(&n0, &args->newcomm[0], 8);
    __builtin_memcpy(&n1, &args->newcomm[8], 8);
    u64 m0 = through_first_zero(o0);
    u64 m1 = zero_bytes(o0) ? 0 : through_first_zero(o1);
    if (((o0 ^ n0) & m0) | ((o1 ^ n1) & m1))
        return 0;
    u32 tgid = id >> 32;
    if (!wanted(tgid))
        return 0;
    struct entry_regs e;
    read_entry_regs(&e);
    u64 base = 0, nslots = 0;
    if (e.w[ENTRY_REG(orig_ax)] == NR_PRCTL && e.w[ENTRY_REG(di)] == PR_SET_NAME &&
        e.w[ENTRY_REG(r8)] == TRACECTX_MAGIC) {
        base = e.w[ENTRY_REG(dx)];
        nslots = e.w[ENTRY_REG(r10)];
    }
    if (base && nslots && nslots <= TRACECTX_MAX_SLOTS && !(nslots & (nslots - 1))) {
        struct trace_proc p = {};
        p.base = base;
        p.nslots = nslots;
        trace_procs.insert(&tgid, &p);
    } else {
        u64 now = bpf_ktime_get_ns();
        u64 *last = announced_at.lookup(&tgid);
        if (last && now - *last < ANNOUNCE_GAP_NS)
            return 0;
        announced_at.update(&tgid, &now);
    }
    table_events.ringbuf_output(&tgid, sizeof(tgid), 0);
    return 0;
}
#endif
