"""The symbolizer the recorder talks to (see docs/CONTRACTS.md).

Turns raw addresses into `Frame`s: it names, it does not unwind (the
recorder asks `symbolizer.unwind.Unwinder` for a stack's addresses first).
Every address yields a frame: named when a symbol covers it, otherwise
placed (`libfoo.so+0x1a2b`, `[unknown] 0x…`) with module, build-id and file
offset kept so that a server with more symbols can name it later. Binaries
are parsed once per build-id, whatever the number of processes mapping them
(`binaries.py`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from profiler.model import Frame
from profiler.procfs import Mapping

from .binaries import DEFAULT_CACHE_BYTES, Binaries
from .demangle import function_name
from .kallsyms import Kallsyms
from .lines import LineTable, build_line_table
from .objects import ObjectFile
from .process import FRAME_CACHE_LIMIT, ProcessState


class Symbolizer:
    """Addresses to frames, for the kernel and for user processes.

    `cache_bytes` bounds the per-build-id tables held in memory. `cache_dir`
    (optional) is where symbol tables and line tables are kept across runs,
    per build-id. `lines=True` adds file:line from DWARF (when the binary or
    its debug file has it) and inserts inlined callees as frames of their
    own, so `user_frames` may then return more frames than addresses.
    `binaries` (the processes' mappings and binaries) is shared with the
    unwinder: pass one to share it, else the symbolizer makes its own.
    """

    def __init__(self, cache_bytes: int = DEFAULT_CACHE_BYTES, cache_dir: str | None = None,
                 lines: bool = False, binaries: Binaries | None = None) -> None:
        self.binaries = binaries or Binaries(cache_bytes, cache_dir)
        self.cache_dir = self.binaries.cache_dir
        self.lines = lines
        self._kallsyms: Kallsyms | None = None
        self._kframes: dict[tuple[int, bool], Frame] = {}
        self.stats = self.binaries.stats
        self.stats.setdefault("unnamed_frames", 0)

    # -- kernel -----------------------------------------------------------
    @property
    def kallsyms(self) -> Kallsyms:
        if self._kallsyms is None:
            self._kallsyms = Kallsyms()
        return self._kallsyms

    def kernel_frames(self, addrs: Sequence[int]) -> list[Frame]:
        """Kernel addresses (leaf first) to frames (leaf first).

        Frames are cached by address (and whether it is the leaf, which is
        looked up as is): kernel symbols do not move, and the same few
        hundred addresses make up most kernel stacks.
        """
        cache = self._kframes
        out = []
        for i, addr in enumerate(addrs):
            key = (addr, i > 0)
            fr = cache.get(key)
            if fr is None:
                hit = self.kallsyms.lookup(addr - 1 if i else addr)
                if hit is None:
                    fr = Frame(f"[unknown] 0x{addr:x}", "kernel", "[kernel]", "", addr)
                else:
                    name, module, off = hit
                    fr = Frame(name, "kernel", module, "", off + (1 if i else 0))
                if len(cache) >= FRAME_CACHE_LIMIT:
                    cache.clear()
                cache[key] = fr
            out.append(fr)
        return out

    # -- processes --------------------------------------------------------
    def process_seen(self, pid: int) -> None:
        """Snapshots a new process now, so it can be symbolized after it exits.

        Reads its maps, opens every executable mapping's binary and loads its
        symbols (a no-op for build-ids already cached), and reads its perf map.
        """
        self.binaries.process_seen(pid)

    def process_exited(self, pid: int) -> None:
        """Drops per-process state (binaries stay cached by build-id)."""
        self.binaries.process_exited(pid)

    def user_frames(self, pid: int, addrs: Sequence[int]) -> list[Frame]:
        """User addresses (leaf first) to frames (leaf first), one per address
        (plus inlined callees before their caller's frame with `lines=True`).

        addrs[0] is the exact instruction pointer; the others are return
        addresses, looked up at addr-1 so a call at the end of a function is
        attributed to it and not to the next function. `Frame.offset` is the
        file offset of the address looked up (addr-1 for return addresses),
        so a server can look it up again as is.
        """
        st = self.binaries.process(pid)
        perf_refreshed = False
        out = []
        frames = st.frames
        for i, addr in enumerate(addrs):
            look = addr - 1 if i and addr else addr  # a 0 return address: garbage, kept as 0
            fr = frames.get(look)
            if fr is not None:
                if type(fr) is tuple:  # a frame with its inlined callees (lines=True)
                    out.extend(fr)
                else:
                    out.append(fr)
                continue
            m = self.binaries.find(st, look)
            cacheable = True
            if m is not None and (m.is_file or m.path == "[vdso]"):
                fr = self._native_frame(st, m, look)
            else:
                fr = self._jit_frame(st, look, refresh=not perf_refreshed)
                if fr is None:
                    perf_refreshed = True
                    fr = self._unknown_frame(m, look, addr)
                # Never kept: a perf map may still appear (a JIT's runtime
                # writes it when first seen), grow, or rename this address.
                cacheable = False
            if cacheable:
                if len(frames) >= FRAME_CACHE_LIMIT:
                    frames.clear()
                frames[look] = fr
            if type(fr) is tuple:
                out.extend(fr)
            else:
                out.append(fr)
        return out

    # -- building frames ---------------------------------------------------
    def _native_frame(self, st: ProcessState, m: Mapping, addr: int) -> Frame | tuple:
        file_off = m.file_offset(addr)
        obj = self.binaries.object_for(st, m)
        if obj is None:
            name = m.file_path.rsplit("/", 1)[-1] or m.path
            self.stats["unnamed_frames"] += 1
            return Frame(f"{name}+0x{file_off:x}", "native", name, "", file_off)
        vaddr = obj.vaddr(file_off)
        hit = obj.symbols.lookup(vaddr) if vaddr is not None else None
        if hit is None:
            self.stats["unnamed_frames"] += 1
            return Frame(f"{obj.name}+0x{file_off:x}", "native", obj.name, obj.build_id, file_off)
        frame = Frame(function_name(hit[0]), "native", obj.name, obj.build_id, file_off)
        if self.lines:
            return self._with_lines(obj, vaddr, frame)
        return frame

    def _with_lines(self, obj: ObjectFile, vaddr: int, frame: Frame) -> Frame | tuple:
        """The frame with file:line, preceded by its inlined callees (leaf first).

        The outer function keeps its `.symtab` name (DWARF would name a
        `.cold` piece separately); inlined callees are frames of their own.
        """
        locs = self.line_table(obj).lookup(vaddr)
        if not locs:
            return frame
        outer = locs[-1]
        frames = [Frame(function_name(loc.name) if loc.name else "[inlined]", "native",
                        obj.name, obj.build_id, frame.offset, loc.file, loc.line)
                  for loc in locs[:-1]]
        frames.append(Frame(frame.name, "native", obj.name, obj.build_id, frame.offset,
                            outer.file, outer.line))
        return tuple(frames) if len(frames) > 1 else frames[0]

    def line_table(self, obj: ObjectFile) -> LineTable:
        table = obj.extra.get("lines")
        if table is None:
            table = build_line_table(obj.elf, obj.debug_elf(), obj.key, self.cache_dir)
            obj.extra["lines"] = table
            self.binaries.grew(obj)
        return table  # type: ignore[return-value]

    def _jit_frame(self, st: ProcessState, addr: int, refresh: bool) -> Frame | None:
        pm = self.binaries.perf_map(st)
        if pm is None:
            return None
        hit = pm.lookup(addr)
        if hit is None and refresh and pm.refresh():
            hit = pm.lookup(addr)
        if hit is None:
            return None
        return Frame(hit[0], "jit", "[jit]", "", addr - hit[1])

    def _unknown_frame(self, m: Mapping | None, look: int, addr: int) -> Frame:
        self.stats["unnamed_frames"] += 1
        module = (m.path or "[anon]") if m is not None else ""
        return Frame(f"[unknown] 0x{addr:x}", "unknown", module, "", look)

    def objects(self) -> Iterable[ObjectFile]:
        """Binaries currently cached (for benchmarks and diagnostics)."""
        return self.binaries.objects()
