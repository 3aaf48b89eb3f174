/* Test harness for runtimes/python/python.h (spliced in by the test): on-CPU samples and
 * switch-outs of registered Python processes, with their Python stack ids. */
#include <uapi/linux/ptrace.h>
#include <uapi/linux/bpf_perf_event.h>

struct py_test_event {
    u32 kind;   /* 0 on-CPU sample, 1 switch-out (blocked) */
    u32 tid;
    u64 py;
    u32 gil;
    u32 state;
    u64 futex;  /* the futex address it blocked in (0: none): why a wait was not the GIL */
};

BPF_RINGBUF_OUTPUT(py_test_events, 256);

static __always_inline void py_test_emit(u32 kind, u32 state)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    if (!py_procs.lookup(&tgid))
        return;
    struct py_test_event e = {};
    e.kind = kind;
    e.tid = tid;
    e.state = state;
    e.py = flamecam_py_stackid(tgid, tid);
    e.gil = flamecam_py_gil_wait(tgid, tid);
    e.futex = kind ? flamecam_futex_wait_addr() : 0;
    py_test_events.ringbuf_output(&e, sizeof(e), 0);
}

int py_test_sample(struct bpf_perf_event_data *ctx)
{
    py_test_emit(0, 0);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_switch)
{
    u32 tid = (u32)bpf_get_current_pid_tgid();
    if (tid == (u32)args->prev_pid && args->prev_state != 0)
        py_test_emit(1, (u32)args->prev_state);
    return 0;
}
