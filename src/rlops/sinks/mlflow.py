"""The MLflow backend: one rlops run is one MLflow run, however many processes it took.

The MLflow run carries the tag ``rlops.run_id``; a resumed run, ``rlops export`` and the
reconciler find it by that tag. Params are the ``meta`` record's options, flattened
(``train.learning_rate``); metrics are TensorBoard's series (``sps``, ``train/value_loss``,
``episode/return``, ``eval/mean_reward``...) at step ``env_steps`` and at the records' own times,
so a replayed run looks like the live one. Checkpoints go up as artifacts under
``checkpoints/<name>`` (every one, or every ``store.checkpoint_freq`` env steps, the last always),
the event log at the end. The ``end`` record sets the status; a process that dies leaves the run
RUNNING, and ``services.reconcile`` marks it FAILED once the run store knows the run is lost.

Only ``MlflowClient`` is used, never the fluent API: its one global active run would let two
runs of one process (tests, a sweep runner) write into each other.
"""

from __future__ import annotations

import functools
import http.client
import json
import logging
import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from rlops.errors import BackendError
from rlops.events.schema import Artifact, Checkpoint, End, Episode, Eval, Meta, Metrics, Record
from rlops.sinks.base import RunContext
from rlops.sinks.mlflow_redirects import redirected_call, refused_mid_run, where_it_points
from rlops.sinks.push_cadence import PushCadence
from rlops.sinks.series import series_of
from rlops.store.run_dir import inside_run_dir

log = logging.getLogger(__name__)

RUN_TAG = "rlops.run_id"
REASON_TAG = "rlops.end_reason"
CHANGED_TAG = "rlops.changed."  # + param key: a value that differs from the one logged first
DATABASE = "mlflow.db"  # the default store, in the runs' directory (store.model_dir)
STATUSES = {"finished": "FINISHED", "failed": "FAILED", "stopped": "KILLED"}
# MLflow's own limits (mlflow.utils.validation); above them it refuses the whole call.
MAX_PARAM_VALUE = 6000
MAX_KEY = 250
CONNECT_TIMEOUT_S = 3.0  # the reachability probe: TCP connect, then an HTTP answer to GET /health
HTTP_LIMITS = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "5", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
               "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1"}
HTTP_CALL_BOUND_S = 3 * 5 + (1 + 2) + 3  # 3 tries of 5 s, backoff 1 s then 2 s, jitter up to 1 s each
# MLflow's REST client (requests) follows redirects by default, POST bodies included (307/308).
REDIRECTS = "MLFLOW_ALLOW_HTTP_REDIRECTS"
REDIRECT_STATUS = re.compile(r"failed with error code (3\d\d)\b")  # how MLflow reports one it did not follow
# What the reachability probe asks for: the health check, and the first call the sink makes.
PROBES = ("/health", "/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default")
# Metric points wait for a full batch or this long: each log_batch is a SQL transaction (or an HTTP
# request) of ~10 ms of Python, on a thread that shares the GIL with training.
BATCH_POINTS = 1000
BATCH_SECONDS = 5.0


class MlflowSink:
    name = "mlflow"

    def __init__(self, client: MlflowClient, mlflow_run_id: str, run_dir: Path, log_path: Path,
                 push_every: int | None, params: dict[str, str] | None = None, uri: str = "",
                 run_id: str = "RUN") -> None:
        self.client = client
        self.uri, self.run_id = uri, run_id  # for the words of a refused redirect
        self.redirects: dict[str, str | None] = {}  # endpoint -> where the server said it points (asked once)
        self.mlflow_run_id = mlflow_run_id
        self.run_dir, self.log_path = Path(run_dir).resolve(), Path(log_path).resolve()
        self.cadence = PushCadence(push_every)
        self.params = dict(params or {})  # what the MLflow run holds already (a resumed run)
        self.ended = False
        self.buffer: list[Metric] = []  # points not sent yet (see BATCH_POINTS)
        self.buffered_records = 0  # the records they came from
        self.sent_at = time.monotonic()
        self.lost = 0  # records of earlier batches whose buffered points a failed call took with it

    @classmethod
    def for_run(cls, context: RunContext) -> MlflowSink:
        options = context.options
        uri = tracking_uri(options.store.tracking_uri, Path(context.run_dir).resolve().parent)
        check_reachable(uri)
        try:
            client = MlflowClient(tracking_uri=uri)  # refuses a file store (./mlruns) unless told otherwise
            experiment = experiment_id(client, options.store.experiment_name, uri)
            run = find_run(client, experiment, context.run_id)
            if run is None:
                run = client.create_run(experiment, run_name=options.store.run_name or context.run_id, tags={
                    RUN_TAG: context.run_id, "rl.env_id": options.env.env_id,
                    "rl.algorithm": options.agent.algorithm, "rlops.trace_id": context.trace_id})
            elif run.info.status != "RUNNING":
                reopen(client, run)
        except MlflowException as exc:
            redirect = REDIRECT_STATUS.search(exc.message)
            if redirect:
                raise _redirected(uri, f"answered with a redirect (HTTP {redirect.group(1)})") from exc
            raise BackendError(f"MLflow at {uri} refused the run: {exc.message}",
                               hint="check --store.tracking-uri and --store.experiment-name; the JSONL log stays "
                                    "complete and `rlops export RUN --to mlflow` can publish it later") from exc
        return cls(client, run.info.run_id, context.run_dir, context.log_path, options.store.checkpoint_freq or None,
                   run.data.params, uri=uri, run_id=context.run_id)

    @contextmanager
    def _redirects_explained(self) -> Iterator[None]:
        """A redirect MLflow met mid-run (and did not follow) raised as rlops's own ``BackendError``."""
        try:
            yield
        except MlflowException as exc:
            call = redirected_call(exc.message)
            if call is None:
                raise
            endpoint, status = call
            if endpoint not in self.redirects:  # asked once: every later batch fails the same way
                self.redirects[endpoint] = where_it_points(self.uri, endpoint)
            raise refused_mid_run(self.uri, endpoint, status, self.redirects[endpoint], self.run_id,
                                  self.log_path) from exc

    def export(self, batch: Sequence[Record]) -> None:
        with self._redirects_explained():
            self._export(batch)

    def _export(self, batch: Sequence[Record]) -> None:
        earlier = self.buffered_records  # the dispatcher counts this batch if a call raises; these are ours
        try:
            for record in batch:
                if isinstance(record, Metrics | Episode | Eval):
                    self.buffer.extend(metrics_of(record))
                    self.buffered_records += 1
                elif isinstance(record, Meta):
                    self._meta(record)
                elif isinstance(record, Checkpoint):
                    self._push(self.cadence.offer(record))
                elif isinstance(record, Artifact) and record.action == "added" and "://" not in record.path:
                    self._upload(record.path)
                elif isinstance(record, End):
                    self._send_metrics()  # the status comes last
                    self._end(record)
            if len(self.buffer) >= BATCH_POINTS or time.monotonic() - self.sent_at >= BATCH_SECONDS:
                self._send_metrics()
        except Exception:
            self.lost += min(earlier, self.buffered_records)
            self.buffer, self.buffered_records = [], 0
            raise

    def _send_metrics(self) -> None:
        # MlflowClient splits a batch into calls within the server's limits (1000 metrics, 100
        # params or tags a call). Synchronous, whatever $MLFLOW_ENABLE_ASYNC_LOGGING says: a server
        # that fails must raise here, where the dispatcher counts the drop.
        if self.buffer:
            self.client.log_batch(self.mlflow_run_id, metrics=self.buffer, synchronous=True)
        self.buffer, self.buffered_records, self.sent_at = [], 0, time.monotonic()

    def _meta(self, record: Meta) -> None:
        """Params once; a value that changed on resume (train.total_timesteps...) becomes a tag,
        since MLflow refuses to change a logged param."""
        if self.ended:  # a replayed log goes on after an end record: the run was resumed
            reopen(self.client, self.client.get_run(self.mlflow_run_id))
            self.ended = False
        params, tags = [], []
        for key, value in flatten(record.config).items():
            before = self.params.get(key)
            if before is None:
                params.append(Param(key, value))
                self.params[key] = value
            elif before != value:
                tags.append(RunTag(CHANGED_TAG + key, value))
        tags += [RunTag(key, value) for key, value in (("mlflow.source.git.commit", record.git_commit),
                                                       ("rl.device", record.device)) if value]
        if params or tags:
            self.client.log_batch(self.mlflow_run_id, params=params, tags=tags, synchronous=True)

    def _push(self, record: Checkpoint | None) -> None:
        if record is not None:
            self._upload(record.path)  # checkpoints/step-.../

    def _upload(self, relative: str) -> None:
        """A file or directory of the run, at the same place among the run's artifacts."""
        path = inside_run_dir(self.run_dir, relative)
        parent = str(Path(relative).parent)
        if path is None:
            log.warning("mlflow: %s leaves the run directory, not uploaded", relative)
        elif path.is_dir():
            self.client.log_artifacts(self.mlflow_run_id, str(path), relative)
        elif path.is_file():
            self.client.log_artifact(self.mlflow_run_id, str(path), None if parent == "." else parent)
        else:  # gone (pruned before a replay reached it): no backend failure, so no dropped batch
            log.warning("mlflow: %s is gone, not uploaded", path)

    def _end(self, record: End) -> None:
        try:
            self._push(self.cadence.take())
            if self.log_path.is_file():  # complete here: the producer flushed it, end record included
                self.client.log_artifact(self.mlflow_run_id, str(self.log_path))
            if (self.run_dir / "eval.json").is_file():
                self._upload("eval.json")
        finally:  # an upload that fails must not leave the MLflow run RUNNING for ever
            if record.reason:
                self.client.set_tag(self.mlflow_run_id, REASON_TAG, record.reason[:MAX_PARAM_VALUE])
            self.client.set_terminated(self.mlflow_run_id, STATUSES.get(record.status, "FAILED"),
                                       end_time=_ms(record.t))
            self.ended = True

    def flush(self) -> None:
        with self._redirects_explained():
            try:
                self._send_metrics()
            except Exception:
                self.lost += self.buffered_records
                self.buffer, self.buffered_records = [], 0
                raise

    def shutdown(self) -> None:
        # Without an end record (a replayed log of a killed run) the last checkpoint still goes up,
        # and the status stays RUNNING: the reconciler marks it once the run is known lost.
        if not self.ended:
            self.flush()
            with self._redirects_explained():
                self._push(self.cadence.take())


def metrics_of(record: Metrics | Episode | Eval) -> Iterator[Metric]:
    """The series every backend charts (``sinks.series``); lists (action_hist) have no MLflow form."""
    timestamp = _ms(record.t)
    for key, value in series_of(record).items():
        if not isinstance(value, list):
            yield Metric(metric_key(key), float(value), timestamp, record.env_steps)


@functools.lru_cache(maxsize=4096)
def metric_key(key: str) -> str:
    """A name MLflow accepts: its characters (no colon, which Windows stores refuse), and no
    path tricks (``a//b``, ``/a``, ``..``) since MLflow may store a name as a file."""
    parts = [re.sub(r"[^/\w.\- ]", "_", part) for part in key.split("/")]
    parts = [part if part not in ("", ".", "..") else "_" for part in parts]
    return "/".join(parts)[:MAX_KEY]


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested options as dotted params, values as text (JSON but for strings) within MLflow's limit."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, dotted + "."))
        else:
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            flat[metric_key(dotted)] = text[:MAX_PARAM_VALUE]
    return flat


def _ms(t: float) -> int:
    return int(round(t * 1000))


# -- where the MLflow run lives: shared with services.reconcile ------------------------------------

def tracking_uri(configured: str | None, model_dir: Path) -> str:
    """``store.tracking_uri``, else ``$MLFLOW_TRACKING_URI``, else a SQLite store in ``model_dir``.

    Not MLflow's own default: it depends on the directory the process starts in, and MLflow 3
    refuses a new file store (``./mlruns``) unless told otherwise."""
    if configured and not configured.startswith("s3://"):  # an s3:// URL there is the s3 backend's
        return configured
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(model_dir).resolve() / DATABASE}"


def artifact_location(uri: str) -> str | None:
    """Where a new experiment of a local SQLite store keeps its files: beside the database, not
    in ``./mlruns`` of whatever directory the process runs in. A server decides its own."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri[len("sqlite:///"):].split("?")[0])
    return (database.resolve().parent / "mlartifacts").as_uri()


def check_reachable(uri: str) -> None:
    """Fail in seconds on a server that is down or does not answer: MLflow's own client retries
    for minutes. A server that accepts connections but never answers passes a TCP connect, so
    this asks for ``/health`` and wants an HTTP answer (any status: a proxy's 401 is an answer).

    A redirect is refused here, naming where it points, without connecting there: the URI passed
    the dashboard's allowlist (``api.reach``), the place it redirects to never did."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return
    limit_http_client()
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    kind = http.client.HTTPSConnection if parsed.scheme == "https" else http.client.HTTPConnection
    for probe in PROBES:
        connection = kind(parsed.hostname, port, timeout=CONNECT_TIMEOUT_S)
        try:
            try:
                connection.connect()
            except OSError as exc:
                raise _unreachable(uri, f"cannot be reached: {exc}") from None
            try:
                connection.request("GET", parsed.path.rstrip("/") + probe)
                response = connection.getresponse()
                response.read(256)
            except (OSError, http.client.HTTPException) as exc:
                raise _unreachable(uri, f"accepts connections but did not answer within {CONNECT_TIMEOUT_S:g} s "
                                        f"({type(exc).__name__}: {exc})") from None
        finally:
            connection.close()
        if 300 <= response.status < 400:
            where = response.getheader("Location") or "(no Location header)"
            raise _redirected(uri, f"redirected {probe.split('?')[0]} to {where[:200]} (HTTP {response.status})")


def _unreachable(uri: str, what: str) -> BackendError:
    return BackendError(f"MLflow tracking server {uri} {what}",
                        hint="start it (mlflow server ...) or fix --store.tracking-uri; the JSONL log stays "
                             "complete and `rlops export RUN --to mlflow` can publish the run later")


def _redirected(uri: str, what: str) -> BackendError:
    return BackendError(f"MLflow tracking server {uri} {what}: rlops does not follow a tracking server's redirects "
                        "(one could lead the run to an address that was never allowed)",
                        hint="set --store.tracking-uri to the address the server itself answers on; the JSONL log "
                             "stays complete and `rlops export RUN --to mlflow` can publish the run later")


def limit_http_client() -> None:
    """Short timeouts and few retries for MLflow's REST client (it reads them from the environment
    at every request; a user's own settings win): a server that stops answering mid-run costs the
    sink's thread at most ~``HTTP_CALL_BOUND_S`` a call, not MLflow's 120 s x 7 retries.

    Redirects are off whatever the environment says: MLflow then hands a redirect back as an
    error instead of sending the request (a POST body with a 307) where it points."""
    for name, value in HTTP_LIMITS.items():
        os.environ.setdefault(name, value)
    os.environ[REDIRECTS] = "false"


def experiment_id(client: MlflowClient, name: str, uri: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=artifact_location(uri))
        except MlflowException:
            experiment = client.get_experiment_by_name(name)  # another run created it meanwhile
            if experiment is None:
                raise
    if experiment.lifecycle_stage == "deleted":
        raise BackendError(f"MLflow experiment {name!r} at {uri} is deleted",
                           hint=f"restore it (mlflow experiments restore --experiment-id {experiment.experiment_id}) "
                                "or choose another --store.experiment-name")
    return experiment.experiment_id


def reopen(client: MlflowClient, run: Any) -> None:
    """A resumed run goes on: RUNNING again, and why it ended before no longer holds."""
    client.update_run(run.info.run_id, status="RUNNING")
    if REASON_TAG in run.data.tags:
        client.delete_tag(run.info.run_id, REASON_TAG)


def find_run(client: MlflowClient, experiment: str, run_id: str) -> Any:
    """The MLflow run of an rlops run, by its tag (run ids are plain names: no quoting needed)."""
    runs = client.search_runs([experiment], filter_string=f"tags.`{RUN_TAG}` = '{run_id}'", max_results=1)
    return runs[0] if runs else None


def fail_lost_run(store: dict[str, Any], run_dir: Path, run_id: str, reason: str) -> bool:
    """Mark the MLflow run of a run whose process died FAILED; False if there is none to mark.

    ``store`` is the run's saved ``store`` options, so the same store is found as the run used."""
    uri = tracking_uri(store.get("tracking_uri"), Path(run_dir).resolve().parent)
    check_reachable(uri)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(store.get("experiment_name") or "default")
    run = find_run(client, experiment.experiment_id, run_id) if experiment is not None else None
    if run is None or run.info.status != "RUNNING":
        return False
    client.set_tag(run.info.run_id, REASON_TAG, reason[:MAX_PARAM_VALUE])
    client.set_terminated(run.info.run_id, "FAILED")
    return True
