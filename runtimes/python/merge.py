"""Splicing Python frames into a native stack.

Each call of `_PyEval_EvalFrameDefault` evaluates a run of Python frames that
ends (root-ward) at an *entry* frame; the reader marks those. Walking the
native stack leaf to root, the k-th evaluator frame is replaced by the k-th
run, so C extensions that call back into Python keep their place between the
runs. Native frames that only mean "the interpreter is calling something"
are folded away unless `python_native=True`. When the native stack is
truncated (no frame pointers: the pyenv and distro builds) and shows fewer
evaluator frames than runs, the remaining runs go at the root end: the
Python stack is still complete, only its position among unseen native
frames is unknown, which is the honest result.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from profiler.model import Frame

_EVAL = re.compile(r"^(_PyEval_EvalFrameDefault|_PyEval_EvalFrame|py::)")
_INTERPRETER_ONLY = re.compile(
    r"^(_PyEval_|PyEval_EvalCode|_PyFunction_Vectorcall|_?PyObject_(Vectorcall|Call|FastCall|"
    r"MakeTpCall)|_?PyVectorcall|method_vectorcall|cfunction_(call|vectorcall)|vectorcall_|"
    r"slot_tp_|partial_vectorcall|_Py_HandlePending|pymain_|Py_RunMain|Py_BytesMain|Py_Main|"
    r"_?PyRun_|run_mod|run_eval_code_obj|thread_run|pythread_wrapper|builtin_exec|exec_code|"
    r"_PyObject_Call_Prepend|object_vacall|call_function|py::)"
)
# Meaningful even though they live in the interpreter: they explain a wait.
_KEEP = frozenset({"take_gil", "drop_gil", "PyEval_RestoreThread", "PyEval_SaveThread",
                   "PyEval_AcquireThread", "_PyEval_SignalReceived"})
_PY_MODULE = re.compile(r"(?:^|/)(?:lib)?python\d(\.\d+)?")


def is_eval_frame(f: Frame) -> bool:
    """True for the evaluator loop frame that Python frames replace."""
    return f.kind != "python" and bool(_EVAL.match(f.name))


def is_interpreter_only(f: Frame) -> bool:
    """True for native frames that only mean "the interpreter is calling"."""
    if f.kind not in ("native", "jit") or f.name in _KEEP:
        return False
    if f.module and not _PY_MODULE.search(f.module) and not f.name.startswith("py::"):
        return False
    return bool(_INTERPRETER_ONLY.match(f.name))


def _runs(py: Sequence[Frame], entries: Sequence[bool] | None) -> list[list[Frame]]:
    if entries is None:
        return [list(py)] if py else []
    runs: list[list[Frame]] = []
    cur: list[Frame] = []
    for f, entry in zip(py, entries, strict=False):
        cur.append(f)
        if entry:
            runs.append(cur)
            cur = []
    if cur:
        runs.append(cur)
    return runs


def merge_python_frames(
    native_leaf_first: list[Frame],
    py_frames_leaf_first: list[Frame],
    entries: Sequence[bool] | None = None,
    python_native: bool = False,
) -> list[Frame]:
    """One leaf-first stack with Python frames in place of evaluator frames.

    `entries[i]` marks `py_frames_leaf_first[i]` as the root-most frame of one
    evaluator call (as `PythonProcess.stack()` returns them); without it all
    Python frames replace the leaf-most evaluator frame.
    """
    runs = _runs(py_frames_leaf_first, entries)
    out: list[Frame] = []
    for f in native_leaf_first:
        if is_eval_frame(f):
            if runs:
                out.extend(runs.pop(0))
            if python_native:
                out.append(f)
            continue
        if not python_native and is_interpreter_only(f):
            continue
        out.append(f)
    for run in runs:
        out.extend(run)
    return out
