"""Helpers for the Vault Agent tests: a Kubernetes TokenReview API on loopback, service-account tokens,
and the real ``bao agent`` running the builder's configuration.

OpenBao's Kubernetes auth method logs a pod in by POSTing its service-account JWT to the API server's
``/apis/authentication.k8s.io/v1/tokenreviews``. Here :class:`TokenReviewApi` is that endpoint (HTTPS on
127.0.0.1 with the test CA): it verifies the JWT's signature, expiry and requested audience against the
test's signing key, as the API server does, and answers with the service account's user name. So the
agent runs the rendered ``auto_auth { method "kubernetes" }`` unchanged against the real auth method.

The one test-only transform (:func:`adapted_agent_files`): the container paths ``/vault/config`` and
``/vault/secrets`` are rewritten to directories under the test's ``tmp_path``; the Vault address, CA and
token path are passed as ordinary ``AgentInput`` values (the loopback server's).
"""

from __future__ import annotations

import contextlib
import json
import os
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import rsa

from components.service import vault_agent as va
from tests.support.openbao import bao_binary
from tests.support.procs import Server

K8S_ISSUER = "https://kubernetes.default.svc.cluster.local"


def service_account_token(
    key: rsa.RSAPrivateKey, namespace: str, name: str, *, audience: str = "vault", ttl: int = 600
) -> str:
    """A projected service-account token as kubelet writes it (claims of Kubernetes 1.35)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": K8S_ISSUER,
        "sub": f"system:serviceaccount:{namespace}:{name}",
        "aud": [audience],
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
        "kubernetes.io": {
            "namespace": namespace,
            "serviceaccount": {"name": name, "uid": "6b2f4c1e-0000-4000-8000-000000000001"},
            "pod": {"name": f"{name}-0", "uid": "6b2f4c1e-0000-4000-8000-000000000002"},
        },
    }
    return pyjwt.encode(claims, key, algorithm="RS256", headers={"kid": "test"})


class TokenReviewApi:
    """``POST /apis/authentication.k8s.io/v1/tokenreviews`` over HTTPS on 127.0.0.1."""

    def __init__(self, key: rsa.RSAPrivateKey, tls_dir: Path | None) -> None:
        self.public_key = key.public_key()
        self.reviews: list[dict[str, Any]] = []  # what was asked (audiences), never the tokens
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                code, answer = api.review(self.path, body, self.headers.get("Authorization", ""))
                out = json.dumps(answer).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, *args: Any) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls_dir is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(tls_dir / "tls.crt", tls_dir / "tls.key")
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        scheme = "https" if tls_dir is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def review(self, path: str, body: dict[str, Any], authorization: str) -> tuple[int, dict[str, Any]]:
        if path != "/apis/authentication.k8s.io/v1/tokenreviews":
            return 404, {"kind": "Status", "status": "Failure", "code": 404}
        # The API server authenticates the caller first (the reviewer JWT; without one configured, OpenBao
        # sends the client's own token, which must itself be valid).
        try:
            pyjwt.decode(
                authorization.removeprefix("Bearer "),
                self.public_key,
                algorithms=["RS256"],
                options={"verify_aud": False},
            )
        except pyjwt.PyJWTError:
            return 401, {"kind": "Status", "status": "Failure", "reason": "Unauthorized", "code": 401}
        spec = body.get("spec") or {}
        audiences = list(spec.get("audiences") or [])
        self.reviews.append({"audiences": audiences})
        try:
            claims = pyjwt.decode(
                spec.get("token", ""),
                self.public_key,
                algorithms=["RS256"],
                audience=audiences or None,
                options={"verify_aud": bool(audiences)},
            )
            status: dict[str, Any] = {
                "authenticated": True,
                "user": {"username": claims["sub"], "uid": claims["kubernetes.io"]["serviceaccount"]["uid"]},
                "audiences": claims["aud"],
            }
        except pyjwt.PyJWTError as exc:
            status = {"authenticated": False, "error": f"invalid bearer token: {type(exc).__name__}"}
        return 201, {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status}

    def __enter__(self) -> TokenReviewApi:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def adapted_agent_files(inp: va.AgentInput, root: Path) -> tuple[Path, Path]:
    """Write the ConfigMap's files to ``root/config`` with the container paths moved under ``root``;
    returns (config file, secrets directory)."""
    config_dir, secrets_dir = root / "config", root / "secrets"
    config_dir.mkdir(parents=True, exist_ok=True)
    secrets_dir.mkdir(parents=True, exist_ok=True)
    for name, text in va.config_map_data(inp).items():
        if name == va.CONFIG_FILE:
            text = text.replace(f'"{va.CONFIG_DIR}/', f'"{config_dir}/').replace(
                f'"{va.SECRETS_DIR}/', f'"{secrets_dir}/'
            )
        (config_dir / name).write_text(text)
    return config_dir / va.CONFIG_FILE, secrets_dir


def local_path(container_path: str, secrets_dir: Path) -> Path:
    """Where a path under /vault/secrets is in the test's directory."""
    return secrets_dir / container_path.removeprefix(va.SECRETS_DIR + "/")


def probe_passes(inp: va.AgentInput, secrets_dir: Path) -> bool:
    """Run the sidecar's startup probe command, adapted to the test's secrets directory."""
    argv = va.probe_command(inp)
    argv = [*argv[:-1], argv[-1].replace(va.SECRETS_DIR + "/", f"{secrets_dir}/")]
    return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode == 0


@contextlib.contextmanager
def bao_agent(config: Path, log: Path) -> Iterator[Server]:
    """The real ``bao agent -config=<config>``, with no Vault/BAO variables inherited; always stopped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = str(config.parent)  # never an operator's ~/.vault-token
    server = Server([bao_binary(), "agent", f"-config={config}"], log)
    server.env = env
    server.start()
    try:
        yield server
    finally:
        server.stop()


def for_test(inp: va.AgentInput, *, address: str, ca_file: str, token_path: Path, interval: str) -> va.AgentInput:
    """The input with the loopback server's address, CA and token path, and the test's interval."""
    return replace(inp, vault_address=address, ca_file=ca_file, token_path=str(token_path), render_interval=interval)
