"""Artifact discovery on a real run directory: a tiny training run with the TensorBoard and W&B
(offline) backends, plus the videos, GIFs, plot and receipt that CleanRL-style producers write."""

from __future__ import annotations

import os
import time
from pathlib import Path

from rlops.events.plot import plot_log
from rlops.orchestrator.artifacts import discover
from tests.helpers import train_tiny

# What wandb prints for an online run: the URL styled blue and underlined by click.
WANDB_OUTPUT = ("wandb: Syncing run a\nwandb: ⭐️ View project at \x1b[34m\x1b[4mhttps://wandb.ai/me/proj\x1b[0m\n"
                "wandb: 🚀 View run at \x1b[34m\x1b[4mhttps://wandb.ai/me/proj/runs/abc123\x1b[0m\n")


def write(path: Path, data: bytes = b"\0" * 64, age_s: float = 60.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_each_kind_is_found_once_and_nothing_leaves_the_run_directory(tmp_path):
    run = train_tiny("a2c", "--store.run-name", "a", "--store.backend", "local,tensorboard,wandb", steps=100).run.path
    plot_log(run / "train_log.jsonl", run / "plot.png")
    write(run / "videos" / "a" / "rl-video-episode-0.mp4")
    write(run / "videos" / "a" / "rl-video-episode-1.webm")
    write(run / "videos" / "a" / "rl-video-episode-2.mp4", age_s=0)  # still being written
    write(run / "videos" / "a" / ".tmp-rl-video-episode-3.mp4")
    write(run / "runs" / "a" / "events.out.tfevents.1700000000.host.1.0")  # CleanRL's SummaryWriter
    write(run / "rollouts" / "step-000000000100" / "rollout.gif")
    write(run / "receipts" / ("ab" * 16) / "traceback.txt")
    write(run / "checkpoints" / "step-000000000100" / "look.png")  # checkpoints are not artifacts
    outside = write(tmp_path / "elsewhere" / "secret.mp4")
    (run / "videos" / "a" / "escape.mp4").symlink_to(outside)
    (run / "videos" / "linked").symlink_to(outside.parent, target_is_directory=True)
    (run / "videos" / "a" / "again.mp4").symlink_to("rl-video-episode-0.mp4")  # inside: kept
    (run / "outside.png").symlink_to(write(tmp_path / "elsewhere" / "plot.png"))
    offline = [p.name for p in (run / "wandb").iterdir() if p.name.startswith("offline-run-")]

    found = discover(run, set(), WANDB_OUTPUT + WANDB_OUTPUT)

    assert sorted((a.kind, a.path) for a in found) == sorted([
        ("video", "videos/a/rl-video-episode-0.mp4"), ("video", "videos/a/rl-video-episode-1.webm"),
        ("video", "videos/a/again.mp4"),
        ("tensorboard", "tensorboard"), ("tensorboard", "runs/a"),
        ("wandb", "https://wandb.ai/me/proj/runs/abc123"), *[("wandb", f"wandb/{name}") for name in offline],
        ("gif", "rollouts/step-000000000100/rollout.gif"), ("plot", "plot.png"),
        ("receipt", f"receipts/{'ab' * 16}")])
    assert len(offline) == 1 and all(a.action == "added" for a in found)
    known = {a.path for a in found}
    assert discover(run, known, WANDB_OUTPUT) == []
    # The video written a moment ago is reported once it is final (its process exited).
    assert [(a.kind, a.path) for a in discover(run, known, final=True)] == [("video", "videos/a/rl-video-episode-2.mp4")]


def test_a_call_on_a_run_with_thousands_of_files_is_cheap(tmp_path):
    run = tmp_path / "run"
    for i in range(3000):
        write(run / "frames" / f"{i:05d}.png", b"x")  # eval frames: never looked at
    videos = [f"videos/v/{i:05d}.mp4" for i in range(2000)]
    for path in videos:
        write(run / path, b"x")
    known = set(videos)
    assert len(discover(run, set(), final=True)) == 2000
    started = time.perf_counter()
    for _ in range(10):
        assert discover(run, known) == []
    per_call = (time.perf_counter() - started) / 10
    assert per_call < 0.1, f"{per_call * 1000:.0f} ms a call"
