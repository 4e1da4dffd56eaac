"""The option set as a form: what the dashboard's "start a run" page is generated from, and the
check it runs as the user types (the same check a start request passes).

    GET  /api/options                 the sections a run takes, each field with type, default,
                                      help, choices and bounds
    GET  /api/options/schema          the whole option set as JSON Schema
    POST /api/options/check           {"options": {"train.total_timesteps": 0}} -> each problem by option,
                                      then what ``rlops train`` would refuse of the whole draft
                                      (``rlops.api.run_check``: "did you mean 'ppo'?")

What a request's options may name outside the run (code, checkpoints, addresses, paths) is
``rlops.api.reach``'s rule, from the server's ``[ui]`` allowlists. Where the run executes (the
backend and its Ray options) is offered only by a server with a Ray cluster configured
(``rlops.api.placement``), with the server's own values as the defaults.
"""

from __future__ import annotations

import difflib
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from rlops.api import placement
from rlops.api.reach import Reach
from rlops.api.run_check import named_choices, run_problems
from rlops.errors import OptionsError, OptionsRejected
from rlops.options.fields import section_docs, specs_by_dotted
from rlops.options.introspect import json_schema
from rlops.options.schema import Options
from rlops.options.values import check_value

# What a run is made of. infer, serve, ui and orchestrator configure the servers themselves.
RUN_SECTIONS = ("env", "obs", "feature", "agent", "train", "eval", "store", "registry", "metrics", "traces", "logs")
# The orchestrator decides these for every run it starts (its directory, name and database).
DECIDED_BY_THE_SERVER = {"store.run_name", "store.model_dir", "store.db_path", "train.resume", "ray.node_dir"}
SCALARS = {"integer", "number", "string", "boolean"}
BOUNDS = {"minimum": "minimum", "maximum": "maximum", "exclusiveMinimum": "exclusive_minimum",
          "exclusiveMaximum": "exclusive_maximum"}


class CheckRequest(BaseModel):
    options: dict[str, Any] = Field(default_factory=dict, description="dotted option: value")


def add_options_routes(app: FastAPI, options: Options | None = None) -> None:
    """The form routes; a request's options are checked against the reach of ``options`` (the
    server's own), or of the defaults for a server that only reads runs."""
    reach = Reach.of(options)

    @app.get("/api/options")
    def form() -> dict[str, Any]:
        return {"sections": placement_sections(reach.own) + form_sections()}  # where the run executes, then what

    @app.get("/api/options/schema")
    def schema() -> dict[str, Any]:
        return json_schema()

    @app.post("/api/options/check")
    def check(body: CheckRequest) -> dict[str, Any]:
        problems = option_problems(body.options, reach) or run_problems(placement.split(body.options)[0])
        return {"ok": not problems, "errors": problems}


def form_sections() -> list[dict[str, Any]]:
    schema, docs, named = json_schema(), section_docs(), named_choices()
    sections = []
    for name in RUN_SECTIONS:
        definition = schema["$defs"][type_name_of(schema, name)]
        fields = [form_field(name, key, prop, named.get(f"{name}.{key}"))
                  for key, prop in definition["properties"].items() if f"{name}.{key}" not in DECIDED_BY_THE_SERVER]
        sections.append({"name": name, "doc": docs.get(name, ""), "fields": fields})
    return sections


def placement_sections(own: Options) -> list[dict[str, Any]]:
    """Where the run executes, on a server with a Ray cluster configured (none elsewhere): the
    backend, then the run's Ray options, each defaulting to the server's own value."""
    if not placement.offered(own):
        return []
    schema, sections = json_schema(), []
    for name, options, doc in (("orchestrator", (placement.BACKEND,), "where the run executes: this machine or the "
                                                                        "Ray cluster"),
                               ("ray", placement.RAY_OPTIONS, "a run on Ray: its cluster (the server's), what it "
                                                             "reserves on its node, how often it may start again")):
        properties = schema["$defs"][type_name_of(schema, name)]["properties"]
        fields = []
        for option in options:
            key = option.split(".", 1)[1]
            field = form_field(name, key, properties[key])
            field["default"] = placement.own_value(own, option)
            fields.append(field)
        sections.append({"name": name, "doc": doc, "fields": fields})
    return sections


def type_name_of(schema: dict[str, Any], section: str) -> str:
    return schema["properties"][section]["$ref"].rsplit("/", 1)[1]


def form_field(section: str, key: str, prop: dict[str, Any], named: list[str] | None = None) -> dict[str, Any]:
    """One input: a scalar type with its bounds and choices (the schema's, or ``named``: the names
    a registry holds, such as the algorithms), or "json" for lists, mappings and unions of several
    types (a textarea)."""
    arms = prop.get("anyOf", [prop])
    nullable = any(arm.get("type") == "null" for arm in arms)
    kinds = [arm for arm in arms if arm.get("type") != "null"]
    field: dict[str, Any] = {"option": f"{section}.{key}", "key": key, "type": "json", "nullable": nullable,
                             "default": prop.get("default"), "help": prop.get("description", ""), "choices": None,
                             **{name: None for name in BOUNDS.values()}}
    if len(kinds) == 1 and (kinds[0].get("type") in SCALARS or "enum" in kinds[0]):
        only = kinds[0]
        field["type"] = only.get("type", "string")
        field["choices"] = only.get("enum") or named
        field.update({ours: only[theirs] for theirs, ours in BOUNDS.items() if theirs in only})
    return field


def option_problems(values: dict[str, Any], reach: Reach) -> list[dict[str, str]]:
    """Every problem with a request's options, by option: unknown names (with the closest known),
    options the server decides, values their field refuses, and values that reach beyond what
    the server allows (``reach``)."""
    specs = specs_by_dotted()
    offered = placement.offered(reach.own)
    allowed = [dotted for dotted, spec in specs.items()
               if spec.section in RUN_SECTIONS and dotted not in DECIDED_BY_THE_SERVER]
    allowed += list(placement.PLACEMENT) if offered else []
    problems = []
    for option, value in values.items():
        if option in DECIDED_BY_THE_SERVER:
            problems.append({"option": option, "message": "set by the server for every run it starts"})
            continue
        if option in placement.PLACEMENT and not offered:
            problems.append({"option": option, "message": placement.not_offered(option)})
            continue
        if option not in allowed:
            close = difflib.get_close_matches(option, allowed, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append({"option": option, "message": f"not an option of a run{hint}"})
            continue
        try:
            checked = check_value(specs[option], value, "the request")
        except OptionsError as exc:
            problems.append({"option": option, "message": exc.message.split(": ", 1)[-1]})
            continue
        # What the value may reach first (an address the server does not allow is never tried), then
        # whether this server can run it there (its one Ray cluster).
        refusal = reach.problem(specs[option], checked) or placement.cluster_problem(reach.own, option, checked)
        if refusal is not None:
            problems.append({"option": option, "message": refusal})
    return problems


def checked_options(values: dict[str, Any], reach: Reach) -> dict[str, Any]:
    """``values`` if a run of them would start; else ``OptionsRejected`` naming each problem."""
    problems = option_problems(values, reach) or run_problems(placement.split(values)[0])
    if problems:
        raise OptionsRejected(problems)
    return values
