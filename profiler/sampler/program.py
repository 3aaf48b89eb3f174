"""Compiles and loads Flamecam's BPF programs in one bcc module.

One module, not one per sampler: bcc spends about 3.5 s and 170 MB of LLVM
per compile, so the on-CPU and off-CPU programs are compiled together.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Sequence

import bpf

from ..cmdline import EXIT_PREREQ, CommandError
from ..procfs import read_maps
from .options import SamplerOptions


class SamplerError(CommandError):
    """A sampler could not start; the message says what to do (a missing prerequisite)."""

    status = EXIT_PREREQ


def build_source(opts: SamplerOptions, runtime_sources: Sequence[str] = ()) -> str:
    """The programs as one text, with `common.h` spliced in once.

    bcc rewrites map calls (`table.lookup(...)`) only in the text it is
    given, not in included files, so the shared header is inlined here.
    `runtime_sources` are the runtimes' BPF sides (runtimes/<name>/): they go
    before `common.h`, whose runtime hooks they define; none, no runtime stacks.
    """
    names = ["oncpu.c"] + (["offcpu.c"] if opts.off_cpu else []) + ["procs.c"]
    header = bpf.source("common.h")
    parts = []
    for name in names:
        text = bpf.source(name)
        if header and '#include "common.h"' in text:
            text = text.replace('#include "common.h"', header, 1)
            header = ""
        else:
            text = text.replace('#include "common.h"', "")
        parts.append(text)
    py = bpf.source("pidns.h") + "".join(runtime_sources) + bpf.source("tracectx.h")
    text = "\n".join(parts)
    marker = "#include <uapi/linux/bpf_perf_event.h>\n"
    return text.replace(marker, marker + py, 1) if marker in text else py + text


def cflags(opts: SamplerOptions) -> list[str]:
    return [
        f"-I{bpf.SOURCE_DIR}",
        f"-DSELF_TGID={os.getpid()}",
        f"-DFILTER_PIDS={1 if opts.pids else 0}",
        f"-DFOLLOW_CHILDREN={1 if opts.follow_children else 0}",
        f"-DRINGBUF_PAGES={opts.ringbuf_pages}",
        f"-DCPU_RINGBUF_PAGES={cpu_ringbuf_pages(opts)}",
        f"-DOFF_RINGBUF_PAGES={off_ringbuf_pages(opts)}",
        f"-DTHRESHOLD_NS={opts.off_cpu_threshold_us * 1000}ULL",
        f"-DSTART_ENTRIES={opts.start_entries}",
        f"-DAGG_ENTRIES={opts.agg_entries}",
        f"-DSTACK_ENTRIES={opts.stack_entries}",
        f"-DSPILL_ENTRIES={opts.spill_entries}",
        f"-DSTACK_COPY_MAX={_power_of_two_at_most(opts.stack_copy_bytes)}",
        f"-DCOPY_ALL_BYTES={opts.stack_copy_bytes if opts.unwind == 'dwarf' else 0}",
        f"-DLEAF_COPY_BYTES={opts.leaf_copy_bytes if opts.unwind == 'auto' else 0}",
        f"-DKEEP_EVERY={opts.keep_every if opts.trace_links else 1}",
        f"-DFLAMECAM_TRACE_LINKS={1 if opts.trace_links else 0}",
        f"-DFLAMECAM_WAITS={1 if opts.wait_info else 0}",
        f"-DFLAMECAM_LOSS_DEBUG={1 if os.environ.get('FLAMECAM_LOSS_DEBUG') else 0}",
        "-Wno-macro-redefined",
    ]


# How long the reader may not read (symbolizing a new binary, descheduled on a
# busy host) before the on-CPU ring overflows, at the full sampling rate.
CPU_RING_STALL_S = 2.0
CPU_RING_MAX_PAGES = 16384  # 64 MiB: the bound on a many-CPU host
_CPU_EVENT_HEADER = 128     # struct cpu_event before its stacks (bpf/oncpu.c), rounded up


def cpu_ringbuf_pages(opts: SamplerOptions, cpus: int | None = None) -> int:
    """Pages of the on-CPU ring: `CPU_RING_STALL_S` of samples on every CPU at their
    largest (both stacks and a stack copy), a power of two, at least `ringbuf_pages`.

    One ring size for everything lost on-CPU samples whenever the reader paused
    for a third of a second: a sample with a 16 KiB stack copy fills 1 MiB 55
    times, two CPUs at 99 Hz send 198 a second (issue 14 item 9).
    """
    copy = opts.stack_copy_bytes if opts.unwind in ("auto", "dwarf") else 0
    event = _CPU_EVENT_HEADER + 8 * (64 + 127) + _power_of_two_at_most(copy) * (copy > 0)
    need = opts.sample_hz * (cpus or os.cpu_count() or 1) * event * CPU_RING_STALL_S / 4096
    pages = 1
    while pages < min(need, CPU_RING_MAX_PAGES):
        pages *= 2
    return max(pages, opts.ringbuf_pages)


# Kept off-CPU intervals a second the off-CPU ring holds through a reader stall
# of CPU_RING_STALL_S (issue 13: none lost at 20,000 a second).
OFF_RING_RATE = 20000
OFF_EVENT_BYTES = 192  # struct off_event (bpf/offcpu.c) and the ring's 8-byte header


def off_ringbuf_pages(opts: SamplerOptions) -> int:
    """Pages of the ring of kept off-CPU intervals: `CPU_RING_STALL_S` at `OFF_RING_RATE`,
    a power of two, at least `ringbuf_pages`.

    The reader stops reading while it symbolizes the last second (about 0.3 to
    1 s for 20,000 intervals on a busy host); the old 1 MiB ring held 0.27 s of
    them, so the 1.2 ms sleepers bench lost thousands with wait info off.
    """
    need = OFF_RING_RATE * OFF_EVENT_BYTES * CPU_RING_STALL_S / 4096
    pages = 1
    while pages < need:
        pages *= 2
    return max(pages, opts.ringbuf_pages)


def _power_of_two_at_most(n: int) -> int:
    p = 512
    while p * 2 <= min(n, 16384):
        p *= 2
    return p


_MADV_PAGEOUT = 21  # Linux 5.4+
_COMPILER_LIBS = ("libLLVM", "libclang")


def _release_compiler_memory() -> None:
    """Gives back what compiling cost, once the programs are loaded.

    An always-on agent should not carry its compiler for its lifetime: LLVM
    leaves about 55 MB of freed heap (returned by malloc_trim) and about
    80 MB of libLLVM and libclang pages resident (reclaimed by
    MADV_PAGEOUT, which only drops clean file pages, so it is always safe;
    they would fault back in from the page cache if bcc compiled again).
    """
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.malloc_trim(0)
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    except (OSError, AttributeError):
        return
    for m in read_maps("self") or []:
        if any(lib in m.path for lib in _COMPILER_LIBS):
            # Advice only: errors are harmless.
            libc.madvise(m.start, m.end - m.start, _MADV_PAGEOUT)


def load(opts: SamplerOptions, runtime_sources: Sequence[str] = ()):
    """Compiles the programs (with the runtimes' BPF sides); the `bcc.BPF` is not yet attached."""
    try:
        from bcc import BPF
    except ImportError as e:  # pragma: no cover - depends on the host
        raise SamplerError(
            "bcc is not importable: install python3-bpfcc (run `make setup` as root)"
        ) from e
    try:
        b = BPF(text=build_source(opts, runtime_sources).encode(), cflags=cflags(opts))
    except Exception as e:
        raise SamplerError(
            f"could not compile or load the BPF programs ({e}); "
            "run `flamecam doctor` to check kernel headers, BPF and tracefs"
        ) from e
    _release_compiler_memory()
    if opts.pids:
        table = b[b"pid_filter"]
        for pid in opts.pids:
            table[ctypes.c_uint32(pid)] = ctypes.c_uint8(1)
    return b


COUNTERS = 10  # COUNT_MAX


def read_counters(b) -> list[int]:
    """Sums the per-CPU counters (see COUNT_* in bpf/common.h)."""
    table = b[b"counters"]
    return [sum(table[ctypes.c_int(i)]) for i in range(COUNTERS)]
