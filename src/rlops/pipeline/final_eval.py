"""A finished run's last evaluation, the same for both engines: its final checkpoint loaded as a
user would load it (not the learner's weights in memory), played and recorded step by step for
replay, the result written to the run's eval file and recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rlops.options.schema import EvalOptions
from rlops.pipeline.checkpoints import Checkpoint
from rlops.pipeline.eval_frames import EvalStepRecorder
from rlops.pipeline.evaluate import EvalResult, evaluate_policy_of
from rlops.pipeline.loading import load_policy
from rlops.pipeline.milestones import Milestones


def final_evaluation(checkpoint: Checkpoint, options: EvalOptions, milestones: Milestones, device: str,
                     render_mode: str | None, beat: Callable[[], None] | None = None) -> EvalResult:
    """Score ``checkpoint`` on ``device``; ``beat`` (if given) is called at every step, to show a
    supervisor waiting on a stop that the run still makes progress."""
    run, recorder = milestones.run, milestones.recorder
    loaded = load_policy(checkpoint, device=device, render_mode=render_mode)
    hook = None
    if options.record_steps:
        frames = run.path / "frames" / checkpoint.path.name if render_mode else None
        hook = EvalStepRecorder(recorder, loaded.venv, frames, options.frame_every)
    try:
        result = evaluate_policy_of(loaded, options.episodes, options.deterministic,
                                    hook if beat is None else _beating(beat, hook))
    finally:
        loaded.close()
    run.write_json(run.eval_file, result.to_dict())
    milestones.evaluated(result, checkpoint, checkpoint.env_steps)
    return result


def _beating(beat: Callable[[], None], hook: Any) -> Any:
    """An evaluation step hook that also calls ``beat``."""
    def on_step(**step: Any) -> None:
        beat()
        if hook is not None:
            hook(**step)
    return on_step
