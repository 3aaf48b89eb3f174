"""eBPF programs, as C sources compiled by bcc at load time.

The programs live here, apart from their Python drivers: `profiler/sampler/`
loads, attaches and decodes them (`program.py` splices the sources together,
`oncpu.py`/`offcpu.py` read their events). They read only tracepoint
arguments and BPF helpers, never kernel structs, so one source works on every
kernel whatever headers bcc compiles against.
"""

from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent


def source(name: str) -> str:
    """The text of one program, e.g. ``source("oncpu.c")``."""
    return (SOURCE_DIR / name).read_text()
