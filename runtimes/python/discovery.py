"""Finding the CPython runtime inside a process, from the outside.

A process is Python when it maps an executable or shared library named like
`python3.X` / `libpython3.X.so` that *defines* `_PyRuntime` in `.dynsym`
(C extensions import the symbol too, so undefined entries are skipped). The
symbol's file address is mapped to a run-time address through the process's
own mappings (`file_off - pgoff + start`), which works for PIE executables
and shared libraries alike and needs no knowledge of the load bias.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from elftools.elf.elffile import ELFFile

from profiler.procfs import Mapping, parse_maps, read_maps_text

_PY_NAME = re.compile(r"(?:^|/)(?:lib)?python(\d)\.(\d+)[^/]*$")


@dataclass(frozen=True, slots=True)
class PythonRuntime:
    """Where one process's interpreter lives: enough to read all its state."""

    pid: int
    path: str  # the ELF file defining _PyRuntime (as the process sees it)
    version: tuple[int, int]  # (3, 12); refined from Py_Version when readable
    runtime_addr: int  # run-time address of _PyRuntime
    code_type_addr: int  # run-time address of PyCode_Type (validates code objects)
    py_version_addr: int  # run-time address of Py_Version (0 if absent)


_SYMBOLS: dict[tuple[int, int, int, int], dict[str, tuple[int, int]]] = {}


def _elf_symbols_cached(host_path: str) -> dict[str, tuple[int, int]]:
    """`_elf_symbols` once per file, whatever the process or path it is seen through.

    The path is /proc/PID/root/..., different for every process, so it cannot
    be the key: every new Python process would parse its interpreter's
    symbols again (tens of ms with pyelftools).
    """
    st = os.stat(host_path)
    key = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size)
    syms = _SYMBOLS.get(key)
    if syms is None:
        syms = _elf_symbols(host_path)
        if len(_SYMBOLS) >= 64:
            _SYMBOLS.clear()
        _SYMBOLS[key] = syms
    return syms


def _elf_symbols(host_path: str) -> dict[str, tuple[int, int]]:
    """name -> (file offset, size) for the few symbols we need; {} if not CPython."""
    wanted = ("_PyRuntime", "PyCode_Type", "Py_Version")
    out: dict[str, tuple[int, int]] = {}
    with open(host_path, "rb") as f:
        elf = ELFFile(f)
        dynsym = elf.get_section_by_name(".dynsym")
        if dynsym is None:
            return out
        loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
        for name in wanted:
            for sym in dynsym.get_symbol_by_name(name) or []:
                if sym["st_shndx"] == "SHN_UNDEF" or sym["st_value"] == 0:
                    continue
                va = sym["st_value"]
                for seg in loads:
                    if seg["p_vaddr"] <= va < seg["p_vaddr"] + seg["p_memsz"]:
                        out[name] = (va - seg["p_vaddr"] + seg["p_offset"], sym["st_size"])
                        break
    return out


def _host_path(pid: int, path: str) -> str:
    """Open files through the target's root so containers resolve correctly."""
    rooted = f"/proc/{pid}/root{path}"
    return rooted if os.path.exists(rooted) else path


def _runtime_address(maps: list[Mapping], path: str, file_off: int) -> int:
    for m in maps:
        if m.path == path and m.pgoff <= file_off < m.pgoff + (m.end - m.start):
            return m.start + file_off - m.pgoff
    # .bss lies beyond the file's bytes: use the mapping that follows the
    # highest file-backed one (anonymous), computed from the first mapping.
    first = min((m for m in maps if m.path == path), key=lambda m: m.start, default=None)
    if first is None:
        return 0
    return first.start - first.pgoff + file_off


def find_python(pid: int) -> PythonRuntime | None:
    """The CPython runtime of `pid`, or None when it is not a CPython 3 process."""
    text = read_maps_text(pid)
    if text is None or "python" not in text:  # most processes: no need to parse their maps
        return None
    maps = parse_maps(text)
    seen: set[str] = set()
    # Prefer libpython (the binary only imports _PyRuntime then), else the binary.
    candidates = sorted(
        {m.path for m in maps if m.path.startswith("/") and _PY_NAME.search(m.path)},
        key=lambda p: 0 if "libpython" in p else 1,
    )
    for path in candidates:
        if path in seen:
            continue
        seen.add(path)
        host = _host_path(pid, path)
        try:
            syms = _elf_symbols_cached(host)
        except (OSError, Exception):  # noqa: BLE001 - a broken ELF is "not Python"
            continue
        if "_PyRuntime" not in syms:
            continue
        m = _PY_NAME.search(path)
        version = (int(m.group(1)), int(m.group(2))) if m else (0, 0)

        def addr(name: str, _path: str = path, _syms: dict = syms) -> int:
            return _runtime_address(maps, _path, _syms[name][0]) if name in _syms else 0

        return PythonRuntime(
            pid=pid,
            path=path,
            version=version,
            runtime_addr=addr("_PyRuntime"),
            code_type_addr=addr("PyCode_Type"),
            py_version_addr=addr("Py_Version"),
        )
    return None
