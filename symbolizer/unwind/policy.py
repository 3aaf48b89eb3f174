"""The unwinding policy: where a stack starts, and how each process is walked.

Frame pointers cost nothing extra but stop early in code built without them
(most distro libraries, the pyenv Pythons, release builds). In `auto` mode a
process is judged from its binaries the first time it is seen (before its
first samples when recorded with `-p`): if its own code lacks frame pointers
(`framepointers.py`, cached per build-id), the samplers copy its user stack
for CFI unwinding from then on (16 KiB per sample). Every other process gets
the frame-pointer walk plus a small copy of its stack top, enough to restore
the callers that leaf functions without frame pointers (libc's) hide
(`walk.join_fp_walk`). If, all the same, its stacks are seen to stop short
of a thread's root too often (code the binaries did not predict: a library
loaded later, JIT code), it is switched to whole copies. `fp` and `dwarf`
force one way (`dwarf` is compiled into the programs: COPY_ALL_BYTES).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from profiler.sampler.stack_copies import StackCopies

log = logging.getLogger("flamecam.unwind")

MODES = ("auto", "fp", "dwarf")

# Where a thread's stack starts: the main thread's entry and other threads'
# (`__GI_*` are glibc's internal aliases). A walk that ends in one has it all.
ROOT_FUNCTIONS = frozenset({
    "_start", "__start", "start_thread", "thread_start", "clone", "__clone", "clone3",
    "__clone3", "__GI___clone", "__GI___clone3",
})
# How far a frame-pointer walk can get at best: libc's start code has no frame
# pointers, so below `main` no such walk goes on. A CFI walk can, and a CFI walk
# that stops here is extended by the frame-pointer walk (`walk.join_fp_walk`).
FP_WALK_FLOOR = frozenset({"main", "__libc_start_main", "__libc_start_call_main"})

MIN_SAMPLES = 10
TRUNCATED_SHARE = 0.3


def starts_stack(symbol: str, frame_pointers: bool = False) -> bool:
    """Whether a walk whose outermost frame is in `symbol` (an ELF symbol, maybe
    versioned: `clone3@GLIBC_2.34`) has the whole stack: it is where a thread
    starts or, for a frame-pointer walk, as far as one can get."""
    name = symbol.split("@", 1)[0]
    return name in ROOT_FUNCTIONS or (frame_pointers and name in FP_WALK_FLOOR)


@dataclass
class _Tally:
    samples: int = 0
    truncated: int = 0
    copying: bool = False


class UnwindChooser:
    """Per process, frame pointers (with leaf copies) or whole stack copies:
    decided from the binaries when first seen (`judge`), revised when its
    frame-pointer stacks are seen to stop short of the root too often."""

    def __init__(self, b, mode: str, copy_bytes: int) -> None:
        if mode not in MODES:
            raise ValueError(f"unwind mode {mode!r}: choose one of {', '.join(MODES)}")
        self.mode = mode
        self._copies = StackCopies(b, copy_bytes)
        self._tally: dict[int, _Tally] = {}

    def undecided(self, pid: int) -> bool:
        """Whether `pid`'s frame-pointer stacks still count (`auto`, not copying yet)."""
        if self.mode != "auto":
            return False
        t = self._tally.get(pid)
        return t is None or not t.copying

    def judged(self, pid: int) -> bool:
        """Whether `judge` already ran for `pid` (since it was last forgotten)."""
        return pid in self._tally

    def judge(self, pid: int, comm: str, why_copy: str) -> None:
        """Records the verdict on `pid`'s binaries: copy its stacks if `why_copy`
        says why (e.g. a binary without frame pointers), else walk frame pointers."""
        if self.mode != "auto" or self.judged(pid):
            return
        t = self._tally[pid] = _Tally()
        if why_copy:
            self._copy(pid, t, f"pid {pid} ({comm}): {why_copy}")

    def observe(self, pid: int, comm: str, reached_root: bool) -> None:
        """Counts one frame-pointer stack of `pid`; switches it to copies if they fall short."""
        if not self.undecided(pid):
            return
        t = self._tally.get(pid)
        if t is None:
            t = self._tally[pid] = _Tally()
        t.samples += 1
        if not reached_root:
            t.truncated += 1
        if t.samples >= MIN_SAMPLES and t.truncated > TRUNCATED_SHARE * t.samples:
            self._copy(pid, t, f"pid {pid} ({comm}): {t.truncated} of {t.samples} "
                               "frame-pointer stacks end early")

    def _copy(self, pid: int, t: _Tally, why: str) -> None:
        t.copying = True
        self._copies.start(pid)
        log.info("%s; copying its stacks for CFI unwinding", why)

    def forget(self, pid: int) -> None:
        if self._tally.pop(pid, None) is not None:
            self._copies.stop(pid)
