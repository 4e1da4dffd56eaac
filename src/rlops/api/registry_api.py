"""The registry over HTTP, for the checkpoint browser: models with their scores, validation and
integrity; evaluate, validate, promote, deploy and import.

    GET  /api/models?env_id=&algorithm=&status=&validated=&verify_files=
    POST /api/models/{id}/evaluate          what ``rlops eval --model-id ID`` does: eval.episodes
                                            episodes under a lease, the score recorded, the rules applied
    POST /api/models/{id}/validate          the registry rules of the server's options, applied now
    POST /api/models/{id}/promote  {"to": "production" | "staging" | "archived" | "none"}
    POST /api/models/{id}/deploy            promote to production, and say what the policy server serves
    POST /api/models/import        {"path": "/abs/checkpoint-or-run-dir"}   copied into managed storage
                                            (409 naming the model when those files are registered already)
    GET  /api/serving                       the policy server (serve.host:serve.port): reachable, serving
                                            what, and its own hot swap setting (not this server's)

Deploying is promotion: a policy server started with ``serve.hotswap production`` swaps to each
newly promoted production model within ``serve.poll_interval``; the answer says what it serves
at the moment of the request.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from rlops.api.per_request import per_request
from rlops.options.schema import Options, ServeOptions
from rlops.services.registry_ops import import_checkpoint, resolve_model, rules_from, validate, verify
from rlops.store.registry import Registry

# A policy server that is down refuses at once; one that is up but busy (a hot swap loading a model,
# a loaded machine) may take a second or two to answer, and 1 s called it unreachable (CI, load 7).
SERVER_TIMEOUT_S = 3.0


class PromoteRequest(BaseModel):
    to: str


class ImportRequest(BaseModel):
    path: str


def add_registry_routes(app: FastAPI, db_path: str | Path, options: Options | None) -> None:
    settings = options or Options()
    evaluating = settings.model_copy(deep=True)  # its score goes to this server's registry
    evaluating.store.db_path = str(db_path)

    registry = per_request(lambda: Registry(db_path))

    @app.get("/api/models")
    def models(env_id: str | None = None, algorithm: str | None = None, status: str | None = None,
               validated: bool | None = None, verify_files: bool = False,
               db: Registry = Depends(registry)) -> list[dict[str, Any]]:
        rows = db.list(validated=validated, env_id=env_id, algorithm=algorithm, status=status)
        if verify_files:  # rehash every file: the browser's integrity badge
            checks = {check.model_id: check for check in verify(db, [row["id"] for row in rows])}
            rows = [{**row, "integrity": asdict(checks[row["id"]])} for row in rows]
        return rows

    @app.post("/api/models/{model_id}/evaluate")
    def evaluate(model_id: int, db: Registry = Depends(registry)) -> dict[str, Any]:
        from rlops.pipeline.loading import load_policy
        from rlops.services.scoring import score

        # As rlops eval --model-id: evaluating is how a model gets validated, so it may be unvalidated.
        row, checkpoint = resolve_model(db, model_id=model_id, allow_unvalidated=True)
        loaded = load_policy(checkpoint, device=settings.infer.device)
        try:
            scored = score(evaluating, loaded, row)
        finally:
            loaded.close()
        return {"model": db.get(model_id), "eval": scored.result.to_dict(),
                "validation": scored.validation.to_dict() if scored.validation else None,
                "unrecorded": scored.unrecorded}

    @app.post("/api/models/{model_id}/validate")
    def revalidate(model_id: int, db: Registry = Depends(registry)) -> dict[str, Any]:
        rules = rules_from(settings.registry)
        return asdict(validate(db, model_id, rules))

    @app.post("/api/models/{model_id}/promote")
    def promote(model_id: int, body: PromoteRequest, db: Registry = Depends(registry)) -> dict[str, Any]:
        archived = db.promote(model_id, body.to)
        return {"model": db.get(model_id), "archived": archived}

    @app.post("/api/models/{model_id}/deploy")
    def deploy(model_id: int, db: Registry = Depends(registry)) -> dict[str, Any]:
        archived = db.promote(model_id, "production")
        return {"model": db.get(model_id), "archived": archived, "server": serving_status(settings.serve)}

    @app.get("/api/serving")
    def serving() -> dict[str, Any]:
        return serving_status(settings.serve)

    @app.post("/api/models/import", status_code=201)
    def import_model(body: ImportRequest, db: Registry = Depends(registry)) -> dict[str, Any]:
        model_id = import_checkpoint(db, Path(body.path), Path(settings.store.model_dir) / "registry")
        return db.get(model_id)


def serving_status(serve: ServeOptions) -> dict[str, Any]:
    """What the policy server of these options serves now, asked over loopback with its token, and
    its hot swap setting as it reports it: that server's own, which need not be this one's
    ``serve.hotswap`` (None when no server answers, or one too old to say)."""
    host = "127.0.0.1" if serve.host in ("0.0.0.0", "::", "") else serve.host
    url = f"http://{host}:{serve.port}"
    request = urllib.request.Request(f"{url}/v1/model")
    if serve.token:
        request.add_header("Authorization", f"Bearer {serve.token}")
    try:
        with urllib.request.urlopen(request, timeout=SERVER_TIMEOUT_S) as answer:
            serving = json.loads(answer.read())
    except (OSError, ValueError, urllib.error.URLError):
        serving = None
    hotswap = serving.get("hotswap") if isinstance(serving, dict) else None
    return {"url": url, "reachable": serving is not None, "serving": serving, "hotswap": hotswap}
