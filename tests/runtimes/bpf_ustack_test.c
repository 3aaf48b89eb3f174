/* Test harness: user stacks (frame-pointer walk) of one process's threads. */
#include <uapi/linux/ptrace.h>
#include <uapi/linux/bpf_perf_event.h>

struct ustack_event {
    u32 tid;
    u32 bytes;
    u64 ips[64];
};

BPF_RINGBUF_OUTPUT(ustack_events, 64);
BPF_PERCPU_ARRAY(ustack_scratch, struct ustack_event, 1);

int ustack_sample(struct bpf_perf_event_data *ctx)
{
    u64 id = bpf_get_current_pid_tgid();
    if ((id >> 32) != TARGET_PID)
        return 0;
    int zero = 0;
    struct ustack_event *e = ustack_scratch.lookup(&zero);
    if (!e)
        return 0;
    e->tid = (u32)id;
    long n = bpf_get_stack(ctx, e->ips, sizeof(e->ips), BPF_F_USER_STACK);
    e->bytes = n < 0 ? 0 : n;
    ustack_events.ringbuf_output(e, sizeof(*e), 0);
    return 0;
}
