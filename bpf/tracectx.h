/* The trace and span the current thread serves, read from its process's
 * thread-context table (docs/TRACE_CONTEXT.md, "FCTRACE1").
 *
 * A process that takes part keeps a shared-memory table of per-thread slots
 * (memfd `flamecam-tracectx`) and updates its own thread's slot with plain
 * memory writes at every context attach and detach. User space finds the
 * table (profiler/sampler/tracectx.py) and writes its address into
 * `trace_procs`. Here, in the sampled thread's own context (perf event, or
 * sched_switch while `current` is still the outgoing thread), the slot is
 * read with bpf_probe_read_user: user memory only, no kernel struct.
 *
 * The reader runs in the writer's own context, so the writer is frozen while
 * the slot is read: a slot whose seq is odd was interrupted mid-update and
 * gives no link (counted), any other slot is consistent without a re-check.
 *
 * A process not in `trace_procs` costs one hash lookup.
 *
 * Splice the text into the program source after pidns.h (bcc rewrites map
 * calls only in the text it compiles; flamecam_ns_tid comes from there). Then:
 *
 *     struct trace_link l;
 *     int linked = flamecam_trace_link(tgid, tid, &l);   // 1: l holds the ids
 */
#ifndef FLAMECAM_TRACECTX_H
#define FLAMECAM_TRACECTX_H

#ifndef TRACE_PROC_ENTRIES
#define TRACE_PROC_ENTRIES 4096
#endif
#define TRACE_HEADER_SIZE 64
#define TRACE_SLOT_SIZE 64
#define TRACE_MAX_PROBE 8
#ifndef FLAMECAM_TRACE_LINKS
#define FLAMECAM_TRACE_LINKS 1  /* 0: never look (SamplerOptions.trace_links) */
#endif

/* One registered process; layout mirrors tracectx.TRACE_PROC. */
struct trace_proc {
    u64 base;          /* address of the table in the process */
    u64 pidns_dev;     /* the process's pid namespace when it is */
    u64 pidns_ino;     /* not the profiler's (containers), else 0 */
    u32 nslots;        /* a power of two */
    u32 pad;
};

struct trace_link {
    u8 trace_id[16];
    u8 span_id[8];
};

/* The first 32 bytes of a slot. */
struct trace_slot {
    u32 tid;
    u32 seq;
    struct trace_link link;
};

BPF_HASH(trace_procs, u32, struct trace_proc, TRACE_PROC_ENTRIES);

/* Slots read mid-update (seq odd): that sample or interval has no link. */
BPF_PERCPU_ARRAY(trace_torn, u64, 1);

/* All-zero trace id: the thread serves no span now. */
static __always_inline int trace_link_nonzero(struct trace_link *l)
{
    u64 a = 0, b = 0;
    __builtin_memcpy(&a, &l->trace_id[0], 8);
    __builtin_memcpy(&b, &l->trace_id[8], 8);
    return (a | b) != 0;
}

/* 1 and `out` filled when thread `host_tid` of `tgid` (the current task)
 * serves a span now; else 0 and `out` zeroed. */
static __always_inline int flamecam_trace_link(u32 tgid, u32 host_tid, struct trace_link *out)
{
    __builtin_memset(out, 0, sizeof(*out));
    if (!FLAMECAM_TRACE_LINKS)
        return 0;
    struct trace_proc *p = trace_procs.lookup(&tgid);
    if (!p)
        return 0;
    /* The table holds ids as the process's own pid namespace numbers them. */
    u32 tid = flamecam_ns_tid(p->pidns_dev, p->pidns_ino, host_tid);
    if (!tid)
        return 0;
    u32 mask = p->nslots - 1;
    u64 slots = p->base + TRACE_HEADER_SIZE;
    struct trace_slot s = {};
    /* Linear probing from tid & mask; a free slot (tid 0) does not end the
     * search, since a writer may free a slot that others probed past. */
#pragma unroll
    for (int i = 0; i < TRACE_MAX_PROBE; i++) {
        u64 addr = slots + (u64)((tid + i) & mask) * TRACE_SLOT_SIZE;
        if (bpf_probe_read_user(&s, sizeof(s), (void *)addr) != 0)
            return 0;
        if (s.tid != tid)
            continue;
        if (s.seq & 1) {
            int zero = 0;
            u64 *torn = trace_torn.lookup(&zero);
            if (torn)
                (*torn)++;
            return 0;
        }
        if (!trace_link_nonzero(&s.link))
            return 0;
        __builtin_memcpy(out, &s.link, sizeof(*out));
        return 1;
    }
    return 0;
}

#endif
