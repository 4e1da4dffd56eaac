"""One offline run, from rlops's side: check the dataset, run the d3rlpy adapter in its own
interpreter, pass its records on, register each checkpoint it writes (tagged with the dataset's
name and sha256), then score the last one with rlops's own evaluation, which loads the exported
TorchScript policy without d3rlpy, and write that score onto the model's registry row.

Launched by the ``offline`` runner as ``python -m rlops.offline.session``; its stdout is the
run's record stream (the ``command`` protocol: the worker renumbers and stores the records).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ADAPTER = Path(__file__).with_name("d3rlpy_adapter.py")
OPTIONS_VARIABLE = "RLOPS_OFFLINE_OPTIONS"  # the run's option snapshot (JSON), set by the runner


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m rlops.offline.session")
    parser.add_argument("--python", required=True, help="d3rlpy's interpreter")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--run-dir", required=True, type=Path)
    args, adapter_args = parser.parse_known_args(argv)  # the rest is the adapter's
    args.adapter_args = [arg for arg in adapter_args if arg != "--"]
    return args


def main(argv: list[str] | None = None) -> int:
    from rlops.datasets.catalog import DatasetCatalog
    from rlops.errors import RlopsError

    args = parse(argv)
    catalog = DatasetCatalog(args.model_dir, args.db)
    try:
        dataset = catalog.open(args.dataset)  # again: it may have changed since the run was queued
    except RlopsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        catalog.close()
    options = json.loads(os.environ[OPTIONS_VARIABLE])
    tags = {"offline_dataset": dataset.name, "dataset_sha256": dataset.sha256, "runner": "offline"}
    manifest = {"options": options, "policy_format": "torchscript",
                "offline": {"library": "d3rlpy", "algorithm": options["agent"]["algorithm"], **tags}}
    extra = args.run_dir / "offline_manifest.json"
    extra.write_text(json.dumps(manifest), encoding="utf-8")
    command = [args.python, str(ADAPTER), "--dataset-dir", str(dataset.path), "--env", options["env"]["env_id"],
               "--out", str(args.run_dir), "--manifest-json", str(extra), *args.adapter_args]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, bufsize=1)
    signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))  # the adapter stops at its epoch
    registered: dict[str, int] = {}
    end: str | None = None
    assert child.stdout is not None
    for line in child.stdout:
        record = _record(line)
        if record and record.get("type") == "end":
            end = line
            continue
        sys.stdout.write(line)
        sys.stdout.flush()
        if record and record.get("type") == "checkpoint":
            model_id = _register(args, options, record, tags)
            if model_id is not None:
                registered[record["path"]] = model_id
    code = child.wait()
    if registered:
        last = max(registered, key=lambda path: int(path.rsplit("-", 1)[-1].split(".")[0]))
        _score(args, options, last, registered[last])
    if end is not None:
        sys.stdout.write(end)
        sys.stdout.flush()
    return code


def _record(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) and record.get("v") == 1 else None


def _register(args: argparse.Namespace, options: dict[str, Any], record: dict[str, Any],
              tags: dict[str, Any]) -> int | None:
    from rlops.errors import RlopsError
    from rlops.pipeline.checkpoints import read_checkpoint
    from rlops.services.registry_ops import register_checkpoint
    from rlops.store.registry import Registry

    try:
        checkpoint = read_checkpoint(args.run_dir / record["path"])
        registry = Registry(args.db)
        try:
            return register_checkpoint(registry, checkpoint, run_id=args.run_dir.name, tags=tags)
        finally:
            registry.close()
    except RlopsError as exc:  # like a sink: the run goes on, the log says why the model is not registered
        print(f"warning: checkpoint {record['path']} not registered: {exc}", file=sys.stderr)
        return None


def _score(args: argparse.Namespace, options: dict[str, Any], path: str, model_id: int) -> None:
    """rlops's evaluation of the last policy, on its registry row, printed as an eval record."""
    from rlops.errors import RlopsError
    from rlops.options.schema import Options
    from rlops.pipeline.checkpoints import read_checkpoint
    from rlops.pipeline.loading import load_policy
    from rlops.services.scoring import score
    from rlops.store.registry import Registry

    try:
        checkpoint = read_checkpoint(args.run_dir / path)
        registry = Registry(args.db)
        try:
            row = registry.get(model_id)
        finally:
            registry.close()
        loaded = load_policy(checkpoint, device="cpu")
        try:
            result = score(Options.model_validate(options), loaded, row).result
        finally:
            loaded.close()
    except RlopsError as exc:
        print(f"warning: the final policy was not scored: {exc}", file=sys.stderr)
        return
    record = {"v": 1, "type": "eval", "run_id": args.run_dir.name, "trace_id": os.environ.get("RLOPS_TRACE_ID", "0" * 32), "seq": 0, "t": time.time(),
              "episodes": result.episodes, "mean_reward": result.mean_reward, "std_reward": result.std_reward,
              "mean_length": result.mean_length, "checkpoint": path, "env_steps": checkpoint.env_steps}
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
