"""Failure receipts: what a person (or an agent) needs to see why a run died.

``receipts/<trace_id>/`` holds the traceback, the options, the last metrics, the last actions,
rewards and observations, and the last frames (PNG and NPY) where the env renders.
"""

from __future__ import annotations

import json
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from stable_baselines3.common.vec_env import VecEnv

MAX_FRAMES = 4


def write_receipt(run_dir: Path, trace_id: str, error: BaseException, options: dict[str, Any],
                  telemetry: Any | None = None, venv: VecEnv | None = None, env_steps: int | None = None) -> Path:
    """Write everything that is still at hand; each part is best effort, the receipt always exists."""
    directory = run_dir / "receipts" / trace_id
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    trace = "".join(traceback.format_exception(error))
    (directory / "traceback.txt").write_text(trace, encoding="utf-8")
    files["traceback"] = "traceback.txt"
    (directory / "options.json").write_text(json.dumps(options, indent=2, sort_keys=True), encoding="utf-8")
    files["options"] = "options.json"
    if telemetry is not None:
        summary = {"last_metrics": telemetry.last_metrics, "episodes": telemetry.episodes}
        (directory / "metrics_summary.json").write_text(json.dumps(summary, indent=2, default=float), encoding="utf-8")
        files["metrics_summary"] = "metrics_summary.json"
        if telemetry.last_rewards:
            arrays = {"rewards": np.stack(list(telemetry.last_rewards))}
            if telemetry.last_actions:
                arrays["actions"] = np.stack(list(telemetry.last_actions))
            np.savez(directory / "last_steps.npz", **arrays)
            readable = {key: value[:, :MAX_FRAMES].tolist() for key, value in arrays.items()}
            (directory / "last_steps.json").write_text(json.dumps(readable), encoding="utf-8")
            files["last_steps"] = "last_steps.npz"
        if telemetry.last_observations:
            np.save(directory / "last_observations.npy", np.concatenate(list(telemetry.last_observations)))
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
