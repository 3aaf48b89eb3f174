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
    exec_events.ringbuf_output(&tgid, sizeof(tgid), RB_FLAGS);
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
