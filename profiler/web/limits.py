"""Bounded reading and decompression of request bodies.

Bodies are read with a cap on compressed size (413 past it) and decompressed
in a stream with a cap on output (413 as soon as it is passed), so a gzip or
zstd bomb costs at most the cap in memory and a few milliseconds.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import zstandard

from profiler.store.columns import I63, ColumnBatch, SeriesBatch
from profiler.web.errors import BadRequest

MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    max_body: int = 16 * MiB            # compressed, as received
    max_decompressed: int = 64 * MiB    # after Content-Encoding and any inner gzip
    max_series_labels: int = 30
    max_label_name: int = 1024
    max_label_value: int = 2048
    max_samples: int = 200_000          # per pprof / per request series
    max_series_per_request: int = 1000
    max_series_per_tenant: int = 100_000  # stored series; past it a write is a 400
    max_age_s: int = 7 * 86400          # timestamps older than this are refused
    max_future_s: int = 3600


def check_value_sums(batches: list[ColumnBatch | SeriesBatch]) -> None:
    """400 when a request's values add up past int64 ns (292 years).

    Values are clamped one by one as they are read; their sums are what block
    totals and per-stack aggregates hold, so a request whose sum does not fit
    is refused whole instead of stored with a total that cannot be.
    """
    total = 0
    for b in batches:
        total += sum(b.cols.value) if isinstance(b, ColumnBatch) else \
            sum(min(max(0, s.value_ns), I63) for s in b.samples)  # as from_samples stores
        if total > I63:
            raise BadRequest(400, "sample values sum past int64 nanoseconds")


def read_body(request, limits: Limits) -> bytes:
    """The raw body, refusing more than `max_body` bytes."""
    length = request.content_length
    if length is not None and length > limits.max_body:
        raise BadRequest(413, f"body of {length} bytes exceeds {limits.max_body}")
    data = request.stream.read(limits.max_body + 1)
    if len(data) > limits.max_body:
        raise BadRequest(413, f"body exceeds {limits.max_body} bytes")
    return data


def gunzip(data: bytes, limit: int, wbits: int = 16 + zlib.MAX_WBITS,
           name: str = "gzip") -> bytes:
    """gzip (or, with wbits=MAX_WBITS, zlib "deflate") body, at most `limit` bytes out."""
    d = zlib.decompressobj(wbits)
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise BadRequest(400, f"bad {name} body: {e}") from None
    if len(out) > limit:
        raise BadRequest(413, f"decompressed body exceeds {limit} bytes")
    if not d.eof:
        raise BadRequest(400, f"truncated {name} body")
    return out


def unzstd(data: bytes, limit: int) -> bytes:
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True)
        chunks, size = [], 0
        while True:
            chunk = reader.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise BadRequest(413, f"decompressed body exceeds {limit} bytes")
            chunks.append(chunk)
    except zstandard.ZstdError as e:
        raise BadRequest(400, f"bad zstd body: {e}") from None
    if not chunks and data:
        raise BadRequest(400, "bad zstd body: no data")
    return b"".join(chunks)


def decode_body(request, limits: Limits) -> bytes:
    """Body after Content-Encoding (identity, gzip, deflate, zstd), both bounded."""
    data = read_body(request, limits)
    enc = (request.headers.get("Content-Encoding") or "identity").strip().lower()
    if enc in ("", "identity"):
        if len(data) > limits.max_decompressed:
            raise BadRequest(413, "body too large")
        return data
    if enc in ("gzip", "x-gzip"):
        return gunzip(data, limits.max_decompressed)
    if enc == "deflate":  # what OTLP exporters send with compression=deflate
        return gunzip(data, limits.max_decompressed, zlib.MAX_WBITS, "deflate")
    if enc == "zstd":
        return unzstd(data, limits.max_decompressed)
    raise BadRequest(415, f"unsupported Content-Encoding {enc!r}")
