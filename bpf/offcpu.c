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
 * ping-pong of a million switches a second walks each stack once. A thread
 * has a few places, one slot each (chosen by ip, system call and state): a
 * ping-pong thread alternates between blocking in read and being preempted
 * in write by the thread it woke, and with one place per thread those
 * preemptions (9% of its switches) walked twice each, 200 ns a switch. */
struct last_walk {
    u64 ip;
    u64 sp;
    u64 nr;
    u32 state;
    s32 kstack;
    s32 ustack;
    u32 ucopy;
};
#define WALK_SLOTS 4
struct last_walks {
    struct last_walk slot[WALK_SLOTS];
};
BPF_TABLE("lru_hash", u32, struct last_walks, off_walks, START_ENTRIES);
BPF_PERCPU_ARRAY(off_walks_scratch, struct last_walks, 1);
BPF_STACK_TRACE(off_stacks, STACK_ENTRIES);

/* A stack whose hash bucket in off_stacks holds another stack: get_stackid
 * gives -EEXIST (the map never replaces a stack, so that ids stay true while
 * anything refers to them), and with hundreds of distinct stacks some always
 * collide, even on a quiet host (or -ENOMEM once its buckets are all used).
 * Such a stack is walked again into off_spilled under an id of its own
 * (SPILLED_ID bit set), which user space reads like a stack id.
 *
 * The id comes from the stack's content (a 64-bit hash; the next id when two
 * hashes share one), so a colliding stack walked again finds its entry
 * instead of adding one: the map holds each colliding stack once and, like
 * off_stacks, never drops an entry something may still refer to. Ids drawn
 * from a sequence into an LRU map did: a thread blocking at one colliding
 * place made an entry per block, which evicted older ones while intervals,
 * sums and the off_walks cache still named them (user space then read no
 * stack, uncounted). */
#define SPILLED_ID 0x40000000
#define SPILL_FRAMES 127
#define SPILL_PROBES 4
struct spilled_stack {
    u32 frames;
    u32 pad;
    u64 hash;        /* of the frames and the flags (kernel or user) */
    u64 ips[SPILL_FRAMES];
};
BPF_HASH(off_spilled, u32, struct spilled_stack, SPILL_ENTRIES);
BPF_PERCPU_ARRAY(off_spill_scratch, struct spilled_stack, 1);

/* FLAMECAM_LOSS_DEBUG (env FLAMECAM_LOSS_DEBUG=1): every way a stack can be
 * lost counted apart in off_loss_why (LOSS_* below; OffCpuSampler.loss_reasons). */
#ifndef FLAMECAM_LOSS_DEBUG
#define FLAMECAM_LOSS_DEBUG 0
#endif
enum {
    LOSS_K_STACKID = 0,     /* + errno (< 32): the kernel stack's get_stackid failed */
    LOSS_U_STACKID = 32,    /* + errno: the user stack's get_stackid failed */
    LOSS_K_GETSTACK = 64,   /* spill: bpf_get_stack of the kernel stack gave <= 0 */
    LOSS_U_GETSTACK = 65,
    LOSS_K_SPILL_UPDATE = 66,  /* spill: the spill map's update failed */
    LOSS_U_SPILL_UPDATE = 67,
    LOSS_K_SPILLED = 68,    /* spilled and saved */
    LOSS_U_SPILLED = 69,
    LOSS_K_COUNTED = 70,    /* switched_out counted a kernel stack lost */
    LOSS_U_COUNTED = 71,
    LOSS_WAKER_K = 72,      /* the waker's kernel stack: get_stackid failed (not -EFAULT) */
    LOSS_WAKER_U = 73,
    LOSS_WAKER_U_ERRNO = 80,  /* + errno */
    LOSS_MAX = 112,
};
#if FLAMECAM_LOSS_DEBUG
BPF_ARRAY(off_loss_why, u64, LOSS_MAX);
static __always_inline void loss_why(int i)
{
    u64 *c = off_loss_why.lookup(&i);
    if (c)
        __sync_fetch_and_add(c, 1);
}
#else
#define loss_why(i) do {} while (0)
#endif

/* The id of the current stack (kernel, or user with BPF_F_USER_STACK): its
 * off_stacks id, else its spilled id, else -EFAULT when there is no such
 * stack; another value below 0 only when off_spilled is full. */
static __always_inline s32 stack_id(void *ctx, u64 flags)
{
    s32 id = off_stacks.get_stackid(ctx, flags);
    if (id >= 0)
        return id;
    int user = flags ? 1 : 0;
    loss_why((user ? LOSS_U_STACKID : LOSS_K_STACKID) + (-id & 31));
    /* Only -EEXIST and -ENOMEM are the map's; the others say the walk found
     * nothing: -EFAULT for a kernel thread's user stack, -EPERM (here) for
     * the idle task's, which wakes threads from interrupts in the idle loop. */
    if (id != -EEXIST && id != -ENOMEM)
        return -EFAULT;
    int zero = 0;
    struct spilled_stack *st = off_spill_scratch.lookup(&zero);
    if (!st)
        return id;
    long n = bpf_get_stack(ctx, st->ips, sizeof(st->ips), flags);
    if (n <= 0) {
        loss_why(LOSS_K_GETSTACK + user);
        return id;
    }
    u32 frames = (u32)n / sizeof(u64);
    st->frames = frames;
    u64 h = 0xcbf29ce484222325ULL ^ flags;  /* FNV-1a over the frames */
    for (int i = 0; i < SPILL_FRAMES; i++) {
        if (i >= frames)
            break;
        h = (h ^ st->ips[i]) * 0x100000001b3ULL;
    }
    st->hash = h;
    for (u32 p = 0; p < SPILL_PROBES; p++) {
        u32 sid = SPILLED_ID | ((((u32)(h >> 32) ^ (u32)h) + p) & (SPILLED_ID - 1));
        struct spilled_stack *old = off_spilled.lookup(&sid);
        if (!old) {
            if (off_spilled.insert(&sid, st) == 0) {
                loss_why(LOSS_K_SPILLED + user);
                return (s32)sid;
            }
            old = off_spilled.lookup(&sid);  /* another CPU inserted it meanwhile */
        }
        if (old && old->hash == h && old->frames == frames) {
            loss_why(LOSS_K_SPILLED + user);
            return (s32)sid;
        }
    }
    loss_why(LOSS_K_SPILL_UPDATE + user);
    return id;
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

static __always_inline void interval_ended(struct off_start *s, u32 tid, u64 now);

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
    /* Still off the CPU by our record: the kernel ran no program for the
     * sched_switch that brought this thread back (seen on a loaded VM, where
     * ftrace missed that switch too: a 50 ms lock wait then vanished under
     * the new interval and counted as CPU). A blocked thread was off the CPU
     * until its wakeup at least: the interval ends there (the wait for a CPU
     * after it is not known). A preempted one has no such bound. */
    struct off_start *open = off_start.lookup(&tid);
    if (open) {
        count(COUNT_OFF_MISSED_IN);
        u64 woke = open->ts_wake;
        if ((open->state & 0xff) != 0 && woke >= open->ts_out && woke <= now)
            interval_ended(open, tid, woke);
    }
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
    u32 slot = (u32)(r.ip ^ (r.ip >> 7) ^ nr ^ s.state) & (WALK_SLOTS - 1);
    struct last_walks *ws = cacheable ? off_walks.lookup(&tid) : 0;
    int hit = 0;
    if (ws) {
        struct last_walk *w = &ws->slot[slot];
        if (w->ip == r.ip && w->sp == r.sp && w->nr == nr && w->state == s.state) {
            s.kstack = w->kstack;
            s.ustack = w->ustack;
            s.ucopy = w->ucopy;
            hit = 1;
        }
    }
    if (hit) {
        count(COUNT_OFF_WALKS_SAVED);
    } else {
        s.kstack = stack_id(ctx, 0);
        s.ustack = stack_id(ctx, BPF_F_USER_STACK);
        if ((s.kstack < 0 && s.kstack != -EFAULT) || (s.ustack < 0 && s.ustack != -EFAULT))
            count(COUNT_OFF_STACK_LOST);
        if (s.kstack < 0 && s.kstack != -EFAULT)
            loss_why(LOSS_K_COUNTED);
        if (s.ustack < 0 && s.ustack != -EFAULT)
            loss_why(LOSS_U_COUNTED);
        if (cacheable)
            s.ucopy = stack_copy_at(tgid, tid, &r, s.kstack, s.ustack);
        if (cacheable) {
            struct last_walk nw = {r.ip, r.sp, nr, s.state, s.kstack, s.ustack, s.ucopy};
            if (ws) {
                ws->slot[slot] = nw;
            } else {
                struct last_walks *fresh = off_walks_scratch.lookup(&zero);
                if (fresh) {
                    for (int i = 0; i < WALK_SLOTS; i++)
                        fresh->slot[i].ip = 0;  /* ip 0 never matches: empty */
                    fresh->slot[slot] = nw;
                    off_walks.update(&tid, fresh);
                }
            }
        }
    }
    bpf_get_current_comm(&s.comm, sizeof(s.comm));  /* current is still prev */
    if (off_start.update(&tid, &s) != 0)
        count(COUNT_OFF_START_FULL);
}

/* The interval `s` of thread `tid` ended at `now`, when the thread came back:
 * kept one by one or summed. */
static __always_inline void interval_ended(struct off_start *s, u32 tid, u64 now)
{
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
}

static __always_inline void switched_in(u32 tid, u64 now)
{
    struct off_start *s = off_start.lookup(&tid);
    if (!s)
        return;
    interval_ended(s, tid, now);
    off_start.delete(&tid);
}

/* Which context a wakeup runs in, told without reading kernel state: a
 * tracepoint program's argument record lies in a per-CPU buffer of the
 * context it runs in (task, softirq, hard interrupt, NMI: the kernel's
 * perf_trace_buf), so its address names the context. sched_switch always
 * runs in task context; a thread asleep in nanosleep is woken by its
 * timer, in hard interrupt context (or by a signal, from a task). Softirqs
 * are not told apart: loopback delivery runs in the sender's own softirq,
 * and that sender is the waker (profiler/sampler/wakers.py). A kernel with
 * one record buffer for all contexts makes every wakeup look like a task's:
 * each waker then keeps its own place, as before. */
struct ctx_seen {
    u64 task;
    u64 hardirq;
};
BPF_PERCPU_ARRAY(off_ctx_seen, struct ctx_seen, 1);
#define NR_NANOSLEEP 35
#define NR_CLOCK_NANOSLEEP 230

TRACEPOINT_PROBE(sched, sched_switch)
{
    u64 now = bpf_ktime_get_ns();
#if FLAMECAM_WAITS
    int zero = 0;
    struct ctx_seen *seen = off_ctx_seen.lookup(&zero);
    if (seen)
        seen->task = (u64)args;
#endif
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
 * ip, sp, system call or -1 for an interrupt) and where the woken thread
 * blocked (its kernel stack and system call). A waker in the same place
 * waking a thread blocked in the same place takes the same path (a pipe
 * writer, a mutex unlock, a timer firing over the idle loop); a hard
 * interrupt's path is its own whatever it interrupted (user code or a system
 * call), so those share one place per CPU. A walk costs about 1 to 2 us, a
 * lookup a tenth of it: a host with 20,000 kept intervals a second walks a
 * few hundred. Runtime (Python) stacks are never cached: their frames
 * change under one native place. */
#ifndef WAKER_WALK_NS
#define WAKER_WALK_NS 100000000ULL
#endif
struct waker_place {
    u64 ip;
    u64 sp;
    u64 nr;
    u32 tid;
    s32 wakee_kstack;
    u32 wakee_nr;
    u32 pad;
};
struct waker_walk {
    u64 ts;
    s32 kstack;
    s32 ustack;
    u32 ucopy;
};
BPF_TABLE("lru_hash", struct waker_place, struct waker_walk, off_waker_walks, START_ENTRIES);
/* Places a CPU shares (interrupts, its idle task), nearly every timer
 * wakeup, sit in a few slots per CPU chosen by the woken place: an array
 * lookup instead of the hash's (about 40 ns of a kept wakeup). */
#define WAKER_CPU_SLOTS 8
struct cpu_walk {
    u64 nr;
    s32 wakee_kstack;
    u32 wakee_nr;
    struct waker_walk walk;
};
BPF_PERCPU_ARRAY(off_cpu_walks, struct cpu_walk, WAKER_CPU_SLOTS);

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
        struct user_regs r = {};
        u64 nr = 0;
        read_user_regs(&r, &nr);
        /* An interrupt taken in user mode saved no system call (orig_ax -1,
         * or a vector's negative byte); one taken inside a system call is
         * told by its context. Either way its stack is the interrupt's,
         * whatever it interrupted, and the user and runtime stacks under it
         * are no one's waker. */
        int zero = 0;
        struct ctx_seen *seen = off_ctx_seen.lookup(&zero);
        if (seen && seen->task != 0 && seen->task != (u64)args) {
            if (s->wait.nr == NR_NANOSLEEP || s->wait.nr == NR_CLOCK_NANOSLEEP)
                seen->hardirq = (u64)args;
            if (seen->hardirq == (u64)args)
                nr = (u64)-1;
        }
        int irq = (s64)nr < 0;
        if (!irq && (u32)id != 0)
            s->wait.waker_rt = FLAMECAM_RUNTIME_STACK(id >> 32, (u32)id);
        struct waker_place place = {r.ip, r.sp, nr, (u32)id, s->kstack, s->wait.nr};
        struct cpu_walk *cw = 0;
        struct waker_walk *w = 0;
        if (irq || place.tid == 0) {  /* each CPU has an idle task "0" */
            u32 slot = ((u32)s->kstack ^ (u32)s->wait.nr ^ (u32)nr) & (WAKER_CPU_SLOTS - 1);
            cw = off_cpu_walks.lookup(&slot);
            if (cw && cw->nr == nr && cw->wakee_kstack == s->kstack &&
                cw->wakee_nr == (u32)s->wait.nr)
                w = &cw->walk;
        } else {
            w = off_waker_walks.lookup(&place);
        }
        if (w && now - w->ts < WAKER_WALK_NS) {
            s->wait.waker_kstack = w->kstack;
            s->wait.waker_ustack = w->ustack;
            s->wait.waker_ucopy = w->ucopy;
        } else {
            struct waker_walk nw = {now, stack_id(args, 0), -EFAULT, 0};
            if (!irq && (u32)id != 0)  /* the idle task has no user stack */
                nw.ustack = stack_id(args, BPF_F_USER_STACK);
            if (!irq && r.ip != 0 && (r.ip >> 47) == 0 && wanted(id >> 32))
                nw.ucopy = stack_copy_at(id >> 32, (u32)id, &r, nw.kstack, nw.ustack);
            if ((nw.kstack < 0 && nw.kstack != -EFAULT) || (nw.ustack < 0 && nw.ustack != -EFAULT))
                count(COUNT_OFF_STACK_LOST);
            if (nw.kstack < 0 && nw.kstack != -EFAULT)
                loss_why(LOSS_WAKER_K);
            if (nw.ustack < 0 && nw.ustack != -EFAULT) {
                loss_why(LOSS_WAKER_U);
                loss_why(LOSS_WAKER_U_ERRNO + (-nw.ustack & 31));
            }
            s->wait.waker_kstack = nw.kstack;
            s->wait.waker_ustack = nw.ustack;
            s->wait.waker_ucopy = nw.ucopy;
            if (cw) {
                cw->nr = nr;
                cw->wakee_kstack = s->kstack;
                cw->wakee_nr = (u32)s->wait.nr;
                cw->walk = nw;
            } else if (!irq && place.tid != 0) {
                off_waker_walks.update(&place, &nw);
            }
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
