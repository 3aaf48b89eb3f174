"""A one-line progress report on stderr, redrawn in place on a terminal.

On a terminal the line is redrawn every update; in logs (CI, systemd) a line
is printed at most every `log_every` seconds so long runs stay readable.
"""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, stream=None, log_every: float = 5.0):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.log_every = log_every
        self._last = 0.0
        self._width = 0

    def update(self, text: str) -> None:
        now = time.monotonic()
        if self.tty:
            pad = max(0, self._width - len(text))
            self.stream.write("\r" + text + " " * pad)
            self._width = len(text)
            self.stream.flush()
        elif now - self._last >= self.log_every:
            self.stream.write(text + "\n")
            self.stream.flush()
            self._last = now

    def done(self, text: str = "") -> None:
        if self.tty and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
        if text:
            self.stream.write(text + "\n")
        self.stream.flush()
