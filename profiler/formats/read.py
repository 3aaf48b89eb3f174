"""Reads any profile file Flamecam writes back into Samples (for `flamecam report`).

Folded and speedscope files carry the process name as their first frame and
the off-CPU reason as their last (`[off-cpu:REASON]`); pprof carries both as
labels, with pid, tid and thread name, so only pprof can be split by thread.
"""

from __future__ import annotations

from ..model import CPU, OFFCPU, Sample
from . import PAGE_FORMATS, infer_format

MAX_FILE_BYTES = 2 << 30
_OFF = "[off-cpu:"


def _sniff(data: bytes) -> str:
    """The format of a file whose name says nothing, from its first bytes."""
    head = data[:64].lstrip()
    if data[:2] == b"\x1f\x8b":
        return "pprof"
    if head.startswith(b"{"):
        return "speedscope"
    return "folded"


def _from_names(names: list[str], value: int) -> Sample:
    """One folded-style stack (comm first, optional reason last) as a Sample."""
    from .folded import to_frame

    comm, frames = (names[0], names[1:]) if names else ("", [])
    kind, reason = CPU, ""
    if frames and frames[-1].startswith(_OFF) and frames[-1].endswith("]"):
        kind, reason = OFFCPU, frames[-1][len(_OFF):-1]
        frames = frames[:-1]
    stack = tuple(to_frame(n) for n in frames)
    return Sample(kind=kind, ts_ns=0, pid=0, tid=0, cpu=0, comm=comm, thread_name="",
                  stack=stack, value_ns=value, reason=reason)


def read_samples(path: str) -> tuple[str, list[Sample]]:
    """(format, samples) of the profile file at `path`.

    Raises OSError when it cannot be read and ValueError, with a one-line
    reason, when it is not a profile Flamecam can read.
    """
    with open(path, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES >> 30} GiB")
    fmt = infer_format(path) or _sniff(data)
    if fmt in PAGE_FORMATS:
        raise ValueError(f"a flame graph page ({fmt}) cannot be read back: "
                         "record to .pb.gz, .folded or .speedscope.json for reports")
    if fmt == "pprof":
        from . import pprof

        try:
            return fmt, pprof.decode(data)
        except Exception as e:  # protobuf and gzip errors have no common base
            raise ValueError(f"not a pprof profile: {e}") from None
    try:
        text = data.decode()
    except UnicodeDecodeError:
        raise ValueError(f"not a {fmt} file: not UTF-8 text") from None
    if fmt == "speedscope":
        from . import speedscope

        pairs = speedscope.parse(text, unitless_ns=1)
    else:
        from . import folded

        pairs = list(folded.parse(text.splitlines()))
    return fmt, [_from_names(names, v) for names, v in pairs]

