"""What each process maps, and the binaries behind it: shared by the unwinder
(`symbolizer/unwind/`, which reads their CFI) and the symbolizer (which names).

Binaries are parsed once per build-id, whatever the number of processes
mapping them, and kept in an LRU bounded by bytes; each process's mappings are
snapshotted so it can still be unwound and named after it exits.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterable
from typing import BinaryIO

from profiler.procfs import Mapping

from .cache import BlobCache, ByteLRU
from .elf import ElfError, ElfFile
from .objects import ObjectFile, identity_key, open_mapping, read_vdso
from .perfmap import PerfMap
from .process import FRAME_CACHE_LIMIT, ProcessState
from .symtab import FORMAT_VERSION as SYMTAB_FORMAT

DEFAULT_CACHE_BYTES = 512 << 20
# How often to look again for a perf map that did not exist.
PERFMAP_RECHECK_S = 1.0


class Binaries:
    """Processes' mappings and the `ObjectFile`s behind them.

    `cache_bytes` bounds the per-build-id tables held in memory; `cache_dir`
    (optional) is where tables are kept across runs, per build-id. `stats`
    counts for every user of this object (the unwinder and the symbolizer
    add their own counters to it).
    """

    def __init__(self, cache_bytes: int = DEFAULT_CACHE_BYTES,
                 cache_dir: str | None = None) -> None:
        self.cache_dir = cache_dir
        self._symbol_disk = BlobCache(cache_dir, f"symtab-v{SYMTAB_FORMAT}") if cache_dir else None
        # Evicted binaries are only dropped by the cache: processes still
        # mapping them keep their reference (and its open file) until they exit.
        self._objects: ByteLRU[ObjectFile] = ByteLRU(cache_bytes)
        self._procs: dict[int, ProcessState] = {}
        self._file_keys: dict[tuple, str] = {}  # (dev, inode, size, mtime) -> binary's key
        self._perfmap_checked: dict[int, float] = {}
        self.stats: dict[str, int] = {"maps_reloads": 0, "objects_loaded": 0}

    # -- processes --------------------------------------------------------
    def _state(self, pid: int) -> ProcessState:
        st = self._procs.get(pid)
        if st is None:
            st = self._procs[pid] = ProcessState(pid)
        return st

    def process(self, pid: int) -> ProcessState:
        """The state of `pid`, its maps read once if they never were."""
        st = self._state(pid)
        if not st.index.maps and st.alive:
            if st.reload_maps():
                self.stats["maps_reloads"] += 1
        return st

    def process_seen(self, pid: int) -> None:
        """Snapshots a new process now, so it can be handled after it exits.

        Reads its maps, opens every executable mapping's binary and loads its
        symbols (a no-op for build-ids already cached), and reads its perf map.
        """
        st = self._state(pid)
        if not st.reload_maps():
            return
        self.stats["maps_reloads"] += 1
        for m in st.index.maps:
            if m.is_exec and (m.is_file or m.path == "[vdso]"):
                obj = self.object_for(st, m)
                if obj is not None:
                    _ = obj.symbols
        self.perf_map(st, force=True)

    def process_exited(self, pid: int) -> None:
        """Drops per-process state (binaries stay cached by build-id)."""
        self._procs.pop(pid, None)
        self._perfmap_checked.pop(pid, None)

    def find(self, st: ProcessState, addr: int) -> Mapping | None:
        """The mapping holding `addr`, re-reading the maps (rate-limited) on a miss."""
        m, reloaded = st.find_fresh(addr)
        if reloaded:
            self.stats["maps_reloads"] += 1
        return m

    def symbol_at(self, st: ProcessState, pc: int) -> str:
        """The raw ELF symbol covering `pc` ('' if none): for policy checks,
        not for display (the symbolizer names frames)."""
        m = st.find(pc)
        if m is None or not (m.is_file or m.path == "[vdso]"):
            return ""
        obj = self.object_for(st, m)
        vaddr = obj.vaddr(m.file_offset(pc)) if obj is not None else None
        hit = obj.symbols.lookup(vaddr) if vaddr is not None else None
        return hit[0] if hit is not None else ""

    def perf_map(self, st: ProcessState, force: bool = False) -> PerfMap | None:
        """The process's perf map; a missing one is looked for again at most every
        PERFMAP_RECHECK_S unless `force`."""
        if st.perfmap is not None:
            return st.perfmap
        now = time.monotonic()
        if not force and now - self._perfmap_checked.get(st.pid, -1e9) < PERFMAP_RECHECK_S:
            return None
        self._perfmap_checked[st.pid] = now
        return st.perf_map()

    # -- binaries ---------------------------------------------------------
    def object_for(self, st: ProcessState, m: Mapping) -> ObjectFile | None:
        """The binary behind a mapping (None: it could not be opened or parsed)."""
        if m.start in st.objects:
            return st.objects[m.start]
        obj = None
        if m.path == "[vdso]":
            f = read_vdso(st.pid, m) if st.alive else None
            path = "[vdso]"
        else:
            opened = open_mapping(st.pid, m)
            f, path = opened if opened is not None else (None, m.file_path)
        if f is not None:
            obj = self._intern(f, path)
        st.objects[m.start] = obj
        return obj

    def grew(self, obj: ObjectFile) -> None:
        """Records that a binary loaded another table (CFI, lines) for the LRU's bound."""
        self._objects.resize(obj.key, obj.nbytes)

    def _intern(self, f: BinaryIO, path: str) -> ObjectFile | None:
        """The cached binary for an opened file, else one parsed from it.

        A file already seen (same device, inode, size and mtime) is found
        without parsing its ELF headers again: every new process maps dozens
        of libraries that other processes already mapped.
        """
        try:
            st = os.fstat(f.fileno())
            ident: tuple | None = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        except (OSError, ValueError, io.UnsupportedOperation):  # the vDSO: no file
            ident = None
        known = self._file_keys.get(ident) if ident is not None else None
        obj = self._objects.get(known) if known is not None else None
        if obj is not None:
            f.close()
            return obj
        try:
            elf = ElfFile(f, path)
        except (ElfError, OSError, ValueError):
            f.close()
            return None
        key = identity_key(elf, f, path)
        if ident is not None:
            if len(self._file_keys) >= FRAME_CACHE_LIMIT:
                self._file_keys.clear()
            self._file_keys[ident] = key
        obj = self._objects.get(key)
        if obj is not None:
            elf.close()
            return obj
        obj = ObjectFile(elf, path, key, self._symbol_disk)
        _ = obj.symbols
        self.stats["objects_loaded"] += 1
        self._objects.put(key, obj, obj.nbytes)
        return obj

    def objects(self) -> Iterable[ObjectFile]:
        """Binaries currently cached (for benchmarks and diagnostics)."""
        return self._objects.values()
