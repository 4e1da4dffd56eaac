"""Registry: "the best validated model for an env" among 100,000 rows, with its query plan.

    python bench/bench_registry.py [--rows 100000] [--queries 2000]

Target (issue 4): < 5 ms. The rows are spread over 50 envs and 5 algorithms, about half validated,
with random rewards; the timed call is ``Registry.best(env_id)``, the one inference and hotswap
use. For contrast the same query runs with the index disabled (``NOT INDEXED``: a full scan).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rlops.store.registry import BEST_SQL, COLUMNS, Registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results as bench_results  # noqa: E402


def fill(registry: Registry, rows: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    now = time.time()
    data = [(f"/models/{i}", rng.choice(["ppo", "a2c", "dqn", "sac", "td3"]), f"Env{i % 50}-v0", int(now) - i,
             rng.randrange(10_000, 1_000_000), rng.uniform(-100, 500), rng.uniform(0, 50), rng.uniform(10, 500), 10,
             "{}", None, int(rng.random() < 0.5), None, f"run-{i // 10}", f"{i:064x}", "{}", None, "none", now - i)
            for i in range(rows)]
    columns = [c for c in COLUMNS if c != "id"]
    with registry.connection:
        registry.connection.execute("BEGIN")
        registry.connection.executemany(
            f"INSERT INTO models ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", data)
        registry.connection.execute("COMMIT")
    registry.connection.execute("ANALYZE")


def timed(call, queries: int) -> list[float]:
    times = []
    for index in range(queries):
        started = time.perf_counter()
        call(f"Env{index % 50}-v0")
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--json", type=Path, default=None, help="write the figures, dated, to this file")
    parser.add_argument("--smoke", action="store_true", help="2,000 rows, 100 queries: seconds")
    args = parser.parse_args()
    if args.smoke:
        args.rows, args.queries = 2000, 100
    started_at = bench_results.stamp()
    with tempfile.TemporaryDirectory() as workdir:
        registry = Registry(Path(workdir) / "rlops.db")
        started = time.perf_counter()
        fill(registry, args.rows)
        print(f"{args.rows:,} rows written in {time.perf_counter() - started:.1f} s")
        sql = BEST_SQL.format(columns=", ".join(COLUMNS))
        plan = registry.query_plan(sql, ("Env7-v0",))
        indexed = timed(registry.best, args.queries)
        scan_sql = sql.replace("FROM models", "FROM models NOT INDEXED")
        scan = timed(lambda env: registry.connection.execute(scan_sql, (env,)).fetchone(), max(20, args.queries // 50))
        assert registry.best("Env7-v0")["id"] == registry.connection.execute(scan_sql, ("Env7-v0",)).fetchone()[0]
        registry.close()

    def stats(values: list[float]) -> str:
        ordered = sorted(values)
        return (f"p50 {statistics.median(ordered):.3f} ms, p99 {ordered[int(len(ordered) * 0.99)]:.3f} ms, "
                f"max {ordered[-1]:.3f} ms")

    print(f"query plan: {' | '.join(plan)}")
    print(f"best validated model for an env, indexed ({args.queries} queries): {stats(indexed)}   target < 5 ms")
    print(f"the same query as a full scan (NOT INDEXED):           {stats(scan)}")
    print(f"scan / indexed (medians): {statistics.median(scan) / statistics.median(indexed):,.0f}x")
    data = {"rows": args.rows, "plan": plan, "indexed_p50_ms": statistics.median(indexed),
            "indexed_p99_ms": sorted(indexed)[int(len(indexed) * 0.99)], "scan_p50_ms": statistics.median(scan)}
    print(json.dumps(data))
    bench_results.write(args.json, "registry", started_at, data, smoke=args.smoke)


if __name__ == "__main__":
    main()
