"""The import-layer check: data flows one way, so imports point one way.

Every module of the product (profiler/, symbolizer/, runtimes/, bpf/, webui/) is parsed
with `ast` (no import runs) and each import it makes, at the top or inside a
function, is checked against `LAYERS`: a module may import its own group and
any group of a lower rank, never one of the same rank or above. Groups of one
rank (ingest and query) are siblings that must not lean on each other; what
both need goes one rank down (profiler/web).

Why this order (docs/ARCHITECTURE.md says the same, per folder):
  0 the vocabulary and leaf helpers everyone may use: the model (Frame,
    Sample), the BPF C sources, progress lines, command-line types, /proc
    readers (procfs), the gated command launcher (launch).
  1 sampler: loads the BPF programs, decodes raw events.
  2 symbolizer: unwinds stack copies (symbolizer/unwind/) and names addresses.
    runtimes, its sibling: one package per language runtime (Python, JVM),
    each with its BPF side (C text the sampler splices in) and its user side
    (detection, kernel-map registration, reading, naming its frames).
  3 recorder: sampler + symbolizer -> Samples; the end of the host side.
  4 formats: files and wire messages made of Samples (folded, pprof, ...);
    report: the same Samples summed into text.
  5 store: series and blocks in SQL; SQLAlchemy lives here only.
  6 web: HTTP plumbing shared by the endpoints (errors, params, context).
  7 ingest, query, webui: the endpoints, siblings.
  8 server: assembles the endpoints into the app and serves it.
  9 agent, record_command, doctor: programs built from the layers below.
  10 run_command: server + agent on one host.
  11 cli: the `flamecam` command, on top of everything.

A new package needs a line here: an unplaced module fails the test, so the
order is decided when the package is made, not discovered later.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("profiler", "symbolizer", "runtimes", "bpf", "webui")

# (module prefix, rank); the longest matching prefix places a module.
LAYERS: dict[str, int] = {
    "profiler": 0,  # the package itself (__version__) only: see PACKAGE_ONLY
    "profiler.model": 0,
    "profiler.progress": 0,
    "profiler.cmdline": 0,
    "profiler.procfs": 0,
    "profiler.tracectx": 0,  # the thread-context table layout (docs/TRACE_CONTEXT.md)
    "profiler.launch": 1,  # a command held at its gate for `record -- COMMAND` (a CommandError)
    "profiler.ptrace": 0,  # one thread stopped for a moment, its registers read (`dump`)
    "bpf": 0,
    "profiler.sampler": 1,
    "symbolizer": 2,
    "runtimes": 2,  # one package per language runtime: its BPF side and its user side
    "profiler.recorder": 3,
    "profiler.formats": 4,
    "profiler.report": 4,  # where the time went, as text (`flamecam report`)
    "profiler.store": 5,
    "profiler.web": 6,
    "profiler.ingest": 7,
    "profiler.query": 7,
    "webui": 7,
    "profiler.server": 8,
    "profiler.agent": 9,
    "profiler.record_command": 9,
    "profiler.top_command": 9,
    "profiler.dump_command": 9,  # every thread's stack and wait now (`flamecam dump`)
    "profiler.flame_file": 8,  # a flame graph page (HTML/SVG) of a recording, the UI's JS inside
    "profiler.doctor": 9,
    "profiler.run_command": 10,
    "profiler.cli": 11,
}

# Prefixes that place the package module alone, not what lies under it, so a
# new profiler/foo.py is unplaced until it gets its own line.
PACKAGE_ONLY = {"profiler"}

# Only the store speaks SQL (its errors reach the app as StoreUnavailable).
SQL_PACKAGES = ("sqlalchemy", "alembic")
SQL_HOME = "profiler.store"


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module `name` imports, resolved (relative imports, `from pkg import submodule`)."""
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            for a in node.names:  # `from profiler.query import routes` imports a module
                if f"{target}.{a.name}" in MODULES:
                    found.add(f"{target}.{a.name}")
    return found


def _group(module: str) -> str | None:
    best = None
    for prefix in LAYERS:
        inside = prefix not in PACKAGE_ONLY and module.startswith(prefix + ".")
        if (module == prefix or inside) and (best is None or len(prefix) > len(best)):
            best = prefix
    return best


def _ours(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in MODULES if _group(m) is None)
    assert not unplaced, f"add these to LAYERS in {__file__}: {unplaced}"


def test_no_module_imports_a_layer_above_it():
    upward = []
    for name, path in MODULES.items():
        group = _group(name)
        if group is None:
            continue
        for target in _imports(name, path):
            if not _ours(target):
                continue
            tgroup = _group(target)
            if tgroup is None or tgroup == group:
                continue
            if LAYERS[tgroup] >= LAYERS[group]:
                upward.append(f"{name} (rank {LAYERS[group]}) imports {target} "
                              f"(rank {LAYERS[tgroup]})")
    assert not upward, "imports that point up or sideways:\n" + "\n".join(sorted(upward))


def _sql_outside_store() -> set[str]:
    out = set()
    for name, path in MODULES.items():
        if name == SQL_HOME or name.startswith(SQL_HOME + "."):
            continue
        if any(t.split(".")[0] in SQL_PACKAGES for t in _imports(name, path)):
            out.add(name)
    return out


def test_sqlalchemy_only_in_the_store():
    outside = _sql_outside_store()
    assert not outside, f"SQLAlchemy imported outside {SQL_HOME}: {sorted(outside)}"


def test_the_check_sees_an_upward_import(tmp_path):
    """The checker itself: a query module importing the server is caught."""
    fake = tmp_path / "routes.py"
    fake.write_text("from profiler.server import app\nfrom ..web import errors\n")
    found = _imports("profiler.query.routes", fake)
    assert {"profiler.server", "profiler.server.app", "profiler.web.errors"} <= found
    assert LAYERS[_group("profiler.server.app")] > LAYERS[_group("profiler.query.routes")]
    assert _group("profiler.something_new") is None
