"""``rlops plot`` and ``rlops rollout`` on a real run."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from rlops.cli.app import main
from tests.helpers import train_tiny


def test_plot_writes_a_png_and_names_skipped_panels(capsys):
    result = train_tiny("ppo", steps=512)
    assert main(["plot", str(result.run.path), "-o", "plot.png", "--json"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["png"] == "plot.png"
    with Image.open("plot.png") as image:
        assert image.size[0] >= 1000 and image.size[1] >= 600
    assert "percentile bands" in err or summary["skipped"] == []


def test_plot_without_data_exits_1(capsys, tmp_path):
    (tmp_path / "empty.jsonl").write_text("garbage\n")
    assert main(["plot", "empty.jsonl"]) == 1
    assert "no plottable data" in capsys.readouterr()[1]
    assert main(["plot", "missing.jsonl"]) == 2


def test_rollout_writes_gif_jsonl_and_meta(capsys):
    result = train_tiny("ppo", steps=256)
    assert main(["rollout", "--model", str(result.run.path), "--steps", "40", "-o", "roll", "--json"]) == 0
    summary = json.loads(capsys.readouterr()[0])
    assert summary["frames"] == 40
    with Image.open("roll/rollout.gif") as gif:
        # Pillow merges identical consecutive frames and adds up their durations: the GIF plays
        # exactly 40 steps' worth of 40 ms frames however many it stores.
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
        assert sum(durations) == 40 * 40
    steps = [json.loads(line) for line in Path("roll/rollout.jsonl").read_text().splitlines()]
    assert len(steps) == 40 and all(s["type"] == "step" for s in steps)
    meta = json.loads(Path("roll/meta.json").read_text())
    assert meta["steps"] == 40 and meta["checkpoint"] == str(result.checkpoint.path)


def test_rollout_of_a_missing_model_exits_1(capsys):
    assert main(["rollout", "--model", "nowhere/step-000000000100"]) == 1
    assert "does not exist" in capsys.readouterr()[1]
    # A bare name is a run id (as in every command that takes a run): unknown is a usage error.
    assert main(["rollout", "--model", "nowhere"]) == 2
    assert "unknown run 'nowhere'" in capsys.readouterr()[1]
