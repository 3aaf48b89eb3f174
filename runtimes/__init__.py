"""Language runtimes: one package each, with its BPF side and its user side.

`python/` walks CPython frames in the kernel (python.h) and names them from
/proc/PID/mem; `jvm/` keeps HotSpot's perf maps current over the attach
protocol and names Java frames and threads (its Java agent in `jvm/agent/`).
The recorder drives them only through `interface.Runtime`, in the order of
`RUNTIMES`: adding a runtime is a new package here and one line below.
"""

from __future__ import annotations

from collections.abc import Callable

from profiler.sampler.options import SamplerOptions

from .interface import Runtime
from .jvm.runtime import JvmRuntime
from .python.stacks import PythonStacks

# Asked in this order about each new process; the first that takes it holds it.
RUNTIMES: tuple[Callable[[SamplerOptions], Runtime], ...] = (
    lambda opts: PythonStacks(python_native=opts.python_native),
    lambda opts: JvmRuntime(),
)


def start_runtimes(opts: SamplerOptions) -> list[Runtime]:
    """One instance of every registered runtime for a recording with `opts`."""
    return [make(opts) for make in RUNTIMES]


__all__ = ["RUNTIMES", "JvmRuntime", "PythonStacks", "Runtime", "start_runtimes"]
