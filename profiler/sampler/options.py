"""What a recording samples, shared by `flamecam record` and the agent."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SamplerOptions:
    """Knobs of the samplers. Defaults match `flamecam record`."""

    pids: list[int] = field(default_factory=list)
    # Profile the children the listed processes fork, from their first
    # instruction (`flamecam record -- COMMAND`; bpf/procs.c).
    follow_children: bool = False
    comm: str | None = None
    hz: int = 99
    # Threads serving a traced request (bpf/tracectx.h) are sampled at
    # trace_hz; the rest keep `hz` on average (1 in keep_every samples, each
    # weighing keep_every periods). 0: no higher rate for traced threads.
    trace_hz: int = 99
    trace_links: bool = True  # read thread-context tables (bpf/tracectx.h) at all
    off_cpu: bool = True
    off_cpu_threshold_us: int = 1000
    # Share of one core the recorder aims to stay within (the agent's
    # --cpu-budget); past it, 1 in N off-CPU intervals above the threshold are
    # kept one by one and the rest summed (sampler/budget.py). 0: keep all.
    cpu_budget: float = 0.0
    # Why kept off-CPU intervals waited: system call, target, waker and its stacks.
    wait_info: bool = True
    python_native: bool = False  # keep interpreter-internal native frames
    unwind: str = "auto"  # auto | fp | dwarf (see symbolizer/unwind/policy.py)
    stack_copy_bytes: int = 16384
    # Copied for every other process in `auto`: enough for the return addresses
    # that frames without frame pointers (libc's) hide from the frame-pointer walk.
    leaf_copy_bytes: int = 1024
    ringbuf_pages: int = 256
    start_entries: int = 16384
    agg_entries: int = 16384
    stack_entries: int = 32768
    spill_entries: int = 4096  # stacks that collided in the stack map (bpf/offcpu.c)

    @property
    def sample_hz(self) -> int:
        """The perf event's rate: the trace rate when it is above `hz`."""
        return max(self.hz, self.trace_hz) if self.trace_links else self.hz

    @property
    def keep_every(self) -> int:
        """1 in how many samples of threads serving no traced request are kept."""
        return max(1, self.sample_hz // self.hz)
