"""The cases' table is whole and true: every test it names exists, every case has one, and
docs/reliability.md shows the table as it is."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.reliability.cases import CASES, GROUPS, markdown

ROOT = Path(__file__).resolve().parents[2]


def _functions(module: Path) -> set[str]:
    tree = ast.parse(module.read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}


def test_there_are_26_cases_each_proved_by_tests_that_exist():
    assert len(CASES) == 26 and len({c.id for c in CASES}) == 26
    assert {c.group for c in CASES} == set(GROUPS)
    for case in CASES:
        assert case.tests, f"{case.id} names no test"
        for test in case.tests:
            path, _, name = test.partition("::")
            assert (ROOT / path).is_file(), test
            assert name in _functions(ROOT / path), test


def test_the_document_shows_the_table():
    document = (ROOT / "docs" / "reliability.md").read_text()
    assert markdown() in document, "regenerate: python -m tests.reliability.cases"
