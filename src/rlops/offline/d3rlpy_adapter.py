"""Trains a d3rlpy algorithm on an rlops dataset and prints schema v1 records on stdout.

Run by d3rlpy's own interpreter (``orchestrator.python``: d3rlpy 2.8 pins gymnasium 1.0), so it
imports nothing of rlops: only the standard library, numpy, h5py, gymnasium, torch and d3rlpy.
It reads Minari's HDF5 layout itself, trains epoch by epoch through d3rlpy's own ``fitter`` (the
loop ``fit`` runs), scores the greedy policy online in the dataset's env after each epoch, and
writes each epoch's policy as a TorchScript checkpoint in rlops's checkpoint format (manifest with
hashes, written under a temporary name and renamed), which rlops loads without d3rlpy and without
unpickling. ``env_steps`` in its records counts gradient steps: the data is fixed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import secrets
import shutil
import signal
import sys
import time
import uuid
import warnings
from pathlib import Path

ALGORITHMS = {  # name -> (d3rlpy config class, action kind)
    "discrete_cql": ("DiscreteCQLConfig", "discrete"),
    "discrete_bc": ("DiscreteBCConfig", "discrete"),
    "cql": ("CQLConfig", "continuous"),
    "iql": ("IQLConfig", "continuous"),
    "td3plusbc": ("TD3PlusBCConfig", "continuous"),
    "bc": ("BCConfig", "continuous"),
}
CHECKPOINT_FORMAT = "rlops-checkpoint/1"
POLICY_FILE = "policy.pt"


class Records:
    """The envelope of every record: run, trace, sequence number, time."""

    def __init__(self) -> None:
        self.run_id = os.environ.get("RLOPS_RUN_ID") or f"offline-{secrets.token_hex(3)}"
        self.trace_id = os.environ.get("RLOPS_TRACE_ID") or secrets.token_hex(16)
        self.seq = 0

    def emit(self, kind: str, **fields: object) -> None:
        record = {"v": 1, "type": kind, "run_id": self.run_id, "trace_id": self.trace_id, "seq": self.seq,
                  "t": time.time(), **fields}
        sys.stdout.write(json.dumps(record) + "\n")
        sys.stdout.flush()
        self.seq += 1


def load_dataset(data_dir: Path, kind: str):
    """Minari's HDF5 episodes as d3rlpy's MDPDataset: each episode's observations but the last."""
    import d3rlpy
    import h5py
    import numpy as np

    observations, actions, rewards, terminals, timeouts = [], [], [], [], []
    with h5py.File(data_dir / "main_data.hdf5", "r") as handle:
        names = sorted((n for n in handle if n.startswith("episode_")), key=lambda n: int(n.split("_")[1]))
        for name in names:
            group = handle[name]
            steps = len(group["rewards"])
            observations.append(group["observations"][()][:steps])
            actions.append(group["actions"][()])
            rewards.append(group["rewards"][()])
            term, trunc = group["terminations"][()], group["truncations"][()]
            terminals.append(term.astype(np.float32))
            # d3rlpy splits episodes at terminals or timeouts: the last step ends each one.
            timeouts.append(np.logical_and(trunc | (np.arange(steps) == steps - 1), ~term).astype(np.float32))
    space = d3rlpy.ActionSpace.DISCRETE if kind == "discrete" else d3rlpy.ActionSpace.CONTINUOUS
    return d3rlpy.dataset.MDPDataset(np.concatenate(observations).astype(np.float32), np.concatenate(actions),
                                     np.concatenate(rewards).astype(np.float32), np.concatenate(terminals),
                                     np.concatenate(timeouts), action_space=space), len(names)


def evaluate(algo, env_id: str, episodes: int, seed: int) -> dict:
    """The greedy policy's score over ``episodes`` episodes, played side by side: one ``predict`` call per
    step for all the envs still playing (d3rlpy's per-call cost dominates a small env's step)."""
    import gymnasium as gym
    import numpy as np

    envs = [gym.make(env_id) for _ in range(episodes)]
    try:
        obs = [env.reset(seed=seed + index)[0] for index, env in enumerate(envs)]
        returns, lengths, playing = [0.0] * episodes, [0] * episodes, list(range(episodes))
        while playing:
            actions = algo.predict(np.stack([np.asarray(obs[i], dtype=np.float32) for i in playing]))
            still = []
            for i, action in zip(playing, actions):
                obs[i], reward, terminated, truncated, _ = envs[i].step(action)
                returns[i], lengths[i] = returns[i] + float(reward), lengths[i] + 1
                if not (terminated or truncated):
                    still.append(i)
            playing = still
    finally:
        for env in envs:
            env.close()
    return {"episodes": episodes, "mean_reward": float(np.mean(returns)), "std_reward": float(np.std(returns)),
            "mean_length": float(np.mean(lengths))}


def action_scaler(env_id: str):
    """Continuous actions are learnt in [-1, 1] and mapped back to the env's bounds, by the exported graph too:
    d3rlpy's policies end in tanh, so without it a policy could never reach Pendulum's +-2."""
    import d3rlpy
    import gymnasium as gym
    import numpy as np

    env = gym.make(env_id)
    try:
        low, high = np.asarray(env.action_space.low, np.float32), np.asarray(env.action_space.high, np.float32)
    finally:
        env.close()
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        return None  # unbounded: actions are learnt as they are
    return d3rlpy.preprocessing.MinMaxActionScaler(minimum=low, maximum=high)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_checkpoint(algo, root: Path, steps: int, metadata: dict) -> tuple[Path, str]:
    """rlops's checkpoint format (pipeline/checkpoints.py), written the same crash-safe way."""
    root.mkdir(parents=True, exist_ok=True)
    temp = root / f".tmp-{steps:012d}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    temp.mkdir()
    try:
        with warnings.catch_warnings():
            # torch 2.13 deprecates torch.jit.trace, which d3rlpy's export uses; the file it writes is the point.
            warnings.simplefilter("ignore", DeprecationWarning)
            algo.save_policy(str(temp / POLICY_FILE))
        return _seal(temp, root, steps, metadata)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _seal(temp: Path, root: Path, steps: int, metadata: dict) -> tuple[Path, str]:
    _fsync(temp / POLICY_FILE)
    files = {POLICY_FILE: {"sha256": _sha256(temp / POLICY_FILE), "bytes": (temp / POLICY_FILE).stat().st_size}}
    manifest = {"format": CHECKPOINT_FORMAT, "env_steps": steps, "created": time.time(), **metadata, "files": files}
    with open(temp / "manifest.json", "w", encoding="utf-8") as handle:
        json.dump(manifest, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    _fsync(temp)
    final = root / f"step-{steps:012d}"
    os.rename(temp, final)
    _fsync(root)
    return final, hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def _finite(metrics: dict) -> dict:
    return {key: float(value) for key, value in metrics.items()
            if isinstance(value, (int, float)) and math.isfinite(float(value))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset-dir", required=True, type=Path, help="the dataset directory (holds data/)")
    parser.add_argument("--env", required=True, help="the env to evaluate in")
    parser.add_argument("--algo", required=True, choices=sorted(ALGORITHMS))
    parser.add_argument("--steps", type=int, default=2000, help="gradient steps in all")
    parser.add_argument("--steps-per-epoch", type=int, default=500, help="gradient steps between evaluations")
    parser.add_argument("--eval-episodes", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, type=Path, help="the run directory (checkpoints/ goes there)")
    parser.add_argument("--manifest-json", type=Path, help="fields every checkpoint manifest carries (options...)")
    args = parser.parse_args(argv)

    import d3rlpy
    import torch

    stop = {"asked": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(asked=True))  # stop at the next epoch, with a checkpoint
    records = Records()
    config_name, kind = ALGORITHMS[args.algo]
    extra = json.loads(args.manifest_json.read_text()) if args.manifest_json else {}
    # The run's own options (the runner's snapshot: env, agent) lead, so that the store files the run under
    # its env and algorithm like any other; the adapter's arguments and the dataset sit under "offline".
    config = extra.get("options") or {"env": {"env_id": args.env}, "agent": {"algorithm": args.algo}}
    adapter_args = vars(args) | {"dataset_dir": str(args.dataset_dir), "out": str(args.out), "manifest_json": None}
    records.emit("meta", config={**config, "offline": {**adapter_args, **extra.get("offline", {})}},
                 seed=args.seed, argv=sys.argv, producer="rlops-d3rlpy",
                 versions={"d3rlpy": d3rlpy.__version__, "torch": torch.__version__,
                           "python": sys.version.split()[0]})
    d3rlpy.seed(args.seed)
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // 2))
    dataset, episodes = load_dataset(args.dataset_dir / "data", kind)
    records.emit("config", config={"dataset": {"episodes": episodes, "transitions": dataset.transition_count}})
    params = {"batch_size": args.batch_size}
    if args.learning_rate is not None:
        params["learning_rate"] = args.learning_rate
    if kind == "continuous":
        params["action_scaler"] = action_scaler(args.env)
    algo = getattr(d3rlpy.algos, config_name)(**params).create(device="cpu:0")
    start, steps, status, reason = time.monotonic(), 0, "finished", None
    fitter = algo.fitter(dataset, n_steps=args.steps, n_steps_per_epoch=args.steps_per_epoch,
                         experiment_name=records.run_id, with_timestamp=False,
                         logger_adapter=d3rlpy.logging.NoopAdapterFactory(), show_progress=False,
                         save_interval=10**9)
    # The training loop's own clocks (d3rlpy's fitter, nothing of ours inside it), apart from the
    # evaluation and export between epochs: sps is gradient steps per second of training.
    train_s = train_cpu_s = 0.0
    try:
        while True:
            wall, cpu = time.perf_counter(), time.process_time()
            epoch_metrics = next(fitter, None)
            train_s, train_cpu_s = train_s + time.perf_counter() - wall, train_cpu_s + time.process_time() - cpu
            if epoch_metrics is None:
                break
            epoch, metrics = epoch_metrics
            steps = epoch * args.steps_per_epoch
            records.emit("metrics", env_steps=steps, opt_steps=steps, wall_time_s=time.monotonic() - start,
                         sps=steps / max(train_s, 1e-9), train_s=train_s, train_cpu_s=train_cpu_s, epoch=epoch,
                         **_finite(metrics))
            records.emit("eval", env_steps=steps, **evaluate(algo, args.env, args.eval_episodes, 10_000 + args.seed))
            path, sha = write_checkpoint(algo, args.out / "checkpoints", steps,
                                         {**extra, "offline": {**extra.get("offline", {}), "epoch": epoch}})
            records.emit("checkpoint", path=str(path.relative_to(args.out)), env_steps=steps, sha256=sha)
            if stop["asked"]:
                status, reason = "stopped", "a stop was asked for"
                break
    except KeyboardInterrupt:
        status, reason = "stopped", "interrupted"
    records.emit("end", status=status, reason=reason, env_steps=steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
