"""A real Prometheus server for the tests (Debian's ``prometheus``), scraping given targets every
second on loopback, with its HTTP query API to read back what it stored."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

BINARY = "prometheus"
CONFIG = """global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: rlops
    static_configs:
      - targets: {targets}
"""


class PrometheusServer:
    def __init__(self, workdir: Path, targets: list[str]) -> None:
        self.workdir = Path(workdir)
        self.targets = targets

    def __enter__(self) -> PrometheusServer:
        binary = shutil.which(BINARY)
        if binary is None:
            raise RuntimeError("prometheus is not installed: apt-get install prometheus (.ci/run does)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "prometheus.yml"
        config.write_text(CONFIG.format(targets=json.dumps(self.targets)))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.output = open(self.workdir / "prometheus.log", "wb")
        self.process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={self.workdir / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}"], stdout=self.output, stderr=subprocess.STDOUT)
        try:
            self._wait(lambda: self._get("/-/ready") is not None, "to be ready")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.output.close()

    def query(self, promql: str) -> list[dict[str, Any]]:
        body = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        return json.loads(body)["data"]["result"] if body else []

    def wait_for(self, promql: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        """The query's result once it has one (the first scrapes take a second or two)."""
        found: list[dict[str, Any]] = []

        def ready() -> bool:
            found[:] = self.query(promql)
            return bool(found)

        self._wait(ready, f"to have {promql}", timeout)
        return found

    def _get(self, path: str) -> bytes | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=2) as response:
                return response.read()
        except OSError:
            return None

    def _wait(self, condition: Any, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {(self.workdir / 'prometheus.log').read_text()[-2000:]}")
            if condition():
                return
            time.sleep(0.25)
        raise TimeoutError(f"prometheus did not come {what} within {timeout} s")
