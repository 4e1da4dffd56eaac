"""``orchestrator.run_nice``: a supervised run's whole session runs at that niceness (the worker,
its program and the program's children, and the session's autogroup), so that the supervisor's
ingest keeps up on a machine its runs saturate; the default leaves runs as they were."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.orchestrator.test_supervisor import service, settle

REPORT = ("import os, pathlib; p = pathlib.Path('/proc/self/autogroup'); "
          "print('nice', os.getpriority(os.PRIO_PROCESS, 0), 'autogroup', p.read_text().split()[-1] if p.exists() "
          "else '-', 'leaked', 'RLOPS_RUN_NICE' in os.environ, flush=True)")


@pytest.mark.parametrize("nice", [0, 7])
def test_a_run_and_its_session_run_at_the_niceness_asked(nice):
    base = __import__("os").getpriority(__import__("os").PRIO_PROCESS, 0)
    svc = service("--orchestrator.run-nice", str(nice))
    run_id = svc.start("command", [sys.executable, "-c", REPORT], name=f"nice{nice}")
    run = settle(svc, run_id)
    assert run["status"] == "finished", run
    words = (Path(run["run_dir"]) / "output.log").read_text().split()
    at = words.index("nice")
    assert int(words[at + 1]) == (min(19, base + nice) if nice else base)
    if words[at + 3] != "-" and nice:
        assert int(words[at + 3]) == nice  # the session's autogroup too: what autogroup scheduling shares by
    assert words[at + 5] == "False"  # the worker took the variable out of the program's environment
