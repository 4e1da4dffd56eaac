"""``rlops log``: checks on a run's event log (``rlops log validate``)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from rlops.cli.shared import CONFIG, PASS_OPTIONS, RUN_HELP, run_ref
from rlops.events.validate import ValidationReport, validate_log

app = typer.Typer(help="Check event logs (train_log.jsonl, or any program's JSONL output).", no_args_is_help=True)


@app.command("validate", context_settings=PASS_OPTIONS)
def validate(ctx: typer.Context, file: str = typer.Argument(..., help=f"any JSONL event log, or a {RUN_HELP}"),
             config: Path | None = CONFIG,
             as_json: bool = typer.Option(False, "--json", help="print only the JSON summary on stdout")) -> int:
    """Check every line against the event schema v1 and the rules between records.

    Exit 0 when the log is valid, 1 when it has anomalies (each with its line number).
    """
    path = Path(file)
    report = validate_log(path if path.is_file() else run_ref(ctx, config, file).require_log())
    typer.echo(json.dumps(report.to_dict()) if as_json else _human(report))
    return 0 if report.ok else 1


def _human(report: ValidationReport) -> str:
    counts = ", ".join(f"{kind} {count}" for kind, count in report.by_type.items())
    steps = ""
    if report.first_env_steps is not None:
        steps = f"env_steps {report.first_env_steps}..{report.last_env_steps}, "
    seqs = f"seq {report.first_seq}..{report.last_seq}, " if report.first_seq is not None else ""
    verdict = "ok" if report.ok else f"{report.anomaly_count} anomalies"
    lines = [f"{report.path}: {verdict}: {report.records} records ({counts or 'none'}), {steps}{seqs}"
             f"{len(report.runs)} run(s)"]
    lines += [f"line {a.line}: {a.kind}: {a.message}" for a in report.anomalies]
    if report.anomaly_count > len(report.anomalies):
        lines.append(f"... and {report.anomaly_count - len(report.anomalies)} more anomalies")
    return "\n".join(lines)
