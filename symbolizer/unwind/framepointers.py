"""Was a binary built with frame pointers? Decides if a process's stacks
need copying for CFI unwinding, or if the kernel's frame-pointer walk will do.

Checked by reading the start of a sample of its functions: code built with
frame pointers sets rbp up with `mov %rsp,%rbp` near the start (not always
at the very start: GCC shrink-wraps the prologue past early exits); code
built without them almost never does (only functions that need a frame, for
alloca or stack realignment). Leaf functions may skip it even with
-fno-omit-frame-pointer, hence a low bar. Start-up code from the C runtime
(`_start`, `frame_dummy`...) is never counted. A binary stripped of every
symbol is judged by the functions `.eh_frame_hdr` lists.
"""

from __future__ import annotations

import os
import struct

from ..cache import BlobCache
from ..objects import ObjectFile
from .ehframe_index import LazyEhFrame

_MOV_RSP_RBP = b"\x48\x89\xe5"
SCAN_BYTES = 96
CRT_FUNCTIONS = frozenset({"_init", "_fini", "_start", "deregister_tm_clones",
                           "register_tm_clones", "__do_global_dtors_aux", "frame_dummy"})
SAMPLE = 200
FORMAT_VERSION = 1  # bump when the measure changes (disk cache namespace)
THRESHOLD = 0.25
MIN_FUNCTION_SIZE = 32
# The C and C++ runtimes: distributions build them without frame pointers, yet
# the frame-pointer walk survives them in practice (they rarely sit mid-stack
# for long), so they do not decide alone that a process needs stack copies.
RUNTIME_PREFIXES = ("ld-linux", "libc.so", "libm.so", "libstdc++", "libgcc_s", "libpthread",
                    "libdl.so", "librt.so", "[vdso]")


def _file_offset(obj: ObjectFile, vaddr: int) -> int | None:
    for s in obj.elf.loads:
        if s.vaddr <= vaddr < s.vaddr + s.filesz:
            return vaddr - s.vaddr + s.offset
    return None


def _functions(obj: ObjectFile) -> list[tuple[int, int]]:
    """(start, end) of the binary's functions: from its symbols, else (stripped
    of all symbols) from `.eh_frame_hdr`, whose table lists every function
    with CFI by start address, for the runtime unwinder."""
    table = obj.symbols
    out = [(table.bounds[i], table.bounds[i + 1]) for i, name in enumerate(table.names)
           if name is not None and i + 1 < len(table.bounds)
           and table.bounds[i + 1] - table.bounds[i] >= MIN_FUNCTION_SIZE
           and name not in CRT_FUNCTIONS]
    if out:
        return out
    try:
        locs = LazyEhFrame(obj.elf).locs
    except (KeyError, ValueError, IndexError, struct.error):
        return []
    return [(a, b) for a, b in zip(locs, locs[1:], strict=False) if b - a >= MIN_FUNCTION_SIZE]


def frame_pointer_share(obj: ObjectFile, disk: BlobCache | None = None) -> float | None:
    """Share of sampled functions that set up rbp, or None if unknowable.

    Kept per binary in memory and, with `disk`, per build-id across runs: the
    policy asks for it the first time a process is seen."""
    cached = obj.extra.get("fp_share", False)
    if cached is not False:
        return cached  # type: ignore[return-value]
    disk = disk if obj.build_id else None
    raw = disk.get(obj.key) if disk is not None else None
    if raw is not None:
        share = None if raw == b"-" else float(raw)
        obj.extra["fp_share"] = share
        return share
    share = _measure(obj)
    obj.extra["fp_share"] = share
    if disk is not None:
        disk.put(obj.key, b"-" if share is None else repr(share).encode())
    return share


def _measure(obj: ObjectFile) -> float | None:
    starts = _functions(obj)
    share = None
    if starts:
        step = max(1, len(starts) // SAMPLE)
        hits = total = 0
        for start, end in starts[::step][:SAMPLE]:
            off = _file_offset(obj, start)
            if off is None:
                continue
            try:
                head = os.pread(obj.elf.f.fileno(), min(SCAN_BYTES, end - start), off)
            except (OSError, ValueError):
                obj.elf.f.seek(off)
                head = obj.elf.f.read(min(SCAN_BYTES, end - start))
            total += 1
            hits += _MOV_RSP_RBP in head
        share = hits / total if total else None
    return share


def has_frame_pointers(obj: ObjectFile, disk: BlobCache | None = None) -> bool:
    share = frame_pointer_share(obj, disk)
    return share is not None and share >= THRESHOLD


def is_runtime(name: str) -> bool:
    return name.startswith(RUNTIME_PREFIXES)
