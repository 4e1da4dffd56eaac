"""The option set described for people (a table) and for programs (JSON Schema)."""

from __future__ import annotations

import json
from typing import Any

from rlops.options.fields import option_specs
from rlops.options.schema import Options


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    return json.dumps(value) if isinstance(value, list | dict | bool) else str(value)


def option_rows() -> list[tuple[str, str, str, str, str, str, str]]:
    rows = []
    for spec in option_specs():
        env = ", ".join((spec.env_name, *spec.env_aliases))
        cli = ", ".join((spec.cli_flag, *spec.cli_aliases))
        rows.append((spec.section, spec.key, spec.type_name, _shown(spec.default), env, cli, spec.help))
    return rows


def json_schema() -> dict[str, Any]:
    """Pydantic's JSON Schema, each property annotated with its ``x-env`` and ``x-cli`` names."""
    schema = Options.model_json_schema()
    specs = {(spec.section, spec.key): spec for spec in option_specs()}
    for section, field in Options.model_fields.items():
        definition = schema["$defs"][field.annotation.__name__]  # type: ignore[union-attr]
        for key, prop in definition["properties"].items():
            spec = specs[(section, key)]
            prop.pop("cli_aliases", None)
            prop.pop("env_aliases", None)
            prop["x-env"] = [spec.env_name, *spec.env_aliases]
            prop["x-cli"] = [spec.cli_flag, *spec.cli_aliases]
    return schema
