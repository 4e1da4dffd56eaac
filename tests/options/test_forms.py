"""Every option, generated from the schema, set through each form; precedence default < file < env < CLI."""

from __future__ import annotations

import json
import types
import typing
from typing import Any

import pytest

from rlops.options import option_specs, resolve_options
from rlops.options.fields import OptionSpec
from rlops.options.schema import RENAMED

# Strings whose allowed values the schema checks by a validator rather than by type.
STRING_SAMPLES = {
    "train.learning_rate": ("1e-3", "lin_5e-4"),
    "store.backend": ("mlflow", "tensorboard,wandb"),
    "feature.encoder": ("mlp", "cnn"),
    "agent.algorithm": ("a2c", "sac"),
    "agent.policy_type": ("MlpPolicy", "CnnPolicy"),
    "train.device": ("cpu", "cuda"),
    "infer.device": ("cpu", "cuda"),
    "metrics.info_keys": (["dist"], ["dist", "height"]),
    "ui.allowed_endpoints": (["mlflow.lab:5000"], ["*", "10.20.0.0/16"]),
    "ui.allowed_paths": (["/srv/runs"], ["/srv/other", "s3://bucket/prefix"]),
    "ray.resources": ('{"big_node": 1}', '{"big_node": 0.5, "gpu_slot": 2}'),
}


def two_values(spec: OptionSpec) -> tuple[Any, Any]:
    """Two different valid values, neither null (TOML has no null)."""
    if spec.dotted in STRING_SAMPLES:
        return STRING_SAMPLES[spec.dotted]
    union = typing.get_origin(spec.annotation) in (typing.Union, types.UnionType)
    arms = [arm for arm in (typing.get_args(spec.annotation) if union else (spec.annotation,)) if arm is not type(None)]
    arm = arms[0]
    if arm is bool:
        return True, False
    if typing.get_origin(arm) is typing.Literal:
        choices = typing.get_args(arm)
        return choices[-1], choices[-2]
    if arm is int:
        return 3, 7
    if arm is float:
        return 0.25, 0.75
    if arm is str:
        return "alpha", "beta"
    if typing.get_origin(arm) is list:
        return [32, 32], [16]
    if typing.get_origin(arm) is dict:
        return {"n_steps": 16}, {"n_steps": 32, "ent_coef": 0.01}
    raise AssertionError(f"no sample values for {spec.dotted}: {spec.annotation}")


def text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml(v)}" for k, v in value.items()) + " }"
    return repr(value)


def write_file(tmp_path, spec: OptionSpec, value: Any):
    path = tmp_path / "opts.toml"
    path.write_text(f"[{spec.section}]\n{spec.key} = {toml(value)}\n")
    return path


def held(resolved, spec: OptionSpec) -> Any:
    value = getattr(getattr(resolved.options, spec.section), spec.key)
    return value


SPECS = option_specs()


@pytest.mark.parametrize("spec", SPECS, ids=[spec.dotted for spec in SPECS])
class TestEveryOption:
    def test_default(self, spec):
        assert held(resolve_options(environ={}), spec) == spec.default

    def test_file(self, spec, tmp_path):
        a, _ = two_values(spec)
        resolved = resolve_options(config=write_file(tmp_path, spec, a), environ={})
        assert held(resolved, spec) == a
        assert resolved.source_of(spec.dotted).startswith("file ")

    def test_environment(self, spec):
        a, _ = two_values(spec)
        resolved = resolve_options(environ={spec.env_name: text(a)})
        assert held(resolved, spec) == a
        assert resolved.source_of(spec.dotted) == f"environment {spec.env_name}"

    def test_cli(self, spec):
        a, b = two_values(spec)
        assert held(resolve_options(environ={}, args=[spec.cli_flag, text(a)]), spec) == a
        assert held(resolve_options(environ={}, args=[f"{spec.cli_flag}={text(b)}"]), spec) == b

    def test_precedence(self, spec, tmp_path):
        a, b = two_values(spec)
        config = write_file(tmp_path, spec, a)
        # file over default, environment over file, CLI over environment and file.
        assert held(resolve_options(config=config, environ={}), spec) == a
        assert held(resolve_options(config=config, environ={spec.env_name: text(b)}), spec) == b
        assert held(resolve_options(config=config, environ={spec.env_name: text(b)}, args=[spec.cli_flag, text(a)]), spec) == a
        assert held(resolve_options(config=config, args=[spec.cli_flag, text(b)], environ={}), spec) == b

    def test_aliases(self, spec):
        a, _ = two_values(spec)
        for alias in spec.cli_aliases:
            assert held(resolve_options(environ={}, args=[alias, text(a)]), spec) == a
        for alias in spec.env_aliases:
            assert held(resolve_options(environ={alias: text(a)}), spec) == a


def test_names_are_generated_from_the_dotted_name():
    spec = next(s for s in SPECS if s.dotted == "train.learning_rate")
    assert spec.env_name == "RL_TRAIN_LEARNING_RATE"
    assert spec.cli_flag == "--train.learning-rate"


def test_every_section_and_key_of_the_spec_exists():
    # SPEC §2: "more may be added, none dropped".
    required = {
        "env": "env_id n_envs seed vectorization env_kwargs",
        "obs": "normalize clip_range stack_frames",
        "feature": "encoder embed_dim",
        "agent": "algorithm policy_type net_arch hyperparams",
        "train": "total_timesteps learning_rate batch_size gamma checkpoint_freq device resume",
        "eval": "episodes deterministic freq",
        "infer": "model_path model_id load_best device",
        "store": "backend tracking_uri experiment_name run_name model_dir checkpoint_freq",
        "registry": "enable db_path min_reward min_episodes keep_top_n max_age_days",
        "metrics": "enable exporter endpoint protocol export_interval track_reward track_loss track_entropy "
                   "track_fps granularity",
        "traces": "enable endpoint sample_rate trace_episodes trace_steps trace_evals",
        "logs": "enable endpoint level",
    }
    # A renamed option's old name still sets it in every form (tests/options/test_renamed_options.py).
    have = {spec.dotted for spec in SPECS} | set(RENAMED)
    missing = {f"{section}.{key}" for section, keys in required.items() for key in keys.split()} - have
    assert not missing


def test_seed_aliases():
    resolved = resolve_options(environ={"RL_REGISTRY_DB": "/tmp/r.db"}, args=[
        "--tracking-uri", "sqlite:///m.db", "--experiment-name", "exp", "--backend", "mlflow",
        "--min-reward", "195", "--metrics", "--metrics-endpoint", "http://127.0.0.1:4318",
        "--trace-sample-rate", "0.5", "--log-level", "debug"])
    o = resolved.options
    assert (o.store.tracking_uri, o.store.experiment_name, o.store.backend) == ("sqlite:///m.db", "exp", "mlflow")
    assert o.store.db_path == "/tmp/r.db" and o.registry.min_reward == 195.0
    assert o.metrics.enable and o.metrics.endpoint == "http://127.0.0.1:4318"
    assert o.traces.sample_rate == 0.5 and o.logs.level == "debug"


def test_standard_otel_variables():
    o = resolve_options(environ={
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:9999",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_METRIC_EXPORT_INTERVAL": "5000",
        "OTEL_METRICS_EXPORTER": "prometheus",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    }).options
    assert o.metrics.endpoint == "http://127.0.0.1:4318" and o.logs.endpoint == "http://127.0.0.1:4318"
    assert o.traces.endpoint == "http://127.0.0.1:9999"  # the signal-specific variable wins
    assert o.metrics.protocol == "grpc" and o.metrics.export_interval == 5.0
    assert o.metrics.exporter == "prometheus" and o.traces.sample_rate == 0.1
    # RL_* names are more specific than OTEL_* and win.
    assert resolve_options(environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a", "RL_METRICS_ENDPOINT": "http://b"}
                           ).options.metrics.endpoint == "http://b"


def test_boolean_flag_forms():
    assert resolve_options(environ={}, args=["--train.resume"]).options.train.resume is True
    assert resolve_options(environ={}, args=["--train.resume", "false"]).options.train.resume is False
    assert resolve_options(environ={"RL_TRAIN_RESUME": "1"}, args=["--no-train.resume"]).options.train.resume is False


def test_learning_rate_accepts_numbers_and_schedules(tmp_path):
    path = tmp_path / "lr.toml"
    path.write_text("[train]\nlearning_rate = 0.001\n")
    assert resolve_options(config=path, environ={}).options.train.learning_rate == "0.001"
    for value in ("3e-4", "3E-4", "0.0003", "lin_3e-4", "const_1e-3"):
        assert resolve_options(environ={}, args=["--train.learning-rate", value]).options.train.learning_rate == value


def test_rlops_toml_in_the_working_directory_is_read(tmp_path):
    (tmp_path / "rlops.toml").write_text("[env]\nn_envs = 3\n")
    assert resolve_options(environ={}).options.env.n_envs == 3
