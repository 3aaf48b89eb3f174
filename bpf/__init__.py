"""eBPF programs, as C sources compiled by bcc at load time.

The programs live here, apart from their Python drivers: `profiler/sampler/`
loads, attaches and decodes them (`program.py` splices the sources together,
`oncpu.py`/`offcpu.py` read their events). They read only tracepoint
arguments and BPF helpers, never kernel structs, so one source works on every
kernel whatever headers bcc compiles against. A language runtime's BPF side
lives with the rest of that runtime (`runtimes/python/python.h`): the
recorder passes its text to `program.load`, and it defines the runtime hooks
that `common.h` otherwise stubs out.
"""

from pathlib import Path

SOURCE_DIR = Path(__file__).resolve().parent


def source(name: str) -> str:
    """The text of one program, e.g. ``source("oncpu.c")``."""
    return (SOURCE_DIR / name).read_text()
