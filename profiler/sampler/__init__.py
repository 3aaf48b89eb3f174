"""Thin drivers for the eBPF programs in `bpf/`: load, attach, decode.

They hand raw events (addresses, not names) to the recorder; naming frames
is the symbolizer's job.
"""
