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
    if (!wanted(tgid))
        return 0;
    exec_events.ringbuf_output(&tgid, sizeof(tgid), 0);
    return 0;
}

#if FLAMECAM_TRACE_LINKS
/* Thread-context tables (docs/TRACE_CONTEXT.md): a process that creates the
 * memfd "flamecam-tracectx" is looked at now, so its first request is linked
 * (user space would otherwise find the table at its next rescan). Only
 * memfd_create calls run this, and the name is compared in the kernel. */
BPF_RINGBUF_OUTPUT(table_events, 8);
/* Tables made so far: user space reads this one number every few ms while it
 * waits, and reads table_events as soon as it moves. */
BPF_ARRAY(table_gen, u64, 1);

TRACEPOINT_PROBE(syscalls, sys_enter_memfd_create)
{
    u32 tgid = bpf_get_current_pid_tgid() >> 32;
    if (!wanted(tgid))
        return 0;
    char name[18] = {};
    const char want[18] = "flamecam-tracectx";
    if (bpf_probe_read_user_str(name, sizeof(name), args->uname) != sizeof(name))
        return 0;
#pragma unroll
    for (int i = 0; i < (int)sizeof(name); i++)
        if (name[i] != want[i])
            return 0;
    table_events.ringbuf_output(&tgid, sizeof(tgid), 0);
    int zero = 0;
    u64 *gen = table_gen.lookup(&zero);
    if (gen)
        __sync_fetch_and_add(gen, 1);
    return 0;
}
#endif
