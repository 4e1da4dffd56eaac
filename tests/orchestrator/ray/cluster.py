"""A real local Ray cluster for the tests: a head (no CPUs: runs land on the workers) and worker
nodes of one CPU each, each node with its own directory for run files (``RLOPS_RAY_NODE_DIR``).

Every node is a ``ray start --block`` in a session of its own; killing that session's process
group is killing the node (its raylet and the actors on it), which is how the tests make a node
die. Only the groups started here are ever signalled. Ray binds the interface address it finds,
so this runs only inside a loopback-only network namespace (see conftest.py).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
OBJECT_STORE = str(80 * 1024 * 1024)  # Ray's minimum; the records travel in small batches


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Node:
    name: str
    process: subprocess.Popen
    run_dir: Path  # this node's own run files; the daemon is never given this path

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """The node dies: SIGKILL to its whole group (raylet, workers, the run actors on it)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)


class Cluster:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[Node] = []
        self.head: Node | None = None
        self.count = 0

    def _env(self, node_dir: Path) -> dict[str, str]:
        return {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RLOPS_RAY_NODE_DIR": str(node_dir),
                # A dead node is noticed in about two seconds, not Ray's default half a minute.
                "RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "1000",
                "RAY_health_check_failure_threshold": "3", "RAY_health_check_initial_delay_ms": "500"}

    def _start(self, name: str, args: list[str]) -> Node:
        node_dir = self.root / "nodes" / name
        node_dir.mkdir(parents=True, exist_ok=True)
        with open(self.root / f"{name}.log", "ab") as log:
            process = subprocess.Popen([RAY, "start", "--block", "--disable-usage-stats", "--object-store-memory",
                                        OBJECT_STORE, *args], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                       env=self._env(node_dir), start_new_session=True)
        return Node(name, process, node_dir)

    def start(self, workers: int = 2) -> None:
        self.head = self._start("head", ["--head", "--port", str(self.port), "--num-cpus", "0", "--include-dashboard",
                                         "false", "--node-ip-address", "127.0.0.1",
                                         "--temp-dir", str(self.root / "ray")])
        self.wait_nodes(1)
        for _ in range(workers):
            self.add_worker()

    def add_worker(self) -> Node:
        self.count += 1
        node = self._start(f"worker{self.count}", ["--address", self.address, "--num-cpus", "1"])
        self.nodes.append(node)
        self.wait_nodes(1 + sum(n.alive for n in self.nodes))
        return node

    def live_nodes(self) -> list[dict]:
        import ray

        return [n for n in ray.nodes() if n["Alive"]]

    def wait_nodes(self, count: int, timeout: float = 120) -> None:
        import ray

        if not ray.is_initialized():
            deadline = time.monotonic() + timeout
            while True:
                try:
                    ray.init(address=self.address, namespace="rlops", log_to_driver=False,
                             logging_level="WARNING")
                    break
                except (ConnectionError, RuntimeError):
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
        deadline = time.monotonic() + timeout
        while len(self.live_nodes()) != count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the cluster has {len(self.live_nodes())} live nodes, not {count}")
            time.sleep(0.25)

    def node_running(self, run_dir: str) -> Node:
        """The test's node whose own directory holds this node-side run directory."""
        for node in self.nodes:
            if Path(run_dir).is_relative_to(node.run_dir):
                return node
        raise AssertionError(f"no node of the test holds {run_dir}")

    def shutdown(self) -> None:
        import ray

        if ray.is_initialized():
            ray.shutdown()
        for node in [*self.nodes, self.head]:
            if node is None or not node.alive:
                continue
            try:
                os.killpg(node.process.pid, signal.SIGTERM)
                node.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(node.process.pid, signal.SIGKILL)
                node.process.wait(timeout=30)
            except ProcessLookupError:
                pass
            try:  # what Ray left in the group after `ray start` itself went
                os.killpg(node.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

