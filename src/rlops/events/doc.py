"""docs/events.md's field tables, generated from the record types: each field's JSON name and type
from its type hint, "required" from whether it has a default, the meaning from the ``:ivar`` line
of its class's docstring. ``python -m rlops.events.doc docs/events.md`` rewrites the tables in
place; tests/test_events_doc.py fails when one is stale.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import typing
from pathlib import Path
from typing import Any

from rlops.events.schema import JSON_NAMES, MAX_LIST_IN_METRICS, NON_NEGATIVE, RECORD_TYPES, Record, required_fields

HEADER = "| field | JSON type | required | meaning |\n|---|---|---|---|\n"
IVAR = re.compile(r"^:ivar (\w+): (.*)$")
SCALARS = {int: "integer", float: "number", str: "string", bool: "boolean"}
PLURALS = {int: "integers", float: "numbers", str: "strings", bool: "booleans"}


def meanings(cls: type[Record]) -> dict[str, str]:
    """Each field's ``:ivar`` text in the class docstring (continuation lines joined)."""
    found: dict[str, str] = {}
    name = None
    for line in (cls.__doc__ or "").splitlines():
        line = line.strip()
        match = IVAR.match(line)
        if match:
            name = match.group(1)
            found[name] = match.group(2)
        elif name and line and not line.startswith(":"):
            found[name] += " " + line
        else:
            name = None
    return found


def json_type(hint: Any, name: str) -> str:
    args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    if type(None) in typing.get_args(hint):
        inner = json_type(args[0], name)
        return f"{inner}, or null" if ":" in inner else f"{inner} or null"
    origin = typing.get_origin(hint) or hint
    if origin is dict:
        value = args[1]
        return "object" if value is Any else f"object: string → {SCALARS[value]}"
    if origin is list:
        return f"array of {PLURALS[args[0]]}"
    if hint is Any:
        return "any JSON value"
    return SCALARS[hint] + (" ≥ 0" if hint is int and name in NON_NEGATIVE else "")


def required(item: dataclasses.Field, cls: type[Record]) -> str:
    if item.name in required_fields(cls):
        return "yes"
    default = item.default_factory() if item.default is dataclasses.MISSING else item.default  # type: ignore[misc]
    return "no" if default is None else f"no (`{json.dumps(default)}`)"


def table(cls: type[Record]) -> str:
    """The markdown table of a record type's own fields (the envelope's are documented once)."""
    hints, said = typing.get_type_hints(cls), meanings(cls)
    envelope = {item.name for item in dataclasses.fields(Record)}
    rows = []
    for item in dataclasses.fields(cls):
        if item.name in envelope:
            continue
        if item.name not in said:
            raise ValueError(f"{cls.__name__}'s docstring has no ':ivar {item.name}:' line")
        if cls.type == "metrics" and item.name == "values":
            rows.append(f"| any other key (`values`) | finite number, or array of at most {MAX_LIST_IN_METRICS} "
                        f"integers | no | {said[item.name]} |")
            continue
        name = JSON_NAMES.get(item.name, item.name)
        rows.append(f"| `{name}` | {json_type(hints[item.name], item.name)} | {required(item, cls)} | "
                    f"{said[item.name]} |")
    return HEADER + "".join(row + "\n" for row in rows)


def rewrite(markdown: str) -> str:
    """``markdown`` with the table of each ``### `type` `` section made anew from the schema."""
    for kind, cls in RECORD_TYPES.items():
        pattern = re.compile(rf"(^### `{kind}`\n.*?\n){re.escape(HEADER)}(?:\|[^\n]*\n)*",
                             flags=re.MULTILINE | re.DOTALL)
        markdown, count = pattern.subn(lambda match, cls=cls: match.group(1) + table(cls), markdown, count=1)
        if count != 1:
            raise ValueError(f"no field table under '### `{kind}`'")
    return markdown


def main(argv: list[str]) -> int:
    for name in argv:
        path = Path(name)
        path.write_text(rewrite(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
