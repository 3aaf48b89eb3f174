"""What the symbolizer remembers about one process.

A snapshot of its mappings, the binary behind each executable mapping, its
perf map, and a cache of already-built frames. The snapshot is what lets a
process that has exited be symbolized: nothing here needs /proc/PID again
once the binaries are open.
"""

from __future__ import annotations

from .maps import MapIndex, Mapping, read_maps
from .objects import ObjectFile
from .perfmap import PerfMap

# Frames cached per process before the cache is simply cleared.
FRAME_CACHE_LIMIT = 65536


class ProcessState:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.index = MapIndex([])
        self.alive = True
        # mapping start -> its binary (None: could not be opened/parsed)
        self.objects: dict[int, ObjectFile | None] = {}
        self.perfmap: PerfMap | None = None
        self.frames: dict[int, object] = {}  # lookup address -> Frame
        self.rules: dict[int, tuple] = {}  # pc -> unwind rule (see cfi.py)
        self.generation = 0

    def reload_maps(self) -> bool:
        """Re-reads /proc/PID/maps; False (keeping the old snapshot) if gone."""
        maps = read_maps(self.pid)
        if maps is None:
            self.alive = False
            return False
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
        self.generation += 1
        return True

    def find(self, addr: int) -> Mapping | None:
        return self.index.find(addr)

    def perf_map(self) -> PerfMap | None:
        if self.perfmap is None:
            pm = PerfMap(self.pid)
            if not pm.path:
                return None
            self.perfmap = pm
        return self.perfmap
