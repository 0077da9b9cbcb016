"""Connecting to Vault and turning every failure into one clear line (``ToolError``).

The operator command never prints a traceback: connection refused, TLS trust, sealed server, rejected
token, wrong unseal key and invalid input all end as ``error: <what happened>; <what to do>`` on
stderr with a non-zero exit code. Messages never contain a token, a key or a secret value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hvac
import hvac.exceptions
import requests

EXIT_OK = 0
EXIT_ERROR = 1  # Vault answered with an error, or could not be reached
EXIT_USAGE = 2  # bad input: a flag, a malformed document, a missing file (nothing was sent to Vault)
EXIT_SEALED = 2  # `status` only, like `vault status`: sealed or not initialised
EXIT_OVERDUE = 3
DEFAULT_TIMEOUT = 60.0  # seconds per request, as the Vault CLI (init on a busy node takes several seconds)

EXIT_CODES = (
    (EXIT_OK, "ok (status: Vault is unsealed)"),
    (EXIT_ERROR, "Vault error: Vault refused a request or could not be reached"),
    (EXIT_USAGE, "bad input: a flag, a malformed document or file; status: Vault is sealed or not initialised"),
    (EXIT_OVERDUE, "rotation-report: a secret is overdue for rotation"),
    (70, "a bug: the traceback is written to a file the message names"),
)


class ToolError(Exception):
    """A failure with a one-line, secret-free message for the operator."""

    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Target:
    address: str
    ca_cert: str | None
    token: str | None
    timeout: float = DEFAULT_TIMEOUT

    def client(self, *, with_token: bool = True) -> hvac.Client:
        verify: bool | str = self.ca_cert if self.ca_cert else True
        client = hvac.Client(
            url=self.address, token=self.token if with_token else None, verify=verify, timeout=self.timeout
        )
        if not with_token:
            client.token = None  # hvac would otherwise pick up VAULT_TOKEN / ~/.vault-token
        return client


def resolve_target(
    address: str | None,
    ca_cert: str | None,
    token_file: str | None,
    *,
    need_token: bool,
    timeout: float = DEFAULT_TIMEOUT,
) -> Target:
    addr = address or os.environ.get("VAULT_ADDR", "")
    if not addr:
        raise ToolError(
            "no Vault address: pass --address or set VAULT_ADDR (e.g. https://127.0.0.1:8200 "
            "through kubectl port-forward)",
            EXIT_USAGE,
        )
    if not addr.startswith(("http://", "https://")):
        raise ToolError(f"--address {addr!r}: accepted: an http:// or https:// URL", EXIT_USAGE)
    ca = ca_cert or os.environ.get("VAULT_CACERT") or None
    if ca and not Path(ca).is_file():
        raise ToolError(
            f"--ca-cert {ca}: no such file; accepted: the PEM file of the CA that signed Vault's certificate",
            EXIT_USAGE,
        )
    token: str | None = None
    if token_file:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as exc:
            raise ToolError(f"--token-file {token_file}: cannot read it ({exc.strerror})", EXIT_USAGE) from None
        if not token:
            raise ToolError(f"--token-file {token_file}: the file is empty", EXIT_USAGE)
    elif os.environ.get("VAULT_TOKEN"):
        token = os.environ["VAULT_TOKEN"].strip()
    if need_token and not token:
        raise ToolError("no token: set VAULT_TOKEN or pass --token-file (a file holding the token)", EXIT_USAGE)
    return Target(addr.rstrip("/"), ca, token, timeout)


def seal_status(target: Target) -> dict[str, Any]:
    """``sys/seal-status`` (needs no token)."""
    return dict(target.client(with_token=False).sys.read_seal_status())


def require_unsealed(target: Target) -> dict[str, Any]:
    status = seal_status(target)
    if not status.get("initialized"):
        raise ToolError(f"Vault at {target.address} is not initialised: run `python -m tools.vault init` first")
    if status.get("sealed"):
        raise ToolError(
            f"Vault at {target.address} is sealed ({status.get('progress', 0)} of "
            f"{status.get('t', '?')} unseal keys given): run `python -m tools.vault unseal` first"
        )
    return status


def authenticated_client(target: Target) -> hvac.Client:
    """A client whose token Vault accepts, on an unsealed server; otherwise a clear ``ToolError``."""
    require_unsealed(target)
    client = target.client()
    try:
        client.auth.token.lookup_self()
    except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized):
        raise ToolError(
            f"Vault at {target.address} rejected the token (permission denied): it is wrong, "
            "expired or revoked; check VAULT_TOKEN or --token-file"
        ) from None
    return client


def _vault_errors(exc: hvac.exceptions.VaultError) -> str:
    errors = getattr(exc, "errors", None)
    if isinstance(errors, list) and errors:
        text = "; ".join(str(e).strip() for e in errors if str(e).strip())
    else:
        text = str(exc).split(", on ")[0] or type(exc).__name__
    return " ".join(text.split())  # one line


def explain(exc: BaseException, address: str) -> ToolError | None:
    """Map an exception from hvac/requests to a one-line ``ToolError``; ``None`` for anything else (a bug)."""
    if isinstance(exc, ToolError):
        return exc
    if isinstance(exc, requests.exceptions.SSLError):
        reason = "certificate verify failed" if "CERTIFICATE_VERIFY_FAILED" in str(exc) else "TLS handshake failed"
        return ToolError(
            f"TLS error talking to {address}: {reason}; pass --ca-cert with the CA that signed "
            "Vault's certificate (or use the http:// scheme if the listener has no TLS)"
        )
    if isinstance(exc, requests.exceptions.Timeout):
        return ToolError(
            f"Vault at {address} did not answer in time; check the address and the port-forward, "
            "or pass a longer --timeout"
        )
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "wrong version number" in text or "SSL" in text:
            return ToolError(
                f"TLS error talking to {address}: the server does not speak TLS there; use the http:// scheme"
            )
        return ToolError(
            f"cannot reach Vault at {address}: connection failed; check --address/VAULT_ADDR "
            "and that `kubectl port-forward` is running"
        )
    if isinstance(exc, requests.exceptions.RequestException):
        return ToolError(f"request to Vault at {address} failed: {type(exc).__name__}")
    if isinstance(exc, hvac.exceptions.VaultDown):
        return ToolError(
            f"Vault at {address} is sealed or unavailable: run `python -m tools.vault unseal` "
            "first (or `status` to see the seal state)"
        )
    if isinstance(exc, (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized)):
        return ToolError(
            f"Vault at {address} denied the request (permission denied): the token is wrong, "
            "expired, or its policies do not allow this operation"
        )
    if isinstance(exc, hvac.exceptions.VaultNotInitialized):
        return ToolError(f"Vault at {address} is not initialised: run `python -m tools.vault init` first")
    if isinstance(exc, hvac.exceptions.VaultError):
        reason = _vault_errors(exc)
        if "HTTP request to an HTTPS server" in reason:
            return ToolError(f"Vault at {address} speaks TLS: use an https:// address (and --ca-cert)")
        return ToolError(f"Vault at {address} refused the request: {reason}")
    if isinstance(exc, KeyboardInterrupt):
        return ToolError("interrupted", 130)
    return None
