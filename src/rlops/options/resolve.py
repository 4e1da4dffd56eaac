"""Precedence: defaults < file < environment < CLI, merged into one checked ``Options``."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from rlops.errors import OptionsError
from rlops.options.schema import RENAMED, Options
from rlops.options.sources import Layer, read_cli, read_environment, read_file

DEFAULT_FILE = "rlops.toml"


@dataclass
class ResolvedOptions:
    """The option set and, for every key that was set, the form that set it."""

    options: Options
    sources: dict[str, str] = field(default_factory=dict)

    def source_of(self, dotted: str) -> str:
        return self.sources.get(dotted, "default")


def resolve_options(
    config: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    base: Mapping[str, Any] | None = None,
) -> ResolvedOptions:
    """Read every form and merge them; later forms win.

    ``config`` is a TOML file; without one, ``$RL_CONFIG`` or ``./rlops.toml`` is used when it
    exists. ``base`` is a nested mapping that stands below the file (a run's saved options when it
    is resumed or evaluated).
    """
    environ = os.environ if environ is None else environ
    layers: list[Layer] = []
    if base:
        layers.append({RENAMED.get(f"{section}.{key}", f"{section}.{key}"): (value, "saved options")
                       for section, table in base.items() for key, value in table.items()})
    config_path = config or environ.get("RL_CONFIG") or (DEFAULT_FILE if Path(DEFAULT_FILE).is_file() else None)
    if config_path:
        layers.append(read_file(config_path))
    layers.append(read_environment(environ))
    layers.append(read_cli(args))

    merged: dict[str, tuple[Any, str]] = {}
    for layer in layers:
        merged.update(layer)
    nested: dict[str, dict[str, Any]] = {}
    for dotted, (value, _) in merged.items():
        section, key = dotted.split(".", 1)
        nested.setdefault(section, {})[key] = value
    try:
        options = Options.model_validate(nested)
    except ValidationError as exc:
        error = exc.errors()[0]
        section = str(error["loc"][0]) if error["loc"] else ""
        setters = sorted({src for dotted, (_, src) in merged.items() if dotted.startswith(f"{section}.")})
        raise OptionsError(
            f"invalid [{section}] options: {str(error['msg']).removeprefix('Value error, ')}",
            hint=f"set by {', '.join(setters)}" if setters else None,
        ) from None
    return ResolvedOptions(options, {dotted: source for dotted, (_, source) in merged.items()})
