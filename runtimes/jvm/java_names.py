"""Turning HotSpot perf-map names into the names users read.

The JVM writes `double Hot.leaf(double)`, `void Burner.main(java.lang.String[])`,
`java.lang.Object java.util.HashMap.get(java.lang.Object)`: return type,
qualified method, argument list. Flame graphs want `pkg.Class.method`, with
overloads merged. Non-method regions (`Interpreter`, stubs, adapters) keep
their name and are kind "jit".
"""

from __future__ import annotations

import re

from profiler.model import Frame

_METHOD = re.compile(r"^(?:\S+\s+)?([\w$.<>/\[\]-]+?)\((?:[^()]*)\)\s*(?:\[.*\])?$")


def java_method_name(raw: str) -> str | None:
    """`double Hot.leaf(double)` -> `Hot.leaf`; None for non-method regions."""
    m = _METHOD.match(raw.strip())
    if not m or "." not in m.group(1):
        return None
    return m.group(1)


def java_frame(raw: str, module: str = "[jit]", offset: int = 0) -> Frame:
    """A `Frame` for a perf-map name from a JVM's map."""
    name = java_method_name(raw)
    if name is not None:
        return Frame(name=name, kind="java", module=module, offset=offset)
    if raw.strip() == "Interpreter":
        return Frame(name="Interpreter", kind="java", module=module, offset=offset)
    return Frame(name=raw.strip(), kind="jit", module=module, offset=offset)


def javaize(frames: list[Frame]) -> list[Frame]:
    """The symbolizer's frames of a JVM with perf-map names made readable.

    The generic symbolizer names JIT addresses with the raw perf-map text
    (kind "jit"); this turns method entries into `pkg.Class.method` (kind
    "java") and leaves stubs, adapters and native frames alone.
    """
    out: list[Frame] = []
    for f in frames:
        if f.kind == "jit" and not f.name.startswith("py::"):
            j = java_frame(f.name, f.module or "[jit]", f.offset)
            if j.kind == "java":
                f = Frame(j.name, "java", f.module, f.build_id, f.offset, f.file, f.line)
        out.append(f)
    return out
