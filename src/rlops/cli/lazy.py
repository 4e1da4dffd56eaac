"""Commands that import their module only when they run.

Importing every command's module at start (SB3, torch, FastAPI...) made ``rlops --help`` take
seconds. A group lists its commands from a table of names and one-line helps; a command's module
is imported when that command is parsed, so help and usage errors cost no more than typer.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class CommandEntry:
    """One command of a group: its name, ``module:attribute`` (a function or a ``typer.Typer``),
    the one line shown in the group's help, and the typer settings it is registered with."""

    name: str
    target: str
    short_help: str
    settings: dict[str, Any] = field(default_factory=dict)


class LazyCommand(TyperCommand):
    """Stands in for a command in its group's help; parsing it loads and hands over to the real one."""

    def __init__(self, entry: CommandEntry) -> None:
        super().__init__(entry.name, short_help=entry.short_help, help=entry.short_help, add_help_option=False)
        self.entry = entry
        self._real: Any = None

    def load(self) -> Any:
        if self._real is None:
            module_name, attribute = self.entry.target.split(":")
            target = getattr(importlib.import_module(module_name), attribute)
            if isinstance(target, typer.Typer):  # a group, even of one command (rlops log validate)
                target._add_completion = False  # a subgroup offers no shell-completion flags of its own
                self._real = typer.main.get_group(target)
            else:
                single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
                single.command(self.entry.name, **self.entry.settings)(target)
                self._real = typer.main.get_command(single)
            self._real.name = self.entry.name
        return self._real

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        return self.load().make_context(info_name, args, parent=parent, **extra)


def lazy_group(name: str, help_text: str, entries: list[CommandEntry]) -> TyperGroup:
    """A typer group over ``entries``, none imported until it runs."""
    return TyperGroup(name=name, help=help_text, no_args_is_help=True,
                      commands={entry.name: LazyCommand(entry) for entry in entries})
