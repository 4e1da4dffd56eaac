"""Every benchmark script runs in its smoke mode, so a change that breaks a benchmark fails CI.

Each ``bench/bench_*.py`` is found by name (a new one is in from the start and must have a
``--smoke`` mode), run in a fresh process with tiny sizes, and must exit 0 and leave its dated
JSON figures; then docs/performance.md's generator renders those files (and one it does not
know) without error. The smoke figures themselves mean nothing: the sizes are far too small.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPTS = sorted(path.stem for path in BENCH.glob("bench_*.py"))
# Seconds of CPU each, but minutes of wall on a loaded 2-core machine (a fresh process per
# variant, each importing torch, MLflow or W&B): these carry the slow marker and run in CI.
QUICK = {"bench_accumulator", "bench_otel", "bench_registry"}


def run_smoke(name: str, out: Path) -> dict:
    done = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), "--smoke", "--json", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=out.parent)
    assert done.returncode == 0, f"{name} --smoke failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["smoke"] is True and document["data"] and document["date"] and document["machine"]["cpus"]
    return document


@pytest.mark.parametrize("name", [pytest.param(name, marks=() if name in QUICK else pytest.mark.slow)
                                  for name in SCRIPTS])
def test_every_benchmark_runs_in_its_smoke_mode(name, tmp_path):
    run_smoke(name, tmp_path / f"{name.removeprefix('bench_')}.json")


def test_the_performance_page_is_generated_from_the_figures(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    for name in sorted(QUICK):
        run_smoke(name, results / f"{name.removeprefix('bench_')}.json")
    (results / "someone_elses.json").write_text(json.dumps(
        {"bench": "vector", "date": "2026-12-01T20:00:00+00:00", "machine": {"cpus": 2}, "load_start": [1.0],
         "load_end": [1.0], "smoke": False, "data": {"sps": 1234.5}}), encoding="utf-8")
    page = tmp_path / "performance.md"
    done = subprocess.run([sys.executable, str(BENCH / "make_performance_doc.py"), "--results", str(results),
                           "--out", str(page)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = page.read_text(encoding="utf-8")
    assert "## Summary" in text and "Accumulator" in text and "Registry" in text
    assert "vector" in text and "1234.5" in text  # a file it does not know is shown, not refused
    assert "load" in text and "smoke" in text  # each figure says when, where and under what load
