"""Which binaries leave frames unnamed (`python3.11+0x…`) in a whole-host
recording, and why (issue 14 item 8); prints numbers, asserts nothing.

Records the whole host for a few seconds with the real samplers (unwinding
as `flamecam record` does), then, per binary with unnamed frames: the share
of its frames left unnamed, which symbol sources it has (`.symtab`, `.dynsym`,
`.gnu_debugdata`, a `.gnu_debuglink` and whether that debug file is
installed), and where its unnamed addresses fall: inside a function that
`.eh_frame` knows (real code, no symbol for it anywhere on this host) or
outside any (not a real return address: a broken walk).

    .venv/bin/python bench/unnamed_frames.py [--seconds 5] [--unwind auto]
"""

from __future__ import annotations

import argparse
import bisect
import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from profiler.model import CPU  # noqa: E402
from profiler.recorder import Recorder  # noqa: E402
from profiler.sampler.options import SamplerOptions  # noqa: E402
from symbolizer.unwind.ehframe_index import LazyEhFrame  # noqa: E402


def sources(obj) -> str:
    """What the binary offers for naming."""
    secs = obj.elf.sections
    have = [s for s in (".symtab", ".dynsym", ".gnu_debugdata") if s in secs]
    link = obj.elf.debuglink()
    if link:
        have.append(f"debuglink {link} ({'installed' if obj.debug_elf() else 'not installed'})")
    return ", ".join(have) or "no symbols"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--unwind", default="auto", choices=("auto", "fp", "dwarf"))
    ap.add_argument("--top", type=int, default=8, help="unnamed functions listed per binary")
    args = ap.parse_args()
    frames: collections.Counter = collections.Counter()  # (module, build_id, named) -> weight
    unnamed: dict[tuple[str, str], collections.Counter] = collections.defaultdict(
        collections.Counter)
    with Recorder(SamplerOptions(unwind=args.unwind, trace_links=False)) as rec:
        end = time.monotonic() + args.seconds
        samples = []
        while time.monotonic() < end:
            rec.poll(100)
            samples.extend(rec.take())
        samples.extend(rec.take(final=True))
        objs = {o.build_id or o.key: o for o in rec.sym.binaries.objects()}
    for s in samples:
        w = s.value_ns // 1_000_000 if s.kind == CPU else s.count
        for f in s.stack:
            if f.kind != "native" or f.module.startswith("[kernel") or f.name.endswith("_[k]"):
                continue
            is_unnamed = f.name == f"{f.module}+0x{f.offset:x}"
            frames[(f.module, f.build_id, not is_unnamed)] += w
            if is_unnamed:
                unnamed[(f.module, f.build_id)][f.offset] += w
    total_unnamed = sum(sum(c.values()) for c in unnamed.values())
    total = sum(frames.values())
    print(f"{len(samples)} samples over {args.seconds:.0f} s (--unwind {args.unwind}): "
          f"{total_unnamed} of {total} native user frames unnamed "
          f"({100 * total_unnamed / max(total, 1):.2f}%)")
    for (module, bid), offs in sorted(unnamed.items(), key=lambda kv: -sum(kv[1].values())):
        n = sum(offs.values())
        named = frames[(module, bid, True)]
        obj = objs.get(bid)
        if obj is None:
            print(f"  {module}: {n} unnamed, {named} named; binary not opened")
            continue
        try:
            eh = LazyEhFrame(obj.elf)
        except (KeyError, ValueError):
            eh = None
        inside = 0
        functions: collections.Counter = collections.Counter()  # FDE start -> weight
        if eh is not None:
            for off, w in offs.items():
                vaddr = obj.vaddr(off)
                rule = eh.lookup(vaddr) if vaddr is not None else None
                if rule is not None:
                    inside += w
                    functions[eh.locs[bisect.bisect_right(eh.locs, vaddr) - 1]] += w
        print(f"  {module} ({bid[:12]}): {n} unnamed frames at {len(offs)} addresses in "
              f"{len(functions)} functions, {named} named; {sources(obj)}; "
              f"{100 * inside / n:.0f}% inside functions .eh_frame knows")
        top = ", ".join(f"0x{fn:x} ({w})" for fn, w in functions.most_common(args.top))
        if top:
            print(f"    heaviest unnamed functions (start vaddr, frames): {top}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
