"""FlameGraph's folded ("collapsed") stacks: `comm;root;...;leaf VALUE`.

Values are integer nanoseconds, so on-CPU and off-CPU time add up in one
file. Kernel frames carry `_[k]`; an off-CPU stack ends with
`[off-cpu:REASON]`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TextIO

from ..model import Frame, Sample


def fold(samples: Iterable[Sample]) -> Counter[str]:
    """Sums sample values by folded stack line (without the value)."""
    totals: Counter[str] = Counter()
    for s in samples:
        totals[";".join([s.comm, *s.folded_stack()])] += s.value_ns
    return totals


def write(samples: Iterable[Sample], out: TextIO) -> int:
    """Writes one line per distinct stack, heaviest first; returns the line count."""
    totals = fold(samples)
    for stack, value in totals.most_common():
        out.write(f"{stack} {value}\n")
    return len(totals)


def to_frame(name: str) -> Frame:
    """A folded frame name back as a Frame: `_[k]` is kernel, `[off-cpu:…]` the reason."""
    if name.endswith("_[k]"):
        return Frame(name[:-4], "kernel")
    if name.startswith("[off-cpu:"):
        return Frame(name, "offcpu")
    return Frame(name, "native")


def parse(lines: Iterable[str]) -> Iterator[tuple[list[str], int]]:
    """Yields (frames root first, value) per line; the last space splits.

    Blank lines are skipped and spaces around a line ignored, and so is a
    VALUE without a stack (py-spy's raw output counts its samples without a
    frame so: nothing to attribute them to). Raises ValueError naming the line
    for anything else that is not `stack VALUE` with a whole, non-negative
    VALUE (ingest answers it with 422).
    """
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.isdigit():
            continue
        stack, sep, value = line.rpartition(" ")
        if not sep or not stack:
            raise ValueError(f"line {n}: expected 'frame;frame;... VALUE'")
        try:
            v = int(value)
        except ValueError:
            raise ValueError(f"line {n}: value {value[:40]!r} is not an integer") from None
        if v < 0:
            raise ValueError(f"line {n}: negative value")
        yield stack.split(";"), v
