"""``rlops rollout``: run a checkpoint in one rendering env and keep what it did —
rollout.gif (Pillow), rollout.jsonl (one ``step`` record per step) and meta.json."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from rlops.errors import WorkError
from rlops.events.schema import Step, encode
from rlops.pipeline.checkpoints import Checkpoint
from rlops.pipeline.loading import load_policy
from rlops.sinks.recorder import new_trace_id


@dataclass
class RolloutResult:
    directory: Path
    steps: int
    episode_returns: list[float]
    frames: int


def rollout(checkpoint: Checkpoint, output: Path, steps: int = 500, deterministic: bool = True,
            fps: int = 25, frame_every: int = 1) -> RolloutResult:
    loaded = load_policy(checkpoint, device="cpu", render_mode="rgb_array")
    output.mkdir(parents=True, exist_ok=True)
    trace_id = new_trace_id()
    run_id = str(checkpoint.manifest.get("run", checkpoint.path.parent.parent.name))
    frames: list[Image.Image] = []
    returns: list[float] = []
    episode, step_in_episode, episode_return = 0, 0, 0.0
    try:
        obs = loaded.venv.reset()
        with open(output / "rollout.jsonl", "w", encoding="utf-8") as log:
            for index in range(steps):
                if index % frame_every == 0:
                    frames.append(_frame(loaded.venv))
                action, _ = loaded.model.predict(obs, deterministic=deterministic)
                obs, rewards, dones, infos = loaded.venv.step(action)
                info = infos[0]
                truncated = bool(info.get("TimeLimit.truncated", False))
                raw_reward = float(rewards[0])  # loaded for evaluation: rewards are never normalized
                episode_return += raw_reward
                record = Step(run_id=run_id, trace_id=trace_id, seq=index, t=0.0, episode=episode, step=step_in_episode,
                              action=np.asarray(action[0]).tolist(), reward=raw_reward,
                              terminated=bool(dones[0]) and not truncated, truncated=truncated)
                log.write(encode(record) + "\n")
                step_in_episode += 1
                if dones[0]:
                    returns.append(float(info.get("episode", {}).get("r", episode_return)))
                    episode, step_in_episode, episode_return = episode + 1, 0, 0.0
    finally:
        loaded.close()
    # GIF stores durations in centiseconds: round so that the GIF plays at the rate it claims.
    duration = 10 * max(1, round(100 / fps))
    frames[0].save(output / "rollout.gif", save_all=True, append_images=frames[1:], duration=duration, loop=0)
    meta = {"checkpoint": str(checkpoint.path), "env_id": loaded.options.env.env_id, "steps": steps,
            "deterministic": deterministic, "episodes_finished": len(returns), "episode_returns": returns,
            "frames": len(frames), "trace_id": trace_id}
    (output / "meta.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    return RolloutResult(output, steps, returns, len(frames))


def _frame(venv) -> Image.Image:  # noqa: ANN001 - a VecEnv
    try:
        image = venv.get_images()[0]
    except Exception as exc:
        raise WorkError(f"the env cannot render frames: {exc}",
                        hint="rollout needs an env with render_mode='rgb_array' (classic control needs pygame)") from None
    if image is None or np.ndim(image) != 3:
        raise WorkError("the env returned no RGB frame", hint="rollout needs an env that supports render_mode='rgb_array'")
    return Image.fromarray(np.asarray(image, dtype=np.uint8))
