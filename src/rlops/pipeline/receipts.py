"""Failure receipts: what a person (or an agent) needs to see why a run died.

``receipts/<trace_id>/`` holds the traceback, the options, the last metrics, the last actions,
rewards and observations, and the last frames (PNG and NPY) where the env renders.
"""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from stable_baselines3.common.vec_env import VecEnv

MAX_FRAMES = 4


@dataclass
class RunTail:
    """The last moments of a run that a receipt keeps: each engine's telemetry gives one on failure
    (``receipt_view()``), as NumPy arrays, one per vector step, oldest first."""

    last_metrics: dict[str, Any] = field(default_factory=dict)
    episodes: int = 0
    actions: list[np.ndarray] = field(default_factory=list)
    rewards: list[np.ndarray] = field(default_factory=list)
    observations: list[np.ndarray] = field(default_factory=list)


def write_receipt(run_dir: Path, trace_id: str, error: BaseException, options: dict[str, Any],
                  tail: RunTail | None = None, venv: VecEnv | None = None, env_steps: int | None = None) -> Path:
    """Write everything that is still at hand; each part is best effort, the receipt always exists."""
    directory = run_dir / "receipts" / trace_id
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    trace = "".join(traceback.format_exception(error))
    (directory / "traceback.txt").write_text(trace, encoding="utf-8")
    files["traceback"] = "traceback.txt"
    (directory / "options.json").write_text(json.dumps(options, indent=2, sort_keys=True), encoding="utf-8")
    files["options"] = "options.json"
    if tail is not None:
        summary = {"last_metrics": tail.last_metrics, "episodes": tail.episodes}
        (directory / "metrics_summary.json").write_text(json.dumps(summary, indent=2, default=float), encoding="utf-8")
        files["metrics_summary"] = "metrics_summary.json"
        if tail.rewards:
            arrays = {"rewards": np.stack(tail.rewards)}
            if tail.actions:
                arrays["actions"] = np.stack(tail.actions)
            np.savez(directory / "last_steps.npz", **arrays)
            readable = {key: value[:, :MAX_FRAMES].tolist() for key, value in arrays.items()}
            (directory / "last_steps.json").write_text(json.dumps(readable), encoding="utf-8")
            files["last_steps"] = "last_steps.npz"
        if tail.observations:
            np.save(directory / "last_observations.npy", np.concatenate(tail.observations))
            files["last_observations"] = "last_observations.npy"
    frames = _frames(venv)
    if frames:
        np.save(directory / "last_frames.npy", np.stack(frames))
        for index, frame in enumerate(frames):
            Image.fromarray(frame).save(directory / f"frame_env{index}.png")
        files["frames"] = "last_frames.npy"
    receipt = {"trace_id": trace_id, "error": f"{type(error).__name__}: {error}", "env_steps": env_steps,
               "time": time.time(), "files": files}
    (directory / "receipt.json").write_text(json.dumps(receipt, indent=2), encoding="utf-8")
    return directory


def _frames(venv: VecEnv | None) -> list[np.ndarray]:
    if venv is None or getattr(venv, "render_mode", None) != "rgb_array":
        return []
    try:
        images = venv.get_images()
    except Exception:  # the env may be what failed; frames are a bonus
        return []
    return [np.asarray(image, dtype=np.uint8) for image in images[:MAX_FRAMES] if image is not None and np.ndim(image) == 3]
