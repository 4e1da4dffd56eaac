"""Where a benchmark's figures go: one JSON file per script run, read by ``make_performance_doc.py``.

Every file holds the script's own figures under ``data`` and, beside them, when and where they
were taken (date, machine, the load average at start and at the end, the arguments), so that
docs/performance.md is regenerated from what was measured, never typed in by hand.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

from cpu_clocks import load, machine

RESULTS = Path(__file__).resolve().parent / "results"  # the default home of the JSON files


def stamp() -> dict[str, Any]:
    """When and where, taken as a benchmark starts."""
    return {"date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), "machine": machine(),
            "load_start": load(), "argv": sys.argv[1:]}


def write(path: Path | None, bench: str, started: dict[str, Any], data: dict[str, Any], smoke: bool = False) -> None:
    """Save ``data`` with its stamp; ``path`` None: nowhere (the last printed line still has the JSON)."""
    if path is None:
        return
    document = {"bench": bench, **started, "load_end": load(), "smoke": smoke, "data": data}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
