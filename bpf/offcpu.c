/* Off-CPU sampler: every interval a thread spends off the CPU, measured.
 *
 * sched_switch (prev leaving): remember when, its state (why) and the
 * blocking stacks; "current" is still prev here, so its stacks are the ones
 * that blocked. sched_wakeup: remember when it became runnable again.
 * sched_switch (next arriving): the interval ends. It splits into blocked
 * time (out -> wakeup) and run-queue delay (wakeup -> in). Intervals at or
 * above THRESHOLD_NS go to the ring buffer one by one (1 in off_keep of them
 * while the agent is over its CPU budget); the others are summed in the
 * kernel by (thread, stacks, state, link) so the total stays exact.
 *
 * Why it waited (struct wait_info): the system call it blocked in and its
 * first two arguments, read from the user registers saved at kernel entry
 * (ABI-fixed, free: no program runs per system call); and who woke it,
 * recorded at sched_waking, where `current` is the waker (or whatever an
 * interrupt interrupted: user space tells from the waker's kernel stack).
 * The waker's stacks are walked only when the wait already reached
 * THRESHOLD_NS, i.e. for intervals that are kept one by one, and then at
 * most once per waker place and 100 ms (off_waker_walks); every other
 * wakeup costs a lookup and a few stores.
 *
 * The link (bpf/tracectx.h) is the trace and span the thread served when it
 * left the CPU, read at switch-out while `current` is still that thread;
 * summing per link keeps a trace's off-CPU total exact too. */
#include <uapi/linux/ptrace.h>
#include "common.h"

struct wait_info {
    u64 nr;          /* orig_ax at switch-out: the system call, if it was in one */
    u64 arg0;        /* its first two arguments (fd, futex address, ...) */
    u64 arg1;
    u64 waker_rt;    /* the waker's runtime stack (FLAMECAM_RUNTIME_STACK), 0: none */
    u32 waker_pid;   /* 0 with waker_tid 0: never seen woken */
    u32 waker_tid;
    s32 waker_kstack;  /* -1: not walked (wait shorter than the threshold at wakeup) */
    s32 waker_ustack;
    u32 waker_ucopy;   /* a stack copy of the waker (processes without frame pointers) */
    u32 pad;
    char waker_comm[TASK_COMM_LEN];
};

struct off_start {
    u64 ts_out;
    u64 ts_wake;
    u32 tgid;
    s32 kstack;
    s32 ustack;
    u32 state;
    u32 ucopy;       /* id of a user stack copy (stack_copy_pids), or 0 */
    u32 cpu;         /* where it left the CPU */
    char comm[TASK_COMM_LEN];
    u64 rt_stack;
    u32 lock_wait;               /* FLAMECAM_RUNTIME_LOCK_WAIT: blocked on the runtime's lock */
    u32 pad2;
    struct trace_link link;
    struct wait_info wait;
};

struct off_event {
    u64 ts_out;
    u64 ts_wake;     /* 0 when never woken (preempted) */
    u64 ts_in;
    u32 pid;
    u32 tid;
    u32 cpu;
    u32 state;
    s32 kstack;
    s32 ustack;
    u32 ucopy;
    u32 kept_every;  /* off_keep when it was kept: 1 in kept_every such intervals were */
    char comm[TASK_COMM_LEN];
    u64 rt_stack;
    u32 lock_wait;
    u32 pad2;
    struct trace_link link;
    struct wait_info wait;
};

struct agg_key {
    u32 gen;         /* user space flips it to drain without racing writers */
    u32 pid;
    u32 tid;
    u32 state;
    s32 kstack;
    s32 ustack;
    u32 ucopy;
    u32 lock_wait;
    u64 rt_stack;
    struct trace_link link;
};

struct agg_val {
    u64 count;
    u64 blocked_ns;
    u64 runq_ns;
    u64 last_in;
    u32 cpu;         /* where it last came back */
    u32 pad;
    char comm[TASK_COMM_LEN];
};

/* LRU: a thread that exits while off the CPU never switches back in. */
BPF_TABLE("lru_hash", u32, struct off_start, off_start, START_ENTRIES);
BPF_HASH(off_agg, struct agg_key, struct agg_val, AGG_ENTRIES);
BPF_ARRAY(off_gen, u32, 1);
/* 0 until user space has registered what the programs read (Python
 * processes, excluded pids): an interval that began before would lack its
 * Python stack. The tracepoints attach at load, so the driver arms them. */
BPF_ARRAY(off_armed, u32, 1);
/* Keep 1 in N intervals at or above the threshold one by one (0 or 1: all).
 * User space raises N when the agent passes its CPU budget (about 10 us of
 * user space per kept interval); the others are summed below with the short
 * ones, by thread and stacks, so off-CPU totals stay exact and only the
 * per-interval detail (times, why it waited) is sampled. */
BPF_ARRAY(off_keep, u32, 1);

#ifndef FLAMECAM_WAITS
#define FLAMECAM_WAITS 1
#endif

/* The stacks each thread last blocked with, keyed by where it entered the
 * kernel. Walking a kernel stack costs about 2 us; a thread that blocks
 * again at the same user ip, sp and system call has the same stacks, so a
 * ping-pong of a million switches a second walks each stack once. */
struct last_walk {
    u64 ip;
    u64 sp;
    u64 nr;
    u32 state;
    s32 kstack;
    s32 ustack;
    u32 ucopy;
};
BPF_TABLE("lru_hash", u32, struct last_walk, off_walks, START_ENTRIES);
BPF_STACK_TRACE(off_stacks, STACK_ENTRIES);

/* A stack whose hash bucket in off_stacks holds another stack: get_stackid
 * gives -EEXIST (the map never replaces a stack, so that ids stay true while
 * anything refers to them), and with hundreds of distinct stacks some always
 * collide, even on a quiet host (or -ENOMEM once its buckets are all used).
 * Such a stack is walked again into a spill entry under an id of its own
 * (SPILLED_ID bit set, a per-CPU sequence number: never reused), which user
 * space reads like a stack id. A stack that collides collides every time it
 * is walked: off_spill_ids finds the id it already spilled under (by a 64-bit
 * hash of its addresses and their count), else every walk of it made a new
 * id, so its intervals were never summed together and each sent its own
 * stack copy (a ping-pong host: 1,800 new ids a second, 9% of a core in the
 * agent). */
#define SPILLED_ID 0x40000000
#define SPILL_FRAMES 127
struct spilled_stack {
    u32 frames;
    u32 pad;
    u64 ips[SPILL_FRAMES];
};
BPF_TABLE("lru_hash", u32, struct spilled_stack, off_spilled, SPILL_ENTRIES);
BPF_PERCPU_ARRAY(off_spill_scratch, struct spilled_stack, 1);
BPF_PERCPU_ARRAY(off_spill_seq, u32, 1);
struct spill_key {
    u64 hash;    /* FNV-1a over the addresses: two stacks alike by chance, 1 in 2^64 */
    u32 frames;
    u32 flags;   /* kernel or user stack */
};
BPF_TABLE("lru_hash", struct spill_key, u32, off_spill_ids, SPILL_ENTRIES);

static __always_inline u64 spill_hash(struct spilled_stack *st)
{
    u64 h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < SPILL_FRAMES; i++) {
        if (i >= st->frames)
            break;
        h = (h ^ st->ips[i]) * 0x100000001b3ULL;
    }
    return h;
}

static __always_inline s32 stack_id(void *ctx, u64 flags)
{
    s32 id = off_stacks.get_stackid(ctx, flags);
    if (id >= 0 || id == -EFAULT)  /* -EFAULT: no such stack (a kernel thread's user stack) */
        return id;
    int zero = 0;
    struct spilled_stack *st = off_spill_scratch.lookup(&zero);
    u32 *seq = off_spill_seq.lookup(&zero);
    if (!st || !seq)
        return id;
    long n = bpf_get_stack(ctx, st->ips, sizeof(st->ips), flags);
    if (n <= 0)
        return id;
    st->frames = (u32)n / sizeof(u64);
    struct spill_key key = {spill_hash(st), st->frames, (u32)flags};
    u32 *known = off_spill_ids.lookup(&key);
    if (known && off_spilled.lookup(known))  /* still held: the same id again */
        return (s32)*known;
    *seq += 1;
    u32 sid = SPILLED_ID | ((*seq & 0x3fffff) << 8) | (bpf_get_smp_processor_id() & 0xff);
    if (off_spilled.update(&sid, st) != 0)
        return id;
    off_spill_ids.update(&key, &sid);
    return (s32)sid;
}
/* Sized by the driver for a reader stall at 20,000 kept intervals a second
 * (profiler/sampler/program.py off_ringbuf_pages). */
#ifndef OFF_RINGBUF_PAGES
#define OFF_RINGBUF_PAGES RINGBUF_PAGES
#endif
BPF_RINGBUF_OUTPUT(off_events, OFF_RINGBUF_PAGES);

/* For processes without frame pointers: the blocking thread's user registers
 * and stack top, sent once per distinct blocking point (see off_walks), and
 * referred to by id from intervals and sums. */
struct off_copy {
    u32 id;
    u32 pid;
    u32 tid;
    u32 bytes;
    struct user_regs regs;
    char data[STACK_COPY_MAX + 4096];  /* slack for the verifier */
};
BPF_PERCPU_ARRAY(off_copy_scratch, struct off_copy, 1);
BPF_PERCPU_ARRAY(off_copy_seq, u32, 1);
BPF_RINGBUF_OUTPUT(off_copies, RINGBUF_PAGES * 4);  /* copies are 16 KiB each */

/* A copy is sent once per blocking place, not once per block: threads that
 * alternate between places (read, preempted in write, ...) miss off_walks
 * but find their place here. Equal kernel stack, frame-pointer walk, ip and
 * sp in one process mean the same user stack; the size is part of the place,
 * so a process switched from leaf copies to whole ones gets whole ones. */
struct copy_place {
    u64 ip;
    u64 sp;
    u32 tgid;
    s32 kstack;
    s32 ustack;
    u32 bytes;
};
BPF_TABLE("lru_hash", struct copy_place, u32, off_copy_ids, STACK_ENTRIES);

static __always_inline u32 emit_stack_copy(u32 tgid, u32 tid, struct user_regs *r, u32 want)
{
    int zero = 0;
    u32 *seq = off_copy_seq.lookup(&zero);
    struct off_copy *c = off_copy_scratch.lookup(&zero);
    if (!want || !seq || !c)
        return 0;
    *seq += 1;
    c->id = ((*seq & 0xffffff) << 8) | (bpf_get_smp_processor_id() & 0xff);
    if (c->id == 0)
        return 0;
    c->pid = tgid;
    c->tid = tid;
    c->regs = *r;
    c->bytes = copy_user_stack(c->data, r->sp, want);
    if (!c->bytes)
        return 0;
    u64 size = offsetof(struct off_copy, data) + (c->bytes & (STACK_COPY_MAX * 2 - 1));
    if (size > sizeof(*c))
        size = sizeof(*c);
    if (off_copies.ringbuf_output(c, size, RB_FLAGS) != 0) {
        count(COUNT_OFF_LOST);
        return 0;
    }
    return c->id;
}

/* The id of a copy of this thread's user stack (0: none wanted or sent):
 * one already sent from the same place, else a new one. */
static __always_inline u32 stack_copy_at(u32 tgid, u32 tid, struct user_regs *r, s32 kstack,
                                         s32 ustack)
{
    u32 want = copy_wanted(tgid);
    if (!want)
        return 0;
    struct copy_place place = {r->ip, r->sp, tgid, kstack, ustack, want};
    u32 *known = off_copy_ids.lookup(&place);
    if (known)
        return *known;
    u32 id = emit_stack_copy(tgid, tid, r, want);
    if (id)
        off_copy_ids.update(&place, &id);
    return id;
}

static __always_inline void switched_out(void *ctx, u32 prev_pid, long prev_state, u64 now)
{
    u64 id = bpf_get_current_pid_tgid();
    u32 tgid = id >> 32, tid = (u32)id;
    if (tid == 0 || tid != prev_pid || !wanted(tgid))
        return;
    int zero = 0;
    u32 *armed = off_armed.lookup(&zero);
    if (!armed || !*armed)
        return;
    /* Exiting (X, Z) and idle kernel threads (I) are not waiting for anything. */
    if (prev_state & (0x10 | 0x20 | 0x80))
        return;
    struct off_start s = {};
    s.ts_out = now;
    s.tgid = tgid;
    s.cpu = bpf_get_smp_processor_id();
    s.state = (u32)prev_state;
    s.rt_stack = FLAMECAM_RUNTIME_STACK(tgid, tid);
    s.lock_wait = FLAMECAM_RUNTIME_LOCK_WAIT(tgid, tid);
    flamecam_trace_link(tgid, tid, &s.link);
    struct user_regs r = {};
    u64 nr = 0;
    {
        struct entry_regs e;
        read_entry_regs(&e);
        user_regs_of(&e, &r, &nr);
#if FLAMECAM_WAITS
        /* The first two system call arguments (fd, futex address, ...): what it waits on. */
        s.wait.arg0 = e.w[ENTRY_REG(di)];
        s.wait.arg1 = e.w[ENTRY_REG(si)];
        s.wait.nr = nr;
#endif
    }
    s.wait.waker_kstack = -1;
    s.wait.waker_ustack = -1;
    int cacheable = r.ip != 0 && (r.ip >> 47) == 0;  /* a user task, user ip */
    struct last_walk *w = cacheable ? off_walks.lookup(&tid) : 0;
    if (w && w->ip == r.ip && w->sp == r.sp && w->nr == nr && w->state == s.state) {
        s.kstack = w->kstack;
        s.ustack = w->ustack;
        s.ucopy = w->ucopy;
        count(COUNT_OFF_WALKS_SAVED);
    } else {
        s.kstack = stack_id(ctx, 0);
        s.ustack = stack_id(ctx, BPF_F_USER_STACK);
        if ((s.kstack < 0 && s.kstack != -EFAULT) || (s.ustack < 0 && s.ustack != -EFAULT))
            count(COUNT_OFF_STACK_LOST);
        if (cacheable)
            s.ucopy = stack_copy_at(tgid, tid, &r, s.kstack, s.ustack);
        if (cacheable) {
            struct last_walk nw = {r.ip, r.sp, nr, s.state, s.kstack, s.ustack, s.ucopy};
            off_walks.update(&tid, &nw);
        }
    }
    bpf_get_current_comm(&s.comm, sizeof(s.comm));  /* current is still prev */
    if (off_start.update(&tid, &s) != 0)
        count(COUNT_OFF_START_FULL);
}

static __always_inline void switched_in(u32 tid, u64 now)
{
    struct off_start *s = off_start.lookup(&tid);
    if (!s)
        return;
    u64 wake = s->ts_wake;
    u64 blocked, runq;
    if ((s->state & 0xff) == 0 || wake == 0 || wake < s->ts_out) {
        /* Preempted while runnable: the whole interval is run-queue delay
         * (blocked = 0), or woken before we saw it: all blocked. */
        if ((s->state & 0xff) == 0) {
            blocked = 0;
            runq = now - s->ts_out;
        } else {
            blocked = now - s->ts_out;
            runq = 0;
        }
    } else {
        blocked = wake - s->ts_out;
        runq = now - wake;
    }
    int keep = blocked + runq >= THRESHOLD_NS;
    u32 kept_every = 1;
    if (keep) {
        int zero = 0;
        u32 *every = off_keep.lookup(&zero);
        if (every && *every > 1) {
            kept_every = *every;
            if (bpf_get_prandom_u32() % kept_every != 0) {
                keep = 0;
                count(COUNT_OFF_SUMMED);
            }
        }
    }
    if (keep) {
        struct off_event *e = off_events.ringbuf_reserve(sizeof(struct off_event));
        if (e) {
            e->ts_out = s->ts_out;
            e->ts_wake = ((s->state & 0xff) == 0) ? 0 : wake;
            e->ts_in = now;
            e->pid = s->tgid;
            e->tid = tid;
            e->cpu = bpf_get_smp_processor_id();
            e->state = s->state;
            e->kstack = s->kstack;
            e->ustack = s->ustack;
            e->ucopy = s->ucopy;
            e->kept_every = kept_every;
            e->rt_stack = s->rt_stack;
            e->lock_wait = s->lock_wait;
            e->link = s->link;
            e->wait = s->wait;
            __builtin_memcpy(&e->comm, s->comm, TASK_COMM_LEN);
            off_events.ringbuf_submit(e, RB_FLAGS);
            count(COUNT_OFF_EVENTS);
        } else {
            count(COUNT_OFF_LOST);
        }
    } else {
        int zero = 0;
        u32 *gen = off_gen.lookup(&zero);
        struct agg_key k = {};
        k.gen = gen ? *gen : 0;
        k.pid = s->tgid;
        k.tid = tid;
        k.state = s->state;
        k.kstack = s->kstack;
        k.ustack = s->ustack;
        k.ucopy = s->ucopy;
        k.rt_stack = s->rt_stack;
        k.lock_wait = s->lock_wait;
        k.link = s->link;
        struct agg_val *v = off_agg.lookup(&k);
        if (v) {
            __sync_fetch_and_add(&v->count, 1);
            __sync_fetch_and_add(&v->blocked_ns, blocked);
            __sync_fetch_and_add(&v->runq_ns, runq);
            v->last_in = now;
            v->cpu = bpf_get_smp_processor_id();
        } else {
            struct agg_val nv = {};
            nv.count = 1;
            nv.blocked_ns = blocked;
            nv.runq_ns = runq;
            nv.last_in = now;
            nv.cpu = bpf_get_smp_processor_id();
            __builtin_memcpy(&nv.comm, s->comm, TASK_COMM_LEN);
            if (off_agg.update(&k, &nv) != 0)
                count(COUNT_OFF_AGG_FULL);
        }
    }
    off_start.delete(&tid);
}

TRACEPOINT_PROBE(sched, sched_switch)
{
    u64 now = bpf_ktime_get_ns();
    switched_out(args, (u32)args->prev_pid, args->prev_state, now);
    switched_in((u32)args->next_pid, now);
    return 0;
}

static __always_inline void woken(u32 tid)
{
    struct off_start *s = off_start.lookup(&tid);
    if (s && s->ts_wake == 0)
        s->ts_wake = bpf_ktime_get_ns();
}

/* The waker's stacks, walked at most once per WAKER_WALK_NS per waker place:
 * the waking task (the idle task by CPU), where it entered the kernel (user
 * ip, sp, system call or -1 for an interrupt taken in user mode) and where
 * the woken thread blocked (its kernel stack and system call). A waker in
 * the same place waking a thread blocked in the same place takes the same
 * path (a pipe writer, a mutex unlock, a timer firing over the idle loop);
 * where the path can differ (an interrupt taken in a system call), the
 * woken place still decides what can wake it (a sleep: its timer). A walk
 * costs about 2 us, a lookup a tenth of it: a host with 20,000 kept
 * intervals a second walks a few hundred. Runtime (Python) stacks are
 * never cached: their frames change under one native place. */
#ifndef WAKER_WALK_NS
#define WAKER_WALK_NS 100000000ULL
#endif
struct waker_place {
    u64 ip;
    u64 sp;
    u64 nr;
    u32 tid;
    u32 cpu;
    s32 wakee_kstack;
    u32 wakee_nr;
};
struct waker_walk {
    u64 ts;
    s32 kstack;
    s32 ustack;
    u32 ucopy;
};
BPF_TABLE("lru_hash", struct waker_place, struct waker_walk, off_waker_walks, START_ENTRIES);

/* sched_waking runs in the waker's context (try_to_wake_up), where
 * sched_wakeup may run later on the wakee's CPU: the wakeup time and the
 * waker are both taken here. */
TRACEPOINT_PROBE(sched, sched_waking)
{
    u32 tid = (u32)args->pid;
    struct off_start *s = off_start.lookup(&tid);
    if (!s || s->ts_wake != 0)
        return 0;
    u64 now = bpf_ktime_get_ns();
    s->ts_wake = now;
#if FLAMECAM_WAITS
    /* Without its kernel stack a waker cannot be told from a task an
     * interrupt interrupted, so nothing of it is recorded for waits that
     * are below the threshold at wakeup (nearly all of them). */
    if ((s->state & 0xff) != 0 && now - s->ts_out >= THRESHOLD_NS) {
        u64 id = bpf_get_current_pid_tgid();
        s->wait.waker_pid = id >> 32;
        s->wait.waker_tid = (u32)id;
        bpf_get_current_comm(&s->wait.waker_comm, sizeof(s->wait.waker_comm));
        s->wait.waker_rt = FLAMECAM_RUNTIME_STACK(id >> 32, (u32)id);
        struct user_regs r = {};
        u64 nr = 0;
        read_user_regs(&r, &nr);
        /* An interrupt taken in user mode saved no system call (orig_ax -1,
         * or a vector's negative byte): its stack is the interrupt's alone,
         * whatever it interrupted, and its user stack is no one's waker. */
        int irq = (s64)nr < 0;
        struct waker_place place = {r.ip, r.sp, nr, (u32)id, 0, s->kstack, s->wait.nr};
        if (irq) {
            place.ip = 0;
            place.sp = 0;
            place.tid = 0;
        }
        if (place.tid == 0)
            place.cpu = bpf_get_smp_processor_id();  /* each CPU has an idle task "0" */
        struct waker_walk *w = off_waker_walks.lookup(&place);
        if (w && now - w->ts < WAKER_WALK_NS) {
            s->wait.waker_kstack = w->kstack;
            s->wait.waker_ustack = w->ustack;
            s->wait.waker_ucopy = w->ucopy;
        } else {
            struct waker_walk nw = {now, off_stacks.get_stackid(args, 0), -EFAULT, 0};
            if (!irq)
                nw.ustack = off_stacks.get_stackid(args, BPF_F_USER_STACK);
            if (!irq && r.ip != 0 && (r.ip >> 47) == 0 && wanted(id >> 32))
                nw.ucopy = stack_copy_at(id >> 32, (u32)id, &r, nw.kstack, nw.ustack);
            s->wait.waker_kstack = nw.kstack;
            s->wait.waker_ustack = nw.ustack;
            s->wait.waker_ucopy = nw.ucopy;
            off_waker_walks.update(&place, &nw);
        }
    }
#endif
    return 0;
}

TRACEPOINT_PROBE(sched, sched_wakeup_new)
{
    woken((u32)args->pid);
    return 0;
}
