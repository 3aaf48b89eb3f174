"""Readable function names from ELF symbol names.

Two jobs: fold compiler-made pieces of a function back onto it (GCC splits
`work` into `work.cold`, `work.part.0`, `work.isra.0`, `work.constprop.0`; a
flame graph should show one `work`), then demangle C++/Rust with pydemumble.
Names from perf maps (`py::…`, Java signatures) must never come through here:
they are already readable and would be mangled by "demangling".
"""

from __future__ import annotations

import re
from functools import lru_cache

try:
    import pydemumble
except ImportError:  # pragma: no cover - pydemumble is a dependency
    pydemumble = None

# GCC/Clang clone and split suffixes, possibly chained: `f.isra.0.cold`, `f.part.1`.
_CLONE_SUFFIX = re.compile(
    r"(?:\.(?:cold|hot|part|isra|constprop|lto_priv|llvm|localalias|clone|unlikely)"
    r"(?:\.\d+)?)+$"
)


def strip_clone_suffix(name: str) -> str:
    """`burn_a.constprop.0.cold` -> `burn_a`; other names unchanged."""
    if "." not in name:
        return name
    base = _CLONE_SUFFIX.sub("", name)
    return base or name


@lru_cache(maxsize=65536)
def function_name(raw: str) -> str:
    """The name a user reads for an ELF symbol: clone suffix folded, demangled."""
    if raw.endswith("@plt"):
        return function_name(raw[:-4]) + "@plt"
    base = strip_clone_suffix(raw)
    if pydemumble is None or not base.startswith(("_Z", "_R", "__Z")):
        return base
    try:
        out = pydemumble.demangle(base)
    except Exception:  # noqa: BLE001 - a bad name must never break a profile
        return base
    return out or base
