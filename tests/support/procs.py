"""Start real servers on 127.0.0.1 for tests, wait until they answer, and always stop them."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.1, what: str = "condition") -> None:
    """Poll ``check`` until it returns True; raise TimeoutError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_exc: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # the server is still starting
            last_exc = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last_exc!r})")


def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when ``url`` answers 2xx. Only ever used with 127.0.0.1 URLs."""
    if not url.startswith(("http://127.0.0.1", "https://127.0.0.1")):
        raise ValueError(f"tests only talk to loopback, not {url}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback only
            return 200 <= int(resp.status) < 300
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


class Server:
    """A subprocess with its output captured to a log file, stopped with SIGTERM then SIGKILL."""

    def __init__(
        self, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=self.cwd, start_new_session=True
        )
        log.close()
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_ready(self, check: Callable[[], bool], timeout: float = 30.0, what: str = "") -> None:
        def ready() -> bool:
            if not self.running():
                raise RuntimeError(f"{self.argv[0]} exited early:\n{self.log()[-4000:]}")
            return check()

        try:
            wait_until(ready, timeout, what=what or f"{self.argv[0]} to become ready")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n--- log ---\n{self.log()[-4000:]}") from None

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
