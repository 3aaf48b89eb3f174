"""Runtimes plug into the recorder through `runtimes.interface.Runtime` alone."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from profiler.sampler.options import SamplerOptions
from runtimes import RUNTIMES, Runtime, start_runtimes

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = {name: inspect.signature(fn) for name, fn in vars(Runtime).items()
            if callable(fn) and not name.startswith("_")}


def test_every_registered_runtime_has_the_protocol_methods():
    made = start_runtimes(SamplerOptions(python_native=True))
    assert [rt.name for rt in made] == ["python", "jvm"] and len(made) == len(RUNTIMES)
    for rt in made:
        for name, sig in PROTOCOL.items():
            got = inspect.signature(getattr(rt, name))  # the recorder passes arguments by position
            want = len([p for p in sig.parameters if p != "self"])
            required = [p for p in got.parameters.values() if p.default is p.empty]
            assert len(required) <= want <= len(got.parameters), f"{rt.name}.{name}{got}"
    assert made[0].python_native  # options reach the runtime that reads them


def test_the_recorder_names_no_runtime():
    path = ROOT / "profiler" / "recorder.py"
    tree = ast.parse(path.read_text())
    mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert "runtimes" in mods
    assert not [m for m in mods if m.startswith("runtimes.")]
    words = {n.id.lower() for n in ast.walk(tree) if isinstance(n, ast.Name)}
    words |= {n.attr.lower() for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    named = {"py", "python", "jvm", "java", "javaize", "gil"}
    assert not [w for w in words if named & set(w.split("_"))]


def test_a_runtime_without_a_process_is_cheap_and_silent():
    """Calls for a pid no runtime holds answer 'nothing here' without reading it."""
    for rt in start_runtimes(SamplerOptions()):
        assert rt.thread_name(1 << 30, 1) is None
        assert rt.merge(1 << 30, [], 0) == []
        assert rt.reason(1 << 30, "lock", False) == "lock"
        rt.process_exited(1 << 30)


def test_rechecks_back_off_then_stop():
    """A pid no runtime took is looked at again soon, then less often, then never."""
    from runtimes.recheck import Rechecks

    r = Rechecks(delays=(0.0, 0.0, 3600.0))
    assert not r.due(7)
    r.schedule(7)
    assert r.due(7)
    assert r.missed(7)
    assert r.due(7)  # second delay: 0 s
    assert r.missed(7)
    assert not r.due(7)  # third: an hour
    assert not r.missed(7)
    assert not r.due(7)  # no more looks
    r.forget(7)
    r.schedule(7)
    assert r.due(7)  # a new life of the pid starts over


def test_no_sigquit_to_a_process_without_its_handler():
    """SIGQUIT, the attach protocol's knock, kills a process without a handler (a
    JVM still starting has none): only a handler in SigCgt makes it attachable."""
    import signal
    import subprocess
    import sys

    from runtimes.jvm.detect import catches_sigquit

    code = ("import signal, sys, time\n"
            "if sys.argv[1] == 'catch': signal.signal(signal.SIGQUIT, lambda *a: None)\n"
            "print('ready', flush=True)\n"
            "time.sleep(30)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, mode], stdout=subprocess.PIPE)
             for mode in ("catch", "plain")]
    try:
        for p in procs:
            assert p.stdout.readline().startswith(b"ready")
        assert catches_sigquit(procs[0].pid)
        assert not catches_sigquit(procs[1].pid)
    finally:
        for p in procs:
            p.send_signal(signal.SIGKILL)
            p.wait()
            p.stdout.close()
