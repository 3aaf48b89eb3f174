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
