"""The one exception tree of rlops.

Every error a user can cause or meet derives from ``RlopsError``; the CLI turns it into a
message on stderr and an exit code, the API into one JSON error shape.

    RlopsError
    ├── UsageError                  exit 2: the request itself is wrong
    │   ├── OptionsError            a bad option value, an unknown option, a malformed file
    │   │   └── OptionsRejected     a form's options, each problem named by its option
    │   ├── UnknownNameError        an env id, algorithm, encoder... that is not registered
    │   ├── AlreadyRegisteredError  a checkpoint whose files the registry holds already (same sha256)
    │   └── IncompatibleChoiceError options that cannot work together (DQN on a Box action space)
    └── WorkError                   exit 1: the request was fine, the work failed
        ├── CheckpointError
        │   ├── CheckpointNotFoundError
        │   └── CheckpointCorruptError
        ├── RunDirectoryError
        ├── TrainingError
        ├── StoreError              the SQLite database: unusable, corrupt, or on a network filesystem
        ├── DatasetError            an offline-RL dataset: unreadable, or its files differ from its manifest
        └── BackendError            a tracking backend or object store (MLflow, W&B, S3...) refused or is unreachable
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RlopsError(Exception):
    """Base of every rlops error. ``hint`` says what to do next."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UsageError(RlopsError):
    exit_code = 2


class OptionsError(UsageError):
    """A bad option: names the option, the form it came from and what is allowed."""


class OptionsRejected(OptionsError):
    """Several options refused at once (a dashboard form): ``problems`` is ``[{"option", "message"}]``."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{first['option']}: {first['message']}{more}",
                         hint="fix the options named in 'fields'; GET /api/options describes each")
        self.problems = problems


class UnknownNameError(UsageError):
    """A name that no registry knows, with the closest known names."""

    def __init__(self, kind: str, name: str, known: Iterable[str], *, hint: str | None = None) -> None:
        known = sorted(set(known))
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        message = f"unknown {kind} {name!r}"
        if close:
            message += f"; did you mean {' or '.join(repr(c) for c in close)}?"
        if hint is None and len(known) <= 12:
            hint = f"known {kind}s: {', '.join(known)}"
        super().__init__(message, hint=hint)
        self.kind = kind
        self.name = name
        self.suggestions = close


class AlreadyRegisteredError(UsageError):
    """Registering files the registry already holds: names the model that has them (``model_id``)."""

    def __init__(self, message: str, model_id: int, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.model_id = model_id


class IncompatibleChoiceError(UsageError):
    """Options that are each valid but cannot work together."""


class WorkError(RlopsError):
    exit_code = 1


class CheckpointError(WorkError):
    pass


class CheckpointNotFoundError(CheckpointError):
    pass


class CheckpointCorruptError(CheckpointError):
    pass


class RunDirectoryError(WorkError):
    pass


class TrainingError(WorkError):
    pass


class StoreError(WorkError):
    pass


class DatasetError(WorkError):
    """A dataset that cannot be read or whose files do not match its manifest; names the file."""


class BackendError(WorkError):
    """An external backend said no or did not answer; the message names the endpoint."""


class PreflightError(WorkError):
    """A run cannot start here: a GPU it needs, a module its interpreter lacks, disk space."""


class RunStateError(UsageError):
    """The run is not in a state that allows this (stopping a finished run...)."""
