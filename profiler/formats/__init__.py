"""Profile file formats: folded, pprof, speedscope.

`write_profile` picks the writer by name or by the file name's ending, so the
CLI and exports share one switch.
"""

from __future__ import annotations

from ..model import Profile

FORMATS = ("folded", "pprof", "speedscope")
# Pages a person opens (profiler/flame_file.py writes them; nothing reads them back).
PAGE_FORMATS = ("html", "svg")
_SUFFIXES = ((".html", "html"), (".htm", "html"), (".svg", "svg"),
             (".folded", "folded"), (".collapsed", "folded"), (".txt", "folded"),
             (".pb.gz", "pprof"), (".pprof", "pprof"), (".pb", "pprof"),
             (".speedscope.json", "speedscope"), (".json", "speedscope"))


def infer_format(path: str) -> str | None:
    """The format a file name implies, or None."""
    lower = path.lower()
    for suffix, fmt in _SUFFIXES:
        if lower.endswith(suffix):
            return fmt
    return None


def write_profile(profile: Profile, path: str, fmt: str) -> None:
    """Writes `profile` to `path` in `fmt` (one of FORMATS)."""
    if fmt == "folded":
        from . import folded

        with open(path, "w") as f:
            folded.write(profile.samples, f)
    elif fmt == "speedscope":
        from . import speedscope

        with open(path, "w") as f:
            speedscope.write(profile, f)
    elif fmt == "pprof":
        from . import pprof

        with open(path, "wb") as f:
            f.write(pprof.encode(profile))
    else:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
