"""Start the real service (``python -m orders_api`` from ``app/``, as in the container) on a free
127.0.0.1 port, with a clean environment, and read its JSON log lines."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.support.procs import Server, free_port, http_ok

APP_DIR = Path(__file__).resolve().parents[2] / "app"


class AppProcess:
    def __init__(self, tmp_path: Path, env: dict[str, str], name: str = "orders-api") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = Server([sys.executable, "-m", "orders_api"], tmp_path / f"{name}.log", cwd=APP_DIR)
        # Only what is given: nothing from the test runner's environment (VAULT_*, APP_*) leaks in.
        self.server.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "APP_HOST": "127.0.0.1",
            "APP_PORT": str(self.port),
            **env,
        }

    def start(self, ready_path: str = "/healthz", timeout: float = 120.0) -> AppProcess:
        self.server.start()
        self.server.wait_ready(
            lambda: http_ok(self.url + ready_path), timeout=timeout, what=f"orders-api on {self.url}{ready_path}"
        )
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def pid(self) -> int:
        assert self.server.proc is not None
        return self.server.proc.pid

    def log_text(self) -> str:
        return self.server.log()

    def log_lines(self) -> list[dict[str, Any]]:
        """Every stdout line parsed as JSON: fails if any line is not a JSON object."""
        lines = []
        for raw in self.log_text().splitlines():
            if raw.strip():
                parsed = json.loads(raw)
                assert isinstance(parsed, dict), raw
                lines.append(parsed)
        return lines


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (dict(s.labels), s.value) for fam in text_string_to_metric_families(text) for s in fam.samples if s.name == name
    ]


@contextlib.contextmanager
def running_app(
    tmp_path: Path, env: dict[str, str], name: str = "orders-api", ready_path: str = "/healthz"
) -> Iterator[AppProcess]:
    app = AppProcess(tmp_path, env, name)
    try:
        app.start(ready_path)
        yield app
    finally:
        app.stop()
