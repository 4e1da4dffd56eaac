"""``rlops serve``: a policy behind HTTP that follows the registry.

    POST /v1/act     {"observation": [...]} or {"observations": [[...], ...]} -> actions
    GET  /v1/model   the model being served: id, metrics, hash, shape, and the hot swap mode in force
    GET  /healthz    liveness

The ``Hotswapper`` polls the registry; when a better validated model (``serve.hotswap = best``)
or a newly promoted production model (``production``) appears for the served env, it is loaded
and verified beside the current one, then a single reference is swapped. A request in flight
keeps the policy it started with, so no request fails or waits during a swap.

Two checkpoint formats serve: rlops's own (a network, ``ServedPolicy``) and the Q-table of tabular
runtimes (``QTablePolicy``: an observation is a state index, the action the greedy one); a swap
may go from one to the other when both were made for the served env.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from rlops.api.errors import error
from rlops.api.reach import is_loopback
from rlops.errors import RlopsError, UsageError
from rlops.options.schema import Options
from rlops.pipeline.checkpoints import read_checkpoint
from rlops.pipeline.qtable import is_qtable
from rlops.services.policy import ObservationError, ServedPolicy
from rlops.services.qtable_policy import QTablePolicy
from rlops.services.registry_ops import choose_model
from rlops.store.registry import Registry

log = logging.getLogger("rlops.serve")

Policy = ServedPolicy | QTablePolicy


class ActRequest(BaseModel):
    observation: Any = Field(None, description="one observation, shaped as GET /v1/model's observation_shape")
    observations: Any = Field(None, description="a batch: a list of observations")
    deterministic: bool = Field(True, description="greedy actions (default), or sampled ones")


class PolicyHolder:
    """The policy being served; swapped whole, never mutated."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.swaps = 0

    def swap(self, policy: Policy) -> None:
        self.policy = policy  # one reference assignment: atomic for every reader
        self.swaps += 1


class Hotswapper(threading.Thread):
    def __init__(self, holder: PolicyHolder, db_path: str, mode: str, interval: float, device: str = "cpu") -> None:
        super().__init__(name="rlops-hotswap", daemon=True)
        self.holder, self.db_path, self.mode, self.interval, self.device = holder, db_path, mode, interval, device
        self.stopped = threading.Event()
        self.last_error: str | None = None

    def run(self) -> None:
        registry = Registry(self.db_path)
        try:
            while not self.stopped.wait(self.interval):
                try:
                    self.check(registry)
                except RlopsError as exc:  # a damaged candidate: keep serving, say it once
                    if str(exc) != self.last_error:
                        log.warning("hotswap skipped: %s", exc)
                        self.last_error = str(exc)
        finally:
            registry.close()

    def check(self, registry: Registry) -> bool:
        current = self.holder.policy
        env_id = current.describe()["env_id"]
        candidate = registry.production(env_id) if self.mode == "production" else registry.best(env_id)
        if candidate is None or candidate["id"] == current.model_row.get("id"):
            return False
        if self.mode == "best" and (current.model_row.get("mean_reward") is not None and current.model_row["validated"]
                                    and candidate["mean_reward"] <= current.model_row["mean_reward"]):
            return False
        row = choose_model(registry, model_id=candidate["id"])  # verified, validated
        policy = served_policy(row, self.device)
        if policy.shape != current.shape:
            raise UsageError(f"model {row['id']} takes observations of shape {list(policy.shape)}, the served one "
                             f"{list(current.shape)}: not swapped")
        self.holder.swap(policy)
        log.info("hotswap: now serving model %s (mean reward %s), was %s", row["id"], row["mean_reward"],
                 current.model_row.get("id"))
        return True


def create_app(holder: PolicyHolder, token: str | None = None, hotswap: str = "off") -> FastAPI:
    if token is not None and not token.strip():  # the options make a blank token none; never a secret
        raise UsageError("an empty serve.token would let every request in", hint="give a token, or none on loopback")
    app = FastAPI(title="rlops policy server", version="1", description=__doc__)

    @app.middleware("http")
    async def require_token(request: Request, call_next):  # noqa: ANN001, ANN202
        if token is not None and request.url.path != "/healthz":
            given = request.headers.get("authorization", "")
            if not given.removeprefix("Bearer ").strip() or \
                    not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return error(401, "a bearer token is required", "send the header 'Authorization: Bearer <serve.token>'")
        return await call_next(request)

    @app.exception_handler(ObservationError)
    async def bad_observation(_: Request, exc: ObservationError) -> JSONResponse:
        return error(422, exc.message, exc.hint)

    # Async on purpose: a forward pass takes a fraction of a millisecond and the policy serializes
    # them anyway, so a hop to the thread pool per request would cost more than it could overlap.
    @app.post("/v1/act")
    async def act(body: ActRequest) -> dict[str, Any]:
        policy = holder.policy  # this request's policy, whatever a swap does meanwhile
        if (body.observation is None) == (body.observations is None):
            raise ObservationError("give exactly one of 'observation' and 'observations'",
                                   hint=f"one observation has shape {list(policy.shape)}")
        if body.observations is not None:
            actions, _ = policy.act(body.observations, body.deterministic)
            if actions.ndim == 0 or len(actions) != len(body.observations):
                raise ObservationError(f"'observations' must be a list of observations of shape {list(policy.shape)}")
            return {"actions": actions.tolist(), "model_id": policy.model_row.get("id")}
        action, batch = policy.act(body.observation, body.deterministic)
        if batch:
            raise ObservationError(f"'observation' holds a batch; send it as 'observations' (one observation has "
                                   f"shape {list(policy.shape)})")
        return {"action": action.tolist(), "model_id": policy.model_row.get("id")}

    @app.get("/v1/model")
    def model() -> dict[str, Any]:
        return {**holder.policy.describe(), "swaps": holder.swaps, "hotswap": hotswap}

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "model_id": holder.policy.model_row.get("id")}

    return app


def served_policy(row: dict[str, Any], device: str) -> Policy:
    """A registry row ``choose_model`` picked (validated, intact) as the policy its format makes."""
    path = Path(row["model_path"])
    if is_qtable(path):
        return QTablePolicy(path, model_row=row)
    return ServedPolicy(read_checkpoint(path, verify=False), device=device, model_row=row)


def _device(options: Options) -> str:
    return "cpu" if options.infer.device == "auto" else options.infer.device


def initial_policy(options: Options, checkpoint: Any = None) -> Policy:
    """The model to start with: a checkpoint (an opened rlops one, or a Q-table's directory), or the
    registry's choice (infer.* options)."""
    device = _device(options)
    if checkpoint is not None:
        path = checkpoint if isinstance(checkpoint, Path) else checkpoint.path
        row = None
        if options.registry.enable:
            registry = Registry(options.store.db_path)
            try:
                row = registry.by_path(path.resolve())
            finally:
                registry.close()
        if isinstance(checkpoint, Path):
            return QTablePolicy(checkpoint, model_row=row)
        return ServedPolicy(checkpoint, device=device, model_row=row)
    infer = options.infer
    registry = Registry(options.store.db_path)
    try:
        load_best = infer.load_best or (infer.model_id is None and infer.status is None)
        row = choose_model(registry, infer.model_id, load_best, infer.env_id, infer.status, infer.allow_unvalidated)
    finally:
        registry.close()
    return served_policy(row, device)


def serve(options: Options, policy: Policy, ready: Any = None) -> None:
    """Run the server until interrupted; ``ready(url)`` is called once it listens."""
    import uvicorn

    serve_options = options.serve
    if not is_loopback(serve_options.host) and not (serve_options.token or "").strip():
        raise UsageError(f"binding to {serve_options.host} exposes the policy beyond this machine",
                         hint="set --serve.token (clients send 'Authorization: Bearer TOKEN'), or bind 127.0.0.1")
    holder = PolicyHolder(policy)
    swapper = None
    if serve_options.hotswap != "off" and options.registry.enable:
        swapper = Hotswapper(holder, options.store.db_path, serve_options.hotswap, serve_options.poll_interval,
                             device=_device(options))
        swapper.start()
    hotswap = serve_options.hotswap if swapper is not None else "off"  # no registry to follow: off, whatever was asked
    config = uvicorn.Config(create_app(holder, serve_options.token, hotswap), host=serve_options.host,
                            port=serve_options.port, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    if ready is not None:
        threading.Thread(target=_announce, args=(server, ready), daemon=True).start()
    try:
        server.run()
    finally:
        if swapper is not None:
            swapper.stopped.set()


def _announce(server: Any, ready: Any) -> None:
    while not server.started:
        time.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    ready(f"http://{host}:{port}")
