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
/* Thread-context tables (docs/TRACE_CONTEXT.md, "Discovery"). Only
 * memfd_create calls run this; the name is compared in the kernel.
 *
 * - "flamecam-tracectx": a process makes its table. User space is told
 *   (table_events, whose records wake its epoll) and looks at the process
 *   at once instead of at its next rescan.
 * - "flamecam-tracectx@<base, 16 hex>.<nslots, 8 hex>": the writer announces
 *   its mapped, filled table. It is registered here, in the writer's own
 *   system call, so the very next sample is linked; user space then checks
 *   the table and completes (pid namespace) or drops the entry. An entry user
 *   space already made is kept. A process can only register its own memory,
 *   which only its own samples read. */
BPF_RINGBUF_OUTPUT(table_events, 8);

#define TRACECTX_NAME_LEN 17   /* strlen("flamecam-tracectx") */
#define TRACECTX_ANNOUNCE_LEN (TRACECTX_NAME_LEN + 1 + 16 + 1 + 8)

/* The number in `len` lowercase hex digits at s, without a branch per digit
 * (a branch per digit makes the verifier walk 3^24 paths). A character that
 * is not a hex digit gives a wrong number, not an error: the process can
 * only misplace its own table, and user space then drops the entry. */
static __always_inline u64 parse_hex(const char *s, const int len)
{
    u64 v = 0;
#pragma unroll
    for (int i = 0; i < len; i++) {
        u8 c = s[i];
        v = (v << 4) | (((c & 0xf) + 9 * ((c >> 6) & 1)) & 0xf);
    }
    return v;
}

TRACEPOINT_PROBE(syscalls, sys_enter_memfd_create)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (!wanted(tgid))
        return 0;
    char name[TRACECTX_ANNOUNCE_LEN + 1] = {};
    int n = bpf_probe_read_user_str(name, sizeof(name), args->uname);
    if (n != TRACECTX_NAME_LEN + 1 && n != TRACECTX_ANNOUNCE_LEN + 1)
        return 0;
    /* "flamecam" "-tracect" "x", compared as two words and a byte (a loop of
     * 17 byte compares here made the program fail to load with E2BIG). */
    u64 w0 = 0, w1 = 0;
    __builtin_memcpy(&w0, &name[0], 8);
    __builtin_memcpy(&w1, &name[8], 8);
    if (w0 != 0x6d6163656d616c66ULL || w1 != 0x746365636172742dULL || name[16] != 'x')
        return 0;
    if (n == TRACECTX_ANNOUNCE_LEN + 1) {
        if (name[TRACECTX_NAME_LEN] != '@' || name[TRACECTX_NAME_LEN + 17] != '.')
            return 0;
        u64 base = parse_hex(&name[TRACECTX_NAME_LEN + 1], 16);
        u64 nslots = parse_hex(&name[TRACECTX_NAME_LEN + 18], 8);
        if (!base || !nslots || (nslots & (nslots - 1)))
            return 0;
        struct trace_proc p = {};
        p.base = base;
        p.nslots = nslots;
        trace_procs.insert(&tgid, &p);
    }
    table_events.ringbuf_output(&tgid, sizeof(tgid), 0);
    return 0;
}
#endif
