"""Per-thread CPU clocks for the benchmarks: what a thread cost, whatever its neighbours did.

Wall-clock ratios of single runs spread +-15% on a shared machine; the CPU time a thread spent
does not depend on who else wanted the cores. ``thread_cpu()`` reads every live Python thread's
``utime + stime`` from ``/proc/self/task/<tid>/stat`` (Linux); elsewhere it falls back to the
calling thread's ``time.thread_time()`` alone. ``load()`` is the machine's load average, printed
beside every figure.
"""

from __future__ import annotations

import os
import platform
import threading
import time

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each live Python thread, by thread name (``MainThread``, ``rlops-sink-sqlite``...)."""
    found: dict[str, float] = {}
    for thread in threading.enumerate():
        tid = thread.native_id
        try:
            with open(f"/proc/self/task/{tid}/stat", encoding="ascii") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after the command: state, ppid, ... utime is field 14 and stime 15 of the whole line
        found[thread.name] = (int(fields[11]) + int(fields[12])) / _TICK
    if not found:
        found[threading.current_thread().name] = time.thread_time()
    return found


def since(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each thread spent between two ``thread_cpu()`` readings (new threads from 0)."""
    return {name: round(after[name] - before.get(name, 0.0), 4) for name in after}


def load() -> list[float]:
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict[str, object]:
    model = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model or platform.processor(), "python": platform.python_version(),
            "platform": platform.platform()}
