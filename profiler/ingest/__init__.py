"""Pyroscope-compatible and agent ingest: decoding and validation of uploads."""
