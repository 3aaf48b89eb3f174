"""Unwinding has one home, below naming: checked on the import statements.

`symbolizer/unwind/` turns captured stacks into addresses and may read
binaries (`symbolizer.binaries`, ELF, CFI, symbol tables) but not name frames;
the naming side (`symbolizer.symbolizer`) must not unwind; the samplers below
both import neither.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMING = ("symbolizer.symbolizer", "symbolizer.demangle", "symbolizer.lines",
          "symbolizer.kallsyms", "runtimes.python", "runtimes.jvm", "profiler.model")


def imports(path: Path) -> set[str]:
    """Absolute names of the modules a file imports (relative ones resolved)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)
    return out


def offending(files, banned: tuple[str, ...]) -> dict[str, list[str]]:
    bad = {}
    for f in files:
        hits = sorted(m for m in imports(f) if m.startswith(banned))
        if hits:
            bad[str(f.relative_to(ROOT))] = hits
    return bad


def test_unwinding_does_not_import_naming():
    files = sorted((ROOT / "symbolizer" / "unwind").glob("*.py"))
    assert len(files) >= 6
    assert offending(files, NAMING) == {}


def test_naming_does_not_unwind():
    assert offending([ROOT / "symbolizer" / "symbolizer.py"], ("symbolizer.unwind",)) == {}


def test_samplers_import_no_layer_above():
    files = sorted((ROOT / "profiler" / "sampler").glob("*.py"))
    assert offending(files, ("symbolizer", "profiler.recorder")) == {}
