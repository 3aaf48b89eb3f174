"""Per-version CPython struct offsets (x86-64, default non-debug GIL builds).

3.11 and 3.12 publish no layout, so their tables were computed with
`offsetof` against each version's own installed internal headers
(`tests/runtimes/offsets_probe.c`; the test suite recompiles it and compares
it with these tables, and reads real processes with them). 3.13 carries the
core of its layout in `_PyRuntime.debug_offsets` (cookie `xdebugpy`): when
that block is present it wins over the table, so a differently configured
3.13 build is still read correctly. Layouts change every minor release, so
an unknown version gets no table and the caller degrades with one warning.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace

# _PyInterpreterFrame.owner values (3.11: no CSTACK; 3.12+: shim frames own 3).
FRAME_OWNED_BY_THREAD = 0
FRAME_OWNED_BY_GENERATOR = 1
FRAME_OWNED_BY_FRAME_OBJECT = 2
FRAME_OWNED_BY_CSTACK = 3

DEBUG_COOKIE = b"xdebugpy"


@dataclass(frozen=True, slots=True)
class PyOffsets:
    """Byte offsets into CPython structures; -1 means "absent in this version"."""

    version: tuple[int, int]
    runtime_interpreters_head: int
    runtime_gil: int  # 3.11: the GIL lives in _PyRuntime.ceval.gil
    interp_next: int
    interp_threads_head: int
    interp_modules: int
    interp_ceval_gil: int  # 3.12+: pointer to the interpreter's GIL
    tstate_next: int
    tstate_interp: int
    tstate_thread_id: int
    tstate_native_thread_id: int
    tstate_cframe: int  # 3.11/3.12: tstate->cframe->current_frame
    tstate_current_frame: int  # 3.13: tstate->current_frame
    cframe_current_frame: int
    frame_code: int  # f_code (3.11/3.12) / f_executable (3.13)
    frame_previous: int
    frame_instr: int  # prev_instr (3.11/3.12) / instr_ptr (3.13)
    frame_owner: int
    frame_is_entry: int  # 3.11 only
    code_filename: int
    code_name: int
    code_qualname: int
    code_linetable: int
    code_firstlineno: int
    code_adaptive: int
    unicode_state: int
    unicode_length: int
    unicode_ascii_size: int
    unicode_compact_size: int
    bytes_size: int
    bytes_sval: int
    type_basicsize: int
    type_flags: int
    heaptype_cached_keys: int
    module_dict: int
    dict_keys: int
    dict_values: int
    dictvalues_values: int
    long_tag: int
    long_digits: int
    gil_locked: int
    gil_last_holder: int
    gil_size: int

    @property
    def frame_header_size(self) -> int:
        """Bytes to read per frame to get every field we use in one pread."""
        last = max(self.frame_code, self.frame_previous, self.frame_instr, self.frame_owner,
                   self.frame_is_entry)
        return last + 8

    @property
    def code_header_size(self) -> int:
        return max(self.code_filename, self.code_qualname, self.code_linetable,
                   self.code_firstlineno, self.code_name) + 8


_COMMON = dict(
    unicode_state=32, unicode_length=16, bytes_size=16, bytes_sval=32, type_basicsize=32,
    type_flags=168, module_dict=16, dict_keys=32, dict_values=40, long_tag=16, long_digits=24,
    gil_locked=16, gil_last_holder=8, gil_size=208, tstate_next=8, tstate_interp=16,
    code_filename=112, code_name=120, code_qualname=128, code_linetable=136,
)

TABLES: dict[tuple[int, int], PyOffsets] = {
    (3, 11): PyOffsets(
        version=(3, 11), runtime_interpreters_head=40, runtime_gil=360, interp_next=0,
        interp_threads_head=16, interp_modules=888, interp_ceval_gil=-1,
        tstate_thread_id=152, tstate_native_thread_id=160, tstate_cframe=56,
        tstate_current_frame=-1, cframe_current_frame=8, frame_code=32, frame_previous=48,
        frame_instr=56, frame_owner=69, frame_is_entry=68, code_firstlineno=72,
        code_adaptive=184, unicode_ascii_size=48, unicode_compact_size=72,
        heaptype_cached_keys=872, dictvalues_values=0, **_COMMON),
    (3, 12): PyOffsets(
        version=(3, 12), runtime_interpreters_head=40, runtime_gil=-1, interp_next=0,
        interp_threads_head=72, interp_modules=944, interp_ceval_gil=384,
        tstate_thread_id=136, tstate_native_thread_id=144, tstate_cframe=56,
        tstate_current_frame=-1, cframe_current_frame=0, frame_code=0, frame_previous=8,
        frame_instr=56, frame_owner=70, frame_is_entry=-1, code_firstlineno=68,
        code_adaptive=192, unicode_ascii_size=40, unicode_compact_size=56,
        heaptype_cached_keys=880, dictvalues_values=0, **_COMMON),
    (3, 13): PyOffsets(
        version=(3, 13), runtime_interpreters_head=632, runtime_gil=-1, interp_next=7264,
        interp_threads_head=7344, interp_modules=7656, interp_ceval_gil=16,
        tstate_thread_id=152, tstate_native_thread_id=160, tstate_cframe=-1,
        tstate_current_frame=72, cframe_current_frame=-1, frame_code=0, frame_previous=8,
        frame_instr=56, frame_owner=70, frame_is_entry=-1, code_firstlineno=68,
        code_adaptive=200, unicode_ascii_size=40, unicode_compact_size=56,
        heaptype_cached_keys=880, dictvalues_values=8, **_COMMON),
}

# Field order of 3.13's _Py_DebugOffsets after `cookie[8]` (all uint64).
_DEBUG_FIELDS_313 = (
    "version", "free_threaded",
    "rt.size", "rt.finalizing", "rt.interpreters_head",
    "is.size", "is.id", "is.next", "is.threads_head", "is.gc", "is.imports_modules",
    "is.sysdict", "is.builtins", "is.ceval_gil", "is.gil_runtime_state",
    "is.gil_enabled", "is.gil_locked", "is.gil_holder",
    "ts.size", "ts.prev", "ts.next", "ts.interp", "ts.current_frame", "ts.thread_id",
    "ts.native_thread_id", "ts.datastack_chunk", "ts.status",
    "fr.size", "fr.previous", "fr.executable", "fr.instr_ptr", "fr.localsplus", "fr.owner",
    "co.size", "co.filename", "co.name", "co.qualname", "co.linetable", "co.firstlineno",
    "co.argcount", "co.localsplusnames", "co.localspluskinds", "co.co_code_adaptive",
    "ob.size", "ob.ob_type",
    "ty.size", "ty.tp_name", "ty.tp_repr", "ty.tp_flags",
)
DEBUG_OFFSETS_313_SIZE = 8 + 8 * len(_DEBUG_FIELDS_313)


def parse_debug_offsets(raw: bytes) -> dict[str, int] | None:
    """Decode the leading part of 3.13's `_PyRuntime.debug_offsets`, or None."""
    if len(raw) < DEBUG_OFFSETS_313_SIZE or raw[:8] != DEBUG_COOKIE:
        return None
    vals = struct.unpack_from(f"<{len(_DEBUG_FIELDS_313)}Q", raw, 8)
    return dict(zip(_DEBUG_FIELDS_313, vals, strict=True))


def offsets_for(version: tuple[int, int], debug: dict[str, int] | None = None) -> PyOffsets | None:
    """The table for `version`, corrected by 3.13's debug offsets when given."""
    base = TABLES.get(version)
    if base is None:
        return None
    if debug is None or version != (3, 13):
        return base
    if debug.get("free_threaded"):
        return None  # free-threaded builds lay objects out differently
    return replace(
        base,
        runtime_interpreters_head=debug["rt.interpreters_head"],
        interp_next=debug["is.next"],
        interp_threads_head=debug["is.threads_head"],
        interp_modules=debug["is.imports_modules"],
        interp_ceval_gil=debug["is.ceval_gil"],
        tstate_next=debug["ts.next"],
        tstate_interp=debug["ts.interp"],
        tstate_current_frame=debug["ts.current_frame"],
        tstate_thread_id=debug["ts.thread_id"],
        tstate_native_thread_id=debug["ts.native_thread_id"],
        frame_previous=debug["fr.previous"],
        frame_code=debug["fr.executable"],
        frame_instr=debug["fr.instr_ptr"],
        frame_owner=debug["fr.owner"],
        code_filename=debug["co.filename"],
        code_name=debug["co.name"],
        code_qualname=debug["co.qualname"],
        code_linetable=debug["co.linetable"],
        code_firstlineno=debug["co.firstlineno"],
        code_adaptive=debug["co.co_code_adaptive"],
        type_flags=debug["ty.tp_flags"],
    )
