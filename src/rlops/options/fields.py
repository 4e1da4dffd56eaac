"""Introspection of the option set: one ``OptionSpec`` per key, from which every form is named.

The names are generated, never written by hand: ``train.learning_rate`` is
``RL_TRAIN_LEARNING_RATE`` in the environment and ``--train.learning-rate`` on the command line.
"""

from __future__ import annotations

import functools
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from rlops.options.schema import Options, Section


@dataclass(frozen=True)
class OptionSpec:
    section: str
    key: str
    annotation: Any
    default: Any
    help: str
    cli_aliases: tuple[str, ...] = ()
    env_aliases: tuple[str, ...] = ()
    names: str | None = None  # what the value names outside the option set (schema.NAMES), if anything

    @property
    def dotted(self) -> str:
        return f"{self.section}.{self.key}"

    @property
    def env_name(self) -> str:
        return f"RL_{self.section}_{self.key}".upper()

    @property
    def cli_flag(self) -> str:
        return f"--{self.section}.{self.key.replace('_', '-')}"

    @property
    def section_model(self) -> type[Section]:
        return Options.model_fields[self.section].annotation  # type: ignore[return-value]

    @property
    def is_bool(self) -> bool:
        return self.annotation is bool

    @property
    def allows_none(self) -> bool:
        return type(None) in typing.get_args(self.annotation)

    @property
    def is_structured(self) -> bool:
        """Lists and mappings, which the text forms spell as JSON."""
        return any(typing.get_origin(arm) in (list, dict) for arm in _arms(self.annotation))

    @property
    def type_name(self) -> str:
        return " | ".join(_type_name(arm) for arm in _arms(self.annotation))


def _arms(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _type_name(annotation: Any) -> str:
    if annotation is type(None):
        return "null"
    if typing.get_origin(annotation) is Literal:
        return " | ".join(str(arg) for arg in typing.get_args(annotation))
    if typing.get_origin(annotation) is list:
        return f"list[{_type_name(typing.get_args(annotation)[0])}]"
    if typing.get_origin(annotation) is dict:
        key, value = typing.get_args(annotation)
        return "object" if value is Any else f"dict[{_type_name(key)}, {_type_name(value)}]"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> Any:
    if field.default is not PydanticUndefined:
        return field.default
    return field.default_factory()


@functools.cache
def option_specs() -> tuple[OptionSpec, ...]:
    """Every option, in declaration order."""
    specs = []
    for section, section_field in Options.model_fields.items():
        model: type[BaseModel] = section_field.annotation  # type: ignore[assignment]
        for key, field in model.model_fields.items():
            extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
            specs.append(OptionSpec(
                section=section,
                key=key,
                annotation=field.annotation,
                default=_default(field),
                help=field.description or "",
                cli_aliases=tuple(extra.get("cli_aliases", ())),
                env_aliases=tuple(extra.get("env_aliases", ())),
                names=extra.get("names"),
            ))
    return tuple(specs)


@functools.cache
def specs_by_dotted() -> dict[str, OptionSpec]:
    return {spec.dotted: spec for spec in option_specs()}


def section_docs() -> dict[str, str]:
    """The one-line purpose of each section, from its docstring."""
    return {name: (field.annotation.__doc__ or "").strip() for name, field in Options.model_fields.items()}
