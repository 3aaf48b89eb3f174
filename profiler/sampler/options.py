"""What a recording samples, shared by `flamecam record` and the agent."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SamplerOptions:
    """Knobs of the samplers. Defaults match `flamecam record`."""

    pids: list[int] = field(default_factory=list)
    comm: str | None = None
    hz: int = 99
    off_cpu: bool = True
    off_cpu_threshold_us: int = 1000
    python_native: bool = False  # keep interpreter-internal native frames
    unwind: str = "auto"  # auto | fp | dwarf (see symbolizer/unwind/policy.py)
    stack_copy_bytes: int = 16384
    ringbuf_pages: int = 256
    start_entries: int = 16384
    agg_entries: int = 16384
    stack_entries: int = 32768
