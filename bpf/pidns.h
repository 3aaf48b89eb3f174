/* Thread ids as a process's own pid namespace numbers them.
 *
 * Runtimes and the thread-context table record the ids their process sees;
 * inside a container those differ from the host's. Spliced by
 * `program.build_source` before the runtimes' headers and tracectx.h. */
#ifndef FLAMECAM_PIDNS_H
#define FLAMECAM_PIDNS_H

/* The current task's id in the pid namespace (dev, ino) its process lives in
 * (a container), or `host_tid` when ino is 0 (the profiler's own namespace);
 * 0 when it cannot be told. Runtimes record thread ids as their namespace
 * numbers them (runtimes' headers, tracectx.h). */
static __always_inline u32 flamecam_ns_tid(u64 dev, u64 ino, u32 host_tid)
{
    if (!ino)
        return host_tid;
    struct bpf_pidns_info ns = {};
    if (bpf_get_ns_current_pid_tgid(dev, ino, &ns, sizeof(ns)) != 0)
        return 0;
    return ns.pid;
}

#endif
