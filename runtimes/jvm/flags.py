"""Is a JVM walkable? `-XX:+PreserveFramePointer` decides.

Without it the JIT uses rbp as a general register, so a frame-pointer walk
(all eBPF can do) stops at the first compiled Java frame: samples show only
the leaf method, callers are lost. The flag can only be set at start, so the
user must be told once, with the way to set it. The command line and the
launcher's environment variables answer without attaching; `VM.flags` over
the attach socket is the authority when they do not mention it (argfiles,
JDK_JAVA_OPTIONS in a wrapper).
"""

from __future__ import annotations

from .attach import AttachError, jcmd

FLAG = "PreserveFramePointer"
ENV_VARS = ("JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS")

ADVICE = (
    "JVM pid {pid} runs without -XX:+PreserveFramePointer: its Java stacks will stop at "
    "the first JIT-compiled frame (callers missing). Restart it with "
    "JAVA_TOOL_OPTIONS=-XX:+PreserveFramePointer (about 1-3% CPU) for full Java stacks."
)


def _from_args(args: list[str]) -> bool | None:
    value: bool | None = None
    for a in args:
        if a == f"-XX:+{FLAG}":
            value = True
        elif a == f"-XX:-{FLAG}":
            value = False
    return value


def flag_from_launch(pid: int) -> bool | None:
    """The flag as the command line and environment set it (None: not set there)."""
    args: list[str] = []
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = dict(
                kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv
            )
        for var in ENV_VARS:  # env options come before the command line
            if var.encode() in env:
                args += env[var.encode()].decode(errors="replace").split()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            args += [a.decode(errors="replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return None
    return _from_args(args)


def preserves_frame_pointer(pid: int, use_attach: bool = True) -> bool | None:
    """True/False when known; None when it cannot be told."""
    v = flag_from_launch(pid)
    if v is not None or not use_attach:
        return v
    try:
        out = jcmd(pid, "VM.flags")
    except AttachError:
        return None
    return _from_args(out.split()) is True
