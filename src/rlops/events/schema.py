"""The training-log schema, v1: one small dataclass per record type, in one registry.

Every record is one JSON object on one line. The envelope (``v``, ``type``, ``run_id``,
``trace_id``, ``seq``, ``t``) is common; each type adds its own fields. ``metrics`` records are
flat: besides their counters they carry any number of named scalars (``reward_mean``,
``train/value_loss``...) and a few short integer lists (``action_hist``). docs/events.md describes
every field; its example records are checked by the tests.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from rlops.errors import UsageError

SCHEMA_VERSION = 1
TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
ENVELOPE = ("v", "type", "run_id", "trace_id", "seq", "t")
# The only lists a metrics record may hold: short histograms, never per-env vectors.
MAX_LIST_IN_METRICS = 64


class EventError(UsageError):
    """A record that does not follow the schema: says which field and why."""


@dataclass(kw_only=True)
class Record:
    """The envelope every record carries. Producers leave ``seq``, ``t`` and ids to the recorder.

    A field without a default is required: the class cannot be built without it and a line that
    lacks it is refused; the others may be left out (a reader assumes the default) or, where the
    type allows ``None``, be ``null``. Each record type's docstring says what every field means
    (``:ivar``); docs/events.md's tables are generated from them (``rlops.events.doc``).
    """

    type: ClassVar[str] = ""
    run_id: str = ""
    trace_id: str = ""
    seq: int = 0
    t: float = 0.0


@dataclass(kw_only=True)
class Meta(Record):
    """The first record of a log, and the first record of every process that continues the run:
    what is needed to reproduce it. Fields it does not define are accepted (and ignored by rlops).

    :ivar config: the run's full option snapshot, as `rlops options` resolves it (for external producers: their
        own configuration)
    :ivar seed: the seed the run used (drawn and recorded when none was given)
    :ivar argv: the command line
    :ivar git_commit: the commit of the working directory, when it is a git checkout
    :ivar versions: versions of Python and the packages that matter (`rlops`, `stable-baselines3`, `gymnasium`,
        `torch`, `numpy`)
    :ivar device: the device the learner runs on (`cpu`, `cuda:0`, ...)
    :ivar hashes: sha256 hex digests: `options` (the config snapshot), `env_spec` (the Gymnasium spec)
    :ivar producer: what wrote the log: `rlops`, or the name of an external trainer
    """

    type: ClassVar[str] = "meta"
    config: dict[str, Any]
    seed: int | None = None
    argv: list[str] = field(default_factory=list)
    git_commit: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    device: str = "cpu"
    hashes: dict[str, str] = field(default_factory=dict)
    producer: str = "rlops"


@dataclass(kw_only=True)
class Config(Record):
    """Configuration a producer made known after its ``meta`` (a CleanRL script's hyperparameters
    that reached its event file after the first records): merged into the run's, key by key.

    :ivar config: the keys to add to the run's configuration, or to replace in it
    :ivar seed: the seed, when the producer says it only now
    """

    type: ClassVar[str] = "config"
    config: dict[str, Any]
    seed: int | None = None


@dataclass(kw_only=True)
class Metrics(Record):
    """One compact record per logging cadence, summarising the window since the previous one: four
    counters and any number of named values, flat at the top level of the JSON object.

    :ivar env_steps: env transitions since the run began, summed over all envs (SB3's `num_timesteps`)
    :ivar opt_steps: optimiser updates since the run began (SB3's `_n_updates`)
    :ivar wall_time_s: seconds since this process started training
    :ivar sps: env steps per second over the window
    :ivar values: a named metric: see [Metrics keys](#metrics-keys)
    """

    type: ClassVar[str] = "metrics"
    env_steps: int
    opt_steps: int = 0
    wall_time_s: float = 0.0
    sps: float = 0.0
    values: dict[str, float | int | list[int]] = field(default_factory=dict)


@dataclass(kw_only=True)
class Episode(Record):
    """One finished training episode.

    :ivar env_index: which of the vectorised envs ran it
    :ivar episode: the episode's index, counted by the producer process from 0
    :ivar episode_return: the episode's undiscounted return, as the env gave it (before any reward
        normalisation); the Python attribute is `episode_return`, as `return` is a keyword
    :ivar length: its number of steps
    :ivar env_steps: the run's `env_steps` when it ended
    :ivar success: the env's `info["is_success"]`, when it reports one
    """

    type: ClassVar[str] = "episode"
    env_index: int = 0
    episode: int = 0
    episode_return: float
    length: int
    env_steps: int = 0
    success: bool | None = None


@dataclass(kw_only=True)
class Step(Record):
    """One step of one episode; optional and possibly sampled (rlops records every step of the
    final evaluation, so that each evaluated checkpoint can be replayed, and of a play session).

    :ivar episode: the episode's index within its evaluation
    :ivar step: the step's index within the episode, from 0
    :ivar action: the action taken (an integer, or an array for Box spaces)
    :ivar reward: the reward received
    :ivar terminated: the episode ended in a terminal state at this step
    :ivar truncated: the episode was cut at this step (time limit)
    :ivar env_index: which env took the step
    :ivar obs: a summary of the observation (for instance `min`, `max`, `mean`)
    :ivar frame: a PNG or JPEG frame of this step, relative to the run directory (saved every `eval.frame_every`
        steps where the env renders; every step of a play session)
    :ivar actor: who chose the action in a play session (runner `play`): `human` or `agent`
    :ivar keys: the keys held when a play session's step was taken (browser key names)
    :ivar belief: a custom agent runtime's belief at this step (a BDI agent's), shown in replay
    :ivar intention: a custom agent runtime's current intention
    :ivar confidence: a custom agent runtime's confidence in its action
    """

    type: ClassVar[str] = "step"
    episode: int = 0
    step: int
    action: Any = None
    reward: float
    terminated: bool = False
    truncated: bool = False
    env_index: int = 0
    obs: dict[str, float] | None = None
    frame: str | None = None
    actor: str | None = None
    keys: list[str] | None = None
    belief: dict[str, Any] | None = None
    intention: str | None = None
    confidence: float | None = None


@dataclass(kw_only=True)
class Checkpoint(Record):
    """A checkpoint was written (and renamed into place, so it is complete).

    :ivar path: its directory, relative to the run directory (`checkpoints/step-<env_steps>`)
    :ivar env_steps: the run's `env_steps` it holds
    :ivar sha256: one hash for the whole checkpoint: the sha256 of its manifest's file table
    """

    type: ClassVar[str] = "checkpoint"
    path: str
    env_steps: int
    sha256: str = ""


@dataclass(kw_only=True)
class Eval(Record):
    """An evaluation: periodic (of the live model) or final (of a checkpoint).

    :ivar episodes: the episodes evaluated
    :ivar mean_reward: their mean return
    :ivar std_reward: the standard deviation of their returns
    :ivar mean_length: their mean length
    :ivar checkpoint: the checkpoint scored, relative to the run directory; absent for a periodic evaluation of
        the live model
    :ivar env_steps: the run's `env_steps` of the model evaluated
    """

    type: ClassVar[str] = "eval"
    episodes: int
    mean_reward: float
    std_reward: float = 0.0
    mean_length: float = 0.0
    checkpoint: str | None = None
    env_steps: int = 0


@dataclass(kw_only=True)
class Artifact(Record):
    """A file or URL worth showing with the run.

    :ivar kind: `video`, `tensorboard`, `wandb`, `gif`, `plot`, `receipt`, `checkpoint` or `other`
    :ivar path: relative to the run directory, or a URL (a W&B run)
    :ivar action: `added`, or `pruned` when retention removed it
    """

    type: ClassVar[str] = "artifact"
    kind: str
    path: str
    action: str = "added"


@dataclass(kw_only=True)
class Resume(Record):
    """A new process continues the run from a checkpoint; it follows that process's ``meta``.

    :ivar checkpoint: the checkpoint resumed from, relative to the run directory
    :ivar env_steps: the `env_steps` the run restarts from (the checkpoint's)
    :ivar opt_steps: the `opt_steps` it restarts from
    """

    type: ClassVar[str] = "resume"
    checkpoint: str = ""
    env_steps: int
    opt_steps: int = 0


@dataclass(kw_only=True)
class Error(Record):
    """The run failed; written just before its ``end`` record (status ``failed``).

    :ivar message: the exception's type and message
    :ivar traceback: the formatted traceback
    :ivar receipt: the failure receipt's directory, relative to the run directory (`receipts/<trace_id>`: last
        frames, actions, metric summary, options, traceback)
    """

    type: ClassVar[str] = "error"
    message: str
    traceback: str | None = None
    receipt: str | None = None


@dataclass(kw_only=True)
class End(Record):
    """The last record a process writes.

    :ivar status: `finished`, `failed` or `stopped` (a signal or a stop request)
    :ivar reason: why it failed or stopped
    :ivar env_steps: the run's `env_steps` at the end
    :ivar dropped: records each sink could not deliver (its queue was full, or it failed), by sink name;
        `rejected` counts records the schema refused (they are in no sink)
    """

    type: ClassVar[str] = "end"
    status: str
    reason: str | None = None
    env_steps: int | None = None
    dropped: dict[str, int] = field(default_factory=dict)


RECORD_TYPES: dict[str, type[Record]] = {cls.type: cls for cls in
                                         (Meta, Config, Metrics, Episode, Step, Checkpoint, Eval, Artifact, Resume,
                                          Error, End)}
END_STATUSES = ("finished", "failed", "stopped")
ARTIFACT_KINDS = ("video", "tensorboard", "wandb", "gif", "plot", "receipt", "checkpoint", "other")
# JSON names that differ from the attribute (``return`` is a Python keyword).
JSON_NAMES = {"episode_return": "return"}
ATTRIBUTE_NAMES = {json_name: attr for attr, json_name in JSON_NAMES.items()}


@functools.cache
def _layout(cls: type[Record]) -> tuple[tuple[str, str, bool], ...]:
    """(attribute, JSON name, always written) per field of a record type: computed once per type,
    since ``dataclasses.fields`` costs more than the rest of encoding a record."""
    return tuple((item.name, JSON_NAMES.get(item.name, item.name), item.name in ENVELOPE)
                 for item in dataclasses.fields(cls))


def to_dict(record: Record) -> dict[str, Any]:
    return _builder(type(record))(record)


@functools.cache
def _builder(cls: type[Record]) -> Any:
    """The function that turns a record of ``cls`` into its JSON object, generated once per type
    from its fields (as ``dataclasses`` generates ``__init__``): a loop over the fields with
    ``getattr`` cost more than orjson's whole encoding. Same keys, same order: the envelope, then
    the fields; ``None`` left out but in the envelope; a metrics record's ``values`` flattened.

    A type whose fields default to values other than ``None`` (``metrics``) gets one dict display
    first, used whenever none of its fields is ``None``: a third of the instructions of filling a
    dict key by key (it is built once per record, on the producer's thread)."""
    head = [f'"v": {SCHEMA_VERSION}', f'"type": {cls.type!r}']
    body, whole, optional = [], [], []
    usually_none = False
    for item, (name, json_name, always) in zip(dataclasses.fields(cls), _layout(cls), strict=True):
        if name == "values":
            body.append("data.update(record.values)")
            whole.append("**record.values")
        elif always:
            head.append(f"{json_name!r}: record.{name}")
        else:
            body.append(f"if record.{name} is not None: data[{json_name!r}] = record.{name}")
            whole.append(f"{json_name!r}: record.{name}")
            optional.append(f"record.{name} is None")
            usually_none = usually_none or item.default is None  # then the display would rarely apply
    # Fields of one type in order: the envelope's come first in every record type (they are Record's).
    source = "def build(record):\n"
    if whole and not usually_none:
        source += (f"    if not ({' or '.join(optional) or 'False'}):\n        try:\n"
                   f"            return {{{', '.join(head + whole)}}}\n"
                   "        except TypeError:  # values that are pairs, not a dict: update takes them\n"
                   "            pass\n")
    source += "    data = {" + ", ".join(head) + "}\n" + "".join(f"    {line}\n" for line in body) + "    return data\n"
    namespace: dict[str, Any] = {}
    exec(compile(source, f"<rlops.events.schema: {cls.__name__} to JSON object>", "exec"), namespace)  # noqa: S102
    return namespace["build"]


def _plain(value: Any) -> Any:
    # NumPy scalars and arrays reach us from producers; JSON has numbers and lists.
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# One encoder for every record: json.dumps with options builds a new encoder per call.
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"), default=_plain)


# orjson: numpy scalars and arrays as numbers and lists. Non-string keys (what the standard
# encoder wrote as strings) only on a second try: the option costs a quarter of the encoding.
_ORJSON = orjson.OPT_SERIALIZE_NUMPY
_ORJSON_ANY_KEYS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def encode_bytes(record: Record) -> bytes:
    """One JSON line as UTF-8 (no newline): what the log holds. Raises ``EventError`` on NaN or Inf:
    they never reach a log.

    orjson writes NaN and Inf as ``null`` instead of refusing them, so a line with a ``null`` in
    it (rare: ``None`` fields are left out) is checked for non-finite values before it is
    trusted. What orjson cannot encode (an int beyond 64 bits, an unknown type) goes through the
    standard library's encoder as before. Both write the same JSON values; only the spelling of
    some floats (``1e-05`` / ``0.00001``) and of non-ASCII text (escaped / UTF-8) differ."""
    return _encoded(record, 0)


def encode_line(record: Record) -> bytes:
    """``encode_bytes`` with its newline: the line as the log holds it (orjson appends it)."""
    return _encoded(record, orjson.OPT_APPEND_NEWLINE)


def _encoded(record: Record, option: int) -> bytes:
    data = to_dict(record)
    try:
        line = orjson.dumps(data, option=_ORJSON | option)
    except orjson.JSONEncodeError:
        try:
            line = orjson.dumps(data, option=_ORJSON_ANY_KEYS | option)
        except orjson.JSONEncodeError:
            text = _encode_standard(record, data)
            return (text + "\n" if option & orjson.OPT_APPEND_NEWLINE else text).encode()
    if not _surely_finite(record) and b"null" in line:
        _refuse_non_finite(record, data)
    return line


def _surely_finite(record: Record) -> bool:
    """True when every number of a metrics record is known finite without scanning its line for the
    ``null`` orjson writes for NaN and Inf (the scan costs half of orjson's encoding): NaN and Inf
    survive a sum, so a finite sum of all of them proves each one finite. Anything that is no proof
    (a ``None``, a histogram, text, a number too large for a float, another record type) leaves the
    line to be scanned, as before."""
    if type(record) is not Metrics or type(record.run_id) is not str or type(record.trace_id) is not str:
        return False
    try:
        return math.isfinite(record.seq + record.t + record.env_steps + record.opt_steps + record.wall_time_s
                             + record.sps + sum(record.values.values()))
    except Exception:  # a value that cannot be summed (or pairs instead of a dict) proves nothing
        return False


def encode(record: Record) -> str:
    """``encode_bytes`` as text."""
    return encode_bytes(record).decode()


def _encode_standard(record: Record, data: dict[str, Any]) -> str:
    try:
        return _ENCODER.encode(data)
    except ValueError:
        _refuse_non_finite(record, data)
        raise


def _refuse_non_finite(record: Record, data: dict[str, Any]) -> None:
    bad = [key for key, value in data.items() if _non_finite(value)]
    if bad:
        raise EventError(f"{record.type} record has non-finite values in {', '.join(bad)}")


def _non_finite(value: Any) -> bool:
    if value is None or isinstance(value, (str, bool, int)):
        return False
    if isinstance(value, dict):
        return any(_non_finite(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(_non_finite(item) for item in value)
    if hasattr(value, "tolist"):  # a NumPy scalar or array
        return _non_finite(value.tolist())
    try:
        return not math.isfinite(value)
    except TypeError:
        return False


def decode(line: str | bytes) -> Record:
    """Parse and check one line; ``EventError`` says what is wrong with it."""
    try:
        data = orjson.loads(line)  # strict JSON: NaN and Infinity are refused, as below
    except orjson.JSONDecodeError:
        # What orjson refuses and the standard library reads (a lone surrogate escape...) still
        # reads; what both refuse gets the standard library's message, as before.
        try:
            data = json.loads(line, parse_constant=_reject_constant)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise EventError(f"not valid JSON: {exc}") from None
    return from_dict(data)


def _reject_constant(name: str) -> float:
    raise EventError(f"non-finite number {name}")


def from_dict(data: Any) -> Record:
    if not isinstance(data, dict):
        raise EventError(f"a record is a JSON object, not {type(data).__name__}")
    if data.get("v") != SCHEMA_VERSION:
        raise EventError(f"unsupported schema version {data.get('v')!r} (this rlops reads v{SCHEMA_VERSION})")
    kind = data.get("type")
    cls = RECORD_TYPES.get(kind)  # type: ignore[arg-type]
    if cls is None:
        raise EventError(f"unknown record type {kind!r}; known: {', '.join(RECORD_TYPES)}")
    _check_envelope(data)
    known = _annotations(cls)
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("v", "type"):
            continue
        name = ATTRIBUTE_NAMES.get(key, key)
        if name in known and name != "values":
            kwargs[name] = _checked(kind, key, value, known[name])
        else:
            extra[key] = value
    if cls is Metrics:
        kwargs["values"] = _checked_metric_values(extra)
    elif extra and cls is not Meta:
        raise EventError(f"{kind} record has unknown fields: {', '.join(sorted(extra))}")
    for required in required_fields(cls):
        if required not in kwargs:
            raise EventError(f"{kind} record lacks {JSON_NAMES.get(required, required)!r}")
    return cls(**kwargs)


@functools.cache
def required_fields(cls: type[Record]) -> tuple[str, ...]:
    """The fields a record of ``cls`` must have: those without a default."""
    return tuple(item.name for item in dataclasses.fields(cls)
                 if item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING)


@dataclass(frozen=True)
class FieldCheck:
    """How a field's non-null values are checked, from its type hint; ``text`` is the annotation as
    written, for the messages."""

    accepts: Any  # value -> bool
    nullable: bool
    text: str


@functools.cache
def _annotations(cls: type[Record]) -> dict[str, FieldCheck]:
    """Each field's check, once per type, from its resolved type hint."""
    hints = typing.get_type_hints(cls)
    return {item.name: FieldCheck(_accepts(hints[item.name], item.name), _nullable(hints[item.name]), str(item.type))
            for item in dataclasses.fields(cls)}


def _check_envelope(data: dict[str, Any]) -> None:
    for key in ("run_id", "trace_id", "seq", "t"):
        if key not in data:
            raise EventError(f"record lacks {key!r}")
    if not isinstance(data["run_id"], str) or not data["run_id"]:
        raise EventError("run_id must be a non-empty string")
    if not isinstance(data["trace_id"], str) or not TRACE_ID.match(data["trace_id"]):
        raise EventError(f"trace_id must be 32 lowercase hex digits, not {data['trace_id']!r}")
    if not _is_int(data["seq"]) or data["seq"] < 0:
        raise EventError(f"seq must be a non-negative integer, not {data['seq']!r}")
    if not _is_number(data["t"]):
        raise EventError(f"t must be a unix time in seconds, not {data['t']!r}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


NON_NEGATIVE = frozenset(("env_steps", "opt_steps", "length", "episodes"))


def _nullable(hint: Any) -> bool:
    return type(None) in typing.get_args(hint)


def _accepts(hint: Any, key: str) -> Any:
    """The check of a non-null value of a field with type ``hint`` (``int | None`` checks as
    ``int``; ``dict[str, float]`` as a dict: its items are the producer's business)."""
    kinds = [kind for kind in typing.get_args(hint) if kind is not type(None)] if _nullable(hint) else [hint]
    if len(kinds) != 1:
        raise TypeError(f"field {key!r}: one type or one type | None, not {hint}")
    kind = typing.get_origin(kinds[0]) or kinds[0]
    if kind is int:
        return (lambda v: _is_int(v) and v >= 0) if key in NON_NEGATIVE else _is_int
    if kind is float:
        return _is_number
    if kind in (str, bool, dict, list):
        return lambda v: isinstance(v, kind)
    if kind is Any:
        return lambda v: True
    raise TypeError(f"field {key!r}: no check for {hint}")


def _checked(kind: str, key: str, value: Any, check: FieldCheck) -> Any:
    ok = check.nullable if value is None else check.accepts(value)
    if not ok:
        raise EventError(f"{kind}.{key} has the wrong type or value: {value!r} (expected {check.text})")
    if kind == "end" and key == "status" and value not in END_STATUSES:
        raise EventError(f"end.status must be one of {', '.join(END_STATUSES)}, not {value!r}")
    return value


def _checked_metric_values(values: dict[str, Any]) -> dict[str, Any]:
    for key, value in values.items():
        if isinstance(value, list):
            if len(value) > MAX_LIST_IN_METRICS or not all(_is_int(v) for v in value):
                raise EventError(f"metrics.{key}: only short integer lists (histograms) are allowed, "
                                 f"not per-env vectors (got {len(value)} items)")
        elif not _is_number(value):
            raise EventError(f"metrics.{key} must be a finite number, not {value!r}")
    return values
