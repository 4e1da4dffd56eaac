"""pytest hooks: mark each test with the SPEC §13 cases it proves, and print the cases' table.

tests/conftest.py re-exports these hooks. The table ends every session: a case passes when every
one of its tests that ran passed, fails when any failed, and is "not run" when this session
selected none of its tests (the slow ones run under ``-m slow``).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.reliability.cases import CASES, GROUPS, by_test

_CASES_OF = by_test()
_OUTCOMES: dict[str, str] = {}  # test node id without parameters -> passed | failed | skipped
_SELECTED: set[str] = set()


def _base(nodeid: str) -> str:
    return nodeid.split("[", 1)[0]


def pytest_collection_modifyitems(config: Any, items: list[pytest.Item]) -> None:
    for item in items:
        for case in _CASES_OF.get(_base(item.nodeid), ()):
            item.add_marker(pytest.mark.case(case))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    test = _base(report.nodeid)
    if test not in _CASES_OF:
        return
    _SELECTED.add(test)
    previous = _OUTCOMES.get(test)
    if report.failed:
        _OUTCOMES[test] = "failed"
    elif report.skipped and previous is None:
        _OUTCOMES[test] = "skipped"
    elif report.when == "call" and report.passed and previous != "failed":
        _OUTCOMES[test] = "passed"


def case_results() -> list[tuple[str, str, str, int]]:
    """(case, group, result, tests run) for each of the 26 cases."""
    rows = []
    for case in CASES:
        outcomes = [_OUTCOMES[t] for t in case.tests if t in _OUTCOMES]
        if "failed" in outcomes:
            result = "FAIL"
        elif "passed" in outcomes and all(o == "passed" for o in outcomes):
            result = "pass"
        elif outcomes:
            result = "skipped"
        else:
            result = "not run"
        rows.append((case.id, GROUPS[case.group], result, len(outcomes)))
    return rows


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _SELECTED:
        return
    rows = case_results()
    write = terminalreporter.write_line
    terminalreporter.section("SPEC §13 reliability and security cases")
    for case_id, group, result, ran in rows:
        promise = next(c.promise for c in CASES if c.id == case_id)
        write(f"{case_id}  {result:8}  {ran} test(s)  {group}: {promise[:90]}")
    passed = sum(r[2] == "pass" for r in rows)
    failed = sum(r[2] == "FAIL" for r in rows)
    write(f"{passed} of {len(rows)} cases passed in this session, {failed} failed, "
          f"{len(rows) - passed - failed} not run here (see docs/reliability.md)")
