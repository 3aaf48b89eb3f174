"""runtimes/python/locks.py: a futex wait's Python lock, named from the blocked stack."""

from __future__ import annotations

from profiler.model import Frame
from runtimes.python.locks import lock_target

LIB = "/usr/lib/python3.12"


def py(name: str, file: str, line: int) -> Frame:
    return Frame(name=name, kind="python", module=file, file=file, line=line)


def native(name: str) -> Frame:
    return Frame(name=name, kind="native", module="libpython3.12.so")


APP = py("app.Worker.run", "/srv/app.py", 12)
ROOT = (native("clone3"), py("threading.Thread._bootstrap", f"{LIB}/threading.py", 1030), APP)


def test_the_outermost_library_call_and_its_caller():
    stack = (*ROOT, py("queue.Queue.get", f"{LIB}/queue.py", 171),
             py("threading.Condition.wait", f"{LIB}/threading.py", 355),
             native("lock_PyThread_acquire_lock"), native("__new_sem_wait_slow64"))
    assert lock_target(stack) == "queue.Queue.get at app.py:12 (in Worker.run)"


def test_a_bare_lock_is_told_by_libpythons_function_else_by_its_primitive():
    assert lock_target((*ROOT, native("rlock_acquire"), native("PyThread_acquire_lock_timed"))) \
        == "threading.RLock at app.py:12 (in Worker.run)"
    assert lock_target((*ROOT, native("python3.11+0x1899ae"),
                        native("PyThread_acquire_lock_timed"))) \
        == "Python lock at app.py:12 (in Worker.run)"
    # No sign of the interpreter's locks (a C extension's mutex): the kernel's word.
    assert lock_target((*ROOT, native("pthread_mutex_lock"))) \
        == "futex at app.py:12 (in Worker.run)"


def test_nothing_to_name_it_by():
    assert lock_target((native("clone3"), native("pthread_mutex_lock"))) == ""
    assert lock_target((Frame("[truncated]", "python"), native("lock_PyThread_acquire_lock"))) == ""
    # The blocking call is the thread's outermost Python frame: no caller to name.
    assert lock_target((py("threading.Thread.join", f"{LIB}/threading.py", 1112),
                        native("lock_PyThread_acquire_lock"))) == "threading.Thread.join"
