"""JVM support against a real HotSpot: attach, perf map, thread names, agent."""

from __future__ import annotations

import ctypes
import os
import subprocess
import time
from pathlib import Path

import pytest

from profiler.model import Frame
from runtimes.jvm import (
    AttachError,
    JvmProcesses,
    find_jvm_pids,
    java_method_name,
    javaize,
    jcmd,
)
from runtimes.jvm.java_names import java_frame
from runtimes.jvm.threads import parse_thread_dump

from .conftest import wait_for_line
from .jvm_support import BUSY_SECONDS, PerfMapIndex, compile_burner, java_cmd

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def classes(tmp_path_factory, have_java):
    return compile_burner(tmp_path_factory.mktemp("burner"))


@pytest.fixture(scope="module")
def agent_jar():
    subprocess.run(["bash", str(ROOT / "runtimes" / "jvm" / "agent" / "build.sh")], check=True,
                   capture_output=True)
    jar = ROOT / "runtimes" / "jvm" / "agent" / "build" / "flamecam-agent.jar"
    assert jar.exists()
    return jar


def _start(spawn, classes, *flags) -> int:
    p = spawn(java_cmd(classes, *flags), cwd=classes)
    wait_for_line(p, "ready", timeout=30)
    return p.pid


def _cleanup(pid: int) -> None:
    for path in (f"/tmp/perf-{pid}.map", f"/tmp/flamecam-threads-{pid}.txt"):
        try:
            os.unlink(path)
        except OSError:
            pass


def test_java_names():
    assert java_method_name("double Burner.burnCpu(double)") == "Burner.burnCpu"
    assert java_method_name("void Burner.main(java.lang.String[])") == "Burner.main"
    assert java_method_name(
        "java.lang.Object java.util.HashMap.get(java.lang.Object)") == "java.util.HashMap.get"
    assert java_method_name("void Burner.lambda$main$0()") == "Burner.lambda$main$0"
    assert java_method_name("Interpreter") is None
    assert java_frame("Interpreter").name == "Interpreter"
    assert java_frame("StubRoutines (1)").kind == "jit"
    assert java_frame("int java.lang.String.hashCode()").kind == "java"
    frames = [Frame("void Burner.main(java.lang.String[])", "jit", "[jit]", "", 16),
              Frame("StubRoutines (1)", "jit", "[jit]"), Frame("JavaMain", "native", "libjli.so")]
    assert [(f.name, f.kind, f.offset) for f in javaize(frames)] == [
        ("Burner.main", "java", 16), ("StubRoutines (1)", "jit", 0), ("JavaMain", "native", 0)]


def test_thread_dump_parsing():
    dump = ('"main" #1 prio=5 os_prio=0 cpu=1.0ms tid=0x00007f nid=0x2da3 runnable  [0x0]\n'
            '"VM Thread" os_prio=0 cpu=0.1ms tid=0x00007f nid=12345 runnable\n')
    assert parse_thread_dump(dump) == {0x2DA3: "main", 12345: "VM Thread"}


def test_attach_names_hot_method_and_threads(spawn, classes):
    pid = _start(spawn, classes, "-XX:+PreserveFramePointer")
    warnings: list[str] = []
    jvms = JvmProcesses(warn=warnings.append)
    t0 = time.perf_counter()
    assert jvms.attach(pid)
    elapsed = time.perf_counter() - t0
    try:
        assert elapsed < 2.0
        # burnCpu may not be compiled yet: refreshes follow the JIT's progress
        deadline = time.monotonic() + 30
        while True:
            names = {java_method_name(line.split(" ", 2)[2].strip())
                     for line in open(jvms.perf_map_path(pid))}
            if "Burner.burnCpu" in names or time.monotonic() > deadline:
                break
            time.sleep(0.2)
            jvms.refresh_perf_map(pid)
        assert "Burner.burnCpu" in names
        assert not warnings  # the flag is on: no advice
        assert find_jvm_pids() and pid in find_jvm_pids([pid, os.getpid()])
        worker = [t for t in os.listdir(f"/proc/{pid}/task")
                  if open(f"/proc/{pid}/task/{t}/comm").read().strip() == "worker-1"]
        assert len(worker) == 1
        assert jvms.thread_name(pid, int(worker[0])) == "worker-1"
        main = [t for t in os.listdir(f"/proc/{pid}/task")
                if jvms.thread_name(pid, int(t)) == "main"]
        assert main and int(main[0]) != pid  # the launcher thread is not "main"
        assert jvms.thread_name(pid, 999_999_999) is None
    finally:
        _cleanup(pid)


def test_missing_frame_pointer_flag_warns_once(spawn, classes):
    pid = _start(spawn, classes)
    warnings: list[str] = []
    jvms = JvmProcesses(warn=warnings.append)
    try:
        assert jvms.attach(pid)
        jvms.attach(pid)
        jvms.refresh_perf_map(pid, force=True)
        assert len(warnings) == 1 and "PreserveFramePointer" in warnings[0]
    finally:
        _cleanup(pid)


def test_flag_via_java_tool_options_is_seen(spawn, classes):
    env = dict(os.environ, JAVA_TOOL_OPTIONS="-XX:+PreserveFramePointer")
    p = spawn(java_cmd(classes), cwd=classes, env=env)
    wait_for_line(p, "ready", timeout=30)
    pid = p.pid
    warnings: list[str] = []
    try:
        assert JvmProcesses(warn=warnings.append).attach(pid)
        assert not warnings
    finally:
        _cleanup(pid)


def test_no_sigquit_to_non_jvm(spawn):
    p = spawn(["sleep", "30"])
    with pytest.raises(AttachError, match="libjvm"):
        jcmd(p.pid, "Thread.print", timeout=1)
    time.sleep(0.2)
    assert p.poll() is None  # still alive: no SIGQUIT was sent
    assert not JvmProcesses().attach(p.pid)


def test_no_sigquit_to_jvm_without_its_handler(spawn, classes):
    """SIGQUIT, the attach protocol's knock, kills a JVM without its handler (one
    still starting, or started with -Xrs). With -Xrs HotSpot opens the attach
    socket at start, so it is attached without a knock; with attach disabled
    too it is never knocked at, stays alive, and is said once when given up on."""
    xrs = _start(spawn, classes, "-Xrs")
    closed = _start(spawn, classes, "-Xrs", "-XX:+DisableAttachMechanism")
    warnings: list[str] = []
    jvms = JvmProcesses(warn=warnings.append)
    try:
        assert jvms.attach(xrs)
        assert jvms.is_jvm(closed) and not jvms.attach(closed)
        with pytest.raises(AttachError, match="SIGQUIT"):
            jcmd(closed, "Thread.print", timeout=1)
        time.sleep(0.3)
        for pid in (xrs, closed):
            assert open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
        jvms.not_attachable(closed)
        jvms.not_attachable(closed)
        assert len(warnings) == 2 and "PreserveFramePointer" in warnings[0], warnings
        assert "DisableAttachMechanism" in warnings[1] and jvms.unreadable_count == 1
    finally:
        _cleanup(xrs)
        _cleanup(closed)


def test_agent_at_start_and_loaded_later(spawn, classes, agent_jar):
    agent = f"-javaagent:{agent_jar}=interval=200"
    pid = _start(spawn, classes, "-XX:+PreserveFramePointer", agent)
    pid2 = _start(spawn, classes, "-XX:+PreserveFramePointer")
    try:
        JvmProcesses().load_agent(pid2, str(agent_jar), "interval=200")
        for p in (pid, pid2):
            deadline = time.monotonic() + 30
            names: dict[int, str] = {}
            while time.monotonic() < deadline:
                try:
                    text = open(f"/tmp/flamecam-threads-{p}.txt").read()
                    names = {int(a): b for a, b in
                             (ln.split("\t", 1) for ln in text.splitlines())}
                    if "worker-1" in names.values() and os.path.exists(f"/tmp/perf-{p}.map") \
                            and "Burner.burnCpu" in open(f"/tmp/perf-{p}.map").read():
                        break
                except OSError:
                    pass
                time.sleep(0.1)
            assert "worker-1" in names.values(), names
            tid = next(t for t, n in names.items() if n == "worker-1")
            assert open(f"/proc/{p}/task/{tid}/comm").read().strip() == "worker-1"
            assert "Burner.burnCpu" in open(f"/tmp/perf-{p}.map").read()
    finally:
        _cleanup(pid)
        _cleanup(pid2)


class UstackEvent(ctypes.Structure):
    _fields_ = [("tid", ctypes.c_uint32), ("bytes", ctypes.c_uint32),
                ("ips", ctypes.c_uint64 * 64)]


def test_burncpu_under_main_in_sampled_stacks(spawn, classes):
    """With -XX:+PreserveFramePointer, an eBPF frame-pointer walk attached to a
    JVM that has run for a few seconds, named through the refreshed perf map,
    shows burnCpu under main."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    try:
        from bcc import BPF, PerfSWConfig, PerfType
    except ImportError:
        pytest.skip("bcc not importable")
    pid = _start(spawn, classes, "-XX:+PreserveFramePointer")
    time.sleep(BUSY_SECONDS)  # busy and compiling before anyone looks, as a user's JVM
    jvms = JvmProcesses()
    assert jvms.attach(pid)
    src = (Path(__file__).with_name("bpf_ustack_test.c")).read_text()
    b = BPF(text=src.encode(), cflags=[f"-DTARGET_PID={pid}"])
    stacks: list[list[int]] = []

    def on_event(ctx, data, size):
        e = ctypes.cast(data, ctypes.POINTER(UstackEvent)).contents
        stacks.append(list(e.ips[: e.bytes // 8]))

    b[b"ustack_events"].open_ring_buffer(on_event)
    b.attach_perf_event(ev_type=PerfType.SOFTWARE, ev_config=PerfSWConfig.CPU_CLOCK,
                        fn_name=b"ustack_sample", sample_freq=199, cpu=-1)
    try:
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            b.ring_buffer_poll(100)
    finally:
        b.cleanup()
    jvms.refresh_perf_map(pid, force=True)
    index = PerfMapIndex(jvms.perf_map_path(pid))
    chains = []
    for ips in stacks:
        names = [java_method_name(n) or n for n in (index.lookup(ip) for ip in ips) if n]
        chains.append(names)
    good = [c for c in chains if c[:1] == ["Burner.burnCpu"] and "Burner.main" in c[1:]]
    try:
        assert len(stacks) >= 50
        assert len(good) / len(stacks) >= 0.5, chains[:10]
    finally:
        _cleanup(pid)


def test_perf_map_stays_append_only_across_dumps(spawn, classes):
    """Each dump appends a snapshot, so incremental readers see new methods."""
    pid = _start(spawn, classes, "-XX:+PreserveFramePointer")
    jvms = JvmProcesses()
    try:
        assert jvms.attach(pid)  # right after start: burnCpu is not compiled yet
        path = jvms.perf_map_path(pid)
        first = open(path, "rb").read()
        try:
            from symbolizer.perfmap import PerfMap
        except ImportError:
            PerfMap = None
        reader = PerfMap(pid) if PerfMap is not None else None
        deadline = time.monotonic() + 30
        while b"Burner.burnCpu" not in open(path, "rb").read() and time.monotonic() < deadline:
            time.sleep(0.2)
            jvms.refresh_perf_map(pid)
        data = open(path, "rb").read()
        assert data.startswith(first) and b"Burner.burnCpu" in data
        st = os.stat(path)
        assert (st.st_mode & 0o777) and st.st_uid == os.geteuid()
        if reader is not None and b"Burner.burnCpu" not in first:
            reader.refresh()
            index = PerfMapIndex(path)
            addr = next(a for a in index.starts if "Burner.burnCpu" in index.entries[a][1])
            hit = reader.lookup(addr)
            assert hit is not None and "Burner.burnCpu" in hit[0]
    finally:
        _cleanup(pid)
