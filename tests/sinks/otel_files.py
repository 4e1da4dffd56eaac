"""Reading the file exporter's JSON lines (the SDK's ``to_json`` forms) into the receivers' flat dicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def points(path: Path) -> list[dict[str, Any]]:
    """Every data point of every export, in order: name, attributes, value or sum and count."""
    found = []
    for export in _lines(path):
        for resource in export["resource_metrics"]:
            for scope in resource["scope_metrics"]:
                for metric in scope["metrics"]:
                    for point in metric["data"]["data_points"]:
                        item = {"name": metric["name"], "attributes": point["attributes"] or {}}
                        if "count" in point:
                            item.update(sum=point["sum"], count=point["count"])
                        else:
                            item["value"] = point["value"]
                        found.append(item)
    return found


def resources(path: Path) -> list[dict[str, Any]]:
    return [resource["resource"]["attributes"] for export in _lines(path) for resource in export["resource_metrics"]]


def spans(path: Path) -> list[dict[str, Any]]:
    return [{"name": span["name"], "trace_id": span["context"]["trace_id"].removeprefix("0x"),
             "span_id": span["context"]["span_id"].removeprefix("0x"),
             "parent_id": (span["parent_id"] or "").removeprefix("0x"), "attributes": span["attributes"] or {},
             "status": span["status"]["status_code"], "resource": span["resource"]["attributes"]}
            for span in _lines(path)]


def log_records(path: Path) -> list[dict[str, Any]]:
    return [{"body": record["body"], "severity": record["severity_text"], "attributes": record["attributes"] or {},
             "trace_id": record["trace_id"].removeprefix("0x"), "span_id": record["span_id"].removeprefix("0x")}
            for record in _lines(path)]
