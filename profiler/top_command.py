"""`flamecam top`: the hottest functions on and off the CPU, redrawn every second.

Like `py-spy top` and `perf top`: a terminal table of functions by self time
over the last interval and since the start, with the off-CPU split by reason
on top. `q` (or Ctrl-C) quits. Without a terminal (a pipe, a log), each
refresh is printed as a block of plain lines.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import sys
import termios
import time
import tty
from typing import TextIO

from .recorder import Recorder
from .report import Summary, format_header, seconds, sorted_functions, summarize
from .sampler.options import SamplerOptions

_CLEAR = "\x1b[H\x1b[2J"


def render(now: Summary, total: Summary, interval_s: float, elapsed_s: float,
           rows: int, width: int) -> str:
    """One screen: the last interval's rates beside totals since the start."""
    head = [f"flamecam top: {elapsed_s:.0f} s, refreshed every {interval_s:g} s; "
            "q quits", *format_header(now), ""]
    cols = f"{'%Own':>7} {'%Total':>7} {'OwnTime':>10} {'TotalTime':>10}  Function"
    lines = head + [cols]
    whole = now.total_ns or 1
    keep = max(1, rows - len(lines) - 1)
    for f in sorted_functions(now, "self")[:keep]:
        if not f.self:
            break
        t = total.functions.get(f.name)
        lines.append(f"{100 * f.self / whole:6.1f}% {100 * f.total / whole:6.1f}% "
                     f"{seconds(t.self if t else 0):>10} {seconds(t.total if t else 0):>10}  "
                     f"{f.name}"[:width])
    if len(lines) == len(head) + 1:
        lines.append("(no samples yet: is the process busy, or waiting on nothing?)")
    return "\n".join(line[:width] for line in lines)


class _Keys:
    """Single key presses from a terminal (cbreak mode while open)."""

    def __init__(self, stream: TextIO) -> None:
        self.fd = stream.fileno() if stream.isatty() else -1
        self.saved = None
        if self.fd >= 0:
            self.saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd)

    def pressed(self, timeout_s: float) -> str:
        if self.fd < 0:
            time.sleep(timeout_s)
            return ""
        ready, _, _ = select.select([self.fd], [], [], timeout_s)
        return os.read(self.fd, 1).decode(errors="replace") if ready else ""

    def close(self) -> None:
        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


def top(opts: SamplerOptions, interval_s: float = 1.0, duration_s: float | None = None,
        out: TextIO = sys.stdout, keys_from: TextIO = sys.stdin) -> int:
    """Runs until `q`, Ctrl-C or `duration_s`; returns the exit status."""
    stop = False

    def on_signal(_signum, _frame):
        nonlocal stop
        stop = True

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    keys = _Keys(keys_from)
    tty_out = out.isatty()
    total = Summary()
    try:
        with Recorder(opts) as rec:
            t0 = next_draw = time.monotonic()
            window = []
            while not stop:
                rec.poll(50)
                if keys.pressed(0.05).lower() == "q":
                    break
                now = time.monotonic()
                if duration_s is not None and now - t0 >= duration_s:
                    break
                if now < next_draw:
                    continue
                next_draw = now + interval_s
                window = rec.take()
                total = summarize(window, into=total)
                size = shutil.get_terminal_size((100, 30))
                screen = render(summarize(window), total, interval_s, now - t0,
                                size.lines if tty_out else 40, size.columns if tty_out else 200)
                out.write((_CLEAR if tty_out else "\n") + screen + "\n")
                out.flush()
    finally:
        keys.close()
        for s, h in old.items():
            signal.signal(s, h)
    return 0
