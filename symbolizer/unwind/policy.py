"""Chooses, per process, between frame-pointer walks and stack copies.

Frame pointers cost nothing extra but stop early in code built without them
(most distro libraries, the pyenv Pythons, release builds). In `auto` mode
every process starts on frame pointers; once a process's stacks are seen to
stop short of a thread's root, the samplers copy its user stack for CFI
unwinding instead (16 KiB per sample). `fp` and `dwarf` force one way.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass

from ..model import Frame
from ..procfs import thread_ids

log = logging.getLogger("flamecam.unwind")

MODES = ("auto", "fp", "dwarf")

# Where a thread's stack ends. `main` counts: below it are only libc's start
# frames, which a frame-pointer walk through libc cannot reach anyway.
ROOT_FUNCTIONS = frozenset({
    "_start", "__start", "__libc_start_main", "__libc_start_call_main", "main",
    "start_thread", "thread_start", "clone", "__clone", "clone3", "__clone3",
})

MIN_SAMPLES = 10
TRUNCATED_SHARE = 0.3


@dataclass
class _Tally:
    samples: int = 0
    truncated: int = 0
    copying: bool = False


def _table_or_none(b, name: bytes):
    try:
        return b.get_table(name)
    except KeyError:
        return None


def reaches_root(user_frames_root_first: tuple[Frame, ...] | list[Frame]) -> bool:
    """Whether a user stack starts at a thread's root function."""
    for f in user_frames_root_first:
        if f.kind == "kernel":
            continue
        return f.name.split("@")[0] in ROOT_FUNCTIONS
    return False


class UnwindChooser:
    """Keeps `stack_copy_pids` in the kernel in step with what stacks show."""

    def __init__(self, b, mode: str, copy_bytes: int):
        if mode not in MODES:
            raise ValueError(f"unwind mode {mode!r}: choose one of {', '.join(MODES)}")
        self.mode = mode
        self.copy_bytes = copy_bytes
        self._table = b[b"stack_copy_pids"]
        # The off-CPU sampler reuses a thread's last stacks when it blocks at
        # the same place again; those taken before copying began lack a copy.
        self._walks = _table_or_none(b, b"off_walks")
        self._tally: dict[int, _Tally] = {}
        # "dwarf" is compiled into the programs (COPY_ALL_BYTES): nothing to do here.

    def observe(self, pid: int, comm: str, user_root_first: tuple[Frame, ...]) -> None:
        """Counts one frame-pointer stack of `pid`; switches it to copies if they fall short."""
        if self.mode != "auto" or not user_root_first:
            return
        t = self._tally.get(pid)
        if t is None:
            t = self._tally[pid] = _Tally()
        if t.copying:
            return
        t.samples += 1
        if not reaches_root(user_root_first):
            t.truncated += 1
        if t.samples >= MIN_SAMPLES and t.truncated > TRUNCATED_SHARE * t.samples:
            t.copying = True
            self._table[ctypes.c_uint32(pid)] = ctypes.c_uint32(self.copy_bytes)
            self._forget_walks(pid)
            log.info("pid %d (%s): %d of %d frame-pointer stacks end early; "
                     "copying its stacks for CFI unwinding", pid, comm, t.truncated, t.samples)

    def _forget_walks(self, pid: int) -> None:
        if self._walks is None:
            return
        for tid in thread_ids(pid):
            try:
                del self._walks[ctypes.c_uint32(tid)]
            except KeyError:
                pass

    def forget(self, pid: int) -> None:
        if self._tally.pop(pid, None) is not None:
            try:
                del self._table[ctypes.c_uint32(pid)]
            except KeyError:
                pass
