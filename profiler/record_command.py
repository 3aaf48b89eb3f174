"""`flamecam record`: sample for a while, then write one profile file.

Ctrl-C (SIGINT) or SIGTERM end the recording early; the file is still written.
With a COMMAND (`flamecam record -- COMMAND`), the recording starts before
COMMAND's first instruction and ends when it exits.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time

from .formats import write_profile
from .launch import Command
from .model import Profile, Sample
from .progress import Progress
from .recorder import Recorder
from .report import record_summary, summarize
from .sampler.options import SamplerOptions

log = logging.getLogger("flamecam.record")


def _process_start() -> float:
    """Wall-clock time this process started (for start-up figures in the logs)."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.time()


_PROCESS_START = _process_start()


# After Ctrl-C, how long COMMAND has to end on its own (the terminal sent it
# SIGINT too) before flamecam passes the signal on, then ends it harder.
_COMMAND_GRACE_S = 0.5


def record(opts: SamplerOptions, duration_s: float | None, out_path: str, fmt: str,
           progress: Progress | None = None, command: Command | None = None) -> Profile:
    """Records until `duration_s` passes, COMMAND exits, or a signal; writes the file.

    `command` is a forked child held at its gate; its pid is in `opts.pids`.
    It is let go once the samplers run, and stopped (SIGINT, then harder)
    if the recording ends first.
    """
    progress = progress or Progress()
    stop = False

    def on_signal(signum, _frame):
        nonlocal stop
        stop = True
        if command is not None and signum == signal.SIGTERM:
            command.signal(signum)

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    samples: list[Sample] = []
    first_sample_logged = False
    try:
        with Recorder(opts) as rec:
            t0 = time.monotonic()
            log.info("samplers attached %.2f s after start", time.time() - _PROCESS_START)
            if command is not None:
                command.start()
            next_take = t0 + 1.0
            while not stop:
                elapsed = time.monotonic() - t0
                if duration_s is not None and elapsed >= duration_s:
                    break
                if command is not None and command.poll() is not None:
                    break
                rec.poll(100)
                if not first_sample_logged and rec.has_cpu_samples():
                    first_sample_logged = True
                    log.info("first sample %.2f s after start", time.time() - _PROCESS_START)
                if time.monotonic() < next_take:
                    continue
                # Once a second: symbolize what came in and report progress.
                samples.extend(rec.take())
                next_take += 1.0
                st = rec.stats
                total = f"/{duration_s:.0f} s" if duration_s is not None else " s"
                progress.update(
                    f"flamecam: recording {elapsed:5.1f}{total}, {st['cpu_samples']} samples, "
                    f"{st['offcpu_events']} off-CPU events, {st['lost']} lost"
                )
            if command is not None and command.poll() is None:
                if command.wait(_COMMAND_GRACE_S) is None:
                    command.stop()
            samples.extend(rec.take(final=True))
            end_ns = rec.end_ns  # the window sampled; symbolizing came after
            stats = rec.stats
            start_ns = rec.start_ns
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    lost = {k: v for k, v in stats.items() if k.startswith("lost") and k != "lost"}
    profile = Profile(samples=samples, start_ns=start_ns, end_ns=end_ns, hz=opts.hz, lost=lost,
                      meta={"host": socket.gethostname()})
    if fmt == "html":
        from .flame_file import write_html

        write_html(profile, out_path)
    elif fmt == "svg":
        from .flame_file import write_svg

        write_svg(profile, out_path)
    else:
        write_profile(profile, out_path, fmt)
    n_cpu = sum(1 for s in samples if s.kind == "cpu")
    progress.done(
        f"flamecam: wrote {out_path} ({fmt}): {n_cpu} on-CPU samples, "
        f"{len(samples) - n_cpu} off-CPU samples over {(end_ns - start_ns) / 1e9:.1f} s, "
        f"{stats['offcpu_events']} off-CPU events, {stats['lost']} lost"
    )
    if samples:
        progress.done(record_summary(summarize(samples), out_path, fmt))
    if stats["lost"]:
        log.warning("%d events were lost (%s); raise --ringbuf-pages or lower -F",
                    stats["lost"], ", ".join(f"{k}={v}" for k, v in lost.items() if v))
    return profile
