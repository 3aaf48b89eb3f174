/* On-CPU sampler: one ring-buffer record per perf-event sample.
 *
 * Attached to the software cpu-clock event on every CPU. Each record carries
 * the sample's time, pid, tid, CPU, comm and its kernel and user stacks as
 * instruction pointers (frame-pointer walk by bpf_get_stack). For processes
 * listed in stack_copy_pids it also carries the user registers and a copy of
 * the top of the user stack, for CFI unwinding in user space. Records are
 * variable length so that short stacks cost few bytes.
 *
 * The event runs at the trace rate (--trace-hz). A thread that
 * serves a traced request (bpf/tracectx.h) keeps every sample; any other
 * thread keeps one in KEEP_EVERY, chosen at random, and its record says so
 * (`weight`), so the host's totals stay unbiased at the fleet rate. */
#include <uapi/linux/ptrace.h>
#include <uapi/linux/bpf_perf_event.h>
#include "common.h"

#ifndef KEEP_EVERY
#define KEEP_EVERY 1
#endif

struct cpu_event {
    u64 ts;          /* CLOCK_MONOTONIC ns */
    u32 pid;         /* tgid */
    u32 tid;
    u32 cpu;
    u16 kstack_bytes;
    u16 ustack_bytes;
    char comm[TASK_COMM_LEN];
    struct user_regs regs;       /* zero unless the stack was copied */
    u32 copy_bytes;              /* bytes of user stack copied from regs.sp */
    u32 pad;
    u64 rt_stack;                /* a runtime's stack id (FLAMECAM_RUNTIME_STACK), 0: none */
    struct trace_link link;      /* bpf/tracectx.h: zero when not serving a span */
    u32 weight;                  /* event periods this sample stands for */
    u32 pad2;
    u64 ips[MAX_KSTACK + MAX_USTACK];  /* kernel stack, then user stack */
    char copy[STACK_COPY_MAX + 4096];  /* follows the used part of ips; slack for the verifier */
};

/* Sized for a pause of the reader at the full rate (program.cpu_ringbuf_pages). */
#ifndef CPU_RINGBUF_PAGES
#define CPU_RINGBUF_PAGES RINGBUF_PAGES
#endif
BPF_RINGBUF_OUTPUT(cpu_events, CPU_RINGBUF_PAGES);
BPF_PERCPU_ARRAY(cpu_scratch, struct cpu_event, 1);

int on_cpu_sample(struct bpf_perf_event_data *ctx)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    if (tid == 0 || !wanted(tgid))
        return 0;

    struct trace_link link;
    int linked = flamecam_trace_link(tgid, tid, &link);
    if (KEEP_EVERY > 1 && !linked && bpf_get_prandom_u32() % KEEP_EVERY != 0)
        return 0;

    int zero = 0;
    struct cpu_event *e = cpu_scratch.lookup(&zero);
    if (!e)
        return 0;
    e->link = link;
    e->weight = linked ? 1 : KEEP_EVERY;
    e->ts = bpf_ktime_get_ns();
    e->pid = tgid;
    e->tid = tid;
    e->cpu = bpf_get_smp_processor_id();
    bpf_get_current_comm(&e->comm, sizeof(e->comm));
    e->rt_stack = FLAMECAM_RUNTIME_STACK(tgid, tid);

    long k = bpf_get_stack(ctx, &e->ips[0], MAX_KSTACK * sizeof(u64), 0);
    if (k < 0)
        k = 0;  /* a sample taken in user mode has no kernel stack */
    k &= 0x3ff;
    if (k > MAX_KSTACK * sizeof(u64))
        k = MAX_KSTACK * sizeof(u64);
    long u = bpf_get_stack(ctx, (void *)&e->ips[0] + k, MAX_USTACK * sizeof(u64),
                           BPF_F_USER_STACK);
    if (u < 0)
        u = 0;
    u &= 0x7ff;
    if (u > MAX_USTACK * sizeof(u64))
        u = MAX_USTACK * sizeof(u64);
    e->kstack_bytes = k;
    e->ustack_bytes = u;

    e->copy_bytes = 0;
    e->regs.ip = e->regs.sp = e->regs.bp = 0;
    u32 want = copy_wanted(tgid);
    if (want) {
        read_user_regs(&e->regs, 0);
        u32 used = (k + u) & 0x7ff;
        if (used > (MAX_KSTACK + MAX_USTACK) * sizeof(u64))
            used = (MAX_KSTACK + MAX_USTACK) * sizeof(u64);
        if (e->regs.sp)
            e->copy_bytes = copy_user_stack((char *)&e->ips[0] + used, e->regs.sp, want);
    }

    u64 size = offsetof(struct cpu_event, ips) + k + u + e->copy_bytes;
    if (size > sizeof(*e))
        size = sizeof(*e);
    if (cpu_events.ringbuf_output(e, size, RB_FLAGS) == 0)
        count(COUNT_CPU_SAMPLES);
    else
        count(COUNT_CPU_LOST);
    return 0;
}
