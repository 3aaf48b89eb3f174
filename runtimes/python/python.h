/* Python stacks walked in the kernel, at the moment of the sample.
 *
 * For an unmodified CPython 3.11/3.12/3.13 process, reads the interpreter's
 * frame chain of the *current* thread with bpf_probe_read_user only (user
 * memory; no kernel struct is ever dereferenced), using per-process offsets
 * that user space writes into `py_procs` (runtimes/python/bpf_maps.py).
 * This is the Python runtime's BPF side; `program.build_source` splices it in
 * after bpf/pidns.h (`flamecam_ns_tid`) and before common.h, whose runtime
 * hooks (FLAMECAM_RUNTIME_STACK, FLAMECAM_RUNTIME_LOCK_WAIT) it defines.
 * Walking here rather than in user space is what makes the stack exact:
 * on-CPU, a ring-buffer record is read milliseconds later, when the thread
 * has moved on; off-CPU, the lead's event is emitted at switch-*in*, after
 * the thread woke, so only the switch-out program sees the blocking stack.
 *
 * Use it like common.h: splice the text into the program source (bcc
 * rewrites `map.lookup()` calls only in the text it compiles, not in
 * #included files). Then, in any program running in the sampled task's
 * context (perf event, sched_switch for `prev`):
 *
 *     u64 py = flamecam_py_stackid(tgid, tid);   // 0: no Python stack
 *
 * and put `py` in the event. User space reads `py_stacks[py]` (a
 * `struct py_stack`: pairs of code-object address | flags, instruction
 * pointer, leaf first; flag bit 0: 3.11 entry frame, bit 1: 3.12+ C-stack
 * shim frame) and names the code objects from /proc/PID/mem.
 * The id is a 64-bit hash of the frames, so equal stacks share one entry
 * (like BPF_STACK_TRACE, but without its 32-bit collisions).
 *
 * Define FLAMECAM_PY_GIL to also get `flamecam_py_gil_wait(tgid, tid)`: 1
 * when the thread, switching out, is blocked in futex() on the interpreter's
 * GIL state (the address read from its syscall's saved user registers), so
 * the off-CPU program can report reason `gil` instead of `lock`.
 */
#ifndef FLAMECAM_PYTHON_H
#define FLAMECAM_PYTHON_H

#ifndef PY_MAX_FRAMES
#define PY_MAX_FRAMES 64
#endif
#ifndef PY_MAX_THREADS
#define PY_MAX_THREADS 64
#endif
#ifndef PY_PROC_ENTRIES
#define PY_PROC_ENTRIES 1024
#endif
#ifndef PY_STACK_ENTRIES
#define PY_STACK_ENTRIES 16384
#endif

#define PY_FRAME_OWNED_BY_CSTACK 3

/* One profiled Python process; layout mirrors bpf_maps.PY_PROC. */
struct py_proc {
    u64 runtime;                    /* &_PyRuntime */
    u64 gil;                        /* &_gil_runtime_state (0: unknown) */
    u32 gil_size;
    s32 runtime_interpreters_head;
    s32 interp_threads_head;
    s32 tstate_next;
    s32 tstate_native_thread_id;
    s32 tstate_cframe;              /* 3.11/3.12, else -1 */
    s32 cframe_current_frame;
    s32 tstate_current_frame;       /* 3.13, else -1 */
    s32 frame_code;
    s32 frame_previous;
    s32 frame_instr;
    s32 frame_owner;
    s32 frame_is_entry;             /* 3.11, else -1 */
    s32 gil_last_holder;
    s32 gil_locked;
    u32 version;                    /* 0x030b for 3.11 */
    u64 pidns_dev;                  /* the process's pid namespace when it is */
    u64 pidns_ino;                  /* not the profiler's (containers), else 0 */
};

/* A walked stack, leaf first: frames[2*i] = code address | 1 (3.11 entry
 * frame) | 2 (3.12+ shim frame owned by the C stack), frames[2*i+1] =
 * instruction pointer. Code objects are 16-byte aligned: the bits are free. */
struct py_stack {
    u32 len;
    u32 truncated;
    u64 frames[2 * PY_MAX_FRAMES];
};

BPF_HASH(py_procs, u32, struct py_proc, PY_PROC_ENTRIES);
BPF_TABLE("lru_hash", u32, u64, py_tstates, 65536);          /* tid -> PyThreadState* */
BPF_TABLE("lru_hash", u64, struct py_stack, py_stacks, PY_STACK_ENTRIES);
BPF_PERCPU_ARRAY(py_scratch, struct py_stack, 1);

static __always_inline u64 py_read_ptr(u64 addr)
{
    u64 v = 0;
    if (addr)
        bpf_probe_read_user(&v, sizeof(v), (void *)addr);
    return v;
}

static __always_inline int py_tstate_is(struct py_proc *p, u64 ts, u32 tid)
{
    return ts && py_read_ptr(ts + p->tstate_native_thread_id) == (u64)tid;
}

/* The PyThreadState of native thread `tid` (the host's id, as the helpers
 * give it): cached, else the GIL holder (an on-CPU thread running bytecode
 * holds the GIL), else a bounded walk of the main interpreter's thread list.
 * The interpreter stores ids as its own pid namespace numbers them, so inside
 * a container the comparison uses the namespace's id of the current task. */
static __always_inline u64 flamecam_py_tstate(struct py_proc *p, u32 host_tid)
{
    u32 tid = flamecam_ns_tid(p->pidns_dev, p->pidns_ino, host_tid);
    if (!tid)
        return 0;
    u64 *cached = py_tstates.lookup(&host_tid);
    if (cached && py_tstate_is(p, *cached, tid))
        return *cached;
    u64 ts = 0;
    if (p->gil) {
        u64 holder = py_read_ptr(p->gil + p->gil_last_holder);
        if (py_tstate_is(p, holder, tid))
            ts = holder;
    }
    if (!ts) {
        u64 interp = py_read_ptr(p->runtime + p->runtime_interpreters_head);
        u64 t = py_read_ptr(interp + p->interp_threads_head);
        for (int i = 0; i < PY_MAX_THREADS && t; i++) {
            if (py_tstate_is(p, t, tid)) {
                ts = t;
                break;
            }
            t = py_read_ptr(t + p->tstate_next);
        }
    }
    if (ts)
        py_tstates.update(&host_tid, &ts);
    return ts;
}

/* Walks the current thread's Python frames into `st`; returns the count. */
static __always_inline int flamecam_py_stack(struct py_proc *p, u32 tid, struct py_stack *st)
{
    st->len = 0;
    st->truncated = 0;
    u64 ts = flamecam_py_tstate(p, tid);
    if (!ts)
        return 0;
    u64 frame;
    if (p->tstate_current_frame >= 0) {
        frame = py_read_ptr(ts + p->tstate_current_frame);
    } else {
        u64 cframe = py_read_ptr(ts + p->tstate_cframe);
        frame = py_read_ptr(cframe + p->cframe_current_frame);
    }
    /* One slot per frame, shim frames included (bit 1), so the loop has a
     * single induction variable: that keeps the verifier's work linear. */
    u32 n = 0;
    for (int i = 0; i < PY_MAX_FRAMES; i++) {
        if (!frame)
            break;
        u64 code = py_read_ptr(frame + p->frame_code);
        u64 instr = py_read_ptr(frame + p->frame_instr);
        u64 previous = py_read_ptr(frame + p->frame_previous);
        u8 owner = 0, entry = 0;
        bpf_probe_read_user(&owner, 1, (void *)(frame + p->frame_owner));
        if (p->frame_is_entry >= 0)
            bpf_probe_read_user(&entry, 1, (void *)(frame + p->frame_is_entry));
        st->frames[(2 * i) & (2 * PY_MAX_FRAMES - 1)] =
            (code & ~3ULL) | (entry & 1) | ((u64)(owner == PY_FRAME_OWNED_BY_CSTACK) << 1);
        st->frames[(2 * i + 1) & (2 * PY_MAX_FRAMES - 1)] = instr;
        n = i + 1;
        frame = previous;
    }
    st->truncated = frame != 0;
    st->len = n;
    return n;
}

/* Walks, stores and returns the id of the current thread's Python stack:
 * 0 when `tgid` is not a registered Python process or has no frames. */
static __always_inline u64 flamecam_py_stackid(u32 tgid, u32 tid)
{
    struct py_proc *p = py_procs.lookup(&tgid);
    if (!p)
        return 0;
    int zero = 0;
    struct py_stack *st = py_scratch.lookup(&zero);
    if (!st)
        return 0;
    int n = flamecam_py_stack(p, tid, st);
    if (n <= 0)
        return 0;
    u64 h = 0xcbf29ce484222325ULL;  /* FNV-1a over the frame words */
    for (int i = 0; i < 2 * PY_MAX_FRAMES; i++) {
        if (i >= 2 * n)
            break;
        h ^= st->frames[i & (2 * PY_MAX_FRAMES - 1)];
        h *= 0x100000001b3ULL;
    }
    h ^= n;
    if (h == 0)
        h = 1;
    py_stacks.update(&h, st);
    return h;
}

#ifdef FLAMECAM_PY_GIL
/* The futex address the current task is blocked on, 0 when it is not in a
 * futex wait. Called where the task is switching out, i.e. still inside its
 * system call: its user registers, saved at syscall entry (the ABI-stable
 * pt_regs that bpf_task_pt_regs gives), hold the call's number and arguments.
 * Read there, nothing is remembered per thread, no syscall tracepoint is
 * enabled (that would put every task of the host on the slow syscall path),
 * and no wait can be missed. x86_64: nr in orig_ax, uaddr in rdi, op in rsi. */
#define FLAMECAM_NR_FUTEX 202
static __always_inline u64 flamecam_futex_wait_addr(void)
{
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
    u64 nr = 0, op = 0, uaddr = 0;
    bpf_probe_read_kernel(&nr, sizeof(nr), &regs->orig_ax);
    if (nr != FLAMECAM_NR_FUTEX)
        return 0;
    /* Only waits block: WAIT, LOCK_PI, WAIT_BITSET, WAIT_REQUEUE_PI, LOCK_PI2
     * (the command without the PRIVATE/CLOCK_REALTIME flags). */
    bpf_probe_read_kernel(&op, sizeof(op), &regs->si);
    u32 cmd = (u32)op & 0x7f;
    if (cmd != 0 && cmd != 6 && cmd != 9 && cmd != 11 && cmd != 13)
        return 0;
    bpf_probe_read_kernel(&uaddr, sizeof(uaddr), &regs->di);
    return uaddr;
}

/* 1 when the current task, thread `tid` of `tgid`, switching out, is blocked
 * on the GIL's mutex or condvars. */
static __always_inline int flamecam_py_gil_wait(u32 tgid, u32 tid)
{
    struct py_proc *p = py_procs.lookup(&tgid);
    if (!p || !p->gil)
        return 0;
    u64 uaddr = flamecam_futex_wait_addr();
    return uaddr >= p->gil && uaddr < p->gil + p->gil_size;
}
#endif

/* The samplers' runtime hooks (bpf/common.h): this runtime's stack id, and
 * whether the thread waits for this runtime's lock. */
#define FLAMECAM_RUNTIME_STACK(tgid, tid) flamecam_py_stackid(tgid, tid)
#ifdef FLAMECAM_PY_GIL
#define FLAMECAM_RUNTIME_LOCK_WAIT(tgid, tid) flamecam_py_gil_wait(tgid, tid)
#endif

#endif
