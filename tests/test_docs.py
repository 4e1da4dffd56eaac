"""The documentation stays true to the code."""

from __future__ import annotations

from pathlib import Path

from rlops.options.introspect import markdown_table

ROOT = Path(__file__).resolve().parent.parent


def test_options_reference_is_generated_from_the_schema():
    documented = (ROOT / "docs" / "options.md").read_text()
    assert documented == markdown_table(), "docs/options.md is stale: run `rlops options --markdown > docs/options.md`"


def test_readme_gives_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "python -m pip install -c constraints.txt -e . && rlops train --config examples/cartpole-ppo.toml" in readme
    assert 'python -m pip install -c constraints.txt -e ".[test]" && python -m pytest' in readme
