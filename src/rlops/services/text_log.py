"""The run's human-readable log (``train.log``): every ``rlops`` logger's lines while it trains."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def text_log(path: Path) -> Iterator[None]:
    handler = _LogFileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("rlops")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


class _LogFileHandler(logging.FileHandler):
    """The run's text log; a line it cannot write (a full disk) is dropped without the traceback
    that logging prints by default: the message still reaches the terminal and the JSONL log."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        pass
