"""Which sinks a run has, by name, and how each is built (imported only when a run asks for it).

The SQLite run store's ingest runs unless the orchestrator supervises the run (its daemon ingests
the log itself); ``otel`` runs when metrics, traces or logs are enabled; each name in
``store.backend`` but ``local`` adds its backend. A sink that cannot be built (a missing
extra, a server that refuses at start) is reported and left out, never fatal: the JSONL log is
the source of truth and ``rlops export`` can publish the run later.

The backends in ``OPENED_OFF_THREAD`` talk to a server (or import seconds of library) as they
open, so a run gets them as ``OpeningSink``s: built on their own dispatcher thread, while
training goes on (docs/telemetry.md, "Remote sinks never hold training").
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os

from rlops.errors import RlopsError
from rlops.sinks.base import RunContext, Sink
from rlops.sinks.opening import OpeningSink

log = logging.getLogger(__name__)

# name: (module:factory, the extra that brings its dependencies)
FACTORIES: dict[str, tuple[str, str | None]] = {
    "sqlite": ("rlops.sinks.sqlite:SqliteSink.for_run", None),
    "otel": ("rlops.sinks.otel:OtelSink.for_run", "otlp"),
    "tensorboard": ("rlops.sinks.tensorboard:TensorBoardSink.for_run", "tensorboard"),
    "mlflow": ("rlops.sinks.mlflow:MlflowSink.for_run", "mlflow"),
    "wandb": ("rlops.sinks.wandb:WandbSink.for_run", "wandb"),
    "s3": ("rlops.sinks.s3:S3Sink.for_run", "s3"),
}
# name: the library its backend needs, looked up (not imported) on the training thread, so that a
# missing extra is still reported at once.
OPENED_OFF_THREAD = {"otel": "opentelemetry.sdk", "mlflow": "mlflow", "wandb": "wandb", "s3": "boto3"}


# Set by the orchestrator in a run it supervises (its rlops runner): the daemon ingests that run's
# log into the store, so the run's own process adds no store sink (one ingest a run: ``rlops.sinks``).
SUPERVISED_ENV = "RLOPS_SUPERVISED"


def wanted(context: RunContext) -> list[str]:
    options = context.options
    names = [] if os.environ.get(SUPERVISED_ENV) == "1" else ["sqlite"]
    if options.metrics.enable or options.traces.enable or options.logs.enable:
        names.append("otel")
    names += options.store.backends
    return names


def build(name: str, context: RunContext) -> Sink:
    target, _ = FACTORIES[name]
    module_name, _, attribute = target.partition(":")
    factory = importlib.import_module(module_name)
    for part in attribute.split("."):
        factory = getattr(factory, part)
    return factory(context)


def build_sinks(context: RunContext, names: list[str] | None = None) -> tuple[list[Sink], dict[str, str]]:
    """The run's sinks, and those that could not start (name: why, with what to do)."""
    sinks: list[Sink] = []
    unavailable: dict[str, str] = {}
    for name in wanted(context) if names is None else names:
        try:
            if name in OPENED_OFF_THREAD:
                if _missing(OPENED_OFF_THREAD[name]):
                    raise ImportError(f"No module named {OPENED_OFF_THREAD[name]!r}")
                sinks.append(OpeningSink(name, lambda name=name: _build_helpfully(name, context)))
            else:
                sinks.append(build(name, context))
        except ImportError as exc:
            unavailable[name] = _install_hint(name, exc)
        except (RlopsError, OSError, ValueError, RuntimeError) as exc:
            unavailable[name] = str(exc)
    for name, why in unavailable.items():
        log.warning("sink %s is unavailable, the run goes on without it (the JSONL log is complete): %s", name, why)
    return sinks, unavailable


def _build_helpfully(name: str, context: RunContext) -> Sink:
    try:
        return build(name, context)
    except ImportError as exc:
        raise RlopsError(_install_hint(name, exc)) from exc


def _install_hint(name: str, exc: ImportError) -> str:
    return f"{exc} (install it with: pip install -c constraints.txt 'rlops[{FACTORIES[name][1]}]')"


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):
        return True
