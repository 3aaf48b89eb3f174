"""A bounded on-disk queue of encoded batches, sent oldest first.

Every batch goes to the spool before it is sent, so a crash or a down server
loses nothing within `max_bytes`; beyond it the oldest batches are dropped and
counted (`dropped_batches`, `dropped_bytes`).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

log = logging.getLogger(__name__)


class Spool:
    def __init__(self, directory: str | os.PathLike, max_bytes: int = 256 << 20) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.dropped_batches = 0
        self.dropped_bytes = 0
        self._lock = threading.Lock()
        for tmp in self.dir.glob("*.tmp"):
            tmp.unlink(missing_ok=True)

    def _files(self) -> list[Path]:
        return sorted(self.dir.glob("*.batch"))

    def put(self, seq: int, data: bytes) -> None:
        with self._lock:
            path = self.dir / f"{seq:020d}.batch"
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            files = self._files()
            total = sum(f.stat().st_size for f in files)
            while total > self.max_bytes and len(files) > 1:
                old = files.pop(0)
                size = old.stat().st_size
                old.unlink(missing_ok=True)
                total -= size
                self.dropped_batches += 1
                self.dropped_bytes += size
                log.warning("spool over %d bytes: dropped batch %s (%d dropped so far)",
                            self.max_bytes, old.name, self.dropped_batches)

    def oldest(self) -> tuple[int, bytes] | None:
        with self._lock:
            files = self._files()
            if not files:
                return None
            return int(files[0].stem), files[0].read_bytes()

    def remove(self, seq: int) -> None:
        with self._lock:
            (self.dir / f"{seq:020d}.batch").unlink(missing_ok=True)

    def last_seq(self) -> int:
        files = self._files()
        return int(files[-1].stem) if files else 0

    def size(self) -> tuple[int, int]:
        """(batches, bytes) waiting."""
        with self._lock:
            files = self._files()
            return len(files), sum(f.stat().st_size for f in files)
