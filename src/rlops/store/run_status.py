"""The states of a run's row, said once (Gymnasium's ``AutoresetMode`` style).

    queued -> running -> finished | failed | stopped     (the run's end record, or its supervisor)
                      -> lost                            (its process is gone without an end record)

A ``StrEnum``: a member is its text, so the SQL, the JSON and every ``row["status"] == "running"``
read the same as before. The end record's own statuses are ``events.schema.END_STATUSES`` (the
events package imports nothing of the store); a test holds the two lists together.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"
    LOST = "lost"


LIVE = (RunStatus.QUEUED, RunStatus.RUNNING)  # a run that may still write records
ENDED = (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.STOPPED, RunStatus.LOST)
