"""Which sinks a run has, by name, and how each is built (imported only when a run asks for it).

The SQLite run store always runs; ``otel`` runs when metrics, traces or logs are enabled; each
name in ``store.backend`` but ``local`` adds its backend. A sink that cannot be built (a missing
extra, a server that refuses at start) is reported and left out, never fatal: the JSONL log is
the source of truth and ``rlops export`` can publish the run later.
"""

from __future__ import annotations

import importlib
import logging

from rlops.errors import RlopsError
from rlops.sinks.base import RunContext, Sink

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


def wanted(context: RunContext) -> list[str]:
    options = context.options
    names = ["sqlite"]
    if options.metrics.enable or options.traces.enable or options.logs.enable:
        names.append("otel")
    names += [name.strip() for name in options.store.backend.split(",") if name.strip() not in ("local", "")]
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
            sinks.append(build(name, context))
        except ImportError as exc:
            extra = FACTORIES[name][1]
            unavailable[name] = f"{exc} (install it with: pip install -c constraints.txt 'rlops[{extra}]')"
        except (RlopsError, OSError, ValueError, RuntimeError) as exc:
            unavailable[name] = str(exc)
    for name, why in unavailable.items():
        log.warning("sink %s is unavailable, the run goes on without it (the JSONL log is complete): %s", name, why)
    return sinks, unavailable
