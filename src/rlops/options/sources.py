"""The three forms of the option set: a TOML file, ``RL_*`` environment variables, CLI flags.

Each reader returns ``{dotted_name: (value, source)}`` with every value already checked, so a bad
value is reported with the form it came from. ``OTEL_*`` variables are read as the standard
OpenTelemetry spellings of the metrics, traces and logs options.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rlops.errors import OptionsError, UnknownNameError
from rlops.options.fields import OptionSpec, option_specs, specs_by_dotted
from rlops.options.schema import RENAMED
from rlops.options.values import check_value, parse_text

Layer = dict[str, tuple[Any, str]]

# Standard OpenTelemetry variables and the options they set. More specific names come later in
# this list and win over the general OTEL_EXPORTER_OTLP_ENDPOINT.
OTEL_VARIABLES: tuple[tuple[str, str, Any], ...] = (
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "metrics.endpoint", str),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "traces.endpoint", str),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", "logs.endpoint", str),
    ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "metrics.endpoint", str),
    ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "traces.endpoint", str),
    ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "logs.endpoint", str),
    ("OTEL_EXPORTER_OTLP_PROTOCOL", "metrics.protocol", "protocol"),
    ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "metrics.protocol", "protocol"),
    ("OTEL_METRIC_EXPORT_INTERVAL", "metrics.export_interval", "milliseconds"),
    ("OTEL_METRICS_EXPORTER", "metrics.exporter", "exporter"),
    ("OTEL_TRACES_SAMPLER_ARG", "traces.sample_rate", str),
    ("OTEL_LOG_LEVEL", "logs.level", str),
)


def read_file(path: str | Path) -> Layer:
    """Options from a TOML file with one table per section."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise OptionsError(f"options file {str(path)!r} does not exist",
                           hint="give an existing TOML file, e.g. examples/cartpole-ppo.toml") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise OptionsError(f"options file {str(path)!r} is not valid TOML: {exc}") from None
    sections = {spec.section for spec in option_specs()}
    layer: Layer = {}
    for section, table in document.items():
        if section not in sections:
            raise UnknownNameError("option section", section, sections,
                                   hint=f"in {path}; sections: {', '.join(sorted(sections))}")
        if not isinstance(table, dict):
            raise OptionsError(f"{path}: '{section}' must be a table such as [{section}], not a value")
        for key, value in table.items():
            spec = _spec_for(RENAMED.get(f"{section}.{key}", f"{section}.{key}"), f"option in [{section}] of {path}")
            source = f"file {path} [{section}] {key}"
            layer[spec.dotted] = (check_value(spec, value, source), source)
    return layer


def _spec_for(dotted: str, kind: str) -> OptionSpec:
    specs = specs_by_dotted()
    if dotted not in specs:
        raise UnknownNameError(kind, dotted, specs, hint="run 'rlops options' for the full list")
    return specs[dotted]


def read_environment(environ: Mapping[str, str]) -> Layer:
    """Options from ``RL_<SECTION>_<KEY>`` variables, their aliases, and the ``OTEL_*`` spellings."""
    layer: Layer = {}
    for name, dotted, kind in OTEL_VARIABLES:
        if name in environ and environ[name].strip():
            spec = specs_by_dotted()[dotted]
            text = _translate_otel(name, environ[name], kind)
            source = f"environment {name}"
            layer[dotted] = (check_value(spec, parse_text(spec, text, source), source), source)
    by_env = _env_names()
    prefixes = tuple(f"RL_{spec.section.upper()}_" for spec in option_specs())
    for name, text in environ.items():
        if name in by_env:
            spec = by_env[name]
            source = f"environment {name}"
            layer[spec.dotted] = (check_value(spec, parse_text(spec, text, source), source), source)
        elif name.startswith(prefixes):
            raise UnknownNameError("environment variable", name, by_env,
                                   hint="run 'rlops options' for every RL_* name")
    return layer


@functools.cache
def _env_names() -> dict[str, OptionSpec]:
    names = {}
    for spec in option_specs():
        names[spec.env_name] = spec
        for alias in spec.env_aliases:
            names[alias] = spec
    return names


def _translate_otel(name: str, text: str, kind: Any) -> str:
    text = text.strip()
    if kind == "protocol":
        return "grpc" if text == "grpc" else "http"  # http/protobuf and http/json are both HTTP
    if kind == "milliseconds":
        try:
            return str(float(text) / 1000.0)
        except ValueError:
            raise OptionsError(f"invalid value {text!r} for {name}", hint="expected milliseconds, e.g. 10000") from None
    if kind == "exporter":
        return text.split(",")[0].strip()
    return text


def read_cli(args: Sequence[str]) -> Layer:
    """Options from dotted flags: ``--train.total-timesteps 5000`` or ``--train.total-timesteps=5000``.

    A boolean flag alone means true (``--train.resume``); ``--no-train.resume`` means false.
    """
    flags = cli_flags()
    layer: Layer = {}
    index = 0
    while index < len(args):
        token = args[index]
        index += 1
        if not token.startswith("--"):
            raise OptionsError(f"unexpected argument {token!r}",
                               hint="options are given as --section.key VALUE, e.g. --train.total-timesteps 5000")
        flag, has_value, text = token.partition("=")
        negated = flag.startswith("--no-") and flag not in flags
        if negated:
            flag = "--" + flag.removeprefix("--no-")
        if flag not in flags:
            raise UnknownNameError("option", token.partition("=")[0], flags,
                                   hint="run 'rlops options' for every flag")
        spec = flags[flag]
        source = f"CLI flag {flag}"
        if spec.is_bool:
            if not has_value and index < len(args) and not args[index].startswith("--"):
                # "--train.resume false" as well as "--train.resume"; a stray word is an error here.
                text, has_value = args[index], "="
                index += 1
            value = parse_text(spec, text, source) if has_value else True
            if negated:
                value = not value
        elif negated:
            raise OptionsError(f"{token} is not a flag: {flag} takes {spec.type_name}")
        else:
            if not has_value:
                if index >= len(args):
                    raise OptionsError(f"{flag} needs a value", hint=f"{flag} takes {spec.type_name}")
                text = args[index]
                index += 1
            value = parse_text(spec, text, source)
        layer[spec.dotted] = (check_value(spec, value, source), source)
    return layer


BOOLEAN_WORDS = {"true", "false", "yes", "no", "on", "off", "1", "0"}


def split_positionals(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate a command's positional arguments from its ``--section.key`` flags and their values.

    Click cannot tell them apart (to it ``--model-id 1`` is an unknown flag and a positional ``1``),
    but the option table knows which flags take a value."""
    flags = cli_flags()
    positionals: list[str] = []
    options: list[str] = []
    index = 0
    while index < len(args):
        token = args[index]
        index += 1
        if not token.startswith("--"):
            positionals.append(token)
            continue
        options.append(token)
        flag = token.partition("=")[0]
        spec = flags.get(flag) or flags.get("--" + flag.removeprefix("--no-"))
        if spec is None or "=" in token or index >= len(args) or args[index].startswith("--"):
            continue
        if not spec.is_bool or args[index].lower() in BOOLEAN_WORDS:
            options.append(args[index])
            index += 1
    return positionals, options


@functools.cache
def cli_flags() -> dict[str, OptionSpec]:
    flags = {}
    for spec in option_specs():
        flags[spec.cli_flag] = spec
        for alias in spec.cli_aliases:
            flags[alias] = spec
    return flags
