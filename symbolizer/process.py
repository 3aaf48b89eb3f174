"""What the unwinder and the symbolizer remember about one process.

A snapshot of its mappings, the binary behind each executable mapping, its
perf map, and caches keyed by address (built frames, unwind rules, raw
symbols) that a change of the mappings clears. The snapshot is what lets a
process that has exited be unwound and symbolized: nothing here needs
/proc/PID again once the binaries are open.
"""

from __future__ import annotations

import time

from profiler.procfs import MapIndex, Mapping, parse_maps, read_maps_text

from .objects import ObjectFile
from .perfmap import PerfMap

# Frames cached per process before the cache is simply cleared.
FRAME_CACHE_LIMIT = 65536
# An address outside every known mapping triggers a re-read of the maps (a
# library was loaded since), but not more often than this: garbage addresses
# from a broken stack must not cost a /proc read each.
MISS_RELOAD_INTERVAL_S = 0.01


class ProcessState:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.index = MapIndex([])
        self.alive = True
        # mapping start -> its binary (None: could not be opened/parsed)
        self.objects: dict[int, ObjectFile | None] = {}
        self.perfmap: PerfMap | None = None
        self.frames: dict[int, object] = {}  # lookup address -> Frame
        self.rules: dict[int, tuple] = {}  # pc -> unwind rule (see unwind/cfi.py)
        self.symbols: dict[int, str] = {}  # pc -> raw symbol ('' if none), for the unwinder
        self.generation = 0
        self.loaded_at = -1e9  # time.monotonic() of the last successful read
        self._maps_hash: int | None = None  # of the text that read returned

    def reload_maps(self) -> bool:
        """Re-reads /proc/PID/maps; False (keeping the old snapshot) if gone.

        Unchanged maps keep the cached frames and unwind rules: addresses
        outside every mapping (garbage from a broken frame-pointer walk) ask
        for a re-read about once per batch, and must not cost a process its
        caches each time.
        """
        text = read_maps_text(self.pid)
        if text is None:
            self.alive = False
            return False
        self.loaded_at = time.monotonic()
        if hash(text) == self._maps_hash:
            return True
        self._maps_hash = hash(text)
        maps = parse_maps(text)
        old = {m.start: m for m in self.index.maps}
        self.index = MapIndex(maps)
        # Keep binaries of mappings that did not change.
        keep = {}
        for m in maps:
            prev = old.get(m.start)
            if prev is not None and prev == m and m.start in self.objects:
                keep[m.start] = self.objects[m.start]
        self.objects = keep
        self.frames.clear()
        self.rules.clear()
        self.symbols.clear()
        self.generation += 1
        return True

    def find_fresh(self, addr: int) -> tuple[Mapping | None, bool]:
        """(mapping, whether the maps were re-read to find it)."""
        m = self.index.find(addr)
        if m is not None or not self.alive:
            return m, False
        if time.monotonic() - self.loaded_at < MISS_RELOAD_INTERVAL_S:
            return None, False
        if not self.reload_maps():
            return None, False
        return self.index.find(addr), True

    def find(self, addr: int) -> Mapping | None:
        return self.index.find(addr)

    def perf_map(self) -> PerfMap | None:
        if self.perfmap is None:
            pm = PerfMap(self.pid)
            if not pm.path:
                return None
            self.perfmap = pm
        return self.perfmap
