"""Python frames for Flamecam: reading unmodified CPython 3.11-3.13 processes.

See README.md in this directory for the design (where the walk happens and
why) and the interfaces the recorder uses.
"""

from .gil import futex_in_gil, python_offcpu_reason, stack_waits_for_gil
from .merge import is_eval_frame, is_interpreter_only, merge_python_frames
from .processes import PythonProcesses
from .reader import PyStack, PythonProcess, PyThread, RawFrame, UnsupportedPython
from .stacks import PythonStacks, find_python_pids

__all__ = [
    "PyStack",
    "PyThread",
    "PythonProcess",
    "PythonProcesses",
    "PythonStacks",
    "RawFrame",
    "UnsupportedPython",
    "find_python_pids",
    "futex_in_gil",
    "is_eval_frame",
    "is_interpreter_only",
    "merge_python_frames",
    "python_offcpu_reason",
    "stack_waits_for_gil",
]
