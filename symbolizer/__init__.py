"""Flamecam's symbolizer: raw kernel and user addresses to `Frame`s.

See docs/CONTRACTS.md for the interface the recorder relies on.
"""

from .symbolizer import Symbolizer

__all__ = ["Symbolizer"]
