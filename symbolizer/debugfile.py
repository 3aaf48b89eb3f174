"""Finding separate debug files, as GDB does.

Distributions strip binaries and ship `.symtab` and DWARF in separate files
found either by build-id (`/usr/lib/debug/.build-id/ab/cdef….debug`) or by
the name in `.gnu_debuglink` (next to the binary, in its `.debug/`, or under
`/usr/lib/debug/<dir>/`). Their addresses are the binary's link-time ones.
"""

from __future__ import annotations

import os

DEBUG_ROOTS = ("/usr/lib/debug",)


def debug_file_candidates(build_id: str, path: str, debuglink: str,
                          roots: tuple[str, ...] = DEBUG_ROOTS) -> list[str]:
    out = []
    if len(build_id) > 2:
        for root in roots:
            out.append(f"{root}/.build-id/{build_id[:2]}/{build_id[2:]}.debug")
    if debuglink and path:
        d = os.path.dirname(path)
        out.append(os.path.join(d, debuglink))
        out.append(os.path.join(d, ".debug", debuglink))
        for root in roots:
            out.append(root + os.path.join(d, debuglink))
    return out


def find_debug_file(build_id: str, path: str, debuglink: str,
                    roots: tuple[str, ...] = DEBUG_ROOTS) -> str:
    """The first existing candidate that is not the binary itself, or ''."""
    for cand in debug_file_candidates(build_id, path, debuglink, roots):
        if cand != path and os.path.isfile(cand):
            return cand
    return ""
