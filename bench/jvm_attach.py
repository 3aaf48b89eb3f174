"""Time from attaching to a running JVM to its first named Java frame.

Starts a HotSpot JVM (-XX:+PreserveFramePointer) running Burner, lets it
warm up, starts a frame-pointer stack sampler (eBPF, 99 Hz; its compile time
is the sampler's start-up, not attach, so it is loaded first), then times:
attach (first attach-protocol command, with the SIGQUIT handshake), the
Compiler.perfmap dump, and the first sample whose frames name a Java method.
Also times a second command on the open listener and a thread-name lookup.

    .venv/bin/python bench/jvm_attach.py [--runs 3]
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from runtimes.jvm import JvmProcesses, java_method_name, jcmd  # noqa: E402
from tests.runtimes.jvm_support import PerfMapIndex, compile_burner, java_cmd  # noqa: E402

USTACK_PROG = (ROOT / "tests" / "runtimes" / "bpf_ustack_test.c").read_text()


class UstackEvent(ctypes.Structure):
    _fields_ = [("tid", ctypes.c_uint32), ("bytes", ctypes.c_uint32),
                ("ips", ctypes.c_uint64 * 64)]


def one_run(classes: Path) -> dict[str, float]:
    from bcc import BPF, PerfSWConfig, PerfType

    p = subprocess.Popen(java_cmd(classes, "-XX:+PreserveFramePointer"), cwd=classes,
                         stdout=subprocess.PIPE, text=True)
    try:
        p.stdout.readline()
        time.sleep(1.5)  # warm: the JIT has compiled the hot method
        b = BPF(text=USTACK_PROG.encode(), cflags=[f"-DTARGET_PID={p.pid}"])
        samples: list[list[int]] = []

        def on_event(ctx, data, size):
            e = ctypes.cast(data, ctypes.POINTER(UstackEvent)).contents
            samples.append(list(e.ips[: e.bytes // 8]))

        b[b"ustack_events"].open_ring_buffer(on_event)
        b.attach_perf_event(ev_type=PerfType.SOFTWARE, ev_config=PerfSWConfig.CPU_CLOCK,
                            fn_name=b"ustack_sample", sample_freq=99, cpu=-1)
        jvms = JvmProcesses(warn=lambda m: None)
        t0 = time.perf_counter()
        ok = jvms.attach(p.pid)
        t_attach = time.perf_counter() - t0
        index = PerfMapIndex(jvms.perf_map_path(p.pid)) if ok else None
        t_named = float("nan")
        first = ""
        deadline = time.monotonic() + 10
        while index is not None and time.monotonic() < deadline and not first:
            b.ring_buffer_poll(20)
            for ips in samples:
                for ip in ips:
                    raw = index.lookup(ip)
                    name = java_method_name(raw) if raw else None
                    if name:
                        first = name
                        break
                if first:
                    t_named = time.perf_counter() - t0
                    break
            samples.clear()
        b.cleanup()
        t1 = time.perf_counter()
        jcmd(p.pid, "VM.version")
        t_second = time.perf_counter() - t1
        main_tid = next(int(t) for t in os.listdir(f"/proc/{p.pid}/task")
                        if open(f"/proc/{p.pid}/task/{t}/comm").read().strip() == "worker-1")
        t2 = time.perf_counter()
        name = jvms.thread_name(p.pid, main_tid)
        t_names = time.perf_counter() - t2
        return {"attach+perfmap": t_attach, "first named frame": t_named,
                "second command": t_second, "thread names": t_names,
                "ok": float(first.startswith("Burner.") and name == "worker-1")}
    finally:
        p.kill()
        p.wait()
        for f in (f"/tmp/perf-{p.pid}.map",):
            try:
                os.unlink(f)
            except OSError:
                pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("needs root (eBPF sampler and attach to any JVM)")
        return
    with tempfile.TemporaryDirectory() as d:
        classes = compile_burner(Path(d))
        runs = [one_run(classes) for _ in range(args.runs)]
    for key in ("attach+perfmap", "first named frame", "second command", "thread names"):
        vals = [r[key] for r in runs]
        print(f"{key:20} median {1000 * statistics.median(vals):8.1f} ms   "
              f"max {1000 * max(vals):8.1f} ms")
    print(f"runs naming Burner.* and worker-1: {int(sum(r['ok'] for r in runs))}/{len(runs)}"
          "   (goal: first named Java frame <= 2000 ms after attach)")


if __name__ == "__main__":
    main()
