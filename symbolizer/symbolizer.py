"""The symbolizer the recorder talks to (see docs/CONTRACTS.md).

Turns raw addresses into `Frame`s. Every address yields a frame: named when a
symbol covers it, otherwise placed (`libfoo.so+0x1a2b`, `[unknown] 0x…`) with
module, build-id and file offset kept so that a server with more symbols can
name it later. Binaries are parsed once per build-id, whatever the number of
processes mapping them.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterable, Sequence

from profiler.model import Frame
from profiler.procfs import Mapping

from .cache import BlobCache, ByteLRU
from .cfi import NO_RULE, DiskCache, Rule
from .demangle import function_name
from .elf import ElfError, ElfFile
from .framepointers import has_frame_pointers, is_runtime
from .kallsyms import Kallsyms
from .lines import LineTable, build_line_table
from .objects import ObjectFile, identity_key, open_mapping, read_vdso
from .perfmap import PerfMap
from .process import FRAME_CACHE_LIMIT, ProcessState
from .symtab import FORMAT_VERSION as SYMTAB_FORMAT
from .unwind import MAX_DEPTH, PY_TRAMPOLINE_RULE, UnwindResult, join_fp_walk, walk
from .unwind_table import UnwindTable, open_unwind_table

DEFAULT_CACHE_BYTES = 512 << 20
# Functions where a thread's stack begins: a walk that stops in one is complete.
STOP_FUNCTIONS = frozenset({"_start", "__start", "clone", "__clone", "clone3", "__clone3",
                            "start_thread", "thread_start", "__GI___clone", "__GI___clone3"})
# How often to look again for a perf map that did not exist.
PERFMAP_RECHECK_S = 1.0


def function_base(name: str) -> str:
    """A demangled name without its parameter list: `ns::f(int)` -> `ns::f`."""
    return name.split("(", 1)[0]


class Symbolizer:
    """Addresses to frames, for the kernel and for user processes.

    `cache_bytes` bounds the per-build-id tables held in memory. `cache_dir`
    (optional) is where symbol tables, compiled unwind tables and line
    tables are kept across runs, per build-id. `lines=True` adds file:line
    from DWARF (when the binary or its debug file has it) and inserts inlined
    callees as frames of their own, so `user_frames` may then return more
    frames than addresses.
    """

    def __init__(self, cache_bytes: int = DEFAULT_CACHE_BYTES, cache_dir: str | None = None,
                 lines: bool = False) -> None:
        self.cache_dir = cache_dir
        self._disk = DiskCache(cache_dir) if cache_dir else None
        self._symbol_disk = BlobCache(cache_dir, f"symtab-v{SYMTAB_FORMAT}") if cache_dir else None
        self.lines = lines
        # Evicted binaries are only dropped by the cache: processes still
        # mapping them keep their reference (and its open file) until they exit.
        self._objects: ByteLRU[ObjectFile] = ByteLRU(cache_bytes)
        self._procs: dict[int, ProcessState] = {}
        self._kallsyms: Kallsyms | None = None
        self._kframes: dict[tuple[int, bool], Frame] = {}
        self._file_keys: dict[tuple, str] = {}  # (dev, inode, size, mtime) -> binary's key
        self._perfmap_checked: dict[int, float] = {}
        self.stats = {"maps_reloads": 0, "objects_loaded": 0, "unnamed_frames": 0,
                      "cfi_compiled": 0, "cfi_from_disk": 0, "cfi_indexed": 0}

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
        st = self._proc(pid)
        if not st.reload_maps():
            return
        self.stats["maps_reloads"] += 1
        for m in st.index.maps:
            if m.is_exec and (m.is_file or m.path == "[vdso]"):
                obj = self._object_for(st, m)
                if obj is not None:
                    _ = obj.symbols
        self._perf_map(st, force=True)

    def frame_pointers(self, pid: int) -> dict[str, bool]:
        """Per executable binary of the process: built with frame pointers?"""
        st = self._proc(pid)
        if not st.index.maps:
            self.process_seen(pid)
        out = {}
        for m in st.index.maps:
            if m.is_exec and m.is_file:
                obj = self._object_for(st, m)
                if obj is not None:
                    out[obj.name] = has_frame_pointers(obj)
        return out

    def needs_stack_copy(self, pid: int) -> bool:
        """Whether this process's user stacks need copying for CFI unwinding.

        True when a binary other than the C/C++ runtimes lacks frame pointers
        (the kernel's frame-pointer walk would stop in it), when a binary's
        build cannot be told (stripped), or when it runs CPython perf
        trampolines (which push no frame pointer).
        """
        fps = self.frame_pointers(pid)
        if any(not fp for name, fp in fps.items() if not is_runtime(name)):
            return True
        st = self._proc(pid)
        pm = self._perf_map(st, force=True)
        return pm is not None and pm.has_prefix("py::")

    def process_exited(self, pid: int) -> None:
        """Drops per-process state (binaries stay cached by build-id)."""
        self._procs.pop(pid, None)
        self._perfmap_checked.pop(pid, None)

    def user_frames(self, pid: int, addrs: Sequence[int]) -> list[Frame]:
        """User addresses (leaf first) to frames (leaf first), one per address
        (plus inlined callees before their caller's frame with `lines=True`).

        addrs[0] is the exact instruction pointer; the others are return
        addresses, looked up at addr-1 so a call at the end of a function is
        attributed to it and not to the next function. `Frame.offset` is the
        file offset of the address looked up (addr-1 for return addresses),
        so a server can look it up again as is.
        """
        st = self._proc(pid)
        if not st.index.maps and st.alive:
            st.reload_maps()
            self.stats["maps_reloads"] += 1
        perf_refreshed = False
        out = []
        frames = st.frames
        for i, addr in enumerate(addrs):
            look = addr - 1 if i else addr
            fr = frames.get(look)
            if fr is not None:
                if type(fr) is tuple:  # a frame with its inlined callees (lines=True)
                    out.extend(fr)
                else:
                    out.append(fr)
                continue
            m, reloaded = st.find_fresh(look)
            if reloaded:
                self.stats["maps_reloads"] += 1
                frames = st.frames
            cacheable = True
            if m is not None and (m.is_file or m.path == "[vdso]"):
                fr = self._native_frame(st, m, look)
            else:
                fr = self._jit_frame(st, look, refresh=not perf_refreshed)
                if fr is None:
                    perf_refreshed = True
                    fr = self._unknown_frame(m, look, addr)
                # A perf map may still grow and name (or rename) this address.
                cacheable = st.perfmap is None
            if cacheable:
                if len(frames) >= FRAME_CACHE_LIMIT:
                    frames.clear()
                frames[look] = fr
            if type(fr) is tuple:
                out.extend(fr)
            else:
                out.append(fr)
        return out

    # -- unwinding ----------------------------------------------------------
    def unwind(self, pid: int, ip: int, sp: int, bp: int, stack: bytes) -> list[int]:
        """User stack addresses (leaf first) from registers and a stack copy.

        `stack` is a copy of the thread's memory starting at `sp`. The result
        feeds `user_frames` as is.
        """
        return self.unwind_result(pid, ip, sp, bp, stack).addrs

    def unwind_result(self, pid: int, ip: int, sp: int, bp: int, stack: bytes,
                      max_depth: int = MAX_DEPTH) -> UnwindResult:
        """Like `unwind`, also saying whether the thread's root was reached."""
        st = self._proc(pid)
        if not st.index.maps and st.alive:
            st.reload_maps()
            self.stats["maps_reloads"] += 1

        def rule_for(pc: int) -> Rule:
            rules = st.rules  # replaced when the maps are re-read
            r = rules.get(pc)
            if r is None:
                r = self._rule_for(st, pc)
                rules = st.rules
                if len(rules) >= FRAME_CACHE_LIMIT:
                    rules.clear()
                rules[pc] = r
            return r

        try:
            res = walk(ip, sp, bp, stack, rule_for, max_depth)
        except Exception:  # noqa: BLE001 - a bad sample costs its stack, never the profile
            self.stats["unwind_errors"] = self.stats.get("unwind_errors", 0) + 1
            return UnwindResult([ip], False, "error")
        if not res.complete and len(res.addrs) > 1:
            # CFI did not mark the end, but the walk stopped in a function where
            # threads begin: that is the root too.
            if self._function_at(st, res.addrs[-1] - 1) in STOP_FUNCTIONS:
                res.complete, res.reason = True, "root"
        return res

    def user_stack(self, pid: int, fp_addrs: Sequence[int], ip: int, sp: int, bp: int,
                   stack: bytes) -> list[int]:
        """The user stack of a sample that has both a frame-pointer walk and a
        stack copy: the CFI unwind, extended as `join_fp_walk` allows.
        """
        if not stack:
            return list(fp_addrs)
        res = self.unwind_result(pid, ip, sp, bp, stack)
        return join_fp_walk(res.addrs, res.complete, fp_addrs)

    def _function_at(self, st: ProcessState, pc: int) -> str:
        """The bare function name at a pc ('' if unnamed)."""
        m = st.find(pc)
        if m is None or not (m.is_file or m.path == "[vdso]"):
            return ""
        obj = self._object_for(st, m)
        vaddr = obj.vaddr(m.file_offset(pc)) if obj is not None else None
        hit = obj.symbols.lookup(vaddr) if vaddr is not None else None
        return function_base(function_name(hit[0])) if hit is not None else ""

    def _rule_for(self, st: ProcessState, pc: int) -> Rule:
        m, reloaded = st.find_fresh(pc)
        if reloaded:
            self.stats["maps_reloads"] += 1
        if m is None:
            return NO_RULE
        if m.is_file or m.path == "[vdso]":
            obj = self._object_for(st, m)
            if obj is None:
                return NO_RULE
            vaddr = obj.vaddr(m.file_offset(pc))
            if vaddr is None:
                return NO_RULE
            return self.cfi(obj).lookup(vaddr)
        pm = self._perf_map(st)
        if pm is not None:
            hit = pm.lookup(pc)
            if hit is None and pm.refresh():
                st.rules.clear()
                hit = pm.lookup(pc)
            if hit is not None and hit[0].startswith("py::"):
                return PY_TRAMPOLINE_RULE
        return NO_RULE

    def cfi(self, obj: ObjectFile) -> UnwindTable:
        """The binary's unwind rules (see unwind_table.py), opened once per build-id."""
        table = obj.extra.get("cfi")
        if table is None:
            try:
                table, compiled = open_unwind_table(obj.elf, obj.debug_elf, obj.key, self._disk)
            except Exception:  # noqa: BLE001 - never let bad CFI break a profile
                table, compiled = UnwindTable(None, None, ""), False
            kind = ("cfi_compiled" if compiled else "cfi_from_disk"
                    if table.source.startswith("disk:") else "cfi_indexed")
            self.stats[kind] = self.stats.get(kind, 0) + 1
            obj.extra["cfi"] = table
            self._objects.resize(obj.key, obj.nbytes)
        return table  # type: ignore[return-value]

    # -- building frames ---------------------------------------------------
    def _native_frame(self, st: ProcessState, m: Mapping, addr: int) -> Frame | tuple:
        file_off = m.file_offset(addr)
        obj = self._object_for(st, m)
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
            self._objects.resize(obj.key, obj.nbytes)
        return table  # type: ignore[return-value]

    def _jit_frame(self, st: ProcessState, addr: int, refresh: bool) -> Frame | None:
        pm = self._perf_map(st)
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

    # -- state -------------------------------------------------------------
    def _proc(self, pid: int) -> ProcessState:
        st = self._procs.get(pid)
        if st is None:
            st = ProcessState(pid)
            self._procs[pid] = st
        return st

    def _perf_map(self, st: ProcessState, force: bool = False) -> PerfMap | None:
        if st.perfmap is not None:
            return st.perfmap
        now = time.monotonic()
        if not force and now - self._perfmap_checked.get(st.pid, -1e9) < PERFMAP_RECHECK_S:
            return None
        self._perfmap_checked[st.pid] = now
        return st.perf_map()

    def _object_for(self, st: ProcessState, m: Mapping) -> ObjectFile | None:
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

    def _intern(self, f, path: str) -> ObjectFile | None:
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
