/* Shared by Flamecam's programs: filtering and counters.
 *
 * Only helpers and tracepoint arguments are used: the kernel headers bcc
 * compiles against may belong to another kernel, so struct layouts are
 * never trusted. */
#ifndef FLAMECAM_COMMON_H
#define FLAMECAM_COMMON_H

#define TASK_COMM_LEN 16
#define MAX_KSTACK 64
#define MAX_USTACK 127

/* The driver replaces these before compiling. */
#ifndef SELF_TGID
#define SELF_TGID 0
#endif
#ifndef FILTER_PIDS
#define FILTER_PIDS 0
#endif

/* Records never wake the reader (BPF_RB_NO_WAKEUP): user space drains the
 * rings on its own clock, ten times a second, instead of waking for every
 * sample. The rings are sized for that interval. */
#define RB_FLAGS 1

#ifndef STACK_COPY_MAX
#define STACK_COPY_MAX 16384
#endif

/* Runtime hooks: a runtime's BPF side (its header in runtimes/<name>/, spliced before
 * this file) defines them; without one, no runtime stack and no lock wait.
 * FLAMECAM_RUNTIME_STACK(tgid, tid): a u64 id of the current thread's runtime
 * stack that user space resolves (0: none); FLAMECAM_RUNTIME_LOCK_WAIT: 1 when
 * the thread blocks on its runtime's own lock (the GIL), reported as such. */
#ifndef FLAMECAM_RUNTIME_STACK
#define FLAMECAM_RUNTIME_STACK(tgid, tid) 0
#endif
#ifndef FLAMECAM_RUNTIME_LOCK_WAIT
#define FLAMECAM_RUNTIME_LOCK_WAIT(tgid, tid) 0
#endif

#ifndef FOLLOW_CHILDREN
#define FOLLOW_CHILDREN 0
#endif

/* Processes to profile when FILTER_PIDS is set (tgid -> 1). With
 * FOLLOW_CHILDREN (`flamecam record -- COMMAND`) bpf/procs.c adds every
 * child forked by a listed process, so the map is larger then. */
#if FOLLOW_CHILDREN
BPF_HASH(pid_filter, u32, u8, 65536);
#else
BPF_HASH(pid_filter, u32, u8, 4096);
#endif

/* Flamecam's own other processes (server, its workers), never profiled
 * (tgid -> 1); filled by profiler/sampler/self_exclusion.py. */
BPF_HASH(self_tgids, u32, u8, 1024);

/* Counters read by user space; index by the COUNT_* constants. */
enum {
    COUNT_CPU_SAMPLES = 0,
    COUNT_CPU_LOST = 1,
    COUNT_OFF_EVENTS = 2,
    COUNT_OFF_LOST = 3,
    COUNT_OFF_AGG_FULL = 4,
    COUNT_OFF_STACK_LOST = 5,
    COUNT_OFF_START_FULL = 6,
    COUNT_OFF_WALKS_SAVED = 7,
    COUNT_OFF_SUMMED = 8,   /* above the threshold, summed: the agent was over its CPU budget */
    COUNT_OFF_MISSED_IN = 9,  /* a switch-in no program saw: the interval ended at its wakeup */
    COUNT_MAX = 10,
};
BPF_PERCPU_ARRAY(counters, u64, COUNT_MAX);

static __always_inline void count(int idx)
{
    u64 *v = counters.lookup(&idx);
    if (v)
        (*v)++;
}

/* Processes whose code lacks frame pointers (tgid -> bytes of stack to copy):
 * for them the samplers copy the user registers and the top of the user
 * stack, and user space unwinds it with the binaries' CFI (perf's
 * --call-graph dwarf). Everyone else gets the cheap frame-pointer walk. */
BPF_HASH(stack_copy_pids, u32, u32, 4096);

/* Bytes of user stack to copy for this process (0: walk frame pointers only).
 * COPY_ALL_BYTES (--unwind dwarf) is compiled in, so copies start with the
 * very first event rather than when user space gets to fill a map.
 * LEAF_COPY_BYTES (--unwind auto) is what every other process gets: a
 * function built without frame pointers (libc's nanosleep, memcpy,
 * __lll_lock_wait) leaves rbp pointing at its caller's caller, so the
 * frame-pointer walk skips its direct caller; the few hundred bytes above sp
 * hold that caller's return address, which user space finds with CFI and
 * splices into the frame-pointer walk (symbolizer/unwind/walk.py). */
#ifndef COPY_ALL_BYTES
#define COPY_ALL_BYTES 0
#endif
#ifndef LEAF_COPY_BYTES
#define LEAF_COPY_BYTES 0
#endif
static __always_inline u32 copy_wanted(u32 tgid)
{
    if (COPY_ALL_BYTES)
        return COPY_ALL_BYTES;
    u32 *want = stack_copy_pids.lookup(&tgid);
    return want ? *want : LEAF_COPY_BYTES;
}

struct user_regs {
    u64 ip;
    u64 sp;
    u64 bp;
};

/* The registers saved at kernel entry (or at the sampling interrupt), rbp
 * through rsp: an ABI-fixed frame, not a kernel struct whose layout varies,
 * read with one helper call (one read costs about as much as each of four). */
#define ENTRY_REG(name) ((offsetof(struct pt_regs, name) - offsetof(struct pt_regs, bp)) / 8)
struct entry_regs {
    u64 w[ENTRY_REG(sp) + 1];
};
static __always_inline void read_entry_regs(struct entry_regs *e)
{
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
    if (bpf_probe_read_kernel(e, sizeof(*e), &regs->bp) != 0)
        __builtin_memset(e, 0, sizeof(*e));
}

/* The user registers saved at kernel entry, and the system call number. */
static __always_inline void user_regs_of(struct entry_regs *e, struct user_regs *r,
                                         u64 *syscall_nr)
{
    r->ip = e->w[ENTRY_REG(ip)];
    r->sp = e->w[ENTRY_REG(sp)];
    r->bp = e->w[ENTRY_REG(bp)];
    if (syscall_nr)
        *syscall_nr = e->w[ENTRY_REG(orig_ax)];
}

static __always_inline void read_user_regs(struct user_regs *r, u64 *syscall_nr)
{
    struct entry_regs e;
    read_entry_regs(&e);
    user_regs_of(&e, r, syscall_nr);
}

/* Copies up to `want` bytes of user stack from `sp` into `dst` (which has
 * STACK_COPY_MAX + 4096 bytes); returns the bytes copied. A read that runs
 * past the top of the stack fails whole, so the copy goes page by page: the
 * rest of sp's page, then whole pages, then a partial last one, stopping at
 * the first page that is not there. */
static __always_inline u32 copy_user_stack(char *dst, u64 sp, u32 want)
{
    if (want > STACK_COPY_MAX)
        want = STACK_COPY_MAX;
    u32 got = 4096 - (sp & 4095);
    if (got > want)
        got = want;
    got &= 0x1fff;
    if (got == 0 || got > 4096 || bpf_probe_read_user(dst, got, (void *)sp) != 0)
        return 0;
#pragma unroll
    for (int i = 0; i < STACK_COPY_MAX / 4096; i++) {
        if (got + 4096 > want)
            break;
        if (bpf_probe_read_user(dst + got, 4096, (void *)(sp + got)) != 0)
            return got;
        got += 4096;
    }
    u64 tail = (u64)(want - got) & 0xfff;  /* < 4096 here: the loop took every whole page */
    if (tail && got <= STACK_COPY_MAX &&
        bpf_probe_read_user(dst + got, tail, (void *)(sp + got)) == 0)
        got += tail;
    return got;
}

static __always_inline int wanted(u32 tgid)
{
    if (tgid == 0 || tgid == SELF_TGID || self_tgids.lookup(&tgid))
        return 0;
#if FILTER_PIDS
    if (!pid_filter.lookup(&tgid))
        return 0;
#endif
    return 1;
}

#endif
