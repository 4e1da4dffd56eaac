"""The dashboard against issue 7's targets: a 1M-point series over HTTP, drawn in the page, live
records in the browser, and the runs table with 1,000 runs.

    python bench/bench_ui.py [--rounds 5] [--points 1000000] [--requests 20] [--runs 1000]
                             [--sse-rate 20] [--sse-seconds 15] [--filters 10] [--idle 10] [--workdir DIR]

Everything lives in a temporary directory (kept only when ``--workdir`` is given): one run store
holding a finished run with ``--points`` points of ``reward_mean`` (ingested as ``Metrics`` records
through ``RunStore.ingest``), ``--runs`` other runs of mixed statuses, envs and algorithms, and a
``command`` run started through ``TrainerService`` for the live test. The server is what
``rlops ui`` runs: ``create_app`` on uvicorn in a thread, with the supervisor (``supervise``) in
another. The browser is Debian's chromium driven by Playwright, headless; every page load gets a
fresh browser context (empty cache). Nothing needs the network.

1. ``GET /api/runs/{id}/metrics/reward_mean?max_points=2000`` x ``--requests`` over one keep-alive
   connection, client wall time (the first request reported on its own); the route's steps timed
   in-process (open, ``metric_keys``, ``metric_series``, ``envelope``, FastAPI's JSON encoding); a raw
   SQLite peer (one row per point, indexed) read with ``SELECT ... ORDER BY step``. MLflow is not run
   here: the anchors' ``get_metric_history`` takes ~3.3 s per 100,000 points.
2. ``#/runs/<id>`` loaded ``--rounds`` times: from navigation start to the first draw of the reward
   chart with points in it (``window.__rlops.lastDraw``, stamped by a setter installed before the
   page's scripts run), with the series response's end and the median load's request waterfall
   (Resource Timing).
3. A ``command`` run prints a metrics record ``--sse-rate`` times a second for ``--sse-seconds``,
   each stamped with its own ``t`` when printed; the page's run stream delivers it (stdout -> worker
   -> ``train_log.jsonl`` -> the server's follower -> SSE -> ``rlops:record``) and the page computes
   ``Date.now()/1000 - t``. A thread tailing the log every 10 ms gives the first hop on its own.
4. ``#/runs`` with the runs: navigation start to the first ``tr[data-run-id]`` in the table (a
   MutationObserver); ``--filters`` filter inputs (an ``input`` event on the filter box, timed until
   the row count changes and the next frame, the longest frame split into script and style + layout
   by ``long-animation-frame`` entries); then ``--idle`` seconds with the live runs stream open while
   the running runs get a metrics record every second, watching ``longtask`` entries.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import uvicorn
from fastapi.responses import JSONResponse

from rlops.api.app import create_app
from rlops.api.downsample import envelope
from rlops.api.follow import POLL_S as FOLLOW_POLL_S
from rlops.events.schema import End, Meta, Metrics
from rlops.options import resolve_options
from rlops.orchestrator.daemon import supervise
from rlops.orchestrator.service import TrainerService
from rlops.sinks.recorder import new_trace_id
from rlops.store.runs import RunStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results as bench_results  # noqa: E402

BIG_RUN = "bench-1m"
KEY = "reward_mean"
MAX_POINTS = 2000
CHROMIUM = "/usr/bin/chromium"
ENVS = ("CartPole-v1", "LunarLander-v3", "Pendulum-v1", "HalfCheetah-v5", "Acrobot-v1")
ALGORITHMS = ("ppo", "a2c", "dqn", "sac")
FILTERS = ("cartpole", "", "ppo", "", "pendulum sac", "", "lunar", "", "dqn", "")
TARGETS = {"series_ms": 100, "draw_ms": 1000, "sse_p95_ms": 250}

# A command program: a meta record, one warm-up metrics record (bench_i = -1), then, once the
# go-file exists (the page is listening), RATE metrics records a second for SECONDS seconds.
PROGRAM = """\
import json, os, sys, time
go, rate, seconds = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
print(json.dumps({"type": "meta", "config": {"env": {"env_id": "CartPole-v1"}, "agent": {"algorithm": "ppo"}},
                  "producer": "bench_ui"}), flush=True)
print(json.dumps({"type": "metrics", "t": time.time(), "env_steps": 0, "reward_mean": 0.0, "bench_i": -1}), flush=True)
deadline = time.time() + 120
while not os.path.exists(go) and time.time() < deadline:
    time.sleep(0.01)
start = time.time()
for i in range(int(rate * seconds)):
    due = start + i / rate
    time.sleep(max(0.0, due - time.time()))
    print(json.dumps({"type": "metrics", "t": time.time(), "env_steps": (i + 1) * 1000,
                      "reward_mean": 100.0 * (1 - 0.99 ** i), "bench_i": i}), flush=True)
time.sleep(1.0)
"""

# Installed before any of the page's scripts: stamps every lastDraw (a setter on window.__rlops,
# which the page keeps: it only creates the object when there is none), collects rlops:record
# latencies, long tasks and the moment the runs table first has rows.
INIT_SCRIPT = """\
(() => {
  const b = (window.__bench = { draws: [], lat: [], warm: 0, records: 0, longtasks: [], rowsAt: null, rowsShown: null, rowsN: 0 });
  let last = null;
  const hooks = {};
  Object.defineProperty(hooks, "lastDraw", {
    configurable: true, enumerable: true,
    get() { return last; },
    set(v) { last = v; b.draws.push({ chart: v && v.chart, points: v && v.points, ms: v && v.ms, at: performance.now() }); },
  });
  window.__rlops = hooks;
  b.hooks = hooks;
  window.addEventListener("rlops:record", (e) => {
    const r = e.detail || {};
    const now = Date.now() / 1000;
    b.records++;
    if (r.type !== "metrics" || r.bench_i === undefined) return;
    if (r.bench_i < 0) b.warm++;
    else b.lat.push([r.bench_i, (now - r.t) * 1000]);
  });
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) b.longtasks.push([e.startTime, e.duration]);
    }).observe({ type: "longtask", buffered: true });
  } catch (err) { b.longtaskError = String(err); }
  b.frames = []; // long animation frames: [start, duration, script ms, style + layout ms]
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        const script = (e.scripts || []).reduce((n, s) => n + s.duration, 0);
        const layout = e.styleAndLayoutStart ? e.startTime + e.duration - e.styleAndLayoutStart : 0;
        b.frames.push([e.startTime, e.duration, script, layout]);
      }
    }).observe({ type: "long-animation-frame", buffered: true });
  } catch (err) { b.frameError = String(err); }
  const rows = 'table[data-testid="runs-table"] tr[data-run-id]';
  const watch = new MutationObserver(() => {
    const n = document.querySelectorAll(rows).length;
    if (!n) return;
    b.rowsAt = performance.now();
    b.rowsN = n;
    watch.disconnect();
    requestAnimationFrame(() => setTimeout(() => { b.rowsShown = performance.now(); }, 0)); // after that frame
  });
  watch.observe(document, { childList: true, subtree: true });
})();
"""

# In the page: type a filter (one input event), time until the table's rows change (a mutation
# of the table: with 200 rows a page, a filter may keep the count), then the next frame.
FILTER_JS = """\
async (text) => {
  const rows = 'table[data-testid="runs-table"] tr[data-run-id]';
  const count = () => document.querySelectorAll(rows).length;
  const input = document.querySelector('input[data-testid="runs-filter"]');
  const before = count();
  let changed = null;
  const t0 = performance.now();
  const watch = new MutationObserver(() => { if (changed === null) changed = performance.now(); });
  watch.observe(document.querySelector("main") || document.body, { childList: true, subtree: true });
  input.value = text;
  input.dispatchEvent(new Event("input", { bubbles: true }));
  while (changed === null && performance.now() - t0 < 3000) {
    await new Promise((r) => requestAnimationFrame(r));
  }
  watch.disconnect();
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  return { changed: changed === null ? null : changed - t0, frame: performance.now() - t0, before, after: count() };
}
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else math.nan


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.1f} [{min(values):,.1f}-{max(values):,.1f}]" if values else "n/a"


# -- the store ---------------------------------------------------------------------------------


def build_big_run(store: RunStore, root: Path, points: int) -> float:
    """A finished run with ``points`` points of reward_mean (a noisy learning curve with spikes)."""
    run_dir = root / BIG_RUN
    run_dir.mkdir(parents=True)
    (run_dir / "train_log.jsonl").touch()  # the run page's stream finds an ended run with an empty log
    store.register_run(BIG_RUN, run_dir.resolve(), (run_dir / "train_log.jsonl").resolve(), runner="rlops")
    trace, t0 = new_trace_id(), time.time() - 3600
    rng = np.random.default_rng(0)
    x = np.arange(points, dtype=np.float64)
    reward = 200 * (1 - np.exp(-x / (points / 5))) + rng.normal(0, 5, points)
    reward[rng.integers(0, points, 50)] += 150  # spikes the downsampling must keep
    started = time.perf_counter()
    store.ingest([Meta(run_id=BIG_RUN, trace_id=trace, seq=0, t=t0, producer="bench_ui",
                       config={"env": {"env_id": "CartPole-v1"}, "agent": {"algorithm": "ppo"}})])
    batch = 100_000
    for start in range(0, points, batch):
        values = reward[start:start + batch].tolist()
        store.ingest([Metrics(run_id=BIG_RUN, trace_id=trace, seq=1 + start + i, t=t0 + (start + i) * 1e-3,
                              env_steps=(start + i) * 8, opt_steps=start + i, sps=1000.0, values={KEY: value})
                      for i, value in enumerate(values)])
    store.ingest([End(run_id=BIG_RUN, trace_id=trace, seq=points + 1, t=time.time() - 60, status="finished",
                     env_steps=points * 8)])
    return time.perf_counter() - started


def build_runs(store: RunStore, root: Path, count: int) -> list[str]:
    """``count`` runs, newest first by creation: ~5% running (returned), the rest ended in mixed ways."""
    rng = np.random.default_rng(1)
    records, running, marks = [], [], []
    now = time.time()
    for i in range(count):
        env, algorithm = ENVS[i % len(ENVS)], ALGORITHMS[i % len(ALGORITHMS)]  # every pair, 50 runs each
        run_id = f"run-{i:04d}-{env.split('-')[0].lower()}-{algorithm}"
        store.register_run(run_id, (root / run_id).resolve(), (root / run_id / "train_log.jsonl").resolve(),
                           runner=("rlops", "command", "cleanrl")[i % 3])
        trace, t = new_trace_id(), now - 600 - (count - i) * 90.0
        records.append(Meta(run_id=run_id, trace_id=trace, seq=0, t=t, producer="bench_ui",
                            config={"env": {"env_id": env}, "agent": {"algorithm": algorithm}}))
        for seq in range(1, 4):
            records.append(Metrics(run_id=run_id, trace_id=trace, seq=seq, t=t + seq * 10, env_steps=seq * 10_000,
                                   sps=float(rng.integers(500, 5000)), values={KEY: float(rng.normal(100, 30))}))
        kind = i % 20
        if kind == 0:
            running.append(run_id)
        elif kind in (1, 2, 3):
            marks.append((run_id, "failed", "exit code 1"))
        elif kind in (4, 5):
            marks.append((run_id, "stopped", "stopped on request"))
        elif kind == 6:
            marks.append((run_id, "lost", "its process is gone"))
        else:
            records.append(End(run_id=run_id, trace_id=trace, seq=4, t=t + 60, status="finished", env_steps=30_000))
    store.ingest(records)
    for run_id, status, reason in marks:
        store.settle(run_id, status, reason)
    return running


def build_raw_peer(path: Path, points: int) -> None:
    """The peer: one row per point, WAL, synchronous=NORMAL, index on (run_id, key, step)."""
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE points (run_id TEXT, key TEXT, step INTEGER, value REAL)")
    db.execute("CREATE INDEX points_key ON points (run_id, key, step)")
    rng = np.random.default_rng(0)
    values = rng.normal(0, 1, points).tolist()
    with db:
        db.executemany("INSERT INTO points VALUES (?, ?, ?, ?)",
                       ((BIG_RUN, KEY, i * 8, v) for i, v in enumerate(values)))
    db.close()


# -- the server --------------------------------------------------------------------------------


class Server:
    """What ``rlops ui`` runs: the app on uvicorn in a thread, the supervisor in another."""

    def __init__(self, options) -> None:
        self.stopping = threading.Event()
        self.supervisor = threading.Thread(target=supervise, args=(options, self.stopping), daemon=True)
        self.supervisor.start()
        self.server = uvicorn.Server(uvicorn.Config(create_app(options.store.db_path, options), host="127.0.0.1",
                                                    port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise SystemExit("the server did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.stopping.set()
        self.supervisor.join(10)


# -- 1. the series over HTTP -------------------------------------------------------------------


def measure_series(url: str, db_path: str, raw_path: Path, points: int, requests: int, raw_reads: int) -> dict:
    path = f"/api/runs/{BIG_RUN}/metrics/{KEY}"
    client_ms = []
    with httpx.Client(base_url=url, timeout=60) as client:
        for _ in range(requests + 1):  # the first request (the route's first call) is reported on its own
            started = time.perf_counter()
            response = client.get(path, params={"max_points": MAX_POINTS})
            body = response.json()
            client_ms.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
            assert body["points"] == points and 0 < body["returned"] <= MAX_POINTS, (body["points"], body["returned"])
        returned, size = body["returned"], len(response.content)
    # The route's steps, in-process, as it runs them: open the store and find the run, check the key
    # (metric_keys), read, downsample, and FastAPI's encoding of the dict it returns.
    split: dict[str, list[float]] = {"open_ms": [], "keys_ms": [], "read_ms": [], "downsample_ms": [], "encode_ms": []}
    for _ in range(requests):
        t0 = time.perf_counter()
        store = RunStore(db_path)
        store.get_run(BIG_RUN)
        t1 = time.perf_counter()
        assert KEY in store.metric_keys(BIG_RUN)
        t2 = time.perf_counter()
        data = store.metric_series(BIG_RUN, KEY)
        t3 = time.perf_counter()
        steps, values = envelope(data.steps, data.values, MAX_POINTS)
        t4 = time.perf_counter()
        JSONResponse({"key": KEY, "points": len(data), "returned": len(steps), "steps": steps.tolist(),
                      "values": values.tolist()})  # as the route answers (no jsonable_encoder pass)
        t5 = time.perf_counter()
        store.close()
        for name, (a, b) in zip(split, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5)), strict=True):
            split[name].append((b - a) * 1000)
    raw_ms = []
    db = sqlite3.connect(raw_path)
    for _ in range(raw_reads):
        t0 = time.perf_counter()
        rows = db.execute("SELECT step, value FROM points WHERE run_id = ? AND key = ? ORDER BY step",
                          (BIG_RUN, KEY)).fetchall()
        raw_ms.append((time.perf_counter() - t0) * 1000)
        assert len(rows) == points
    db.close()
    return {"first_ms": client_ms[0], "client_ms": client_ms[1:], **split, "raw_sqlite_ms": raw_ms,
            "returned": returned, "bytes": size}


# -- 2. drawn in the page ----------------------------------------------------------------------


def reward_draw(page) -> dict | None:
    return page.evaluate(r"""() => {
      const b = window.__bench;
      const box = document.querySelector('[data-testid="chart-reward"]');
      const d = b.draws.find((d) => d.points > 0 && (d.chart === "reward" || String(d.chart).includes("reward")));
      if (!d) return null;
      const res = performance.getEntriesByType("resource").filter((r) => r.name.includes("/metrics/reward_mean"));
      const api = performance.getEntriesByType("resource").filter((r) => r.name.includes("/api/") || r.name.includes("/static/"))
        .map((r) => [new URL(r.name).pathname.replace(/^.*\/(static|api)\//, "$1/"), Math.round(r.startTime), Math.round(r.responseEnd)]);
      const empty = b.draws.find((e) => e.chart === d.chart && e.points === 0 && e.at < d.at);
      return { at: d.at, chart: d.chart, points: d.points, ms: d.ms, hooked: window.__rlops === b.hooks, requests: api,
               empty: empty ? empty.at : null,
               box: box ? Number(box.dataset.points || 0) : null,
               response: res.length ? res[0].responseEnd : null, fetches: res.length,
               domReady: performance.getEntriesByType("navigation")[0]?.domContentLoadedEventEnd ?? null };
    }""")


def measure_draw(browser, url: str, rounds: int) -> dict:
    loads = []
    for _ in range(rounds):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.add_init_script(INIT_SCRIPT)
        page = context.new_page()
        started = time.perf_counter()
        page.goto(f"{url}/#/runs/{BIG_RUN}", wait_until="commit")
        page.wait_for_function("""() => window.__bench && window.__bench.draws.some(
            (d) => d.points > 0 && String(d.chart).includes("reward"))""", timeout=30_000)
        wall = (time.perf_counter() - started) * 1000
        draw = reward_draw(page)
        draw["wall_ms"] = wall
        loads.append(draw)
        context.close()
    return {"loads": loads, "draw_ms": [d["at"] for d in loads], "wall_ms": [d["wall_ms"] for d in loads],
            "response_ms": [d["response"] for d in loads if d["response"] is not None]}


# -- 3. live records in the page ---------------------------------------------------------------


def tail_log(path: Path, stop: threading.Event, out: list[float]) -> None:
    """Program -> log: when each timed record's line appears in the log (polled every 10 ms)."""
    offset, partial = 0, b""
    while not stop.is_set():
        try:
            with open(path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            data = b""
        now = time.time()
        offset += len(data)
        lines = (partial + data).split(b"\n")
        partial = lines.pop()
        for line in lines:
            if b'"bench_i"' in line:
                record = json.loads(line)
                if record["bench_i"] >= 0:
                    out.append((now - record["t"]) * 1000)
        time.sleep(0.01)


def measure_sse(browser, url: str, options, workdir: Path, rate: float, seconds: float) -> dict:
    program, go = workdir / "bench_ui_program.py", workdir / "bench_ui_go"
    program.write_text(PROGRAM)
    service = TrainerService(options)
    run_id = service.start("command", [sys.executable, str(program), str(go), str(rate), str(seconds)],
                           name="bench-sse")
    log_path = Path(service.store.get_run(run_id)["log_path"])
    service.close()
    expected = int(rate * seconds)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(INIT_SCRIPT)
    page = context.new_page()
    to_log: list[float] = []
    stop = threading.Event()
    tail = threading.Thread(target=tail_log, args=(log_path, stop, to_log), daemon=True)
    try:
        page.goto(f"{url}/#/runs/{run_id}", wait_until="commit")
        page.wait_for_function("() => window.__bench && window.__bench.warm > 0", timeout=60_000)
        tail.start()
        go.touch()
        deadline = time.monotonic() + seconds + 10
        while time.monotonic() < deadline:
            if page.evaluate("() => window.__bench.lat.length") >= expected:
                break
            page.wait_for_timeout(500)
        page.wait_for_timeout(300)
        got = page.evaluate("() => window.__bench.lat")
    finally:
        go.touch()  # the program goes on (and ends) whatever happened here
        stop.set()
        if tail.is_alive():
            tail.join(5)
        context.close()
    with RunStore(options.store.db_path) as store:  # settled by the supervisor before the directory goes
        deadline = time.monotonic() + 20
        while store.get_run(run_id)["status"] in ("queued", "running") and time.monotonic() < deadline:
            time.sleep(0.2)
    latencies = [ms for _, ms in got]
    return {"run_id": run_id, "expected": expected, "received": len({i for i, _ in got}), "duplicates":
            len(got) - len({i for i, _ in got}), "lat_ms": latencies, "to_log_ms": to_log}


# -- 4. the runs table -------------------------------------------------------------------------


def feed_running(db_path: str, running: list[str], stop: threading.Event) -> int:
    """Each running run gets one metrics record a second (its row changes: the runs stream sends it)."""
    sent = 0
    with RunStore(db_path) as store:
        while not stop.is_set():
            now, seq = time.time(), 100 + sent  # after the records the run has
            store.ingest([Metrics(run_id=run_id, seq=seq, t=now, env_steps=seq * 1000, sps=2000.0,
                                  values={KEY: 100.0 + sent}) for run_id in running])
            sent += 1
            stop.wait(1.0)
    return sent


def measure_table(browser, url: str, db_path: str, running: list[str], filters: int, idle: float) -> dict:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(INIT_SCRIPT)
    page = context.new_page()
    started = time.perf_counter()
    page.goto(f"{url}/#/runs", wait_until="commit")
    page.wait_for_selector('table[data-testid="runs-table"] tr[data-run-id]', timeout=30_000)
    wall = (time.perf_counter() - started) * 1000
    page.wait_for_timeout(1500)  # the live stream's first burst (every run's summary) is in
    first = page.evaluate("() => ({at: window.__bench.rowsAt, shown: window.__bench.rowsShown, n: window.__bench.rowsN})")
    results = []
    for i in range(filters):
        mark = page.evaluate("() => performance.now()")
        result = page.evaluate(FILTER_JS, FILTERS[i % len(FILTERS)])
        page.wait_for_timeout(100)
        frames = page.evaluate(f"() => window.__bench.frames.filter((f) => f[0] >= {mark})")
        worst = max(frames, key=lambda f: f[1], default=None)
        result["worst_frame"] = worst  # [start, ms, script ms, style + layout ms]
        results.append(result)
    if FILTERS[(filters - 1) % len(FILTERS)]:
        page.evaluate(FILTER_JS, "")
    page.wait_for_timeout(500)
    idle_start = page.evaluate("() => performance.now()")
    stop = threading.Event()
    feeder = threading.Thread(target=feed_running, args=(db_path, running, stop), daemon=True)
    feeder.start()
    page.wait_for_timeout(idle * 1000)
    stop.set()
    feeder.join(10)
    tasks = page.evaluate("() => window.__bench.longtasks")
    error = page.evaluate("() => window.__bench.longtaskError || window.__bench.frameError || null")
    idle_frames = page.evaluate(f"() => window.__bench.frames.filter((f) => f[0] >= {idle_start})")
    live_rows = page.evaluate(f"""() => {json.dumps(running)}.filter((id) =>
        document.querySelector('tr[data-run-id="' + id + '"]')).length""")
    context.close()
    idle_tasks = [duration for start, duration in tasks if start >= idle_start]
    load_tasks = [duration for start, duration in tasks if start < idle_start]
    worst_idle = max(idle_frames, key=lambda f: f[1], default=[0, 0, 0, 0])
    filter_frames = [r["worst_frame"] for r in results if r["worst_frame"]]
    return {"first_ms": first["at"], "first_shown_ms": first["shown"], "first_rows": first["n"], "first_wall_ms": wall,
            "filter_script_ms": [f[2] for f in filter_frames], "filter_layout_ms": [f[3] for f in filter_frames],
            "idle_frame_ms": worst_idle[1], "idle_frame_script_ms": worst_idle[2], "idle_frame_layout_ms": worst_idle[3],
            "filter_changed_ms": [r["changed"] for r in results if r["changed"] is not None],
            "filter_frame_ms": [r["frame"] for r in results], "filters": results,
            "unchanged_filters": sum(r["changed"] is None for r in results),
            "idle_longest_ms": max(idle_tasks, default=0.0), "idle_tasks": len(idle_tasks),
            "idle_blocking_ms": sum(max(0.0, d - 50) for d in idle_tasks),
            "load_longest_ms": max(load_tasks, default=0.0), "longtask_error": error, "running_rows_shown": live_rows}


# -- the report --------------------------------------------------------------------------------


def verdict(value: float, target: float) -> str:
    return "n/a" if value is None or math.isnan(value) else "met" if value < target else "MISSED"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="page loads for time-to-drawn")
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--sse-rate", type=float, default=20)
    parser.add_argument("--sse-seconds", type=float, default=15)
    parser.add_argument("--filters", type=int, default=10)
    parser.add_argument("--idle", type=float, default=10)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", type=Path, default=None, help="write the figures, dated, to this file")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (2,000 points, 20 runs, 1 s streams)")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.points, args.requests, args.runs = 1, 2000, 3, 20
        args.sse_rate, args.sse_seconds, args.filters, args.idle = 10, 1, 2, 1
    if args.json is not None:
        args.json = args.json.resolve()  # the script moves into its work directory
    started_at = bench_results.stamp()
    from playwright.sync_api import sync_playwright

    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="rlops-ui-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    os.chdir(workdir)
    options = resolve_options(environ={}, args=["--orchestrator.max-concurrent", "100000"]).options
    db_path, root = options.store.db_path, Path(options.store.model_dir)
    load = [os.getloadavg()[0]]
    with RunStore(db_path) as store:
        ingest_s = build_big_run(store, root, args.points)
        running = build_runs(store, root, args.runs)
    build_raw_peer(workdir / "peer.db", args.points)
    print(f"store: {args.points:,} points of {KEY} ingested in {ingest_s:.1f} s; {args.runs:,} runs "
          f"({len(running)} running); 1-minute load {load[0]:.1f} ({os.cpu_count()} cores)", flush=True)
    server = Server(options)
    try:
        series = measure_series(server.url, db_path, workdir / "peer.db", args.points, args.requests, 3)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
            draw = measure_draw(browser, server.url, args.rounds)
            sse = measure_sse(browser, server.url, options, workdir, args.sse_rate, args.sse_seconds)
            table = measure_table(browser, server.url, db_path, running, args.filters, args.idle)
            browser.close()
    finally:
        server.close()
        load.append(os.getloadavg()[0])
        os.chdir("/")
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    series_p50, series_p95 = statistics.median(series["client_ms"]), pct(series["client_ms"], 0.95)
    draw_p50 = statistics.median(draw["draw_ms"])
    lat = sse["lat_ms"]
    sse_p50, sse_p95, sse_p99 = pct(lat, 0.5), pct(lat, 0.95), pct(lat, 0.99)
    log_p50, log_p95 = pct(sse["to_log_ms"], 0.5), pct(sse["to_log_ms"], 0.95)
    filter_p50 = statistics.median(table["filter_frame_ms"]) if table["filter_frame_ms"] else math.nan
    points = draw["loads"][0]["points"]
    split = " + ".join(f"{name[:-3]} {statistics.median(series[name]):.1f}"
                       for name in ("open_ms", "keys_ms", "read_ms", "downsample_ms", "encode_ms"))
    print(f"\n1. GET /api/runs/{{id}}/metrics/{KEY}?max_points={MAX_POINTS}: {args.points:,} points -> "
          f"{series['returned']:,} ({series['bytes']:,} bytes of JSON), one keep-alive connection")
    print(f"   client wall ms over {args.requests} requests: p50 {series_p50:.1f}, p95 {series_p95:.1f}, "
          f"max {max(series['client_ms']):.1f}; the first request before them {series['first_ms']:.1f}")
    print(f"   the route's steps in-process, medians ms: {split} (open = store + run row, keys = metric_keys, "
          f"read = metric_series, downsample = envelope, encode = tolist + JSONResponse)")
    print(f"   peer: raw sqlite SELECT ... ORDER BY step of {args.points:,} indexed rows {spread(series['raw_sqlite_ms'])} ms "
          f"(no downsampling); MLflow get_metric_history not run (anchors: 3.32 s per 100,000 points, ~33 s for 1M)")
    print(f"2. #/runs/{BIG_RUN}, {args.rounds} loads, a fresh browser context each: navigation start -> first draw of "
          f"the reward chart with points ({points:,} drawn) {spread(draw['draw_ms'])} ms; the series response had "
          f"ended at {spread(draw['response_ms'])} ms; page.goto -> seen from Python {spread(draw['wall_ms'])} ms"
          + ("" if all(d["hooked"] for d in draw["loads"]) else " (WARNING: the page replaced window.__rlops)"))
    median_load = sorted(draw["loads"], key=lambda d: d["at"])[len(draw["loads"]) // 2]
    print("   the median load's requests, ms from navigation start (start-end): "
          + ", ".join(f"{name} {a}-{b}" for name, a, b in sorted(median_load["requests"], key=lambda r: r[1])
                      if not name.startswith("static/vendor")) + f"; drawn at {median_load['at']:.0f}"
          + ("" if median_load["empty"] is None else
             f" (the chart's empty frame at {median_load['empty']:.0f}; the page redraws a chart at most every 200 ms)"))
    print(f"3. command run, {args.sse_rate:g} records/s for {args.sse_seconds:g} s: {sse['received']}/{sse['expected']} "
          f"reached the page ({sse['duplicates']} twice); record t -> rlops:record in the page ms: p50 {sse_p50:.0f}, "
          f"p95 {sse_p95:.0f}, p99 {sse_p99:.0f}, max {max(lat, default=math.nan):.0f}")
    print(f"   of which t -> its line in train_log.jsonl (program stdout -> worker): p50 {log_p50:.0f}, p95 {log_p95:.0f}; "
          f"the server's follower looks at the log every {FOLLOW_POLL_S * 1000:.0f} ms")
    print(f"4. #/runs with {args.runs + 2:,} runs ({table['first_rows']} rows rendered): first rows in the DOM "
          f"{table['first_ms']:.0f} ms after navigation start, the frame after them done at {table['first_shown_ms']:.0f} ms "
          f"(page.goto -> seen from Python {table['first_wall_ms']:.0f} ms); longest task while loading "
          f"{table['load_longest_ms']:.0f} ms")
    print(f"   {args.filters} filter inputs: rows changed {spread(table['filter_changed_ms'])} ms, next frame done "
          f"{spread(table['filter_frame_ms'])} ms; the longest frame's script {spread(table['filter_script_ms'])} ms, "
          f"style + layout {spread(table['filter_layout_ms'])} ms ({table['unchanged_filters']} of them changed nothing)")
    print(f"   {args.idle:g} s idle, runs stream open, {len(running)} running runs ({table['running_rows_shown']} shown) "
          f"updated every second: {table['idle_tasks']} long tasks, longest {table['idle_longest_ms']:.0f} ms "
          f"(blocking {table['idle_blocking_ms']:.0f} ms in all); longest frame {table['idle_frame_ms']:.0f} ms: script "
          f"{table['idle_frame_script_ms']:.0f}, style + layout {table['idle_frame_layout_ms']:.0f}")
    print(f"1-minute load average before and after: {load[0]:.1f}, {load[1]:.1f} ({os.cpu_count()} cores)")
    print()
    print("| target (issue 7) | measured | |")
    print("|---|---|---|")
    print(f"| {args.points:,}-point series downsampled over HTTP < 100 ms | p50 {series_p50:.0f} ms, p95 "
          f"{series_p95:.0f} ms | {verdict(series_p95, TARGETS['series_ms'])} (p95) |")
    print(f"| drawn in the page < 1 s | {draw_p50:.0f} ms (median of {args.rounds} loads, max "
          f"{max(draw['draw_ms']):.0f}) | {verdict(draw_p50, TARGETS['draw_ms'])} |")
    print(f"| record -> browser over SSE p95 < 250 ms | p50 {sse_p50:.0f}, p95 {sse_p95:.0f}, p99 {sse_p99:.0f} ms "
          f"| {verdict(sse_p95, TARGETS['sse_p95_ms'])} |")
    print(f"| runs table with {args.runs:,} runs responsive | first rows {table['first_ms']:.0f} ms, filter "
          f"{filter_p50:.0f} ms to the next frame, longest idle task {table['idle_longest_ms']:.0f} ms | no number set |")
    data = ({"points": args.points, "runs": args.runs, "load": load,
                      "series": {"client_p50_ms": series_p50, "client_p95_ms": series_p95, "first_ms": series["first_ms"],
                                 **{k: statistics.median(v) for k, v in series.items()
                                    if k.endswith("_ms") and isinstance(v, list) and k != "client_ms"},
                                 "returned": series["returned"]},
                      "draw": {"p50_ms": draw_p50, "draw_ms": draw["draw_ms"], "response_ms": draw["response_ms"],
                               "wall_ms": draw["wall_ms"], "points": points, "median_load": median_load},
                      "sse": {"p50_ms": sse_p50, "p95_ms": sse_p95, "p99_ms": sse_p99, "received": sse["received"],
                              "expected": sse["expected"], "to_log_p50_ms": log_p50, "to_log_p95_ms": log_p95},
                      "table": {k: v for k, v in table.items() if k != "filters"}})
    print(json.dumps(data))
    bench_results.write(args.json, "ui", started_at, data, smoke=args.smoke)

if __name__ == "__main__":
    main()
