"""A sink whose backend is opened on its own dispatcher thread, never on the training thread.

Opening a remote backend talks to a server (MLflow's experiment lookup, W&B's run upsert, S3's
``head_bucket``), and a server that accepts and never answers held training for as long as the
client's retries lasted (20 minutes for MLflow). So the producer only wraps the factory: the
dispatcher calls ``open`` first thing on the sink's thread, records wait in the sink's queue
meanwhile (nothing is lost to a slow start), and a backend that cannot open is reported once as
unavailable, every record it then refuses counted as dropped under its name.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from rlops.errors import BackendError
from rlops.events.schema import Record
from rlops.sinks.base import Sink

log = logging.getLogger(__name__)


class SinkUnavailable(BackendError):
    """A sink's backend could not be opened: the run goes on without it."""


class OpeningSink:
    """Stands for the sink ``factory`` builds until it is built, then passes everything through."""

    def __init__(self, name: str, factory: Callable[[], Sink]) -> None:
        self.name = name
        self._factory = factory
        self.inner: Sink | None = None
        self.unavailable: str | None = None  # why it could not open, once it is known
        self._opened = threading.Event()

    def open(self) -> None:
        """Build the backend (on the dispatcher's thread for this sink); raises SinkUnavailable."""
        try:
            self.inner = self._factory()
        except Exception as exc:  # any failure to open leaves the sink out, never the run
            self.unavailable = str(exc) or type(exc).__name__
            raise SinkUnavailable(self.unavailable) from exc
        finally:
            self._opened.set()

    def wait_open(self, timeout: float | None = None) -> bool:
        """True once ``open`` has returned or failed (for tests and the end of a run)."""
        return self._opened.wait(timeout)

    @property
    def lost(self) -> int:
        """The backend's own ``lost``; a backend that could not open will also refuse the run's end
        record, which is counted here ahead of time (everything before it was refused and counted)."""
        if self.inner is not None:
            return self.inner.lost
        return 1 if self.unavailable is not None else 0

    def export(self, batch: Sequence[Record]) -> None:
        if self.inner is None:
            raise SinkUnavailable(self.unavailable or "not opened")
        self.inner.export(batch)

    def flush(self) -> None:
        if self.inner is not None:
            self.inner.flush()

    def shutdown(self) -> None:
        if self.inner is not None:
            self.inner.shutdown()
