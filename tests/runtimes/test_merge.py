"""Splicing Python frames into native stacks, and the GIL reason."""

from __future__ import annotations

from profiler.model import Frame
from runtimes.python import merge_python_frames, python_offcpu_reason, stack_waits_for_gil

LIBPY = "/root/.pyenv/versions/3.12.1/lib/libpython3.12.so.1.0"


def n(name: str, module: str = LIBPY) -> Frame:
    return Frame(name=name, kind="native", module=module)


def py(name: str) -> Frame:
    return Frame(name=name, kind="python", module="app.py", file="app.py", line=1)


def names(frames):
    return [f.name for f in frames]


def test_runs_replace_eval_frames_in_order():
    native = [n("write", "/lib/libc.so.6"), n("builtin_print"), n("_PyEval_EvalFrameDefault"),
              n("_PyFunction_Vectorcall"), n("cext_callback", "/app/_ext.so"),
              n("_PyEval_EvalFrameDefault"), n("PyEval_EvalCode"), n("Py_RunMain"),
              n("main", "/usr/bin/python3.12")]
    pyf = [py("app.inner"), py("app.callback"), py("app.outer"), py("app.<module>")]
    entries = [False, True, False, True]
    out = merge_python_frames(native, pyf, entries)
    assert names(out) == ["write", "builtin_print", "app.inner", "app.callback",
                          "cext_callback", "app.outer", "app.<module>", "main"]


def test_python_native_keeps_interpreter_frames():
    native = [n("_PyEval_EvalFrameDefault"), n("_PyFunction_Vectorcall"), n("Py_RunMain")]
    out = merge_python_frames(native, [py("a.f")], [True], python_native=True)
    assert names(out) == ["a.f", "_PyEval_EvalFrameDefault", "_PyFunction_Vectorcall",
                          "Py_RunMain"]


def test_truncated_native_stack_gets_python_at_root():
    native = [n("__futex_abstimed_wait_common", "/lib/libc.so.6")]
    out = merge_python_frames(native, [py("t.nap"), py("t.<module>")], [False, True])
    assert names(out) == ["__futex_abstimed_wait_common", "t.nap", "t.<module>"]


def test_perf_trampoline_frames_are_replaced():
    native = [n("PyFloat_FromDouble"), Frame("py::alpha:/app/t.py", "jit", "[jit]"),
              Frame("py::work:/app/t.py", "jit", "[jit]")]
    out = merge_python_frames(native, [py("t.alpha"), py("t.work")], [True, True])
    assert names(out) == ["PyFloat_FromDouble", "t.alpha", "t.work"]


def test_same_named_function_in_another_library_is_kept():
    assert names(merge_python_frames([n("run_mod", "/opt/lib/libother.so")], [])) == ["run_mod"]


def test_gil_reason():
    gil = (0x1000, 0x1000 + 208)
    assert python_offcpu_reason("lock", futex_uaddr=0x1010, gil_range=gil) == "gil"
    assert python_offcpu_reason("lock", futex_uaddr=0x9000, gil_range=gil) == "lock"
    assert python_offcpu_reason("runqueue", futex_uaddr=0x1010, gil_range=gil) == "runqueue"
    stack = [n("__futex_abstimed_wait_common", "/lib/libc.so.6"), n("take_gil"),
             n("PyEval_RestoreThread"), n("time_sleep")]
    assert stack_waits_for_gil(stack)
    assert python_offcpu_reason("lock", stack) == "gil"
    assert not stack_waits_for_gil([n("sem_clock_wait", "/lib/libc.so.6"),
                                    n("lock_PyThread_acquire_lock"),
                                    n("_PyEval_EvalFrameDefault"), n("take_gil")])


def test_kernel_stack_decoding_marks_entries_shims_and_truncation():
    import struct

    from runtimes.python.bpf_maps import decode_py_stack

    # leaf A, B (entry via 3.11 flag), shim, C; truncated
    words = [0x1000, 0x1010, 0x2000 | 1, 0x2010, 0x3000 | 2, 0, 0x4000, 0x4010]
    raw = struct.pack("<II", 4, 1) + struct.pack("<8Q", *words)
    frames = decode_py_stack(raw)
    assert [(f.code, f.is_entry) for f in frames] == [
        (0x1000, False), (0x2000, True), (0x4000, True), (0, True)]
    # 3.12+: the frame before a shim is an entry
    words = [0x1000, 0x1010, 0x3000 | 2, 0, 0x4000, 0x4010]
    frames = decode_py_stack(struct.pack("<II", 3, 0) + struct.pack("<6Q", *words))
    assert [(f.code, f.is_entry) for f in frames] == [(0x1000, True), (0x4000, True)]
