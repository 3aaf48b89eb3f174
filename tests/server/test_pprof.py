"""pprof encoding is read back by the protobuf package and by our decoder."""

import gzip

import pytest
from google.protobuf import descriptor_pb2  # noqa: F401  (the real protobuf package)

from profiler.formats import pprof
from profiler.formats.proto import profile_pb2
from profiler.model import Frame, Profile, Sample

MAIN = Frame("main", "native", "/usr/bin/app", "abcd1234", 0x1000)
WORK = Frame("work", "python", file="/srv/app.py", line=12)
READ = Frame("vfs_read", "kernel")


def _profile() -> Profile:
    t0 = 1_700_000_000_000_000_000
    samples = [
        Sample("cpu", t0, 10, 11, 0, "app", "worker-1", (MAIN, WORK), 10_101_010),
        Sample("cpu", t0 + 1, 10, 12, 1, "app", "worker-2", (MAIN, WORK), 10_101_010),
        Sample("offcpu", t0 + 2, 10, 11, 0, "app", "worker-1", (MAIN, READ), 5_000_000,
               count=3, reason="io", labels={"span_id": "00ff"}),
    ]
    return Profile(samples, t0, t0 + 1_000_000_000, 99)


def test_encode_is_gzipped_pprof_readable_by_protobuf():
    data = pprof.encode(_profile())
    assert data[:2] == b"\x1f\x8b"
    msg = profile_pb2.Profile()
    msg.ParseFromString(gzip.decompress(data))
    st = msg.string_table
    assert st[0] == ""
    assert [(st[t.type], st[t.unit]) for t in msg.sample_type] == [
        ("cpu", "nanoseconds"), ("off_cpu", "nanoseconds")]
    assert len(msg.sample) == 3
    assert len(msg.function) == 3 and len(msg.location) == 3  # deduplicated
    builds = {st[m.build_id] for m in msg.mapping}
    assert "abcd1234" in builds
    first = msg.sample[0]
    names = [st[msg.function[msg.location[i - 1].line[0].function_id - 1].name]
             for i in first.location_id]
    assert names == ["work", "main"]  # leaf first
    labels = {st[lab.key]: (st[lab.str] or lab.num) for lab in first.label}
    assert labels["pid"] == 10 and labels["tid"] == 11 and labels["thread_name"] == "worker-1"
    off = {st[lab.key]: st[lab.str] for lab in msg.sample[2].label if lab.str}
    assert off["reason"] == "io"
    assert list(msg.sample[2].value) == [0, 5_000_000]


def test_round_trip():
    prof = _profile()
    for data in (pprof.encode(prof), pprof.encode(prof, compress=False)):
        back = pprof.decode(data)
        assert [(s.kind, s.ts_ns, s.pid, s.tid, s.thread_name, s.value_ns, s.reason)
                for s in back] == [
            (s.kind, s.ts_ns, s.pid, s.tid, s.thread_name, s.value_ns, s.reason)
            for s in prof.samples]
        assert back[0].stack == prof.samples[0].stack
        assert back[2].stack == prof.samples[2].stack
        assert back[2].labels == {"span_id": "00ff"}
        assert back[0].count == 1


@pytest.mark.parametrize("bad", [b"", b"\x1f\x8b\x08\x00garbage", b"\xff\xff\xff\xff\xff",
                                 gzip.compress(b"\x0a\x05abc")])
def test_bad_input_raises_value_error(bad):
    with pytest.raises(pprof.PprofError):
        pprof.decode(bad)


def test_truncated_and_bomb():
    data = pprof.encode(_profile())
    with pytest.raises(pprof.PprofMalformed):
        pprof.decode(data[: len(data) // 2])
    bomb = gzip.compress(b"\x00" * (8 << 20))
    with pytest.raises(pprof.PprofTooLarge):
        pprof.decode(bomb, max_decompressed=1 << 20)


def test_dangling_location_rejected():
    msg = profile_pb2.Profile(string_table=["", "cpu", "nanoseconds"])
    msg.sample_type.add(type=1, unit=2)
    msg.sample.add(location_id=[42], value=[1])
    with pytest.raises(pprof.PprofMalformed):
        pprof.decode(msg.SerializeToString())
