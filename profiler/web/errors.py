"""The one exception type ingest and query raise for bad requests."""

from __future__ import annotations


class BadRequest(Exception):
    """A request Flamecam refuses: `status` is 400, 401, 413, 415 or 422."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message.splitlines()[0][:500] if message else "bad request"
