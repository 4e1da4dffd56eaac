"""The option set: every section and key, declared once with type, default and help.

The file, environment and CLI forms, the `rlops options` table and the JSON Schema are all
generated from these models (see ``fields.py``); nothing here names a library that implements
an option (SPEC §1: options say *what*, bindings say *how*).

Seed aliases live beside the field they belong to, in ``json_schema_extra``:
``{"cli_aliases": ["--tracking-uri"], "env_aliases": ["RL_REGISTRY_DB"]}``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# "3e-4", "0.001", "lin_3e-4" (linear decay to 0, RL Zoo's spelling), "const_1e-3".
LEARNING_RATE_PATTERN = re.compile(r"^(?:(lin|const)_)?[+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")

# What store.backend may name: local (the run directory and the run store, always there) and one
# sink each in sinks/registry.py's FACTORIES. The options import nothing of the sinks (they are
# below them), so the list is here and tests/options/test_store_backends.py holds the registry to it.
STORE_BACKENDS = ("local", "s3", "mlflow", "wandb", "tensorboard")


def aliases(*, cli: list[str] | None = None, env: list[str] | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if cli:
        extra["cli_aliases"] = cli
    if env:
        extra["env_aliases"] = env
    return extra


# What an option's value names outside the option set, for what a request over HTTP may set
# (rlops.api.reach): code to import, a checkpoint to load, an address to connect to or listen
# on, a filesystem path, a URI that is an address or a path, or free keyword arguments that may
# hold any of them. tests/api/test_request_addresses.py fails on an option that looks like one
# of these and is unmarked.
NAMES = ("code", "checkpoint", "address", "listen", "path", "uri", "kwargs")

# Options that were renamed: old dotted name -> new. The old name still works in a TOML file and in
# saved options (a checkpoint's, options.json); its environment and CLI spellings are aliases of
# the new option's.
RENAMED = {"registry.db_path": "store.db_path"}


def names(kind: str, *, cli: list[str] | None = None, env: list[str] | None = None) -> dict[str, Any]:
    assert kind in NAMES, kind
    return {"names": kind, **aliases(cli=cli, env=env)}


def _no_blank_token(value: Any) -> Any:
    """An empty or blank token is no token (one is then generated or required): never a secret
    that an empty header would match."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class EnvOptions(Section):
    """Env: which environment, how many copies, how they are seeded and vectorized."""

    env_id: str = Field("CartPole-v1", description="Gymnasium id (e.g. CartPole-v1) or 'module:callable'",
                        json_schema_extra=names("code"))
    n_envs: int = Field(8, ge=1, description="number of parallel environments")
    seed: int | None = Field(
        None, ge=0, description="random seed; unset draws one and records it in the run's options"
    )
    vectorization: Literal["auto", "sync", "async", "vector_entry_point", "envpool"] = Field(
        "auto", description="sync steps envs in this process; async runs one subprocess per env; "
                            "vector_entry_point: the env's own batched version (CartPole), train.engine=vector only; "
                            "envpool: EnvPool's C++ envs (extra), vector only; auto: vector_entry_point where the "
                            "env has one under the vector engine, else sync"
    )
    env_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="keyword arguments for the env constructor (JSON object)",
        json_schema_extra=names("kwargs"),
    )


class ObsOptions(Section):
    """Obs: observation preprocessing."""

    normalize: Literal["none", "obs", "reward", "all"] = Field(
        "none", description="running normalization of observations, rewards, or both (all)"
    )
    clip_range: float | None = Field(
        10.0, gt=0, description="clip (normalized) observations to [-clip_range, clip_range]; unset: no clip"
    )
    stack_frames: int | None = Field(None, ge=1, description="stack the last N observations; unset: no stacking")

    @field_validator("normalize", mode="before")
    @classmethod
    def _booleans_mean_all_or_none(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "all" if value else "none"
        if isinstance(value, str) and value.lower() in {"true", "1", "yes", "on"}:
            return "all"
        if isinstance(value, str) and value.lower() in {"false", "0", "no", "off"}:
            return "none"
        return value


class FeatureOptions(Section):
    """Feature: the network that turns observations into features."""

    encoder: str = Field(
        "auto",
        description="auto | mlp | cnn | transformer | 'module:Class' (an SB3 BaseFeaturesExtractor)",
        json_schema_extra=names("code", env=["RL_FEAT_ENCODER"]),
    )
    embed_dim: int | None = Field(None, ge=1, description="feature dimension of the encoder; unset: its default",
                                     json_schema_extra=aliases(env=["RL_FEAT_EMBED_DIM"]))


class AgentOptions(Section):
    """Agent: algorithm and policy network."""

    algorithm: str = Field("ppo", description="ppo | a2c | dqn | sac | td3")
    policy_type: str = Field(
        "auto", description="auto | MlpPolicy | CnnPolicy | MultiInputPolicy (auto picks from the obs space)"
    )
    net_arch: list[int] | dict[str, list[int]] | None = Field(
        None, description="hidden layer sizes, e.g. [64, 64] or {\"pi\": [64], \"vf\": [64]}; unset: the algorithm's default"
    )
    hyperparams: dict[str, Any] = Field(
        default_factory=dict,
        description="further keyword arguments of the algorithm (JSON object), e.g. {\"n_steps\": 32}",
        json_schema_extra=names("kwargs"),
    )

    @field_validator("algorithm")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()


class TrainOptions(Section):
    """Train: budget, optimisation and checkpoints."""

    total_timesteps: int = Field(100_000, ge=1, description="environment steps to train for")
    learning_rate: str = Field(
        "3e-4", description="a number ('3e-4') or a schedule: 'lin_3e-4' decays linearly to 0"
    )
    batch_size: int | None = Field(None, ge=1, description="minibatch size; unset: the algorithm's default")
    gamma: float | None = Field(None, gt=0, le=1, description="discount factor; unset: the algorithm's default")
    checkpoint_freq: int = Field(
        10_000, ge=0, description="write a checkpoint every N env steps (0: only at the end)"
    )
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N | mps")
    engine: Literal["sb3", "vector"] = Field(
        "sb3", description="sb3: Stable-Baselines3 (every algorithm); vector: rlops's own PPO/A2C over batched "
                           "envs and tensors (thousands of envs, on the GPU when train.device says so)"
    )
    init_from: str | None = Field(None, description="warm start: begin from the weights of this checkpoint or run "
                                                    "directory, or registry model id (it becomes the parent)",
                                      json_schema_extra=names("checkpoint"))
    resume: bool = Field(
        False, description="continue the run named by store.run_name (or the newest run) from its last checkpoint"
    )

    @field_validator("learning_rate", mode="before")
    @classmethod
    def _number_or_schedule(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("expected a number such as '3e-4' or a schedule such as 'lin_3e-4'")
        if isinstance(value, int | float):
            value = repr(float(value))
        if isinstance(value, str):
            value = value.strip()
            if not LEARNING_RATE_PATTERN.match(value) or float(value.split("_")[-1]) <= 0:
                raise ValueError("expected a positive number such as '3e-4' or a schedule such as 'lin_3e-4'")
        return value


class EvalOptions(Section):
    """Eval: how checkpoints are scored."""

    episodes: int = Field(10, ge=1, description="episodes per evaluation")
    deterministic: bool = Field(True, description="act greedily during evaluation")
    freq: int = Field(0, ge=0, description="evaluate every N env steps during training (0: only at the end)")
    record_steps: bool = Field(True, description="record each step of the final evaluation (for replay)")
    frame_every: int = Field(10, ge=0, description="save a frame every N recorded steps where the env renders (0: none)")
    stop_reward: float | None = Field(
        None, description="stop training once a periodic evaluation (eval.freq) scores at least this mean reward; the "
                          "run then finishes as at the end of its budget (final evaluation, registry); unset: train "
                          "the whole budget (examples/cartpole-vector-quick.toml stops at 475: CartPole solved)")


class InferOptions(Section):
    """Infer: which model to run."""

    model_path: str | None = Field(None, json_schema_extra=names("checkpoint"),
                                   description="a checkpoint directory, or a run directory (its newest checkpoint)")
    model_id: int | None = Field(None, ge=1, description="a registry model id",
                                 json_schema_extra=aliases(cli=["--model-id"]))
    load_best: bool = Field(False, description="load the best validated model in the registry",
                            json_schema_extra=aliases(cli=["--load-best"]))
    env_id: str | None = Field(None, description="with load_best or status: only models of this env",
                               json_schema_extra=aliases(cli=["--env"]))
    status: Literal["staging", "production"] | None = Field(
        None, description="load the model in this deployment status", json_schema_extra=aliases(cli=["--status"]))
    allow_unvalidated: bool = Field(False, description="accept a registry model that failed or skipped validation",
                                    json_schema_extra=aliases(cli=["--allow-unvalidated"]))
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N | mps")
    episodes: int = Field(1, ge=1, description="episodes to run")

    @model_validator(mode="after")
    def _one_model_source(self) -> InferOptions:
        chosen = [name for name, on in (("model_path", self.model_path is not None),
                                        ("model_id", self.model_id is not None),
                                        ("load_best", self.load_best),
                                        ("status", self.status is not None)) if on]
        if len(chosen) > 1:
            raise ValueError(f"choose one model source, not {' and '.join(chosen)}")
        return self


class StoreOptions(Section):
    """Store: where runs, models and experiment tracking go."""

    backend: str = Field("local", description=f"{' | '.join(STORE_BACKENDS)} (comma-separated for several)",
                         json_schema_extra=aliases(cli=["--backend"]))
    tracking_uri: str | None = Field(None, description="tracking endpoint of the backend (MLflow URI, S3 URL...)",
                                     json_schema_extra=names("uri", cli=["--tracking-uri"]))
    experiment_name: str = Field("default", description="experiment the run belongs to",
                                 json_schema_extra=aliases(cli=["--experiment-name"]))
    s3_uri: str | None = Field(None, description="s3://bucket/prefix of the s3 backend (unset: tracking_uri "
                                                 "when it is an s3:// URL)", json_schema_extra=names("uri"))
    endpoint_url: str | None = Field(None, description="S3-compatible endpoint for the s3 backend (unset: AWS)",
                                     json_schema_extra=names("address"))
    wandb_mode: Literal["online", "offline"] = Field("offline", description="Weights & Biases mode of the wandb "
                                                                          "backend ($WANDB_MODE wins)")
    run_name: str | None = Field(None, description="name of the run directory; unset: <env>-<algo>-<time>")
    model_dir: str = Field("rlruns", description="root directory of run directories", json_schema_extra=names("path"))
    db_path: str = Field("rlruns/rlops.db", description="SQLite database of the run store and the model registry (was "
                         "registry.db_path: that name, its RL_REGISTRY_DB_PATH and --registry.db-path still set it)",
                         json_schema_extra=names("path", cli=["--registry.db-path", "--registry-db"],
                                                 env=["RL_REGISTRY_DB_PATH", "RL_REGISTRY_DB"]))
    checkpoint_freq: int | None = Field(
        None, ge=0, description="push checkpoints to the backend every N env steps; unset: as train.checkpoint_freq"
    )

    @field_validator("backend")
    @classmethod
    def _known_backends(cls, value: str) -> str:
        names = [part.strip().lower() for part in value.split(",") if part.strip()]
        unknown = [name for name in names if name not in STORE_BACKENDS]
        if unknown or not names:
            raise ValueError(f"expected one or more of {', '.join(sorted(STORE_BACKENDS))} separated by commas")
        return ",".join(names)

    @property
    def backends(self) -> list[str]:
        """The backend sinks ``backend`` names (all but ``local``, which every run has)."""
        return [name for name in self.backend.split(",") if name != "local"]


class RegistryOptions(Section):
    """Registry: the SQLite model registry and its validation and retention rules."""

    enable: bool = Field(True, description="register checkpoints and evaluations")
    min_reward: float | None = Field(None, description="validation: mean eval reward must reach this; unset: the "
                                                       "env's spec.reward_threshold (CartPole-v1: 475) where it has one",
                                     json_schema_extra=aliases(cli=["--min-reward"]))
    min_episodes: int = Field(10, ge=1, description="validation: at least this many eval episodes")
    max_std_ratio: float | None = Field(0.5, gt=0, description="validation: reward std must stay below this x |mean| "
                                                               "(unset: no stability rule)")
    keep_top_n: int | None = Field(None, ge=1, description="retention: keep the N best models per env and algorithm")
    max_age_days: float | None = Field(None, gt=0, description="retention: prune models older than this",
                                       json_schema_extra=aliases(cli=["--max-age"]))


class MetricsOptions(Section):
    """Metrics: the OpenTelemetry metric stream."""

    enable: bool = Field(True, description="export metrics", json_schema_extra=aliases(cli=["--metrics"]))
    exporter: Literal["file", "otlp", "prometheus", "console"] = Field("file", description="where metrics go")
    endpoint: str | None = Field(None, description="OTLP collector endpoint or Prometheus bind address",
                                 json_schema_extra=names("address", cli=["--metrics-endpoint"]))
    protocol: Literal["grpc", "http"] = Field("http", description="OTLP transport")
    export_interval: float = Field(10.0, gt=0, description="seconds between metric exports")
    track_reward: bool = Field(True, description="export reward metrics")
    track_loss: bool = Field(True, description="export loss metrics")
    track_entropy: bool = Field(True, description="export entropy metrics")
    track_fps: bool = Field(True, description="export steps-per-second")
    granularity: Literal["step", "episode"] = Field("episode", description="record cadence of reward metrics")
    info_keys: list[str] = Field(default_factory=list,
                                 description="keys of the env's info dict whose p10/p50/p90 go into metrics records")
    every_steps: int | None = Field(
        None, ge=1, description="env steps between the metrics records of rollout statistics (rates, reward, entropy, "
                                "values, SPS), whatever the rollout length; losses come at their update, at most once "
                                "per this many steps; unset: 2048 on the sb3 engine, one record per rollout on the "
                                "vector engine (thousands of envs pass 2048 steps at each vector step)")


class TracesOptions(Section):
    """Traces: OpenTelemetry spans for the run, episodes, evaluations and checkpoints."""

    enable: bool = Field(True, description="export traces")
    endpoint: str | None = Field(None, description="OTLP collector endpoint", json_schema_extra=names("address"))
    sample_rate: float = Field(1.0, ge=0, le=1, description="fraction of traces kept",
                               json_schema_extra=aliases(cli=["--trace-sample-rate"]))
    trace_episodes: bool = Field(True, description="a span per episode")
    trace_steps: bool = Field(False, description="a span per step (high volume; sampled)")
    trace_evals: bool = Field(True, description="a span per evaluation")


class LogsOptions(Section):
    """Logs: structured log records (checkpoint saved, eval done, errors)."""

    enable: bool = Field(True, description="export logs")
    endpoint: str | None = Field(None, description="OTLP collector endpoint", json_schema_extra=names("address"))
    level: Literal["debug", "info", "warn", "error"] = Field("info", description="lowest level exported",
                                                            json_schema_extra=aliases(cli=["--log-level"]))

    @field_validator("level", mode="before")
    @classmethod
    def _lower_level(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().lower()
            return "warn" if value == "warning" else value
        return value


class ServeOptions(Section):
    """Serve: the policy server (``rlops serve``) and how it follows the registry."""

    host: str = Field("127.0.0.1", description="address to bind; anything but loopback requires serve.token",
                      json_schema_extra=names("listen"))
    port: int = Field(8700, ge=0, le=65535, description="port to bind (0: any free port)")
    hotswap: Literal["best", "production", "off"] = Field(
        "best", description="switch to a better validated model (best), to each newly promoted production model "
                            "(production), or never (off)")
    poll_interval: float = Field(1.0, gt=0, description="seconds between registry checks for a model to swap to")
    token: str | None = Field(None, description="bearer token every request must carry (required beyond loopback; "
                                                "empty or blank is none)")

    _token = field_validator("token", mode="before")(_no_blank_token)


class UiOptions(Section):
    """UI: the dashboard's HTTP API (``rlops ui``), served with the orchestrator."""

    host: str = Field("127.0.0.1", description="address to bind; anything but loopback requires a token",
                      json_schema_extra=names("listen"))
    port: int = Field(8765, ge=0, le=65535, description="port to bind (0: any free port)")
    token: str | None = Field(None, description="bearer token every request must carry (generated and printed "
                                                "when binding beyond loopback without one; empty or blank is none)")
    allowed_endpoints: list[str] = Field(
        default_factory=list,
        description="addresses a run started over HTTP may name (store.tracking_uri, *.endpoint...): host, "
                    "host:port, *.domain, * (any public address) or a network (10.0.0.0/8); a private, loopback or "
                    "link-local address must be named by its host or network, never by a wildcard")
    allowed_paths: list[str] = Field(
        default_factory=list,
        description="roots under which a run started over HTTP may name files (a directory, or s3://bucket/prefix); "
                    "unset: none (paths come from the server's own options)")

    _token = field_validator("token", mode="before")(_no_blank_token)


class OrchestratorOptions(Section):
    """Orchestrator: supervised runs (``rlops runs start``, sweeps), their queue, pre-flight and retention."""

    backend: Literal["local", "ray"] = Field("local", description="where supervised runs execute: local (this "
                                                                  "machine) or ray (a Ray cluster, see [ray])")
    max_concurrent: int = Field(2, ge=1, description="runs that may run at once; more wait in a FIFO queue")
    stop_grace_s: float = Field(10.0, ge=0, description="seconds between SIGTERM and SIGKILL when a run is stopped")
    poll_interval: float = Field(0.5, gt=0, description="seconds between the supervisor's looks at its runs")
    run_nice: int = Field(0, ge=0, le=19, description="niceness of each run's session, local or on its Ray node "
                                                      "(0-19): above 0 the supervisor's ingest keeps up when its runs "
                                                      "saturate the CPUs")
    idle_exit_s: float = Field(300.0, ge=0, description="a daemon that rlops runs start or sweep started exits after "
                                                       "this many seconds with nothing queued or running (0: never)")
    min_free_disk_gb: float = Field(1.0, ge=0, description="pre-flight: free disk under store.model_dir needed "
                                                           "to launch a run")
    python: str | None = Field(None, description="interpreter of the cleanrl runner's script (its own virtualenv; "
                                                 "unset: this Python)", json_schema_extra=names("path"))
    max_videos_per_run: int | None = Field(None, ge=0, description="retention: keep the newest N videos of each "
                                                                   "run (unset: all)")
    max_runs_per_agent: int | None = Field(None, ge=1, description="retention: keep the newest N finished runs per "
                                                                   "runner and env (unset: all)")
    max_age_days: float | None = Field(None, gt=0, description="retention: prune finished runs older than this")


class RayOptions(Section):
    """Ray: the cluster that runs supervised runs when ``orchestrator.backend = "ray"`` (the ``ray`` extra)."""

    address: str = Field("auto", description="the cluster: auto (the one this machine belongs to), HOST:PORT, or "
                                             "ray://HOST:PORT (Ray Client)", json_schema_extra=names("address"))
    num_cpus: float = Field(1.0, ge=0, description="CPUs each run reserves on its node")
    num_gpus: float = Field(0.0, ge=0, description="GPUs each run reserves on its node")
    resources: str = Field("{}", description='custom resources each run reserves, JSON (e.g. {"big_node": 1})')
    max_retries: int = Field(1, ge=0, description="times a run whose node died is started again on another node "
                                                  "(resumed from its last checkpoint); then it is lost")
    node_dir: str = Field("/tmp/rlops-ray", description="where run directories live on the nodes (each node's "
                                                        "own disk; the daemon never reads it)",
                          json_schema_extra=names("path"))

    @field_validator("resources")
    @classmethod
    def _resources_json(cls, value: str) -> str:
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or not all(isinstance(v, (int, float)) and v >= 0 for v in parsed.values()):
            raise ValueError('ray.resources is a JSON object of resource names to amounts, e.g. {"big_node": 1}')
        return value


class Options(BaseModel):
    """The whole option set of rlops, one section per pipeline feature."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    env: EnvOptions = Field(default_factory=EnvOptions)
    obs: ObsOptions = Field(default_factory=ObsOptions)
    feature: FeatureOptions = Field(default_factory=FeatureOptions)
    agent: AgentOptions = Field(default_factory=AgentOptions)
    train: TrainOptions = Field(default_factory=TrainOptions)
    eval: EvalOptions = Field(default_factory=EvalOptions)
    infer: InferOptions = Field(default_factory=InferOptions)
    store: StoreOptions = Field(default_factory=StoreOptions)
    registry: RegistryOptions = Field(default_factory=RegistryOptions)
    metrics: MetricsOptions = Field(default_factory=MetricsOptions)
    traces: TracesOptions = Field(default_factory=TracesOptions)
    logs: LogsOptions = Field(default_factory=LogsOptions)
    serve: ServeOptions = Field(default_factory=ServeOptions)
    orchestrator: OrchestratorOptions = Field(default_factory=OrchestratorOptions)
    ray: RayOptions = Field(default_factory=RayOptions)
    ui: UiOptions = Field(default_factory=UiOptions)

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, data: Any) -> Any:
        """Options saved under an old name (a checkpoint's, a run's options.json) still load."""
        if not isinstance(data, dict):
            return data
        data = {section: dict(table) if isinstance(table, dict) else table for section, table in data.items()}
        for old, new in RENAMED.items():
            (old_section, old_key), (new_section, new_key) = old.split("."), new.split(".")
            table = data.get(old_section)
            if isinstance(table, dict) and old_key in table:
                value = table.pop(old_key)
                target = data.setdefault(new_section, {})
                if isinstance(target, dict):
                    target.setdefault(new_key, value)
        return data
