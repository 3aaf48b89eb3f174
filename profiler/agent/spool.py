"""A bounded on-disk queue of encoded batches, sent oldest first.

Every batch goes to the spool before it is sent, so a crash or a down server
loses nothing within `max_bytes`; beyond it the oldest batches are dropped and
counted (`dropped_batches`, `dropped_bytes`, `dropped_samples`). A disk that
refuses a write (full, read-only) drops that batch the same way: the agent
keeps profiling, and no partial file is left behind. The losses a dropped
batch was reporting to the server are kept (`take_unreported`) for the next.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

from profiler.agent.batch import contents

log = logging.getLogger(__name__)


class Spool:
    def __init__(self, directory: str | os.PathLike, max_bytes: int = 256 << 20) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.dropped_batches = 0
        self.dropped_bytes = 0
        self.dropped_samples = 0
        self._unreported: dict[str, int] = {}  # losses that dropped batches were reporting
        self._lock = threading.Lock()
        self._in_flight: int | None = None  # the batch being sent: never dropped under it
        for tmp in self.dir.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        files = self._files()
        self._seq = int(files[-1].stem) if files else 0

    def _files(self) -> list[Path]:
        return sorted(self.dir.glob("*.batch"))

    def _path(self, seq: int) -> Path:
        return self.dir / f"{seq:020d}.batch"

    def next_seq(self) -> int:
        """A batch number above every one spooled before (also by earlier runs):
        the server drops a batch whose (agent, seq) it has seen."""
        with self._lock:
            self._seq = max(self._seq + 1, time.time_ns() // 1000)
            return self._seq

    def put(self, seq: int, data: bytes, samples: int) -> bool:
        """Spool a batch of `samples` samples; False when the disk refused it
        (then it is dropped and counted, and its temporary file removed)."""
        with self._lock:
            path = self._path(seq)
            tmp = path.with_suffix(".tmp")
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except OSError as e:
                tmp.unlink(missing_ok=True)
                self._dropped(len(data), samples, contents(data)[1])
                log.warning("spool cannot write batch %d (%s): dropped %d samples "
                            "(%d batches dropped so far)", seq, e.strerror or e, samples,
                            self.dropped_batches)
                return False
            # The batch the uploader is sending stays (dropping it would count
            # as lost samples the server may store), so the bound can be
            # passed by that one batch.
            files = self._files()
            total = sum(f.stat().st_size for f in files)
            files = [f for f in files if f != self._path(self._in_flight or 0)]
            while total > self.max_bytes and len(files) > 1:
                old = files.pop(0)
                size = old.stat().st_size
                lost, reporting = contents(old.read_bytes())
                old.unlink(missing_ok=True)
                total -= size
                self._dropped(size, lost, reporting)
                log.warning("spool over %d bytes: dropped batch %s with %d samples "
                            "(%d batches dropped so far)", self.max_bytes, old.name, lost,
                            self.dropped_batches)
            return True

    def _dropped(self, size: int, samples: int, reporting: dict[str, int]) -> None:
        self.dropped_batches += 1
        self.dropped_bytes += size
        self.dropped_samples += samples
        self._carry(reporting)

    def _carry(self, losses: dict[str, int]) -> None:
        for k, v in losses.items():
            self._unreported[k] = self._unreported.get(k, 0) + v

    def carry(self, losses: dict[str, int]) -> None:
        """Keep the losses a batch the server refused was reporting, for the next."""
        with self._lock:
            self._carry(losses)

    def take_unreported(self) -> dict[str, int]:
        """The losses carried so far, for the next batch (and forget them)."""
        with self._lock:
            out, self._unreported = self._unreported, {}
            return out

    def oldest(self) -> tuple[int, bytes] | None:
        """The oldest batch, which is then in flight until `remove`d (or the next call)."""
        with self._lock:
            files = self._files()
            if not files:
                self._in_flight = None
                return None
            self._in_flight = int(files[0].stem)
            return self._in_flight, files[0].read_bytes()

    def remove(self, seq: int) -> None:
        with self._lock:
            self._path(seq).unlink(missing_ok=True)
            if seq == self._in_flight:
                self._in_flight = None

    def size(self) -> tuple[int, int]:
        """(batches, bytes) waiting."""
        with self._lock:
            files = self._files()
            return len(files), sum(f.stat().st_size for f in files)
