"""Trace links on the agent's wire: linked samples and thread spans survive the
round trip through encode_batch and the server's decoder, and every malformed
link is a 400 that stores nothing."""

from __future__ import annotations

import dataclasses
import time

import pytest
import zstandard

from profiler.agent.batch import encode_batch
from profiler.formats.proto import agent_pb2
from profiler.ingest.agent_batch import parse_batch
from profiler.model import ThreadSpan
from profiler.web.errors import BadRequest
from profiler.web.limits import Limits
from tests.server.helpers import profile

TRACE, SPAN = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
OTHER = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
AGENT = {"Content-Type": "application/x-flamecam-batch", "Content-Encoding": "zstd"}


def _samples():
    samples = profile(n=6).samples
    for i, s in enumerate(samples):
        if i % 3 == 1:
            s.trace_id, s.span_id = TRACE, SPAN
        elif i % 3 == 2:
            s.trace_id, s.span_id = OTHER
    return samples


def _spans(t0: int) -> list[ThreadSpan]:
    return [ThreadSpan(100, 101, TRACE, SPAN, t0, t0 + 30_000_000, "worker-0"),
            ThreadSpan(100, 102, *OTHER, t0 + 5, t0 + 9, "pool-1", approximate=True)]


def _raw(samples, spans) -> bytes:
    return zstandard.ZstdDecompressor().decompress(
        encode_batch(samples, lambda s: {"service_name": "app"}, agent_id="a", seq=1,
                     thread_spans=spans), max_output_size=1 << 24)


def test_links_and_thread_spans_round_trip():
    samples = _samples()
    spans = _spans(samples[0].ts_ns)
    got = parse_batch(_raw(samples, spans), Limits())
    # Every row goes to the profile store as columns; the linked rows also as Samples.
    assert sum(len(b.cols) for b in got.batches) == len(samples)
    back = sorted(got.linked, key=lambda s: (s.ts_ns, s.kind))
    want = sorted((s for s in samples if s.trace_id), key=lambda s: (s.ts_ns, s.kind))
    assert [(s.ts_ns // 1000, s.tid, s.trace_id, s.span_id, [f.name for f in s.stack])
            for s in back] == [(s.ts_ns // 1000, s.tid, s.trace_id, s.span_id,
                                [f.name for f in s.stack]) for s in want]
    assert got.thread_spans == spans
    assert {(s.trace_id, s.span_id) for s in got.linked} == {(TRACE, SPAN), OTHER}
    msg = agent_pb2.Batch.FromString(_raw(samples, spans))
    assert len(msg.links) == 3 and not msg.links[0].trace_id  # deduplicated, 0 = none


def test_a_series_without_links_carries_no_link_column():
    msg = agent_pb2.Batch.FromString(_raw(profile(n=4).samples, []))
    assert all(len(s.link) == 0 for s in msg.series)
    got = parse_batch(msg.SerializeToString(), Limits())
    assert got.linked == [] and got.thread_spans == []


def _mutations():
    def bad_link_index(m):
        m.series[0].link[0] = 99

    def short_column(m):
        ser = next(s for s in m.series if s.link)
        del ser.link[-1]

    def short_trace(m):
        m.links[1].trace_id = b"\x01" * 8

    def zero_trace(m):
        m.links[1].trace_id = bytes(16)

    def long_span(m):
        m.links[1].span_id = b"\x01" * 16

    def nonempty_first(m):
        m.links[0].trace_id = b"\x01" * 16
        m.links[0].span_id = b"\x01" * 8

    def span_link_zero(m):
        m.thread_spans[0].link = 0

    def span_link_missing(m):
        m.thread_spans[0].link = 7

    def span_backwards(m):
        m.thread_spans[0].end_ns = m.thread_spans[0].start_ns - 1

    def span_string_missing(m):
        m.thread_spans[0].thread = 10_000

    def span_no_tid(m):
        m.thread_spans[0].tid = 0

    def span_ancient(m):
        m.thread_spans[0].start_ns = 1

    def span_int64_max(m):
        m.thread_spans[0].end_ns = (1 << 63) - 1

    return [bad_link_index, short_column, short_trace, zero_trace, long_span, nonempty_first,
            span_link_zero, span_link_missing, span_backwards, span_string_missing,
            span_no_tid, span_ancient, span_int64_max]


@pytest.mark.parametrize("mutate", _mutations(), ids=lambda f: f.__name__)
def test_malformed_links_are_refused(mutate):
    samples = _samples()
    msg = agent_pb2.Batch.FromString(_raw(samples, _spans(samples[0].ts_ns)))
    mutate(msg)
    with pytest.raises(BadRequest) as e:
        parse_batch(msg.SerializeToString(), Limits())
    assert 400 <= e.value.status < 500


def test_malformed_link_push_stores_nothing(client):
    samples = _samples()
    msg = agent_pb2.Batch.FromString(_raw(samples, _spans(samples[0].ts_ns)))
    msg.thread_spans[1].link = 42
    body = zstandard.ZstdCompressor().compress(msg.SerializeToString())
    r = client.post("/api/v1/agent/push", data=body, headers=AGENT)
    assert r.status_code == 400 and "link" in r.get_json()["error"]
    r = client.get("/api/v1/render?query={}&from=now-1d&until=now%2B1h")
    assert r.get_json()["flamebearer"]["numTicks"] == 0


def test_linked_push_is_accepted(client):
    samples = [dataclasses.replace(s, ts_ns=time.time_ns() - 10**9 + i)
               for i, s in enumerate(_samples())]
    body = zstandard.ZstdCompressor().compress(
        _raw(samples, _spans(samples[0].ts_ns)))
    r = client.post("/api/v1/agent/push", data=body, headers=AGENT)
    assert r.status_code == 200, r.data
    assert r.get_json()["accepted_samples"] == len(samples)
