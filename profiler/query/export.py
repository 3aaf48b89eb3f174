"""Exports of a selection: pprof, folded and speedscope bytes, shaped as the
graph the web UI shows (focus and hidden functions applied)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from profiler.formats import pprof, speedscope
from profiler.model import Profile, Sample

MAX_SHAPE_NAMES = 100  # focus and hide values an export takes
MAX_NAME_CHARS = 4096


@dataclass(frozen=True)
class StackShape:
    """What a flame graph's frame menu did to its stacks, as pprof's -focus and
    -hide do: keep only the stacks through every `focus` frame, and drop the
    `hide` frames from every stack (their time goes to their callers). Names
    are the flame graph's (folded: kernel frames with `_[k]`), so a file holds
    what the view shows, with the same total."""

    focus: tuple[str, ...] = ()
    hide: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.focus or self.hide)

    def names(self, names: list[str]) -> list[str] | None:
        """A stack's folded names reshaped; None when focus leaves it out."""
        if any(f not in names for f in self.focus):
            return None
        return [n for n in names if n not in self.hide] if self.hide else names

    def samples(self, samples: Iterable[Sample]) -> list[Sample]:
        """The samples the shaped graph holds, their stacks without hidden frames."""
        out = []
        for s in samples:
            if self.focus and self.names(s.folded_stack()) is None:
                continue
            if self.hide:
                s = replace(s, stack=tuple(f for f in s.stack
                                           if f.folded_name() not in self.hide))
            out.append(s)
        return out


def _profile(samples: list[Sample], lo: int, hi: int) -> Profile:
    return Profile(samples, lo, hi, hz=19, meta={"exporter": "flamecam"})


def to_pprof(samples: list[Sample], lo: int, hi: int) -> bytes:
    return pprof.encode(_profile(samples, lo, hi))


def to_speedscope(samples: list[Sample], lo: int, hi: int) -> bytes:
    doc = speedscope.to_dict(_profile(samples, lo, hi))
    return json.dumps(doc, separators=(",", ":")).encode()


def to_folded(samples: Iterable[Sample],
              names: Callable[[Sample], list[str]] = Sample.folded_stack) -> str:
    """FlameGraph folded text of samples (`a;b;c value_ns`, one line per
    stack, in stack order), as `QueryEngine.folded` writes a selection's."""
    totals: Counter[str] = Counter()
    for s in samples:
        totals[";".join(names(s))] += s.value_ns
    return "".join(f"{stack} {v}\n" for stack, v in sorted(totals.items()))
