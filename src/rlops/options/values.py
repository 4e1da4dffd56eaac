"""Turning one raw value (text from ENV or CLI, or a TOML value) into a checked option value.

A value is checked as soon as it is read, so that an error can name the option, the form it came
from and what is allowed, rather than surfacing later from a merged dictionary.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from rlops.errors import OptionsError
from rlops.options.fields import OptionSpec

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}
NULL_WORDS = {"", "null", "none"}


def parse_text(spec: OptionSpec, text: str, source: str) -> Any:
    """Parse the text form of a value (environment variable or CLI argument)."""
    stripped = text.strip()
    if spec.allows_none and stripped.lower() in NULL_WORDS and not _none_is_a_choice(spec):
        return None
    if spec.is_bool:
        word = stripped.lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise OptionsError(
            f"invalid value {text!r} for {spec.dotted} from {source}",
            hint="expected a boolean: true/false, 1/0, yes/no, on/off",
        )
    if spec.is_structured:
        return _parse_structured(spec, stripped, source)
    return stripped


def _none_is_a_choice(spec: OptionSpec) -> bool:
    return "none" in spec.type_name.split(" | ")


def _parse_structured(spec: OptionSpec, text: str, source: str) -> Any:
    if text.startswith(("[", "{")):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise OptionsError(
                f"invalid JSON {text!r} for {spec.dotted} from {source}: {exc.msg} at character {exc.pos}",
                hint=f"expected {spec.type_name}, e.g. {_example(spec)}",
            ) from None
    if "list" in spec.type_name and text:
        # The short form of a list of layer sizes: "64,64".
        return [part.strip() for part in text.split(",")]
    raise OptionsError(
        f"invalid value {text!r} for {spec.dotted} from {source}",
        hint=f"expected {spec.type_name} as JSON, e.g. {_example(spec)}",
    )


def _example(spec: OptionSpec) -> str:
    return "[64, 64]" if "list" in spec.type_name else '{"key": 1}'


def check_value(spec: OptionSpec, value: Any, source: str) -> Any:
    """Validate one value against its field; return the value the option set will hold."""
    try:
        section = spec.section_model.model_validate({spec.key: value})
    except ValidationError as exc:
        problems = [error for error in exc.errors() if error["loc"][:1] in ((spec.key,), ())]
        detail = "; ".join(_describe(error) for error in problems or exc.errors())
        raise OptionsError(
            f"invalid value {value!r} for {spec.dotted} from {source}: {detail}",
            hint=f"{spec.dotted} takes {spec.type_name}; {spec.help}" if spec.help else None,
        ) from None
    return getattr(section, spec.key)


def _describe(error: Any) -> str:
    message = str(error["msg"])
    return message.removeprefix("Value error, ")
