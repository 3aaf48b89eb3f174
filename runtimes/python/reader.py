"""Reading a running CPython 3.11-3.13 process's threads and Python stacks.

Everything goes through `/proc/PID/mem` with the per-version offsets of
`offsets.py`; the target is never stopped or signalled. The walk is
runtime -> interpreters -> thread states (keyed by native tid) -> current
interpreter frame -> `previous`..., and each frame's code object is decoded
once and cached under its address *and* a fingerprint of its header (type,
name and file pointers, first line), so a freed code object whose address is
reused by another can never lend its name to the wrong frame.
"""

from __future__ import annotations

import os
import struct
import time
from dataclasses import dataclass

from profiler.model import Frame
from profiler.procfs import MemoryReadError, ProcessMemory, namespace_tids, pid_namespace

from .discovery import PythonRuntime, find_python
from .linetable import line_for_offset
from .objects import ObjectReader
from .offsets import (
    DEBUG_OFFSETS_313_SIZE,
    FRAME_OWNED_BY_CSTACK,
    PyOffsets,
    offsets_for,
    parse_debug_offsets,
)

MAX_FRAMES = 256
# How long a code object's header, once read, vouches for its address.
CODE_RECHECK_S = 0.1  # one poll: stacks are named as their events arrive
# How long the address of `threading._active` is trusted before it is looked up again.
ACTIVE_RECHECK_S = 60.0
MAX_THREADS = 4096


class UnsupportedPython(Exception):
    """A Python process this reader cannot read (version, build, permissions).

    `transient`: it may be readable later (no CPython mapped yet, memory not
    readable yet); otherwise the answer stands (an unknown layout).
    """

    def __init__(self, message: str, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class PyThread:
    tid: int  # native thread id (as the target's pid namespace sees it)
    ident: int  # threading.get_ident() (pthread_t)
    tstate: int  # address of its PyThreadState


@dataclass(frozen=True, slots=True)
class RawFrame:
    """One interpreter frame as read: resolved to a name later (or never)."""

    code: int
    instr: int
    is_entry: bool  # root-most Python frame of one _PyEval_EvalFrameDefault call


@dataclass(frozen=True, slots=True)
class CodeInfo:
    name: str  # "module.qualname"
    filename: str
    firstlineno: int
    linetable: bytes
    code_adaptive: int  # address of the first code unit


@dataclass(frozen=True, slots=True)
class PyStack:
    """A thread's Python frames, leaf first, with entry marks for merging."""

    frames: tuple[Frame, ...]
    entries: tuple[bool, ...]


def module_name(filename: str) -> str:
    """`/srv/app/orders.py` -> `orders`; `<frozen importlib._bootstrap>` -> that."""
    if filename.startswith("<frozen ") and filename.endswith(">"):
        return filename[8:-1]
    if filename.startswith("<"):
        return ""
    base = os.path.basename(filename)
    stem = base[:-3] if base.endswith(".py") else base
    if stem == "__init__":
        return os.path.basename(os.path.dirname(filename))
    return stem


class PythonProcess:
    """Live view of one CPython process's interpreter state."""

    def __init__(self, pid: int, runtime: PythonRuntime | None = None) -> None:
        self.pid = pid
        self.runtime = runtime or find_python(pid)
        if self.runtime is None:
            raise UnsupportedPython(f"pid {pid}: no CPython runtime found", transient=True)
        try:
            self.mem = ProcessMemory(pid)
        except MemoryReadError as e:
            raise UnsupportedPython(f"pid {pid}: {e}", transient=True) from e
        self.version = self._read_version()
        debug = None
        if self.version >= (3, 13):
            try:
                debug = parse_debug_offsets(
                    self.mem.read(self.runtime.runtime_addr, DEBUG_OFFSETS_313_SIZE))
            except MemoryReadError:
                debug = None
        off = offsets_for(self.version, debug)
        if off is None:
            self.mem.close()
            raise UnsupportedPython(
                f"pid {pid}: CPython {self.version[0]}.{self.version[1]} has no known layout")
        self.off: PyOffsets = off
        self.objects = ObjectReader(self.mem, off)
        self._codes: dict[tuple, CodeInfo | None] = {}
        self._code_header_size = off.code_header_size  # a max() per call otherwise
        self._checked: dict[int, CodeInfo] = {}  # code address -> info, read lately
        self._checked_at = 0.0
        self._active = 0  # address of threading._active, see _threading_active
        self._active_at = 0.0
        self._strings: dict[int, str] = {}
        # (id of code info, instruction) -> (that code info, its frame): the
        # same frames come back sample after sample, and decoding a line
        # table is a Python loop over it. The info in the value keeps its id
        # from being reused while the entry lives.
        self._frames: dict[tuple[int, int], tuple[CodeInfo, Frame]] = {}
        self._tstates: dict[int, tuple[int, int]] = {}  # host tid -> (tstate, ns tid)
        self.pidns = pid_namespace(pid)  # (dev, ino) inside a container, else None
        self._ns_to_host: dict[int, int] = {}

    def close(self) -> None:
        self.mem.close()

    def _read_version(self) -> tuple[int, int]:
        rt = self.runtime
        assert rt is not None
        if rt.py_version_addr:
            try:
                hexver = self.mem.u32(rt.py_version_addr)
                if hexver >> 24 == 3:
                    return (3, (hexver >> 16) & 0xFF)
            except MemoryReadError:
                pass
        return rt.version

    # --- threads ---------------------------------------------------------

    def interpreters(self) -> list[int]:
        out = []
        interp = self.mem.u64(self.runtime.runtime_addr + self.off.runtime_interpreters_head)
        while interp and len(out) < 64:
            out.append(interp)
            interp = self.mem.u64(interp + self.off.interp_next)
        return out

    def _host_tid(self, ns_tid: int) -> int:
        """The host's id of a thread the interpreter knows by its namespace id."""
        if self.pidns is None:
            return ns_tid
        host = self._ns_to_host.get(ns_tid)
        if host is None:
            self._ns_to_host = namespace_tids(self.pid)
            host = self._ns_to_host.get(ns_tid, 0)
        return host

    def threads(self) -> list[PyThread]:
        """Every thread state of every interpreter (tids as the host numbers them)."""
        o = self.off
        out: list[PyThread] = []
        tstates: dict[int, tuple[int, int]] = {}
        for interp in self.interpreters():
            ts = self.mem.u64(interp + o.interp_threads_head)
            while ts and len(out) < MAX_THREADS:
                ident = self.mem.u64(ts + o.tstate_thread_id)
                ns_tid = self.mem.u64(ts + o.tstate_native_thread_id)
                tid = self._host_tid(ns_tid)
                out.append(PyThread(tid=tid, ident=ident, tstate=ts))
                tstates[tid] = (ts, ns_tid)
                ts = self.mem.u64(ts + o.tstate_next)
        self._tstates = tstates
        return out

    def tstate_for(self, tid: int) -> int:
        """Thread-state address of host thread `tid` (0 if it has none)."""
        cached = self._tstates.get(tid)
        if cached:
            ts, ns_tid = cached
            try:  # still that thread's? thread states are freed and reused
                if self.mem.u64(ts + self.off.tstate_native_thread_id) == ns_tid:
                    return ts
            except MemoryReadError:
                pass
        self.threads()
        cached = self._tstates.get(tid)
        return cached[0] if cached else 0

    # --- frames ----------------------------------------------------------

    def current_frame(self, tstate: int) -> int:
        o = self.off
        if o.tstate_current_frame >= 0:
            return self.mem.u64(tstate + o.tstate_current_frame)
        cframe = self.mem.u64(tstate + o.tstate_cframe)
        return self.mem.u64(cframe + o.cframe_current_frame) if cframe else 0

    def raw_stack(self, tid: int) -> list[RawFrame]:
        """Leaf-first interpreter frames of native thread `tid` ([] if none)."""
        ts = self.tstate_for(tid)
        if not ts:
            return []
        return self.raw_stack_at(self.current_frame(ts))

    def raw_stack_at(self, frame: int) -> list[RawFrame]:
        o = self.off
        size = o.frame_header_size
        out: list[RawFrame] = []
        while frame and len(out) < MAX_FRAMES:
            hdr = self.mem.read(frame, size)
            code = struct.unpack_from("<Q", hdr, o.frame_code)[0]
            previous = struct.unpack_from("<Q", hdr, o.frame_previous)[0]
            instr = struct.unpack_from("<Q", hdr, o.frame_instr)[0]
            owner = hdr[o.frame_owner]
            if owner == FRAME_OWNED_BY_CSTACK:  # 3.12+ shim: the caller was C
                if out:
                    out[-1] = RawFrame(out[-1].code, out[-1].instr, True)
            else:
                entry = bool(hdr[o.frame_is_entry]) if o.frame_is_entry >= 0 else False
                out.append(RawFrame(code, instr, entry))
            frame = previous
        if out and not out[-1].is_entry:
            out[-1] = RawFrame(out[-1].code, out[-1].instr, True)
        return out

    # --- naming ----------------------------------------------------------

    def _string(self, addr: int) -> str:
        s = self._strings.get(addr)
        if s is None:
            s = self.objects.string(addr)
            if len(self._strings) > 100_000:
                self._strings.clear()
            self._strings[addr] = s
        return s

    def code_info(self, code: int) -> CodeInfo | None:
        """Name, file and line table of the code object at `code` (None if not code).

        Its header is read again each time, to tell a freed and reused
        address, but not more than once per CODE_RECHECK_S: the stacks of a
        process share most of their frames (their roots, the event loop), and
        a read per frame per stack was most of what naming cost. Stacks are
        named at each poll (100 ms), so a reused address is noticed as soon as
        it was before.
        """
        now = time.monotonic()
        if now - self._checked_at > CODE_RECHECK_S:
            self._checked.clear()
            self._checked_at = now
        info = self._checked.get(code)
        if info is None:
            info = self._read_code_info(code)
            if info is not None:
                self._checked[code] = info
        return info

    def _read_code_info(self, code: int) -> CodeInfo | None:
        o = self.off
        try:
            hdr = self.mem.read(code, self._code_header_size)
        except MemoryReadError:
            return None
        ob_type = struct.unpack_from("<Q", hdr, 8)[0]
        filename_p = struct.unpack_from("<Q", hdr, o.code_filename)[0]
        qualname_p = struct.unpack_from("<Q", hdr, o.code_qualname)[0]
        linetable_p = struct.unpack_from("<Q", hdr, o.code_linetable)[0]
        firstlineno = struct.unpack_from("<i", hdr, o.code_firstlineno)[0]
        key = (code, ob_type, filename_p, qualname_p, linetable_p, firstlineno)
        if key in self._codes:
            return self._codes[key]
        info: CodeInfo | None = None
        if ob_type == self.runtime.code_type_addr or not self.runtime.code_type_addr:
            try:
                filename = self._string(filename_p)
                qualname = self._string(qualname_p)
                linetable = self.objects.bytes_(linetable_p)
                mod = module_name(filename)
                info = CodeInfo(
                    name=f"{mod}.{qualname}" if mod else qualname,
                    filename=filename,
                    firstlineno=firstlineno,
                    linetable=linetable,
                    code_adaptive=code + o.code_adaptive,
                )
            except (MemoryReadError, UnicodeDecodeError):
                return None  # torn read: do not cache, the next sample may succeed
        if len(self._codes) > 50_000:
            self._codes.clear()
        self._codes[key] = info
        return info

    def frame(self, raw: RawFrame) -> Frame:
        if raw.code == 0:
            return Frame(name="[truncated]", kind="python")
        info = self.code_info(raw.code)
        if info is None:
            return Frame(name=f"[python] {raw.code:#x}", kind="python")
        key = (id(info), raw.instr)
        hit = self._frames.get(key)
        if hit is not None and hit[0] is info:
            return hit[1]
        line = 0
        if raw.instr >= info.code_adaptive:
            line = line_for_offset(info.linetable, info.firstlineno,
                                   (raw.instr - info.code_adaptive) // 2)
        fr = Frame(name=info.name, kind="python", module=info.filename,
                   file=info.filename, line=line or info.firstlineno)
        if len(self._frames) > 20_000:
            self._frames.clear()
        self._frames[key] = (info, fr)
        return fr

    def symbolize(self, raw: list[RawFrame]) -> PyStack:
        return PyStack(tuple(self.frame(r) for r in raw), tuple(r.is_entry for r in raw))

    def stack(self, tid: int) -> PyStack:
        """Named Python frames of native thread `tid`, leaf first."""
        return self.symbolize(self.raw_stack(tid))

    # --- thread names and the GIL ---------------------------------------

    def thread_names(self) -> dict[int, str]:
        """Native tid -> `threading` name, for threads that `threading` knows."""
        threads = self.threads()
        by_ident = {t.ident: t.tid for t in threads}
        names: dict[int, str] = {}
        active = self._threading_active()
        try:
            items = list(self.objects.dict_items(active)) if active else []
        except MemoryReadError:
            self._active = 0  # look it up again next time
            raise
        for key, thread in items:
            try:
                ident = self.objects.int_(key)
                tid = by_ident.get(ident)
                name_p = self.objects.attribute(thread, "_name") if tid else 0
                if name_p:
                    names[tid] = self.objects.string(name_p)
            except MemoryReadError:
                continue
        return names

    def _threading_active(self) -> int:
        """Address of the main interpreter's `threading._active` dict (0: none yet).

        Finding it reads every key of sys.modules and of the module's globals
        (hundreds of reads), while the dict lives as long as the module: so it
        is remembered, and looked up again after ACTIVE_RECHECK_S (a reloaded
        `threading` would have a new one) or while it is not found.
        """
        now = time.monotonic()
        if self._active and now - self._active_at < ACTIVE_RECHECK_S:
            return self._active
        o = self.off
        active = 0
        for interp in self.interpreters()[-1:]:  # the main interpreter is the oldest
            modules = self.mem.u64(interp + o.interp_modules)
            threading_mod = self.objects.dict_get_str(modules, "threading") if modules else 0
            mdict = self.mem.u64(threading_mod + o.module_dict) if threading_mod else 0
            active = self.objects.dict_get_str(mdict, "_active") if mdict else 0
        self._active, self._active_at = active, now
        return active

    def gil_address(self) -> int:
        """Address of the main interpreter's `_gil_runtime_state`."""
        o = self.off
        if o.runtime_gil >= 0:
            return self.runtime.runtime_addr + o.runtime_gil
        interps = self.interpreters()
        return self.mem.u64(interps[-1] + o.interp_ceval_gil) if interps else 0

    def gil_range(self) -> tuple[int, int]:
        """[lo, hi) of the GIL's state: its mutex and condition variables.

        A thread blocked in a futex whose address lies here is waiting for
        the GIL (or, having dropped it on request, for a taker to run).
        """
        addr = self.gil_address()
        return (addr, addr + self.off.gil_size) if addr else (0, 0)

    def gil_holder_tid(self) -> int:
        """Native tid of the thread holding the GIL now, 0 if none/unknown."""
        gil = self.gil_address()
        if not gil or not self.mem.i32(gil + self.off.gil_locked):
            return 0
        holder = self.mem.u64(gil + self.off.gil_last_holder)
        if not holder:
            return 0
        return self._host_tid(self.mem.u64(holder + self.off.tstate_native_thread_id))
