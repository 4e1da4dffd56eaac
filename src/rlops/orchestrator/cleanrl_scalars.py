"""Turns what an unmodified CleanRL script logs to TensorBoard into rlops records, while it runs.

CleanRL scripts speak no rlops: their only structured output is ``runs/<run_name>/events.out.tfevents.*``.
``ScalarTail`` reads those files incrementally, so the orchestrator can poll it every fraction of a second
and forward each new ``Meta``, ``Episode`` and ``Metrics`` exactly once. The files are TFRecord-framed
``Event`` protos, split by ``orchestrator.tfrecord``.
"""

from __future__ import annotations

import ast
import math
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError
from tensorboard.compat.proto.event_pb2 import Event

from rlops.events.schema import Episode, Meta, Metrics, Record
from rlops.orchestrator.tfrecord import split_records

RETURN_TAG = "charts/episodic_return"
LENGTH_TAG = "charts/episodic_length"
SPS_TAG = "charts/SPS"
# ``writer.add_text("hyperparameters", ...)``: PyTorch's writer appends "/text_summary" to the tag.
HYPERPARAMETER_TAGS = ("hyperparameters", "hyperparameters/text_summary")
def parse_hyperparameters(text: str) -> dict[str, Any]:
    """CleanRL's ``|param|value|`` Markdown table as a dict; values that read as Python literals are typed."""
    config: dict[str, Any] = {}
    for line in text.splitlines()[2:]:  # the header row and the |-|-| rule
        key, _, value = line.strip().strip("|").partition("|")
        if key:
            config[key] = _literal(value)
    return config


def _literal(text: str) -> Any:
    # The table holds str(value): "0.00025", "True", "None", "CartPole-v1"; only the first three are literals.
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return text


@dataclass
class _Group:
    """The non-episode scalars of one step, held until the step is known to be over."""

    step: int
    t: float
    values: dict[str, float] = field(default_factory=dict)


@dataclass
class _EventFile:
    """How far one event file has been read, and what it logged that is not a record yet."""

    path: Path
    offset: int = 0  # bytes of complete records consumed
    size: int = 0  # the file's size when last read: unchanged means nothing new
    start_t: float | None = None  # the first event's wall time: the writer's creation
    group: _Group | None = None
    returns: deque[tuple[int, float, float]] = field(default_factory=deque)  # (step, t, return)
    lengths: deque[tuple[int, float]] = field(default_factory=deque)  # (step, length)


class ScalarTail:
    """Polls ``root/runs/**/events.out.tfevents.*`` and returns the records logged since the last poll.

    ``skipped`` counts NaN and infinite scalars (CleanRL logs a NaN explained variance on a constant batch),
    ``unpaired`` episode lengths that never met a return, ``corrupt_bytes`` bytes that were not valid records.
    """

    def __init__(self, root: Path) -> None:
        self.runs = Path(root) / "runs"
        self.files: dict[str, _EventFile] = {}
        self.episodes = 0
        self.skipped = 0
        self.unpaired = 0
        self.corrupt_bytes = 0

    def poll(self, final: bool = False) -> list[Record]:
        """New records in file order. ``final=True`` (the script has exited) also flushes the last step's
        metrics, returns still waiting for their length, and counts an unfinished tail as corrupt."""
        records: list[Record] = []
        for path in self._event_paths():
            state = self.files.get(path)
            if state is None:
                state = self.files[path] = _EventFile(Path(path))
            self._read(state, records)
            if final:
                self._finish(state, records)
        return records

    def _event_paths(self) -> list[str]:
        found: list[str] = []
        pending = [str(self.runs)]
        while pending:
            try:
                entries = list(os.scandir(pending.pop()))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                if entry.is_dir():
                    pending.append(entry.path)
                elif "tfevents" in entry.name:
                    found.append(entry.path)
        return sorted(found)

    def _read(self, state: _EventFile, records: list[Record]) -> None:
        try:
            size = os.stat(state.path).st_size
            if size == state.size:
                return
            if size < state.offset:
                # Truncated or replaced: which of its records are new cannot be known, so read none of them.
                state.size = size
                return
            with open(state.path, "rb") as file:
                file.seek(state.offset)
                buffer = file.read()
        except OSError:
            return  # gone or unreadable for now: try again next poll
        state.size = state.offset + len(buffer)
        chunks, used, corrupt = split_records(buffer)
        state.offset += used
        self.corrupt_bytes += corrupt
        for chunk in chunks:
            try:
                event = Event.FromString(chunk)
            except DecodeError:
                self.corrupt_bytes += len(chunk)
                continue
            self._take_event(state, event, records)

    def _take_event(self, state: _EventFile, event: Event, records: list[Record]) -> None:
        if state.start_t is None:
            state.start_t = event.wall_time
        if not event.HasField("summary"):
            return  # the file_version header, session logs, graphs
        for value in event.summary.value:
            if value.tag in HYPERPARAMETER_TAGS and value.tensor.string_val:
                config = parse_hyperparameters(value.tensor.string_val[0].decode("utf-8", "replace"))
                seed = config.get("seed")
                records.append(Meta(t=event.wall_time, config=config, producer="cleanrl",
                                    seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None))
                continue
            scalar = _scalar(value)
            if scalar is None:
                continue  # images, histograms, other text
            if not math.isfinite(scalar):
                self.skipped += 1
                continue
            self._take_scalar(state, event.step, event.wall_time, value.tag, scalar, records)

    def _take_scalar(self, state: _EventFile, step: int, t: float, tag: str, value: float,
                     records: list[Record]) -> None:
        if state.group is not None and state.group.step != step:
            records.append(self._metrics(state, state.group))
            state.group = None
        if tag == RETURN_TAG:
            state.returns.append((step, t, value))
        elif tag == LENGTH_TAG:
            state.lengths.append((step, value))
        else:
            if state.group is None:
                state.group = _Group(step, t)
            state.group.values[tag] = value
            state.group.t = t
            return
        self._pair_episodes(state, records)

    def _pair_episodes(self, state: _EventFile, records: list[Record]) -> None:
        # CleanRL logs return then length at the same step, once per finished env: pair them in order.
        # A return whose step has passed without a length gets none; a lone length cannot make an episode.
        while state.returns and state.lengths:
            (return_step, t, episode_return), (length_step, length) = state.returns[0], state.lengths[0]
            if return_step > length_step:
                state.lengths.popleft()
                self.unpaired += 1
                continue
            state.returns.popleft()
            if return_step == length_step:
                state.lengths.popleft()
                records.append(self._episode(return_step, t, episode_return, round(length)))
            else:
                records.append(self._episode(return_step, t, episode_return, 0))

    def _finish(self, state: _EventFile, records: list[Record]) -> None:
        if state.group is not None:
            records.append(self._metrics(state, state.group))
            state.group = None
        while state.returns:
            step, t, episode_return = state.returns.popleft()
            records.append(self._episode(step, t, episode_return, 0))
        self.unpaired += len(state.lengths)
        state.lengths.clear()
        # Past exit, a partial record at the end will never be completed.
        self.corrupt_bytes += state.size - state.offset
        state.offset = state.size

    def _episode(self, step: int, t: float, episode_return: float, length: int) -> Episode:
        self.episodes += 1
        return Episode(t=t, episode=self.episodes - 1, episode_return=episode_return, length=length,
                       env_steps=step)

    @staticmethod
    def _metrics(state: _EventFile, group: _Group) -> Metrics:
        return Metrics(t=group.t, env_steps=group.step, wall_time_s=group.t - (state.start_t or group.t),
                       sps=group.values.get(SPS_TAG, 0.0), values=dict(group.values))


def _scalar(value: Any) -> float | None:
    """A summary value's scalar: legacy ``simple_value`` (PyTorch's default) or a scalars-plugin tensor."""
    kind = value.WhichOneof("value")
    if kind == "simple_value":
        return float(value.simple_value)
    if kind == "tensor" and value.metadata.plugin_data.plugin_name == "scalars":
        tensor = value.tensor
        if tensor.float_val:
            return float(tensor.float_val[0])
        if tensor.double_val:
            return float(tensor.double_val[0])
    return None
