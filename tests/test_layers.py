"""The house's layers, read from the code's own imports (every ``import`` statement, including
those inside functions and ``TYPE_CHECKING`` blocks, since a lazy import is still a dependency).

pipeline/ is the computation: it trains, emits records and writes checkpoints. What consumes its
records (the store, the registry, the backends) is composed above it, in services/; so pipeline/
never imports upward. Of sinks/ it may import ``sinks.recorder`` only: the ``RunRecorder`` is the
one path a record takes out of the loop (the engine calls ``emit``; the recorder writes the log
and hands the record to the sinks it was built with), and ``new_trace_id`` stamps rollouts.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PIPELINE = SRC / "rlops" / "pipeline"

# Above pipeline/ (or beside it as a backend): importing any of these reaches out of the computation.
FORBIDDEN_IN_PIPELINE = ("rlops.store", "rlops.api", "rlops.cli", "rlops.orchestrator", "rlops.services",
                         "rlops.ui", "rlops.play", "rlops.offline", "rlops.datasets", "rlops.sinks")
ALLOWED_SINKS = ("rlops.sinks.recorder",)


def module_of(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts)


def imports_of(path: Path, module: str) -> list[tuple[int, str]]:
    """(line, dotted name) for every import in ``path``, the module ``module``; relative imports
    resolved against its package. ``from a import b`` yields both ``a`` and ``a.b``."""
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.append((node.lineno, base))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(root: Path, forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    return forbidden_imports({path: module_of(path) for path in sorted(root.rglob("*.py"))}, forbidden, allowed)


def forbidden_imports(modules: dict[Path, str], forbidden: tuple[str, ...], allowed: tuple[str, ...] = ()) -> list[str]:
    found = []
    for path, module in modules.items():
        for line, name in imports_of(path, module):
            if any(under(name, prefix) for prefix in forbidden) and not any(under(name, ok) for ok in allowed):
                found.append(f"{module}:{line} imports {name}")
    return sorted(set(found))


def test_pipeline_never_imports_the_store_the_services_or_a_backend() -> None:
    assert violations(PIPELINE, FORBIDDEN_IN_PIPELINE, ALLOWED_SINKS) == []


@pytest.mark.parametrize(("engine", "other"), [("sb3", "vector"), ("vector", "sb3")])
def test_the_engines_sit_side_by_side(engine: str, other: str) -> None:
    """Each engine reaches the other only through ``pipeline.engine``, never directly."""
    assert violations(PIPELINE / engine, (f"rlops.pipeline.{other}",)) == []


def test_the_check_sees_what_it_forbids(tmp_path: Path) -> None:
    """The reader finds imports at module level, inside functions and relative ones, and lets the
    recorder through."""
    sample = tmp_path / "sample.py"
    sample.write_text("from rlops.store.runs import RunStore\nfrom rlops.sinks.recorder import RunRecorder\n\n"
                      "def f():\n    from ...sinks import mlflow\n    import rlops.services.training\n",
                      encoding="utf-8")
    found = forbidden_imports({sample: "rlops.pipeline.vector.sample"}, FORBIDDEN_IN_PIPELINE, ALLOWED_SINKS)
    assert sorted(entry.split(" imports ")[1] for entry in found) == [
        "rlops.services.training", "rlops.sinks", "rlops.sinks.mlflow", "rlops.store.runs",
        "rlops.store.runs.RunStore"]
