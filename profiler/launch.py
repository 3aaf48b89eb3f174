"""A command started for `flamecam record -- COMMAND`, held at the gate until the samplers run.

The child is forked at once, so its pid can be handed to the samplers, but
it waits on a pipe before it execs COMMAND: the samplers attach in between,
and COMMAND is profiled from its first instruction (as `perf record -- cmd`).
"""

from __future__ import annotations

import errno
import os
import signal
import time

from .cmdline import CommandError

# Exit status of a command that could not be started, as a shell says it:
# 127 not found, 126 found but not runnable.
EXIT_NOT_FOUND, EXIT_NOT_RUNNABLE = 127, 126


class LaunchError(CommandError):
    """COMMAND could not be executed; `status` is what a shell would return."""


class Command:
    """A forked child that execs `argv` once `start()` opens its gate."""

    def __init__(self, argv: list[str]) -> None:
        if not argv:
            raise ValueError("no command given")
        self.argv = argv
        gate_r, gate_w = os.pipe()
        # exec failures come back on a close-on-exec pipe: EOF means exec worked.
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child: covered by the CLI tests
            self._child(gate_r, gate_w, err_r, err_w)
        os.close(gate_r)
        os.close(err_w)
        self.pid = pid
        self._gate = gate_w
        self._errors = err_r
        self.status: int | None = None

    def _child(self, gate_r: int, gate_w: int, err_r: int, err_w: int) -> None:
        try:
            os.close(gate_w)
            os.close(err_r)
            # Python ignores SIGPIPE and SIGXFSZ; an ignored signal stays
            # ignored across exec, so restore what a shell would give COMMAND.
            for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_DFL)
            if os.read(gate_r, 1) != b"g":  # flamecam went away before the start
                os._exit(EXIT_NOT_FOUND)
            os.close(gate_r)
            os.execvp(self.argv[0], self.argv)
        except OSError as e:
            try:
                os.write(err_w, str(e.errno).encode())
            finally:
                os._exit(EXIT_NOT_FOUND if e.errno == errno.ENOENT else EXIT_NOT_RUNNABLE)
        os._exit(EXIT_NOT_FOUND)

    def start(self) -> None:
        """Opens the gate: the child execs COMMAND. Raises LaunchError if it cannot."""
        os.write(self._gate, b"g")
        os.close(self._gate)
        self._gate = -1
        got = os.read(self._errors, 16)
        os.close(self._errors)
        if got:
            err = int(got)
            self.wait()
            raise LaunchError(f"cannot run {self.argv[0]!r}: {os.strerror(err)}",
                              EXIT_NOT_FOUND if err == errno.ENOENT else EXIT_NOT_RUNNABLE)

    def poll(self) -> int | None:
        """The exit status once COMMAND has ended (None while it runs)."""
        if self.status is None:
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = _exit_status(st)
        return self.status

    def wait(self, timeout_s: float | None = None) -> int | None:
        """Waits up to `timeout_s` (None: for ever) for COMMAND to end."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self.poll() is None:
            if deadline is None:
                self.status = _exit_status(os.waitpid(self.pid, 0)[1])
            elif time.monotonic() >= deadline:
                return None
            else:
                time.sleep(0.02)
        return self.status

    def signal(self, sig: int) -> None:
        """Sends `sig` to COMMAND, unless it has ended."""
        if self.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def stop(self, grace_s: float = 2.0) -> int:
        """Ends COMMAND as Ctrl-C would, then harder: SIGINT, SIGTERM, SIGKILL."""
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            self.signal(sig)
            if self.wait(grace_s) is not None:
                break
        return self.wait()

    def abandon(self) -> None:
        """Never started (the samplers failed): the held child exits without exec."""
        if self._gate >= 0:
            os.close(self._gate)
            self._gate = -1
            os.close(self._errors)
        self.wait()


def _exit_status(wait_status: int) -> int:
    """A shell's `$?`: the exit code, or 128 + N for death by signal N."""
    code = os.waitstatus_to_exitcode(wait_status)
    return code if code >= 0 else 128 - code
