"""profiler/procfs.py, the one reader of /proc maps, namespace pids and tids."""

from __future__ import annotations

import os
import sys
import threading

from profiler.procfs import (
    MapIndex,
    namespace_pid,
    namespace_tids,
    parse_maps,
    pid_namespace,
    read_maps,
    thread_ids,
)

MAPS = """\
7f0000001000-7f0000003000 r-xp 00001000 08:01 1234  /usr/lib/libfoo.so
55d000000000-55d000001000 rw-p 00000000 00:00 0 [heap]
7f0000000000-7f0000001000 r--p 00000000 08:01 1234  /usr/lib/libfoo.so
7f0000010000-7f0000011000 r-xp 00002000 08:01 99 /tmp/gone (deleted)
7f0000020000-7f0000021000 rw-p 00000000 00:00 0
not a mapping line
"""


def test_parse_maps_sorts_and_keeps_what_offsets_need():
    maps = parse_maps(MAPS)
    assert [m.start for m in maps] == sorted(m.start for m in maps) and len(maps) == 5
    lib = next(m for m in maps if m.is_exec and m.path == "/usr/lib/libfoo.so")
    assert lib.is_file and lib.file_offset(0x7F0000001010) == 0x1010
    gone = next(m for m in maps if m.deleted)
    assert gone.file_path == "/tmp/gone" and gone.inode == 99
    heap = next(m for m in maps if m.path == "[heap]")
    assert not heap.is_file and not heap.is_exec
    index = MapIndex(maps)
    assert index.find(0x7F0000002FFF) is lib and index.find(0x7F0000003000) is None


def test_read_maps_of_this_process():
    maps = read_maps(os.getpid())
    assert maps and any(m.is_exec and m.is_file for m in maps)
    assert read_maps("self") is not None
    here = MapIndex(maps).find(id(sys))  # a Python object lives in a mapping
    assert here is not None
    assert read_maps(2**22 + 7) is None  # beyond pid_max: no such process


def test_namespace_ids_of_a_process_in_our_namespace():
    pid = os.getpid()
    assert pid_namespace(pid) is None and namespace_pid(pid) == pid
    ready, stop = threading.Event(), threading.Event()
    native = []

    def worker():
        native.append(threading.get_native_id())
        ready.set()
        stop.wait(5)

    t = threading.Thread(target=worker)
    t.start()
    try:
        ready.wait(5)
        assert native[0] in thread_ids(pid) and pid in thread_ids(pid)
        tids = namespace_tids(pid)
        assert tids[native[0]] == native[0] and tids[pid] == pid
    finally:
        stop.set()
        t.join()
    assert thread_ids(2**22 + 7) == [] and namespace_tids(2**22 + 7) == {}
