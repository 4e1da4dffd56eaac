"""``rlops options``: every option with type, default, environment variable and CLI flag."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from rlops.options.introspect import json_schema, markdown_table, option_rows

JSON = typer.Option(False, "--json", help="print the JSON Schema of the option set")
MARKDOWN = typer.Option(False, "--markdown", help="print the Markdown reference (docs/options.md)")


def options(as_json: bool = JSON, markdown: bool = MARKDOWN) -> int:
    """List every feature and option (type, default, ENV name, CLI flag)."""
    if markdown:
        typer.echo(markdown_table(), nl=False)
        return 0
    if as_json:
        typer.echo(json.dumps(json_schema(), indent=2))
        return 0
    table = Table(title="rlops options (precedence: default < file < environment < CLI)", show_lines=False)
    for column in ("feature", "option", "type", "default", "ENV", "CLI", "help"):
        table.add_column(column, overflow="fold")
    for row in option_rows():
        table.add_row(*row)
    Console(width=max(Console().width, 200)).print(table)
    return 0
