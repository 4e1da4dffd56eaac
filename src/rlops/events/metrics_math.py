"""The metrics math, pure: the same few reductions over NumPy arrays or torch tensors.

``array_ops(x)`` picks the implementation for an input; every function takes it and returns
values of the same kind on the same device (0-d arrays or tensors), so nothing here ever moves
data to the host. The accumulator decides when the host sees the results.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

# Host temporaries of the once-per-record math stay at most this many float64 values (32 KiB):
# a temporary of 128 KiB or more is mapped anew and page-faulted in on every use (glibc returns
# it to the OS when freed), which made entropy over 8,192 sampled logits cost 1-2 ms instead of ~0.1.
_BLOCK_VALUES = 4096
_NATIVE_SUM = frozenset("fdg")  # float32, float64, long double: summed in their own precision
_add_reduce = np.add.reduce


class NumpyOps:
    """Host arrays: per-step results are plain Python numbers (float64), nothing to synchronise."""

    name = "numpy"

    @staticmethod
    def asarray(x: Any, dtype: str | None = None) -> np.ndarray:
        return np.asarray(x, dtype=dtype).reshape(-1)

    @staticmethod
    def copy(x: Any) -> np.ndarray:
        return np.array(x, copy=True)

    @staticmethod
    def every_nth_row(x: np.ndarray, stride: int) -> np.ndarray:
        """A copy of rows 0, stride, 2 * stride... ``take`` copies each row whole, where copying the
        strided view walks a row's few columns one by one (2-3x slower for (N, 2) logits)."""
        if x.ndim < 2 or stride == 1:
            return np.array(x[::stride], copy=True)
        return x.take(_row_index(len(x), stride), axis=0)

    @staticmethod
    def total(x: np.ndarray) -> float:
        # Native-dtype pairwise sum (float64 conversion would double the cost), accumulated in float64.
        # ``add.reduce`` is what ``ndarray.sum`` calls, less its Python wrapper (~0.5 us).
        if x.dtype.char in _NATIVE_SUM:
            return float(_add_reduce(x))
        return float(_add_reduce(x, dtype=np.float64))

    @staticmethod
    def count(mask: np.ndarray) -> int:
        return int(np.count_nonzero(mask))

    @staticmethod
    def squares(x: np.ndarray) -> float:
        return float(np.dot(x, x)) if x.dtype.kind == "f" else float(np.dot(x.astype(np.float64), x))

    @staticmethod
    def histogram(actions: np.ndarray, bins: int) -> np.ndarray:
        if bins == 2:  # one count_nonzero instead of a bincount: 20x cheaper for binary actions
            ones = np.count_nonzero(actions)
            return np.array([len(actions) - ones, ones], dtype=np.float64)
        return np.bincount(actions.clip(0, bins - 1), minlength=bins).astype(np.float64)

    @staticmethod
    def zeros(n: int, like: Any = None) -> np.ndarray:
        return np.zeros(n, dtype=np.float64)

    @staticmethod
    def concat(parts: Sequence[Any]) -> np.ndarray:
        return np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1) for p in parts])

    @staticmethod
    def rows(parts: Sequence[np.ndarray]) -> np.ndarray:
        return np.concatenate(list(parts), axis=0)

    @staticmethod
    def quantiles(x: np.ndarray, qs: Sequence[float], scratch: bool = False) -> np.ndarray:
        """``scratch``: ``x`` is the caller's own copy, which may be reordered (saves two copies)."""
        return np.quantile(x.astype(np.float64, copy=not scratch), qs, overwrite_input=scratch)

    @staticmethod
    def entropy_from_logits(logits: np.ndarray) -> float:
        per_row = np.empty(len(logits))
        step = max(1, _BLOCK_VALUES // max(1, logits.shape[-1]))
        for start in range(0, len(logits), step):
            # A block as (actions, rows): each reduction runs across rows, vectorised, rather
            # than along a row of a few actions (one short inner loop per row, ~5x slower).
            shifted = logits[start:start + step].T.astype(np.float64, order="C")
            shifted -= shifted.max(axis=0)
            exp = np.exp(shifted)
            z = exp.sum(axis=0)
            # H = log Z - sum(p * shifted), with p = exp / Z: one exp and one log per row (in place).
            exp *= shifted
            weighted = exp.sum(axis=0)
            weighted /= z
            np.subtract(np.log(z, out=z), weighted, out=per_row[start:start + len(z)])
        return float(np.mean(per_row))

    @staticmethod
    def to_host(x: Any) -> list[float]:
        return np.asarray(x, dtype=np.float64).reshape(-1).tolist()


class TorchOps:
    name = "torch"

    def __init__(self) -> None:
        import torch

        self.torch = torch

    def asarray(self, x: Any, dtype: str | None = None) -> Any:
        return x.detach().reshape(-1)

    def copy(self, x: Any) -> Any:
        return x.detach().clone()

    def every_nth_row(self, x: Any, stride: int) -> Any:
        return x[::stride].detach().clone()

    def total(self, x: Any) -> Any:
        return x.sum(dtype=self.torch.float64)

    def count(self, mask: Any) -> Any:
        return mask.sum(dtype=self.torch.float64)

    def squares(self, x: Any) -> Any:
        x = x.to(self.torch.float64)
        return self.torch.dot(x, x)

    def histogram(self, actions: Any, bins: int) -> Any:
        # scatter_add into a fixed number of bins: no data-dependent shape, so no device sync.
        counts = self.torch.zeros(bins, dtype=self.torch.float64, device=actions.device)
        index = actions.to(self.torch.int64).clamp(0, bins - 1)
        return counts.scatter_add_(0, index, self.torch.ones_like(index, dtype=self.torch.float64))

    def zeros(self, n: int, like: Any = None) -> Any:
        return self.torch.zeros(n, dtype=self.torch.float64, device=None if like is None else like.device)

    def concat(self, parts: Sequence[Any]) -> Any:
        device = parts[0].device
        return self.torch.cat([p.to(device=device, dtype=self.torch.float64).reshape(-1) for p in parts])

    def rows(self, parts: Sequence[Any]) -> Any:
        return self.torch.cat(list(parts), dim=0)

    def quantiles(self, x: Any, qs: Sequence[float], scratch: bool = False) -> Any:
        x = x.to(self.torch.float64)
        return self.torch.quantile(x, self.torch.tensor(list(qs), dtype=self.torch.float64, device=x.device))

    def entropy_from_logits(self, logits: Any) -> Any:
        log_p = self.torch.log_softmax(logits.to(self.torch.float64), dim=-1)
        return -(log_p.exp() * log_p).sum(dim=-1).mean()

    def to_host(self, x: Any) -> list[float]:
        return x.tolist()  # the one host synchronisation (a single device-to-host copy on CUDA)


HOST_OPS = NumpyOps()  # the one instance: ``ops is HOST_OPS`` tells a host value
_TORCH: TorchOps | None = None
_TENSOR: list[type] = [type(None)]  # torch.Tensor once a tensor was seen (never imports torch itself)
# ...and its unbound ``numpy``: calling it skips the attribute lookup through torch's tensor type,
# a third of the call's cost (eight tensors a step).
_TENSOR_NUMPY: list[Any] = [None]


def is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")  # never import torch for NumPy-only producers
    return torch is not None and isinstance(x, torch.Tensor)


def view(x: Any, numpy_for_cpu: bool = True) -> tuple[NumpyOps | TorchOps, Any]:
    """The ops for ``x`` and ``x`` as they take it. A CPU tensor is viewed as a NumPy array
    (zero-copy): torch's per-call dispatch costs more than the arithmetic on a few thousand values,
    while a device tensor stays on its device, where every op is an asynchronous kernel."""
    global _TORCH
    if type(x) is np.ndarray:  # the common case first: a few hundred ns saved per array, ten arrays a step
        return HOST_OPS, x
    if numpy_for_cpu and type(x) is _TENSOR[0]:
        # A plain CPU tensor without grad: ask for the view straight away. Checking is_cpu and
        # requires_grad first cost more than the view (two property calls through torch's
        # dispatch, eight tensors a step); a device or grad tensor refuses, and goes the long way.
        try:
            return HOST_OPS, _TENSOR_NUMPY[0](x)
        except (TypeError, RuntimeError):
            pass
    if is_tensor(x):
        _TENSOR[0] = sys.modules["torch"].Tensor
        _TENSOR_NUMPY[0] = _TENSOR[0].numpy
        if numpy_for_cpu and x.is_cpu:
            return HOST_OPS, (x.detach() if x.requires_grad else x).numpy()
        if _TORCH is None:
            _TORCH = TorchOps()
        return _TORCH, x.detach()
    return HOST_OPS, np.asarray(x)


def host_array(x: Any, numpy_for_cpu: bool = True) -> np.ndarray | None:
    """``x`` as a NumPy array without a copy when it is one or is a plain CPU tensor (a view), else
    None: the per-step fast path, one type check and at most one call (``view`` takes the rest)."""
    if type(x) is np.ndarray:
        return x
    if numpy_for_cpu and type(x) is _TENSOR[0]:
        try:
            return _TENSOR_NUMPY[0](x)
        except (TypeError, RuntimeError):  # a tensor on a device, or one that requires grad
            return None
    return None


def ops_of(x: Any) -> NumpyOps | TorchOps:
    """The ops of a value this module produced (a device tensor, or a host number or array)."""
    return view(x, numpy_for_cpu=False)[0]


@functools.lru_cache(maxsize=16)
def _row_index(n: int, stride: int) -> np.ndarray:
    index = np.arange(0, n, stride)
    index.flags.writeable = False  # shared by every call with these sizes
    return index


def mean_std(total: float, squares: float, n: int) -> tuple[float, float]:
    """Mean and population standard deviation from running sums (clamped: rounding can go below 0)."""
    mean = total / n
    return mean, max(squares / n - mean * mean, 0.0) ** 0.5


def percentile_names(stem: str, qs: Sequence[float]) -> list[str]:
    return [f"{stem}_p{round(q * 100):d}" for q in qs]
