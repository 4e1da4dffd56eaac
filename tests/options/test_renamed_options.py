"""registry.db_path is store.db_path now (one database holds the run store and the registry); the
old name still sets it from a TOML file, the environment, the CLI and saved options."""

from __future__ import annotations

from rlops.options import resolve_options
from rlops.options.schema import Options


def test_the_old_name_sets_the_new_option_in_every_form(tmp_path):
    old_file = tmp_path / "old.toml"
    old_file.write_text('[registry]\ndb_path = "from-file.db"\nenable = false\n', encoding="utf-8")
    resolved = resolve_options(config=old_file, environ={})
    assert resolved.options.store.db_path == "from-file.db" and resolved.options.registry.enable is False
    assert resolved.source_of("store.db_path").startswith("file")
    for environ in ({"RL_REGISTRY_DB_PATH": "env.db"}, {"RL_REGISTRY_DB": "env.db"}, {"RL_STORE_DB_PATH": "env.db"}):
        assert resolve_options(environ=environ).options.store.db_path == "env.db", environ
    for flag in ("--registry.db-path", "--registry-db", "--store.db-path"):
        assert resolve_options(environ={}, args=[flag, "cli.db"]).options.store.db_path == "cli.db", flag


def test_a_new_form_still_wins_over_an_old_name_in_a_lower_one(tmp_path):
    old_file = tmp_path / "old.toml"
    old_file.write_text('[registry]\ndb_path = "from-file.db"\n', encoding="utf-8")
    resolved = resolve_options(config=old_file, environ={}, args=["--store.db-path", "cli.db"])
    assert resolved.options.store.db_path == "cli.db"


def test_saved_options_of_before_the_rename_still_load():
    saved = Options().model_dump(mode="json")
    saved["registry"]["db_path"] = saved["store"].pop("db_path") and "old-run.db"  # an options.json of before
    assert Options.model_validate(saved).store.db_path == "old-run.db"  # a checkpoint's options
    assert resolve_options(environ={}, base=saved).options.store.db_path == "old-run.db"  # a resume's base
    assert "db_path" not in Options().model_dump()["registry"]
