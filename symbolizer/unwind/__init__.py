"""Unwinding: a sample's user stack as addresses, from what the samplers captured.

One home for it, between the samplers and the naming: frame-pointer walks
(done by the kernel), stack copies walked with CFI (`cfi.py`,
`ehframe_index.py`, `tables.py`, `walk.py`), frame-pointer detection, and one
policy (`policy.py`: where a stack starts, and when a process's stacks are
copied). It reads binaries through `symbolizer.binaries` (CFI; symbols only to
see where a stack starts) and never names a frame: nothing here imports the
symbolizer's naming (`symbolizer.py`, `demangle`, `lines`, `kallsyms`, the
runtimes) nor `profiler.model`; tests/symbolizer/test_layers.py checks it.
"""

from .policy import FP_WALK_FLOOR, MODES, ROOT_FUNCTIONS, UnwindChooser, starts_stack
from .unwinder import Unwinder
from .walk import UnwindResult, join_fp_walk, walk

__all__ = ["FP_WALK_FLOOR", "MODES", "ROOT_FUNCTIONS", "UnwindChooser", "UnwindResult",
           "Unwinder", "join_fp_walk", "starts_stack", "walk"]
