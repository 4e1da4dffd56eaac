"""Resuming a run: its saved options come back, and the ones set now are laid over them.

A resumed run is the run it was (``options.json``, written when it started), changed only where
the caller set an option now: a longer ``train.total_timesteps``, another ``train.device``, a
new ``eval.episodes``. What shapes the network or the data it sees (``FIXED_ON_RESUME``) cannot
change: the checkpoint's weights and statistics only fit the run they came from.

"Set now" is what pydantic records as set on the ``Options`` (``model_fields_set``): the keys
that a file, the environment or the command line gave (``resolve_options``), or that the
library's caller passed or assigned. Defaults are never laid over saved values.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from rlops.errors import OptionsError
from rlops.options.schema import Options
from rlops.store.run_dir import RunDirectory

# Options that shape the network or the data it sees; a resumed run cannot change them.
FIXED_ON_RESUME = ("env.env_id", "env.env_kwargs", "obs", "feature", "agent")


def set_now(options: Options) -> dict[str, dict[str, Any]]:
    """The options set explicitly, section by section, as JSON values."""
    dumped = options.model_dump(mode="json")
    return {section: {key: dumped[section][key] for key in getattr(options, section).model_fields_set}
            for section in options.model_fields_set}


def resumed_options(options: Options, run: RunDirectory) -> Options:
    """``run``'s saved options with the ones set in ``options`` over them; refuses a change to
    ``FIXED_ON_RESUME`` naming the option, both values and what to do."""
    saved = run.read_options()
    merged = {section: dict(table) for section, table in saved.items()}
    for section, table in set_now(options).items():
        merged.setdefault(section, {}).update(table)
    try:
        resumed = Options.model_validate(merged)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise OptionsError(f"run {run.name}'s saved options with the ones given now are invalid at {where}: "
                           f"{str(error['msg']).removeprefix('Value error, ')}",
                           hint=f"fix the option given now, or look at {run.options_file}") from None
    check_fixed(resumed.model_dump(mode="json"), saved, run.name)
    resumed.store.run_name = run.name
    resumed.train.resume = True
    return resumed


def check_fixed(now: dict[str, Any], saved: dict[str, Any], run_name: str) -> None:
    for dotted in FIXED_ON_RESUME:
        section, _, key = dotted.partition(".")
        before, after = saved.get(section, {}), now.get(section, {})
        changed = [(key, before.get(key), after.get(key))] if key else \
            [(name, before.get(name), after.get(name)) for name in sorted({*before, *after})]
        for name, was, is_now in changed:
            if was != is_now:
                flag = f"--{section}.{name.replace('_', '-')}"
                raise OptionsError(f"{section}.{name} is {is_now!r} here but {was!r} in run {run_name}, which is "
                                   f"being resumed: a resumed run keeps its env, observations and network "
                                   f"({', '.join(FIXED_ON_RESUME)})",
                                   hint=f"drop {flag} to resume the run as it was, or start a new run "
                                        f"(without --train.resume) to train with {is_now!r}")
