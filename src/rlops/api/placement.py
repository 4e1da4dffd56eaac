"""Where a run started over HTTP executes: the backend (``orchestrator.backend``) and the run's Ray
options. A start request may choose them only on a server that has a Ray cluster configured
(its own ``orchestrator.backend`` is ray, or it names a ``ray.address``); elsewhere they would only
clutter the form. They become the options of the service that queues the run, never flags of the
trainer, and they pass the same per-option checks as the rest (``ray.address`` is an address:
``rlops.api.reach`` holds it to ``ui.allowed_endpoints``).
"""

from __future__ import annotations

from typing import Any

from rlops.options.schema import Options

BACKEND = "orchestrator.backend"
# What each run reserves and how often it may start again; where its files live on the nodes
# (ray.node_dir) is the server's own business.
RAY_OPTIONS = ("ray.address", "ray.num_cpus", "ray.num_gpus", "ray.resources", "ray.max_retries")
PLACEMENT = (BACKEND, *RAY_OPTIONS)


def offered(own: Options) -> bool:
    """Whether the server's options configure a Ray cluster, so the form offers the backend."""
    return own.orchestrator.backend == "ray" or own.ray.address != "auto"


def not_offered(option: str) -> str:
    return (f"this server has no Ray cluster configured, so its runs execute here ({option} is not offered); start "
            f"the server with "
            f"--orchestrator.backend ray or --ray.address HOST:PORT, or the run from a terminal: "
            f"rlops runs start --orchestrator.backend ray --ray.address HOST:PORT -- ...")


def own_value(own: Options, option: str) -> Any:
    section, key = option.split(".", 1)
    return getattr(getattr(own, section), key)


def cluster_problem(own: Options, option: str, value: Any) -> str | None:
    """A server joins one Ray cluster (its supervisor and every start request share one process,
    and a process joins one cluster): a run on another one is refused, not sent to the wrong one."""
    if option != "ray.address" or value == own.ray.address:
        return None
    return (f"this server runs its Ray runs on the cluster at {own.ray.address!r} (its ray.address), and a process "
            f"joins one cluster; start a run on {value!r} from a terminal: rlops runs start --orchestrator.backend "
            f"ray --ray.address {value} -- ...")


def split(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the run's own options, where it executes) of a checked request."""
    run = {key: value for key, value in values.items() if key not in PLACEMENT}
    return run, {key: value for key, value in values.items() if key in PLACEMENT}


def placed(own: Options, where: dict[str, Any]) -> Options:
    """The server's options with a request's placement: the options of the service that queues the run."""
    if not where:
        return own
    data = own.model_dump()
    for option, value in where.items():
        section, key = option.split(".", 1)
        data[section][key] = value
    return Options.model_validate(data)
