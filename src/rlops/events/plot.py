"""``rlops plot``: a multi-panel PNG of a run's log (episode return, rates, percentile bands,
entropy, losses, SPS). Panels whose keys are missing are skipped and named; no panel at all is an
error. The episode-return panel is drawn from the episode records (each return, and the mean of
the last 100), never from ``reward_mean``: that is the reward per step (1.0 on every CartPole step).
Percentile bands exist only for ``metrics.info_keys``; a run without them lacks nothing."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from rlops.errors import WorkError
from rlops.events.reader import read_records
from rlops.events.schema import Episode, Metrics


@dataclass
class Series:
    metrics: dict[str, tuple[list[int], list[float]]] = field(default_factory=dict)
    episodes: tuple[list[int], list[float]] = field(default_factory=lambda: ([], []))
    bad_lines: int = 0


def collect(path: Path) -> Series:
    points: dict[str, tuple[list[int], list[float]]] = defaultdict(lambda: ([], []))
    series = Series()
    for _, record in read_records(path):
        if isinstance(record, Metrics):
            scalars = {"sps": record.sps, **record.values}
            for key, value in scalars.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    points[key][0].append(record.env_steps)
                    points[key][1].append(float(value))
        elif isinstance(record, Episode):
            series.episodes[0].append(record.env_steps)
            series.episodes[1].append(record.episode_return)
        elif not hasattr(record, "type"):
            series.bad_lines += 1
    series.metrics = dict(points)
    return series


EPISODE_RETURN = "episode return"
RECENT = 100  # episodes in the running mean, as SB3's ep_rew_mean and W&B's headline


def running_mean(values: list[float], window: int = RECENT) -> list[float]:
    """The mean of the last ``window`` values at each point."""
    means, total = [], 0.0
    for index, value in enumerate(values):
        total += value - (values[index - window] if index >= window else 0.0)
        means.append(total / min(index + 1, window))
    return means


@dataclass
class Panel:
    title: str
    lines: list[str]
    band: tuple[str, str, str] | None = None


def panels_for(series: Series) -> tuple[list[Panel], list[str]]:
    keys = set(series.metrics)
    panels: list[Panel] = []
    skipped: list[str] = []

    def add(title: str, wanted: list[str], band: tuple[str, str, str] | None = None) -> None:
        present = [key for key in wanted if key in keys]
        if present or (band and all(k in keys for k in band)):
            panels.append(Panel(title, present, band if band and all(k in keys for k in band) else None))
        else:
            skipped.append(f"{title} (no {', '.join(wanted)})")

    returns = [key for key in ("rollout/ep_rew_mean",) if key in keys]
    if returns or series.episodes[0]:
        panels.append(Panel(EPISODE_RETURN, returns))
    else:
        skipped.append(f"{EPISODE_RETURN} (no episode records or rollout/ep_rew_mean)")
    if "reward_mean" in keys:
        panels.append(Panel("reward per step", ["reward_mean"]))
    add("done / trunc rate", ["done_rate", "trunc_rate", "reset_rate", "success_rate"])
    bands = sorted(key[:-4] for key in keys if key.endswith("_p50") and f"{key[:-4]}_p10" in keys
                   and f"{key[:-4]}_p90" in keys)
    for stem in bands:
        add(f"{stem} p10/p50/p90", [f"{stem}_p50"], (f"{stem}_p10", f"{stem}_p50", f"{stem}_p90"))
    add("entropy", ["entropy_mean", "train/entropy_loss"])
    add("losses", sorted(key for key in keys if "loss" in key and key != "train/entropy_loss") or ["train/*loss"])
    add("steps per second", ["sps"])
    return panels, skipped


def plot_log(path: Path, output: Path) -> list[str]:
    """Write the PNG; return the names of skipped panels. ``WorkError`` when nothing is plottable."""
    series = collect(path)
    panels, skipped = panels_for(series)
    if not panels:
        raise WorkError(f"{path} has no plottable data ({series.bad_lines} unreadable lines)",
                        hint="a run writes metrics records after its first rollout; check 'rlops log validate'")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 2
    rows = (len(panels) + 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(12, 3.2 * rows), squeeze=False)
    for axis, panel in zip(axes.flat, panels, strict=False):
        if panel.title == EPISODE_RETURN and series.episodes[0]:
            steps, returns = series.episodes
            axis.scatter(steps, returns, s=4, alpha=0.3, label="episode return", color="tab:gray")
            axis.plot(steps, running_mean(returns), label=f"mean of last {RECENT}", linewidth=1.5, color="tab:blue")
            axis.set_ylabel("return")
        if panel.band:
            low, _, high = (series.metrics[key] for key in panel.band)
            axis.fill_between(low[0], low[1], high[1], alpha=0.3, label="p10-p90")
        for key in panel.lines:
            axis.plot(*series.metrics[key], label=key, linewidth=1.2)
        axis.set_title(panel.title)
        axis.set_xlabel("env steps")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7, loc="best")
    for axis in list(axes.flat)[len(panels):]:
        axis.axis("off")
    figure.suptitle(path.parent.name or str(path))
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=100)
    plt.close(figure)
    return skipped
