"""eBPF programs, as C sources compiled by bcc at load time.

Each program sits beside the thin Python driver that loads it
(`profiler/sampler/`), as in bcc's own tools. They read only tracepoint
arguments and BPF helpers, never kernel structs, so one source works on every
kernel whatever headers bcc compiles against.
"""

from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent


def source(name: str) -> str:
    """The text of one program, e.g. ``source("oncpu.c")``."""
    return (SOURCE_DIR / name).read_text()
