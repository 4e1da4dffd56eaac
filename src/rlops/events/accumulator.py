"""``MetricsAccumulator``: per-step batches in, one compact ``metrics`` record per cadence out.

What is summed every step and what is computed once per record is the whole design: at 16,384
envs a per-step entropy over logits or a per-step quantile costs three times the env step itself.

- every step, on the batch's own device: sums of rewards, terminations, truncations, resets,
  successes, values and squared values, negative log-probabilities, and the action histogram.
  Exact over the window, a few microseconds each. Small host batches (at most ``HOLD_ENVS`` envs,
  e.g. SB3's 8 CartPoles) are copied aside instead and reduced together every ``HOLD_ROWS`` rows
  and at the record: a NumPy reduction costs about a microsecond however few values it has.
- every step, a strided copy of at most ``rows_per_step`` rows into a bounded sample (the newest
  ``sample_size`` rows are kept): logits, the chosen info arrays, and rewards when their
  percentiles are asked for. With few envs nothing is skipped and the results are exact.
- once per record: entropy over the sampled logits and p10/p50/p90 of each sampled quantity; then
  every result is gathered into one vector and moved to the host in ONE transfer.

CPU tensors are read through zero-copy NumPy views (torch's per-call dispatch costs more than the
arithmetic); device tensors stay on their device, where each op is an asynchronous kernel, so
nothing waits for the device until the record. Non-finite results (a NaN reward) never reach a
record: they are dropped and counted under ``nonfinite``.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from rlops.events.metrics_math import HOST_OPS, host_array, mean_std, ops_of, percentile_names, view

QUANTILES = (0.1, 0.5, 0.9)
HOLD_ENVS = 256  # host batches of at most this many envs are held and reduced together...
HOLD_ROWS = 16384  # ...every this many rows (and at each record): 128 KiB of float64 per quantity
_COUNTS = frozenset(("done", "trunc", "reset", "success"))
_count_nonzero = np.count_nonzero


class _Sample:
    """The newest rows (whole strided batches) of one per-step quantity, about ``capacity`` of them."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.parts: deque[Any] = deque()
        self.size = 0

    def add(self, part: Any) -> None:
        self.parts.append(part)
        self.size += len(part)
        while len(self.parts) > 1 and self.size - len(self.parts[0]) >= self.capacity:
            self.size -= len(self.parts.popleft())


class MetricsAccumulator:
    def __init__(self, info_keys: Sequence[str] = (), n_actions: int | None = None, reward_percentiles: bool = False,
                 quantiles: Sequence[float] = QUANTILES, sample_size: int = 8192, rows_per_step: int = 1024,
                 numpy_for_cpu_tensors: bool = True) -> None:
        self.info_keys = tuple(info_keys)
        self.n_actions = n_actions
        self.reward_percentiles = reward_percentiles
        self.quantiles = tuple(quantiles)
        self.sample_size = sample_size
        self.rows_per_step = rows_per_step
        self.numpy_for_cpu_tensors = numpy_for_cpu_tensors
        self._bins_from_data = False
        self._last_wall = 0.0
        self._last_sps = 0.0
        self._reset_window()

    def _reset_window(self) -> None:
        self.transitions = 0  # env steps seen in this window (host-side: batch shapes are known)
        self._sums: dict[str, Any] = {}
        self._counts: dict[str, int] = {}
        self._samples: dict[str, _Sample] = {}
        self._held: defaultdict[str, list[np.ndarray]] = defaultdict(list)
        self._held_rows = 0
        self._action_ones = 0  # binary actions of big host batches: the histogram's second bin...
        self._action_rows = 0  # ...of this many actions (folded into "actions" at the record)

    def _fold_binary_actions(self) -> None:
        if self._action_rows:
            bins = [self._action_rows - self._action_ones, self._action_ones] + [0] * (max(self.n_actions or 2, 2) - 2)
            self._add("actions", np.array(bins, dtype=np.float64), self._action_rows)
            self._action_ones = self._action_rows = 0

    # -- every step ---------------------------------------------------------------------------

    def update(self, rewards: Any, terminated: Any, truncated: Any, resets: Any = None, actions: Any = None,
               values: Any = None, logits: Any = None, log_probs: Any = None,
               infos: Mapping[str, Any] | None = None, successes: Any = None) -> None:
        """Add one vector step: each argument holds one entry per env (``logits``: one row per env)."""
        host = self._big_host(rewards)
        if host is not None:
            self._update_host(host, terminated, truncated, resets, actions, values, logits, log_probs, infos, successes)
            return
        rewards = self._flat(rewards)[1]
        n = len(rewards)
        self.transitions += n
        self._put("reward", rewards)
        self._count_ends(self._put, terminated, truncated, resets, successes)
        if self.reward_percentiles:
            self._sample("pct:reward", rewards)
        if actions is not None:
            self._put("actions", actions)
        if values is not None:
            self._put("value", values)
        if logits is not None:
            self._sample("logits", view(logits, self.numpy_for_cpu_tensors)[1])
        elif log_probs is not None:
            # E[-log pi(a|s)] over the sampled actions is the policy's entropy: exact in expectation, cheap.
            self._put("neg_log_prob", log_probs)
        for key, array in (infos or {}).items():
            self._sample(f"pct:{key}", self._flat(array)[1])
        if n <= HOLD_ENVS:
            self._held_rows += n
            if self._held_rows >= HOLD_ROWS:
                self._reduce_held()

    def _update_host(self, rewards: np.ndarray, terminated: Any, truncated: Any, resets: Any, actions: Any, values: Any,
                     logits: Any, log_probs: Any, infos: Mapping[str, Any] | None, successes: Any) -> None:
        """``update`` for a host batch above ``HOLD_ENVS`` envs (NumPy arrays, CPU tensors' views): the
        same sums in the same order, one NumPy call each. At 16,384 envs the general path's layers
        (ops lookup, a tuple per view, a 2-bin array per histogram) cost half as much as the arithmetic."""
        n = len(rewards)
        self.transitions += n
        self._add("reward", HOST_OPS.total(rewards), n)
        self._count_ends(self._count, terminated, truncated, resets, successes)
        if self.reward_percentiles:
            self._sample("pct:reward", rewards, HOST_OPS)
        if actions is not None:
            flat = self._big_host(actions)
            if flat is not None and self.n_actions == 2 and not self._bins_from_data:
                self._action_ones += _count_nonzero(flat)  # the 2-bin histogram, counted as an int
                self._action_rows += len(flat)
            else:
                self._put("actions", actions)
        if values is not None:
            flat = self._big_host(values)
            if flat is None:
                self._put("value", values)
            else:
                self._add("value", HOST_OPS.total(flat), len(flat))
                self._add("value_sq", HOST_OPS.squares(flat), len(flat))
        if logits is not None:
            array = host_array(logits, self.numpy_for_cpu_tensors)
            if array is None:
                self._sample("logits", view(logits, self.numpy_for_cpu_tensors)[1])
            else:
                self._sample("logits", array, HOST_OPS)
        elif log_probs is not None:
            self._put("neg_log_prob", log_probs)
        for key, array in (infos or {}).items():
            flat = self._big_host(array)
            if flat is None:
                self._sample(f"pct:{key}", self._flat(array)[1])
            else:
                self._sample(f"pct:{key}", flat, HOST_OPS)

    def _big_host(self, x: Any) -> np.ndarray | None:
        """``x`` flat, when it is a host batch of more than ``HOLD_ENVS`` entries (reduced at once), else None."""
        array = host_array(x, self.numpy_for_cpu_tensors)
        if array is None:
            return None
        if array.ndim != 1:
            array = array.reshape(-1)
        return array if len(array) > HOLD_ENVS else None

    @staticmethod
    def _count_ends(count: Callable[[str, Any], None], terminated: Any, truncated: Any, resets: Any,
                    successes: Any) -> None:
        """The step's terminations, truncations, resets and successes, each by ``count``: ``_put`` on the
        general path, ``_count`` (one ``count_nonzero`` a mask) on the host fast path."""
        count("done", terminated)
        count("trunc", truncated)
        if resets is not None:
            count("reset", resets)
        if successes is not None:
            count("success", successes)

    def _count(self, name: str, mask: Any) -> None:
        flat = self._big_host(mask)
        if flat is None:
            self._put(name, mask)
        else:
            self._add(name, _count_nonzero(flat), len(flat))

    def _flat(self, x: Any) -> tuple[Any, Any]:
        if type(x) is np.ndarray and x.ndim == 1:  # most inputs: skip two calls, a few hundred ns each
            return HOST_OPS, x
        ops, array = view(x, self.numpy_for_cpu_tensors)
        if ops is HOST_OPS and type(array) is np.ndarray and array.ndim == 1:  # a CPU tensor's view: as it is
            return ops, array
        return ops, ops.asarray(array)

    def _put(self, name: str, x: Any) -> None:
        """Reduce one per-env quantity now, or hold a copy of it when it is a small host batch."""
        ops, x = self._flat(x)
        if ops is HOST_OPS and len(x) <= HOLD_ENVS:
            # A copy: producers may reuse their buffers (SB3 adds the bootstrapped value to rewards).
            self._held[name].append(x.copy())
        else:
            self._reduce(name, ops, x)

    def _reduce_held(self) -> None:
        for name, parts in self._held.items():
            if parts:
                joined = np.concatenate(parts)
                parts.clear()
                if joined.dtype.kind == "f" and joined.dtype.itemsize < 8:
                    joined = joined.astype(np.float64)  # one float64 sum: closer than per-step float32 sums
                self._reduce(name, HOST_OPS, joined)
        self._held_rows = 0

    def _reduce(self, name: str, ops: Any, x: Any) -> None:
        n = len(x)
        if name in _COUNTS:
            self._add(name, ops.count(x), n)
        elif name == "actions":
            self._add_actions(ops, x)
        elif name == "value":
            self._add("value", ops.total(x), n)
            self._add("value_sq", ops.squares(x), n)
        elif name == "neg_log_prob":
            self._add(name, -ops.total(x), n)
        else:
            self._add(name, ops.total(x), n)

    def _add(self, name: str, value: Any, n: int) -> None:
        previous = self._sums.get(name)
        self._sums[name] = value if previous is None else previous + value
        self._counts[name] = self._counts.get(name, 0) + n

    def _sample(self, name: str, array: Any, ops: Any = None) -> None:
        sample = self._samples.get(name)
        if sample is None:
            sample = self._samples[name] = _Sample(self.sample_size)
        stride = -(-len(array) // self.rows_per_step)
        # A copy: producers may reuse their buffers (CleanRL's storage tensors) before we read it.
        sample.add((ops or ops_of(array)).every_nth_row(array, stride))

    def _add_actions(self, ops: Any, actions: Any) -> None:
        if self.n_actions is None or self._bins_from_data:
            # Unknown action count: size the histogram from the data, every step (a host read
            # for device tensors; give n_actions to avoid it).
            self._bins_from_data = True
            self._grow_histogram(int(actions.max()) + 1)
        self._add("actions", ops.histogram(actions, self.n_actions), len(actions))

    def _grow_histogram(self, bins: int) -> None:
        if self.n_actions is not None and bins <= self.n_actions:
            return
        counts = self._sums.get("actions")
        if counts is not None:
            ops = ops_of(counts)
            self._sums["actions"] = ops.concat([counts, ops.zeros(bins - len(counts), like=counts)])
        self.n_actions = bins

    # -- once per record ----------------------------------------------------------------------

    def take_window(self, env_steps: int, opt_steps: int = 0, wall_time_s: float = 0.0) -> dict[str, Any]:
        """The metrics record's fields for the window since the last call (one host transfer); the
        window starts again. It writes nothing: the caller makes the record and emits it."""
        return self.take_window_with(env_steps, opt_steps, wall_time_s)[0]

    def take_window_with(self, env_steps: int, opt_steps: int = 0, wall_time_s: float = 0.0,
                         extra: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """``take_window``, with the producer's own tensors (``extra``: name -> tensor of any shape, e.g. a
        trainer's losses) moved to the host in the same one transfer; returned as flat float64 arrays."""
        extra_host = _extra_to_host(extra) if extra and not self.transitions else {}
        record: dict[str, Any] = {"env_steps": int(env_steps), "opt_steps": int(opt_steps),
                                  "wall_time_s": float(wall_time_s)}
        elapsed = wall_time_s - self._last_wall
        if self.transitions and elapsed > 0:
            self._last_sps = self.transitions / elapsed
            self._last_wall = wall_time_s
        # An empty window (a record of losses only) repeats the last rate rather than claim 0.
        record["sps"] = self._last_sps
        if self.transitions:
            self._reduce_held()
            self._fold_binary_actions()
            record.update(self._window_values(extra or {}, extra_host))
        self._reset_window()
        return record, extra_host

    def _window_values(self, extra: Mapping[str, Any] | None = None,
                       extra_host: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
        results: dict[str, Any] = {_EXTRA + name: value for name, value in (extra or {}).items()}
        results.update(self._sums)
        for name, sample in self._samples.items():
            ops = ops_of(sample.parts[0])
            joined = ops.rows(sample.parts)
            if name == "logits":
                results["entropy"] = ops.entropy_from_logits(joined)
            else:
                # ``joined`` is a fresh copy (``rows`` concatenates), so the quantiles may reorder it.
                results[name] = ops.quantiles(ops.asarray(joined), self.quantiles, scratch=True)
        host = _to_host(results)
        for name in [n for n in host if n.startswith(_EXTRA)]:
            if extra_host is not None:
                extra_host[name[len(_EXTRA):]] = host[name]
            del host[name]
        return self._finish(host)

    def _finish(self, sums: dict[str, Any]) -> dict[str, Any]:
        n = self.transitions
        out: dict[str, Any] = {
            "done_rate": sums["done"] / n,
            "trunc_rate": sums["trunc"] / n,
            "reward_mean": sums["reward"] / n,
        }
        if "reset" in sums:
            out["reset_rate"] = sums["reset"] / n
        if "success" in sums:
            ended = sums["done"] + sums["trunc"]
            if ended:
                out["success_rate"] = sums["success"] / ended
        if "value" in sums:
            out["value_mean"], out["value_std"] = mean_std(sums["value"], sums["value_sq"], self._counts["value"])
        if "entropy" in sums:
            out["entropy_mean"] = sums["entropy"]
        elif "neg_log_prob" in sums:
            out["entropy_mean"] = sums["neg_log_prob"] / self._counts["neg_log_prob"]
        if "actions" in sums:
            out["action_hist"] = [int(round(c)) for c in sums["actions"]]
        for name, value in sums.items():
            if name.startswith("pct:"):
                out.update(zip(percentile_names(name[4:], self.quantiles), value, strict=True))
        return _finite(out)


_VECTORS = ("actions",)
_EXTRA = "extra:"  # a producer's own tensors, riding in the record's transfer


def _extra_to_host(extra: Mapping[str, Any]) -> dict[str, np.ndarray]:
    host = _to_host({_EXTRA + name: value for name, value in extra.items()})
    return {name[len(_EXTRA):]: value for name, value in host.items()}


def _to_host(results: dict[str, Any]) -> dict[str, Any]:
    """Move every device value to the host in ONE transfer (values on the host pass through)."""
    on_device = {name: value for name, value in results.items() if ops_of(value).name == "torch"}
    host = {name: value for name, value in results.items() if name not in on_device}
    if on_device:
        ops = ops_of(next(iter(on_device.values())))
        flat = ops.to_host(ops.concat(list(on_device.values())))
        offset = 0
        for name, value in on_device.items():
            size = int(value.numel())
            host[name] = flat[offset:offset + size] if _is_vector(name) else flat[offset]
            offset += size
    for name, value in host.items():
        if name.startswith(_EXTRA):
            host[name] = np.asarray(value, dtype=np.float64).reshape(-1)
        elif _is_vector(name):
            host[name] = [float(v) for v in value]
        else:
            host[name] = float(value)
    return host


def _is_vector(name: str) -> bool:
    return name in _VECTORS or name.startswith(("pct:", _EXTRA))


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    dropped = 0
    for key, value in values.items():
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            dropped += 1
        else:
            out[key] = value
    if dropped:
        out["nonfinite"] = dropped
    return out
