"""What the recorder asks of a language runtime: one small protocol.

A runtime (CPython, HotSpot) is one package under `runtimes/` holding its BPF
side (C text the sampler splices into its programs, defining the hooks of
bpf/common.h) and its user side (finding its processes, registering them with
the kernel maps, reading and naming its frames). The recorder drives every
runtime through this protocol alone, so it names none of them: a process
belongs to the first runtime whose `process_seen` takes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from profiler.model import Frame


class Runtime(Protocol):
    """One runtime's part in a recording. Calls for pids it does not hold cost little."""

    name: str
    # Processes of this runtime it could not read (each said once in the log).
    unreadable: int

    def bpf_source(self) -> str:
        """C text for `program.load` ("" when it walks nothing in the kernel)."""

    def scan(self, pids: Iterable[int] | None = None) -> list[int]:
        """Prepares its processes running now (all, or among `pids`), before the programs load."""

    def bind(self, bpf) -> None:
        """The loaded programs: registers what `scan` prepared in the kernel maps."""

    def process_seen(self, pid: int) -> bool:
        """First sight of `pid`: True when it is this runtime's and is now followed."""

    def recheck(self, pid: int, now: bool = False) -> bool:
        """`pid`, held by no runtime, sampled again: looks anew when due (`now`:
        at once, whatever the schedule says); True: taken."""

    def stack(self, pid: int, stack_id: int) -> object | None:
        """Names the kernel's runtime stack `stack_id` now, while its code surely lives."""

    def before_symbolize(self, pid: int) -> None:
        """Brings what naming `pid`'s frames needs up to date (once per batch)."""

    def merge(self, pid: int, native_leaf_first: list[Frame], stack_id: int) -> list[Frame]:
        """The native user frames (leaf first) with this runtime's frames in place."""

    def reason(self, pid: int, reason: str, lock_wait: bool) -> str:
        """The off-CPU reason, told apart when the thread waited for the runtime's own lock."""

    def lock_target(self, pid: int, stack: tuple[Frame, ...]) -> str:
        """What a futex wait of `pid` with blocked stack `stack` (root first)
        waited on, in the runtime's terms ("": it cannot say)."""

    def thread_name(self, pid: int, tid: int) -> str | None:
        """The runtime's name for a thread (None: it has none)."""

    def end_batch(self) -> None:
        """Forgets what held only for the batch just taken (named stacks)."""

    def process_exited(self, pid: int) -> None:
        """Drops `pid`: it exited or exec'd another program."""
